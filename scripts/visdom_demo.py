"""可视化 / Visualization with visdom (LS30.Visdom可视化).

Trains the notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200) and shows it live
in visdom in the notes' windows: `train_loss` (the loss of every step), `test` (test loss and
accuracy per epoch, two lines with a legend), `x` (test images) and `pred` (their predictions).

Run:    python scripts/visdom_demo.py   (or: make visdom_demo, which first starts a server on
        127.0.0.1:8097 if none answers; `make visdom-assets` once for the page), then open the
        printed URL, http://localhost:8097/env/main
Expect: after the notes' 10 epochs "Test set: Average loss: 0.0011, Accuracy: 9341/10000 (93%)"
        (seed 0, the same numbers as tb_demo.py). No server: one line, exit 1.
"""
import argparse
import http.client
import logging
import os
import socket
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets
from tqdm import tqdm
from visdom import Visdom

SERVER, PORT, ENV = "http://localhost", 8097, "main"  # visdom's defaults: where Visdom() looks
EPOCHS = 10  # the notes' recipe
SEND_EVERY = 10  # steps per request: each request costs ~60 ms, one per step would triple the run
BATCH_SIZE = 200
LR = 0.01
SHOW = 32  # test images in the `x` window: 4 rows of 8, the same layout as the `pred` text
NROW = 8  # images per row in visdom's grid (its default)
PROBE_TIMEOUT = 2.0  # seconds; the visdom client itself sets no timeout and can wait forever
LOG_EVERY = 100  # batches between the notes' "Train Epoch" lines

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
DOWNLOAD_TIMEOUT = 10  # seconds; torchvision's download sets no timeout of its own


def bypass_proxy_for_loopback(server):
    """A local server must not be reached through a proxy: with http_proxy set, both urllib (the
    probe) and requests (the visdom client) would send 127.0.0.1 traffic to the proxy."""
    host = urllib.parse.urlsplit(server).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        for name in ("no_proxy", "NO_PROXY"):  # both spellings: each library reads one
            hosts = [h for h in os.environ.get(name, "").split(",") if h]
            os.environ[name] = ",".join(hosts + [host, "localhost", "127.0.0.1"])


def connect(server, port, env):
    """A visdom client, after checking with a short timeout that the server answers."""
    url = f"{server}:{port}"
    bypass_proxy_for_loopback(server)
    try:
        urllib.request.urlopen(url + "/", timeout=PROBE_TIMEOUT).close()
    except (OSError, ValueError, http.client.HTTPException):  # refused, timeout, not HTTP, bad URL
        raise SystemExit(f"error: no visdom server at {url} — start one with: make visdom-server")
    # visdom logs a warning for each optional feature left off (the incoming socket, a session):
    # only its errors matter here. No incoming socket: this demo sends, it never listens.
    logging.getLogger("visdom").setLevel(logging.ERROR)
    # The notes write `viz = line([0.], [0.], ...)`: that would replace the client `viz` with a
    # window id; every window below is drawn by a method of this one client.
    return Visdom(server=server, port=port, env=env, raise_exceptions=True,
                  use_incoming_socket=False)


def build_model():
    """The notes' MLP 784-200-200-10 with LeakyReLU."""
    # The notes also put a LeakyReLU after the last Linear: it squashes negative logits, which
    # slows learning; cross entropy wants raw logits, so the last layer has no activation here.
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 200), nn.LeakyReLU(inplace=True),
                         nn.Linear(200, 10))


class LossWindow:
    """The `train_loss` window, fed in chunks: one request per SEND_EVERY steps, same curve."""

    def __init__(self, viz):
        self.viz, self.step, self.opened = viz, 0, False
        self.steps, self.losses = [], []

    def add(self, loss):
        self.step += 1
        self.steps.append(self.step)
        self.losses.append(loss.detach())  # kept on the device: no sync per step
        if len(self.steps) == SEND_EVERY:
            self.send()

    def send(self):
        if not self.steps:
            return
        losses = torch.stack(self.losses).tolist()  # (n,): one device sync per chunk
        # The notes open the window with viz.line([0.], [0.]): the curve then rises from 0 to
        # 2.3 before it falls. Here the first chunk of real losses opens it.
        self.viz.line(losses, self.steps, win="train_loss", update="append" if self.opened else None,
                      opts=None if self.opened else dict(title="train loss"))
        self.opened, self.steps, self.losses = True, [], []


def train_epoch(net, optimizer, x, y, batches, epoch, window):
    """One pass over the shuffled `batches` of indices; every step's loss goes to `window`."""
    net.train()
    for batch_idx, idx in enumerate(tqdm(batches, desc=f"epoch {epoch}", leave=False,
                                         disable=None)):
        loss = F.cross_entropy(net(x[idx]), y[idx])  # x[idx]: (B, 784) -> logits (B, 10)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        window.add(loss)
        if batch_idx % LOG_EVERY == 0:
            tqdm.write("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(idx), len(x), 100. * batch_idx / len(batches),
                loss.item()))
    window.send()  # the epoch's last steps, so the curve is complete before the test point


def shuffled_batches(n, batch_size, generator, device):
    """Index tensors (B,) of one shuffled epoch; the generator lives on the CPU, so the order is
    the same on every device."""
    perm = torch.randperm(n, generator=generator).to(device)  # (N,)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


@torch.no_grad()
def evaluate(net, x, y):
    """Average test loss per sample, number correct, and the predictions, in one pass."""
    net.eval()
    logits = net(x)  # (10000, 10): the test set fits in one batch on any machine
    loss = F.cross_entropy(logits, y, reduction="sum").item() / len(x)  # the true mean
    pred = logits.argmax(dim=1)  # (10000,)
    return loss, pred.eq(y).sum().item(), pred


def show_test(viz, x, pred, test_loss, acc, global_step, create=False):
    """Append (loss, accuracy) to `test`; show the first SHOW test images and their predictions."""
    opts = dict(title="test loss & acc.", legend=["loss", "acc."]) if create else None
    viz.line([[test_loss, acc]], [global_step], win="test", opts=opts,
             update=None if create else "append")
    # The notes send the normalised batch. visdom multiplies a float image by 255 only when its
    # max is <= 1; a normalised batch (max ~2.8) is cast to uint8 as is, pixels 0-2 of 255: the
    # digits come out nearly black. Undo the Normalize first, into [0, 1].
    images = (x[:SHOW] * STD + MEAN).clamp(0, 1).view(-1, 1, 28, 28).cpu()  # (SHOW, 1, 28, 28)
    viz.images(images, nrow=NROW, win="x", opts=dict(title="x"))
    # The notes send str(pred.numpy()); the text window is HTML, where newlines collapse, so
    # rows of NROW are joined with <br>: each line of digits matches a row of images in `x`.
    rows = pred[:SHOW].view(-1, NROW).tolist()  # (SHOW / NROW, NROW)
    viz.text("<br>".join(" ".join(map(str, row)) for row in rows), win="pred",
             opts=dict(title="pred"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train the MNIST MLP and watch it in visdom.")
    parser.add_argument("--server", default=SERVER, help="visdom server")
    parser.add_argument("--port", type=positive_int, default=PORT, help="visdom server port")
    parser.add_argument("--env", default=ENV, help="visdom environment")
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

    server = args.server.rstrip("/") if "://" in args.server else "http://" + args.server
    viz = connect(server, args.port, args.env)  # before any work: fail fast without a server
    url = f"{server}:{args.port}/env/{args.env}"
    print(f"device: {device}\nwatch it at {url}")
    x_train, y_train = load_mnist(args.data_dir, True, device)
    x_test, y_test = load_mnist(args.data_dir, False, device)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]  # [:None] keeps everything
    net = build_model().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)

    try:
        window = LossWindow(viz)
        test_loss, correct, pred = evaluate(net, x_test, y_test)  # the untrained net: step 0
        show_test(viz, x_test, pred, test_loss, correct / len(x_test), 0, create=True)
        for epoch in range(args.epochs):  # 0-based, as the notes print it
            batches = shuffled_batches(len(x_train), args.batch_size, generator, device)
            train_epoch(net, optimizer, x_train, y_train, batches, epoch, window)
            test_loss, correct, pred = evaluate(net, x_test, y_test)
            print_test(test_loss, correct, len(x_test), args.batch_size)
            show_test(viz, x_test, pred, test_loss, correct / len(x_test), window.step)
    except ConnectionError:  # what the visdom client raises when the server goes away mid-run
        raise SystemExit(f"error: lost the visdom server at {url}")
    print(f"open {url} to see train_loss, test, x and pred")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "steps": window.step}


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
