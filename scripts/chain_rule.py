"""LS20.引入链式法则 / The chain rule, by autograd.grad on y1 = x*w1 + b1, y2 = y1*w2 + b2.

Run:    python scripts/chain_rule.py   (or: make chain_rule)
Expect: the notes' tensor(2.) twice: dy2/dy1 * dy1/dw1 = dy2/dw1, both the closed form w2*x.

Try:    --x 3 --w2 -1.5   tensor(-4.5000) twice: the chain still equals dy2/dw1 = w2 * x = -4.5
"""
import argparse
import sys
from pathlib import Path

import torch

X, W1, B1, W2, B2 = 1.0, 2.0, 1.0, 2.0, 1.0  # the notes': y1 = 3, y2 = 7


def chain_rule(x, w1, b1, w2, b2):
    """The notes' three autograd.grad calls, printed; w1 and w2 require grad, as in the notes.
    Returns dy2/dy1, dy1/dw1 and dy2/dw1."""
    print("== LS20.引入链式法则: y1 = x * w1 + b1, y2 = y1 * w2 + b2 ==")
    y1 = x * w1 + b1
    y2 = y1 * w2 + b2
    dy2_dy1 = torch.autograd.grad(y2, [y1], retain_graph=True)[0]  # = w2; graph kept for the next
    dy1_dw1 = torch.autograd.grad(y1, [w1], retain_graph=True)[0]  # = x
    dy2_dw1 = torch.autograd.grad(y2, [w1])[0]  # = w2 * x; the last call may free the graph
    print("dy2/dy1 * dy1/dw1 =", dy2_dy1 * dy1_dw1)  # the chain rule, one link at a time
    print("dy2/dw1 =", dy2_dw1, f"(closed form w2 * x = {(w2 * x).item():g})")
    return dy2_dy1, dy1_dw1, dy2_dw1


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS20: the chain rule with autograd.grad",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--x", type=float, default=X)
    parser.add_argument("--w1", type=float, default=W1)
    parser.add_argument("--b1", type=float, default=B1)
    parser.add_argument("--w2", type=float, default=W2)
    parser.add_argument("--b2", type=float, default=B2)
    args = parse_flags(parser, argv)
    w1, w2 = torch.tensor(args.w1, requires_grad=True), torch.tensor(args.w2, requires_grad=True)
    dy2_dy1, dy1_dw1, dy2_dw1 = chain_rule(torch.tensor(args.x), w1, torch.tensor(args.b1), w2,
                                           torch.tensor(args.b2))
    return {"dy2_dy1": dy2_dy1.item(), "dy1_dw1": dy1_dw1.item(), "dy2_dw1": dy2_dw1.item()}

# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
