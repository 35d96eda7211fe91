"""1.4 参数初始化 / Parameter initialisation.

Initialising the parameters of an nn.Sequential: from numpy (float64, so it is converted to the
layer's float32), for every nn.Linear in a loop, and with torch.nn.init: xavier_uniform_ (bound
√(6/(fan_in+fan_out)), std √(2/(fan_in+fan_out))) and kaiming_normal_ (std √(2/fan_in)), each
compared with its formula on a large layer.

Run:    python scripts/param_init.py        (or: make param_init)
Expect: numpy gives float64; the notes' `.data =` turns the weight into float64 (then a float32
        input fails), copy_ keeps float32 with values in [3, 5) and the bias unchanged; every Linear
        re-drawn from N(0, 0.5²); on an 800 -> 400 layer the empirical stds match the formulas to
        within 0.3% (xavier_uniform_ 0.0408, kaiming_normal_ 0.0500, nn.Linear's default 0.0204).
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

SEED = 0
NET_SIZES = (3, 4, 5, 2)  # net1: its first weight is (4, 3), the shape the notes fill from numpy
UNIFORM_RANGE = (3, 5)  # the notes' np.random.uniform(3, 5, size=(4, 3))
NORMAL_STD = 0.5  # the notes' np.random.normal(0, 0.5, size=param_shape)
FAN_IN, FAN_OUT = 800, 400  # 320k weights: the sample std is within ~0.13% of the true one


def build_net(sizes):
    """Linear -> ReLU -> Linear -> ReLU -> Linear through the given widths."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU on the output


def notes_data_assignment(layer, array):
    """The notes' `weight.data = torch.from_numpy(...)`: the parameter silently becomes float64."""
    layer.weight.data = torch.from_numpy(array)
    try:
        layer(torch.zeros(1, layer.in_features))  # a float32 input, as every dataset gives
        error = None
    except RuntimeError as e:
        error = str(e)
    return layer.weight.dtype, error


def assign_from_numpy(layer, array):
    """copy_ converts numpy's float64 to the parameter's float32; no_grad since it is a leaf."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(array))  # (out, in)


def init_linears_normal(net, rng, std):
    """The notes' loop: every nn.Linear gets N(0, std²) weights drawn by numpy, in layer order."""
    for layer in net:
        if isinstance(layer, nn.Linear):  # ReLU has no parameters to set
            # The notes: paran_shape, torch.form_numpy (typos) and a float64 .data swap.
            assign_from_numpy(layer, rng.normal(0, std, size=tuple(layer.weight.shape)))


def init_stats(fan_in, fan_out):
    """Empirical std (and xavier's max) of each scheme on one (fan_out, fan_in) weight."""
    w = torch.empty(fan_out, fan_in)  # nn.Linear's weight layout: (out, in)
    # The notes: init.xavier_uniform(...), deprecated since 0.4 for the in-place xavier_uniform_.
    nn.init.xavier_uniform_(w)  # U(−a, a), a = √(6/(fan_in+fan_out)), so std = a/√3
    stats = {"xavier_uniform_": (w.std().item(), math.sqrt(2 / (fan_in + fan_out)))}
    xavier_max = w.abs().max().item()
    nn.init.kaiming_normal_(w)  # N(0, 2/fan_in): mode fan_in, gain √2 for ReLU
    stats["kaiming_normal_"] = (w.std().item(), math.sqrt(2 / fan_in))
    layer = nn.Linear(fan_in, fan_out)  # default: kaiming_uniform_(a=√5) = U(±1/√fan_in)
    stats["nn.Linear default"] = (layer.weight.std().item(), 1 / math.sqrt(3 * fan_in))
    return stats, xavier_max, math.sqrt(6 / (fan_in + fan_out))


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="1.4 parameter initialisation")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)  # a seeded numpy generator, not the global np.random

    net1 = build_net(NET_SIZES)
    print(f"net1:\n{net1}")
    array = rng.uniform(*UNIFORM_RANGE, size=tuple(net1[0].weight.shape))  # (4, 3)
    print("np.random.uniform(3, 5, size=(4, 3)).dtype:", array.dtype)
    dtype, error = notes_data_assignment(build_net(NET_SIZES)[0], array)
    print(f"the notes' weight.data = torch.from_numpy(...): weight dtype {dtype}; "
          f"forward on float32 -> RuntimeError: {error}")
    bias_before = net1[0].bias.detach().clone()
    assign_from_numpy(net1[0], array)
    print(f"with weight.copy_(...): dtype {net1[0].weight.dtype}")
    print(f"net1[0].weight: {net1[0].weight}")
    print("net1[0].bias unchanged:", torch.equal(net1[0].bias, bias_before))

    init_linears_normal(net1, rng, NORMAL_STD)
    print(f"\nafter the loop, Linear weight stds (drawn from N(0, {NORMAL_STD}²)):",
          [round(m.weight.std().item(), 3) for m in net1 if isinstance(m, nn.Linear)])

    stats, xavier_max, bound = init_stats(FAN_IN, FAN_OUT)
    print(f"\n{FAN_IN} -> {FAN_OUT} weight   empirical std   formula")
    for name, (empirical, formula) in stats.items():
        print(f"{name:<20} {empirical:14.5f} {formula:9.5f}")
    print(f"xavier_uniform_ max |w| {xavier_max:.5f} <= bound √(6/(fan_in+fan_out)) = {bound:.5f}")
    return {"notes_dtype": dtype, "stats": stats, "xavier_max": xavier_max}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
