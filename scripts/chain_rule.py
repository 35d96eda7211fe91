"""LS20.引入链式法则 / The chain rule, by autograd.grad on y1 = x*w1 + b1, y2 = y1*w2 + b2.

Run:    python scripts/chain_rule.py   (or: make chain_rule; --x 3 --w2 -1.5 for other values)
Expect: the notes' tensor(2.) twice: dy2/dy1 * dy1/dw1 = dy2/dw1, both the closed form w2*x.
"""
import argparse
import sys
from pathlib import Path

import torch

VALUES = {"x": 1.0, "w1": 2.0, "b1": 1.0, "w2": 2.0, "b2": 1.0}  # the notes': y1 = 3, y2 = 7


def chain_rule(x, w1, b1, w2, b2):
    """The notes' three autograd.grad calls, printed; w1 and w2 require grad, as in the notes."""
    y1 = x * w1 + b1
    y2 = y1 * w2 + b2
    dy2_dy1 = torch.autograd.grad(y2, [y1], retain_graph=True)[0]  # = w2; graph kept for the next
    dy1_dw1 = torch.autograd.grad(y1, [w1], retain_graph=True)[0]  # = x
    dy2_dw1 = torch.autograd.grad(y2, [w1])[0]  # = w2 * x; the last call may free the graph
    print("dy2/dy1 * dy1/dw1 =", dy2_dy1 * dy1_dw1)  # the chain rule, one link at a time
    print("dy2/dw1 =", dy2_dw1, f"(closed form w2 * x = {(w2 * x).item():g})")
    return {"dy2/dy1": dy2_dy1, "dy1/dw1": dy1_dw1, "dy2/dw1": dy2_dw1}


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS20: the chain rule with autograd.grad",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for name, value in VALUES.items():
        parser.add_argument(f"--{name}", type=float, default=value)
    args = parse_flags(parser, argv)
    leaves = [torch.tensor(vars(args)[n], requires_grad=n in ("w1", "w2")) for n in VALUES]
    return {name: grad.item() for name, grad in chain_rule(*leaves).items()}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
