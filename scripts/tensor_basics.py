"""0.0 Tensor / Tensor basics (PyTorch ≥ 0.4, where Tensor and Variable merged).

The notes' tour: the attributes .size(), .item(), .grad, .data; max and sum along a dim;
unsqueeze/squeeze; permute/transpose/view; in-place ops ending in _; the numpy round trip (shared
memory); and that requires_grad needs a floating dtype.

Run:    python scripts/tensor_basics.py        (or: make tensor_basics)
Expect: the notes' lines with the shapes of their comments, "x = x.permute(1, 0, 2)  #
        torch.Size([4, 3, 5])", then [5, 3, 4] after x.transpose(0, 2), [12, 5] after
        x.view(-1, 5), [3, 20] after x.view(3, 20).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

SEED = 0  # the printed random x is the same on every run


def attributes(w, x):
    """y = sum(w * x): y.item() is a Python float; w.grad is None until backward() fills it."""
    y = (w * x).sum()  # 0-dim, with a grad_fn
    grad_before = w.grad
    y.backward()  # w.grad = dy/dw = x
    return y.item(), grad_before, w.grad


def reduce_rows(x):
    """(3, 4): torch.max along dim 1 gives (values, indices), one per row; torch.sum drops dim 1."""
    max_value, max_idx = torch.max(x, dim=1)  # (3,) each
    return max_value, max_idx, torch.sum(x, dim=1)  # (3,), (3,), (3,)


def add_and_drop_dims(x):
    """(3, 4): unsqueeze(d) inserts a size-1 dim at d, squeeze(d) removes it, squeeze() all."""
    x1 = x.unsqueeze(0)  # (1, 3, 4): a new first dim
    x2 = x1.unsqueeze(1)  # (1, 1, 3, 4): a new second dim
    x3 = x2.squeeze(0)  # (1, 3, 4)
    x4 = x3.squeeze()  # (3, 4): every size-1 dim gone
    return {"x = x.unsqueeze(0)": x1.shape, "x = x.unsqueeze(1)": x2.shape,
            "x = x.squeeze(0)": x3.shape, "x = x.squeeze()": x4.shape}


def reorder_dims(x):
    """(3, 4, 5): permute reorders every dim, transpose swaps two."""
    x1 = x.permute(1, 0, 2)  # (4, 3, 5)
    x2 = x1.transpose(0, 2)  # (5, 3, 4)
    # x2.view(-1, 5) would raise: view needs contiguous memory, which permute/transpose give up
    return {"x = x.permute(1, 0, 2)": x1.shape, "x = x.transpose(0, 2)": x2.shape,
            "x.reshape(-1, 5) [view fails]": x2.reshape(-1, 5).shape}  # reshape copies when it must


def reshape_with_view(x):
    """(3, 4, 5): view reshapes contiguous memory without copying; -1 is inferred from the rest."""
    x1 = x.view(-1, 5)  # (12, 5)
    return {"x = x.view(-1, 5)": x1.shape, "x = x.view(3, 20)": x1.view(3, 20).shape}


def inplace_ops(x):
    """A trailing underscore changes x itself (same storage, no new tensor): (3, 4) -> (3, 1, 4)."""
    ptr = x.data_ptr()
    x.unsqueeze_(0)  # (1, 3, 4)
    x.transpose_(1, 0)  # (3, 1, 4)
    return x.shape, x.data_ptr() == ptr


def integer_requires_grad_error():
    """The notes: 现在Tensor要求导必须是 floating point dtype. An integer tensor refuses."""
    try:
        torch.tensor([1, 2, 3]).requires_grad_()
    except RuntimeError as e:
        return str(e)
    raise AssertionError("an integer tensor accepted requires_grad")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="0.0 Tensor: tensor basics from the notes")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    print("# y = (w * x).sum() with w = x = [1, 2, 3]")
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    item, grad_before, grad = attributes(w, torch.tensor([1.0, 2.0, 3.0]))
    print("w.size() =", w.size(), "| y.item() =", item, "(a Python float)")
    print("w.grad before backward() =", grad_before, "| after =", grad, "(dy/dw = x)")
    # The notes' .data: the same storage without autograd (a change through it goes unseen).
    # Update weights under `with torch.no_grad():` instead, read them with w.detach().
    print("w.data: same storage as w:", w.data.data_ptr() == w.data_ptr(),
          "| requires_grad:", w.data.requires_grad)

    x = torch.randn(3, 4)
    print("\n# max / sum along dim 1 (one per row)\nx =", x)
    max_value, max_idx, sum_x = reduce_rows(x)
    print("torch.max(x, dim=1): values =", max_value, "| indices =", max_idx)
    print("torch.sum(x, dim=1) =", sum_x)

    print("\n# each line acts on the x of the line above it, as in the notes")
    x3 = torch.randn(3, 4, 5)
    reordered, viewed = reorder_dims(x3), reshape_with_view(x3)  # the notes' commented shapes
    lines = [("x = torch.randn(3, 4)", x.shape), *add_and_drop_dims(x).items(),
             ("x = torch.randn(3, 4, 5)", x3.shape), *reordered.items(),
             ("x = torch.randn(3, 4, 5)", x3.shape), *viewed.items()]
    for code, shape in lines:
        print(f"{code:<26} # {shape}")

    print("\n# in-place ops end with _")
    shape, same = inplace_ops(x)
    print("x.unsqueeze_(0); x.transpose_(1, 0) ->", shape, "| same storage:", same)
    a = torch.ones(3, 3)
    print("torch.ones(3, 3).add_(torch.ones(3, 3)) =", a.add_(torch.ones(3, 3)))

    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(arr)  # shares arr's memory on the CPU, as t.numpy() shares t's
    arr[0, 0] = 100.0
    print("\n# numpy round trip\ntorch.from_numpy(arr) after arr[0, 0] = 100:", t)
    print("t.numpy() is the same memory:", np.shares_memory(t.numpy(), arr))

    print("\n# requires_grad needs a floating dtype")
    error = integer_requires_grad_error()
    print("torch.tensor([1, 2, 3]).requires_grad_() -> RuntimeError:", error)
    print("a float tensor can:", torch.tensor([1.0, 2.0], requires_grad=True).requires_grad)
    return {"y.item()": item, **{code: tuple(s) for code, s in (reordered | viewed).items()}}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
