"""Dataset and DataLoader / Dataset、DataLoader、Random sampling 与 Validation, built from scratch.

fast.ai 2019 lesson 9: a Dataset (len, slicing getitem), a DataLoader over slices, a Sampler with
and without shuffling, collate with torch.stack, a DataLoader(ds, sampler, collate_fn); torch's
DataLoader with RandomSampler/SequentialSampler, shuffle=True, drop_last=True; get_dls and fit with
train()/eval() and validation under no_grad. The lesson's open question answered: the mean of
per-batch metrics is wrong when the last batch is smaller (10000 = 78*128 + 16); weighting by batch
size gives exactly the metric over the whole set.

Run:    python scripts/dataloader_scratch.py        (or: make dataloader_scratch; --plot FILE.png)
Expect: Sampler(10 items, bs 3) -> [0,1,2] [3,4,5] [6,7,8] [9], shuffled anew each epoch; each
        loader's epoch: valid acc ~0.87-0.96, k/16 or k/64 on the batch the notes looked at
        (theirs: 14/16, 63/64, 60/64, 60/64, 62/64); fit: valid acc > 0.93 after 5 epochs (notes:
        0.9625), the per-batch mean off by ~0.0005 in accuracy and ~0.0015 in loss.
Try:    --batch-size 100   validation batches of 200 divide 10000: the per-batch mean is exact
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler
from torch.utils.data import DataLoader as TorchDataLoader
from torchvision import datasets
from tqdm import tqdm

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH = 50  # the lesson's hidden units
BATCH_SIZE = 64  # the lesson's bs
LR = 0.5  # the lesson's lr (on [0, 1] pixels)
EPOCHS = 5  # the lesson's fit(5, ...)
MIN_ACC = 0.7  # the lesson's `assert acc > 0.7` after each one-epoch run (full runs only)
MIN_FIT_ACC = 0.9  # the lesson's `assert acc > 0.9` after fit (full runs only)
# The notes' (loss, right, batch size) after one epoch of 50000 images through each loader, in
# their order, on the batch their cell evaluated (notes_batches): their accuracies 0.8750 = 14/16,
# 0.9844 = 63/64, 0.9375 = 60/64, 0.9375, 0.9688 = 62/64; and (loss, acc) after each epoch of fit.
NOTES = [(0.4507, 14, 16), (0.0762, 63, 64), (0.2939, 60, 64), (0.2196, 60, 64), (0.1029, 62, 64)]
NOTES_FIT = [(0.1573, 0.9533), (0.5863, 0.8684), (0.1299, 0.9609), (0.1178, 0.9664),
             (0.1283, 0.9625)]


# ---- The lesson's pieces, in its order.
class Dataset:
    """x and y together: ds[i] and ds[i:j] give (x, y) pairs, the same indexing as tensors."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def dataset_batches(ds, bs):
    """The lesson's loop before DataLoader: xb,yb = train_ds[i*bs : i*bs+bs], in order."""
    for i in range((len(ds) - 1) // bs + 1):
        yield ds[i * bs:i * bs + bs]


class SliceDataLoader:
    """The lesson's first DataLoader(train_ds, bs): slices, in order."""

    def __init__(self, ds, bs):
        self.ds, self.bs = ds, bs

    def __iter__(self):
        for i in range(0, len(self.ds), self.bs):
            yield self.ds[i:i + self.bs]


class Sampler:
    """Batches of indices, a fresh permutation on every pass when shuffling (the generator keeps
    the order reproducible; the notes used the global RNG)."""

    def __init__(self, ds, bs, shuffle=False, generator=None):
        self.n, self.bs, self.shuffle, self.generator = len(ds), bs, shuffle, generator

    def __iter__(self):
        self.idxs = (torch.randperm(self.n, generator=self.generator) if self.shuffle
                     else torch.arange(self.n))
        for i in range(0, self.n, self.bs):
            yield self.idxs[i:i + self.bs]


def collate(b):
    """A list of (x, y) samples -> one batch: torch.stack glues them along a new first axis."""
    xs, ys = zip(*b)
    return torch.stack(xs), torch.stack(ys)  # (B, 784), (B,)


class DataLoader:
    """The lesson's second DataLoader: one sample at a time by the sampler's indices, collated."""

    def __init__(self, ds, sampler, collate_fn=collate):
        self.ds, self.sampler, self.collate_fn = ds, sampler, collate_fn

    def __iter__(self):
        for s in self.sampler:
            yield self.collate_fn([self.ds[i] for i in s])


def get_dls(train_ds, valid_ds, bs, generator=None):
    """The lesson's get_dls: shuffled training batches, validation batches twice as big (no
    gradients to keep). batch_size=None with a BatchSampler fetches ds[indices] once per batch
    where DataLoader(ds, bs, shuffle=True) fetches ds[i] 64 times: same batches, ~10x faster."""
    train_sampler = BatchSampler(RandomSampler(train_ds, generator=generator), bs, drop_last=False)
    valid_sampler = BatchSampler(SequentialSampler(valid_ds), bs * 2, drop_last=False)
    return (TorchDataLoader(train_ds, batch_size=None, sampler=train_sampler, generator=generator),
            TorchDataLoader(valid_ds, batch_size=None, sampler=valid_sampler))


def accuracy(out, yb):
    return (torch.argmax(out, dim=1) == yb).float().mean()


def get_model(n_in, nh, lr):
    model = nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, 10))
    return model, optim.SGD(model.parameters(), lr=lr)


def to_datasets(x_train, y_train, x_valid, y_valid, limit, device):
    """The lesson's train_ds, valid_ds on the device; the first `limit` training images (None:
    all of them)."""
    return (Dataset(x_train[:limit].to(device), y_train[:limit].to(device)),
            Dataset(x_valid.to(device), y_valid.to(device)))


def train_one_epoch(model, opt, loader):
    """The notes' fit() before Validation: one pass through the loader."""
    for xb, yb in loader:
        F.cross_entropy(model(xb), yb).backward()  # the notes' loss_func
        opt.step()
        opt.zero_grad()


@torch.no_grad()
def evaluate(model, xb, yb):
    """(loss, accuracy) of the model on one batch (or the whole set) in one forward pass."""
    out = model(xb)  # (B, 10)
    return F.cross_entropy(out, yb).item(), accuracy(out, yb).item()


def five_loaders(train_ds, bs, generator):
    """The lesson's training loaders in its order, each with its name: in order, then shuffled."""
    return [("xb,yb = train_ds[i*bs : i*bs+bs]", dataset_batches(train_ds, bs)),
            ("DataLoader(train_ds, bs): slices", SliceDataLoader(train_ds, bs)),
            ("DataLoader(ds, Sampler, collate)",
             DataLoader(train_ds, Sampler(train_ds, bs, True, generator=generator))),
            ("torch DataLoader + RandomSampler", TorchDataLoader(
                train_ds, bs, sampler=RandomSampler(train_ds, generator=generator),
                collate_fn=collate)),
            ("torch DataLoader shuffle, drop_last", TorchDataLoader(
                train_ds, bs, shuffle=True, drop_last=True, generator=generator))]


def notes_batches(train_ds, valid_ds, bs, shuffled_batch):
    """The (name, xb, yb) the notes' `loss_func(model(xb), yb)` read after each loader's epoch:
    their first loop runs at the top level and leaves its last minibatch (16 images); their fit()
    binds xb, yb inside itself, so after it the global ones are the last that a cell set: the
    first validation batch (DataLoader), then the second `next(iter(train_dl))` of Random sampling
    (64 shuffled training images, yb[0] 9 in the notes) for the other three loaders."""
    last = ("last train batch", *train_ds[(len(train_ds) - 1) // bs * bs:])
    shuffled = ("shuffled train batch", *shuffled_batch)
    return [last, ("first valid batch", *valid_ds[:bs]), shuffled, shuffled, shuffled]


def loader_table(train_ds, valid_ds, bs, lr, generator, shuffled_batch):
    """One epoch through each loader, a fresh model and SGD each; then (loss, accuracy) on the
    batch the notes evaluated after it, beside theirs, and the validation accuracy."""
    print("\n== DataLoader → PyTorch DataLoader / one epoch through each loader ==")
    loaders = five_loaders(train_ds, bs, generator)
    looked_at = notes_batches(train_ds, valid_ds, bs, shuffled_batch)
    rows = []
    for (label, loader), (batch_name, xb, yb), notes in zip(loaders, looked_at, NOTES):
        model, opt = get_model(xb.shape[1], NH, lr)
        train_one_epoch(model, opt, loader)
        model.eval()  # the caller's switch (no layer here acts otherwise: the lesson's habit)
        loss, acc = evaluate(model, xb, yb)
        valid_acc = evaluate(model, valid_ds.x, valid_ds.y)[1]
        rows.append({"loader": label, "batch": batch_name, "loss": loss, "acc": acc,
                     "batch_size": len(yb), "labels": yb.tolist(), "valid_acc": valid_acc})
        print(f"{label:<36} {batch_name:<21} loss {loss:.4f}  acc {round(acc * len(yb))}/{len(yb)} "
              f"= {acc:.4f}  valid acc {valid_acc:.4f}   notes: loss {notes[0]:.4f}, acc "
              f"{notes[1]}/{notes[2]} = {notes[1] / notes[2]:.4f}")
    return rows


@torch.no_grad()
def validate(model, loss_func, valid_dl):
    """Validation loss and accuracy two ways: the lesson's mean of per-batch means, and the
    mean weighted by batch size, which is the metric of the whole set whatever the batch sizes.
    The caller switches the model to eval() first."""
    per_batch = []  # [loss, acc, batch size] of every batch
    for xb, yb in valid_dl:
        pred = model(xb)
        per_batch.append([loss_func(pred, yb).item(), accuracy(pred, yb).item(), len(yb)])
    m = torch.tensor(per_batch, dtype=torch.float64)  # (batches, [loss, acc, size])
    weighted = (m[:, :2] * m[:, 2:]).sum(0) / m[:, 2].sum()  # = the metric of the whole set
    naive = m[:, :2].mean(0)  # the lesson's mean of batch means
    return {"loss": weighted[0].item(), "acc": weighted[1].item(), "naive_loss": naive[0].item(),
            "naive_acc": naive[1].item()}


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    """The lesson's fit: train, then validate under no_grad, one line per epoch; returns the
    last epoch's validation (weighted and per-batch mean) and, for --plot, the history."""
    history = {"losses": [], "valid_accs": []}
    for epoch in range(epochs):
        model.train()
        for xb, yb in tqdm(train_dl, desc=f"epoch {epoch}", leave=False, disable=None):
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
            history["losses"].append(loss.detach())
        model.eval()  # BatchNorm/Dropout to inference (none here: the lesson's habit)
        v = validate(model, loss_func, valid_dl)
        history["valid_accs"].append(v["acc"])
        notes = "  notes: {:.4f} {:.4f}".format(*NOTES_FIT[epoch]) if epoch < len(NOTES_FIT) else ""
        tqdm.write(f"{epoch} {v['loss']:.4f} {v['acc']:.4f}   per-batch mean: "
                   f"{v['naive_loss']:.4f} {v['naive_acc']:.4f}{notes}")
    history["losses"] = torch.stack(history["losses"]).tolist()  # one device sync, at the end
    return v, history


def plot_fit(path, xb, yb, history):
    """--plot: the notes' plt.imshow(xb[0].view(28, 28)) beside fit's loss and valid accuracy."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 4), layout="tight")
    ax_img, ax_loss, ax_acc = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 2, 2]})
    ax_img.imshow(xb[0].view(28, 28).cpu().numpy(), cmap="gray")  # the notes' first image
    ax_img.set(title=f"xb[0], label {yb[0].item()}", xticks=[], yticks=[])
    ax_loss.plot(range(1, len(history["losses"]) + 1), history["losses"], lw=0.6)
    ax_loss.set(xlabel="step (one minibatch)", ylabel="training loss", title="fit")
    accs = [100 * a for a in history["valid_accs"]]
    ax_acc.plot(range(len(accs)), accs, marker="o")  # epochs from 0, as fit prints them
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title="after each epoch",
               xticks=range(len(accs)))
    ax_acc.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


# ---- The demos main() prints.
def show_dataset(train_ds, valid_ds):
    """Dataset basics: lengths, and a slice gives a batch of x and a batch of y."""
    print("== Dataset and DataLoader / Dataset ==")
    xb, yb = train_ds[0:5]
    assert xb.shape == (5, 28 * 28) and yb.shape == (5,)  # the lesson's asserts
    print(f"len(train_ds) {len(train_ds)}  len(valid_ds) {len(valid_ds)}\ntrain_ds[0:5]: xb "
          f"{list(xb.shape)}, yb {yb.tolist()}   (notes: [5, 0, 4, 1, 9])")
    return yb.tolist()


def show_samplers(train_ds, bs, generator):
    """The lesson's Sampler on 10 items, bs 3: in order, then shuffled for two epochs."""
    print("\n== Random sampling / Sampler, collate, DataLoader(ds, sampler, collate_fn) ==")
    small_ds = Dataset(*train_ds[:10])
    in_order = [o.tolist() for o in Sampler(small_ds, bs, False)]
    s = Sampler(small_ds, bs, True, generator=generator)
    shuffled = [[o.tolist() for o in s] for _ in range(2)]  # two passes: two permutations
    print(f"Sampler(small_ds, {bs}, False): {in_order}\nSampler(small_ds, {bs}, True):  "
          f"{shuffled[0]}   (notes: [[8, 0, 3], [5, 1, 2], [7, 6, 4], [9]])\n"
          f"  ... next epoch:             {shuffled[1]}")
    return in_order, shuffled


def peek_loaders(train_ds, valid_ds, bs, generator):
    """DataLoader(ds, sampler, collate_fn): validation starts with the same image every time,
    training with a different one each pass. Returns valid yb[0], the two train yb[0] and the
    second train batch (xb, yb), which the notes' later cells evaluate (notes_batches)."""
    train_dl = DataLoader(train_ds, Sampler(train_ds, bs, shuffle=True, generator=generator))
    valid_dl = DataLoader(valid_ds, Sampler(valid_ds, bs, shuffle=False))
    xb, yb = next(iter(valid_dl))
    assert xb.shape == (bs, 28 * 28) and yb.shape == (bs,)
    (_, yb1), (xb2, yb2) = next(iter(train_dl)), next(iter(train_dl))  # (64,), (64, 784), (64,)
    print(f"valid yb[0]: {yb[0].item()} (notes: 3)   train yb[0], twice: {yb1[0].item()}, "
          f"{yb2[0].item()} (notes: 1, 9); the first batches differ: {not torch.equal(yb1, yb2)}")
    return yb[0].item(), [yb1[0].item(), yb2[0].item()], (xb2, yb2)


def show_lengths(train_ds, bs):
    """len(DataLoader) counts batches: the short last one is dropped with drop_last=True."""
    print("\n== PyTorch DataLoader / drop_last ==")
    n = len(train_ds)
    dropped = len(TorchDataLoader(train_ds, bs, drop_last=True))  # batches, not images
    kept = len(TorchDataLoader(train_ds, bs))
    print(f"len(torch DataLoader): drop_last=True {dropped}, drop_last=False {kept}   "
          f"({n} = {n // bs}*{bs} + {n % bs})")
    return dropped, kept


def show_get_dls(train_ds, bs, seed, n_batches=3):
    """get_dls' batch-sampler loader yields the same batches as DataLoader(shuffle=True)."""
    ours = get_dls(train_ds, train_ds, bs, torch.Generator().manual_seed(seed))[0]
    lesson = TorchDataLoader(train_ds, bs, shuffle=True,
                             generator=torch.Generator().manual_seed(seed))
    same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for _, a, b in zip(range(n_batches), ours, lesson))
    print(f"\n== Validation / get_dls, fit ==\nget_dls: valid batches of {2 * bs}; same batches as "
          f"DataLoader(shuffle=True): {same}\nepoch, valid loss, valid acc (weighted by batch "
          "size); the lesson's per-batch mean")
    return same


def show_whole_valid(model, valid_ds, valid_bs):
    """The whole validation set in one forward pass: the metric the weighted mean must equal."""
    model.eval()
    loss, acc = evaluate(model, valid_ds.x, valid_ds.y)  # (10000, 10) logits inside
    print(f"whole validation set at once: loss {loss:.4f} acc {acc:.4f}  = weighted; the "
          f"per-batch mean counts the last {len(valid_ds) % valid_bs} images as a full batch")
    return {"loss": loss, "acc": acc}


def check_lesson_asserts(loader_rows, fit_acc):
    """The lesson's `assert acc > 0.7` after each loader's epoch and `assert acc > 0.9` after fit,
    here on the validation accuracy (the notes' look at one batch says little)."""
    for row in loader_rows:
        if not row["valid_acc"] > MIN_ACC:
            raise SystemExit(f"error: '{row['loader']}' reached valid accuracy "
                             f"{row['valid_acc']:.4f}, not > {MIN_ACC}: training failed")
    if not fit_acc > MIN_FIT_ACC:
        raise SystemExit(f"error: valid accuracy {fit_acc:.4f} after fit, not > {MIN_FIT_ACC}")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: Dataset, DataLoader, Sampler, fit")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="epochs of the fit")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N images (none: all 50000, the lesson's checks)")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png", help="imshow(xb[0]), fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    bs = args.batch_size
    print(f"device: {args.device}")
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)  # every shuffle, on the CPU
    train_ds, valid_ds = to_datasets(*load_lesson_mnist(args.data_dir), args.limit, args.device)
    res = {"first5": show_dataset(train_ds, valid_ds)}
    res["sampler_in_order"], res["sampler_shuffled"] = show_samplers(train_ds, 3, generator)
    res["valid_first"], res["train_first"], batch = peek_loaders(train_ds, valid_ds, bs, generator)
    res["len_drop_last"], res["len_keep_last"] = show_lengths(train_ds, bs)
    with args.device:  # the models' parameters on the data's device
        res["loaders"] = loader_table(train_ds, valid_ds, bs, args.lr, generator, batch)
        res["same_batches"] = show_get_dls(train_ds, bs, args.seed)
        train_dl, valid_dl = get_dls(train_ds, valid_ds, bs, generator)
        model, opt = get_model(train_ds.x.shape[1], NH, args.lr)
        v, history = fit(args.epochs, model, F.cross_entropy, opt, train_dl, valid_dl)  # loss_func
    res["whole_valid"] = show_whole_valid(model, valid_ds, 2 * bs)
    if args.plot:
        plot_fit(args.plot, *next(iter(train_dl)), history)
    if args.limit is None:  # the lesson's asserts hold for the full 50000 images
        check_lesson_asserts(res["loaders"], v["acc"])
    return res | {"valid": v}


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

def load_lesson_mnist(data_dir):
    """The lesson's mnist.pkl.gz: the first N_TRAIN training images train, the rest validate, as
    byte/256 like that pickle (not /255): x (N, 784) in [0, 1), y (N,) int64."""
    images, labels = load_mnist(data_dir, train=True)
    x = images.view(-1, 28 * 28).float() / 256  # (60000, 784)
    return x[:N_TRAIN], labels[:N_TRAIN], x[N_TRAIN:], labels[N_TRAIN:]


if __name__ == "__main__":
    main()
