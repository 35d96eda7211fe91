"""1.0 线性模型与梯度下降 / Linear model and gradient descent.

y = w·x + b fitted by hand with gradient descent on the mean squared error: the analytic
gradients 2/n·Σx(wx+b−y) and 2/n·Σ(wx+b−y) equal autograd's, the updates run under
torch.no_grad(), and a second backward without zeroing .grad adds to it (gradients accumulate).

Run:    python scripts/linear_regression.py        (or: make linear_regression)
Expect: analytic and autograd gradients equal to ~1e-15 (float64); ten lines "epoch: 0, loss: ..."
        falling every epoch (31.6 -> 0.306); the gradient after two backwards is twice that after
        one; after the notes' 10 steps w = 0.6460, b = -0.0875: not converged (least squares:
        0.4958, 0.9438); --epochs 2000 gets there. --forget-zero-grad: the loss jumps around.
"""
import argparse
import sys
from pathlib import Path

import torch

SEED = 0
N_POINTS = 15  # a handful of points, as in the notes' example data
X_RANGE = (1.0, 10.0)  # x spread over [1, 10]
TRUE_W, TRUE_B = 0.5, 1.0  # the line the data is drawn around
NOISE = 0.3  # std of the Gaussian noise on y: the fit cannot reach zero loss
EPOCHS = 10  # the notes: "for e in range(10): # 进行 10 次更新"
# The notes' step: below 2/78 (78: the largest Hessian eigenvalue), so the loss falls every step;
# the smallest eigenvalue is 0.40, so each step closes only ~0.4% of the gap along it: slow.
LR = 1e-2
DTYPE = torch.float64  # float64 so the analytic and autograd gradients agree to rounding


def make_data(n, generator):
    """Points on y = 0.5x + 1 plus Gaussian noise: x, y (n,) float64, the same for a given seed."""
    x = torch.linspace(*X_RANGE, n, dtype=DTYPE)  # (n,)
    y = TRUE_W * x + TRUE_B + NOISE * torch.randn(n, generator=generator, dtype=DTYPE)  # (n,)
    return x, y


def linear_model(x, w, b):
    return x * w + b  # (n,): w and b are (1,) and broadcast


def get_loss(y_, y):
    """Mean squared error 1/n·Σ(ŷ − y)²."""
    return torch.mean((y_ - y) ** 2)


def analytic_grads(x, y, w, b):
    """The notes' formulas: ∂L/∂w = 2/n·Σx(wx+b−y), ∂L/∂b = 2/n·Σ(wx+b−y)."""
    with torch.no_grad():
        r = w * x + b - y  # (n,) residuals
        return 2 / len(x) * torch.sum(x * r), 2 / len(x) * torch.sum(r)


def autograd_grads(x, y, w, b, backwards=1):
    """w.grad and b.grad after `backwards` backward passes from None, never zeroed in between."""
    w.grad, b.grad = None, None
    for _ in range(backwards):  # a fresh forward each time (backward frees the graph); .grad
        get_loss(linear_model(x, w, b), y).backward()  # adds up: why the notes zero it first
    grads = w.grad.clone(), b.grad.clone()
    w.grad, b.grad = None, None
    return grads


def train(x, y, w, b, epochs, lr, zero_grad=True, print_every=1):
    """Full-batch gradient descent; returns the loss of each epoch (before its update)."""
    losses = []
    for e in range(epochs):
        y_ = linear_model(x, w, b)
        loss = get_loss(y_, y)
        if zero_grad:  # the notes: w.grad.zero_(); None works also before the first backward
            w.grad, b.grad = None, None
        loss.backward()
        # The notes: w.data = w.data - 1e-2 * w.grad.data. .data hides the change from autograd;
        # no_grad() says the same thing explicitly and updates w in place (w stays the leaf).
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        if e % print_every == 0:
            print('epoch: {}, loss: {}'.format(e, loss.item()))
        losses.append(loss.item())
    return losses


def least_squares(x, y):
    """The minimum gradient descent is heading for, in closed form: (w, b)."""
    a = torch.stack([x, torch.ones_like(x)], dim=1)  # (n, 2): columns x and 1
    return torch.linalg.lstsq(a, y.unsqueeze(1)).solution.flatten().tolist()


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="1.0 linear model and gradient descent by hand")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="gradient steps")
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--forget-zero-grad", action="store_true",
                        help="never zero .grad in the loop: the steps use the running sum")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x, y = make_data(N_POINTS, torch.Generator().manual_seed(args.seed))
    w = torch.randn(1, dtype=DTYPE, requires_grad=True)  # the notes: w random, b zero
    b = torch.zeros(1, dtype=DTYPE, requires_grad=True)

    gw, gb = analytic_grads(x, y, w, b)
    aw, ab = autograd_grads(x, y, w, b)
    print(f"analytic  dL/dw = {gw.item():.10f}, dL/db = {gb.item():.10f}\n"
          f"autograd  w.grad = {aw.item():.10f}, b.grad = {ab.item():.10f}")
    print(f"largest difference: {max(abs(gw - aw).item(), abs(gb - ab).item()):.1e}")
    twice, _ = autograd_grads(x, y, w, b, backwards=2)
    print(f"w.grad after two backwards without zeroing: {twice.item():.6f} "
          f"= {twice.item() / aw.item():.6f} x one\n")

    losses = train(x, y, w, b, args.epochs, args.lr, zero_grad=not args.forget_zero_grad,
                   print_every=max(1, args.epochs // 10))  # ten lines, however many epochs
    best_w, best_b = least_squares(x, y)
    gap = max(abs(w.item() - best_w), abs(b.item() - best_b))
    print(f"after {args.epochs} steps: w = {w.item():.4f}, b = {b.item():.4f} "
          f"(data drawn around w = {TRUE_W}, b = {TRUE_B})")
    print(f"least squares, the minimum: w = {best_w:.4f}, b = {best_b:.4f}: " +
          ("converged (within 0.001)" if gap < 1e-3 else
           f"not converged yet ({gap:.3f} away, b moves slowly): try --epochs 2000"))
    return {"w": w.item(), "b": b.item(), "final_loss": losses[-1], "gap": gap}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


def positive_int(text):
    if int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return int(text)


def positive_float(text):
    if not float(text) > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return float(text)


if __name__ == "__main__":
    main()
