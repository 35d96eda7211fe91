"""0.1 自动求导 / Autograd: backward twice, retain_graph, zeroing .grad, autograd.grad.

y = x^2, dy/dx = 2x: a second backward() without retain_graph raises (the first freed the graph);
with retain_graph=True the second pass adds to .grad, 2x + 2x (the self-notes' 8.2 + 8.2, here at
x = 4.1: their screenshot's function is not in the text); .grad is zeroed by hand; and
torch.autograd.grad returns the gradient without touching .grad.

Run:    python scripts/autograd_basics.py   (or: make autograd_basics)
Expect: the caught "Trying to backward through the graph a second time" error, then x.grad =
        tensor(8.2000), tensor(16.4000) after a second backward(), tensor(0.) after zero_().
Try:    --x 3   x.grad = tensor(6.), then tensor(12.) after a second backward(): 2x, then
                2x + 2x; tensor(0.) after zero_(), tensor(6.) again on a new graph
"""
import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import torch

X = 4.1  # y = x^2 at 4.1: dy/dx = 8.2, the notes' number


class GradSteps(NamedTuple):
    """x.grad after each step of grad_after_each_step."""
    retained: torch.Tensor  # backward(retain_graph=True): 2x
    accumulated: torch.Tensor  # a second backward() on the same graph: 2x + 2x
    zeroed: torch.Tensor  # x.grad.zero_(): 0
    new_graph: torch.Tensor  # backward() on a new graph after zeroing: 2x


def second_backward_error(x):
    """backward() frees the graph's saved tensors: a second backward() raises. Its first line."""
    y = x ** 2  # pow saves x for its backward: the buffer backward() frees
    y.backward()
    try:
        y.backward()
    except RuntimeError as e:
        error = str(e).splitlines()[0]
    else:
        raise AssertionError("a second backward() through a freed graph did not raise")
    print(f"== 多次自动求导 / backward twice ==\ny = x ** 2 at x = {x.item():g}, dy/dx = 2x\n"
          f"second backward() without retain_graph -> RuntimeError: {error}")
    return error


def grad_after_each_step(x):
    """x.grad after each step (GradSteps). Gradients add up until zeroed (zero_grad's job)."""
    y = x ** 2
    y.backward(retain_graph=True)  # keeps the graph for one more pass
    retained = x.grad.clone()  # 2x
    y.backward()  # the last pass may free the graph
    accumulated = x.grad.clone()  # 2x + 2x
    x.grad.zero_()
    zeroed = x.grad.clone()
    (x ** 2).backward()  # a new graph: 2x again, not added to the old one
    steps = GradSteps(retained, accumulated, zeroed, x.grad.clone())
    print(f"\n== 梯度变为两次梯度的和 / .grad accumulates (2x, then 2x + 2x) until it is zeroed ==\n"
          f"x.grad after backward(retain_graph=True) = {steps.retained!r}\n"
          f"x.grad after a second backward() = {steps.accumulated!r}\n"
          f"x.grad after x.grad.zero_() = {steps.zeroed!r}\n"
          f"x.grad after backward() on a new graph = {steps.new_graph!r}")
    return steps


def autograd_grad(x):
    """torch.autograd.grad(y, [x]) returns dy/dx and leaves x.grad as it was (None here)."""
    (grad,) = torch.autograd.grad(x ** 2, [x])  # returned, not added into x.grad
    print(f"\n== 自动求导 / torch.autograd.grad returns the gradient, .grad untouched ==\n"
          f"torch.autograd.grad(y, [x]) = ({grad!r},) | x.grad stays {x.grad}")
    return grad


def main(argv=None):
    parser = argparse.ArgumentParser(description="0.1 autograd: retain_graph, .grad",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--x", type=float, default=X, help="the point x of y = x^2")
    args = parse_flags(parser, argv)
    error = second_backward_error(torch.tensor(args.x, requires_grad=True))
    steps = grad_after_each_step(torch.tensor(args.x, requires_grad=True))
    grad = autograd_grad(torch.tensor(args.x, requires_grad=True))
    return {"grad": steps.retained.item(), "grad_twice": steps.accumulated.item(),
            "grad_zeroed": steps.zeroed.item(), "grad_new_graph": steps.new_graph.item(),
            "autograd_grad": grad.item(), "error": error}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
