"""0.0 Tensor / Tensor basics (PyTorch ≥ 0.4, where Tensor and Variable merged).

The notes' tour: .size(), .item(), .grad, .data; max and sum along a dim; unsqueeze/squeeze;
permute/transpose/view; in-place ops (trailing _); numpy shares memory; requires_grad needs floats.

Run:    python scripts/tensor_basics.py        (or: make tensor_basics)
Expect: the notes' commented shapes on their lines: "x = x.permute(1, 0, 2)  #
        torch.Size([4, 3, 5])", then [5, 3, 4], [12, 5] and [3, 20] after transpose and view.
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
    """(3, 4) -> (3,): torch.max along dim 1 gives (values, indices), torch.sum drops dim 1."""
    max_value, max_idx = torch.max(x, dim=1)
    return max_value, max_idx, torch.sum(x, dim=1)


def add_and_drop_dims(x):
    """(3, 4): unsqueeze(d) inserts a size-1 dim at d, squeeze(d) removes it, squeeze() all."""
    x1 = x.unsqueeze(0)  # (1, 3, 4)
    x2 = x1.unsqueeze(1)  # (1, 1, 3, 4)
    x3 = x2.squeeze(0)  # (1, 3, 4)
    return [("x = x.unsqueeze(0)", x1.shape), ("x = x.unsqueeze(1)", x2.shape),
            ("x = x.squeeze(0)", x3.shape), ("x = x.squeeze()", x3.squeeze().shape)]


def reorder_dims(x):
    """(3, 4, 5): permute reorders every dim, transpose swaps two; view reshapes without copying
    (-1 is inferred), so it needs contiguous memory: after permute it fails, reshape copies."""
    x1 = x.permute(1, 0, 2)  # (4, 3, 5)
    x2 = x1.transpose(0, 2)  # (5, 3, 4)
    x3 = x.view(-1, 5)  # (12, 5): on a fresh x, as in the notes
    return [("x = x.permute(1, 0, 2)", x1.shape), ("x = x.transpose(0, 2)", x2.shape),
            ("x.reshape(-1, 5) [view fails]", x2.reshape(-1, 5).shape),
            ("x = torch.randn(3, 4, 5)", x.shape), ("x = x.view(-1, 5)", x3.shape),
            ("x = x.view(3, 20)", x3.view(3, 20).shape)]


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
    parser = argparse.ArgumentParser(description="0.0 Tensor: tensor basics from the notes",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    torch.manual_seed(parse_flags(parser, argv).seed)
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    item, grad_before, grad = attributes(w, torch.tensor([1.0, 2.0, 3.0]))
    print("# y = (w * x).sum() with w = x = [1, 2, 3]")
    print(f"w.size() = {w.size()} | y.item() = {item} (a Python float)")
    print(f"w.grad before backward() = {grad_before} | after = {grad} (dy/dw = x)")
    # the notes' .data: no autograd (changes go unseen); update under torch.no_grad(), read detach()
    print(f"w.data: same storage as w: {w.data.data_ptr() == w.data_ptr()} | requires_grad: "
          f"{w.data.requires_grad}")
    x, x3 = torch.randn(3, 4), torch.randn(3, 4, 5)
    values, indices, sums = reduce_rows(x)
    print(f"\n# max / sum along dim 1 (one per row)\nx = {x}\ntorch.max(x, dim=1): values =",
          values, f"| indices = {indices}\ntorch.sum(x, dim=1) = {sums}")
    print("\n# each line acts on the x of the line above it, as in the notes")
    shapes = [("x = torch.randn(3, 4)", x.shape), *add_and_drop_dims(x),
              ("x = torch.randn(3, 4, 5)", x3.shape), *reorder_dims(x3)]
    for code, shape in shapes:
        print(f"{code:<29} # {shape}")
    shape, same = inplace_ops(x)
    print(f"\n# in-place ops end with _\nx.unsqueeze_(0); x.transpose_(1, 0) -> {shape}",
          f"| same storage: {same}")
    print("torch.ones(3, 3).add_(torch.ones(3, 3)) =", torch.ones(3, 3).add_(torch.ones(3, 3)))
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(arr)  # shares arr's memory on the CPU, as t.numpy() shares t's
    arr[0, 0] = 100.0
    print("\n# numpy round trip\ntorch.from_numpy(arr) after arr[0, 0] = 100:", t)
    print("t.numpy() is the same memory:", np.shares_memory(t.numpy(), arr))
    print("\n# requires_grad needs a floating dtype\ntorch.tensor([1, 2, 3]).requires_grad_() ->",
          f"RuntimeError: {integer_requires_grad_error()} | a float tensor can:",
          torch.tensor([1.0, 2.0], requires_grad=True).requires_grad)
    return {"y.item()": item, **{code: tuple(shape) for code, shape in shapes}}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
