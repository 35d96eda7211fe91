"""LS17.激活函数与LOSS的梯度: 激活函数 / Activation functions and their derivatives.

The notes' torch.linspace(-10, 10, 10) through sigmoid, tanh and relu (torch.relu == F.relu), the
smoother variants LeakyReLU, SELU and Softplus, each derivative from autograd checked against its
closed form (sigmoid' = s(1-s), tanh' = 1-tanh^2, relu' a step, ...), and
tanh(x) = 2 sigmoid(2x) - 1.

Run:    python scripts/activations.py   (or: make activations)
        python scripts/activations.py --plot act.png   (the six functions and derivatives)
Expect: the notes' three tensors, e.g. sigmoid tensor([4.5398e-05, ..., 9.9995e-01]), and every
        derivative equal to its closed form (max difference ~1e-16 in float64).
"""
import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F

GRID = (-10.0, 10.0, 10)  # the notes' torch.linspace(-10, 10, 10)
CHECK_POINTS = 100  # an even count: linspace(-5, 5, 100) misses 0, where relu & co. have a kink
CHECK_RANGE = 5.0  # wide enough to see both tails, small enough for softplus's exact branch
LEAKY_SLOPE = 0.01  # F.leaky_relu's default negative slope
# SELU's fixed constants (Klambauer et al. 2017), the same as F.selu's
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_functions():
    """The six functions of the notes: name -> callable on a tensor."""
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),  # a small slope left of 0
        # The notes call SELU "sigmoid left of 0": it is scaled exponential, scale*alpha*(e^x - 1).
        "selu": F.selu,
        # The notes (004) say relu is discontinuous at 0: relu is continuous, its derivative is not;
        # softplus = log(1 + e^x) smooths that kink away.
        "softplus": F.softplus,
    }


def closed_form_derivatives():
    """Each derivative written out by hand: name -> callable on a tensor."""
    return {
        "sigmoid": lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),  # s(1-s)
        "tanh": lambda x: 1 - torch.tanh(x) ** 2,  # 1 - tanh^2
        "relu": lambda x: (x > 0).to(x.dtype),  # a step: 0 left of 0, 1 right of it
        "leaky_relu": lambda x: torch.where(x > 0, 1.0, torch.full_like(x, LEAKY_SLOPE)),
        "selu": lambda x: torch.where(x > 0, SELU_SCALE, SELU_SCALE * SELU_ALPHA * torch.exp(x)),
        "softplus": torch.sigmoid,  # d/dx log(1 + e^x) = e^x / (1 + e^x)
    }


def autograd_derivative(fn, x):
    """d fn(x)/dx for an elementwise fn: the gradient of sum(fn(x)) is the Jacobian's diagonal."""
    x = x.detach().requires_grad_()
    (grad,) = torch.autograd.grad(fn(x).sum(), [x])
    return grad  # same shape as x


def check_derivatives(x):
    """autograd vs closed form for every function: name -> (autograd, closed form, max |diff|)."""
    results = {}
    for name, fn in activation_functions().items():
        auto = autograd_derivative(fn, x)
        exact = closed_form_derivatives()[name](x)
        results[name] = (auto, exact, (auto - exact).abs().max().item())
    return results


def plot_activations(path, x):
    """Draw each function and its autograd derivative into a PNG at `path` (one panel each)."""
    plt = agg_pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 7), sharex=True)
    for ax, (name, fn) in zip(axes.flat, activation_functions().items()):
        ax.plot(x, fn(x), label=name)
        ax.plot(x, autograd_derivative(fn, x), "--", label=f"{name}'")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name)
        ax.legend(loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS17: activation functions and their derivatives")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="also draw the six functions and their derivatives into FILE.png")
    args = parser.parse_args(argv)

    a = torch.linspace(*GRID)
    sig, tanh, relu = torch.sigmoid(a), torch.tanh(a), torch.relu(a)
    print(sig)  # 小心梯度弥散问题: both tails are flat, the gradient vanishes there
    print(tanh)
    print(relu)
    print(F.relu(a))
    print("torch.relu == F.relu:", torch.equal(relu, F.relu(a)))

    print("\n# the smoother variants of relu on the same points")
    functions = activation_functions()
    variants = {name: functions[name](a) for name in ("leaky_relu", "selu", "softplus")}
    for name, value in variants.items():
        print(f"{name}:", value)

    x = torch.linspace(-CHECK_RANGE, CHECK_RANGE, CHECK_POINTS, dtype=torch.float64)
    where = f"linspace(-{CHECK_RANGE:g}, {CHECK_RANGE:g}, {CHECK_POINTS}), float64"
    print(f"\n# tanh(x) = 2 sigmoid(2x) - 1 on {where}")
    gap = (torch.tanh(x) - (2 * torch.sigmoid(2 * x) - 1)).abs().max().item()
    print(f"max |tanh(x) - (2 sigmoid(2x) - 1)| = {gap:.1e}")

    print(f"\n# derivatives: autograd vs closed form on {where}")
    derivatives = check_derivatives(x)
    for name, (_, _, diff) in derivatives.items():
        label = name + "'"
        print(f"{label:>12}: max |autograd - closed form| = {diff:.1e}")

    if args.plot is not None:
        plot_activations(args.plot, torch.linspace(-CHECK_RANGE, CHECK_RANGE, 201))

    return {"a": a, "sigmoid": sig, "tanh": tanh, "relu": relu, "F.relu": F.relu(a),
            "variants": variants, "tanh_gap": gap, "x": x, "derivatives": derivatives}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def png_path(text):
    """argparse type for --plot: a .png file in a folder that exists, checked before any work."""
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: the plot is a PNG, name it FILE.png")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no folder {path.parent}")
    return path


def agg_pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display), imported only for --plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Write the figure to `path` as PNG via a temporary file, so a failure leaves no half file."""
    plt = agg_pyplot()
    tmp = path.with_name(path.name + ".part")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"error: cannot write the plot to {path}: {e.strerror or e}")
    finally:
        plt.close(fig)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
