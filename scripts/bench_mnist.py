"""gpu加速 (benchmark) / Where an MNIST epoch's time goes: the notes' pipeline, tensors, compute.

One epoch of the same MLP and SGD steps three ways, timed: (a) the notes' DataLoader (per-image
ToTensor via PIL and Normalize, in Python; each batch moved to the device); (b) mnist_mlp_gpu.py's
tensor path (`to_inputs` once, a gather per batch); (c) the compute floor (contiguous slices).

Run:    python scripts/bench_mnist.py      (or: make bench; --limit 6000 for a quick look)
Expect: 52.75 GFLOP per epoch; (a) many times slower than (b); (b) close to (c); noisy when busy.
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
BATCH_SIZE, LR = 200, 0.01  # the notes' batch_size and learning_rate (a step's time ignores lr)
SIZES = [784, 200, 200, 10]  # the notes' network
WAYS = {"notes": "(a) notes' DataLoader", "tensor": "(b) tensor path", "floor": "(c) compute floor"}


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


def time_epoch(model, lr, batches):
    """Seconds for one SGD step per (data, target) in `batches`, and the last loss."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    start = time.perf_counter()
    for data, target in batches:
        loss = F.cross_entropy(model(data), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    loss = loss.item()  # waits for the device (cuda, mps run asynchronously) before the clock
    return time.perf_counter() - start, loss


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int, help="an epoch of the first N images only")
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
    time_epoch(build_model(SIZES).to(device), args.lr, [(x[:200], y[:200])] * 5)  # warm-up
    results = {}
    for way in args.ways:  # each from the same fresh seeded net and the same batch order
        batches = make_batches[way](torch.Generator().manual_seed(args.seed))
        torch.manual_seed(args.seed)
        seconds, loss = time_epoch(build_model(SIZES).to(device), args.lr, batches)
        results[way] = {"seconds": seconds, "loss": loss}
        print(f"{WAYS[way]}: {seconds:.2f} s, {n / seconds:.0f} samples/s, "
              f"{flops / seconds / 1e9:.1f} GFLOP/s, last loss {loss:.4f}")
    for slow, fast in zip(args.ways, args.ways[1:]):  # (a)/(b): the pipeline; (b)/(c): the gather
        print(f"time {slow}/{fast}: {results[slow]['seconds'] / results[fast]['seconds']:.2f}x")
    return {"n": n, "flops_per_epoch": flops, "ways": results}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
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
    ok = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    name = next(d for d in ok if ok[d]) if name == "auto" else name  # auto: the first one there
    if not ok.get(name):
        raise argparse.ArgumentTypeError(f"{name} is not available here (auto, cpu, cuda, mps)")
    return torch.device(name)


def load_mnist(data_dir, train):
    try:  # images (N, 28, 28) uint8, labels (N,) int64
        ds = datasets.MNIST(data_dir, train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; `make data` or the "
                         f"collection's `python get_mnist.py --data-dir {data_dir}`") from None
    return ds.data, ds.targets


if __name__ == "__main__":
    main()
