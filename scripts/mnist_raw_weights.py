"""多分类问题 / Multi-class classification: the MNIST MLP written with raw weight tensors.

The notes' 784-200-200-10 network as six tensors w1, b1, w2, b2, w3, b3 with `kaiming_normal_`
init, ReLU, `nn.CrossEntropyLoss` and SGD (lr 0.01, batch 200, 10 epochs), tested after each epoch.
Two flags reproduce the notes' two failures (the default is the fix): `--final-relu` puts their
ReLU on the logits back (a class whose logit goes negative for every input gets no gradient and
can die), `--init normal --final-relu` is their run without init, "锁定在10%": randn weights blow
the logits up, the ReLU zeroes them all, the loss sticks at ln 10.

Run:    python scripts/mnist_raw_weights.py      (or: make mnist_raw_weights; --plot FILE.png)
Expect: "Test set: Average loss: 0.0007, Accuracy: 95xx/10000 (96%)" after 10 epochs (the notes:
        9556); --init normal --final-relu: ~980/10000 (10%) every epoch.
"""
import argparse
import math
import os
import socket
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets
from tqdm import tqdm

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own

EPOCHS = 10  # the notes' `epochs = 10`
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SIZES = [784, 200, 200, 10]  # input, two hidden layers, ten classes: the notes' network


def init_weights(init, device):
    """w_i (out, in) and b_i (out,) as leaf tensors; `init` is 'kaiming' (the fix) or 'normal'."""
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = torch.randn(fan_out, fan_in, device=device)  # std 1: the notes' "高斯初始化"
        if init == "kaiming":
            torch.nn.init.kaiming_normal_(w)  # std sqrt(2 / fan_in): keeps the scale through ReLU
        b = torch.zeros(fan_out, device=device)
        params += [w.requires_grad_(), b.requires_grad_()]
    return params  # [w1, b1, w2, b2, w3, b3]


def forward(params, x, final_relu):
    """(B, 784) -> logits (B, 10). The notes' ReLU on the logits only with --final-relu."""
    w1, b1, w2, b2, w3, b3 = params
    x = F.relu(x @ w1.t() + b1)  # (B, 200)
    x = F.relu(x @ w2.t() + b2)  # (B, 200)
    x = x @ w3.t() + b3  # (B, 10): raw logits, CrossEntropyLoss applies log-softmax itself
    if final_relu:  # the notes' bug: negative logits get no gradient, a class can die
        x = F.relu(x)
    return x


def train_epoch(params, optimizer, x, y, epoch, args):
    """One pass over x (N, 784) in a shuffled order; returns the loss of every step."""
    n, batch_size = len(x), args.batch_size
    n_batches = math.ceil(n / batch_size)
    perm = torch.randperm(n, generator=args.generator).to(x.device)  # CPU generator: any device
    criteon = nn.CrossEntropyLoss()
    losses = []
    for batch_idx in tqdm(range(n_batches), desc=f"epoch {epoch}", leave=False, disable=None):
        idx = perm[batch_idx * batch_size:(batch_idx + 1) * batch_size]
        data, target = x[idx], y[idx]  # (B, 784), (B,)
        logits = forward(params, data, args.final_relu)
        loss = criteon(logits, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # kept on the device: no sync per step
        if batch_idx % args.log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), n, 100. * batch_idx / n_batches, loss.item()))
    return torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(params, x, y, batch_size, final_relu):
    """Test in batches as the notes do: (mean loss per image, correct, predictions per class)."""
    correct, loss_sum = 0, 0.0
    per_class = torch.zeros(SIZES[-1], dtype=torch.int64, device=x.device)  # (10,)
    for i in range(0, len(x), batch_size):
        data, target = x[i:i + batch_size], y[i:i + batch_size]  # (B, 784), (B,)
        logits = forward(params, data, final_relu)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        pred = logits.argmax(dim=1)  # (B,): ties (all logits 0) go to the first, class 0
        correct += (pred == target).sum().item()
        per_class += torch.bincount(pred, minlength=SIZES[-1])
    return loss_sum / len(x), correct, per_class.tolist()


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="多分类问题: the notes' MNIST MLP with raw weight tensors")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="passes over the training set")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step and per test batch")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--init", choices=["kaiming", "normal"], default="kaiming",
                        help="weight init: kaiming_normal_ or the plain randn of the notes' "
                             "failed run")
    parser.add_argument("--final-relu", action="store_true",
                        help="reproduce the notes' bug: a ReLU on the logits")
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
    params = init_weights(args.init, device)
    optimizer = torch.optim.SGD(params, lr=args.lr)

    start, step_losses, accs = time.perf_counter(), [], []
    for epoch in range(args.epochs):  # 0-based, as the notes print it
        step_losses += train_epoch(params, optimizer, x_train, y_train, epoch, args)
        test_loss, correct, per_class = evaluate(params, x_test, y_test, args.batch_size,
                                                 args.final_relu)
        print_test(test_loss, correct, len(x_test), args.batch_size)
        never = [k for k, count in enumerate(per_class) if count == 0]
        if never:  # what a ReLU on the logits does: these digits are never the answer
            print(f"          classes never predicted: {never}\n")
        accs.append(correct / len(x_test))
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.1f} s")
    if args.plot:
        plot_training(args.plot, step_losses, accs, f"raw weights, SGD lr {args.lr:g}")
    return {"test_acc": accs[-1], "test_loss": test_loss, "correct": correct,
            "train_loss": step_losses[-1], "predicted_per_class": per_class}


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
