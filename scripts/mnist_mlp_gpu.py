"""激活函数以及gpu加速 / GPU acceleration: the MNIST MLP on whatever device the machine has.

The notes' `net.to(device)`, `data.to(device)`; `show_to` prints what `.to` returns: a module moves
in place and returns itself, a tensor is copied only when it must (the classification notes:
always new memory); their `.gpu()` does not exist. `fit` trains and tests on the device, timed.

Run:    python scripts/mnist_mlp_gpu.py      (or: make mnist_mlp_gpu; --plot FILE.png)
Expect: "device: cpu" here, and mnist_mlp.py's 93xx/10000 (93%) for the same seed after 10 epochs.
Try:    --loader torchvision   the notes' per-image DataLoader: the same test lines, fewer samples/s
"""
import argparse
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms
from tqdm import tqdm

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS, BATCH_SIZE, LR, LOG_INTERVAL = 10, 200, 0.01, 100  # the notes' recipe and log interval


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model():
    """mnist_mlp.py's net: 784-200-200-10, LeakyReLU, none on the logits (the notes had one)."""
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(), nn.Linear(200, 200), nn.LeakyReLU(),
                         nn.Linear(200, 10))  # (B, 784) -> (B, 10) logits


class WhatToReturned(NamedTuple):
    """show_to's findings: the classification notes say data gets new memory, a model not."""
    net_is_net: bool  # net.to(device) is net: a module returns itself
    same_weight: bool  # net[0].weight is the Parameter it was: moved in place
    x_is_x: bool  # x.to(device) is x: True when x is already there, no copy
    x64_is_x: bool  # x.to(torch.float64) is x: another dtype is always a copy


def show_to(net, x, device):
    """Move net to `device`, and print and return what `.to` returned (x stays where it is)."""
    weight = net[0].weight
    found = WhatToReturned(net.to(device) is net, net[0].weight is weight, x.to(device) is x,
                           x.to(torch.float64) is x)
    print(f"net.to({device}) is net: {found.net_is_net}\n"
          f"the same weight Parameter after it: {found.same_weight}\n"
          f"x.to({device}) is x: {found.x_is_x}\nx.to(torch.float64) is x: {found.x64_is_x}\n"
          # the classification notes' data.gpu(), model.gpu(): neither exists
          f"x.gpu exists: {hasattr(x, 'gpu')}\nnet.gpu exists: {hasattr(net, 'gpu')}")
    return found


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


def notes_loader(data_dir, batch_size, generator, limit=None):
    """The notes' DataLoader: ToTensor (via PIL) and Normalize per image, shuffled by `generator`
    as shuffled_batches is (DataLoader(generator=...) would draw a seed from it first)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = datasets.MNIST(data_dir, train=True, download=False, transform=transform)
    ds = torch.utils.data.Subset(ds, range(limit or len(ds)))
    sampler = torch.utils.data.RandomSampler(ds, generator=generator)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler)


def train_epoch_notes(model, optimizer, loader, device, epoch, log_interval=LOG_INTERVAL):
    """The notes' loop over their DataLoader: train_epoch's steps, on the loader's batches."""
    losses, bar = [], tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=None)
    for i, (data, target) in enumerate(bar):  # data (B, 1, 28, 28): flattened, moved per step
        loss = F.cross_entropy(model(data.view(-1, 784).to(device)), target.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        if i % log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, i * len(data), len(loader.dataset), 100. * i / len(loader), loss.item()))
    return torch.stack(losses).tolist()


@torch.no_grad()
def evaluate(net, x, y, batch_size):
    """Test in batches as the notes do: (mean loss per image, correct). The caller sets eval()."""
    logits = torch.cat([net(batch) for batch in x.split(batch_size)])  # (N, 10)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).sum().item()


def fit(net, optimizer, x, y, x_test, y_test, epochs, batch_size, generator, loader=None,
        log_interval=LOG_INTERVAL):
    """The epoch loop, timed: train on `loader` (the notes' DataLoader) if given, else on index
    batches of x (N, 784), y (N,) already on the device; test. Returns the loss of every step
    and each epoch's test (loss, correct)."""
    step_losses, tests, times = [], [], []
    for epoch in range(epochs):  # from 0, as the notes print it
        net.train()  # no dropout/batchnorm here, but the habit matters
        start = time.perf_counter()
        if loader is None:
            batches = shuffled_batches(len(x), batch_size, generator)
            step_losses += train_epoch(net, optimizer, x, y, batches, epoch, log_interval)
        else:
            step_losses += train_epoch_notes(net, optimizer, loader, x.device, epoch, log_interval)
        times.append(time.perf_counter() - start)  # the losses' .tolist() waited for the device
        print(f"epoch {epoch}: train time {times[-1]:.2f} s, {len(x) / times[-1]:.0f} samples/s")
        net.eval()
        tests.append(evaluate(net, x_test, y_test, batch_size))
        print_test(*tests[-1], len(x_test), batch_size)
    print(f"epochs: {epochs}, train time per epoch: {sum(times) / len(times):.2f} s (mean)")
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
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--loader", choices=["tensor", "torchvision"], default="tensor")
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png", help="loss, accuracy plot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    device = args.device
    print(f"device: {device}, loader: {args.loader}\n== gpu加速 / what .to returns ==")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device
    images, labels = load_mnist(args.data_dir, train=True)
    net, x = build_model(), to_inputs(images[:args.limit])  # x (N, 784) on the CPU
    show_to(net, x, device)  # moves net
    x, y = x.to(device), labels[:args.limit].to(device)  # (N, 784), (N,) on the device once
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(device), labels.to(device)  # the test set either way
    loader = (notes_loader(args.data_dir, args.batch_size, generator, args.limit)
              if args.loader == "torchvision" else None)  # None: index batches of x, y
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    print(f"== gpu加速 / training on {device} ==")
    step_losses, tests = fit(net, optimizer, x, y, x_test, y_test, args.epochs, args.batch_size,
                             generator, loader, args.log_interval)
    test_loss, correct = tests[-1]
    if args.plot:
        accs = [test_correct / len(x_test) for _, test_correct in tests]  # per epoch
        plot_training(args.plot, step_losses, accs, f"MLP on {device}, loader {args.loader}")
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
