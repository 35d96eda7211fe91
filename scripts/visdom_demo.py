"""可视化 / Visualization with visdom (LS30.Visdom可视化).

The notes' MNIST MLP (784-200-200-10, LeakyReLU, SGD lr 0.01, batch 200), live in the notes'
visdom windows: `train_loss` (every step's loss, sent once per epoch), `test` (test loss and
accuracy per epoch, two lines with a legend), `x` (test images) and `pred` (their predictions).
`fit` trains, tests and sends each epoch's losses and each test to those windows.

Run:    python scripts/visdom_server.py start (the notes' `python -m visdom.server`), then python
        scripts/visdom_demo.py (or: make visdom_demo, server first); open the printed URL
Expect: "Test set: Average loss: 0.22xx, Accuracy: 93xx/10000 (93%)" after the notes' 10 epochs;
        no server: one line naming the command that starts one, exit 1.
Try:    --env lr05 --lr 0.05   the same windows in an environment of their own, lr05: pick it
          beside main in the page's environment list to compare the two runs
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

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
SERVER, PORT, ENV = "http://localhost", 8097, "main"  # visdom's defaults: where Visdom() looks
PROBE_TIMEOUT = 2.0  # seconds; the visdom client itself sets no timeout and can wait forever
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS, BATCH_SIZE, LR = 10, 200, 0.01  # the notes' epochs, batch_size, learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SHOW, NROW = 32, 8  # test images in `x`, 8 per row (visdom's default): the `pred` rows too


def connect(server, port, env, timeout=PROBE_TIMEOUT):
    """The notes' `viz = Visdom()`, after checking with a short timeout that the server answers."""
    host = urllib.parse.urlsplit(server).hostname or ""
    if host in ("localhost", "::1") or host.startswith("127."):  # a local server: no proxy
        for name in ("no_proxy", "NO_PROXY"):  # urllib (the probe) and requests (visdom) read them
            os.environ[name] = f"{os.environ.get(name, '')},{host}"
    try:
        urllib.request.urlopen(f"{server}:{port}/", timeout=timeout).close()
    except (OSError, ValueError, http.client.HTTPException):  # refused, timeout, not HTTP, bad URL
        raise SystemExit(f"error: no visdom server at {server}:{port}; start one with: python "
                         f"scripts/visdom_server.py start --port {port} "
                         + ("(or: make visdom-server)" if port == PORT
                            else f"(make visdom-server starts one on {PORT})")
                         + f"; elsewhere: python -m visdom.server -port {port}")
    logging.getLogger("visdom").setLevel(logging.ERROR)  # its errors, not a warning per option
    return Visdom(server=server, port=port, env=env, raise_exceptions=True,
                  use_incoming_socket=False)  # no incoming socket: it sends, it never listens


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model():
    """The notes' MLP 784-200-200-10 with LeakyReLU, less their LeakyReLU on the logits (it
    squashes the negative ones and slows learning: cross entropy wants raw logits)."""
    return nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(inplace=True), nn.Linear(200, 200),
                         nn.LeakyReLU(inplace=True), nn.Linear(200, 10))


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


def show_train_losses(viz, losses, first_step):
    """The steps' losses as points (first_step, ...) of `train_loss`, in one request."""
    # The notes open it with `viz = line([0.], [0.], ...)`: a NameError as written (`viz =
    # viz.line(...)` would replace the client by a window id), and the curve would rise from 0 to
    # 2.3 first. The first losses open it (update=None: a rerun's old curve goes), the rest append.
    viz.line(losses, list(range(first_step, first_step + len(losses))), win="train_loss",
             update=None if first_step == 1 else "append", opts=dict(title="train loss"))


@torch.no_grad()
def show_test(viz, model, x, y, step):
    """Test in one batch: (loss, accuracy) to `test`, SHOW images to `x`, predictions to `pred`."""
    logits = model(x)  # (10000, 10): fits in memory on any machine
    pred = logits.argmax(dim=1)  # (10000,)
    test_loss, correct = F.cross_entropy(logits, y).item(), (pred == y).sum().item()
    viz.line([[test_loss, correct / len(x)]], [step], win="test", update="append" if step else None,
             opts=dict(title="test loss & acc.", legend=["loss", "acc."]))  # Y (1, 2): two lines
    # The notes send the normalised batch: visdom scales a float image by 255 only when its max
    # is <= 1, else casts it to uint8 as is (max ~2.8: pixels 0-2, nearly black). Undo Normalize.
    images = (x[:SHOW] * STD + MEAN).clamp(0, 1).view(-1, 1, 28, 28).cpu()  # (SHOW, 1, 28, 28)
    viz.images(images, nrow=NROW, win="x", opts=dict(title="x"))
    # HTML collapses the newlines of the notes' str(pred.numpy()): <br> between rows, as in `x`
    rows = pred[:SHOW].view(-1, NROW).tolist()  # (SHOW / NROW, NROW)
    viz.text("<br>".join(" ".join(map(str, r)) for r in rows), win="pred", opts=dict(title="pred"))
    return test_loss, correct


def fit(viz, model, optimizer, x, y, x_test, y_test, epochs, batch_size, generator,
        log_interval=LOG_INTERVAL):
    """Train on x (N, 784), y (N,), sending each epoch's step losses in one request; test the
    untrained net and after each epoch (show_test). Returns the step losses, each test's
    (loss, correct)."""
    model.eval()
    tests, step_losses = [show_test(viz, model, x_test, y_test, step=0)], []  # untrained
    for epoch in range(epochs):  # from 0, as the notes print it
        model.train()
        batches = shuffled_batches(len(x), batch_size, generator)
        losses = train_epoch(model, optimizer, x, y, batches, epoch, log_interval)
        show_train_losses(viz, losses, first_step=len(step_losses) + 1)
        step_losses += losses
        model.eval()
        tests.append(show_test(viz, model, x_test, y_test, step=len(step_losses)))
        print_test(*tests[-1], len(x_test))  # one test batch: no notes' figure
    return step_losses, tests


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description="可视化: the notes' MNIST MLP, live in visdom",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--port", type=positive_int, default=PORT)
    parser.add_argument("--env", default=ENV, help="visdom environment")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    server = args.server.rstrip("/") if "://" in args.server else "http://" + args.server
    viz = connect(server, args.port, args.env)  # before any work: fail fast without a server
    print(f"device: {args.device}\nwatch train_loss, test, x and pred at {server}:{args.port}/env/"
          f"{args.env}\n== Visdom可视化 / visualization with visdom ==")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images[:args.limit]).to(args.device), labels[:args.limit].to(args.device)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)  # (N, 784), (N,)
    model = build_model().to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    _, tests = fit(viz, model, optimizer, x, y, x_test, y_test, args.epochs, args.batch_size,
                   generator, args.log_interval)
    test_loss, correct = tests[-1]
    return {"test_acc": correct / len(x_test), "test_loss": test_loss}


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
