"""1.1 逻辑回归 / Logistic regression.

Binary classification with y = sigmoid(wx + b): w and b are nn.Parameter, the loss
−(y·log ŷ + (1−y)·log(1−ŷ)) written by hand equals nn.BCEWithLogitsLoss (which also stays finite
where the hand-written one overflows), torch.optim drives the zero_grad / backward / step loop
on two overlapping Gaussian classes, and 004's point: why we train on the loss, not the accuracy.

Run:    python scripts/logistic_regression.py        (or: make logistic_regression)
Expect: w.requires_grad = True; hand-written and BCEWithLogitsLoss equal to ~1e-16 (float64);
        "epoch: 200, Loss: ..., Acc: ..." every 200 of 1000 epochs, accuracy ≈ 0.95 (train and
        held-out test; the classes overlap); a small change of w moves the loss, not the accuracy.
"""
import argparse
import sys
from pathlib import Path

import torch
from torch import nn

SEED = 0
N_PER_CLASS = 200  # points per class, for training and again for the held-out test set
CENTER = 1.2  # class 0 around (-1.2, -1.2), class 1 around (1.2, 1.2), unit std: they overlap
EPOCHS = 1000  # the notes: for e in range(1000)
LR = 1.0  # full-batch SGD on a convex loss: a large step is stable here
PRINT_EVERY = 200  # print the loss and accuracy every 200 epochs


def make_data(n_per_class, center, generator):
    """Two Gaussian classes: x (N, 2) float32, y (N, 1) float32 in {0, 1} (BCE wants floats)."""
    y = torch.arange(2).repeat_interleave(n_per_class).float().unsqueeze(1)  # (N, 1)
    means = (2 * y - 1) * center  # (N, 1): −center for class 0, +center for class 1
    x = means + torch.randn(len(y), 2, generator=generator)  # (N, 2), broadcast over both coords
    return x, y


def logistic_reg(x, w, b):
    """The logits wx + b (N, 1); sigmoid of them is ŷ, the probability of class 1."""
    return x @ w + b


def bce_by_hand(logits, y):
    """The notes' loss −(y·log ŷ + (1−y)·log(1−ŷ)), averaged over the samples."""
    y_hat = torch.sigmoid(logits)
    return -torch.mean(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))


def accuracy(logits, y):
    """ŷ > 0.5 exactly when the logit > 0."""
    return ((logits > 0).float() == y).sum().item() / len(y)


def accuracy_is_flat(x, y, w, b, step=1e-4):
    """004: why not train on accuracy. Nudge w by `step`: the loss moves, the accuracy does not
    (it changes only when a point crosses the line), and its graph has no gradient at all: the
    comparison `logits > 0` returns a bool tensor with no grad_fn, so backward has nothing to do.
    000's "3 right, 2 wrong, so the MSE did not change" is this, said of the MSE by mistake."""
    criterion = nn.BCEWithLogitsLoss()
    ws = [w.detach(), w.detach() + step]  # w and w nudged, (2, 1) each
    losses = [criterion(logistic_reg(x, v, b), y).item() for v in ws]
    accs = [accuracy(logistic_reg(x, v, b), y) for v in ws]
    acc_tensor = ((logistic_reg(x, w, b) > 0).float() == y).float().mean()  # from w itself
    return losses, accs, acc_tensor


def train(x, y, w, b, epochs, lr, print_every):
    """The notes' loop: forward, loss, optimizer.zero_grad(), loss.backward(), optimizer.step()."""
    criterion = nn.BCEWithLogitsLoss()  # sigmoid and the loss in one, numerically stable
    optimizer = torch.optim.SGD([w, b], lr=lr)
    losses = []
    for e in range(epochs):
        y_pred = logistic_reg(x, w, b)  # (N, 1) logits
        loss = criterion(y_pred, y)
        optimizer.zero_grad()  # gradients accumulate otherwise (see linear_regression.py)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (e + 1) % print_every == 0:
            print('epoch: {}, Loss: {:.5f}, Acc: {:.5f}'.format(e + 1, loss.item(),
                                                                accuracy(y_pred, y)))
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="1.1 logistic regression with BCEWithLogitsLoss")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="full-batch steps")
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    generator = torch.Generator().manual_seed(args.seed)
    x, y = make_data(N_PER_CLASS, CENTER, generator)
    x_test, y_test = make_data(N_PER_CLASS, CENTER, generator)  # fresh draws, never trained on
    w = nn.Parameter(torch.randn(2, 1))  # (2, 1)
    b = nn.Parameter(torch.zeros(1))
    print(f"w = nn.Parameter(torch.randn(2, 1)): w.requires_grad = {w.requires_grad} "
          f"(003: a Parameter requires grad by default, a plain tensor does not)")

    with torch.no_grad():  # the same loss two ways, in float64 so only rounding can differ
        logits64 = logistic_reg(x.double(), w.double(), b.double())
        by_hand = bce_by_hand(logits64, y.double()).item()
        builtin = nn.BCEWithLogitsLoss()(logits64, y.double()).item()
    print(f"loss by hand: {by_hand:.12f}, nn.BCEWithLogitsLoss: {builtin:.12f}")
    big = torch.tensor([[100.0]]), torch.tensor([[0.0]])  # a confident wrong answer, float32
    print(f"logit 100, label 0: by hand {bce_by_hand(*big).item()}, "
          f"BCEWithLogitsLoss {nn.BCEWithLogitsLoss()(*big).item()} (sigmoid(100) rounds to 1)\n")

    print("# why train on the loss, not the accuracy (004), at the initial w")
    losses, accs, acc_tensor = accuracy_is_flat(x, y, w, b)
    print("w -> w + 0.0001: loss {:.6f} -> {:.6f}, accuracy {:.4f} -> {:.4f}".format(*losses, *accs))
    print(f"accuracy as a tensor: requires_grad={acc_tensor.requires_grad}, "
          f"grad_fn={acc_tensor.grad_fn}: no gradient flows through > and ==\n")

    losses = train(x, y, w, b, args.epochs, args.lr, PRINT_EVERY)
    with torch.no_grad():
        train_acc = accuracy(logistic_reg(x, w, b), y)
        test_logits = logistic_reg(x_test, w, b)
        test_loss = nn.BCEWithLogitsLoss()(test_logits, y_test).item()
        test_acc = accuracy(test_logits, y_test)
    print(f"\ntrain accuracy {train_acc:.4f}, held-out test accuracy {test_acc:.4f}, "
          f"test loss {test_loss:.4f}")

    return {"train_acc": train_acc, "test_acc": test_acc, "test_loss": test_loss,
            "final_loss": losses[-1], "w": w.detach().flatten().tolist()}


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
