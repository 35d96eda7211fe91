"""LS19.感知机的梯度推导 / The gradient of a single- and a multi-output perceptron.

A sigmoid perceptron O = sigmoid(x @ w.T) trained towards t = 1: autograd's w.grad next to the
notes' derivation dE/dw_jk = (O_k - t_k) O_k (1 - O_k) x_j for E = 1/2 sum_k (O_k - t_k)^2, and the
factor 2/K that F.mse_loss (a mean over the K outputs, without the 1/2) puts between them.

Run:    python scripts/perceptron_grad.py   (or: make perceptron_grad)
Expect: w.grad (1, 10) equal to 2x the notes' formula for one output, and w.grad (2, 10) equal to
        the formula exactly for two outputs; well under a second after imports.
"""
import argparse

import torch
import torch.nn.functional as F

FEATURES = 10  # the notes' x = torch.randn(1, 10)
OUTPUTS = 2  # the notes' multi-output w = torch.randn(2, 10)
SEED = 0  # the notes' randn was unseeded: their w.grad cannot be reproduced, the formula can


def autograd_grad(x, w, t):
    """w.grad of F.mse_loss(sigmoid(x @ w.T), t) by backward(); also the output O."""
    w = w.clone().requires_grad_()
    o = torch.sigmoid(x @ w.t())  # (1, K)
    # The notes wrote F.mse_loss(torch.ones(1, K), o): the same number (MSE is symmetric), but the
    # argument order is (input, target), so the prediction goes first.
    loss = F.mse_loss(o, t)  # mean over the K outputs of (O_k - t_k)^2
    loss.backward()
    return o.detach(), w.grad  # (1, K), (K, FEATURES)


def notes_formula(x, o, t):
    """dE/dw_jk = (O_k - t_k) O_k (1 - O_k) x_j for E = 1/2 sum_k (O_k - t_k)^2."""
    delta = (o - t) * o * (1 - o)  # (1, K): one delta per output node
    return delta.t() @ x  # (K, 1) @ (1, FEATURES) -> (K, FEATURES), the shape of w


def mse_factor(outputs):
    """F.mse_loss = 1/K sum (O - t)^2 = (2/K) E, so its gradient is (2/K) times the notes' one."""
    return 2 / outputs


def show_case(title, x, w, t):
    """Print w.grad, the notes' formula times the factor, and the factor; return them."""
    o, grad = autograd_grad(x, w, t)
    formula = notes_formula(x, o, t)
    factor = mse_factor(t.shape[1])
    ratio = ((grad * formula).sum() / (formula * formula).sum()).item()  # least squares fit
    print(f"\n# {title}: O = {o.squeeze(0).tolist()}")
    print(grad)  # the notes' print(w.grad)
    print(f"notes' (O_k-t_k) O_k(1-O_k) x_j times 2/K = {factor:g}:")
    print(factor * formula)
    print(f"w.grad / formula = {ratio:.6f}")
    return {"x": x, "w": w, "t": t, "o": o, "grad": grad, "formula": formula, "factor": factor,
            "ratio": ratio}


def rank_of(grad):
    """w.grad of a one-sample perceptron is an outer product δ xᵀ (δ_k = (O_k − t_k)O_k(1 − O_k)),
    so all its rows are multiples of x: rank 1. Returned as σ2/σ1, the singular-value ratio."""
    s = torch.linalg.svdvals(grad.double())
    return (s[1] / s[0]).item() if len(s) > 1 else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS19: perceptron gradients vs the notes")
    parser.add_argument("--outputs", type=positive_int, default=OUTPUTS,
                        help="outputs K of the multi-output perceptron")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    print("E = 1/2 sum_k (O_k - t_k)^2 in the notes; F.mse_loss = 1/K sum_k (O_k - t_k)^2 = 2E/K")
    x = torch.randn(1, FEATURES)
    single = show_case("single output", x, torch.randn(1, FEATURES), torch.ones(1, 1))
    print("one output: the mean is over 1 element and there is no 1/2, so w.grad = 2 x the notes'")

    x = torch.randn(1, FEATURES)
    multi = show_case(f"{args.outputs} outputs", x, torch.randn(args.outputs, FEATURES),
                      torch.ones(1, args.outputs))
    if args.outputs == 2:
        print("two outputs: the mean's 1/2 cancels the square's 2: w.grad = the notes' formula")
    print(f"rows of w.grad are multiples of x (one sample): sigma2/sigma1 = "
          f"{rank_of(multi['grad']):.1e}, rank 1")
    return {"single": single, "multi": multi}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def positive_int(text):
    """argparse type: an integer > 0 (epochs, batch size, ...)."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


if __name__ == "__main__":
    main()
