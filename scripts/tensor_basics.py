"""0.0 Tensor / Tensor basics (PyTorch ≥ 0.4, where Tensor and Variable merged).

The self-notes' tour: .size(), .item(), .grad, .data; max and sum along a dim; unsqueeze/squeeze;
permute/transpose/view; in-place ops (trailing _); numpy shares memory; requires_grad needs floats.

Run:    python scripts/tensor_basics.py        (or: make tensor_basics)
Expect: the notes' commented shapes on their lines: "x = x.permute(1, 0, 2)  #
        torch.Size([4, 3, 5])", then [5, 3, 4], [12, 5] and [3, 20] after transpose and view.
Try:    --view-after-transpose   x.view(-1, 5) on the transposed x: RuntimeError "view size is
                                 not compatible with input tensor's size and stride": use reshape
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

SEED = 0  # the printed random x is the same on every run


def attributes(w, x):
    """y = sum(w * x): y.item() is a Python float; w.grad is None until backward() fills it."""
    print(f"== Tensor 包含的属性 / .size(), .item(), .grad, .data ==\n"
          f"# y = (w * x).sum() with w = {w.tolist()}, x = {x.tolist()}")
    y = (w * x).sum()  # 0-dim, with a grad_fn
    grad_before = w.grad
    y.backward()  # w.grad = dy/dw = x
    print(f"w.size() = {w.size()} | y.item() = {y.item()} (a Python float)")
    print(f"w.grad before backward() = {grad_before} | after = {w.grad} (dy/dw = x)")
    # the notes' .data: no autograd (changes go unseen); update under torch.no_grad(), read detach()
    print(f"w.data: same storage as w: {w.data.data_ptr() == w.data_ptr()} | requires_grad: "
          f"{w.data.requires_grad}")
    return y.item(), grad_before, w.grad


def reduce_rows(x):
    """(3, 4) -> (3,): torch.max along dim 1 gives (values, indices), torch.sum drops dim 1."""
    max_value, max_idx = torch.max(x, dim=1)  # the notes: 沿行取最大值
    sum_x = torch.sum(x, dim=1)  # the notes: 沿行求和
    print(f"\n== 沿行取最大值 / 沿行求和: max and sum along dim 1 (one per row) ==\nx = {x}\n"
          f"torch.max(x, dim=1): values = {max_value} | indices = {max_idx}\n"
          f"torch.sum(x, dim=1) = {sum_x}")
    return max_value, max_idx, sum_x


def print_shapes(heading, rows):
    """One line per step, the code and the shape it leaves, as the notes' comments give them."""
    print(f"\n== {heading} ==\n# each line acts on the x of the line above it, as in the notes")
    for code, shape in rows:
        print(f"{code:<29} # {shape}")


def add_and_drop_dims(x):
    """(3, 4): unsqueeze(d) inserts a size-1 dim at d, squeeze(d) removes it, squeeze() all.
    Prints the steps; returns them as [(code, shape)]."""
    x1 = x.unsqueeze(0)  # (1, 3, 4)
    x2 = x1.unsqueeze(1)  # (1, 1, 3, 4)
    x3 = x2.squeeze(0)  # (1, 3, 4)
    rows = [("x = torch.randn(3, 4)", x.shape), ("x = x.unsqueeze(0)", x1.shape),
            ("x = x.unsqueeze(1)", x2.shape), ("x = x.squeeze(0)", x3.shape),
            ("x = x.squeeze()", x3.squeeze().shape)]
    print_shapes("增减维度 / unsqueeze and squeeze", rows)
    return rows


def view_error(x):
    """x.view(-1, 5) on a permuted/transposed x: view never copies, so it refuses memory whose
    rows are not laid out one after another. Returns the error as printed."""
    try:
        x.view(-1, 5)
    except RuntimeError as e:
        return f"RuntimeError: {str(e).splitlines()[0]}"
    raise AssertionError("view on a transposed tensor did not raise")


def reorder_dims(x, view_after_transpose=False):
    """(3, 4, 5): permute reorders every dim, transpose swaps two; view reshapes without copying
    (-1 is inferred), so it needs contiguous memory: after permute it fails, reshape copies.
    Prints the steps; returns them as [(code, shape)]."""
    x1 = x.permute(1, 0, 2)  # (4, 3, 5)
    x2 = x1.transpose(0, 2)  # (5, 3, 4)
    x3 = x.view(-1, 5)  # (12, 5): on a fresh x, as in the notes
    after_transpose = (("x.view(-1, 5)", view_error(x2)) if view_after_transpose
                       else ("x.reshape(-1, 5) [view fails]", x2.reshape(-1, 5).shape))
    rows = [("x = torch.randn(3, 4, 5)", x.shape), ("x = x.permute(1, 0, 2)", x1.shape),
            ("x = x.transpose(0, 2)", x2.shape), after_transpose,
            ("x = torch.randn(3, 4, 5)", x.shape), ("x = x.view(-1, 5)", x3.shape),
            ("x = x.view(3, 20)", x3.view(3, 20).shape)]
    print_shapes("维度交换 / permute, transpose; view 对 tensor 进行 reshape", rows)
    return rows


def inplace_ops(x):
    """A trailing underscore changes x itself (same storage, no new tensor): (3, 4) -> (3, 1, 4)."""
    ptr = x.data_ptr()
    x.unsqueeze_(0)  # (1, 3, 4)
    x.transpose_(1, 0)  # (3, 1, 4)
    same_storage = x.data_ptr() == ptr
    print(f"\n== inplace 操作 / in-place ops end with _ ==\nx.unsqueeze_(0); x.transpose_(1, 0) -> "
          f"{x.shape} | same storage: {same_storage}")
    print("torch.ones(3, 3).add_(torch.ones(3, 3)) =", torch.ones(3, 3).add_(torch.ones(3, 3)))
    return x.shape, same_storage


def numpy_round_trip():
    """torch.from_numpy(arr) shares arr's memory on the CPU, as t.numpy() shares t's."""
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(arr)
    arr[0, 0] = 100.0  # seen through t: one buffer
    shared = np.shares_memory(t.numpy(), arr)
    print(f"\n== 和 numpy.array 转换 / the numpy round trip ==\n"
          f"torch.from_numpy(arr) after arr[0, 0] = 100: {t}\n"
          f"t.numpy() is the same memory: {shared}")
    return t, shared


def integer_requires_grad_error():
    """The notes: 现在Tensor要求导必须是 floating point dtype. An integer tensor refuses."""
    try:
        torch.tensor([1, 2, 3]).requires_grad_()
    except RuntimeError as e:
        error = str(e)
    else:
        raise AssertionError("an integer tensor accepted requires_grad")
    print(f"\n== 要求导必须是 floating point dtype / requires_grad needs a float ==\n"
          f"torch.tensor([1, 2, 3]).requires_grad_() -> RuntimeError: {error} | a float tensor "
          f"can: {torch.tensor([1.0, 2.0], requires_grad=True).requires_grad}")
    return error


def main(argv=None):
    parser = argparse.ArgumentParser(description="0.0 Tensor: tensor basics from the self-notes",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--view-after-transpose", action="store_true",
                        help="call view where the script calls reshape: the error it raises")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    item, _, _ = attributes(torch.tensor([1.0, 2.0, 3.0], requires_grad=True),
                            torch.tensor([1.0, 2.0, 3.0]))
    x, x3 = torch.randn(3, 4), torch.randn(3, 4, 5)
    _, max_idx, _ = reduce_rows(x)
    rows = add_and_drop_dims(x) + reorder_dims(x3, args.view_after_transpose)
    inplace_ops(x)
    numpy_round_trip()
    integer_requires_grad_error()
    return {"item": item, "max_idx": max_idx.tolist(), "rows": rows}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
