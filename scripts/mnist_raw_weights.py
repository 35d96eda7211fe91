"""多分类问题 / Multi-class classification: the MNIST MLP written with raw weight tensors.

The notes' 784-200-200-10 network as six tensors w1, b1, w2, b2, w3, b3 with `kaiming_normal_`
init, ReLU, cross entropy and SGD (lr 0.01, batch 200, 10 epochs), tested after each epoch. Ours
has no ReLU on the logits; both notes' runs end `forward` with one (`--final-relu`), where a class
whose logit is negative for every image gets no gradient and can die: one network on two draws,
9556/10000 (the classification notes) and 7083 -> 8437 (the details notes, which say nothing
about why it stops at 84%). Their randn run "锁定在10%" the details notes put down to "learning
rate 过大" or "数据初始化问题", and fix with kaiming. The notes' test lines print beside ours.

Run:    python scripts/mnist_raw_weights.py      (or: make mnist_raw_weights; --plot FILE.png)
Expect: "Test set: Average loss: 0.1491, Accuracy: 9554/10000 (96%)" after 10 epochs (ours).
Try:    --init normal --final-relu --epochs 1   the details notes' randn run: loss ln 10, 10%
        --init normal --epochs 1   without the ReLU on the logits randn trains: ~85%, test loss ~25
        --final-relu --seed 7   a class dies for good: "class 8 is never predicted", ~86%
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

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the notes' `epochs = 10`
BATCH_SIZE = 200  # the notes' batch_size
LR = 0.01  # the notes' learning_rate
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches
SIZES = [784, 200, 200, 10]  # input, two hidden layers, ten classes: the notes' network
# The notes' test lines per epoch, (their "Average loss", correct of 10000): both runs kaiming with
# the ReLU on the logits (--final-relu). The details notes print all ten epochs, the
# classification notes the last three (epochs 7, 8, 9).
NOTES_DETAILS = dict(enumerate([(0.0042, 7083), (0.0038, 7235), (0.0036, 7329), (0.0035, 7386),
                                (0.0024, 8267), (0.0023, 8335), (0.0022, 8374), (0.0022, 8388),
                                (0.0021, 8419), (0.0021, 8437)]))  # {epoch: (loss, correct)}
NOTES_CLASSIFICATION = {7: (0.0008, 9513), 8: (0.0008, 9540), 9: (0.0007, 9556)}


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


def print_beside_the_notes(epoch, per_class):
    """After our test line: the notes' lines for this epoch, then any class never predicted."""
    lines = []
    for notes, by_epoch in [("details", NOTES_DETAILS), ("classification", NOTES_CLASSIFICATION)]:
        if epoch in by_epoch:
            loss, correct = by_epoch[epoch]
            lines.append(f"the {notes} notes (--final-relu run): Average loss: {loss:.4f}, "
                         f"Accuracy: {correct}/10000 ({correct / 100:.0f}%)")
    # a dead class: with the final ReLU its logit is 0 for every image, below some other class's
    if dead := [str(k) for k, count in enumerate(per_class) if count == 0]:
        lines.append(f"class {dead[0]} is never predicted" if len(dead) == 1 else
                     f"classes {', '.join(dead)} are never predicted")
    if lines:
        print("\n".join(lines) + "\n")


def fit(model, optimizer, x, y, x_test, y_test, epochs, batch_size, generator,
        log_interval=LOG_INTERVAL):
    """The notes' epoch loop: train on x (N, 784), y (N,), test on the whole test set, print.
    Returns the loss of every step and each epoch's test (loss, correct, predictions per class)."""
    start, step_losses, tests = time.perf_counter(), [], []
    for epoch in range(epochs):  # from 0, as the notes print it
        batches = shuffled_batches(len(x), batch_size, generator)
        step_losses += train_epoch(model, optimizer, x, y, batches, epoch, log_interval)
        tests.append(evaluate(model, x_test, y_test))
        test_loss, correct, per_class = tests[-1]
        print_test(test_loss, correct, len(x_test), batch_size)
        print_beside_the_notes(epoch, per_class)
    print(f"epochs: {epochs}, time: {time.perf_counter() - start:.1f} s")
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
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="多分类问题: the notes' MNIST MLP with raw weight tensors")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--init", choices=["kaiming", "normal"], default="kaiming",
                        help="kaiming_normal_, or the plain randn of the details notes' 10%% run")
    parser.add_argument("--final-relu", action="store_true",
                        help="both notes' printed runs: a ReLU on the logits")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 60000)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the training loss per step and test accuracy per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    print(f"device: {args.device}\n== 多分类问题 / multi-class classification ==")
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
    step_losses, tests = fit(model, optimizer, x_train, y_train, x_test, y_test, args.epochs,
                             args.batch_size, generator, args.log_interval)
    test_loss, correct, per_class = tests[-1]
    if args.plot:
        accs = [test[1] / len(x_test) for test in tests]  # test accuracy per epoch
        plot_training(args.plot, step_losses, accs, f"raw weights, SGD lr {args.lr:g}")
    return {"test_acc": correct / len(x_test), "test_loss": test_loss, "correct": correct,
            "train_loss": step_losses[-1], "predicted_per_class": per_class}


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
