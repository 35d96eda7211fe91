"""gpu加速 (benchmark) / Where an MNIST epoch's time goes: the notes' pipeline, tensors, compute.

One epoch of the same 784-200-200-10 MLP and SGD step three ways, in one run: (a) the notes'
pipeline — `datasets.MNIST` with per-sample ToTensor + Normalize through a DataLoader, batch 200;
(b) the tensor path of mnist_mlp_gpu.py — the set normalised once, batches gathered by index slices
of a seeded permutation; (c) the compute floor — the same steps on batches that are already
contiguous views. It prints seconds, samples/s, the ratios, the FLOPs of an epoch (the three
matmuls forward and backward, see flops_per_epoch) and the GFLOP/s achieved. The notes' time goes
into Python: decoding each 28x28 image to a PIL image and back, 60000 times per epoch.

Run:    python scripts/bench_mnist.py      (or: make bench)
Expect: (a) roughly ten times (b); (b) within ~10% of (c); 52.75 GFLOP per epoch.
"""
import argparse
import socket
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets, transforms
from tqdm import tqdm

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own

BATCH_SIZE = 200  # the notes' batch size
LR = 0.01  # the notes' learning rate (the time of a step does not depend on it)
SIZES = [784, 200, 200, 10]  # the notes' network
WARMUP_STEPS = 5  # untimed steps first: thread pools and the allocator start up once
WAYS = ["notes", "tensor", "floor"]
TITLES = {"notes": "(a) notes' DataLoader pipeline", "tensor": "(b) tensor path",
          "floor": "(c) compute floor"}


def notes_dataset(data_dir, limit):
    """The notes' training set: per-sample ToTensor + Normalize, the first `limit` images."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    ds = datasets.MNIST(data_dir, train=True, download=False, transform=transform)
    return torch.utils.data.Subset(ds, range(limit)) if limit < len(ds) else ds


def build_model(sizes):
    """Linear layers of `sizes` with LeakyReLU between them (as mnist_mlp_gpu.py)."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU()]
    return nn.Sequential(*layers[:-1])  # no activation on the logits


def flops_per_epoch(sizes, n):
    """Matmul FLOPs of one training epoch over n images; a multiply-add counts 2. For the notes'
    net: 2·(784·200 + 200·200 + 200·10)·2 + 2·(200·200 + 200·10) = 879,200 per image, 52.75
    GFLOP per 60k epoch. Biases, activations, the loss and the update are O(size): left out."""
    products = [fan_in * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    forward = 2 * sum(products)  # x @ W.t() per layer
    weight_grads = 2 * sum(products)  # grad.t() @ x per layer
    input_grads = 2 * sum(products[1:])  # grad @ W per layer, except into the images
    return n * (forward + weight_grads + input_grads)


def sgd_step(net, optimizer, data, target):
    """One training step; returns the loss as a tensor (no .item(): no wait for the device)."""
    loss = F.cross_entropy(net(data), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def batches_for(way, x, y, batch_size, generator, data_dir, device):
    """An iterator of (data (B, 784), target (B,)) for one epoch, the way `way` makes them."""
    if way == "notes":  # per-sample transforms in the loader, each batch moved to the device
        loader = torch.utils.data.DataLoader(notes_dataset(data_dir, len(x)),
                                             batch_size=batch_size, shuffle=True,
                                             generator=generator)
        bar = tqdm(loader, desc=TITLES[way], leave=False, disable=None)
        return ((data.view(-1, 28 * 28).to(device), target.to(device)) for data, target in bar)
    if way == "tensor":  # one gather per batch from a seeded permutation
        perm = torch.randperm(len(x), generator=generator).to(device)
        return ((x[idx], y[idx]) for idx in perm.split(batch_size))
    return zip(x.split(batch_size), y.split(batch_size))  # floor: contiguous views, no copy


def time_epoch(way, x, y, args, device):
    """Seconds for one epoch of `way` with a fresh seeded model; returns (seconds, last loss)."""
    torch.manual_seed(args.seed)
    net = build_model(SIZES).to(device)
    optimizer = optim.SGD(net.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for data, target in batches_for(way, x, y, args.batch_size, generator, args.data_dir, device):
        loss = sgd_step(net, optimizer, data, target)
    loss = loss.item()  # waits once for the device (cuda/mps run asynchronously) before timing
    return time.perf_counter() - start, loss


def warm_up(x, y, batch_size, lr, device):
    """A few untimed steps so that the first timed way does not pay the start-up costs."""
    net = build_model(SIZES).to(device)
    optimizer = optim.SGD(net.parameters(), lr=lr)
    for data, target in zip(x[:WARMUP_STEPS * batch_size].split(batch_size),
                            y[:WARMUP_STEPS * batch_size].split(batch_size)):
        sgd_step(net, optimizer, data, target)


def report(results):
    """The table of seconds, samples/s and GFLOP/s, then the ratios between the ways."""
    print(f"\n{'way':<32} {'seconds':>8} {'samples/s':>10} {'GFLOP/s':>8} {'last loss':>9}")
    for way, r in results.items():
        print(f"{TITLES[way]:<32} {r['seconds']:>8.2f} {r['samples_per_s']:>10.0f} "
              f"{r['gflops']:>8.1f} {r['loss']:>9.4f}")
    ratios = {}
    for slow, fast, target in [("notes", "tensor", ">= 10x"), ("tensor", "floor", "<= 1.5x")]:
        if slow in results and fast in results:
            key = f"{slow}/{fast}"
            ratios[key] = results[slow]["seconds"] / results[fast]["seconds"]
            print(f"{key}: {ratios[key]:.2f}x   (issue's expectation on 2 cores: {target})")
    print("(timings on a shared or busy machine are inflated and noisy)")
    return ratios


def parse_ways(text):
    """argparse type: a comma-separated subset of notes,tensor,floor."""
    ways = [w.strip() for w in text.split(",") if w.strip()]
    if not ways or any(w not in WAYS for w in ways):
        raise argparse.ArgumentTypeError(f"choose from {','.join(WAYS)}, got {text!r}")
    return ways


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="one MNIST epoch three ways, timed")
    parser.add_argument("--ways", type=parse_ways, default=WAYS,
                        help="comma-separated subset")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step")
    parser.add_argument("--lr", type=positive_float, default=LR,
                        help="SGD learning rate")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="an epoch of the first N training images")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder holding MNIST/raw")
    args = parser.parse_args(argv)
    device = args.device  # pick_device resolved "auto" while parsing
    print(f"device: {device}")
    torch.manual_seed(args.seed)

    x, y = load_mnist(args.data_dir, True, device)
    x, y = x[:args.limit], y[:args.limit]  # limit None keeps all
    n, flops = len(x), flops_per_epoch(SIZES, len(x))
    print(f"one epoch of {n} images, batch {args.batch_size}, {'-'.join(map(str, SIZES))} MLP, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"FLOPs per epoch (matmuls): {flops / 1e9:.2f} GFLOP")
    warm_up(x, y, args.batch_size, args.lr, device)
    results = {}
    for way in args.ways:
        seconds, loss = time_epoch(way, x, y, args, device)
        results[way] = {"seconds": seconds, "samples_per_s": n / seconds,
                        "gflops": flops / seconds / 1e9, "loss": loss}
        print(f"{TITLES[way]}: {seconds:.2f} s")
    ratios = report(results)
    return {"n": n, "flops_per_epoch": flops, "ways": results, "ratios": ratios}


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


if __name__ == "__main__":
    main()
