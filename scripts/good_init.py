"""why you need a good init? / 为什么需要好的初始化 (scaling的神奇数字, Adding ReLU in the mix).

fast.ai 2019 lesson 9: multiply a vector by the same random 512x512 matrix 100 times, as if through
100 layers: with std-1 weights it overflows to nan, scaled by 0.01 it vanishes to exactly 0, scaled
by 1/sqrt(512) it stays at scale; the notes' other two strategies: an orthogonal matrix keeps |x|
exactly, one divided by its spectral norm cannot overflow but still vanishes (x ~1/2 per layer).
The mean/sqr experiments show why: a sum of 512 unit-variance products has E[y^2] = 512, and
after a ReLU half of it, hence sqrt(2/512) (Kaiming).

Run:    python scripts/good_init.py [--plot std.png]        (or: make good_init)
Expect: nan at iteration ~27 (the notes: 28); exactly 0.0 with x0.01; /sqrt(512) neither (the
        notes: std 0.93); orthogonal |x| ratio 1.0000; sqr ~512, ~1, ReLU mean ~1/pi sqr ~0.5,
        ~256, ~1.0 next to the notes' values and their closed forms.
"""
import argparse
import math
import sys
from pathlib import Path

import torch

N = 512  # the lesson's layer width
LAYERS = 100  # the lesson's "100 layers"
TRIALS = 100  # the lesson's repeats of the 512x512 experiments
SCALAR_TRIALS = 10000  # the lesson's repeats of the one-number experiments
FLOAT32_MAX = torch.finfo(torch.float32).max  # ~3.4e38: where a float32 overflows to inf
# The notes' printed values: (mean, std) after 100 layers, (mean, sqr) of the experiments.
NOTES = {"nan_iter": 28, "x1": (math.nan, math.nan), "x0.01": (0.0, 0.0),
         "/sqrt(512)": (-0.0171, 0.9270), "a @ x": (0.01184942677617073, 516.7942666625977),
         "a * x (scalars)": (0.013266791818584533, 0.9896199178691623),
         "relu(a * x) (scalars)": (0.313308998029304, 0.4902977162997965),
         "relu(a @ x)": (9.005213165283203, 257.3701454162598),
         "relu(a*sqrt(2/512) @ x)": (0.5643280637264252, 1.0055165421962737)}


def chain(x, a, layers):
    """x = a @ x, `layers` times; returns the final x (512,) and the std after each layer."""
    stds = []
    for _ in range(layers):
        x = a @ x  # (512,)
        stds.append(x.std().item())
    return x, stds


def scaled_matrices(n):
    """a = randn(n, n) scaled three ways (the lesson), and the notes' two other strategies: an
    orthogonal matrix (keeps |x|) and a divided by its spectral norm M (|a @ x| <= M |x|)."""
    a = torch.randn(n, n)  # (512, 512)
    return {"x1": a, "x0.01": a * 0.01, "/sqrt(512)": a / math.sqrt(n),
            "orthogonal_": torch.nn.init.orthogonal_(torch.empty(n, n)),
            "/spectral norm": a / torch.linalg.matrix_norm(a, ord=2)}


def first_nan(x, a, layers):
    """The lesson's loop that stops at the first nan: returns its (0-based) iteration."""
    for i in range(layers):
        x = a @ x
        if x.std() != x.std():  # nan is the only value not equal to itself
            return i
    return None


def run_chains(x, matrices, layers):
    """The same x (512,) through each matrix `layers` times: final x, (mean, std), stds."""
    out = {}
    for name, a in matrices.items():
        final, stds = chain(x, a, layers)
        out[name] = {"final": final, "stats": (final.mean().item(), final.std().item()),
                     "stds": stds}
    return out


def mean_sqr_matmul(n, trials):
    """The lesson's three 512x512 experiments, each averaged over `trials` fresh (x, a): (mean,
    sqr) of y = a @ x, of relu(y), and of relu(y) with a scaled by sqrt(2/n).

    One set of draws serves all three (scaling a by c scales y by c) where the lesson drew new
    ones each time: a third of the random numbers, which dominate the run time."""
    sums = torch.zeros(3, 2, dtype=torch.float64)  # (experiment, [mean, sqr])
    for _ in range(trials):
        x, a = torch.randn(n), torch.randn(n, n)  # (512,), (512, 512)
        y = a @ x  # (512,)
        for k, v in enumerate([y, y.clamp(min=0), (y * math.sqrt(2 / n)).clamp(min=0)]):
            sums[k] += torch.stack([v.mean(), v.pow(2).mean()]).double()
    return [tuple(row) for row in (sums / trials).tolist()]


def mean_sqr_scalar(trials, relu=False):
    """The lesson's 10000-iteration loop over single numbers y = a*x, vectorised: one tensor of
    10000 products gives the same averages without 10000 Python-level steps."""
    x, a = torch.randn(trials), torch.randn(trials)  # (10000,) each
    y = a * x
    if relu:
        y = y.clamp(min=0)
    return y.mean().item(), y.pow(2).mean().item()


def run_experiments(n, trials, scalar_trials):
    """(mean, sqr) of each experiment and its closed form for N(0, 1) entries."""
    plain, relu, relu_scaled = mean_sqr_matmul(n, trials)
    return {
        "a @ x": (plain, (0.0, float(n))),  # E[y^2] = a sum of n unit-variance products
        "a * x (scalars)": (mean_sqr_scalar(scalar_trials), (0.0, 1.0)),
        # E[relu(ab)] = E|a| E|b| / 2 = (2/pi) / 2 = 1/pi; E[relu(ab)^2] = E[(ab)^2] / 2 = 1/2
        "relu(a * x) (scalars)": (mean_sqr_scalar(scalar_trials, relu=True), (1 / math.pi, 0.5)),
        # y ~ N(0, n): E[relu(y)] = sqrt(n / (2 pi)), E[relu(y)^2] = n / 2
        "relu(a @ x)": (relu, (math.sqrt(n / (2 * math.pi)), n / 2)),
        # y ~ N(0, 2): E[relu(y)] = sqrt(2 / (2 pi)) = 1/sqrt(pi), E[relu(y)^2] = 1
        "relu(a*sqrt(2/512) @ x)": (relu_scaled, (1 / math.sqrt(math.pi), 1.0)),
    }


def plot_stds(path, chains):
    """--plot: the std after each layer per matrix (log scale: inf, nan and 0 drop out)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4), layout="tight")
    ax = fig.subplots()
    for name, c in chains.items():
        ax.plot(range(1, len(c["stds"]) + 1), c["stds"], label=name)
    ax.set(yscale="log", xlabel="layer", ylabel="std of x",
           title="x = a @ x, 100 times: a = randn(512, 512) scaled, or orthogonal")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="lesson 9: why you need a good init")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=png_path, metavar="FILE.png",
                        help="draw the std per layer of each matrix")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    print(f"# x = a @ x, {LAYERS} times, x = randn({N}), a = randn({N}, {N}) * scale: (mean, std)")
    x = torch.randn(N)  # (512,)
    chains = run_chains(x, scaled_matrices(N), LAYERS)
    for name, c in chains.items():
        notes = "({:.4f}, {:.4f})".format(*NOTES[name]) if name in NOTES else "-"
        print(f"{name:<15} notes: {notes:<17} ours: ({c['stats'][0]:.4g}, {c['stats'][1]:.4g})")
    nan_iter = first_nan(torch.randn(N), torch.randn(N, N), LAYERS)
    print(f"first nan at iteration i = {nan_iter} (0-based)   notes: {NOTES['nan_iter']}   "
          f"estimate: float32 overflows at {FLOAT32_MAX:.3g} = sqrt(512)^"
          f"{math.log(FLOAT32_MAX) / math.log(math.sqrt(N)):.1f}")
    zeros = bool((chains["x0.01"]["final"] == 0).all())
    print(f"x0.01: every entry exactly 0.0: {zeros}   (0.01*sqrt(512) = {0.01 * math.sqrt(N):.3f} "
          f"per layer, ^{LAYERS} = {(0.01 * math.sqrt(N)) ** LAYERS:.1e}: "
          "below float32's smallest)")
    print("/sqrt(512): the same matrix 100 times scales x by about |largest eigenvalue|^100, and "
          "that eigenvalue is ~1 (within a few %): std stays at scale, not exactly 1")
    norm_ratio = (chains["orthogonal_"]["final"].norm() / x.norm()).item()
    spectral_factor = (chains["/spectral norm"]["stats"][1] / x.std().item()) ** (1 / LAYERS)
    print(f"orthogonal_: |x| after / before = {norm_ratio:.6f} (an orthogonal matrix keeps the "
          f"L2 norm); /spectral norm: std x {spectral_factor:.3f} per layer (never overflows, "
          "still vanishes: randn's largest |eigenvalue| is ~half its spectral norm)")

    print("\n# averages over the experiments: (mean, sqr = mean of y^2)")
    experiments = run_experiments(N, TRIALS, SCALAR_TRIALS)
    for name, (ours, closed) in experiments.items():
        print(f"{name:<24} notes: ({NOTES[name][0]:.4f}, {NOTES[name][1]:8.4f})  "
              f"ours: ({ours[0]:.4f}, {ours[1]:8.4f})  "
              f"closed form: ({closed[0]:.4f}, {closed[1]:.4f})")
    print(f"magic numbers: 1/sqrt(512) = {1 / math.sqrt(N)} (not far from 0.01, yet "
          f"0.01 vanishes), sqrt(2/512) = {math.sqrt(2 / N):.4f} with a ReLU")
    if args.plot:
        plot_stds(args.plot, chains)
    return {"nan_iter": nan_iter, "zeros": zeros, "orthogonal_norm_ratio": norm_ratio,
            "spectral_factor": spectral_factor,
            "final_stats": {name: c["stats"] for name, c in chains.items()},
            "stds": {name: c["stds"] for name, c in chains.items()},
            "experiments": {name: ours for name, (ours, _) in experiments.items()}}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


def png_path(text):
    """--plot: a .png in a folder that exists, checked before any work."""
    if not text.lower().endswith(".png") or not Path(text).parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: give FILE.png in a folder that exists")
    return Path(text)


if __name__ == "__main__":
    main()
