"""LS17.激活函数与LOSS的梯度: 激活函数 / Activation functions and their derivatives.

The notes' torch.linspace(-10, 10, 10) through sigmoid, tanh and relu (torch.relu == F.relu), the
smoother variants LeakyReLU, SELU and Softplus, each derivative from autograd checked against its
closed form (sigmoid' = s(1-s), tanh' = 1-tanh^2, relu' a step...), and tanh(x) = 2sigmoid(2x) - 1.

Run:    python scripts/activations.py   (or: make activations)
Expect: the notes' three tensors, e.g. "torch.sigmoid(a) = tensor([4.5398e-05, ..., 9.9995e-01])",
        and every derivative equal to its closed form (max difference ~1e-16 in float64).

Try:    --plot act.png   the six functions, each with its derivative dashed: sigmoid's and tanh's
                         fade to 0 in the tails (小心梯度弥散), relu's is a step from 0 to 1
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

GRID = (-10.0, 10.0, 10)  # the notes' a = torch.linspace(-10, 10, 10)
CHECK_POINTS = 100  # an even count: linspace(-5, 5, 100) misses 0, where relu & co. have a kink
CHECK_RANGE = 5.0  # wide enough to see both tails, small enough for softplus's exact branch
LEAKY_SLOPE = 0.01  # F.leaky_relu's default negative slope
# SELU's fixed constants (Klambauer et al. 2017), the same as F.selu's
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ACTIVATIONS = {  # name -> (the function, its derivative written out by hand)
    "sigmoid": (torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))),  # s(1-s)
    "tanh": (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2),
    "relu": (torch.relu, lambda x: (x > 0).to(x.dtype)),  # a step: 0 left of 0, 1 right of it
    "leaky_relu": (lambda x: F.leaky_relu(x, LEAKY_SLOPE),  # a small slope left of 0
                   lambda x: torch.where(x > 0, 1.0, torch.full_like(x, LEAKY_SLOPE))),
    # The notes call SELU "sigmoid left of 0": it is scaled exponential, scale*alpha*(e^x - 1).
    "selu": (F.selu, lambda x: torch.where(x > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * x.exp())),
    # The classification notes say relu is discontinuous at 0: relu is continuous, its derivative
    # is not; softplus = log(1 + e^x) smooths that kink away. d/dx log(1 + e^x) = sigmoid(x).
    "softplus": (F.softplus, torch.sigmoid),
}


def autograd_derivative(fn, x):
    """d fn(x)/dx for an elementwise fn: the gradient of sum(fn(x)) is the Jacobian's diagonal."""
    x = x.detach().requires_grad_()
    (grad,) = torch.autograd.grad(fn(x).sum(), [x])
    return grad  # same shape as x


def derivative_gaps(x):
    """max |autograd - closed form| of every activation on the points x: name -> float."""
    return {name: (autograd_derivative(fn, x) - derivative(x)).abs().max().item()
            for name, (fn, derivative) in ACTIVATIONS.items()}


def show_notes_activations(a):
    """The course notes' In [98], [97] and [99] on their a = torch.linspace(-10, 10, 10)."""
    print("== 激活函数: sigmoid, tanh and ReLU on the notes' a ==\na = torch.linspace(-10, 10, 10)")
    print("torch.sigmoid(a) =", torch.sigmoid(a))  # 小心梯度弥散: flat tails, vanishing gradient
    print("torch.tanh(a) =", torch.tanh(a))  # 2 sigmoid(2x) - 1: in [-1, 1]
    print("torch.relu(a) =", torch.relu(a))
    print("F.relu(a) =", F.relu(a), "| the same:", torch.equal(torch.relu(a), F.relu(a)))


def show_relu_variants(a):
    # The notes' three bullets under Rectified Linear Unit: a small slope left of 0 (Leaky ReLU),
    # an exponential there (SELU), the kink smoothed away (Softplus).
    print("\n== Rectified Linear Unit: Leaky ReLU, SELU and Softplus on the same a ==")
    print(f"F.leaky_relu(a, {LEAKY_SLOPE}) =", F.leaky_relu(a, LEAKY_SLOPE))
    print("F.selu(a) =", F.selu(a))
    print("F.softplus(a) =", F.softplus(a))


def show_derivative_gaps(x):
    """tanh(x) = 2 sigmoid(2x) - 1 and each derivative by autograd against its closed form, on the
    points x: returns the tanh gap and {name: max gap}."""
    print(f"\n== 激活函数的导数: autograd vs closed form, on linspace(-{CHECK_RANGE:g}, "
          f"{CHECK_RANGE:g}, {CHECK_POINTS}) in float64 ==")
    tanh_gap = (torch.tanh(x) - (2 * torch.sigmoid(2 * x) - 1)).abs().max().item()
    print(f"max |tanh(x) - (2 sigmoid(2x) - 1)| = {tanh_gap:.1e}")
    gaps = derivative_gaps(x)
    for name, gap in gaps.items():
        print(f"{name:>10}': max |autograd - closed form| = {gap:.1e}")
    return tanh_gap, gaps


def plot_activations(path, x):
    """Each function and its autograd derivative, one panel each, on a Figure of its own (a
    notebook's matplotlib backend stays as it was)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 7), layout="tight")
    for ax, (name, (fn, _)) in zip(fig.subplots(2, 3, sharex=True).flat, ACTIVATIONS.items()):
        ax.plot(x, fn(x), label=name)
        ax.plot(x, autograd_derivative(fn, x), "--", label=f"{name}'")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name)
        ax.legend(loc="upper left")
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS17: activation functions and their derivatives",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the six functions and their derivatives")
    args = parse_flags(parser, argv)
    a = torch.linspace(*GRID)  # (10,)
    show_notes_activations(a)
    show_relu_variants(a)
    tanh_gap, gaps = show_derivative_gaps(
        torch.linspace(-CHECK_RANGE, CHECK_RANGE, CHECK_POINTS, dtype=torch.float64))
    if args.plot:
        plot_activations(args.plot, torch.linspace(-CHECK_RANGE, CHECK_RANGE, 201))
    return {"tanh_gap": tanh_gap, "derivative_gaps": gaps}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults

def png_path(text):
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


if __name__ == "__main__":
    main()
