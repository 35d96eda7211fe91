"""1.1 逻辑回归 / Logistic regression.

y = sigmoid(wx + b) with w, b nn.Parameter; the self-notes' loss −(y·log ŷ + (1−y)·log(1−ŷ)) by
hand equals nn.BCEWithLogitsLoss (finite where the hand-written one overflows); torch.optim's
zero_grad / backward / step on two overlapping classes; the classification notes' question: why
train on the loss, not the accuracy.

Run:    python scripts/logistic_regression.py        (or: make logistic_regression)
Expect: w.requires_grad = True; by hand = BCEWithLogitsLoss to ~1e-16 (float64); "epoch: 200,
        Loss: ..., Acc: ..." every 200 of 1000 epochs, accuracy ≈ 0.95 (train and held-out test;
        the classes overlap); a small change of w moves the loss, not the accuracy.
Try:    --center 0.3   the classes overlap more: accuracy ≈ 0.66, the best line's Φ(0.3·√2) = 0.66
        --center 3     they barely overlap: accuracy ≈ 1.00, as Φ(3·√2) = 0.99999 says
"""
import argparse
import sys
from pathlib import Path

import torch
from torch import nn

N_PER_CLASS = 200  # points per class, for training and again for the held-out test set
CENTER = 1.2  # class 0 around (-1.2, -1.2), class 1 around (1.2, 1.2), unit std: they overlap
EPOCHS = 1000  # the notes: for e in range(1000)
LR = 1.0  # full-batch SGD on a convex loss: a large step is stable here


def make_data(n_per_class, center, generator):
    """Two Gaussian classes: x (N, 2) float32, y (N, 1) float32 in {0, 1} (BCE wants floats)."""
    y = torch.arange(2).repeat_interleave(n_per_class).float().unsqueeze(1)  # (N, 1)
    return (2 * y - 1) * center + torch.randn(len(y), 2, generator=generator), y  # ∓center + noise


def make_params():
    """w (2, 1) random, b (1,) zero, both nn.Parameter: what torch.optim updates."""
    w, b = nn.Parameter(torch.randn(2, 1)), nn.Parameter(torch.zeros(1))
    print(f"== nn.Parameter 默认要求梯度 / a Parameter requires grad ==\n"
          f"w = nn.Parameter(torch.randn(2, 1)): w.requires_grad = {w.requires_grad} "
          f"(the self-notes: a Parameter requires grad by default, a plain tensor does not)")
    return w, b


def linear_logits(x, w, b):
    """The notes' logistic_reg, named for what it returns: logits wx + b, (N, 1); their sigmoid
    is ŷ, the probability of class 1 (BCEWithLogitsLoss applies it inside)."""
    return x @ w + b


def bce_by_hand(logits, y):
    y_hat = torch.sigmoid(logits)  # the notes' −(y·log ŷ + (1−y)·log(1−ŷ)), averaged
    return -torch.mean(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))


@torch.no_grad()  # a comparison of values: no graph needed
def compare_losses(x, y, w, b):
    """The loss by hand and nn.BCEWithLogitsLoss, in float64 so only rounding can differ; then
    a confident wrong answer (logit 100, label 0) in float32, where the hand-written one
    overflows."""
    logits64, y64 = linear_logits(x.double(), w.double(), b.double()), y.double()
    by_hand = bce_by_hand(logits64, y64).item()
    builtin = nn.BCEWithLogitsLoss()(logits64, y64).item()
    big = torch.tensor([[100.0]]), torch.tensor([[0.0]])
    big_by_hand, big_builtin = bce_by_hand(*big).item(), nn.BCEWithLogitsLoss()(*big).item()
    print(f"\n== 损失函数 / the loss by hand and nn.BCEWithLogitsLoss ==\n"
          f"loss by hand: {by_hand:.12f}, nn.BCEWithLogitsLoss: {builtin:.12f}\n"
          f"logit 100, label 0: by hand {big_by_hand}, BCEWithLogitsLoss {big_builtin} "
          f"(sigmoid(100) rounds to 1)")
    return by_hand, builtin, big_by_hand, big_builtin


def accuracy(logits, y):
    return ((logits > 0).float() == y).sum().item() / len(y)  # ŷ > 0.5 exactly when logit > 0


def accuracy_is_flat(x, y, w, b, step=1e-4):
    """Why not train on accuracy. Nudged by `step`, w moves the loss, not the accuracy (only a
    point crossing the line does), and `logits > 0` is a bool with no grad_fn: no gradient at all.
    The details notes' "3 right, 2 wrong, so the MSE did not change" is this, said of the MSE."""
    with torch.no_grad():
        ws = [w, w + step]  # w and w nudged, (2, 1) each
        losses = [nn.BCEWithLogitsLoss()(linear_logits(x, v, b), y).item() for v in ws]
        accs = [accuracy(linear_logits(x, v, b), y) for v in ws]
    acc_tensor = ((linear_logits(x, w, b) > 0).float() == y).float().mean()  # autograd on
    print(f"\n== 为什么分类问题不用以最小化准确率的目标来训练? / why train on the loss, not the "
          f"accuracy (at the initial w) ==\nw -> w + {step}: loss {losses[0]:.6f} -> "
          f"{losses[1]:.6f}, accuracy {accs[0]:.4f} -> {accs[1]:.4f}\n"
          f"accuracy as a tensor: requires_grad={acc_tensor.requires_grad}, "
          f"grad_fn={acc_tensor.grad_fn}: no gradient flows through > and ==")
    return losses, accs, acc_tensor


def train(x, y, w, b, epochs, lr, print_every=200):
    """The notes' loop: forward, loss, optimizer.zero_grad(), loss.backward(), optimizer.step()."""
    print("\n== 一般套路 / criterion, optimizer, then zero_grad, backward, step ==")
    criterion = nn.BCEWithLogitsLoss()  # sigmoid and the loss in one, numerically stable
    optimizer = torch.optim.SGD([w, b], lr=lr)
    for e in range(1, epochs + 1):
        y_pred = linear_logits(x, w, b)  # (N, 1) logits
        loss = criterion(y_pred, y)
        optimizer.zero_grad()  # gradients accumulate otherwise (see linear_regression.py)
        loss.backward()
        optimizer.step()
        if e % print_every == 0:
            print(f"epoch: {e}, Loss: {loss.item():.5f}, Acc: {accuracy(y_pred, y):.5f}")
    return loss.item()


@torch.no_grad()  # inference: no graph
def evaluate(x, y, x_test, y_test, w, b):
    """Accuracy on the training points and on held-out ones, and the held-out loss."""
    test_logits = linear_logits(x_test, w, b)
    train_acc, test_acc = accuracy(linear_logits(x, w, b), y), accuracy(test_logits, y_test)
    test_loss = nn.BCEWithLogitsLoss()(test_logits, y_test).item()
    print(f"\ntrain accuracy {train_acc:.4f}, held-out test accuracy {test_acc:.4f}, "
          f"test loss {test_loss:.4f}")
    return train_acc, test_acc, test_loss


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.1 logistic regression with BCEWithLogitsLoss")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="full-batch steps")
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--center", type=float, default=CENTER,
                        help="the classes' centres are (-c, -c) and (c, c): how far apart")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = make_data(N_PER_CLASS, args.center, generator)
    x_test, y_test = make_data(N_PER_CLASS, args.center, generator)  # fresh draws, never trained on
    w, b = make_params()
    first_loss = compare_losses(x, y, w, b)[1]
    accuracy_is_flat(x, y, w, b)
    final_loss = train(x, y, w, b, args.epochs, args.lr)
    train_acc, test_acc, test_loss = evaluate(x, y, x_test, y_test, w, b)
    return {"train_acc": train_acc, "test_acc": test_acc, "test_loss": test_loss,
            "first_loss": first_loss, "final_loss": final_loss, "w": w.detach().flatten().tolist()}


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
