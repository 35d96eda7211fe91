"""(beyond the notes, after 激活函数以及gpu加速) Several processes: the MLP with DistributedDataParallel.

The notes' 784-200-200-10 nn.Module MLP (LeakyReLU, SGD lr 0.01, 10 epochs) with their batch 200
as the GLOBAL batch: every rank draws the same shuffled order from one seed, trains on its share
of each batch, and DDP averages the gradients, so N ranks take the step one process takes with all
200. Rank 0 alone prints (and, given --save FILE, saves). Plain `python` runs one process;
torchrun starts N (gloo on the CPU; --device cuda: nccl, one GPU per process, number LOCAL_RANK).
Two machines: `torchrun --nnodes 2 --node-rank K --nproc-per-node N --rdzv-endpoint HOST0:29500
scripts/mnist_ddp.py` on machine K = 0 (HOST0) and K = 1, each with data/: the script is the same;
kept at 200, the global batch keeps the lr; 200 per rank wants about N times the lr.

Run:    torchrun --standalone --nproc-per-node 2 scripts/mnist_ddp.py    (or: make mnist_ddp)
Expect: "Test set: Average loss: 0.2xxx, Accuracy: 93xx/10000 (93%)" after 10 epochs, as with one
        process (python scripts/mnist_ddp.py).
Try:    --epochs 1 --save mlp.pt   one epoch (85%); mlp.pt holds the plain MLP's state_dict:
                                   loaded into MLP(), it scores what the Test set line says
        --lr 0.1 --epochs 2   ten times the notes' lr: 95% after 2 epochs (lr 0.01: 85% after 1)
"""
import argparse
import os
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torchvision import datasets
from tqdm import tqdm

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' `epochs = 10`
BATCH_SIZE = 200  # the notes' batch_size: here the global batch, shared out among the ranks
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
TIMEOUT = timedelta(seconds=60)  # a rank waiting this long for the others fails (not 30 min)


class MLP(nn.Module):
    """The notes' 784-200-200-10 with LeakyReLU between the Linear layers, none on the logits."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(),
                                   nn.Linear(200, 200), nn.LeakyReLU(), nn.Linear(200, 10))

    def forward(self, x):
        return self.model(x)  # (B, 784) -> (B, 10) logits


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def start_process_group(backend, timeout=TIMEOUT):
    """Join the job torchrun started (it sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); started
    plainly (or in a notebook), a group of one process. Returns (rank, world_size)."""
    if "RANK" in os.environ:  # torchrun: meet the other ranks at MASTER_ADDR:MASTER_PORT
        dist.init_process_group(backend, timeout=timeout)
    else:  # one process: an in-memory store, no port
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1,
                                timeout=timeout)
    return dist.get_rank(), dist.get_world_size()


def rank_device(device):
    """cuda: this process's own GPU, number LOCAL_RANK (torchrun numbers the processes on each
    machine from 0); cpu: every process shares it."""
    if device.type != "cuda":
        return device
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.cuda.set_device(device)
    return device


def shuffled_batches(n, batch_size, generator):
    """Index tensors (B,) covering range(n) in a new random order: the notes' shuffle=True.
    A CPU generator gives the same order on every device."""
    return torch.randperm(n, generator=generator).split(batch_size)


def train_epoch_ddp(model, optimizer, x, y, batches, epoch, rank, world_size,
                    log_interval=LOG_INTERVAL):
    """One step per global batch: this rank's share of it, gradients averaged by DDP. Returns the
    loss of every step over the whole global batch (as one process would see it)."""
    losses = []
    for i, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", leave=False,
                                 disable=None if rank == 0 else True)):
        mine = idx.tensor_split(world_size)[rank].to(x.device)  # (B/N,) of the B indices
        # DDP divides the summed gradients by N: sum * N / B makes that the mean over all B
        # images even where B does not split evenly (200 on 3 ranks: 67 + 67 + 66)
        loss = F.cross_entropy(model(x[mine]), y[mine], reduction="sum") * world_size / len(idx)
        optimizer.zero_grad()
        loss.backward()  # DDP all-reduces the gradients during backward
        optimizer.step()  # the same averaged gradient everywhere: the ranks' weights stay equal
        losses.append(loss.detach() / world_size)  # this rank's part of the batch mean
        if i % log_interval == 0:  # every rank joins the all-reduce, rank 0 prints
            shown = losses[-1].clone()
            dist.all_reduce(shown)  # summed over the ranks: the mean over the B images
            if rank == 0:
                tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch, i * len(idx), len(x), 100. * i / len(batches), shown.item()))
    losses = torch.stack(losses)
    dist.all_reduce(losses)  # one collective for the epoch's curve, not one per step
    return losses.tolist()


@torch.no_grad()
def evaluate(model, x, y, batch_size, rank, world_size):
    """Each rank tests its shard of x (N, 784); the sums are all-reduced: (mean loss, correct)."""
    n = len(x)
    x, y = x.tensor_split(world_size)[rank], y.tensor_split(world_size)[rank]  # (N/world, 784)
    sums = torch.zeros(2, dtype=torch.float64, device=x.device)  # [loss sum, correct]
    for i in range(0, len(x), batch_size):
        logits, target = model(x[i:i + batch_size]), y[i:i + batch_size]  # (B, 10), (B,)
        sums[0] += F.cross_entropy(logits, target, reduction="sum")
        sums[1] += (logits.argmax(dim=1) == target).sum()
    dist.all_reduce(sums)  # summed over the ranks: every rank holds the whole test set's totals
    return sums[0].item() / n, int(sums[1].item())


@contextmanager
def process_group(device):
    """Join the job with the backend for `device` (cpu: gloo, cuda: nccl), rank 0 saying what it
    is; leave it at the end (a notebook can call main() again). A busy port, or a rank lost in
    the middle, ends this process with one line. Yields (rank, world_size)."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        rank, world_size = start_process_group(backend)
    except dist.DistNetworkError:  # MASTER_PORT in use (under torchrun, torchrun says so)
        raise SystemExit(f"error: rank {os.environ['RANK']} cannot meet the others at "
                         f"{os.environ['MASTER_ADDR']} (port: {os.environ['MASTER_PORT']}): "
                         f"address already in use, or that address is unreachable") from None
    if rank == 0:
        print(f"device: {device}, backend: {backend}, world size: {world_size}")
        if "RANK" not in os.environ:
            print("one process; to start 2: torchrun --standalone --nproc-per-node 2 "
                  "scripts/mnist_ddp.py")
    try:
        yield rank, world_size
    except RuntimeError as e:  # a rank died mid-step: the others lose their connection to it
        if world_size == 1:
            raise
        raise SystemExit(f"error: rank {rank} lost the other ranks ({type(e).__name__}): one of "
                         "them failed, torchrun's Root Cause names it (a bug of yours? one "
                         "process shows the traceback)") from None
    finally:
        dist.destroy_process_group()


def inputs_on(device, train, test, limit=None):
    """(images, labels) of the training and test sets -> x (N, 784), y (N,) of each on `device`,
    all of it on every rank; the first `limit` training images only (None: all 60000)."""
    (images, labels), (test_images, test_labels) = train, test
    return (to_inputs(images[:limit]).to(device), labels[:limit].to(device),
            to_inputs(test_images).to(device), test_labels.to(device))


def fit(model, optimizer, x_train, y_train, x_test, y_test, epochs, batch_size, generator,
        log_interval=LOG_INTERVAL):
    """The notes' epoch loop, on every rank: train on this rank's share of each global batch,
    test (all-reduced), rank 0 prints the notes' line. Returns (the loss of every step,
    [(test loss, correct)] after each epoch, seconds per epoch)."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    step_losses, tests, start = [], [], time.perf_counter()
    for epoch in range(epochs):  # from 0, as the notes print it
        batches = shuffled_batches(len(x_train), batch_size, generator)
        model.train()  # the house rule (this MLP has no dropout: no difference here)
        step_losses += train_epoch_ddp(model, optimizer, x_train, y_train, batches, epoch,
                                       rank, world_size, log_interval)
        model.eval()
        tests.append(evaluate(model.module, x_test, y_test, batch_size, rank, world_size))
        if rank == 0:
            print_test(*tests[-1], len(x_test), batch_size)
    seconds = (time.perf_counter() - start) / epochs  # the cost of the ranks' talking shows here
    if rank == 0:
        print(f"epochs: {epochs}, time per epoch: {seconds:.2f} s, ranks: {world_size}")
    return step_losses, tests, seconds


def save_checkpoint(model, path):
    """model.module: the plain MLP inside DDP, whose state_dict loads into MLP() (no "module."
    prefix); one writer, rank 0, as every rank holds the same weights."""
    torch.save(model.module.state_dict(), path)
    print(f"checkpoint written to {path}")


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="the notes' MNIST MLP with DistributedDataParallel (start it with torchrun)")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="global batch: images per SGD step over all ranks together")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help="batches between Train Epoch lines")
    parser.add_argument("--save", type=Path, metavar="FILE",
                        help="rank 0 saves the plain MLP's state_dict here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="cpu", metavar="{cpu,cuda}",
                        help="cpu: backend gloo; cuda: nccl, GPU LOCAL_RANK for each process")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    if args.device.type == "mps":
        parser.error("torch.distributed has no mps backend: use --device cpu or cuda")
    device = rank_device(args.device)
    with process_group(device) as (rank, world_size):
        torch.manual_seed(args.seed)  # the same init on every rank (DDP also copies rank 0's)
        generator = torch.Generator().manual_seed(args.seed)  # every rank: the same batch order
        train, test = load_mnist(args.data_dir, train=True), load_mnist(args.data_dir, train=False)
        x_train, y_train, x_test, y_test = inputs_on(device, train, test, args.limit)
        model = DDP(MLP().to(device), device_ids=[device] if device.type == "cuda" else None)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
        step_losses, tests, seconds = fit(model, optimizer, x_train, y_train, x_test, y_test,
                                          args.epochs, args.batch_size, generator,
                                          args.log_interval)
        if rank == 0 and args.save:
            save_checkpoint(model, args.save)
    test_loss, correct = tests[-1]  # after the last epoch
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "correct": correct,
            "train_loss": step_losses[-1], "world_size": world_size, "seconds_per_epoch": seconds}


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
