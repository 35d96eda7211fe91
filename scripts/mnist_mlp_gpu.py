"""激活函数以及gpu加速 / GPU acceleration: the MNIST MLP on whatever device the machine has.

The notes' GPU section: pick a device, `net.to(device)`, `criteon.to(device)`, and move the data
with `.to(device)`. Here the data is loaded once as tensors, normalised once and moved to the device
once; batches are index slices of a seeded permutation, so nothing per-sample runs in the loop.
Each epoch prints its time and samples/s; `--loader torchvision` runs the notes' pipeline instead
(a DataLoader over `datasets.MNIST` with per-sample ToTensor/Normalize, batches moved per step).
`.to(device)` moves a module in place and returns it; a tensor comes back as a new tensor.

Run:    python scripts/mnist_mlp_gpu.py      (or: make mnist_mlp_gpu; --plot FILE.png)
Expect: "device: cpu" here, each epoch's seconds and samples/s, and the result of mnist_mlp.py
        (same net, init and batch order): 9341/10000 (93%) for seed 0 after 10 epochs.
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
from torchvision import datasets, transforms
from tqdm import tqdm

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own

EPOCHS = 10  # the notes' epochs
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches


def load_mnist_loader(data_dir, train, batch_size, generator, limit):
    """The notes' pipeline: a DataLoader over datasets.MNIST with per-sample ToTensor/Normalize."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    try:
        ds = datasets.MNIST(data_dir, train=train, download=False, transform=transform)
    except RuntimeError:  # "Dataset not found": this path never downloads
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; run: make data")
    if limit is not None:
        ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
    # Training shuffles with the seeded CPU generator, the test set keeps its order.
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=train,
                                       generator=generator if train else None)


class MLP(nn.Module):
    """784-200-200-10 with LeakyReLU between the layers, none on the logits.

    The notes end with a third LeakyReLU on the logits: the raw-weights section's bug, left out."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(),
                                   nn.Linear(200, 200), nn.LeakyReLU(),
                                   nn.Linear(200, 10))

    def forward(self, x):
        return self.model(x)  # (B, 784) -> (B, 10) logits


def tensor_batches(x, y, batch_size, generator):
    """Batches as index slices of a permutation of tensors already on the device."""
    perm = torch.randperm(len(x), generator=generator).to(x.device)  # CPU generator: same order
    for i in range(0, len(x), batch_size):
        idx = perm[i:i + batch_size]
        yield x[idx], y[idx]  # (B, 784), (B,): one gather per batch, no per-sample work


def loader_batches(loader, device):
    """The notes' loop body: flatten each (B, 1, 28, 28) batch and move it to the device."""
    for data, target in loader:
        yield data.view(-1, 28 * 28).to(device), target.to(device)  # notes: target.cuda()


def train_epoch(net, optimizer, criteon, batches, n, epoch, args):
    """One pass over the (data, target) pairs from `batches`; returns (seconds, step losses)."""
    net.train()
    n_batches = math.ceil(n / args.batch_size)
    start, losses = time.perf_counter(), []
    for batch_idx, (data, target) in enumerate(tqdm(batches, total=n_batches,
                                                    desc=f"epoch {epoch}", leave=False,
                                                    disable=None)):
        loss = criteon(net(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # kept on the device: no sync per step
        if batch_idx % args.log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), n, 100. * batch_idx / n_batches, loss.item()))
    if data.device.type == "cuda":  # GPU steps run asynchronously: wait before reading the clock
        torch.cuda.synchronize()
    elif data.device.type == "mps":
        torch.mps.synchronize()
    return time.perf_counter() - start, torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(net, batches, n):
    """Test as the notes do: (mean loss per image, correct)."""
    net.eval()
    correct, loss_sum = 0, 0.0
    for data, target in batches:
        logits = net(data)  # (B, 10)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss_sum / n, correct


def make_batches(args, device, generator):
    """(train_batches(), test_batches(), n_train, n_test) for --loader tensor|torchvision."""
    if args.loader == "torchvision":
        train_loader = load_mnist_loader(args.data_dir, True, args.batch_size, generator,
                                         args.limit)
        test_loader = load_mnist_loader(args.data_dir, False, args.batch_size, None, None)
        return (lambda: loader_batches(train_loader, device),
                lambda: loader_batches(test_loader, device),
                len(train_loader.dataset), len(test_loader.dataset))
    x_train, y_train = load_mnist(args.data_dir, True, device)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]  # limit None keeps all
    x_test, y_test = load_mnist(args.data_dir, False, device)
    test = [(x_test[i:i + args.batch_size], y_test[i:i + args.batch_size])
            for i in range(0, len(x_test), args.batch_size)]  # views: no copy
    return (lambda: tensor_batches(x_train, y_train, args.batch_size, generator),
            lambda: iter(test), len(x_train), len(x_test))


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="gpu加速: the MNIST MLP on the chosen device")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step and per test batch")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--loader", choices=["tensor", "torchvision"], default="tensor",
                        help="tensor: batches sliced from tensors on the device; torchvision: "
                             "the notes' per-sample DataLoader")
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
    generator = torch.Generator().manual_seed(args.seed)  # CPU: same order on every device

    train_batches, test_batches, n_train, n_test = make_batches(args, device, generator)
    net = MLP()
    # 004 writes data.gpu() / model.gpu(): no such methods; .cuda() or, for any device, .to(device)
    same = net.to(device) is net  # a module moves in place: .to returns the same object
    print(f"net.to(device) returns the same module: {same}; loader: {args.loader}")
    optimizer = optim.SGD(net.parameters(), lr=args.lr)
    criteon = nn.CrossEntropyLoss().to(device)  # as the notes; it holds no tensors of its own

    epoch_seconds, step_losses, accs = [], [], []
    for epoch in range(args.epochs):  # 0-based, as the notes print it
        seconds, losses = train_epoch(net, optimizer, criteon, train_batches(), n_train, epoch,
                                      args)
        epoch_seconds.append(seconds)
        step_losses += losses
        print(f"epoch {epoch}: {seconds:.2f} s, {n_train / seconds:.0f} samples/s")
        test_loss, correct = evaluate(net, test_batches(), n_test)
        print_test(test_loss, correct, n_test, args.batch_size)
        accs.append(correct / n_test)
    samples_per_s = n_train * len(epoch_seconds) / sum(epoch_seconds)
    print(f"mean over {args.epochs} epochs: {sum(epoch_seconds) / args.epochs:.2f} s per epoch, "
          f"{samples_per_s:.0f} samples/s")
    if args.plot:
        plot_training(args.plot, step_losses, accs, f"MLP on {device}, loader {args.loader}")
    return {"test_acc": accs[-1], "test_loss": test_loss, "correct": correct,
            "device": str(device), "samples_per_s": samples_per_s}


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
