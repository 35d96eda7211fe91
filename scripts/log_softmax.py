"""损失函数 / The loss function: softmax 实现一/二/三 (log_softmax, LogSumExp, nll).

fast.ai 2019 lesson 9: cross entropy = nll(log_softmax(pred)), nll by integer-array indexing. Three
log_softmax implementations agree with F.log_softmax on an untrained net's predictions; on pred *
1000 (|x| ~400) only the LogSumExp trick (subtract the max first) stays finite in float32, whose
exp() overflows above 88.72 (float64's limit is 709.78): exp(1000) = inf, exp(-1000) = 0.

Run:    python scripts/log_softmax.py        (or: make log_softmax)
Expect: the loss ~2.30 (~ln 10) three ways; pred * 1000 in float32: only the LogSumExp trick
        finite (= F.log_softmax), in float64 all three; the notes' np.exp table.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH = 50  # the lesson's hidden units
SCALE = 1000  # the lesson's pred * 1000: past float32's exp limit (88.72), inside float64's
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


IMPLEMENTATIONS = {"1 naive": log_softmax_naive, "2 x - log(sum(exp))": log_softmax_sub,
                   "3 LogSumExp trick": log_softmax_lse}


def nll(input, target):
    """-log p of the target class, averaged: the one-hot sum reduces to integer-array indexing."""
    return -input[range(target.shape[0]), target].mean()


def float_limits(exponents):
    """exp() at the notes' exponents in float64 (numpy, as the notes) and float32 (torch's
    default), and the notes' two sums where the smaller term is lost to rounding."""
    with np.errstate(over="ignore"):  # exp(1000) overflowing to inf is the point, not a warning
        f64 = {e: float(np.exp(np.float64(e))) for e in exponents}
    t = torch.tensor([-10.0, -100.0]).exp()  # float32: exp(-100) is a subnormal ~3.7e-44
    return {"float64": f64, "float32": {e: torch.tensor(float(e)).exp().item() for e in exponents},
            "sums": {"exp(-10) + exp(-100) == exp(-10)": np.exp(-10) + np.exp(-100) == np.exp(-10),
                     "exp(10) + exp(100) == exp(100)": np.exp(10) + np.exp(100) == np.exp(100),
                     "float32 exp(-10) + exp(-100) == exp(-10)": bool(t[0] + t[1] == t[0])},
            "max_exp": {"float64": math.log(np.finfo(np.float64).max),
                        "float32": math.log(torch.finfo(torch.float32).max)}}


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: log_softmax, LogSumExp and nll")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x_train, y_train, _, _ = load_lesson_mnist(args.data_dir)  # (50000, 784) in [0, 1)
    model = nn.Sequential(nn.Linear(x_train.shape[1], NH), nn.ReLU(), nn.Linear(NH, 10))
    pred = model(x_train).detach()  # (50000, 10), untrained; the lesson's Model is this Sequential
    sm_pred = log_softmax_naive(pred)
    picked = sm_pred[[0, 1, 2], [5, 0, 4]].tolist()
    print(f"y_train[:3] = {y_train[:3].tolist()}, y_train.shape[0] = {y_train.shape[0]}\n"
          f"sm_pred[[0,1,2], [5,0,4]] = {[round(v, 4) for v in picked]}   "
          "(notes: [-2.2674, -2.1714, -2.3043])")
    log_probs = F.log_softmax(pred, -1)  # torch's own, the reference below
    losses = {"nll(log_softmax(pred))": nll(sm_pred, y_train).item(),
              "F.nll_loss(F.log_softmax(pred))": F.nll_loss(log_probs, y_train).item(),
              "F.cross_entropy(pred)": F.cross_entropy(pred, y_train).item()}
    print(f"\n# the loss three ways (notes: 2.3019; ln 10 = {math.log(10):.4f})")
    for name, value in losses.items():
        print(f"{name:<34} {value:.4f}")
    lse_err = (logsumexp(pred) - pred.logsumexp(-1)).abs().max().item()
    print(f"own logsumexp vs pred.logsumexp(-1): max |diff| {lse_err:.2e}")

    big = (pred * SCALE).abs().max().item()
    print(f"\n# log_softmax implementations vs F.log_softmax; pred * {SCALE}: max |x| = {big:.1f}")
    impls = {}
    for name, fn in IMPLEMENTATIONS.items():
        r = impls[name] = {"max_err": (fn(pred) - log_probs).abs().max().item(),
                           "finite float32": bool(fn(pred * SCALE).isfinite().all()),
                           "finite float64": bool(fn(pred.double() * SCALE).isfinite().all())}
        print(f"{name:<22} max |diff| {r['max_err']:.2e}   x{SCALE} all finite: float32 "
              f"{r['finite float32']!s:<5} float64 {r['finite float64']}")

    print("\n# float limits: np.exp (float64, as the notes) and torch float32")
    limits = float_limits(NOTES_EXP)
    for e, notes in NOTES_EXP.items():
        print(f"{f'np.exp({e})':<13} -> notes: {notes:<24} "
              f"ours: {limits['float64'][e]!r:<24} float32: {limits['float32'][e]:.8g}")
    print("\n".join(f"{name}: {value}" for name, value in limits["sums"].items()))
    print("exp overflows above x = {float64:.2f} in float64 and x = {float32:.2f} in float32"
          .format(**limits["max_exp"]))
    return {"y3": y_train[:3].tolist(), "picked": picked, "losses": losses, "lse_err": lse_err,
            "max_abs_x1000": big, "implementations": impls, "limits": limits}


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
