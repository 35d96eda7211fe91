"""1.1 逻辑回归 / Logistic regression.

y = sigmoid(wx + b) with w, b nn.Parameter; the loss −(y·log ŷ + (1−y)·log(1−ŷ)) by hand equals
nn.BCEWithLogitsLoss (finite where the hand-written one overflows); torch.optim's zero_grad /
backward / step on two overlapping classes; 004: why we train on the loss, not the accuracy.

Run:    python scripts/logistic_regression.py        (or: make logistic_regression)
Expect: w.requires_grad = True; by hand = BCEWithLogitsLoss to ~1e-16 (float64); "epoch: 200,
        Loss: ..., Acc: ..." every 200 of 1000 epochs, accuracy ≈ 0.95 (train and held-out test;
        the classes overlap); a small change of w moves the loss, not the accuracy.
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


def logistic_reg(x, w, b):
    return x @ w + b  # (N, 1) logits; their sigmoid is ŷ, the probability of class 1


def bce_by_hand(logits, y):
    y_hat = torch.sigmoid(logits)  # the notes' −(y·log ŷ + (1−y)·log(1−ŷ)), averaged
    return -torch.mean(y * torch.log(y_hat) + (1 - y) * torch.log(1 - y_hat))


def accuracy(logits, y):
    return ((logits > 0).float() == y).sum().item() / len(y)  # ŷ > 0.5 exactly when logit > 0


def accuracy_is_flat(x, y, w, b, step=1e-4):
    """004: why not train on accuracy. Nudged by `step`, w moves the loss, not the accuracy (only a
    point crossing the line does), and `logits > 0` is a bool with no grad_fn: no gradient at all.
    000's "3 right, 2 wrong, so the MSE did not change" is this, said of the MSE by mistake."""
    ws = [w.detach(), w.detach() + step]  # w and w nudged, (2, 1) each
    losses = [nn.BCEWithLogitsLoss()(logistic_reg(x, v, b), y).item() for v in ws]
    accs = [accuracy(logistic_reg(x, v, b), y) for v in ws]
    return losses, accs, ((logistic_reg(x, w, b) > 0).float() == y).float().mean()  # from w


def train(x, y, w, b, epochs, lr, print_every=200):
    """The notes' loop: forward, loss, optimizer.zero_grad(), loss.backward(), optimizer.step()."""
    criterion = nn.BCEWithLogitsLoss()  # sigmoid and the loss in one, numerically stable
    optimizer = torch.optim.SGD([w, b], lr=lr)
    for e in range(1, epochs + 1):
        y_pred = logistic_reg(x, w, b)  # (N, 1) logits
        loss = criterion(y_pred, y)
        optimizer.zero_grad()  # gradients accumulate otherwise (see linear_regression.py)
        loss.backward()
        optimizer.step()
        if e % print_every == 0:
            print(f"epoch: {e}, Loss: {loss.item():.5f}, Acc: {accuracy(y_pred, y):.5f}")
    return loss.item()


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.1 logistic regression with BCEWithLogitsLoss")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="full-batch steps")
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = make_data(N_PER_CLASS, CENTER, generator)
    x_test, y_test = make_data(N_PER_CLASS, CENTER, generator)  # fresh draws, never trained on
    w, b = nn.Parameter(torch.randn(2, 1)), nn.Parameter(torch.zeros(1))  # (2, 1), (1,)
    print(f"w = nn.Parameter(torch.randn(2, 1)): w.requires_grad = {w.requires_grad} "
          f"(003: a Parameter requires grad by default, a plain tensor does not)")
    # the same loss two ways, in float64 so only rounding can differ
    logits64, y64 = logistic_reg(x.double(), w.double(), b.double()).detach(), y.double()
    print(f"loss by hand: {bce_by_hand(logits64, y64).item():.12f}, "
          f"nn.BCEWithLogitsLoss: {nn.BCEWithLogitsLoss()(logits64, y64).item():.12f}")
    big = torch.tensor([[100.0]]), torch.tensor([[0.0]])  # a confident wrong answer, float32
    print(f"logit 100, label 0: by hand {bce_by_hand(*big).item()}, "
          f"BCEWithLogitsLoss {nn.BCEWithLogitsLoss()(*big).item()} (sigmoid(100) rounds to 1)\n")
    losses, accs, acc_tensor = accuracy_is_flat(x, y, w, b)
    print("# why train on the loss, not the accuracy (004), at the initial w\nw -> w + 0.0001: "
          "loss {:.6f} -> {:.6f}, accuracy {:.4f} -> {:.4f}".format(*losses, *accs))
    print(f"accuracy as a tensor: requires_grad={acc_tensor.requires_grad}, "
          f"grad_fn={acc_tensor.grad_fn}: no gradient flows through > and ==\n")
    final_loss = train(x, y, w, b, args.epochs, args.lr)
    test_logits = logistic_reg(x_test, w, b).detach()
    train_acc, test_acc = accuracy(logistic_reg(x, w, b), y), accuracy(test_logits, y_test)
    print(f"\ntrain accuracy {train_acc:.4f}, held-out test accuracy {test_acc:.4f}, "
          f"test loss {nn.BCEWithLogitsLoss()(test_logits, y_test).item():.4f}")
    return {"train_acc": train_acc, "test_acc": test_acc, "final_loss": final_loss,
            "w": w.detach().flatten().tolist()}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


def positive_int(text):
    if int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return int(text)


if __name__ == "__main__":
    main()
