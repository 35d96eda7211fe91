"""gpu加速 (benchmark) / Where an MNIST epoch's time goes: the notes' pipeline, tensors, compute.

One epoch of the same MLP and SGD steps three ways, timed: (a) the notes' DataLoader (per-image
ToTensor via PIL and Normalize, in Python; each batch moved to the device); (b) mnist_mlp_gpu.py's
tensor path (`to_inputs` once, a gather per batch); (c) the compute floor (contiguous slices).
On cuda and mps the clock is read after synchronize() (they queue work and return at once).
`--threads` and `--load` time it again with other thread counts and beside busy processes.

Run:    python scripts/bench_mnist.py      (or: make bench; --limit 6000 for a quick look)
Expect: 52.75 GFLOP per epoch; (a) many times slower than (b); (b) close to (c); noisy when busy.

Try:    --ways notes tensor                     (a) and (b) end at the same loss: the same
                                                pixels in the same order, another pipeline
        --ways tensor --threads 1 2 --load 2    1 and 2 threads, idle and beside 2 busy
                                                processes: the same loss, other seconds
"""
import argparse
import contextlib
import subprocess
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
BATCH_SIZE, LR = 200, 0.01  # the notes' batch_size and learning_rate (a step's time ignores lr)
SIZES = [784, 200, 200, 10]  # the notes' network
WAYS = {"notes": "(a) notes' DataLoader", "tensor": "(b) tensor path", "floor": "(c) compute floor"}
BUSY_SECONDS = 600  # a --load process ends by itself after this, even if the benchmark dies


class Timing(NamedTuple):
    """One way's epoch: its seconds and its last step's loss."""
    seconds: float
    loss: float


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model(sizes):
    """Linear layers of `sizes`, LeakyReLU between them, none on the logits (mnist_mlp_gpu.py's)."""
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU())]
    return nn.Sequential(*layers[:-1])


def flops_per_epoch(sizes, n):
    """Matmul FLOPs of one training epoch over n images; a multiply-add counts 2. For the notes'
    net: 2·(784·200 + 200·200 + 200·10)·2 + 2·(200·200 + 200·10) = 879,200 per image, 52.75
    GFLOP per 60k epoch. Biases, activations, the loss and the update are O(size): left out."""
    products = [fan_in * fan_out for fan_in, fan_out in zip(sizes, sizes[1:])]  # one per layer
    # 2 per product: forward x @ W.t(), weight grads grad.t() @ x; grad @ W except into the images
    return n * (2 * sum(products) * 2 + 2 * sum(products[1:]))


def notes_loader(data_dir, batch_size, generator, limit=None):
    """The notes' DataLoader: ToTensor (via PIL) and Normalize per image, shuffled by `generator`
    as shuffled_batches is (DataLoader(generator=...) would draw a seed from it first)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = datasets.MNIST(data_dir, train=True, download=False, transform=transform)
    ds = torch.utils.data.Subset(ds, range(limit or len(ds)))
    sampler = torch.utils.data.RandomSampler(ds, generator=generator)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, sampler=sampler)


def shuffled_batches(n, batch_size, generator):
    """Index tensors (B,) covering range(n) in a new random order: the notes' shuffle=True.
    A CPU generator gives the same order on every device."""
    return torch.randperm(n, generator=generator).split(batch_size)


def notes_batches(loader, device):
    """(a): the notes' loop body, each (B, 1, 28, 28) batch flattened and moved per step."""
    for data, target in tqdm(loader, desc=WAYS["notes"], leave=False, disable=None):
        yield data.view(-1, 28 * 28).to(device), target.to(device)  # (B, 784), (B,)


def tensor_batches(x, y, batch_size, generator):
    """(b): one gather per batch from tensors already on the device."""
    for idx in shuffled_batches(len(x), batch_size, generator):
        idx = idx.to(x.device)  # once per batch
        yield x[idx], y[idx]  # (B, 784), (B,)


def synchronize(device):
    """Wait until the device has run everything queued: cuda and mps return from each call before
    the work is done, so a clock read without this stops early (and the next row pays the rest)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def time_epoch(model, lr, batches, device):
    """One SGD step per (data, target) in `batches`, timed: Timing(seconds, last loss)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    synchronize(device)  # nothing queued before (the model's .to, the warm-up) in the time
    start = time.perf_counter()
    for data, target in batches:
        loss = F.cross_entropy(model(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    synchronize(device)  # every step done before the clock stops
    return Timing(time.perf_counter() - start, loss.item())


def time_ways(ways, make_batches, device, lr, seed):
    """Each way from the same fresh seeded net and the same batch order: {way: Timing}."""
    timings = {}
    for way in ways:
        batches = make_batches[way](torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        timings[way] = time_epoch(build_model(SIZES).to(device), lr, batches, device)
    return timings


def print_rows(timings, n, flops):
    """A row per way, then each way's time over the next one's; returns `timings`."""
    for way, (seconds, loss) in timings.items():
        print(f"{WAYS[way]}: {seconds:.2f} s, {n / seconds:.0f} samples/s, "
              f"{flops / seconds / 1e9:.1f} GFLOP/s, last loss {loss:.4f}")
    for slow, fast in zip(timings, list(timings)[1:]):  # (a)/(b): the pipeline; (b)/(c): gather
        print(f"time {slow}/{fast}: {timings[slow].seconds / timings[fast].seconds:.2f}x")
    return timings


@contextlib.contextmanager
def busy_processes(count, seconds=BUSY_SECONDS):
    """`count` other jobs on the cores, as on a shared machine: Python busy loops, each ending by
    itself after `seconds` (bounded even if this script dies), stopped when the block ends."""
    loop = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", loop, str(seconds)]) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def time_under(thread_counts, loads, run):
    """run() once per (threads, busy processes): torch.set_num_threads(threads) (the in-process
    OMP_NUM_THREADS), `load` busy processes beside; {(threads, load): run()}, threads restored."""
    old, results = torch.get_num_threads(), {}
    try:
        for load in loads:
            with busy_processes(load):
                for threads in thread_counts:
                    torch.set_num_threads(threads)
                    print(f"\n-- intra-op threads: {threads}, busy processes beside: {load} --")
                    results[threads, load] = run()
    finally:
        torch.set_num_threads(old)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int, help="an epoch of the first N images only")
    parser.add_argument("--threads", type=positive_int, nargs="+", metavar="N",
                        help="torch.set_num_threads(N) for each N in turn (none: torch's default)")
    parser.add_argument("--load", type=positive_int, metavar="N",
                        help="time every row again beside N busy processes (a shared machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    device, batch_size = args.device, args.batch_size
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images[:args.limit]).to(device), labels[:args.limit].to(device)  # (N, 784)
    n, flops = len(x), flops_per_epoch(SIZES, len(x))
    print(f"device: {device}, CPU threads: {torch.get_num_threads()}; one epoch: {n} images, batch "
          f"{batch_size}, {'-'.join(map(str, SIZES))} MLP, {flops / 1e9:.2f} GFLOP of matmuls")
    make_batches = {
        "notes": lambda g: notes_batches(notes_loader(args.data_dir, batch_size, g, n), device),
        "tensor": lambda g: tensor_batches(x, y, batch_size, g),
        "floor": lambda g: zip(x.split(batch_size), y.split(batch_size))}  # views: no gather
    time_epoch(build_model(SIZES).to(device), args.lr, [(x[:200], y[:200])] * 5, device)  # warm-up
    threads, loads = args.threads or [torch.get_num_threads()], [0, args.load] if args.load else [0]
    runs = time_under(threads, loads, lambda: print_rows(  # {(threads, load): {way: Timing}}
        time_ways(args.ways, make_batches, device, args.lr, args.seed), n, flops))
    return {"n": n, "flops_per_epoch": flops, "runs": runs}


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
