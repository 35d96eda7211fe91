"""全连接层 / 激活函数 — Fully connected layers and activation functions: the MNIST MLP as nn.Module.

The raw-weights network of the previous section written the way the notes rewrite it: `class
MLP(nn.Module)` holding an `nn.Sequential` of Linear layers and activations, `optim.SGD(
net.parameters())`, `net.train()` for training and `net.eval()` for the test after each epoch.
`--act` swaps the activation between the ones the notes discuss: ReLU, LeakyReLU (their choice,
the default), SELU and Softplus. The notes' extra activation after the last Linear is left out:
it is the raw-weights section's bug (an activation on the logits). nn.Linear's default init is
~2.4x smaller than kaiming_normal_, so the same 10 epochs end lower than the raw weights.

Run:    python scripts/mnist_mlp.py      (or: make mnist_mlp; --plot FILE.png)
Expect: "Test set: Average loss: 0.0011, Accuracy: 93xx/10000 (93%)" after 10 epochs.
"""
import argparse
import math
import os
import socket
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets
from tqdm import tqdm

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


def train_epoch(net, optimizer, x, y, epoch, args):
    """One pass over x (N, 784) in a shuffled order; returns the loss of every step."""
    net.train()  # no effect on this net (no dropout/batchnorm), but the habit matters
    n, batch_size = len(x), args.batch_size
    n_batches = math.ceil(n / batch_size)
    perm = torch.randperm(n, generator=args.generator).to(x.device)  # CPU generator: any device
    criteon = nn.CrossEntropyLoss()
    losses = []
    for batch_idx in tqdm(range(n_batches), desc=f"epoch {epoch}", leave=False, disable=None):
        idx = perm[batch_idx * batch_size:(batch_idx + 1) * batch_size]
        data, target = x[idx], y[idx]  # (B, 784), (B,)
        loss = criteon(net(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # kept on the device: no sync per step
        if batch_idx % args.log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), n, 100. * batch_idx / n_batches, loss.item()))
    return torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(net, x, y, batch_size):
    """Test in batches as the notes do: (mean loss per image, correct)."""
    net.eval()  # the notes' net.eval(): dropout off, batchnorm uses running stats
    correct, loss_sum = 0, 0.0
    for i in range(0, len(x), batch_size):
        data, target = x[i:i + batch_size], y[i:i + batch_size]  # (B, 784), (B,)
        logits = net(data)  # (B, 10)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss_sum / len(x), correct


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="全连接层: the MNIST MLP as an nn.Module")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step and per test batch")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--act", choices=sorted(ACTIVATIONS), default=ACT,
                        help="activation between the Linear layers")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help="batches between Train Epoch lines")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the training loss per step and test accuracy per epoch")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder holding MNIST/raw")
    args = parser.parse_args(argv)
    device = args.device  # pick_device resolved "auto" while parsing
    print(f"device: {device}")
    torch.manual_seed(args.seed)
    args.generator = torch.Generator().manual_seed(args.seed)  # CPU: same order on every device

    x_train, y_train = load_mnist(args.data_dir, True, device)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]  # limit None keeps all
    x_test, y_test = load_mnist(args.data_dir, False, device)
    net = MLP(args.act).to(device)
    print(net)
    optimizer = optim.SGD(net.parameters(), lr=args.lr)

    start, step_losses, accs = time.perf_counter(), [], []
    for epoch in range(args.epochs):  # 0-based, as the notes print it
        step_losses += train_epoch(net, optimizer, x_train, y_train, epoch, args)
        test_loss, correct = evaluate(net, x_test, y_test, args.batch_size)
        print_test(test_loss, correct, len(x_test), args.batch_size)
        accs.append(correct / len(x_test))
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    if args.plot:
        plot_training(args.plot, step_losses, accs, f"nn.Module MLP, {args.act}")
    return {"test_acc": accs[-1], "test_loss": test_loss, "correct": correct}


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


def pick_device(name):
    """argparse type for --device: auto picks cuda, then mps, then cpu; a missing one is an error."""
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(),
                 "cpu": True}
    if name == "auto":
        name = next(d for d, ok in available.items() if ok)
    elif name not in available:
        raise argparse.ArgumentTypeError(f"choose from auto, cpu, cuda, mps (got {name})")
    elif not available[name]:
        raise argparse.ArgumentTypeError(f"{name} is not available on this machine")
    return torch.device(name)


def png_path(text):
    """argparse type for --plot: a .png file in a folder that exists, checked before any work."""
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: the plot is a PNG, name it FILE.png")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no folder {path.parent}")
    return path


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


def print_test(test_loss, correct, n, batch_size):
    """The notes' test line, then the true mean cross entropy per image (`test_loss`).

    The notes add up each test batch's *mean* loss and divide by the number of images, so their
    "Average loss" is test_loss / batch_size (exactly so when batch_size divides n): 0.0007 for a
    mean of 0.15 at batch size 200. Their line is printed as they print it, the true mean beneath."""
    print("\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)".format(
        test_loss / batch_size, correct, n, 100. * correct / n))
    print(f"          (mean cross entropy per image: {test_loss:.4f})\n")


def agg_pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display), imported only for --plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Write the figure to `path` as PNG via a temporary file, so a failure leaves no half file."""
    plt = agg_pyplot()
    tmp = path.with_name(path.name + ".part")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"error: cannot write the plot to {path}: {e.strerror or e}")
    finally:
        plt.close(fig)
    print(f"plot written to {path}")


def plot_training(path, step_losses, epoch_accs, title):
    """--plot: training loss per step (left) and test accuracy per epoch (right) in one PNG."""
    plt = agg_pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(range(1, len(step_losses) + 1), step_losses, lw=0.7)
    ax_loss.set(xlabel="step (one batch)", ylabel="training loss", title=title)
    ax_acc.plot(range(1, len(epoch_accs) + 1), [100 * a for a in epoch_accs], marker="o")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="after each epoch")
    ax_acc.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the axis
    ax_acc.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
