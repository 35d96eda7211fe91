"""可视化 / Visualization with tensorboardX (the notes' `SummaryWriter` section).

The notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200) in TensorBoard: the loss
of every step, test loss and accuracy in one chart (`add_scalars`), test images and predictions
(`add_images`, `add_text`), parameter histograms and the notes' example group (x·sin x, x·cos x,
arctan x). `fit` trains, tests and writes each step and each test to the writer.

Run:    python scripts/tb_demo.py      (or: make tb_demo), then the printed `tensorboard` line
Expect: "Test set: Average loss: 0.22xx, Accuracy: 93xx/10000 (93%)" after 10 epochs; the run's
        event files in runs/tb_demo-<date>-<time>/ (or runs/<--run-name>/), one folder per run.
Try:    --writer torch --run-name torch-writer   PyTorch's own SummaryWriter, the same calls: a
          second run beside the first, the same tags and the same losses
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
from tqdm import tqdm

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
LOGDIR = ROOT / "runs"  # git-ignored; TensorBoard lists each sub-folder as a run
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS, BATCH_SIZE, LR = 10, 200, 0.01  # the notes' epochs, batch_size, learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SHOW, NROW = 32, 8  # test images shown, 8 per row as add_images tiles them: the `pred` rows too
# The notes' "每30秒更新一次" is TensorBoard's page reload (its server rereads the files every 5 s);
FLUSH_SECS = 30  # the writer flushes them every flush_secs on top of that: 120 s by default


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model():
    """The notes' MLP 784-200-200-10 with LeakyReLU, less their LeakyReLU on the logits (it
    squashes the negative ones and slows learning: cross entropy wants raw logits)."""
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(inplace=True), nn.Linear(200, 200),
                         nn.LeakyReLU(inplace=True), nn.Linear(200, 10))


def write_group_example(writer, steps):
    """The notes' example (add_scaler, add_scalers there: typos): a random scalar, 3 curves."""
    for n in range(steps):
        writer.add_scalar("data/scalar1", torch.rand(1).item(), n)
        writer.add_scalars("data/scalar_group", {"xsinx": n * np.sin(n), "xcosx": n * np.cos(n),
                                                 "arctanx": np.arctan(n)}, n)  # one chart


def shuffled_batches(n, batch_size, generator):
    """Index tensors (B,) covering range(n) in a new random order: the notes' shuffle=True.
    A CPU generator gives the same order on every device."""
    return torch.randperm(n, generator=generator).split(batch_size)


def train_epoch(model, optimizer, x, y, batches, epoch, log_interval=LOG_INTERVAL):
    """One SGD step per index batch over x (N, 784), y (N,); returns the loss of every step."""
    losses = []
    for i, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=None)):
        idx = idx.to(x.device)  # once per step: a small copy on a GPU, nothing on the CPU
        data, target = x[idx], y[idx]  # (B, 784), (B,)
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
def log_test(writer, model, x, y, step):
    """Test in one batch; log loss and accuracy, SHOW images, their predictions, histograms."""
    logits = model(x)  # (10000, 10): fits in memory on any machine
    pred = logits.argmax(dim=1)  # (10000,)
    test_loss, correct = F.cross_entropy(logits, y).item(), (pred == y).sum().item()
    # add_scalars writes each key as a run of its own: "<run>/test/loss" (torch's: test_loss)
    writer.add_scalars("test", {"loss": test_loss, "accuracy": correct / len(x)}, step)
    images = (x[:SHOW] * STD + MEAN).clamp(0, 1).view(-1, 1, 28, 28)  # Normalize undone, [0, 1]
    writer.add_images("x", images.cpu(), step)  # the notes' add_image, for a batch (N, 1, 28, 28)
    rows = pred[:SHOW].view(-1, NROW).tolist()  # (SHOW / NROW, NROW)
    # markdown: 4 leading spaces make a fixed-width block, each line a row of the image grid
    writer.add_text("pred", "\n".join("    " + " ".join(map(str, r)) for r in rows), step)
    for name, param in model.named_parameters():  # "0.weight", "0.bias", "2.weight", ...
        writer.add_histogram(name, param.cpu(), step)
    return test_loss, correct


def fit(writer, model, optimizer, x, y, x_test, y_test, epochs, batch_size, generator,
        log_interval=LOG_INTERVAL):
    """Train on x (N, 784), y (N,), writing every step's loss; test the untrained net and after
    each epoch (log_test). Returns the loss of every step and each test's (loss, correct)."""
    model.eval()
    tests, step_losses = [log_test(writer, model, x_test, y_test, step=0)], []  # untrained
    for epoch in range(epochs):  # from 0, as the notes print it
        model.train()
        batches = shuffled_batches(len(x), batch_size, generator)
        losses = train_epoch(model, optimizer, x, y, batches, epoch, log_interval)
        for step, loss in enumerate(losses, start=len(step_losses) + 1):
            writer.add_scalar("train/loss", loss, step)  # the notes' add_scaler: a typo
        step_losses += losses
        model.eval()
        tests.append(log_test(writer, model, x_test, y_test, step=len(step_losses)))
        print_test(*tests[-1], len(x_test))  # one test batch: no notes' figure
    return step_losses, tests


def make_run_dir(logdir, run_name=None):
    """logdir/run_name (none: tb_demo-<date>-<time>), made new: a name already taken (or a
    logdir that cannot be made) fails here, before any work, in one line."""
    run_dir = logdir / (run_name or datetime.now().strftime("tb_demo-%Y%m%d-%H%M%S"))
    try:
        run_dir.mkdir(parents=True)
    except OSError as e:
        raise SystemExit(f"error: cannot make {run_dir} ({e.strerror}); change --run-name/--logdir")
    return run_dir


def open_writer(run_dir, torch_writer=False):
    """The notes' tensorboardX SummaryWriter, or PyTorch's own (torch_writer): the same calls."""
    if torch_writer:
        from torch.utils.tensorboard import SummaryWriter
    else:
        from tensorboardX import SummaryWriter
    return SummaryWriter(str(run_dir), flush_secs=FLUSH_SECS)


def print_how_to_view(logdir):
    """The command that shows every run in logdir, and how its run list reads."""
    tensorboard = Path(sys.executable).parent / "tensorboard"  # the venv's, next to this python
    print(f"view all runs: {tensorboard if tensorboard.exists() else 'tensorboard'} --logdir "
          f"{logdir}\n(add_scalars' lines are runs of their own, in sub-folders; filter runs "
          f"by name to compare; delete a run's folder to clear it)")


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description="可视化: the notes' MNIST MLP in TensorBoard",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--logdir", type=Path, default=LOGDIR, help="the folder of all runs")
    parser.add_argument("--run-name", help="its folder in --logdir (none: tb_demo-<date>-<time>)")
    parser.add_argument("--writer", choices=["tensorboardX", "torch"], default="tensorboardX")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device
    run_dir = make_run_dir(args.logdir, args.run_name)  # first: fails before any work
    print(f"device: {args.device}, event files in {run_dir}\n== 可视化 / tensorboardX ==")
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images[:args.limit]).to(args.device), labels[:args.limit].to(args.device)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)  # (N, 784), (N,)
    model = build_model().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    with open_writer(run_dir, args.writer == "torch") as writer:  # closed even on an error
        write_group_example(writer, steps=100)
        step_losses, tests = fit(writer, model, optimizer, x, y, x_test, y_test, args.epochs,
                                 args.batch_size, generator, args.log_interval)
    print_how_to_view(args.logdir)
    test_loss, correct = tests[-1]
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "steps": len(step_losses)}


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

def pick_device(name):
    ok = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if name == "auto" or ok.get(name):  # auto: the first one there
        return torch.device(next(d for d in ok if ok[d]) if name == "auto" else name)
    raise argparse.ArgumentTypeError(f"{name} is not available here" if name in ok else
                                     f"{name} is not one of auto, cpu, cuda, mps")

def load_mnist(data_dir, train):
    import zlib  # the official files' CRC-32: a file cut short or overwritten has another
    for kind, crc in zip(["images-idx3", "labels-idx1"],
                         [0xE9F4D8B3, 0xE0CB4AD2] if train else [0x91373BDF, 0x4AB9EFF9]):
        path = Path(data_dir, "MNIST", "raw", f"{'train' if train else 't10k'}-{kind}-ubyte")
        if not path.is_file() or zlib.crc32(path.read_bytes()) != crc:  # one line, exit 1
            raise SystemExit(f"error: MNIST is not in {path.parent}: {path.name} is missing or "
                             "damaged;" + " `make data` or" * (ROOT / "Makefile").is_file()
                             + f" the collection's `python get_mnist.py --data-dir {data_dir}`")
    mnist = datasets.MNIST(data_dir, train=train, download=False)
    return mnist.data, mnist.targets  # images (N, 28, 28) uint8, labels (N,) int64


if __name__ == "__main__":
    main()
