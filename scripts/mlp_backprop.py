"""LS21.多层感知机 / Backpropagation in a multi-layer perceptron, by hand (the delta rule).

The notes' delta rule (delta_k, delta_j, dE/dW_ij = O_i delta_j) applied layer by layer to a
sigmoid MLP with E = 1/2 sum_k (O_k - t_k)^2 gives autograd's gradients (float64); a step lowers E.

Run:    python scripts/mlp_backprop.py   (or: make mlp_backprop)
Expect: "max |delta rule - autograd| = ..." ~1e-17 for each W, b of a 4-5-3 net; E 0.5227 -> 0.4323

Try:    --sizes 4 6 5 3   two hidden layers: dE/dW3 and dE/db3 too, each ~1e-17 from autograd
        --lr 20           a step too long: E rises (0.5227 -> 0.7070); the gradient is only local
"""
import argparse
import sys
from pathlib import Path

import torch

SIZES = [4, 5, 3]  # input, hidden, output nodes: at least one hidden layer, small enough to read
SAMPLES = 4  # a few samples at once: E sums over them, the delta rule becomes matrix products
LR = 0.5  # one SGD step this size lowers E on this small net
TOLERANCE = 1e-10  # float64: the two routes agree up to rounding (~1e-16)
SEED = 0


def init_params(sizes):
    """[(W, b)] per layer, float64 leaves: W (n_in, n_out) so that W[i, j] is the notes' W_ij."""
    return [(torch.randn(n_in, n_out, dtype=torch.float64).requires_grad_(),
             torch.randn(n_out, dtype=torch.float64).requires_grad_())
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def forward(x, params):
    """Every layer's output [O^0 = x, O^1, ..., O^L], each (N, n_l): the delta rule uses all."""
    outputs = [x]
    for w, b in params:
        outputs.append(torch.sigmoid(outputs[-1] @ w + b))  # x_j = sum_i O_i W_ij + b_j
    return outputs


def error(o, t):
    """The notes' E = 1/2 sum_k (O_k - t_k)^2, summed over the samples too."""
    return 0.5 * ((o - t) ** 2).sum()


def delta_rule(x, params, t):
    """[(dE/dW, dE/db)] per layer by the notes' delta rule, from the output layer backwards."""
    grads = []
    with torch.no_grad():  # the hand route uses no autograd at all
        *inputs, o = forward(x, params)  # the O_i feeding each layer, (N, n_in); the output O_k
        delta = o * (1 - o) * (o - t)  # (N, K): delta_k = O_k(1 - O_k)(O_k - t_k)
        for (w, _), o_in in zip(params[::-1], inputs[::-1]):
            # dE/dW_ij = O_i delta_j summed over samples; a bias is a weight from a node always at 1
            grads.insert(0, (o_in.t() @ delta, delta.sum(dim=0)))  # (n_in, n_out), (n_out,)
            delta = o_in * (1 - o_in) * (delta @ w.t())  # delta_j = O_j(1-O_j) sum_k delta_k W_jk
    return grads


def autograd_grads(x, params, t):
    """[(dE/dW, dE/db)] per layer from torch.autograd.grad of the same E."""
    flat = torch.autograd.grad(error(forward(x, params)[-1], t), [p for wb in params for p in wb])
    return list(zip(flat[0::2], flat[1::2]))


def show_delta_rule_vs_autograd(x, params, t):
    """dE/dW, dE/db of every layer by the delta rule and by autograd: prints the largest gap of
    each, returns the delta-rule gradients and the largest gap of all."""
    print(f"== 总结 / the delta rule dE/dW_ij = O_i delta_j vs autograd ==\n"
          f"sizes {[x.shape[1]] + [w.shape[1] for w, _ in params]}, {len(x)} samples, float64")
    manual, gaps = delta_rule(x, params, t), []
    for i, (mine, auto) in enumerate(zip(manual, autograd_grads(x, params, t)), start=1):
        for name, m, a in zip((f"W{i}", f"b{i}"), mine, auto):
            gaps.append((m - a).abs().max().item())
            print(f"dE/d{name} {tuple(m.shape)}: max |delta rule - autograd| = {gaps[-1]:.1e}")
    return manual, max(gaps)


def sgd_step(params, grads, lr):
    """p <- p - lr * dE/dp, in place on the leaves: under no_grad so autograd does not record it."""
    with torch.no_grad():
        for layer, layer_grads in zip(params, grads):
            for p, g in zip(layer, layer_grads):
                p -= lr * g


def show_sgd_step(x, params, t, grads, lr):
    """E before and after one SGD step with the given gradients: both returned."""
    print("\n== LS21.多层感知机: one SGD step with the delta-rule gradients ==")
    e_before = error(forward(x, params)[-1], t).item()
    sgd_step(params, grads, lr)
    e_after = error(forward(x, params)[-1], t).item()
    print(f"E = {e_before:.4f} before, {e_after:.4f} after one SGD step (lr {lr:g}) with the "
          "delta-rule gradients")
    return e_before, e_after


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS21: MLP backprop by the delta rule vs autograd",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES,
                        help="nodes per layer, input to output")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="summed into E")
    parser.add_argument("--lr", type=positive_float, default=LR, help="of the one SGD step")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    if len(args.sizes) < 3 or min(args.sizes + [args.samples]) < 1:
        parser.error("--sizes needs 3+ positive numbers (input, hidden..., output), --samples 1+")
    torch.manual_seed(args.seed)
    params = init_params(args.sizes)
    x = torch.randn(args.samples, args.sizes[0], dtype=torch.float64)  # (N, n_0)
    t = torch.rand(args.samples, args.sizes[-1], dtype=torch.float64)  # (N, K) targets in (0, 1)
    manual, max_gap = show_delta_rule_vs_autograd(x, params, t)
    if max_gap > TOLERANCE:  # the script checks itself: a wrong delta rule fails loudly
        raise SystemExit(f"error: the delta rule is off by {max_gap:.1e} > {TOLERANCE:g}")
    e_before, e_after = show_sgd_step(x, params, t, manual, args.lr)
    return {"max_gap": max_gap, "E_before": e_before, "E_after": e_after}


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


if __name__ == "__main__":
    main()
