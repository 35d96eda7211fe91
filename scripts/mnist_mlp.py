"""全连接层 / 激活函数 — Fully connected layers and activation functions: the MNIST MLP as nn.Module.

The raw-weights network as the notes rewrite it: `class MLP(nn.Module)` holding an `nn.Sequential`,
`optim.SGD(net.parameters())`, `net.train()`, `net.eval()`; `--act`: ReLU, LeakyReLU (the notes'),
SELU or Softplus. nn.Linear's default init, ~2.4x below kaiming_normal_, ends under the raw 96%.
`fit` is the notes' epoch loop: `net.train()` before training, `net.eval()` before testing.

Run:    python scripts/mnist_mlp.py      (or: make mnist_mlp; --plot FILE.png)
Expect: "Test set: Average loss: 0.2xxx, Accuracy: 93xx/10000 (93%)" after 10 epochs.
Try:    --act selu --epochs 1       SELU starts fastest: ~89% after one epoch (LeakyReLU ~85%)
        --act softplus --epochs 1   Softplus starts slowest: ~76%, the test loss still ~1.2
"""
import argparse
import sys
import time
from pathlib import Path

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
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS, BATCH_SIZE, LR = 10, 200, 0.01  # the notes' epochs, batch_size, learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
ACTIVATIONS = {"relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "selu": nn.SELU, "softplus": nn.Softplus}


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


class MLP(nn.Module):
    """784-200-200-10, the activation class `act` between the Linear layers, none on the logits."""

    def __init__(self, act=nn.LeakyReLU):
        super().__init__()
        # the notes' self.model: `layers` says what it holds (and net.module.model under DDP
        # would read as a model inside a model)
        self.layers = nn.Sequential(nn.Linear(784, 200), act(), nn.Linear(200, 200), act(),
                                    nn.Linear(200, 10))  # the notes had act() here: a bug

    def forward(self, x):
        return self.layers(x)  # (B, 784) -> (B, 10) logits


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
def evaluate(net, x, y, batch_size):
    """Test in batches as the notes do: (mean loss per image, correct). The caller sets eval()."""
    logits = torch.cat([net(batch) for batch in x.split(batch_size)])  # (N, 10)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).sum().item()


def fit(net, optimizer, x, y, x_test, y_test, epochs, batch_size, generator,
        log_interval=LOG_INTERVAL):
    """The notes' epoch loop: train on x (N, 784), y (N,), test on x_test, print the test line.
    Returns the loss of every step and each epoch's test (loss, correct)."""
    start, step_losses, tests = time.perf_counter(), [], []
    for epoch in range(epochs):  # from 0, as the notes print it
        net.train()  # no effect on this net (no dropout/batchnorm), but the habit matters
        batches = shuffled_batches(len(x), batch_size, generator)
        step_losses += train_epoch(net, optimizer, x, y, batches, epoch, log_interval)
        net.eval()  # the notes' net.eval(): dropout off, batchnorm uses its running stats
        tests.append(evaluate(net, x_test, y_test, batch_size))
        print_test(*tests[-1], len(x_test), batch_size)
    print(f"epochs: {epochs}, time: {time.perf_counter() - start:.1f} s")
    return step_losses, tests


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def plot_training(path, step_losses, epoch_accs, title):
    """--plot: loss per step, test accuracy per epoch; a Figure: a notebook's pyplot untouched."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="tight")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(step_losses, lw=0.7)
    ax_loss.set(xlabel="step (one batch)", ylabel="training loss", title=title)
    ax_acc.plot([100 * a for a in epoch_accs], marker="o")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", xticks=range(len(epoch_accs)))
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="全连接层: the MNIST MLP as an nn.Module",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--act", choices=sorted(ACTIVATIONS), default="leakyrelu")
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png", help="loss, accuracy plot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images[:args.limit]).to(args.device), labels[:args.limit].to(args.device)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)  # (N, 784), (N,)
    net = MLP(ACTIVATIONS[args.act]).to(args.device)
    print(f"device: {args.device}, the net: {net}\n== 全连接层 / fully connected layers ==")
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    step_losses, tests = fit(net, optimizer, x, y, x_test, y_test, args.epochs, args.batch_size,
                             generator, args.log_interval)
    test_loss, correct = tests[-1]
    if args.plot:
        accs = [test_correct / len(x_test) for _, test_correct in tests]  # per epoch
        plot_training(args.plot, step_losses, accs, f"nn.Module MLP, {args.act}")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "correct": correct}


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

def png_path(text):
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)

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
