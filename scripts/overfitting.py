"""LS31.防止过拟合的方法 / Preventing overfitting: the notes' remedies one by one, then combined.

The notes' MLP trained on the first 50k training images, validated on the last 10k, once per
remedy, each a small function adding one thing to plain SGD (lr 0.05, batch 200, 10 epochs): L2,
momentum, cosine lr decay, early stopping, dropout; then all of them, for up to 4x the budget. A
table of train/val/test accuracy, their gap and the weight norm follows; dropout is scored in
eval() and, to show why, in train(). `--folds K`: the notes' 交叉验证, K-fold cross-validation.

Run:    python scripts/overfitting.py      (or: make overfitting; --plot FILE.png)
Expect: plain SGD ~97% test, one remedy 95.7-98.1%, combined >= 98.5%; the script exits
        non-zero if the combined recipe falls below --target (98.4%; 0 turns the check off).
"""
import argparse
import math
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
LOG_INTERVAL = 100  # the notes print a Train Epoch line every 100 batches


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
        self.epochs, self.patience, self.best_loss = epochs, patience, math.inf

    def should_stop(self, model, val_loss, epoch):
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}  # not live
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def restore(self, model):
        if self.patience is not None:  # the best epoch's weights; without patience the last stay
            model.load_state_dict(self.best_state)


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


REMEDIES = [plain, l2, momentum, lr_decay, early_stop, dropout, combined]


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


def k_folds(n, k):
    """The notes' 交叉验证: k (train, validation) index pairs, each of k contiguous folds of
    range(n) validating once; the spread of the k scores says how far one split can be trusted."""
    folds = torch.arange(n).chunk(k)
    return [(torch.cat(folds[:i] + folds[i + 1:]), fold) for i, fold in enumerate(folds)]


def show_train_eval(model, x, y):
    """Test accuracy of a dropout model twice in eval() (the same) and twice in train() (lower)."""
    accs = {}
    for mode in ["eval", "train"]:
        model.train(mode == "train")
        a, b = accs[mode] = [evaluate(model, x, y)[1] / len(x) for _ in range(2)]
        print(f"dropout model in model.{mode}(): test accuracy {a:.4f}, and again {b:.4f}")
    model.eval()
    return accs


def plot_gaps(path, rows):
    """--plot: train vs validation accuracy per epoch (the gap: overfitting), a panel per run."""
    from matplotlib.figure import Figure
    ncols, nrows = min(4, len(rows)), math.ceil(len(rows) / 4)
    fig = Figure(figsize=(3 * ncols, 3 * nrows), layout="tight")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat  # margins: none on a border
    for ax, (name, row) in zip(axes, rows.items()):
        for label, accs in row["history"].items():  # train, validation
            ax.plot([100 * a for a in accs], marker=".", label=label)
        ax.set(title=name, xlabel="epoch", xlim=(-0.5, len(accs) - 0.5))
        ax.xaxis.get_major_locator().set_params(integer=True, min_n_ticks=1)  # whole epochs
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="accuracy (%)")
    axes[0].legend()
    for ax in axes[len(rows):]:  # the empty places of the last row
        ax.remove()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return fig


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    by_name = {remedy.__name__: remedy for remedy in REMEDIES}
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="LS31 防止过拟合: overfitting remedies compared")
    parser.add_argument("--variants", default=",".join(by_name), help="comma-separated, in order")
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
    unknown = set(args.variants.split(",")) - set(by_name)
    if unknown or args.folds == 1:
        parser.error(f"--variants: unknown {sorted(unknown)}, choose from {','.join(by_name)}"
                     if unknown else "--folds: K-fold cross-validation needs K >= 2")
    print(f"device: {args.device}")
    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images).to(args.device), labels.to(args.device)  # (60000, 784), (60000,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    n_train = len(x) - VAL_SIZE  # the fixed split: the first 50k train, the last 10k validate
    splits = (k_folds(len(x[:args.limit]), args.folds) if args.folds
              else [(torch.arange(n_train)[:args.limit], torch.arange(n_train, len(x)))])
    rows, folds = {}, {}
    for remedy in [by_name[name] for name in args.variants.split(",")]:
        for k, (train_idx, val_idx) in enumerate(splits):
            name = remedy.__name__ + (f" fold {k + 1}/{len(splits)}" if args.folds else "")
            torch.manual_seed(args.seed)  # the same initial weights and batch order for all
            generator = torch.Generator().manual_seed(args.seed)
            x_tr, y_tr, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
            model, optimizer, scheduler, stopper = remedy(args.lr, args.epochs)
            model.to(args.device)
            tqdm.write(f"\n===== {name}, epoch budget: {stopper.epochs} =====")
            history = {"train": [], "validation": []}  # accuracy after each epoch
            for epoch in range(stopper.epochs):  # from 0, as the notes print it
                model.train()  # dropout on
                batches = shuffled_batches(len(x_tr), args.batch_size, generator)
                train_epoch(model, optimizer, x_tr, y_tr, batches, epoch, args.log_interval)
                if scheduler is not None:
                    scheduler.step()  # once per epoch
                model.eval()  # dropout off for every score
                val_loss, correct = evaluate(model, x_val, y_val)
                probe = evaluate(model, x_tr[:TRAIN_PROBE], y_tr[:TRAIN_PROBE])[1]
                history["train"].append(probe / len(x_tr[:TRAIN_PROBE]))
                history["validation"].append(correct / len(x_val))
                tqdm.write(f"Validation: loss {val_loss:.4f}, accuracy {correct}/{len(x_val)}")
                if stopper.should_stop(model, val_loss, epoch):
                    tqdm.write(f"early stop: no better validation loss for {stopper.patience} "
                               f"epochs; the weights of epoch {stopper.best_epoch} restored")
                    break
            stopper.restore(model)
            rows[name] = row = {
                "epochs_run": epoch + 1, "history": history,
                "kept": "last" if stopper.patience is None else stopper.best_epoch,
                "weight_norm": nn.utils.parameters_to_vector(model.parameters()).norm().item()}
            for split, xs, ys in [("train", x_tr, y_tr), ("val", x_val, y_val),
                                  ("test", x_test, y_test)]:
                loss, correct = evaluate(model, xs, ys)
                row.update({f"{split}_acc": correct / len(xs), f"{split}_loss": loss})
            print_test(loss, correct, len(x_test), args.batch_size)  # the last split: test
            if any(isinstance(m, nn.Dropout) for m in model.modules()):
                row["dropout_modes"] = show_train_eval(model, x_test, y_test)
            folds.setdefault(remedy.__name__, []).append(row["val_acc"])  # per split
        if args.folds:
            accs = torch.tensor(folds[remedy.__name__], dtype=torch.float64)
            print(f"{args.folds}-fold cross-validation of {remedy.__name__}: validation accuracy "
                  f"{100 * accs.mean():.2f}% +- {100 * accs.std():.2f}% (std over the folds)")
    # gap: train - val, how much better it does on what it saw; |w|: the norm L2 cuts
    print(f"\n{'remedy':<18} {'epochs':>6} {'kept':>4} {'train %':>8} {'val %':>7} {'test %':>7} "
          f"{'gap':>5} {'test loss':>9} {'|w|':>6}")
    for name, r in rows.items():
        print(f"{name:<18} {r['epochs_run']:>6} {r['kept']:>4} {100 * r['train_acc']:>8.2f} "
              f"{100 * r['val_acc']:>7.2f} {100 * r['test_acc']:>7.2f} "
              f"{100 * (r['train_acc'] - r['val_acc']):>5.2f} {r['test_loss']:>9.4f} "
              f"{r['weight_norm']:>6.2f}")
    if args.plot:
        plot_gaps(args.plot, rows)
    if args.target and "combined" in rows:  # the script checks its own result, loudly
        acc = rows["combined"]["test_acc"]
        if acc < args.target:
            raise SystemExit(f"error: the combined recipe reached {100 * acc:.2f}% test accuracy, "
                             f"below the target {100 * args.target:.1f}% (--target 0: no check)")
        print(f"target met: combined {100 * acc:.2f}% >= {100 * args.target:.1f}%")
    return {"rows": rows, "folds": folds}


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
