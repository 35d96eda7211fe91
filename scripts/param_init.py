"""1.4 参数初始化 / Parameter initialisation.

An nn.Sequential's parameters set from numpy (float64, converted to the layer's float32), for
every nn.Linear in a loop, and with torch.nn.init: xavier_uniform_ (bound √(6/(fan_in+fan_out)),
std √(2/(fan_in+fan_out))) and kaiming_normal_ (std √(2/fan_in)), each against its formula.

Run:    python scripts/param_init.py        (or: make param_init)
Expect: the notes' `.data =` makes the weight float64 (a float32 input fails), copy_ keeps float32,
        values in [3, 5), the bias unchanged; every Linear re-drawn from N(0, 0.5²); 800 -> 400 stds
        within 0.3% of the formulas (xavier 0.0408, kaiming 0.0500, nn.Linear's default 0.0204).
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

UNIFORM_RANGE, NORMAL_STD = (3, 5), 0.5  # the notes' np.random.uniform(3, 5), .normal(0, 0.5)
FAN_IN, FAN_OUT = 800, 400  # 320k weights: the sample std is within ~0.13% of the true one


def notes_data_assignment(layer, array):
    """The notes' `weight.data = torch.from_numpy(...)`: the parameter silently becomes float64,
    and a float32 input (as every dataset gives) then fails. Returns (its dtype, the error)."""
    layer.weight.data = torch.from_numpy(array)
    try:
        layer(torch.zeros(1, layer.in_features))
    except RuntimeError as e:
        return layer.weight.dtype, str(e)
    return layer.weight.dtype, None


def assign_from_numpy(layer, array):
    """copy_ converts numpy's float64 to the parameter's float32; no_grad since it is a leaf."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(array))  # (out, in)


def init_linears_normal(net, rng, std):
    """The notes' loop (paran_shape, torch.form_numpy: typos): N(0, std²) for every nn.Linear."""
    for layer in net:
        if isinstance(layer, nn.Linear):  # ReLU has no parameters to set
            assign_from_numpy(layer, rng.normal(0, std, size=tuple(layer.weight.shape)))


def init_stats(fan_in, fan_out):
    """{scheme: (empirical std, formula)} on (fan_out, fan_in) weights, and xavier's max |w|."""
    # The notes: init.xavier_uniform(...), deprecated since 0.4 for the in-place xavier_uniform_.
    xavier = nn.init.xavier_uniform_(torch.empty(fan_out, fan_in))  # U(−a, a), std a/√3
    kaiming = nn.init.kaiming_normal_(torch.empty(fan_out, fan_in))  # N(0, 2/fan_in): gain √2
    default = nn.Linear(fan_in, fan_out).weight  # kaiming_uniform_(a=√5) = U(±1/√fan_in)
    stats = {"xavier_uniform_": (xavier.std().item(), math.sqrt(2 / (fan_in + fan_out))),
             "kaiming_normal_": (kaiming.std().item(), math.sqrt(2 / fan_in)),
             "nn.Linear default": (default.std().item(), 1 / math.sqrt(3 * fan_in))}
    return stats, xavier.abs().max().item()


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.4 parameter initialisation")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)  # a seeded numpy generator, not the global np.random
    net1 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    array = rng.uniform(*UNIFORM_RANGE, size=tuple(net1[0].weight.shape))  # (4, 3)
    dtype, error = notes_data_assignment(nn.Linear(3, 4), array)
    print(f"net1:\n{net1}\nnp.random.uniform(3, 5, size=(4, 3)).dtype: {array.dtype}\n"
          f"the notes' weight.data = torch.from_numpy(...): weight dtype {dtype}; "
          f"forward on float32 -> RuntimeError: {error}")
    bias_before = net1[0].bias.detach().clone()
    assign_from_numpy(net1[0], array)
    print(f"with weight.copy_(...): dtype {net1[0].weight.dtype}\nnet1[0].weight: "
          f"{net1[0].weight}\nnet1[0].bias unchanged: {torch.equal(net1[0].bias, bias_before)}")
    init_linears_normal(net1, rng, NORMAL_STD)
    print(f"\nafter the loop, Linear weight stds (drawn from N(0, {NORMAL_STD}²)):",
          [round(m.weight.std().item(), 3) for m in net1 if isinstance(m, nn.Linear)])
    stats, xavier_max = init_stats(FAN_IN, FAN_OUT)
    print(f"\n{FAN_IN} -> {FAN_OUT} weight   empirical std   formula\n" + "\n".join(
        f"{name:<20} {std:14.5f} {formula:9.5f}" for name, (std, formula) in stats.items()))
    print(f"xavier_uniform_ max |w| {xavier_max:.5f} <= bound √(6/(fan_in+fan_out)) = "
          f"{math.sqrt(6 / (FAN_IN + FAN_OUT)):.5f}")
    return {"notes_dtype": dtype, "stats": stats, "xavier_max": xavier_max}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
