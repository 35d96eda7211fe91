"""卷积层是如何初始化的？为什么卷积层的初始化能够work? / How PyTorch initialises a conv layer (why sqrt(5)).

fast.ai 2019 lesson 9's research notebook: PyTorch's default Conv2d init is kaiming_uniform_ with
a=sqrt(5), i.e. uniform(±1/sqrt(fan_in)), weight std 1/sqrt(3*fan_in): too small to keep the
activations at unit scale. The gains, fans, an own kaiming2 that draws PyTorch's default weights
bit for bit, and a 4-conv net whose output and gradient vanish with it, not with kaiming_uniform_.

Run:    python scripts/why_sqrt5.py        (or: make why_sqrt5)
Expect: random rows beside the notes' (4-conv output std ~0.01 default, ~0.4 kaiming); exact: the
        notes' shapes, n, c = 50000, 10, fans 25/25/800, gain(sqrt5) = 0.57735, kaiming2 bound 0.2.

Try:    --kaiming-a 2.2360679   the net re-initialised with a = sqrt(5), PyTorch's own slope: its
                                output std falls back to ~0.01, as with the default init
        --kernel 3              fans 9, 9, 288; the default bound is 1/sqrt(9) = 0.3333 and
                                kaiming2(a=sqrt5) still draws nn.Conv2d's default weights
"""
import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import init
from torchvision import datasets

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH, KERNEL = 32, 5  # the lesson's Conv2d(1, nh, 5): 32 filters of 5x5
NOTES_GAINS = (1.0, 1.4142135623730951, 1.4141428569978354, 1.4071950894605838, 0.5773502691896257)


def stats(x):
    return x.mean().item(), x.std().item()


def show_stats(label, notes, ours):
    """One row: the notes' printed numbers beside ours, to 4 decimals."""
    def fmt(values):
        return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"
    print(f"{label:<26} notes: {fmt(notes)}  ours: {fmt(ours)}")


def show_repr(label, notes, ours):
    """One row: the notes' printed text beside ours as Python prints it (torch.Size, tuples)."""
    print(f"{label:<26} notes: {notes}  ours: {ours!r}")


def normalize(x, m, s):
    return (x - m) / s


def gain(a):
    """The leaky-ReLU gain kaiming init uses: sqrt(2 / (1 + a^2)); a = 0 is plain ReLU."""
    return math.sqrt(2.0 / (1 + a**2))


class Fans(NamedTuple):
    nf: int  # output channels (filters)
    ni: int  # input channels
    rec_fs: int  # receptive field size: one filter's kernel, 5x5 = 25
    fan_in: int  # ni * rec_fs: the inputs one output sums
    fan_out: int  # nf * rec_fs


def count_fans(weight):
    """A conv weight's (nf, ni, k, k) shape, receptive field and fans, as Fans."""
    nf, ni, *_ = weight.shape  # (32, 1, 5, 5)
    rec_fs = weight[0, 0].numel()  # 25
    return Fans(nf, ni, rec_fs, ni * rec_fs, nf * rec_fs)


def kaiming2(w, a, use_fan_out=False):
    """The lesson's own kaiming_uniform_: uniform(±bound), bound = sqrt(3) * gain(a) / sqrt(fan);
    returns the bound."""
    fans = count_fans(w)
    std = gain(a) / math.sqrt(fans.fan_out if use_fan_out else fans.fan_in)
    bound = math.sqrt(3.0) * std  # uniform(±b) has std b/sqrt(3)
    with torch.no_grad():  # the notes' x.data.uniform_: .data is the pre-0.4 way to skip autograd
        w.uniform_(-bound, bound)
    return bound


def same_as_default(seed, nh, kernel):
    """From the same RNG state, kaiming2(a=sqrt(5)) draws exactly nn.Conv2d's default weights."""
    torch.manual_seed(seed)
    ref = nn.Conv2d(1, nh, kernel).weight.detach()  # reset_parameters: weight is drawn first
    w = torch.empty(nh, 1, kernel, kernel)
    torch.manual_seed(seed)
    kaiming2(w, a=math.sqrt(5.0))
    return torch.equal(w, ref)


def show_data(x_train, y_train, x_valid):
    """The notes' first cells: the shapes, n, c, and the sample x = x_valid[:100] the layers see."""
    print("== 卷积层是如何初始化的 / the data: x_valid normalised with the training mean, std ==")
    show_repr("x_train.shape", "torch.Size([50000, 1, 28, 28])", x_train.shape)
    show_repr("x_valid.shape", "torch.Size([10000, 1, 28, 28])", x_valid.shape)
    n, c = x_train.shape[0], y_train.max() + 1  # the notes' n,*_ = x_train.shape; c a tensor
    show_repr("n, c", "(50000, tensor(10))", (n, c))
    x = x_valid[:100]  # (100, 1, 28, 28): the lesson's sample
    show_repr("x.shape", "torch.Size([100, 1, 28, 28])", x.shape)
    x_stats = stats(x)
    show_stats("x = x_valid[:100]", (-0.0363, 0.9602), x_stats)
    return x, x_stats


class ConvStats(NamedTuple):  # (mean, std) pairs unless named otherwise
    weight: tuple
    bias: tuple
    out: tuple  # l1(x)
    weight_absmax: float
    kaiming_a1: tuple  # l1(x) after kaiming_normal_(a=1)
    kaiming_a1_weight_std: float
    kaiming_a0_relu: tuple  # relu(l1(x)) after kaiming_normal_(a=0)
    kaiming_a0_weight_std: float
    default_relu: tuple  # relu(l1(x)) of a fresh default-init l1


@torch.no_grad()
def show_conv_layer(x, nh, kernel):
    """Conv2d(1, 32, 5) on x (100, 1, 28, 28): PyTorch's default init, then kaiming_normal_ with
    a = 1 and with a = 0 before a ReLU (the notes' f1). Returns a fresh default l1 and the stats."""
    print(f"\n== 卷积层是如何初始化的 / Conv2d(1, {nh}, {kernel}): (mean, std) ==")
    l1 = nn.Conv2d(1, nh, kernel)  # weight (32, 1, 5, 5): PyTorch's default init
    show_repr("l1.weight.shape", "torch.Size([32, 1, 5, 5])", l1.weight.shape)
    weight, bias, out = stats(l1.weight), stats(l1.bias), stats(l1(x))
    show_stats("l1.weight", (-0.0043, 0.1156), weight)
    show_stats("l1.bias", (0.0212, 0.1176), bias)
    show_stats("l1(x)", (0.0107, 0.5978), out)
    # the default is kaiming_uniform_(a=sqrt(5)) = uniform(±1/sqrt(fan_in)): std 1/sqrt(3 fan_in)
    bound, absmax = 1 / math.sqrt(count_fans(l1.weight).fan_in), l1.weight.abs().max().item()
    print(f"closed form: uniform(±1/sqrt(fan_in)) = ±{bound:.4f}: std {bound / math.sqrt(3):.4f}, "
          f"max |w| = {absmax:.4f}")
    init.kaiming_normal_(l1.weight, a=1.0)  # gain 1: keeps a linear layer's output at std ~1
    kaiming_a1, a1_std = stats(l1(x)), l1.weight.std().item()  # weight std 1/sqrt(25)
    show_stats("kaiming_normal_ a=1", (0.0267, 1.1067), kaiming_a1)
    init.kaiming_normal_(l1.weight, a=0)  # gain sqrt(2): made for a following ReLU
    kaiming_a0, a0_std = stats(torch.relu(l1(x))), l1.weight.std().item()  # sqrt(2)/sqrt(25)
    show_stats("kaiming_normal_ a=0, relu", (0.5547, 1.0199), kaiming_a0)  # the notes' f1(x)
    l1 = nn.Conv2d(1, nh, kernel)  # back to the default init
    default_relu = stats(torch.relu(l1(x)))
    show_stats("default, relu", (0.2219, 0.3653), default_relu)
    return l1, ConvStats(weight, bias, out, absmax, kaiming_a1, a1_std, kaiming_a0, a0_std,
                         default_relu)


def show_fans_and_gains(weight):
    """The receptive field, nf, ni, the fans, and the leaky-ReLU gains for five slopes."""
    print("\n== 卷积层是如何初始化的 / fans and gains ==")
    fans = count_fans(weight)
    show_repr("rec_fs", "25", fans.rec_fs)
    show_repr("nf, ni", "(32, 1)", (fans.nf, fans.ni))
    show_repr("fan_in, fan_out", "(25, 800)", (fans.fan_in, fans.fan_out))
    gains = tuple(gain(a) for a in (1, 0, 0.01, 0.1, math.sqrt(5.0)))
    print(f"gain(1, 0, 0.01, 0.1, sqrt5) = {gains}\n  the notes' digits:         {NOTES_GAINS}")
    return fans, gains


class Kaiming2Stats(NamedTuple):
    relu_a0: tuple  # (mean, std) of relu(l1(x)) after kaiming2(a=0)
    relu_sqrt5: tuple  # after kaiming2(a=sqrt(5))
    bound_a0: float
    bound_sqrt5: float
    uniform_std: float  # of 10000 draws from uniform(-1, 1)
    same_as_default: bool


@torch.no_grad()
def show_kaiming2(l1, x, seed):
    """The lesson's kaiming2 on the default l1: a = 0 (for ReLU) vs a = sqrt(5), PyTorch's own."""
    print("\n== 卷积层是如何初始化的 / kaiming2: (mean, std) of relu(l1(x)) ==")
    bound_a0 = kaiming2(l1.weight, a=0)
    relu_a0 = stats(torch.relu(l1(x)))
    show_stats("kaiming2 a=0, relu", (0.5603, 1.0921), relu_a0)
    bound_sqrt5 = kaiming2(l1.weight, a=math.sqrt(5.0))
    relu_sqrt5 = stats(torch.relu(l1(x)))
    show_stats("kaiming2 a=sqrt5, relu", (0.2186, 0.3437), relu_sqrt5)
    # uniform(-1, 1) has std 1/sqrt(3), not 1: why kaiming2's bound is sqrt(3) * std
    uniform_std = torch.zeros(10000).uniform_(-1, 1).std().item()
    show_stats("uniform(-1, 1).std()", (0.5788,), (uniform_std,))
    nf, _, k, _ = l1.weight.shape  # (32, 1, 5, 5)
    same = same_as_default(seed, nf, k)
    fan_in = count_fans(l1.weight).fan_in
    print(f"closed form: uniform(-1, 1) std 1/sqrt(3) = {1 / math.sqrt(3):.4f}\n"
          f"kaiming2 bounds: a=0 -> {bound_a0:.5f} = sqrt(6/{fan_in}); a=sqrt5 -> "
          f"{bound_sqrt5:.5f} = 1/sqrt({fan_in}); the same weights as nn.Conv2d's default init: "
          f"{same}")
    return Kaiming2Stats(relu_a0, relu_sqrt5, bound_a0, bound_sqrt5, uniform_std, same)


def build_net():
    """The lesson's 4-conv net: 28 -> 14 -> 7 -> 4 -> 2 pixels, then one number per image."""
    return nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(32, 1, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(0))  # (100,): the notes' own Flatten was x.view(-1)


class NetStats(NamedTuple):
    out_mean: float
    out_std: float
    grad_mean: float  # of the first conv's weight gradient
    grad_std: float


def net_stats(m, x, y):
    """Output stats and the first conv's gradient stats after one MSE backward."""
    m.zero_grad()  # the notes reused .grad from the default-init run; a fresh start is cleaner
    t = m(x)  # (100,)
    (t - y).pow(2).mean().backward()  # the lesson's mse(t, y)
    return NetStats(*stats(t.detach()), *stats(m[0].weight.grad))


def reinit_kaiming(m, a=0.0):
    """The lesson's fix: kaiming_uniform_ (a=0, gain sqrt(2)) on every conv, biases zero."""
    for layer in m:
        if isinstance(layer, nn.Conv2d):
            init.kaiming_uniform_(layer.weight, a=a)
            init.zeros_(layer.bias)  # the notes' l.bias.data.zero_()


def show_four_conv_net(x, y, kaiming_a):
    """The lesson's 4-conv net on x, MSE against the labels y: default init vs kaiming_uniform_."""
    print("\n== 卷积层是如何初始化的 / the 4-conv net: (out mean, out std, grad mean, grad std) ==")
    m = build_net()
    default = net_stats(m, x, y)
    show_stats("net default", (0.0875, 0.0065, 0.0054, 0.0333), default)
    reinit_kaiming(m, kaiming_a)
    kaiming = net_stats(m, x, y)
    # out mean is one offset the weights give all 100 images (out std is their spread), so it
    # swings with the seed by more than the std: the notes' -0.0352 is one draw. Their summary
    # quotes yet another run's output std (0.0060 -> 0.2445).
    show_stats(f"net kaiming a={kaiming_a:g}", (-0.0352, 0.4043, 0.0093, 0.4231), kaiming)
    return default, kaiming


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: why PyTorch's conv init uses sqrt(5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernel", type=positive_int, default=KERNEL, help="l1's kernel size")
    parser.add_argument("--kaiming-a", type=float, default=0.0,
                        help="the slope a of the net's kaiming_uniform_ (sqrt(5): PyTorch's)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x_train, y_train, x_valid, y_valid = load_lesson_mnist(args.data_dir)
    x_valid = normalize(x_valid, x_train.mean(), x_train.std()).view(-1, 1, 28, 28)
    x_train = x_train.view(-1, 1, 28, 28)  # (50000, 1, 28, 28): unused, so left unnormalised
    x, x_stats = show_data(x_train, y_train, x_valid)  # x (100, 1, 28, 28)
    y = y_valid[:100].float()  # (100,): the lesson's targets for its MSE
    l1, conv = show_conv_layer(x, NH, args.kernel)
    fans, gains = show_fans_and_gains(l1.weight)
    kaiming2_stats = show_kaiming2(l1, x, args.seed)
    net_default, net_kaiming = show_four_conv_net(x, y, args.kaiming_a)
    return {"x_stats": x_stats, "conv": conv, "fans": fans, "gains": gains,
            "kaiming2": kaiming2_stats, "net_default": net_default, "net_kaiming": net_kaiming}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults

def positive_int(text, kind=int, what="integer"):
    try:  # --epochs abc: this line, where argparse would say "invalid positive_int value"
        if kind(text) > 0:
            return kind(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be a positive {what}, got {text}")

def positive_float(text):
    return positive_int(text, float, "number")

def load_mnist(data_dir, train):
    import zlib  # the official files' CRC-32: a file cut short or overwritten has another
    for kind, crc in zip(["images-idx3", "labels-idx1"],
                         [0xE9F4D8B3, 0xE0CB4AD2] if train else [0x91373BDF, 0x4AB9EFF9]):
        path = Path(data_dir, "MNIST", "raw", f"{'train' if train else 't10k'}-{kind}-ubyte")
        if not path.is_file() or zlib.crc32(path.read_bytes()) != crc:  # one line, exit 1
            raise SystemExit(f"error: MNIST is not in {path.parent}: {path.name} is missing or "
                             "damaged;" + " `make data` or" * (ROOT / "Makefile").is_file()
                             + f" the collection's `python get_mnist.py --data-dir {data_dir}`")
    mnist = datasets.MNIST(data_dir, train=train, download=False)
    return mnist.data, mnist.targets  # images (N, 28, 28) uint8, labels (N,) int64

def load_lesson_mnist(data_dir):
    """The lesson's mnist.pkl.gz: the first N_TRAIN training images train, the rest validate, as
    byte/256 like that pickle (not /255): x (N, 784) in [0, 1), y (N,) int64."""
    images, labels = load_mnist(data_dir, train=True)
    x = images.view(-1, 28 * 28).float() / 256  # (60000, 784)
    return x[:N_TRAIN], labels[:N_TRAIN], x[N_TRAIN:], labels[N_TRAIN:]


if __name__ == "__main__":
    main()
