"""卷积层是如何初始化的？为什么卷积层的初始化能够work? / How PyTorch initialises a conv layer (why sqrt(5)).

fast.ai 2019 lesson 9's research notebook: PyTorch's default Conv2d init is kaiming_uniform_ with
a=sqrt(5), i.e. uniform(±1/sqrt(fan_in)), weight std 1/sqrt(3*fan_in): too small to keep the
activations at unit scale. The gains, fans, an own kaiming2 that draws PyTorch's default weights
bit for bit, and a 4-conv net whose output and gradient vanish with it, not with kaiming_uniform_.

Run:    python scripts/why_sqrt5.py        (or: make why_sqrt5)
Expect: random rows beside the notes' (4-conv output std ~0.01 default, ~0.4 kaiming); exact:
        n, c = 50000, 10, fans 25/25/800, gain(sqrt5) = 0.57735, kaiming2 bound 0.2, same weights.
"""
import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import init
from torchvision import datasets

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH, KERNEL = 32, 5  # the lesson's Conv2d(1, nh, 5): 32 filters of 5x5
# The notes' printed (mean, std), shown beside ours.
NOTES = {"x = x_valid[:100]": (-0.0363, 0.9602), "l1.weight": (-0.0043, 0.1156),
         "l1.bias": (0.0212, 0.1176),
         "l1(x)": (0.0107, 0.5978), "kaiming_normal_ a=1": (0.0267, 1.1067),
         "kaiming_normal_ a=0, relu": (0.5547, 1.0199), "default, relu": (0.2219, 0.3653),
         "kaiming2 a=0, relu": (0.5603, 1.0921), "kaiming2 a=sqrt5, relu": (0.2186, 0.3437),
         "uniform(-1, 1).std()": (0.5788,),  # of 10000 draws
         # the table's run; the notes' summary quotes another run's output std (0.0060 -> 0.2445)
         "net default": (0.0875, 0.0065, 0.0054, 0.0333),
         "net kaiming": (-0.0352, 0.4043, 0.0093, 0.4231)}
NOTES_GAINS = (1.0, 1.4142135623730951, 1.4141428569978354, 1.4071950894605838, 0.5773502691896257)


def stats(x):
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
    """The lesson's own kaiming_uniform_: uniform(±bound), bound = sqrt(3) * gain(a) / sqrt(fan)."""
    _, fan_in, fan_out = fans(w)
    bound = math.sqrt(3.0) * gain(a) / math.sqrt(fan_out if use_fan_out else fan_in)  # std b/√3
    with torch.no_grad():  # the notes' x.data.uniform_: .data is the pre-0.4 way to skip autograd
        w.uniform_(-bound, bound)
    return bound


@torch.no_grad()
def conv_layer_experiments(x):
    """Default init, kaiming_normal_ and kaiming2 on Conv2d(1, 32, 5), x (100, 1, 28, 28)."""
    l1 = nn.Conv2d(1, NH, KERNEL)  # weight (32, 1, 5, 5): PyTorch's default init
    out = {"l1.weight": stats(l1.weight), "l1.bias": stats(l1.bias), "l1(x)": stats(l1(x)),
           "weight_absmax": l1.weight.abs().max().item()}
    init.kaiming_normal_(l1.weight, a=1.0)  # gain 1: keeps a linear layer's output at std ~1
    out["kaiming_normal_ a=1"] = stats(l1(x))
    out["kaiming_normal_ a=1 weight std"] = stats(l1.weight)[1]  # 1/sqrt(25)
    init.kaiming_normal_(l1.weight, a=0)  # gain sqrt(2): made for a following ReLU
    out["kaiming_normal_ a=0, relu"] = stats(torch.relu(l1(x)))  # the lesson's f1(x), a=0
    out["kaiming_normal_ a=0 weight std"] = stats(l1.weight)[1]  # sqrt(2)/sqrt(25)
    l1 = nn.Conv2d(1, NH, KERNEL)  # back to the default init
    out["default, relu"] = stats(torch.relu(l1(x)))
    for a, name in [(0, "a=0"), (math.sqrt(5.0), "a=sqrt5")]:
        out[f"kaiming2 {name} bound"] = kaiming2(l1.weight, a)
        out[f"kaiming2 {name}, relu"] = stats(torch.relu(l1(x)))
    return out


def same_as_default(seed):
    """From the same RNG state, kaiming2(a=sqrt(5)) draws exactly nn.Conv2d's default weights."""
    torch.manual_seed(seed)
    ref = nn.Conv2d(1, NH, KERNEL).weight.detach()  # reset_parameters: weight is drawn first
    w = torch.empty(NH, 1, KERNEL, KERNEL)
    torch.manual_seed(seed)
    kaiming2(w, a=math.sqrt(5.0))
    return torch.equal(w, ref)


def build_net():
    """The lesson's 4-conv net: 28 -> 14 -> 7 -> 4 -> 2 pixels, then one number per image."""
    return nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 1, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(0))  # (100,): the notes' own Flatten was x.view(-1)


def net_stats(m, x, y):
    """Output stats and the first conv's gradient stats after one MSE backward."""
    m.zero_grad()  # the notes reused .grad from the default-init run; a fresh start is cleaner
    t = m(x)  # (100,)
    (t - y).pow(2).mean().backward()  # the lesson's mse(t, y)
    return stats(t.detach()) + stats(m[0].weight.grad)


def reinit_kaiming(m):
    """The lesson's fix: kaiming_uniform_ (a=0, gain sqrt(2)) on every conv, biases zero."""
    for layer in m:
        if isinstance(layer, nn.Conv2d):
            init.kaiming_uniform_(layer.weight)
            init.zeros_(layer.bias)  # the notes' l.bias.data.zero_()


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: why PyTorch's conv init uses sqrt(5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x_train, y_train, x_valid, y_valid = load_lesson_mnist(args.data_dir)
    x_valid = normalize(x_valid, x_train.mean(), x_train.std()).view(-1, 1, 28, 28)
    x_train = x_train.view(-1, 1, 28, 28)  # (50000, 1, 28, 28): unused, so left unnormalised
    res = {"n": x_train.shape[0], "c": int(y_train.max()) + 1}  # the notes' n, c
    print(f"x_train.shape = {list(x_train.shape)}, x_valid.shape = {list(x_valid.shape)}; "
          f"n, c = {res['n']}, {res['c']}   (notes: 50000, 10)")
    x, y = x_valid[:100], y_valid[:100].float()  # (100, 1, 28, 28), (100,): the lesson's sample
    res["x = x_valid[:100]"] = stats(x)
    res.update(conv_layer_experiments(x))
    res["uniform(-1, 1).std()"] = (torch.zeros(10000).uniform_(-1, 1).std().item(),)
    res["same_as_default"] = same_as_default(args.seed)
    m = build_net()
    res["net default"] = net_stats(m, x, y)
    reinit_kaiming(m)
    res["net kaiming"] = net_stats(m, x, y)
    print("\n# random draws, the notes' beside ours: (mean, std); the 4-conv net, MSE against the "
          "labels: (out mean, out std, grad mean, grad std)")
    for key, notes in NOTES.items():
        print(f"{key:<26} notes: (" + ", ".join(f"{v:.4f}" for v in notes) + ")  ours: ("
              + ", ".join(f"{v:.4f}" for v in res[key]) + ")")
    print("net out mean: one offset the weights give all 100 images (out std is their spread), so "
          "it swings with the seed by more than the std; the notes' -0.0352 is one draw")

    print(f"\n# closed forms: default init is uniform(±1/sqrt(fan_in)) = ±{1 / math.sqrt(25):.4f}: "
          f"std 1/sqrt(3*25) = {1 / math.sqrt(3 * 25):.4f}, max |w| = {res['weight_absmax']:.4f}; "
          f"uniform(-1, 1): std 1/sqrt(3) = {1 / math.sqrt(3):.4f}")
    res["fans"] = fans(torch.empty(NH, 1, KERNEL, KERNEL))  # l1.weight's shape
    print("rec_fs = {}, fan_in = {}, fan_out = {}   (notes: 25, 25, 800)".format(*res["fans"]))
    res["gains"] = tuple(gain(a) for a in (1, 0, 0.01, 0.1, math.sqrt(5.0)))
    print(f"gain(1, 0, 0.01, 0.1, sqrt5) = {res['gains']}\n"
          f"  the notes' digits:         {NOTES_GAINS}")
    print(f"kaiming2 bounds: a=0 -> {res['kaiming2 a=0 bound']:.5f} = sqrt(6/25); a=sqrt5 -> "
          f"{res['kaiming2 a=sqrt5 bound']:.5f} = 1/sqrt(fan_in) = 0.2; the same weights as "
          f"nn.Conv2d's default init: {res['same_as_default']}")
    return res


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


def load_lesson_mnist(data_dir):
    """The lesson's mnist.pkl.gz: the first N_TRAIN training images train, the rest validate, as
    byte/256 like that pickle (not /255): x (N, 784) in [0, 1), y (N,) int64."""
    try:
        ds = datasets.MNIST(data_dir, train=True, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; `make data` or the "
                         f"collection's `python get_mnist.py --data-dir {data_dir}`") from None
    x, y = ds.data.view(-1, 28 * 28).float() / 256, ds.targets  # (60000, 784), (60000,)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


if __name__ == "__main__":
    main()
