"""1.0 线性模型与梯度下降 / Linear model and gradient descent.

y = w·x + b fitted by hand with gradient descent on the mean squared error: the self-notes'
gradients 2/n·Σx(wx+b−y) and 2/n·Σ(wx+b−y) equal autograd's, the updates run under
torch.no_grad(), and a second backward without zeroing .grad adds to it (gradients accumulate).

Run:    python scripts/linear_regression.py        (or: make linear_regression)
Expect: gradients equal to ~1e-15 (float64); two backwards give twice one; "epoch: 0, loss: ..."
        falling (31.6 -> 0.306); the notes' 10 steps, on our data, end at w = 0.6460, b = -0.0875,
        not converged (least squares: 0.4958, 0.9438).
Try:    --epochs 2000       w, b reach least squares' 0.4958, 0.9438 (within 0.001)
        --lr 0.03           above 2/78 = 0.026: the loss grows every step (31.6 -> 5019), diverging
        --forget-zero-grad  .grad holds the sum of every step's gradient: the loss jumps up and
                            down (1.90 -> 16.7 -> 39.0) instead of falling
"""
import argparse
import sys
from pathlib import Path

import torch

N_POINTS = 15  # a handful of points, as in the notes' example data
TRUE_W, TRUE_B, NOISE = 0.5, 1.0, 0.3  # the line the data is drawn around, noise std on y
EPOCHS = 10  # the notes: "for e in range(10): # 进行 10 次更新"
# The notes' step: below 2/78 (78: the largest Hessian eigenvalue), so the loss falls every step;
# the smallest eigenvalue is 0.40, so each step closes only ~0.4% of the gap along it: slow.
LR = 1e-2
DTYPE = torch.float64  # float64 so the analytic and autograd gradients agree to rounding


def make_data(n, generator):
    """Points on y = 0.5x + 1 plus noise, x spread over [1, 10]: x, y (n,) float64."""
    x = torch.linspace(1.0, 10.0, n, dtype=DTYPE)  # (n,)
    return x, TRUE_W * x + TRUE_B + NOISE * torch.randn(n, generator=generator, dtype=DTYPE)


def linear_model(x, w, b):
    return x * w + b  # (n,): w and b are (1,) and broadcast


def get_loss(y_, y):
    return torch.mean((y_ - y) ** 2)  # mean squared error 1/n·Σ(ŷ − y)²


def analytic_grads(x, y, w, b):
    """The notes' formulas: ∂L/∂w = 2/n·Σx(wx+b−y), ∂L/∂b = 2/n·Σ(wx+b−y)."""
    r = (w * x + b - y).detach()  # (n,) residuals
    return 2 / len(x) * torch.sum(x * r), 2 / len(x) * torch.sum(r)


def autograd_grads(x, y, w, b, backwards=1):
    """(w.grad, b.grad) after `backwards` backward passes from None, never zeroed in between."""
    w.grad = b.grad = None
    for _ in range(backwards):  # a fresh forward each time (backward frees the graph); .grad
        get_loss(linear_model(x, w, b), y).backward()  # adds up: why the notes zero it first
    grads = w.grad, b.grad
    w.grad = b.grad = None
    return grads


def compare_grads(x, y, w, b):
    """Prints the notes' gradients beside autograd's, then two backwards without zeroing."""
    (gw, gb), (aw, ab) = analytic_grads(x, y, w, b), autograd_grads(x, y, w, b)
    twice = autograd_grads(x, y, w, b, backwards=2)[0].item()
    print(f"== 二者的梯度 / the notes' ∂L/∂w, ∂L/∂b against autograd ==\n"
          f"analytic  dL/dw = {gw.item():.10f}, dL/db = {gb.item():.10f}\n"
          f"autograd  w.grad = {aw.item():.10f}, b.grad = {ab.item():.10f}\n"
          f"largest difference: {max(abs(gw - aw).item(), abs(gb - ab).item()):.1e}\n\n"
          f"== 梯度归零 / .grad accumulates: why the notes zero it ==\n"
          f"w.grad after two backwards without zeroing: {twice:.6f} = {twice / aw.item():.6f}"
          " x one\n")
    return (gw, gb), (aw, ab), twice


def train(x, y, w, b, epochs, lr, zero_grad=True):
    """Full-batch gradient descent, printing ten epochs; returns each epoch's loss (before it)."""
    print(f"== 多次更新参数 / {epochs} gradient steps (each loss before its step) ==")
    losses = []
    for e in range(epochs):
        loss = get_loss(linear_model(x, w, b), y)
        if zero_grad:  # the notes: w.grad.zero_(); None works also before the first backward
            w.grad = b.grad = None
        loss.backward()
        with torch.no_grad():  # the notes' w.data = w.data - 1e-2 * w.grad.data hides the step
            w -= lr * w.grad  # from autograd; no_grad() says so, and w stays the leaf
            b -= lr * b.grad
        if e % max(1, epochs // 10) == 0:
            print('epoch: {}, loss: {}'.format(e, loss.item()))
        losses.append(loss.item())
    return losses


def compare_with_least_squares(x, y, w, b, losses):
    """Prints where w, b ended beside the minimum (least squares, closed form); returns the gap."""
    columns = torch.stack([x, torch.ones_like(x)], dim=1)  # (n, 2)
    best_w, best_b = torch.linalg.lstsq(columns, y.unsqueeze(1)).solution.flatten().tolist()
    gap = max(abs(w.item() - best_w), abs(b.item() - best_b))
    verdict = ("converged (within 0.001)" if gap < 1e-3 else
               f"diverging ({gap:.3f} away, the loss grew): lr too large" if losses[-1] > losses[0]
               else f"not converged yet ({gap:.3f} away, b moves slowly): try --epochs 2000")
    print(f"after {len(losses)} steps: w = {w.item():.4f}, b = {b.item():.4f} (data drawn around "
          f"w = {TRUE_W}, b = {TRUE_B})\nleast squares, the minimum: w = {best_w:.4f}, b = "
          f"{best_b:.4f}: {verdict}")
    return gap


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.0 linear model and gradient descent by hand")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="gradient steps")
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget-zero-grad", action="store_true",
                        help="never zero .grad in the loop: the steps use the running sum")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    x, y = make_data(N_POINTS, torch.Generator().manual_seed(args.seed))
    w = torch.randn(1, dtype=DTYPE, requires_grad=True)  # the notes: w random, b zero
    b = torch.zeros(1, dtype=DTYPE, requires_grad=True)
    compare_grads(x, y, w, b)
    losses = train(x, y, w, b, args.epochs, args.lr, zero_grad=not args.forget_zero_grad)
    gap = compare_with_least_squares(x, y, w, b, losses)
    return {"w": w.item(), "b": b.item(), "losses": losses, "gap": gap}


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


if __name__ == "__main__":
    main()
