"""1.4 参数初始化 / Parameter initialisation.

An nn.Sequential's parameters set from numpy (float64, converted to the layer's float32), for
every nn.Linear in a loop, and with torch.nn.init: xavier_uniform_ (bound √(6/(fan_in+fan_out)),
std √(2/(fan_in+fan_out))) and kaiming_normal_ (std √(2/fan_in)), each against its formula.

Run:    python scripts/param_init.py        (or: make param_init)
Expect: the self-notes' `.data =` makes the weight float64 (a float32 input fails), copy_ keeps
        float32, values in [3, 5), the bias unchanged; every Linear re-drawn from N(0, 0.5²);
        800 -> 400 stds within 0.3% of the formulas (xavier 0.0408, kaiming 0.0500, nn.Linear's
        default 0.0204).
Try:    --fan-in 200   kaiming 0.1000, xavier 0.0577, nn.Linear's default 0.0408: the stds grow
                       as fan_in shrinks, each still on its formula
"""
import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

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


def set_first_weight(net, array):
    """The notes' first-layer assignment both ways: `.data =` on a fresh layer like net[0], then
    copy_ into net[0] itself. Prints what each leaves; returns (`.data =`'s dtype, its error)."""
    dtype, error = notes_data_assignment(nn.Linear(net[0].in_features, net[0].out_features), array)
    print(f"== 从numpy赋值来初始化参数 / a weight set from numpy ==\nnet1:\n{net}\n"
          f"np.random.uniform(3, 5, size={array.shape}).dtype: {array.dtype}\n"
          f"the notes' weight.data = torch.from_numpy(...): weight dtype {dtype}; "
          f"forward on float32 -> RuntimeError: {error}")
    bias_before = net[0].bias.detach().clone()
    assign_from_numpy(net[0], array)
    print(f"with weight.copy_(...): dtype {net[0].weight.dtype}\nnet1[0].weight: "
          f"{net[0].weight}\nnet1[0].bias unchanged: {torch.equal(net[0].bias, bias_before)}")
    return dtype, error


def init_linears_normal(net, rng, std):
    """The notes' loop (paran_shape, torch.form_numpy: typos): N(0, std²) for every nn.Linear."""
    for layer in net:
        if isinstance(layer, nn.Linear):  # ReLU has no parameters to set
            assign_from_numpy(layer, rng.normal(0, std, size=tuple(layer.weight.shape)))
    stds = [round(m.weight.std().item(), 3) for m in net if isinstance(m, nn.Linear)]
    print(f"\n== 对每一个层都初始化，使用循环 / every nn.Linear in a loop ==\n"
          f"after the loop, Linear weight stds (drawn from N(0, {std}²)): {stds}")
    return stds


class InitStd(NamedTuple):
    """One initialisation's weight std, measured and by its formula."""
    name: str
    empirical: float
    formula: float


def init_stats(fan_in, fan_out):
    """[InitStd] on (fan_out, fan_in) weights, and xavier's max |w|, printed as a table."""
    # The notes: init.xavier_uniform(...), deprecated since 0.4 for the in-place xavier_uniform_.
    xavier = nn.init.xavier_uniform_(torch.empty(fan_out, fan_in))  # U(−a, a), std a/√3
    kaiming = nn.init.kaiming_normal_(torch.empty(fan_out, fan_in))  # N(0, 2/fan_in): gain √2
    default = nn.Linear(fan_in, fan_out).weight  # kaiming_uniform_(a=√5) = U(±1/√fan_in)
    rows = [InitStd("xavier_uniform_", xavier.std().item(), math.sqrt(2 / (fan_in + fan_out))),
            InitStd("kaiming_normal_", kaiming.std().item(), math.sqrt(2 / fan_in)),
            InitStd("nn.Linear default", default.std().item(), 1 / math.sqrt(3 * fan_in))]
    xavier_max = xavier.abs().max().item()
    print(f"\n== torch.nn.init / xavier_uniform_, kaiming_normal_ against their formulas ==\n"
          f"{fan_in} -> {fan_out} weight   empirical std   formula\n" + "\n".join(
              f"{r.name:<20} {r.empirical:14.5f} {r.formula:9.5f}" for r in rows) +
          f"\nxavier_uniform_ max |w| {xavier_max:.5f} <= bound √(6/(fan_in+fan_out)) = "
          f"{math.sqrt(6 / (fan_in + fan_out)):.5f}")
    return rows, xavier_max


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.4 parameter initialisation")
    parser.add_argument("--fan-in", type=positive_int, default=FAN_IN, help="inputs of the measured layer")
    parser.add_argument("--fan-out", type=positive_int, default=FAN_OUT, help="its outputs")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)  # a seeded numpy generator, not the global np.random
    net1 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    array = rng.uniform(*UNIFORM_RANGE, size=tuple(net1[0].weight.shape))  # (4, 3)
    dtype, _ = set_first_weight(net1, array)
    init_linears_normal(net1, rng, NORMAL_STD)
    init_stds, xavier_max = init_stats(args.fan_in, args.fan_out)
    return {"notes_dtype": dtype, "init_stds": init_stds, "xavier_max": xavier_max}


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
