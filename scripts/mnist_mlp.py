"""全连接层 / 激活函数 — Fully connected layers and activation functions: the MNIST MLP as nn.Module.

The raw-weights network of the previous section written the way the notes rewrite it: `class
MLP(nn.Module)` holding an `nn.Sequential` of Linear layers and activations, `optim.SGD(
net.parameters())`, `net.train()` for training and `net.eval()` for the test after each epoch.
`--act` swaps the activation between the ones the notes discuss: ReLU, LeakyReLU (their choice,
the default here), SELU and Softplus.

The notes' Sequential ends with a third LeakyReLU (or ReLU) after the last Linear: that is the same
bug as the ReLU on the logits in the raw-weights section. Logits are unbounded scores that
CrossEntropyLoss turns into probabilities itself; an activation there squashes or zeroes the
negative ones (ReLU: no gradient, a class can die; LeakyReLU: a 100x smaller gradient). Here the
last Linear's output goes straight to the loss.

The test loss: the notes add up each test batch's *mean* loss and divide by the number of test
images, i.e. they print (mean loss) / batch_size. The script prints that figure in the notes'
line and then the true mean cross entropy per image; `main()` returns the true mean as `test_loss`
and the notes' figure as `notes_test_loss`.

The same 10 epochs at lr 0.01 end lower than the raw-weights section (~93.5% against 95.6%):
nn.Linear's default init (kaiming_uniform_ with a=sqrt(5): std 1/sqrt(3*fan_in)) starts with
weights ~2.4x smaller than kaiming_normal_'s sqrt(2/fan_in), so the first epochs learn more slowly.

Run:    python scripts/mnist_mlp.py      (or: make mnist_mlp)
Expect: "Test set: Average loss: 0.0011, Accuracy: 93xx/10000 (93%)" after 10 epochs (seeds 0, 1,
        2: 9341, 9376, 9374), ~20-30 s on a 2-core CPU.
"""
import argparse
import math
import socket
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own

EPOCHS = 10  # the notes' epochs
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
ACT = "leakyrelu"  # the notes' choice: a small slope for x < 0, so no unit is ever fully dead
ACTIVATIONS = {"relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "selu": nn.SELU,
               "softplus": nn.Softplus}


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


def pick_device(name):
    """--device auto picks cuda, then mps, then cpu; a named device the machine lacks is an error."""
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(),
                 "cpu": True}
    if name == "auto":
        name = next(d for d, ok in available.items() if ok)
    elif not available[name]:
        raise ValueError(f"--device {name}: not available on this machine")
    return torch.device(name)


def load_mnist(data_dir, train, device):
    """MNIST as tensors on `device`: x (N, 784) float32 normalised once, y (N,) int64.

    The whole set is ~200 MB as float32: normalising it once and slicing batches out of it is far
    faster than the notes' per-sample ToTensor/Normalize transforms in a DataLoader."""
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        ds = datasets.MNIST(data_dir, train=train, download=True)
    except Exception as e:  # no files and no network, or a truncated file
        reason = (str(e).splitlines() or [type(e).__name__])[0].rstrip(":")
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw and could not be "
                         f"downloaded ({reason}); run: make data")
    finally:
        socket.setdefaulttimeout(old_timeout)
    x = ds.data.view(-1, 28 * 28).float().div_(255).sub_(MEAN).div_(STD)  # (N, 784)
    return x.to(device), ds.targets.to(device)


class MLP(nn.Module):
    """784-200-200-10 with `act` between the Linear layers and none on the logits."""

    def __init__(self, act=ACT):
        super().__init__()
        act_cls = ACTIVATIONS[act]
        self.model = nn.Sequential(
            nn.Linear(784, 200),
            act_cls(),
            nn.Linear(200, 200),
            act_cls(),
            nn.Linear(200, 10),
            # The notes end with a third LeakyReLU here: an activation on the logits, the bug of
            # the raw-weights section (negative logits lose their gradient). Left out on purpose.
        )

    def forward(self, x):
        return self.model(x)  # (B, 784) -> (B, 10) logits


def train_epoch(net, optimizer, criteon, x, y, batch_size, generator, epoch, log_interval):
    """One pass over x (N, 784) in a random order drawn from the CPU `generator`."""
    net.train()  # no effect on this net (no dropout/batchnorm), but the habit matters
    n = len(x)
    n_batches = math.ceil(n / batch_size)
    perm = torch.randperm(n, generator=generator).to(x.device)  # shuffle=True, seeded, any device
    for batch_idx in range(n_batches):
        idx = perm[batch_idx * batch_size:(batch_idx + 1) * batch_size]
        data, target = x[idx], y[idx]  # (B, 784), (B,)
        loss = criteon(net(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), n, 100. * batch_idx / n_batches, loss.item()))


@torch.no_grad()
def evaluate(net, x, y, batch_size):
    """Test in batches as the notes do. Returns (correct, mean loss, the notes' loss figure).

    The notes sum each batch's mean loss and divide by N: that is mean loss / batch_size."""
    net.eval()  # the notes' net.eval(): dropout off, batchnorm uses running stats
    correct, loss_sum, batch_means = 0, 0.0, 0.0
    for i in range(0, len(x), batch_size):
        data, target = x[i:i + batch_size], y[i:i + batch_size]  # (B, 784), (B,)
        logits = net(data)  # (B, 10)
        loss = F.cross_entropy(logits, target, reduction="sum").item()
        loss_sum += loss
        batch_means += loss / len(data)
        correct += (logits.argmax(dim=1) == target).sum().item()
    return correct, loss_sum / len(x), batch_means / len(x)


def print_test(correct, n, mean_loss, notes_loss):
    """The notes' test line (with their loss figure), then the true mean cross entropy."""
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)".format(
        notes_loss, correct, n, 100. * correct / n))
    print(f"          (mean cross entropy per image: {mean_loss:.4f})\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description="全连接层: the MNIST MLP as an nn.Module")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help=f"passes over the training set (default: {EPOCHS})")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help=f"images per SGD step and per test batch (default: {BATCH_SIZE})")
    parser.add_argument("--lr", type=positive_float, default=LR,
                        help=f"SGD learning rate (default: {LR})")
    parser.add_argument("--act", choices=sorted(ACTIVATIONS), default=ACT,
                        help=f"activation between the Linear layers (default: {ACT})")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train on the first N training images only (default: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help=f"batches between Train Epoch lines (default: {LOG_INTERVAL})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto",
                        help="auto picks cuda, then mps, then cpu (default: auto)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help=f"folder holding MNIST/raw (default: {DATA_DIR})")
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
    except ValueError as e:
        parser.error(str(e))  # one argparse-style line, exit 2
    print(f"device: {device}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: same order on every device

    x_train, y_train = load_mnist(args.data_dir, True, device)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]  # limit None keeps all
    x_test, y_test = load_mnist(args.data_dir, False, device)
    net = MLP(args.act).to(device)
    print(net)
    optimizer = optim.SGD(net.parameters(), lr=args.lr)
    criteon = nn.CrossEntropyLoss()

    start, history = time.perf_counter(), []
    for epoch in range(args.epochs):  # 0-based, as the notes print it
        train_epoch(net, optimizer, criteon, x_train, y_train, args.batch_size, generator, epoch,
                    args.log_interval)
        correct, test_loss, notes_loss = evaluate(net, x_test, y_test, args.batch_size)
        print_test(correct, len(x_test), test_loss, notes_loss)
        history.append(correct / len(x_test))
    seconds = time.perf_counter() - start
    print(f"{args.epochs} epochs in {seconds:.1f} s")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss,
            "notes_test_loss": notes_loss, "correct": correct, "history": history,
            "seconds": seconds, "net": net}


if __name__ == "__main__":
    main()
