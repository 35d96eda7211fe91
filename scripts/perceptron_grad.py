"""LS19.感知机的梯度推导 / The gradient of a single- and a multi-output perceptron.

A sigmoid perceptron O = sigmoid(x @ w.T), target t = 1: autograd's w.grad beside the notes'
dE/dw_jk = (O_k - t_k) O_k (1 - O_k) x_j for E = 1/2 sum_k (O_k - t_k)^2, and the factor 2/K that
F.mse_loss (a mean over the K outputs, without the 1/2) puts between them.

Run:    python scripts/perceptron_grad.py   (or: make perceptron_grad)
Expect: "w.grad / formula = 2.000000" for one output, "= 1.000000" for two; w.grad has rank 1.

Try:    --outputs 3   w.grad / formula = 0.666667 = 2/K: F.mse_loss averages over the 3 outputs
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


def random_perceptron(outputs, features):
    """The notes' unseeded x = randn(1, 10), w = randn(K, 10), and the target t = 1 per output."""
    return torch.randn(1, features), torch.randn(outputs, features), torch.ones(1, outputs)


def show_perceptron(x, w, t):
    """One of the notes' 代码运用 cells: O, autograd's w.grad, the notes' formula times 2/K, and
    the c in w.grad = c * formula (least squares), returned with w.grad."""
    k = w.shape[0]
    name = "单一感知机 / single-output" if k == 1 else "多输出感知机 / multi-output"
    print(f"\n== {name} perceptron, K = {k} ==")
    o, grad = autograd_grad(x, w, t)
    formula = notes_formula(x, o, t)
    ratio = ((grad * formula).sum() / (formula ** 2).sum()).item()  # grad = ratio * formula
    print("O =", o)
    print("w.grad =", grad)  # the notes' print(w.grad)
    print(f"the notes' (O_k - t_k) O_k (1 - O_k) x_j times 2/K = {2 / k:g}:\n{2 / k * formula}")
    print(f"w.grad / formula = {ratio:.6f}, 2/K = {2 / k:.6f}")
    return ratio, grad


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
    # The notes' E has a 1/2 and a sum; F.mse_loss has a mean and no 1/2: it is 2E/K.
    print("== LS19.感知机的梯度推导: E = 1/2 sum_k (O_k - t_k)^2; F.mse_loss = 2E/K ==")
    ratio_single, _ = show_perceptron(*random_perceptron(1, FEATURES))
    ratio_multi, grad = show_perceptron(*random_perceptron(args.outputs, FEATURES))
    rank = rank_ratio(grad)  # one sample: w.grad = delta x^T, every row a multiple of x
    print(f"w.grad (K = {args.outputs}) is rank 1, rows ∝ x: sigma2/sigma1 = {rank:.1e}")
    return {"ratio_single": ratio_single, "ratio_multi": ratio_multi, "rank_ratio": rank}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
