"""可视化 / Visualization with tensorboardX (the notes' `SummaryWriter` section).

Trains the notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200) and logs it for
TensorBoard: `train/loss` every step, test loss and accuracy in one chart with `add_scalars`, a grid
of test images (`add_image`), the predictions for them (`add_text`), each layer's parameters as
histograms, and the notes' own example group (x·sin x, x·cos x, arctan x). `--writer torch` does
the same with `torch.utils.tensorboard.SummaryWriter`, the drop-in that ships with PyTorch.

Run:    python scripts/tb_demo.py           (or: make tb_demo), then the printed `tensorboard` line
Expect: "Test set: Average loss: 0.0011, Accuracy: 9341/10000 (93%)" after 10 epochs (seed 0;
        the same training as visdom_demo.py), event files in runs/<date-time>/.
"""
import argparse
import socket
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets
from torchvision.utils import make_grid
from tqdm import tqdm

LOGDIR = Path(__file__).resolve().parent.parent / "runs"  # git-ignored; one sub-folder per run
EPOCHS = 10  # the notes' MNIST recipe
BATCH_SIZE = 200
LR = 0.01
SHOW = 32  # test images in the image grid: 4 rows of 8, the same layout as the `pred` text
NROW = 8  # images per row of the grid
GROUP_STEPS = 100  # steps of the notes' x·sin x / x·cos x / arctan x example
LOG_EVERY = 100  # batches between the notes' "Train Epoch" lines
# The notes: TensorBoard "updates every 30 s". It is the writer that decides: it flushes its
# events to disk every flush_secs, 120 s by default in tensorboardX and torch; 30 makes it so.
FLUSH_SECS = 30

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own


def make_run_dir(logdir):
    """logdir/<date-time>, created and test-written: a place we cannot write to fails here."""
    run_dir = logdir / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ".write_test").touch()  # mkdir can succeed on a folder we cannot write into
        (run_dir / ".write_test").unlink()
    except OSError as e:
        raise SystemExit(f"error: cannot write TensorBoard logs to {run_dir} ({e.strerror})")
    return run_dir


def make_writer(kind, run_dir):
    """tensorboardX's SummaryWriter (the notes') or torch.utils.tensorboard's: the same calls."""
    if kind == "torch":
        from torch.utils.tensorboard import SummaryWriter
    else:
        from tensorboardX import SummaryWriter
    return SummaryWriter(str(run_dir), flush_secs=FLUSH_SECS)


def write_group_example(writer, steps, generator):
    """The notes' example: a random scalar, and three curves drawn in one chart by add_scalars."""
    # The notes call add_scaler / add_scalers: typos, the methods are add_scalar / add_scalars.
    for n_iter in range(steps):
        writer.add_scalar("data/scalar1", torch.rand(1, generator=generator).item(), n_iter)
        writer.add_scalars("data/scalar_group", {"xsinx": n_iter * np.sin(n_iter),
                                                 "xcosx": n_iter * np.cos(n_iter),
                                                 "arctanx": np.arctan(n_iter)}, n_iter)


def build_model():
    """The notes' MLP 784-200-200-10 with LeakyReLU."""
    # The notes also put a LeakyReLU after the last Linear: it squashes negative logits, which
    # slows learning; cross entropy wants raw logits, so the last layer has no activation here.
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 10))


def shuffled_batches(n, batch_size, generator, device):
    """Index tensors (B,) of one shuffled epoch; the generator lives on the CPU, so the order is
    the same on every device."""
    perm = torch.randperm(n, generator=generator).to(device)  # (N,)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def train_epoch(net, optimizer, x, y, batches, epoch):
    """One pass over the shuffled `batches` of indices; returns every step's loss (steps,)."""
    net.train()
    losses = []
    for batch_idx, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", leave=False,
                                         disable=None)):
        loss = F.cross_entropy(net(x[idx]), y[idx])  # x[idx]: (B, 784) -> logits (B, 10)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # kept on the device: no sync per step
        if batch_idx % LOG_EVERY == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(idx), len(x), 100. * batch_idx / len(batches),
                loss.item()))
    return torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(net, x, y):
    """Average test loss per sample, number correct, and the predictions, in one pass."""
    net.eval()
    logits = net(x)  # (10000, 10): the test set fits in one batch on any machine
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(x)  # the true mean
    pred = logits.argmax(dim=1)  # (10000,)
    return loss, pred.eq(y).sum().item(), pred


def log_test(writer, net, x, pred, test_loss, acc, global_step):
    """Test loss and accuracy in one chart, the first SHOW images, their predictions, histograms."""
    # add_scalars writes each key as a run of its own (a folder test/loss beside the run's events;
    # torch's writer names it test_loss): why TensorBoard lists "<run>/test/loss" as a run.
    writer.add_scalars("test", {"loss": test_loss, "accuracy": acc}, global_step)
    images = (x[:SHOW] * STD + MEAN).clamp(0, 1).view(-1, 1, 28, 28)  # un-Normalized (SHOW, 1, 28, 28)
    writer.add_image("x", make_grid(images.cpu(), nrow=NROW), global_step)  # (3, H, W) in [0, 1]
    rows = pred[:SHOW].view(-1, NROW).tolist()  # (SHOW / NROW, NROW)
    # TensorBoard renders text as markdown: 4 leading spaces make a fixed-width block, so each
    # line of digits matches a row of the image grid.
    writer.add_text("pred", "\n".join("    " + " ".join(map(str, r)) for r in rows), global_step)
    for name, param in net.named_parameters():  # "0.weight", "0.bias", "2.weight", ...
        writer.add_histogram(name, param.detach().cpu(), global_step)


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train the MNIST MLP, log it for TensorBoard.")
    parser.add_argument("--logdir", type=Path, default=LOGDIR,
                        help="parent folder of the run's event files")
    parser.add_argument("--writer", choices=["tensorboardX", "torch"], default="tensorboardX",
                        help="whose SummaryWriter: tensorboardX (the notes') or "
                             "torch.utils.tensorboard")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help="training epochs")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD step")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder holding MNIST/raw")
    args = parser.parse_args(argv)
    device = args.device  # pick_device resolved "auto" while parsing
    torch.manual_seed(args.seed)
    print(f"device: {device}")
    run_dir = make_run_dir(args.logdir.resolve())  # first: an unwritable logdir fails at once

    x_train, y_train = load_mnist(args.data_dir, True, device)
    x_test, y_test = load_mnist(args.data_dir, False, device)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]  # [:None] keeps everything
    net = build_model().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)

    with make_writer(args.writer, run_dir) as writer:  # `with`: closed even on an error
        # Its own generator: the training shuffles stay the same as in visdom_demo.py.
        write_group_example(writer, GROUP_STEPS, torch.Generator().manual_seed(args.seed))
        test_loss, correct, pred = evaluate(net, x_test, y_test)  # the untrained net: step 0
        log_test(writer, net, x_test, pred, test_loss, correct / len(x_test), 0)
        global_step = 0
        for epoch in range(args.epochs):  # 0-based, as the notes print it
            batches = shuffled_batches(len(x_train), args.batch_size, generator, device)
            for loss in train_epoch(net, optimizer, x_train, y_train, batches, epoch):
                global_step += 1
                writer.add_scalar("train/loss", loss, global_step)  # the notes' add_scaler: a typo
            test_loss, correct, pred = evaluate(net, x_test, y_test)
            print_test(test_loss, correct, len(x_test), args.batch_size)
            log_test(writer, net, x_test, pred, test_loss, correct / len(x_test), global_step)
    tensorboard = Path(sys.executable).parent / "tensorboard"  # the venv's, next to this python
    print(f"event files in {run_dir}\nview them with: "
          f"{tensorboard if tensorboard.exists() else 'tensorboard'} --logdir {run_dir.parent}")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "steps": global_step,
            "run_dir": str(run_dir)}


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


if __name__ == "__main__":
    main()
