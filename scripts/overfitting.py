"""LS31.防止过拟合的方法 / Preventing overfitting: the notes' remedies one by one, then combined.

The notes' MLP trained on the first 50k training images, validated on the last 10k, once per
remedy, each a small function adding one thing to plain SGD (lr 0.05, batch 200, 10 epochs): L2,
momentum, cosine lr decay, early stopping, dropout; then all of them, for up to 4x the budget. A
table of train/val/test accuracy, their gap and the weight norm follows; dropout is scored in
eval() and, to show why, in train(). `--folds K`: the notes' 交叉验证, K-fold cross-validation.

Run:    python scripts/overfitting.py      (or: make overfitting; --plot FILE.png)
Expect: plain SGD ~97% test, one remedy 95.7-98.1%, combined >= 98.5%; the script exits
        non-zero if the combined recipe falls below --target (98.4%; 0 turns the check off).
Try:    --variants dropout   scored in train() the same weights lose accuracy and give another
                             figure each pass; eval() gives one, the better
        --variants plain,momentum --folds 5   five fits per remedy, a mean +- std over the
                             folds each; momentum ahead of plain on every fold
        --variants early_stop --limit 500 --batch-size 20 --epochs 60   500 images overfit:
                             the run stops 3 epochs after its best validation loss, keeps that
"""
import argparse
import math
from dataclasses import dataclass, field
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets
from tqdm import tqdm

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS, COMBINED_BUDGET = 10, 4  # each remedy's budget; the combined one: up to 4x that
BATCH_SIZE = 200  # the notes' batch size
LR = 0.05  # plain SGD's rate for every remedy (the notes' 0.01 is too slow for 10 epochs)
VAL_SIZE = 10000  # the last 10k training images: the usual 50k/10k MNIST split
WEIGHT_DECAY = 5e-4  # L2 strength: adds WEIGHT_DECAY * w to every gradient
MOMENTUM = 0.9  # the usual value: averages ~10 steps of gradient
DROPOUT, INPUT_DROPOUT = 0.2, 0.2  # hidden units, pixels dropped per step (Hinton et al. 2012)
PATIENCE = 3  # epochs without a better validation loss before early stopping
COMBINED_PATIENCE = 10  # the combined recipe's: its decaying steps improve slowly but surely
TARGET = 0.984  # the combined recipe must reach this (a plain MLP's figure in LeCun's table)
TRAIN_PROBE = 10000  # training images scored after every epoch, for the train/val gap curves
# a Train Epoch line once an epoch (of 250 batches): the notes print one every 100 batches,
# which over the 100-odd epochs of all the remedies would fill a notebook cell
LOG_INTERVAL = 250


def to_inputs(images):
    """uint8 (N, 28, 28) -> float (N, 784): the notes' transforms.Compose([ToTensor(),
    Normalize((0.1307,), (0.3081,))]), done once for the whole set instead of per image."""
    return ((images.float() / 255 - MEAN) / STD).view(-1, 28 * 28)


def build_model(dropout=0.0, input_dropout=0.0):
    """The notes' 784-200-200-10 MLP; nn.Dropout on the pixels and after each hidden activation."""
    layers = [nn.Dropout(input_dropout)] if input_dropout > 0 else []
    for fan_in, fan_out in [(784, 200), (200, 200)]:
        layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))  # active in train(), the identity in eval()
    layers.append(nn.Linear(200, 10))  # logits: no activation (the notes' extra one is a bug)
    return nn.Sequential(*layers)


class EarlyStopper:
    """Stops after `epochs`, or once `patience` epochs (None: never) bring no better val loss."""

    def __init__(self, epochs, patience=None):
        self.epochs, self.patience = epochs, patience
        self.best_loss, self.best_epoch, self.best_state = math.inf, None, None  # no epoch yet

    def should_stop(self, model, val_loss, epoch):
        if val_loss < self.best_loss:  # False for a NaN loss: a diverged epoch is never the best
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}  # not live
        since = epoch + 1 if self.best_epoch is None else epoch - self.best_epoch  # bad epochs
        return self.patience is not None and since >= self.patience

    def restore(self, model):
        """Early stopping: the best epoch's weights back. Returns the epoch kept, or "last"."""
        if self.patience is None or self.best_state is None:  # no early stopping, no finite loss
            return "last"
        model.load_state_dict(self.best_state)
        return self.best_epoch


# The remedies: each returns (model, optimizer, lr scheduler or None, stopper) for `epochs`.
def plain(lr, epochs):
    """Plain SGD: the baseline every remedy is compared with."""
    model = build_model()
    return model, optim.SGD(model.parameters(), lr=lr), None, EarlyStopper(epochs)


def l2(lr, epochs, weight_decay=WEIGHT_DECAY):
    """The notes' 正则项: L2 on the weights, i.e. SGD's weight_decay (w -= lr * weight_decay * w)."""
    model = build_model()
    optimizer = optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay)
    return model, optimizer, None, EarlyStopper(epochs)


def momentum(lr, epochs, beta=MOMENTUM):
    """Each step follows a running sum of gradients (decay `beta`). The notes list it as a remedy
    for overfitting: it speeds convergence (the same steps go further), it does not regularise."""
    model = build_model()
    return model, optim.SGD(model.parameters(), lr=lr, momentum=beta), None, EarlyStopper(epochs)


def lr_decay(lr, epochs):
    """The lr follows half a cosine from lr (epoch 0) towards 0 over the budget."""
    model, optimizer, _, stopper = plain(lr, epochs)
    return model, optimizer, optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs), stopper


def early_stop(lr, epochs, patience=PATIENCE):
    """Plain SGD that stops once the validation loss has not improved for `patience` epochs."""
    model = build_model()
    return model, optim.SGD(model.parameters(), lr=lr), None, EarlyStopper(epochs, patience)


def dropout(lr, epochs, p=DROPOUT, p_input=INPUT_DROPOUT):
    """Random hidden units (p) and pixels (p_input) zeroed at every step, in train() mode only."""
    model = build_model(p, p_input)
    return model, optim.SGD(model.parameters(), lr=lr), None, EarlyStopper(epochs)


def combined(lr, epochs):
    """All of the above, for up to COMBINED_BUDGET x epochs (the cosine spans all of them)."""
    model, cap = build_model(DROPOUT, INPUT_DROPOUT), COMBINED_BUDGET * epochs
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cap)
    return model, optimizer, scheduler, EarlyStopper(cap, COMBINED_PATIENCE)


# (remedy, the notes' bullet it reproduces), in the notes' order
REMEDIES = [(plain, "baseline / plain SGD"), (l2, "加入正则项 / L2 regularisation"),
            (momentum, "采用动量 / momentum"), (lr_decay, "采用学习率衰减 / learning-rate decay"),
            (early_stop, "Early Stop"), (dropout, "Dropout"), (combined, "all of the above")]


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
    """(mean loss, correct) in one forward; call model.eval() first, or dropout keeps dropping."""
    logits = model(x)  # (N, 10)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).sum().item()


@dataclass
class History:
    """Per epoch: accuracy on TRAIN_PROBE training images and on the validation set (their gap
    is the overfitting), the validation loss; `kept`: the epoch whose weights the model keeps."""
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    kept: object = "last"


def fit(model, optimizer, scheduler, stopper, x_train, y_train, x_val, y_val, batch_size,
        generator, log_interval=LOG_INTERVAL):
    """Train epoch by epoch until the stopper says so, scoring train and validation in eval()
    after each; early stopping then puts its best epoch's weights back. Returns the History."""
    history = History()
    for epoch in range(stopper.epochs):  # from 0, as the notes print it
        model.train()  # dropout on
        batches = shuffled_batches(len(x_train), batch_size, generator)
        train_epoch(model, optimizer, x_train, y_train, batches, epoch, log_interval)
        if scheduler is not None:
            scheduler.step()  # once per epoch
        model.eval()  # dropout off for every score
        val_loss, correct = evaluate(model, x_val, y_val)
        probe = evaluate(model, x_train[:TRAIN_PROBE], y_train[:TRAIN_PROBE])[1]
        history.train_acc.append(probe / len(x_train[:TRAIN_PROBE]))
        history.val_acc.append(correct / len(x_val))
        history.val_loss.append(val_loss)
        if stopper.should_stop(model, val_loss, epoch):
            tqdm.write(f"early stop: no better validation loss for {stopper.patience} "
                       f"epochs; the weights of epoch {stopper.best_epoch} restored")
            break
    history.kept = stopper.restore(model)
    return history


def print_history(history):
    """The run's curves, one column per epoch: train and validation accuracy, validation loss."""
    epochs = range(len(history.val_acc))
    print("epoch     " + "".join(f"{e:>7}" for e in epochs))
    print("train %   " + "".join(f"{100 * a:>7.2f}" for a in history.train_acc))
    print("val %     " + "".join(f"{100 * a:>7.2f}" for a in history.val_acc))
    print("val loss  " + "".join(f"{loss:>7.4f}" for loss in history.val_loss))


def k_folds(n, k):
    """The notes' 交叉验证: k (train, validation) index pairs, each of k contiguous folds of
    range(n) validating once; the spread of the k scores says how far one split can be trusted."""
    folds = torch.arange(n).chunk(k)
    return [(torch.cat(folds[:i] + folds[i + 1:]), fold) for i, fold in enumerate(folds)]


def make_splits(n, folds=None, limit=None, val_size=VAL_SIZE):
    """(train, validation) index pairs: the fixed split (the first n - val_size train, the last
    val_size validate), or with `folds` K-fold over the first `limit` images."""
    if folds:
        return k_folds(min(n, limit or n), folds)
    return [(torch.arange(n - val_size)[:limit], torch.arange(n - val_size, n))]


def show_train_eval(model, x, y):
    """Test accuracy of a dropout model twice in eval() (the same) and twice in train() (lower,
    another figure each pass: a new dropout mask). Returns ((eval, again), (train, again))."""
    accs = []
    for mode in ["eval", "train"]:
        model.train(mode == "train")
        a, b = [evaluate(model, x, y)[1] / len(x) for _ in range(2)]
        print(f"dropout model in model.{mode}(): test accuracy {a:.4f}, and again {b:.4f}")
        accs.append((a, b))
    model.eval()
    return tuple(accs)


@dataclass
class Result:
    """One remedy trained on one split, scored in eval(): a row of the table."""
    name: str  # the remedy's, with its fold under --folds
    remedy: object  # the remedy function
    model: nn.Module
    history: History
    train_acc: float
    val_acc: float
    test_loss: float
    test_correct: int
    test_acc: float
    dropout_modes: tuple = None  # show_train_eval's, for a model with dropout


def score(name, remedy, model, history, x_train, y_train, x_val, y_val, x_test, y_test):
    """The trained model in eval() on its training and validation images and on the test set."""
    model.eval()
    train_acc = evaluate(model, x_train, y_train)[1] / len(x_train)
    val_acc = evaluate(model, x_val, y_val)[1] / len(x_val)
    test_loss, test_correct = evaluate(model, x_test, y_test)
    return Result(name, remedy, model, history, train_acc, val_acc, test_loss, test_correct,
                  test_correct / len(x_test))


def compare_remedies(remedies, splits, x, y, x_test, y_test, lr, epochs, batch_size, seed,
                     log_interval=LOG_INTERVAL):
    """Each (remedy, heading) on each (train, validation) index split, every run from the same
    initial weights and batch order; prints its curves and test line. Returns the Results."""
    results = []
    for remedy, heading in remedies:
        for k, (train_idx, val_idx) in enumerate(splits):
            name = remedy.__name__ + (f" fold {k + 1}/{len(splits)}" if len(splits) > 1 else "")
            torch.manual_seed(seed)  # the same initial weights and batch order for all
            generator = torch.Generator().manual_seed(seed)
            model, optimizer, scheduler, stopper = remedy(lr, epochs)
            tqdm.write(f"\n== {heading}: {name}, epoch budget {stopper.epochs} ==")
            data = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
            history = fit(model.to(x.device), optimizer, scheduler, stopper, *data, batch_size,
                          generator, log_interval)
            print_history(history)
            result = score(name, remedy, model, history, *data, x_test, y_test)
            results.append(result)
            print_test(result.test_loss, result.test_correct, len(x_test), batch_size)
            if any(isinstance(m, nn.Dropout) for m in model.modules()):
                result.dropout_modes = show_train_eval(model, x_test, y_test)
        if len(splits) > 1:  # the notes' 交叉验证: how far one split can be trusted
            accs = torch.tensor([r.val_acc for r in results[-len(splits):]], dtype=torch.float64)
            print(f"{len(splits)}-fold cross-validation of {remedy.__name__}: validation accuracy "
                  f"{100 * accs.mean():.2f}% +- {100 * accs.std():.2f}% (std over the folds)")
    return results


def print_table(results):
    """A row per run; gap: train - val accuracy, how much better it does on what it saw;
    |w|: the weight norm L2 cuts."""
    print(f"\n== LS31.防止过拟合的方法 / the remedies compared ==\n{'remedy':<18} {'epochs':>6} "
          f"{'kept':>4} {'train %':>8} {'val %':>7} {'test %':>7} {'gap':>5} {'test loss':>9} "
          f"{'|w|':>6}")
    for r in results:
        weight_norm = nn.utils.parameters_to_vector(r.model.parameters()).norm().item()
        print(f"{r.name:<18} {len(r.history.val_acc):>6} {r.history.kept:>4} "
              f"{100 * r.train_acc:>8.2f} {100 * r.val_acc:>7.2f} {100 * r.test_acc:>7.2f} "
              f"{100 * (r.train_acc - r.val_acc):>5.2f} {r.test_loss:>9.4f} {weight_norm:>6.2f}")


def check_target(results, target):
    """The combined recipe must reach `target` test accuracy (0: no check): exits loudly."""
    for r in [r for r in results if r.remedy is combined and target]:
        if r.test_acc < target:
            raise SystemExit(f"error: the combined recipe reached {100 * r.test_acc:.2f}% test "
                             f"accuracy, below the target {100 * target:.1f}% (--target 0: no "
                             f"check)")
        print(f"target met: combined {100 * r.test_acc:.2f}% >= {100 * target:.1f}%")


def plot_gaps(path, results):
    """--plot: train vs validation accuracy per epoch (the gap: overfitting), a panel per run."""
    from matplotlib.figure import Figure
    ncols, nrows = min(4, len(results)), math.ceil(len(results) / 4)
    fig = Figure(figsize=(3 * ncols, 3 * nrows), layout="tight")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat  # margins: none on a border
    for ax, r in zip(axes, results):
        for label, accs in [("train", r.history.train_acc), ("validation", r.history.val_acc)]:
            ax.plot([100 * a for a in accs], marker=".", label=label)
        ax.set(title=r.name, xlabel="epoch", xlim=(-0.5, len(accs) - 0.5))
        ax.xaxis.get_major_locator().set_params(integer=True, min_n_ticks=1)  # whole epochs
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="accuracy (%)")
    axes[0].legend()
    for ax in axes[len(results):]:  # the empty places of the last row
        ax.remove()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return fig


def remedy_list(text):
    """--variants: comma-separated remedy names -> [(remedy, heading)] in the order given."""
    known = {remedy.__name__: (remedy, heading) for remedy, heading in REMEDIES}
    unknown = sorted(set(text.split(",")) - set(known))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}, choose from {','.join(known)}")
    return [known[name] for name in text.split(",")]


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="LS31 防止过拟合: overfitting remedies compared")
    parser.add_argument("--variants", type=remedy_list, help="comma-separated, in order",
                        default=",".join(remedy.__name__ for remedy, _ in REMEDIES))
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="combined trains 4x")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--target", type=float, default=TARGET, help="combined's floor, 0: off")
    parser.add_argument("--folds", type=positive_int, help="K-fold cross-validation instead")
    parser.add_argument("--limit", type=positive_int, help="train on the first N images only")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png", help="train/val curves")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    if args.folds == 1:
        parser.error("--folds: K-fold cross-validation needs K >= 2")
    print(f"device: {args.device}")
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images).to(args.device), labels.to(args.device)  # (60000, 784), (60000,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    splits = make_splits(len(x), args.folds, args.limit)
    results = compare_remedies(args.variants, splits, x, y, x_test, y_test, args.lr, args.epochs,
                               args.batch_size, args.seed, args.log_interval)
    print_table(results)
    if args.plot:
        plot_gaps(args.plot, results)
    check_target(results, args.target)  # the script checks its own result, loudly
    return {"results": results}


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
