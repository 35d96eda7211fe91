"""0.1 自动求导 / Autograd: backward twice, retain_graph, zeroing .grad, autograd.grad.

y = x^2, dy/dx = 2x: a second backward() without retain_graph raises (the first freed the graph);
with retain_graph=True the second pass adds to .grad, 2x + 2x (the notes' 8.2 + 8.2, here at
x = 4.1: their screenshot's function is not in the text); .grad is zeroed by hand; and
torch.autograd.grad returns the gradient without touching .grad.

Run:    python scripts/autograd_basics.py   (or: make autograd_basics; --x 3 for another point)
Expect: the caught "Trying to backward through the graph a second time" error, then x.grad =
        tensor(8.2000), tensor(16.4000) after a second backward(), tensor(0.) after zero_().
"""
import argparse
import sys
from pathlib import Path

import torch

X = 4.1  # y = x^2 at 4.1: dy/dx = 8.2, the notes' number


def second_backward_error(x):
    """backward() frees the graph's saved tensors: a second backward() raises. Its first line."""
    y = x ** 2  # pow saves x for its backward: the buffer backward() frees
    y.backward()
    try:
        y.backward()
    except RuntimeError as e:
        return str(e).splitlines()[0]
    raise AssertionError("a second backward() through a freed graph did not raise")


def grad_after_each_step(x):
    """x.grad after each step: {step: x.grad}. Gradients add up until zeroed (zero_grad's job)."""
    y = x ** 2
    y.backward(retain_graph=True)  # keeps the graph for one more pass
    grads = {"backward(retain_graph=True)": x.grad.clone()}  # 2x
    y.backward()  # the last pass may free the graph
    grads["a second backward()"] = x.grad.clone()  # 2x + 2x
    x.grad.zero_()
    grads["x.grad.zero_()"] = x.grad.clone()
    (x ** 2).backward()  # a new graph: 2x again, not added to the old one
    grads["backward() on a new graph"] = x.grad.clone()
    return grads


def main(argv=None):
    parser = argparse.ArgumentParser(description="0.1 autograd: retain_graph, .grad",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--x", type=float, default=X, help="the point x of y = x^2")
    args = parse_flags(parser, argv)
    print(f"y = x ** 2 at x = {args.x:g}, dy/dx = 2x")
    error = second_backward_error(torch.tensor(args.x, requires_grad=True))
    print("second backward() without retain_graph -> RuntimeError:", error)
    grads = grad_after_each_step(torch.tensor(args.x, requires_grad=True))
    print("\n# .grad accumulates (2x, then 2x + 2x) until it is zeroed")
    for step, grad in grads.items():
        print(f"x.grad after {step} =", grad)
    x = torch.tensor(args.x, requires_grad=True)
    grad = torch.autograd.grad(x ** 2, [x])  # returned, not added into x.grad
    print("\ntorch.autograd.grad(y, [x]) =", grad, "| x.grad stays", x.grad)
    return {**{step: g.item() for step, g in grads.items()}, "autograd.grad": grad[0].item(),
            "error": error}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
