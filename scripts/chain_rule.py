"""LS20.引入链式法则 / The chain rule.

Two linear steps y1 = x*w1 + b1, y2 = y1*w2 + b2: autograd's dy2/dy1 times dy1/dw1 equals its
dy2/dw1 directly, and both equal the closed form w2*x.

Run:    python scripts/chain_rule.py   (or: make chain_rule)
Expect: "dy2/dy1 * dy1/dw1 = tensor(2.)" and "dy2/dw1 = tensor(2.)", the notes' tensor(2.) twice
        (x = 1, w1 = 2, b1 = 1, w2 = 2, b2 = 1).
"""
import argparse
import sys
from pathlib import Path

import torch

X, W1, B1, W2, B2 = 1.0, 2.0, 1.0, 2.0, 1.0  # the notes' values: y1 = 3, y2 = 7


def chain_rule_grads(x, w1, b1, w2, b2):
    """dy2/dy1, dy1/dw1 and dy2/dw1 from autograd.grad, keeping the graph between the calls."""
    w1, w2 = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    y1 = x * w1 + b1
    y2 = y1 * w2 + b2
    # retain_graph: each autograd.grad would otherwise free the graph the next call needs
    dy2_dy1 = torch.autograd.grad(y2, [y1], retain_graph=True)[0]  # = w2
    dy1_dw1 = torch.autograd.grad(y1, [w1], retain_graph=True)[0]  # = x
    dy2_dw1 = torch.autograd.grad(y2, [w1], retain_graph=True)[0]  # = w2 * x
    return dy2_dy1, dy1_dw1, dy2_dw1


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS20: the chain rule with autograd.grad")
    for name, value in (("x", X), ("w1", W1), ("b1", B1), ("w2", W2), ("b2", B2)):
        parser.add_argument(f"--{name}", type=float, default=value)
    args = parse_flags(parser, argv)

    values = (torch.tensor(v) for v in (args.x, args.w1, args.b1, args.w2, args.b2))
    dy2_dy1, dy1_dw1, dy2_dw1 = chain_rule_grads(*values)
    print("dy2/dy1 * dy1/dw1 =", dy2_dy1 * dy1_dw1)  # the chain rule, one link at a time
    print("dy2/dw1 =", dy2_dw1)  # straight from autograd: the same
    print(f"closed form w2 * x = {args.w2 * args.x:g}")
    return {"product": (dy2_dy1 * dy1_dw1).item(), "dy2_dw1": dy2_dw1.item()}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
