"""1.0 线性模型与梯度下降 / Linear model and gradient descent.

y = w·x + b fitted by hand with gradient descent on the mean squared error: the analytic
gradients 2/n·Σx(wx+b−y) and 2/n·Σ(wx+b−y) equal autograd's, the updates run under
torch.no_grad(), and a second backward without zeroing .grad adds to it (gradients accumulate).

Run:    python scripts/linear_regression.py        (or: make linear_regression)
Expect: analytic and autograd gradients equal to ~1e-15 (float64); ten lines
        "epoch: 0, loss: ..." with the loss falling every epoch (31.6 -> 0.306 for seed 0);
        the gradient after two backwards is twice the gradient after one. --forget-zero-grad
        trains on the running sum instead and the loss jumps around. Under a second.
"""
import argparse

import torch

SEED = 0
N_POINTS = 15  # a handful of points, as in the notes' example data
X_RANGE = (1.0, 10.0)  # x spread over [1, 10]
TRUE_W, TRUE_B = 0.5, 1.0  # the line the data is drawn around
NOISE = 0.3  # std of the Gaussian noise on y: the fit cannot reach zero loss
EPOCHS = 10  # the notes: "for e in range(10): # 进行 10 次更新"
LR = 1e-2  # the notes' step; below 2/L for this data (L = largest Hessian eigenvalue ≈ 78)
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


def autograd_grads(x, y, w, b):
    """One forward and backward from zeroed gradients; returns copies of w.grad and b.grad."""
    w.grad, b.grad = None, None
    get_loss(linear_model(x, w, b), y).backward()
    return w.grad.clone(), b.grad.clone()


def backward_twice(x, y, w, b):
    """Two backwards without zeroing: PyTorch adds into .grad, so the result is the sum."""
    w.grad, b.grad = None, None
    get_loss(linear_model(x, w, b), y).backward()
    once = w.grad.clone()
    # A fresh forward builds a fresh graph (the first one was freed by backward); .grad, which
    # lives on the leaf w, is not reset: this is why the notes zero it before every backward.
    get_loss(linear_model(x, w, b), y).backward()
    twice = w.grad.clone()
    w.grad, b.grad = None, None
    return once, twice


def train(x, y, w, b, epochs, lr, zero_grad=True):
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
        print('epoch: {}, loss: {}'.format(e, loss.item()))
        losses.append(loss.item())
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="1.0 linear model and gradient descent by hand")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="gradient descent steps")
    parser.add_argument("--lr", type=positive_float, default=LR,
                        help="learning rate")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    parser.add_argument("--forget-zero-grad", action="store_true",
                        help="never zero .grad in the loop: the steps use the running sum")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    x, y = make_data(N_POINTS, torch.Generator().manual_seed(args.seed))
    w = torch.randn(1, dtype=DTYPE, requires_grad=True)  # the notes: w random, b zero
    b = torch.zeros(1, dtype=DTYPE, requires_grad=True)

    gw, gb = analytic_grads(x, y, w, b)
    aw, ab = autograd_grads(x, y, w, b)
    print(f"analytic  dL/dw = {gw.item():.10f}, dL/db = {gb.item():.10f}")
    print(f"autograd  w.grad = {aw.item():.10f}, b.grad = {ab.item():.10f}")
    print(f"largest difference: {max(abs(gw - aw).item(), abs(gb - ab).item()):.1e}")

    once, twice = backward_twice(x, y, w, b)
    print(f"w.grad after one backward: {once.item():.6f}, after a second without zeroing: "
          f"{twice.item():.6f} (ratio {twice.item() / once.item():.6f})\n")

    losses = train(x, y, w, b, args.epochs, args.lr, zero_grad=not args.forget_zero_grad)
    print(f"w = {w.item():.4f}, b = {b.item():.4f} (data drawn around w = {TRUE_W}, b = {TRUE_B})")
    return {"w": w.item(), "b": b.item(), "final_loss": losses[-1],
            "grad_gap": max(abs(gw - aw).item(), abs(gb - ab).item())}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def positive_int(text):
    """argparse type: an integer > 0 (epochs, batch size, ...)."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text):
    """argparse type: a float > 0 (learning rate, ...)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


if __name__ == "__main__":
    main()
