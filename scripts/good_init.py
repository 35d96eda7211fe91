"""why you need a good init? / 为什么需要好的初始化 (scaling的神奇数字, Adding ReLU in the mix).

fast.ai 2019 lesson 9: multiply a vector by the same random 512x512 matrix 100 times, as if through
100 layers: std-1 weights overflow to nan, x0.01 vanishes to exactly 0, /sqrt(512) stays at scale;
the notes' other two strategies: an orthogonal matrix keeps |x| exactly, one divided by its spectral
norm cannot overflow but still vanishes (x ~1/2 per layer). The mean/sqr experiments show why: a
sum of 512 unit-variance products has E[y^2] = 512, after a ReLU half of it: sqrt(2/512) (Kaiming).

Run:    python scripts/good_init.py [--plot std.png]        (or: make good_init)
Expect: x.std() nan at i = 27 and x itself nan at 28 (the notes' loop: 28); exactly 0.0 with x0.01;
        /sqrt(512) neither (the notes: std 0.93); orthogonal |x| ratio 1.0000; (mean, sqr) beside
        the notes' and the closed forms.

Try:    --layers 20    after 20 layers x1 is still finite (std ~1e27) and x0.01 not yet 0 (~1e-13)
        --width 128    the nan comes later, at i ~ 35: float32's max is sqrt(128)^36.6 away
"""
import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import torch

N = 512  # the lesson's layer width
LAYERS = 100  # the lesson's "100 layers"
TRIALS, SCALAR_TRIALS = 100, 10000  # the lesson's repeats: 512x512 experiments, one-number ones
FLOAT32_MAX = torch.finfo(torch.float32).max  # ~3.4e38: where a float32 overflows to inf


class Chain(NamedTuple):
    label: str  # the scaling, as the table names it
    end: torch.Tensor  # x after the last layer, (512,)
    stds: list  # the std of x after each layer
    first_nan_std: int  # the notes' loop: the first 0-based i whose x.std() is nan (None: never)
    first_nan_x: int  # the first i whose x itself holds a nan (None: never)


def chain(label, x, a, layers):
    """The notes' `for i in range(100): x = a @ x`, `layers` times, as a Chain."""
    stds, nan_in_x = [], []
    for _ in range(layers):
        x = a @ x  # (512,)
        stds.append(x.std().item())
        nan_in_x.append(bool(x.isnan().any()))
    first_nan_std = next((i for i, s in enumerate(stds) if s != s), None)  # nan != nan
    first_nan_x = next((i for i, nan in enumerate(nan_in_x) if nan), None)
    return Chain(label, x, stds, first_nan_std, first_nan_x)


class Scalings(NamedTuple):  # one x through one a = randn(512, 512), scaled five ways
    unit: Chain  # a itself, std 1: overflows
    small: Chain  # a * 0.01: vanishes
    sqrt_n: Chain  # a / sqrt(512): stays at scale
    orthogonal: Chain  # torch.nn.init.orthogonal_: keeps |x| exactly
    spectral: Chain  # a / its spectral norm: |a @ x| <= |x|


def show_hundred_layers(x, n, layers):
    """x = a @ x, `layers` times: the lesson's three scalings of a = randn(n, n) and the notes'
    other two strategies; prints (mean, std) after the last layer beside the notes'."""
    print(f"== why you need a good init? / 为什么需要好的初始化: x = a @ x, {layers} times, "
          f"x = randn({n}), a = randn({n}, {n}) * scale: (mean, std) ==")
    a = torch.randn(n, n)  # (512, 512)
    orthogonal = torch.nn.init.orthogonal_(torch.empty(n, n))
    spectral = a / torch.linalg.matrix_norm(a, ord=2)
    chains = Scalings(chain("x1", x, a, layers), chain("x0.01", x, a * 0.01, layers),
                      chain(f"/sqrt({n})", x, a / math.sqrt(n), layers),
                      chain("orthogonal_", x, orthogonal, layers),
                      chain("/spectral norm", x, spectral, layers))
    notes = [(math.nan, math.nan), (0.0, 0.0), (-0.0171, 0.9270), None, None]  # the last two: -
    for c, notes_stats in zip(chains, notes):
        notes_text = "({:.4f}, {:.4f})".format(*notes_stats) if notes_stats else "-"
        print(f"{c.label:<15} notes: {notes_text:<17} ours: ({c.end.mean().item():.4g}, "
              f"{c.end.std().item():.4g})")
    return chains


def show_first_nan(unit, n):
    """Where the notes' loop `if x.std() != x.std(): break` stops, beside where x itself is nan."""
    # The notes' i is range's 0-based i, as ours. Here x.std() is nan from i = 27: near float32's
    # max 3.4e38 the std's squares overflow while x is still finite (or only inf); x itself holds
    # a nan from i = 28 on, the notes' i (300 seeds of 300 here: 27 and 28).
    print("the notes' loop: for i in range(100): x = a @ x; if x.std() != x.std(): break   "
          "notes: i = 28")
    print(f"ours: x.std() first nan at i = {unit.first_nan_std} (0-based, as the notes' i); "
          f"x itself first holds a nan at i = {unit.first_nan_x}")
    print(f"estimate: float32 overflows at {FLOAT32_MAX:.3g} = sqrt({n})^"
          f"{math.log(FLOAT32_MAX) / math.log(math.sqrt(n)):.1f}")


def show_vanishing(small, n, layers):
    """x0.01: every entry of x rounds to exactly 0.0 in float32; returns whether it did."""
    zeros = bool((small.end == 0).all())
    # each layer scales x by ~0.01 * sqrt(512) = 0.226: after 100, ~3e-65, far below float32's
    # smallest subnormal 1.4e-45, so every entry rounds to 0
    print(f"x0.01: every entry exactly 0.0: {zeros}   (0.01*sqrt({n}) = {0.01 * math.sqrt(n):.3f}"
          f" per layer, ^{layers} = {(0.01 * math.sqrt(n)) ** layers:.1e})")
    return zeros


def show_other_strategies(x, chains, layers):
    """The notes' orthogonal and spectral-norm strategies: |x| kept, and the shrink per layer."""
    # /sqrt(512) (the table): the same matrix 100 times scales x by about |largest eigenvalue|^100,
    # and that eigenvalue is ~1 (within a few %): the std stays at scale, not exactly 1.
    # An orthogonal matrix keeps the L2 norm exactly. Dividing by the spectral norm M bounds |a @ x|
    # by |x| (never overflows) but still vanishes: randn's largest |eigenvalue| is ~M/2.
    norm_ratio = (chains.orthogonal.end.norm() / x.norm()).item()
    spectral_factor = (chains.spectral.end.std().item() / x.std().item()) ** (1 / layers)
    print(f"orthogonal_: |x| after / before = {norm_ratio:.6f}; "
          f"/spectral norm: std x {spectral_factor:.3f} per layer")
    return norm_ratio, spectral_factor


def show_magic_number(x, n):
    """The notes' 1/sqrt(512), and their input x = torch.randn(512): mean ~0, std ~1."""
    print("\n== scaling的神奇数字 / the magic number ==")
    print(f"magic number: 1/sqrt({n}) = {1 / math.sqrt(n)} (notes: 0.044194173824159216), not far "
          "from 0.01")
    x_stats = x.mean().item(), x.std().item()  # x: the table's input, (512,)
    print(f"x = torch.randn({n}); x.mean(), x.std()   notes: (0.0144, 1.0207)  "
          f"ours: ({x_stats[0]:.4f}, {x_stats[1]:.4f})")
    return x_stats


class MeanSqr(NamedTuple):  # (mean, sqr = mean of y^2) of each of the lesson's experiments
    plain: tuple  # y = a @ x
    scalar: tuple  # y = a * x, one number each
    scalar_relu: tuple  # relu(a * x)
    relu: tuple  # relu(a @ x)
    relu_scaled: tuple  # relu(a * sqrt(2/512) @ x)


def mean_sqr_experiments(n, trials, scalar_trials):
    """The lesson's experiments, each averaged over its trials, as MeanSqr."""
    sums = torch.zeros(3, 2, dtype=torch.float64)  # (experiment, [mean, sqr])
    for _ in range(trials):  # one draw serves all three rows: scaling a by c scales y by c
        x, a = torch.randn(n), torch.randn(n, n)  # (512,), (512, 512)
        y = a @ x  # (512,)
        for k, v in enumerate([y, y.clamp(min=0), (y * math.sqrt(2 / n)).clamp(min=0)]):
            sums[k] += torch.stack([v.mean(), v.pow(2).mean()]).double()
    plain, relu, relu_scaled = [tuple(row) for row in (sums / trials).tolist()]
    y = torch.randn(scalar_trials) * torch.randn(scalar_trials)  # the lesson's loop, as one tensor
    scalar, scalar_relu = [(v.mean().item(), v.pow(2).mean().item()) for v in (y, y.clamp(min=0))]
    return MeanSqr(plain, scalar, scalar_relu, relu, relu_scaled)


def show_mean_sqr(n, trials, scalar_trials):
    """The mean/sqr experiments beside the notes' and the closed forms for N(0, 1) draws."""
    print("\n== scaling的神奇数字, Adding ReLU in the mix / averages: (mean, sqr = mean of y^2) ==")
    got = mean_sqr_experiments(n, trials, scalar_trials)
    rows = [("a @ x", (0.0118, 516.7943), got.plain, (0.0, float(n))),  # n unit-variance products
            ("a * x (scalars)", (0.0133, 0.9896), got.scalar, (0.0, 1.0)),
            # E[relu(ab)] = E|a| E|b| / 2 = (2/pi) / 2 = 1/pi; E[relu(ab)^2] = E[(ab)^2] / 2 = 1/2
            ("relu(a * x) (scalars)", (0.3133, 0.4903), got.scalar_relu, (1 / math.pi, 0.5)),
            # y ~ N(0, n): E[relu(y)] = sqrt(n / (2 pi)), E[relu(y)^2] = n / 2
            ("relu(a @ x)", (9.0052, 257.3701), got.relu, (math.sqrt(n / (2 * math.pi)), n / 2)),
            # y ~ N(0, 2): E[relu(y)] = sqrt(2 / (2 pi)) = 1/sqrt(pi), E[relu(y)^2] = 1
            (f"relu(a*sqrt(2/{n}) @ x)", (0.5643, 1.0055), got.relu_scaled,
             (1 / math.sqrt(math.pi), 1.0))]
    for label, notes, ours, closed in rows:
        print(f"{label:<24} notes: ({notes[0]:.4f}, {notes[1]:8.4f})  ours: ({ours[0]:.4f}, "
              f"{ours[1]:8.4f})  closed form: ({closed[0]:.4f}, {closed[1]:.4f})")
    print(f"with a ReLU the magic number is sqrt(2/{n}) = {math.sqrt(2 / n):.4f}")
    return got


def plot_stds(path, chains):
    """--plot: the std after each layer per matrix (log scale: inf, nan and 0 drop out)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4), layout="tight")
    ax = fig.subplots()
    for c in chains:
        ax.plot(range(1, len(c.stds) + 1), c.stds, label=c.label)
    ax.set(yscale="log", xlabel="layer", ylabel="std of x", title="x = a @ x, layer after layer")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: why you need a good init")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=positive_int, default=LAYERS, help="how many times x = a @ x")
    parser.add_argument("--width", type=positive_int, default=N, help="the length of x, a is width x width")
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the std per layer of each matrix")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x = torch.randn(args.width)  # (512,): the notes' x = torch.randn(512)
    chains = show_hundred_layers(x, args.width, args.layers)
    show_first_nan(chains.unit, args.width)
    zeros = show_vanishing(chains.small, args.width, args.layers)
    norm_ratio, spectral_factor = show_other_strategies(x, chains, args.layers)
    x_stats = show_magic_number(x, args.width)
    experiments = show_mean_sqr(args.width, TRIALS, SCALAR_TRIALS)
    if args.plot:
        plot_stds(args.plot, chains)
    return {"chains": chains, "zeros": zeros, "orthogonal_norm_ratio": norm_ratio,
            "spectral_factor": spectral_factor, "x_stats": x_stats, "experiments": experiments}


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

def png_path(text):
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


if __name__ == "__main__":
    main()
