"""损失函数 / The loss function: softmax 实现一/二/三 (log_softmax, LogSumExp, nll).

fast.ai 2019 lesson 9: cross entropy = nll(log_softmax(pred)), nll by integer-array indexing. Three
log_softmax implementations agree with F.log_softmax on an untrained net's predictions; on pred *
1000 (ours: the notes scale nothing, they show the limits with np.exp; |x| ~400) only the
LogSumExp trick (subtract the max first) stays finite in float32, whose exp() overflows above
88.72 (float64's limit is 709.78): exp(1000) = inf, exp(-1000) = 0.

Run:    python scripts/log_softmax.py        (or: make log_softmax)
Expect: the loss ~2.30 (~ln 10) three ways; pred * 1000 in float32: only the LogSumExp trick
        finite (= F.log_softmax), in float64 all three; the notes' np.exp table.

Try:    --scale 100    |x| ~36 stays under float32's exp limit 88.72: all three finite in float32
        --scale 3000   |x| ~1070 passes float64's 709.78 too: only the LogSumExp trick stays
                       finite, in float64 as in float32
"""
import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH = 50  # the lesson's hidden units
# Ours, not the notes' (they have no pred * 1000): |pred * 1000| ~400 is past float32's exp limit
# (88.72) and inside float64's (709.78), so it breaks the naive formulas in float32 only
SCALE = 1000
NOTES_EXP = {1: "2.718281828459045", 10: "22026.465794806718", 100: "2.6881171418161356e+43",
             500: "1.4035922178528375e+217", 1000: "inf", -1: "0.36787944117144233",
             -10: "4.5399929762484854e-05", -100: "3.720075976020836e-44",
             -500: "7.124576406741286e-218", -1000: "0.0"}  # the notes' np.exp(...) table


def log_softmax_naive(x):
    """实现一: log(exp(x) / sum(exp(x))), straight from the formula."""
    return (x.exp() / (x.exp().sum(-1, keepdim=True))).log()


def log_softmax_sub(x):
    """实现二: log(a/b) = log(a) - log(b), and log(exp(x)) = x; the sum of exps is still there."""
    return x - x.exp().sum(-1, keepdim=True).log()


def logsumexp(x):
    """log(sum(exp(x))) = m + log(sum(exp(x - m))), m = the row max: every exp is <= 1."""
    m = x.max(-1).values  # (N,)
    return m + (x - m[:, None]).exp().sum(-1).log()


def log_softmax_lse(x):
    """实现三: x - logsumexp(x), the LogSumExp trick."""
    return x - logsumexp(x)[:, None]


# the three implementations in the notes' order, each with its row label
IMPLEMENTATIONS = (("1 naive", log_softmax_naive), ("2 x - log(sum(exp))", log_softmax_sub),
                   ("3 LogSumExp trick", log_softmax_lse))


def nll(input, target):
    """-log p of the target class, averaged: the one-hot sum reduces to integer-array indexing."""
    return -input[range(target.shape[0]), target].mean()


@torch.no_grad()
def untrained_predictions(x, nh):
    """The lesson's Model(m, nh, 10) (Linear, ReLU, Linear), untrained, on x: pred (N, 10)."""
    model = nn.Sequential(nn.Linear(x.shape[1], nh), nn.ReLU(), nn.Linear(nh, 10))
    return model(x)  # the lesson only reads pred: no graph over 50000 images


def show_nll_by_indexing(pred, y):
    """The notes' lookup: sm_pred[[0, 1, 2], [5, 0, 4]] picks log p of each image's label."""
    print("== 如何在Pytorch上实现softmax呢？ / nll by integer-array indexing ==")
    sm_pred = log_softmax_naive(pred)  # (50000, 10)
    picked = sm_pred[[0, 1, 2], [5, 0, 4]].tolist()  # rows 0, 1, 2 at their labels 5, 0, 4
    print(f"y_train[:3] = {y[:3].tolist()}, y_train.shape[0] = {y.shape[0]}   "
          "(notes: tensor([5, 0, 4]), 50000)")
    print(f"sm_pred[[0,1,2], [5,0,4]] = {[round(v, 4) for v in picked]}   "
          "(notes: [-2.2674, -2.1714, -2.3043])")
    return picked


class Losses(NamedTuple):  # one untrained net's loss, three ways
    nll: float  # nll(log_softmax(pred)): the lesson's own
    nll_loss: float  # F.nll_loss(F.log_softmax(pred))
    cross_entropy: float  # F.cross_entropy(pred): both in one


def show_loss_three_ways(pred, y):
    """The lesson's nll(log_softmax(pred)) beside PyTorch's two ways to the same loss."""
    print(f"\n== 交叉熵损失 / the loss three ways (notes: 2.3019; ln 10 = {math.log(10):.4f}) ==")
    losses = Losses(nll(log_softmax_naive(pred), y).item(),
                    F.nll_loss(F.log_softmax(pred, -1), y).item(),
                    F.cross_entropy(pred, y).item())
    labels = ("nll(log_softmax(pred))", "F.nll_loss(F.log_softmax(pred))", "F.cross_entropy(pred)")
    for label, value in zip(labels, losses):
        print(f"{label:<34} {value:.4f}")
    return losses


class FloatLimits(NamedTuple):
    float64: dict  # {exponent: np.exp(exponent)}, as the notes
    float32: dict  # {exponent: torch's float32 exp}
    small_lost: bool  # float64 exp(-10) + exp(-100) == exp(-10)
    big_lost: bool  # float64 exp(10) + exp(100) == exp(100)
    small_lost_float32: bool
    max_exp64: float  # the largest x whose exp is finite
    max_exp32: float


def float_limits(exponents):
    """exp() at the notes' exponents in float64 (numpy, as the notes) and float32 (torch's
    default), and the notes' two sums where the smaller term is lost to rounding."""
    with np.errstate(over="ignore"):  # exp(1000) overflowing to inf is the point, not a warning
        f64 = {e: float(np.exp(np.float64(e))) for e in exponents}
    t = torch.tensor([-10.0, -100.0]).exp()  # float32: exp(-100) is a subnormal ~3.7e-44
    return FloatLimits(f64, {e: torch.tensor(float(e)).exp().item() for e in exponents},
                       bool(np.exp(-10) + np.exp(-100) == np.exp(-10)),
                       bool(np.exp(10) + np.exp(100) == np.exp(100)), bool(t[0] + t[1] == t[0]),
                       math.log(np.finfo(np.float64).max), math.log(torch.finfo(torch.float32).max))


def show_float_limits(notes_exp):
    """实现一's trouble: the notes' np.exp table (float64) beside float32, and lost sums."""
    print("\n== softmax实现一 / float limits: np.exp (float64, as the notes) and torch float32 ==")
    limits = float_limits(notes_exp)
    for e, notes in notes_exp.items():
        print(f"{f'np.exp({e})':<13} -> notes: {notes:<24} "
              f"ours: {limits.float64[e]!r:<24} float32: {limits.float32[e]:.8g}")
    print(f"exp(-10) + exp(-100) == exp(-10): {limits.small_lost}\n"
          f"exp(10) + exp(100) == exp(100): {limits.big_lost}\n"
          f"float32 exp(-10) + exp(-100) == exp(-10): {limits.small_lost_float32}")
    print(f"exp overflows above x = {limits.max_exp64:.2f} in float64 and x = "
          f"{limits.max_exp32:.2f} in float32")
    return limits


class ImplementationCheck(NamedTuple):
    label: str
    max_err: float  # max |diff| from F.log_softmax on pred
    finite_float32: bool  # on pred * scale, every entry finite
    finite_float64: bool


def show_implementations(pred, scale):
    """实现一/二/三 against F.log_softmax on pred, and on pred * scale in float32 and float64."""
    lse_err = (logsumexp(pred) - pred.logsumexp(-1)).abs().max().item()
    big = (pred * scale).abs().max().item()
    print(f"\n== softmax实现一/二/三 / log_softmax vs F.log_softmax; pred * {scale:g}: "
          f"max |x| = {big:.1f} ==")
    print(f"own logsumexp vs pred.logsumexp(-1): max |diff| {lse_err:.2e}")
    log_probs = F.log_softmax(pred, -1)  # torch's own, the reference
    checks = []
    for label, fn in IMPLEMENTATIONS:
        c = ImplementationCheck(label, (fn(pred) - log_probs).abs().max().item(),
                                bool(fn(pred * scale).isfinite().all()),
                                bool(fn(pred.double() * scale).isfinite().all()))
        print(f"{label:<22} max |diff| {c.max_err:.2e}   x{scale:g} all finite: float32 "
              f"{c.finite_float32!s:<5} float64 {c.finite_float64}")
        checks.append(c)
    return lse_err, big, checks


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: log_softmax, LogSumExp and nll")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=SCALE,
                        help="multiply pred by this to push exp() past its limits (ours)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x_train, y_train, _, _ = load_lesson_mnist(args.data_dir)  # (50000, 784) in [0, 1)
    pred = untrained_predictions(x_train, NH)  # (50000, 10)
    picked = show_nll_by_indexing(pred, y_train)
    losses = show_loss_three_ways(pred, y_train)
    limits = show_float_limits(NOTES_EXP)
    lse_err, max_abs_x, implementations = show_implementations(pred, args.scale)
    return {"y3": y_train[:3].tolist(), "picked": picked, "losses": losses, "limits": limits,
            "lse_err": lse_err, "max_abs_x": max_abs_x, "implementations": implementations}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults

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
