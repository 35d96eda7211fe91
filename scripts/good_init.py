"""why you need a good init? / 为什么需要好的初始化 (scaling的神奇数字, Adding ReLU in the mix).

fast.ai 2019 lesson 9: multiply a vector by the same random 512x512 matrix 100 times, as if through
100 layers: std-1 weights overflow to nan, x0.01 vanishes to exactly 0, /sqrt(512) stays at scale;
the notes' other two strategies: an orthogonal matrix keeps |x| exactly, one divided by its spectral
norm cannot overflow but still vanishes (x ~1/2 per layer). The mean/sqr experiments show why: a
sum of 512 unit-variance products has E[y^2] = 512, after a ReLU half of it: sqrt(2/512) (Kaiming).

Run:    python scripts/good_init.py [--plot std.png]        (or: make good_init)
Expect: nan at iteration ~27 (the notes: 28); exactly 0.0 with x0.01; /sqrt(512) neither (the notes:
        std 0.93); orthogonal |x| ratio 1.0000; (mean, sqr) beside the notes' and the closed forms.
"""
import argparse
import math
import sys
from pathlib import Path

import torch

N = 512  # the lesson's layer width
LAYERS = 100  # the lesson's "100 layers"
TRIALS, SCALAR_TRIALS = 100, 10000  # the lesson's repeats: 512x512 experiments, one-number ones
FLOAT32_MAX = torch.finfo(torch.float32).max  # ~3.4e38: where a float32 overflows to inf
# The notes' values: (mean, std) after 100 layers, (mean, sqr) of the experiments (to 4 places)
NOTES = {"nan_iter": 28, "x1": (math.nan, math.nan), "x0.01": (0.0, 0.0),
         "/sqrt(512)": (-0.0171, 0.9270), "a @ x": (0.0118, 516.7943),
         "a * x (scalars)": (0.0133, 0.9896), "relu(a * x) (scalars)": (0.3133, 0.4903),
         "relu(a @ x)": (9.0052, 257.3701), "relu(a*sqrt(2/512) @ x)": (0.5643, 1.0055)}


def scaled_matrices(n):
    """randn(n, n) x1, x0.01, /sqrt(n) (the lesson); orthogonal; / spectral norm: |a @ x| <= |x|."""
    a = torch.randn(n, n)  # (512, 512)
    return {"x1": a, "x0.01": a * 0.01, "/sqrt(512)": a / math.sqrt(n),
            "orthogonal_": torch.nn.init.orthogonal_(torch.empty(n, n)),
            "/spectral norm": a / torch.linalg.matrix_norm(a, ord=2)}


def chain(x, a, layers):
    """x = a @ x, `layers` times; returns the final x (512,) and the std after each layer."""
    stds = []
    for _ in range(layers):
        x = a @ x  # (512,)
        stds.append(x.std().item())
    return x, stds


def mean_sqr_experiments(n, trials, scalar_trials):
    """The lesson's experiments: {name: ((mean, sqr = mean of y^2), closed form for N(0, 1))}."""
    sums = torch.zeros(3, 2, dtype=torch.float64)  # (experiment, [mean, sqr])
    for _ in range(trials):  # one draw serves all three rows: scaling a by c scales y by c
        x, a = torch.randn(n), torch.randn(n, n)  # (512,), (512, 512)
        y = a @ x  # (512,)
        for k, v in enumerate([y, y.clamp(min=0), (y * math.sqrt(2 / n)).clamp(min=0)]):
            sums[k] += torch.stack([v.mean(), v.pow(2).mean()]).double()
    plain, relu, relu_scaled = [tuple(row) for row in (sums / trials).tolist()]
    y = torch.randn(scalar_trials) * torch.randn(scalar_trials)  # the lesson's loop, as one tensor
    scalar, scalar_relu = [(v.mean().item(), v.pow(2).mean().item()) for v in (y, y.clamp(min=0))]
    return {"a @ x": (plain, (0.0, float(n))),  # E[y^2] = a sum of n unit-variance products
            "a * x (scalars)": (scalar, (0.0, 1.0)),
            # E[relu(ab)] = E|a| E|b| / 2 = (2/pi) / 2 = 1/pi; E[relu(ab)^2] = E[(ab)^2] / 2 = 1/2
            "relu(a * x) (scalars)": (scalar_relu, (1 / math.pi, 0.5)),
            # y ~ N(0, n): E[relu(y)] = sqrt(n / (2 pi)), E[relu(y)^2] = n / 2
            "relu(a @ x)": (relu, (math.sqrt(n / (2 * math.pi)), n / 2)),
            # y ~ N(0, 2): E[relu(y)] = sqrt(2 / (2 pi)) = 1/sqrt(pi), E[relu(y)^2] = 1
            "relu(a*sqrt(2/512) @ x)": (relu_scaled, (1 / math.sqrt(math.pi), 1.0))}


def plot_stds(path, stds):
    """--plot: the std after each layer per matrix (log scale: inf, nan and 0 drop out)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4), layout="tight")
    ax = fig.subplots()
    for name, curve in stds.items():
        ax.plot(range(1, len(curve) + 1), curve, label=name)
    ax.set(yscale="log", xlabel="layer", ylabel="std of x", title="x = a @ x, layer after layer")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="lesson 9: why you need a good init")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the std per layer of each matrix")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    print(f"# x = a @ x, {LAYERS} times, x = randn({N}), a = randn({N}, {N}) * scale: (mean, std)")
    x = torch.randn(N)  # (512,)
    chains = {name: chain(x, a, LAYERS) for name, a in scaled_matrices(N).items()}
    final_stats = {name: (end.mean().item(), end.std().item()) for name, (end, _) in chains.items()}
    for name, (mean, std) in final_stats.items():
        notes = "({:.4f}, {:.4f})".format(*NOTES[name]) if name in NOTES else "-"
        print(f"{name:<15} notes: {notes:<17} ours: ({mean:.4g}, {std:.4g})")
    nan_iter = next((i for i, s in enumerate(chains["x1"][1]) if s != s), None)  # s != s: nan
    print(f"first nan at iteration i = {nan_iter} (0-based)   notes: {NOTES['nan_iter']}   "
          f"estimate: float32 overflows at {FLOAT32_MAX:.3g} = sqrt(512)^"
          f"{math.log(FLOAT32_MAX) / math.log(math.sqrt(N)):.1f}")
    zeros = bool((chains["x0.01"][0] == 0).all())
    print(f"x0.01: every entry exactly 0.0: {zeros}   (0.01*sqrt(512) = {0.01 * math.sqrt(N):.3f}"
          f" per layer, ^{LAYERS} = {(0.01 * math.sqrt(N)) ** LAYERS:.1e}: float32 rounds to 0)")
    print("/sqrt(512): the same matrix 100 times scales x by about |largest eigenvalue|^100, and "
          "that eigenvalue is ~1 (within a few %): std stays at scale, not exactly 1")
    norm_ratio = (chains["orthogonal_"][0].norm() / x.norm()).item()
    spectral_factor = (final_stats["/spectral norm"][1] / x.std().item()) ** (1 / LAYERS)
    print(f"orthogonal_: |x| after / before = {norm_ratio:.6f} (an orthogonal matrix keeps the "
          f"L2 norm); /spectral norm: std x {spectral_factor:.3f} per layer (never overflows, "
          "still vanishes: randn's largest |eigenvalue| is ~half its spectral norm)")

    print("\n# averages over the experiments: (mean, sqr = mean of y^2)")
    experiments = mean_sqr_experiments(N, TRIALS, SCALAR_TRIALS)
    for name, (ours, closed) in experiments.items():
        print(f"{name:<24} notes: ({NOTES[name][0]:.4f}, {NOTES[name][1]:8.4f})  ours: "
              f"({ours[0]:.4f}, {ours[1]:8.4f})  closed form: ({closed[0]:.4f}, {closed[1]:.4f})")
    print(f"magic numbers: 1/sqrt(512) = {1 / math.sqrt(N)} (not far from 0.01, yet "
          f"0.01 vanishes), sqrt(2/512) = {math.sqrt(2 / N):.4f} with a ReLU")
    stds = {name: curve for name, (_, curve) in chains.items()}
    if args.plot:
        plot_stds(args.plot, stds)
    return {"nan_iter": nan_iter, "zeros": zeros, "orthogonal_norm_ratio": norm_ratio,
            "spectral_factor": spectral_factor, "final_stats": final_stats, "stds": stds,
            "experiments": {name: ours for name, (ours, _) in experiments.items()}}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


def png_path(text):
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


if __name__ == "__main__":
    main()
