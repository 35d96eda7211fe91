"""损失函数 / The loss function: softmax 实现一/二/三 (log_softmax, LogSumExp, nll).

fast.ai 2019 lesson 9: cross entropy = nll(log_softmax(pred)), with nll by integer-array indexing;
three log_softmax implementations agree with F.log_softmax on an untrained model's predictions, but
on inputs x1000 only the LogSumExp trick (subtract the max first) stays finite; the float limits
behind it: exp(1000) = inf, exp(-1000) = 0, exp(-10) + exp(-100) == exp(-10).

Run:    python scripts/log_softmax.py        (or: make log_softmax)
Expect: an untrained 784-50-10 net's loss ~2.30 (~ln 10) three ways; on x1000: naive nan/-inf,
        x - log(sum(exp)) -inf, LogSumExp trick finite and equal to F.log_softmax; the notes' numpy
        values digit for digit (float32 overflows already at exp(100)); ~7 s on a 2-core CPU, 5 of
        them importing torch and torchvision.
"""
import argparse
import math
import socket
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH = 50  # the lesson's hidden units
SCALE = 1000  # inputs this large overflow exp() in float32 (and float64) but not the trick
EXPONENTS = [1, 10, 100, 500, 1000, -1, -10, -100, -500, -1000]  # the notes' np.exp(...) table
# The notes' printed values.
NOTES = {"picked": [-2.2674, -2.1714, -2.3043], "nll": 2.3019,
         "np.exp": {1: "2.718281828459045", 10: "22026.465794806718",
                    100: "2.6881171418161356e+43", 500: "1.4035922178528375e+217",
                    1000: "inf", -1: "0.36787944117144233", -10: "4.5399929762484854e-05",
                    -100: "3.720075976020836e-44", -500: "7.124576406741286e-218", -1000: "0.0"}}


class Model(nn.Module):
    """The lesson's untrained 784-50-10 net: a plain list of layers, applied in turn."""

    def __init__(self, n_in, nh, n_out):
        super().__init__()
        self.layers = [nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


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


def compare_implementations(pred, scale):
    """Per implementation: max |ours - F.log_softmax| on pred and on pred*scale, and whether
    pred*scale stays finite."""
    out = {}
    for name, fn in IMPLEMENTATIONS.items():
        ours, big = fn(pred), fn(pred * scale)
        out[name] = {"max_err": (ours - F.log_softmax(pred, -1)).abs().max().item(),
                     "finite_x1000": bool(big.isfinite().all()),
                     "max_err_x1000": (big - F.log_softmax(pred * scale, -1)).abs().max().item()}
    return out


def float_limits(exponents):
    """exp() at the notes' exponents in float64 (numpy, as the notes) and float32 (torch's default),
    and the notes' two sums where the smaller term is lost to rounding."""
    with np.errstate(over="ignore"):  # exp(1000) overflowing to inf is the point, not a warning
        f64 = {e: float(np.exp(np.float64(e))) for e in exponents}
        sums = {"exp(-10) + exp(-100) == exp(-10)": bool(np.exp(-10) + np.exp(-100) == np.exp(-10)),
                "exp(10) + exp(100) == exp(100)": bool(np.exp(10) + np.exp(100) == np.exp(100))}
    f32 = {e: torch.tensor(float(e)).exp().item() for e in exponents}
    t = torch.tensor([-10.0, -100.0]).exp()  # float32: exp(-100) is a subnormal ~3.7e-44
    sums["float32 exp(-10) + exp(-100) == exp(-10)"] = bool(t[0] + t[1] == t[0])
    return {"float64": f64, "float32": f32, "sums": sums,
            "max_exp": {"float64": math.log(np.finfo(np.float64).max),
                        "float32": math.log(torch.finfo(torch.float32).max)}}


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="lesson 9: log_softmax, LogSumExp and nll")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder holding MNIST/raw")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    x_train, y_train, _, _ = load_lesson_mnist(args.data_dir)  # (50000, 784) in [0, 1)
    model = Model(x_train.shape[1], NH, 10)
    with torch.no_grad():
        pred = model(x_train)  # (50000, 10): an untrained model's predictions
    sm_pred = log_softmax_naive(pred)
    picked = sm_pred[[0, 1, 2], [5, 0, 4]]
    print("y_train[:3]:", y_train[:3].tolist(), "| y_train.shape[0]:", y_train.shape[0])
    print("sm_pred[[0,1,2], [5,0,4]]  notes:", NOTES["picked"],
          " ours:", [round(v, 4) for v in picked.tolist()])

    losses = {
        "nll(log_softmax(pred))": nll(sm_pred, y_train).item(),
        "F.nll_loss(F.log_softmax(pred))": F.nll_loss(F.log_softmax(pred, -1), y_train).item(),
        "F.cross_entropy(pred)": F.cross_entropy(pred, y_train).item()}
    print(f"\n# the loss three ways (notes: {NOTES['nll']}; ln 10 = {math.log(10):.4f})")
    for name, value in losses.items():
        print(f"{name:<34} {value:.4f}")
    lse_err = (logsumexp(pred) - pred.logsumexp(-1)).abs().max().item()
    print(f"own logsumexp vs pred.logsumexp(-1): max |diff| {lse_err:.2e}")

    print(f"\n# log_softmax implementations vs F.log_softmax, on pred and on pred * {SCALE}")
    impls = compare_implementations(pred, SCALE)
    for name, r in impls.items():
        print(f"{name:<22} max |diff| {r['max_err']:.2e}   x{SCALE}: "
              f"all finite {r['finite_x1000']!s:<5} max |diff| {r['max_err_x1000']:.3g}")

    print("\n# float limits: np.exp (float64, as the notes) and torch float32")
    limits = float_limits(EXPONENTS)
    for e in EXPONENTS:
        print(f"{f'np.exp({e})':<13} -> notes: {NOTES['np.exp'][e]:<24} "
              f"ours: {limits['float64'][e]!r:<24} float32: {limits['float32'][e]:.8g}")
    for name, value in limits["sums"].items():
        print(f"{name}: {value}")
    print("exp overflows above x = {float64:.2f} in float64 and x = {float32:.2f} in float32"
          .format(**limits["max_exp"]))
    return {"y3": y_train[:3].tolist(), "picked": picked, "losses": losses, "lse_err": lse_err,
            "implementations": impls, "limits": limits}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def load_lesson_mnist(data_dir):
    """The lesson's mnist.pkl.gz split as tensors: x_train (50000, 784), y_train (50000,),
    x_valid (10000, 784), y_valid (10000,).

    That pickle holds the first 50000 / last 10000 images of the MNIST training set as byte/256;
    dividing by 256 (not 255) reproduces it exactly."""
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        ds = datasets.MNIST(data_dir, train=True, download=True)
    except Exception as e:  # no files and no network, or a truncated file
        reason = (str(e).splitlines() or [type(e).__name__])[0].rstrip(":")
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw and could not be "
                         f"downloaded ({reason}); run: make data")
    finally:
        socket.setdefaulttimeout(old_timeout)
    x = ds.data.view(-1, 28 * 28).float().div_(256)  # (60000, 784) in [0, 1)
    y = ds.targets  # (60000,) int64
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


if __name__ == "__main__":
    main()
