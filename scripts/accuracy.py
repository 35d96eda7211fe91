"""测试 / Testing: accuracy from logits, and testing on a held-out set per step or per epoch.

The notes' example: logits (4, 10) -> softmax -> argmax gives the predicted labels (the same as
logits.argmax, since softmax keeps the order; `logits.max(dim=1)` gives values and indices at
once), torch.eq against the labels, accuracy = correct.sum() / 4; then "test on step" vs "test on epoch" on a small synthetic 3-class problem,
evaluated on held-out data with net.eval() (dropout off) and torch.no_grad().

Run:    python scripts/accuracy.py        (or: make accuracy)
Expect: tensor([7, 7, 6, 1]) three ways for seed 0, accuracy 0.0 against [9, 3, 2, 4] (--seed 3
        gives the notes' 0.5: their rand was unseeded); a test line every 4 steps and the notes'
        "Test set:" line after each of 5 epochs, ending near 93% (the classes overlap).
"""
import argparse

import torch
import torch.nn.functional as F
from torch import nn

SEED = 0  # the notes' logits come from an unseeded torch.rand: a seed makes the demo repeatable
NUM_CLASSES = 10  # the notes' logits are (4, 10): 4 samples, 10 classes
LABELS = [9, 3, 2, 4]  # the notes' labels (000_...txt); 004_...txt uses [9, 0, 3, 4]
CENTERS = [(0.0, 2.0), (-1.73, -1.0), (1.73, -1.0)]  # 3 blobs 3.46 apart, unit std: they overlap
N_PER_CLASS = 200  # per class, for the training set and again for the held-out test set
EPOCHS = 5  # enough for the toy problem to converge
BATCH_SIZE = 50  # 600 / 50 = 12 steps per epoch
LR = 0.1  # plain SGD
EVAL_EVERY = 4  # "test on step": every 4 steps, so the 3rd test of an epoch falls at its end


def predict_labels(logits):
    """Predicted label = index of the largest probability; softmax is monotone: same as logits."""
    pred = F.softmax(logits, dim=1)  # (4, 10), each row sums to 1
    return pred, pred.argmax(dim=1), logits.argmax(dim=1)  # (4, 10), (4,), (4,)


def max_per_row(logits):
    """004 "模型测试": logits.max(dim=1) returns (values, indices); the indices are the argmax."""
    values, indices = logits.max(dim=1)  # (4,), (4,)
    return values, indices


def count_correct(pred_label, label):
    """torch.eq marks the hits; their count over the batch size is the accuracy."""
    correct = torch.eq(pred_label, label)  # (4,) bool
    return correct, correct.sum().float().item() / len(label)


def make_blobs(centers, n_per_class, generator):
    """Gaussian blobs with unit std around each center: x (N, 2) float32, y (N,) int64."""
    centers = torch.tensor(centers)  # (C, 2)
    y = torch.arange(len(centers)).repeat_interleave(n_per_class)  # (N,)
    x = centers[y] + torch.randn(len(y), 2, generator=generator)  # (N, 2)
    return x, y


def build_net(num_classes):
    """A small MLP with dropout, so that net.eval() actually changes the forward pass."""
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, num_classes))


def evaluate(net, x, y):
    """Test on held-out data: eval() turns dropout off, no_grad() skips building a graph."""
    net.eval()
    with torch.no_grad():
        logits = net(x)  # (N, C)
        loss = F.cross_entropy(logits, y, reduction="sum").item() / len(y)  # true mean
        correct = logits.argmax(dim=1).eq(y).sum().item()
    net.train()  # back to training mode: dropout on again
    return loss, correct


def train(net, train_data, test_data, hp, generator):
    """SGD over shuffled batches; test every `eval_every` steps and after every epoch."""
    (x, y), (x_test, y_test) = train_data, test_data
    optimizer = torch.optim.SGD(net.parameters(), lr=hp["lr"])
    on_step, on_epoch, step = [], [], 0
    for epoch in range(hp["epochs"]):
        perm = torch.randperm(len(x), generator=generator)  # shuffling on the CPU, seeded
        for i in range(0, len(x), hp["batch_size"]):
            idx = perm[i:i + hp["batch_size"]]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % hp["eval_every"] == 0:  # test on step: a finer curve, costs more tests
                on_step.append((step, *evaluate(net, x_test, y_test)))
                print(f"step {step:3d}: test loss {on_step[-1][1]:.4f}, "
                      f"accuracy {on_step[-1][2]}/{len(x_test)}")
        test_loss, correct = evaluate(net, x_test, y_test)  # test on epoch: the usual choice
        on_epoch.append((epoch, step, test_loss, correct))
        print_test(test_loss, correct, len(x_test), hp["batch_size"])  # the notes' line
    return on_step, on_epoch


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="测试: accuracy, and test on step vs on epoch")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="epochs of the toy problem")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="batch size")
    parser.add_argument("--lr", type=positive_float, default=LR,
                        help="learning rate")
    parser.add_argument("--eval-every", type=positive_int, default=EVAL_EVERY,
                        help="test every N training steps")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    logits = torch.rand(4, NUM_CLASSES)  # (4, 10)
    pred, pred_label, logits_label = predict_labels(logits)
    print(pred.shape)
    print(pred_label)
    print(logits_label)
    values, indices = max_per_row(logits)
    print("logits.max(dim=1):", values, indices)
    label = torch.tensor(LABELS)
    correct, acc = count_correct(pred_label, label)
    print(correct)
    print(acc)

    print("\n# test on step vs test on epoch (3 overlapping blobs, held-out test set)")
    generator = torch.Generator().manual_seed(args.seed)
    train_data = make_blobs(CENTERS, N_PER_CLASS, generator)
    test_data = make_blobs(CENTERS, N_PER_CLASS, generator)  # fresh draws: never trained on
    net = build_net(len(CENTERS))
    hp = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
          "eval_every": args.eval_every}
    on_step, on_epoch = train(net, train_data, test_data, hp, generator)
    _, _, test_loss, test_correct = on_epoch[-1]
    return {"accuracy": acc, "test_acc": test_correct / len(test_data[1]), "test_loss": test_loss}


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


def print_test(test_loss, correct, n, batch_size):
    """The notes' test line, then the true mean cross entropy per image (`test_loss`).

    The notes add up each test batch's *mean* loss and divide by the number of images, so their
    "Average loss" is test_loss / batch_size (exactly so when batch_size divides n): 0.0007 for a
    mean of 0.15 at batch size 200. Their line is printed as they print it, the true mean beneath."""
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)".format(
        test_loss / batch_size, correct, n, 100. * correct / n))
    print(f"          (mean cross entropy per image: {test_loss:.4f})\n")


if __name__ == "__main__":
    main()
