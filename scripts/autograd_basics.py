"""0.1 自动求导 / Autograd: backward twice, retain_graph, zeroing .grad, autograd.grad.

With y = x^2 at x = 4.1 (dy/dx = 2x = 8.2): a second backward() without retain_graph raises,
because the graph is freed after the first; with retain_graph=True the second pass adds to .grad,
8.2 + 8.2 = 16.4 as in the notes; .grad is zeroed by hand; torch.autograd.grad returns the gradient
without touching .grad; and only floating-point tensors can require gradients.

Run:    python scripts/autograd_basics.py   (or: make autograd_basics)
Expect: the caught "Trying to backward through the graph a second time" error, tensor(8.2000) then
        tensor(16.4000), tensor(0.) after zeroing, (tensor(8.2000),) from autograd.grad with .grad
        left None, and the integer-dtype error; well under a second after imports.
"""
import argparse

import torch

X = 4.1  # y = x^2 at 4.1: dy/dx = 8.2, the notes' number (their screenshot's graph is not shown)


def square(x):
    """y = x^2: pow saves x for its backward, so the graph holds a buffer that backward frees."""
    return x ** 2


def backward_twice_without_retain(x0):
    """The second backward() on a freed graph: the error message (its first line)."""
    x = torch.tensor(x0, requires_grad=True)
    y = square(x)
    y.backward()  # frees the saved x
    try:
        y.backward()
    except RuntimeError as e:
        return x.grad.clone(), str(e).splitlines()[0]
    raise AssertionError("a second backward() through a freed graph did not raise")


def backward_twice_with_retain(x0):
    """retain_graph=True on the first pass keeps the graph: the second pass adds to .grad."""
    x = torch.tensor(x0, requires_grad=True)
    y = square(x)
    y.backward(retain_graph=True)  # keep the graph for one more pass
    first = x.grad.clone()  # 2x
    y.backward()  # the last pass may free it; gradients accumulate: 2x + 2x
    return x, first, x.grad.clone()


def zero_grad(x):
    """Gradients accumulate, so reset them between steps (what optimizer.zero_grad() does)."""
    x.grad.zero_()
    zeroed = x.grad.clone()
    square(x).backward()  # a fresh graph, a fresh gradient: 2x again
    return zeroed, x.grad.clone()


def grad_without_touching_dot_grad(x0):
    """torch.autograd.grad returns the gradients instead of adding them into .grad."""
    x = torch.tensor(x0, requires_grad=True)
    grads = torch.autograd.grad(square(x), [x])
    return grads, x.grad  # (2x,), None


def integer_requires_grad_error():
    """The notes: 现在Tensor要求导必须是 floating point dtype. An integer tensor raises."""
    try:
        torch.tensor(4).requires_grad_()
    except RuntimeError as e:
        return str(e)
    raise AssertionError("an integer tensor accepted requires_grad")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="0.1 autograd: retain_graph, .grad")
    parser.add_argument("--x", type=float, default=X, help="the point x of y = x^2")
    args = parser.parse_args(argv)

    print("# y = x ** 2, x =", args.x)
    first_grad, error = backward_twice_without_retain(args.x)
    print("first backward():", first_grad)
    print("second backward() without retain_graph -> RuntimeError:", error)

    x, first, second = backward_twice_with_retain(args.x)
    print("\nbackward(retain_graph=True):", first)
    print("backward() again, accumulated:", second)  # 8.2 + 8.2 in the notes

    zeroed, fresh = zero_grad(x)
    print("\nx.grad.zero_():", zeroed)
    print("backward() on a new graph:", fresh)

    grads, dot_grad = grad_without_touching_dot_grad(args.x)
    print("\ntorch.autograd.grad(y, [x]):", grads)
    print("x.grad afterwards:", dot_grad)

    int_error = integer_requires_grad_error()
    print("\ntorch.tensor(4).requires_grad_() -> RuntimeError:", int_error)
    return {"x": args.x, "first_grad": first_grad, "error": error, "first": first,
            "second": second, "zeroed": zeroed, "fresh": fresh, "grads": grads,
            "dot_grad": dot_grad, "int_error": int_error}


if __name__ == "__main__":
    main()
