"""LS19.感知机的梯度推导 / The gradient of a single- and a multi-output perceptron.

A sigmoid perceptron O = sigmoid(x @ w.T), target t = 1: autograd's w.grad beside the notes'
dE/dw_jk = (O_k - t_k) O_k (1 - O_k) x_j for E = 1/2 sum_k (O_k - t_k)^2, and the factor 2/K that
F.mse_loss (a mean over the K outputs, without the 1/2) puts between them.

Run:    python scripts/perceptron_grad.py   (or: make perceptron_grad; --outputs 3 for 2/3)
Expect: "w.grad / formula = 2.000000" for one output, "= 1.000000" for two; w.grad has rank 1.
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

FEATURES = 10  # the notes' x = torch.randn(1, 10)
OUTPUTS = 2  # the notes' multi-output w = torch.randn(2, 10)
SEED = 0  # the notes' randn was unseeded: their w.grad cannot be reproduced, the formula can


def autograd_grad(x, w, t):
    """w.grad of F.mse_loss(sigmoid(x @ w.T), t) by backward(); also the output O."""
    w = w.clone().requires_grad_()
    o = torch.sigmoid(x @ w.t())  # (1, K)
    F.mse_loss(o, t).backward()  # mean of (O_k - t_k)^2; the notes' (t, o) order: the same number
    return o.detach(), w.grad  # (1, K), (K, FEATURES)


def notes_formula(x, o, t):
    """dE/dw_jk = (O_k - t_k) O_k (1 - O_k) x_j for E = 1/2 sum_k (O_k - t_k)^2."""
    delta = (o - t) * o * (1 - o)  # (1, K): one delta per output node
    return delta.t() @ x  # (K, 1) @ (1, FEATURES) -> (K, FEATURES), the shape of w


def rank_ratio(grad):
    """sigma2/sigma1 of w.grad: 0 for rank 1, as an outer product delta x^T (one sample) is."""
    s = torch.linalg.svdvals(grad.double())
    return (s[1] / s[0]).item() if len(s) > 1 else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS19: perceptron gradients vs the notes",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--outputs", type=int, default=OUTPUTS)  # K
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    if args.outputs < 1:
        parser.error("--outputs needs at least 1")
    torch.manual_seed(args.seed)
    print("E = 1/2 sum_k (O_k - t_k)^2 in the notes; F.mse_loss = 1/K sum_k (O_k - t_k)^2 = 2E/K")
    ratios = {}
    for k in (1, args.outputs):  # the notes' single output, then K outputs
        x, w, t = torch.randn(1, FEATURES), torch.randn(k, FEATURES), torch.ones(1, k)
        o, grad = autograd_grad(x, w, t)
        formula = notes_formula(x, o, t)
        ratios[k] = ((grad * formula).sum() / (formula ** 2).sum()).item()  # grad = c formula
        print(f"\n# K = {k} ({'single' if k == 1 else 'multi'}-output perceptron): O =", o)
        print("w.grad =", grad)  # the notes' print(w.grad)
        print(f"the notes' (O_k - t_k) O_k (1 - O_k) x_j times 2/K = {2 / k:g}:\n{2 / k * formula}")
        print(f"w.grad / formula = {ratios[k]:.6f}, 2/K = {2 / k:.6f}")
    print(f"\nw.grad (K = {k}) is rank 1, rows ∝ x: sigma2/sigma1 = {rank_ratio(grad):.1e}")
    return {"ratio_1": ratios[1], f"ratio_{k}": ratios[k], "rank_ratio": rank_ratio(grad)}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
