"""Basic Training Loop 小批量训练 基本的训练循环 → 重构 / The training loop, refactored step by step.

fast.ai 2019 lesson 9: a 784-50-10 net trained for one epoch (bs 64, lr 0.5) on the lesson's 50k
MNIST images, first updating each layer's weight and bias by hand, then after each refactoring:
model.parameters(), a DummyModule that registers submodules in __setattr__, add_module, ModuleList,
nn.Sequential, an own Optimizer, optim.SGD (eight functions); each must reach > 0.7 accuracy.

Run:    python scripts/training_loop.py        (or: make training_loop; --plot FILE.png)
Expect: untrained: preds [64, 10], loss ~2.30 (ln 10), accuracy ~0.1; per step the last minibatch's
        loss and accuracy (16 images, 50000 = 781*64 + 16: the notes' 0.9375 = 15/16), valid > 0.9.
Try:    --batch-size 50   50000 = 1000*50: the last minibatch holds 50 images, accuracy in 1/50s
        --lr 0.05         ten times smaller steps: every step learns less, valid acc ~0.905 not ~0.94
"""
import argparse
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
N_TRAIN = 50000  # mnist.pkl.gz: the first 50000 training images train, the last 10000 validate
NH = 50  # the lesson's hidden units
BATCH_SIZE = 64  # the lesson's bs
LR = 0.5  # the lesson's lr: fine on [0, 1] pixels, unstable on normalised ones
EPOCHS = 1  # the lesson trains one epoch per step
MIN_ACC = 0.7  # the lesson's `assert acc > 0.7`, here on the validation set (full runs only)


def accuracy(out, yb):
    return (torch.argmax(out, dim=1) == yb).float().mean()


def layer_list(n_in, nh, n_out):
    return [nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out)]


# ---- The models, in the order the lesson refactors them. The lesson overrides __call__ to show
# the mechanism; real code writes `forward`: nn.Module's __call__ runs the hooks and then forward,
# and a class that overrides __call__ skips them.
class LayerListModel(nn.Module):
    """Step 1: a plain Python list of layers. nn.Module does not see them: no .parameters()."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def __call__(self, x):  # the lesson's; real code: def forward(self, x)
        for layer in self.layers:
            x = layer(x)
        return x


class AttributeModel(nn.Module):
    """Step 2: layers as attributes; nn.Module's __setattr__ registers them as children."""

    def __init__(self, n_in, nh, n_out):
        super().__init__()
        self.l1 = nn.Linear(n_in, nh)
        self.l2 = nn.Linear(nh, n_out)

    def __call__(self, x):  # the lesson's; real code: def forward(self, x)
        return self.l2(F.relu(self.l1(x)))


class DummyModule:
    """Step 3: what nn.Module does behind the scenes, in plain Python: __setattr__ files every
    public attribute in self._modules, and parameters() walks them."""

    def __init__(self, n_in, nh, n_out):
        self._modules = {}
        self.l1 = nn.Linear(n_in, nh)
        self.l2 = nn.Linear(nh, n_out)

    def __setattr__(self, k, v):
        if not k.startswith("_"):  # `_modules` itself must not go in (it would recurse)
            self._modules[k] = v
        super().__setattr__(k, v)

    def __repr__(self):
        return f"{self._modules}"

    def parameters(self):
        for layer in self._modules.values():
            yield from layer.parameters()

    # The lesson only printed DummyModule; these two let it train like the other steps.
    def __call__(self, x):
        return self.l2(F.relu(self.l1(x)))

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None


class AddModuleModel(LayerListModel):
    """Step 4: step 1's list and loop, each layer now registered by hand with add_module."""

    def __init__(self, layers):
        super().__init__(layers)
        for i, layer in enumerate(layers):
            self.add_module(f"layer_{i}", layer)


class ModuleListModel(LayerListModel):
    """Step 5: nn.ModuleList is a list that registers its layers. It cannot be called itself:
    step 1's loop around it is what nn.Sequential is (step 6)."""

    def __init__(self, layers):
        super().__init__(nn.ModuleList(layers))


class Optimizer:
    """Step 7: the update hidden behind step() and zero_grad()."""

    def __init__(self, params, lr=0.5):
        self.params, self.lr = list(params), lr

    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= p.grad * self.lr

    def zero_grad(self):
        for p in self.params:
            p.grad.zero_()  # the notes: p.grad.data.zero_(); .grad needs no .data to be zeroed


def update_layers(model, lr):
    """Step 1's update: weight and bias of every layer that has them, by hand, outside autograd."""
    with torch.no_grad():
        for layer in model.layers:
            if hasattr(layer, "weight"):  # the Linear layers, not the ReLU
                for p in (layer.weight, layer.bias):
                    p -= p.grad * lr
                    p.grad.zero_()


def update_parameters(model, lr):
    """Steps 2-6: one loop over whatever the model registered."""
    with torch.no_grad():
        for p in model.parameters():
            p -= p.grad * lr
    model.zero_grad()


def fit(model, update, x, y, bs, epochs):
    """The lesson's loop over minibatch slices, `update()` after each backward(): the last
    minibatch (xb, yb) and every step's loss."""
    losses, n_batches = [], (len(x) - 1) // bs + 1
    for epoch in range(epochs):
        for i in tqdm(range(n_batches), desc=f"epoch {epoch}", leave=False, disable=None):
            xb, yb = x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]  # (64, 784), (64,)
            loss = F.cross_entropy(model(xb), yb)  # the notes' loss_func
            loss.backward()
            update()
            losses.append(loss.detach())
    return {"xb": xb, "yb": yb, "losses": torch.stack(losses).tolist()}


@torch.no_grad()
def evaluate(model, x, y):
    """(loss, accuracy) of the model on x (N, 784), y (N,). None of these models has a layer that
    acts otherwise in eval(), and the lesson calls eval() only from its Validation section on."""
    out = model(x)  # (N, 10)
    return F.cross_entropy(out, y).item(), accuracy(out, y).item()


def first_look(model, xb, yb):
    """The notes' first look: the untrained model's predictions for one minibatch, their loss (a
    uniform guess gives ln 10 = 2.3026) and accuracy (chance: 0.1)."""
    print("== Basic Training Loop 基本的训练循环 / untrained, first minibatch ==")
    with torch.no_grad():
        preds = model(xb)  # (64, 10)
    loss, acc = F.cross_entropy(preds, yb).item(), accuracy(preds, yb).item()
    print(f"preds[0] = {[round(v, 4) for v in preds[0].tolist()]}, preds.shape = "
          f"{list(preds.shape)}   (notes: [64, 10])\nloss_func(preds, yb) = {loss:.4f} (notes: "
          f"2.3076), accuracy(preds, yb) = {acc:.4f} (notes: 0.1719)")
    return {"preds_shape": list(preds.shape), "loss": loss, "acc": acc}


# ---- The eight steps, in the lesson's order: each prints the notes' heading and what they print
# there, and returns its model and its update.
def step1_by_hand(n_in, lr):
    print("\n== 1. Basic Training Loop 基本的训练循环 / by hand, layer by layer ==")
    model = LayerListModel(layer_list(n_in, NH, 10))
    return model, lambda: update_layers(model, lr)


def step2_parameters(n_in, lr):
    print("\n== 2. 使用参数 / model.parameters() ==")
    model = AttributeModel(n_in, NH, 10)
    for name, layer in model.named_children():  # what nn.Module registered from the attributes
        print(f"{name}: {layer}")
    print(f"{model}\nmodel.l1 = {model.l1}")  # the notes' `model` and `model.l1` cells
    return model, lambda: update_parameters(model, lr)


def step3_dummy_module(n_in, lr):
    print("\n== 3. 使用参数 / DummyModule (__setattr__) ==")
    model = DummyModule(n_in, NH, 10)
    print(f"{model}\n{[list(p.shape) for p in model.parameters()]}")
    return model, lambda: update_parameters(model, lr)


def step4_add_module(n_in, lr):
    print("\n== 4. 重构2 / add_module ==")
    model = AddModuleModel(layer_list(n_in, NH, 10))
    print(model)
    return model, lambda: update_parameters(model, lr)


def step5_module_list(n_in, lr):
    print("\n== 5. nn.ModuleList ==")
    model = ModuleListModel(layer_list(n_in, NH, 10))
    print(model)
    return model, lambda: update_parameters(model, lr)


def step6_sequential(n_in, lr):
    print("\n== 6. nn.Sequential ==")
    model = nn.Sequential(*layer_list(n_in, NH, 10))
    print(model)
    return model, lambda: update_parameters(model, lr)


def step7_optimizer(n_in, lr):
    print("\n== 7. Optim / own Optimizer ==")
    model = nn.Sequential(*layer_list(n_in, NH, 10))
    opt = Optimizer(model.parameters(), lr)
    return model, lambda: (opt.step(), opt.zero_grad())


def step8_optim_sgd(n_in, lr):
    print("\n== 8. Optim / optim.SGD ==")
    model = nn.Sequential(*layer_list(n_in, NH, 10))
    opt = optim.SGD(model.parameters(), lr=lr)
    return model, lambda: (opt.step(), opt.zero_grad())


def train_step(model, update, x, y, x_valid, y_valid, bs, epochs, notes=None):
    """Fit one step's model, then look as the notes do: (loss, accuracy) on the last minibatch,
    the xb, yb their cells evaluate after every step, beside theirs (`notes`) where they printed
    one; and the validation accuracy."""
    fitted = fit(model, update, x, y, bs, epochs)
    loss, acc = evaluate(model, fitted["xb"], fitted["yb"])
    valid_acc = evaluate(model, x_valid, y_valid)[1]
    notes_text = "   (notes: {:.4f}, {:.4f})".format(*notes) if notes else ""
    print(f"last minibatch ({len(fitted['yb'])} images): loss {loss:.4f}, accuracy {acc:.4f}"
          f"{notes_text}; valid accuracy {valid_acc:.4f}")
    return {"batch_loss": loss, "batch_acc": acc, "batch_size": len(fitted["yb"]),
            "valid_acc": valid_acc, "losses": fitted["losses"]}


def refactor_and_train(n_in, lr, x, y, x_valid, y_valid, bs, epochs):
    """The lesson's eight refactorings in its order, each trained as the first: a list of their
    results, step 1 first. `notes`: the notes' (loss, accuracy) where they printed one."""
    data = (x, y, x_valid, y_valid, bs, epochs)
    return [train_step(*step1_by_hand(n_in, lr), *data, notes=(0.3465, 0.9375)),
            train_step(*step2_parameters(n_in, lr), *data, notes=(0.1094, 0.9375)),
            train_step(*step3_dummy_module(n_in, lr), *data),
            train_step(*step4_add_module(n_in, lr), *data),
            train_step(*step5_module_list(n_in, lr), *data, notes=(0.2131, 0.9375)),
            train_step(*step6_sequential(n_in, lr), *data, notes=(0.2167, 0.9375)),
            train_step(*step7_optimizer(n_in, lr), *data),
            train_step(*step8_optim_sgd(n_in, lr), *data, notes=(0.0436, 1.0))]


def check_every_step(steps, min_acc):
    """The lesson's `assert acc > 0.7` after each step, here on the validation accuracy."""
    for number, step in enumerate(steps, 1):
        if not step["valid_acc"] > min_acc:
            raise SystemExit(f"error: step {number}: valid accuracy {step['valid_acc']:.4f}, "
                             f"not > {min_acc}: training failed")


def plot_steps(path, steps):
    """--plot: every step's training loss per minibatch (they overlap) and validation accuracy."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="tight")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for number, step in enumerate(steps, 1):
        ax_loss.plot(range(1, len(step["losses"]) + 1), step["losses"], lw=0.6, alpha=0.6,
                     label=f"step {number}")
    ax_loss.set(xlabel="step (one minibatch)", ylabel="training loss", ylim=(0, 2.5),
                title="the eight refactorings train alike")
    ax_loss.legend(fontsize=6)
    ax_acc.plot(range(1, len(steps) + 1), [100 * step["valid_acc"] for step in steps],
                marker="o")
    ax_acc.set(xlabel="refactoring step", ylabel="validation accuracy (%)", title="after training")
    ax_acc.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: the training loop, refactored")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS, help="epochs per step")
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--limit", type=positive_int,
                        help="train on the first N images (none: all 50000, the lesson's check)")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png", help="each step's loss, acc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", type=pick_device, default="auto", metavar="{auto,cpu,cuda,mps}",
                        help="auto picks cuda, then mps, then cpu")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder holding MNIST/raw")
    args = parse_flags(parser, argv)
    device, bs = args.device, args.batch_size
    print(f"device: {device}")
    torch.manual_seed(args.seed)

    x_train, y_train, x_valid, y_valid = load_lesson_mnist(args.data_dir)
    x_train, y_train = x_train[:args.limit].to(device), y_train[:args.limit].to(device)
    x_valid, y_valid = x_valid.to(device), y_valid.to(device)
    n, m = x_train.shape
    print(f"n, m = {n}, {m}; nh = {NH}, bs = {bs}, lr = {args.lr}; {n} = {n // bs}*{bs} + {n % bs}")
    with device:  # every tensor a constructor makes lands on the device, listed layers included
        untrained = first_look(LayerListModel(layer_list(m, NH, 10)), x_train[:bs], y_train[:bs])
        steps = refactor_and_train(m, args.lr, x_train, y_train, x_valid, y_valid, bs, args.epochs)
    if args.limit is None:  # the lesson's check holds for the full 50000 images
        check_every_step(steps, MIN_ACC)
    if args.plot:
        plot_steps(args.plot, steps)
    return {"valid_acc": steps[-1]["valid_acc"], "steps": steps, "untrained": untrained}


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
