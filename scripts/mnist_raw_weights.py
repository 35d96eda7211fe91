"""多分类问题 / Multi-class classification: the MNIST MLP written with raw weight tensors.

The notes' 784-200-200-10 network as six tensors w1, b1, w2, b2, w3, b3 with `kaiming_normal_`
init, ReLU, cross entropy and SGD (lr 0.01, batch 200, 10 epochs), tested after each epoch.
`--final-relu` puts the notes' ReLU on the logits back: their printed run (kaiming + that ReLU,
7083 -> 8437/10000); a class whose logit goes negative for every input gets no gradient and can
die. The notes blamed "learning rate too large -> gradient vanish"; the ReLU on the logits is it.
`--init normal --final-relu` is their run without init, "锁定在10%".

Run:    python scripts/mnist_raw_weights.py      (or: make mnist_raw_weights; --plot FILE.png)
Expect: "Test set: Average loss: 0.15xx, Accuracy: 95xx/10000 (96%)" after 10 epochs (the notes:
        9556); --init normal --final-relu: ~980/10000 (10%) every epoch.
"""
import argparse
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets
from tqdm import tqdm

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' `epochs = 10`
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SIZES = [784, 200, 200, 10]  # input, two hidden layers, ten classes: the notes' network


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def init_weights(init="kaiming", sizes=SIZES, device="cpu"):
    """w_i (out, in) and b_i (out,) as leaf tensors; `init` is 'kaiming' (the fix) or 'normal'."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = torch.randn(fan_out, fan_in, device=device)  # std 1: the notes' "高斯初始化"
        if init == "kaiming":
            torch.nn.init.kaiming_normal_(w)  # std sqrt(2 / fan_in): keeps the scale through ReLU
        params += [w.requires_grad_(), torch.zeros(fan_out, device=device, requires_grad=True)]
    return params  # [w1, b1, w2, b2, w3, b3]


def forward(params, x, final_relu=False):
    """(B, 784) -> logits (B, 10). The notes' ReLU on the logits only with final_relu."""
    w1, b1, w2, b2, w3, b3 = params
    x = F.relu(x @ w1.t() + b1)  # (B, 200)
    x = F.relu(x @ w2.t() + b2)  # (B, 200)
    x = x @ w3.t() + b3  # (B, 10): raw logits, cross_entropy applies log-softmax itself
    if final_relu:  # the notes' bug: negative logits get no gradient, a class can die
        x = F.relu(x)
    return x


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
def evaluate(model, x, y):
    """The whole test set in one forward: (mean loss per image, correct, predictions per class)."""
    logits = model(x)  # (N, 10)
    pred = logits.argmax(dim=1)  # (N,): ties (all logits 0) go to the first, class 0
    return (F.cross_entropy(logits, y).item(), (pred == y).sum().item(),
            torch.bincount(pred, minlength=10).tolist())


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="多分类问题: the notes' MNIST MLP with raw weight tensors")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--init", choices=["kaiming", "normal"], default="kaiming",
                        help="kaiming_normal_, or the plain randn of the notes' failed run")
    parser.add_argument("--final-relu", action="store_true",
                        help="the notes' printed run: a ReLU on the logits")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the training loss per step and test accuracy per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    print(f"device: {args.device}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # CPU: the same order on every device

    images, labels = load_mnist(args.data_dir, train=True)
    x_train = to_inputs(images[:args.limit]).to(args.device)  # (N, 784), on the device once
    y_train = labels[:args.limit].to(args.device)  # (N,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    params = init_weights(args.init, device=args.device)
    model = partial(forward, params, final_relu=args.final_relu)
    optimizer = torch.optim.SGD(params, lr=args.lr)

    start, step_losses, accs = time.perf_counter(), [], []
    for epoch in range(args.epochs):  # from 0, as the notes print it
        batches = shuffled_batches(len(x_train), args.batch_size, generator)
        step_losses += train_epoch(model, optimizer, x_train, y_train, batches, epoch,
                                   args.log_interval)
        test_loss, correct, per_class = evaluate(model, x_test, y_test)
        print_test(test_loss, correct, len(x_test), args.batch_size)
        if never := [k for k, count in enumerate(per_class) if count == 0]:  # a dead class
            print(f"classes never predicted: {never}\n")
        accs.append(correct / len(x_test))
    print(f"epochs: {args.epochs}, time: {time.perf_counter() - start:.1f} s")
    if args.plot:
        plot_training(args.plot, step_losses, accs, f"raw weights, SGD lr {args.lr:g}")
    return {"test_acc": accs[-1], "test_loss": test_loss, "correct": correct,
            "train_loss": step_losses[-1], "predicted_per_class": per_class}


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


def png_path(text):
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


def load_mnist(data_dir, train):
    try:  # images (N, 28, 28) uint8, labels (N,) int64
        ds = datasets.MNIST(data_dir, train=train, download=False)
    except RuntimeError:  # torchvision: "Dataset not found"
        raise SystemExit(f"error: MNIST is not in {data_dir}/MNIST/raw; `make data` or the "
                         f"collection's `python get_mnist.py --data-dir {data_dir}`") from None
    return ds.data, ds.targets


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


if __name__ == "__main__":
    main()
