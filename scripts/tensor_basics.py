"""0.0 Tensor / Tensor basics.

The notes' tour of tensor operations in PyTorch ≥ 0.4 (where Tensor and Variable merged): the
attributes `.size()`, `.item()`, `.grad`, `.data`, max and sum along a dim, unsqueeze/squeeze, permute/transpose, view(-1, 5), in-place ops with a trailing
underscore, the numpy round trip (shared memory), and that requires_grad needs a floating dtype.

Run:    python scripts/tensor_basics.py        (or: make tensor_basics)
Expect: the shapes the notes give in their comments, e.g. permute(1, 0, 2) -> [4, 3, 5],
        transpose(0, 2) -> [5, 3, 4], view(-1, 5) -> [12, 5].
"""
import argparse

import numpy as np
import torch

SEED = 0  # fixed so the printed random tensors are the same on every run


def tensor_attributes():
    """The notes' attributes: .size(), .item(), .grad, .data on y = sum(w * x) with w = [1, 2, 3]."""
    x = torch.tensor([1.0, 2.0, 3.0])
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (w * x).sum()  # 14, a 0-dim tensor with a grad_fn
    grad_before = w.grad  # None: no backward() has run yet
    y.backward()  # w.grad = dy/dw = x
    # .data is the same storage without autograd: a change through it is invisible to the graph.
    # The notes update weights with `w.data = ...`; today that is `with torch.no_grad(): w -= ...`
    # or, to read values, `w.detach()`, which autograd can still check for in-place misuse.
    data = w.data
    return {"size": w.size(), "item": y.item(), "grad_before": grad_before, "grad": w.grad,
            "data_shares_storage": data.data_ptr() == w.data_ptr(),
            "data_requires_grad": data.requires_grad}


def reduce_along_dim(x):
    """torch.max along a dim returns (values, indices); torch.sum along a dim drops that dim."""
    max_value, max_idx = torch.max(x, dim=1)  # (3,) each: one per row
    sum_x = torch.sum(x, dim=1)  # (3,)
    return max_value, max_idx, sum_x


def add_and_drop_dims(x):
    """unsqueeze(d) inserts a size-1 dim at d; squeeze(d) removes it; squeeze() removes all."""
    shapes = {"x": tuple(x.shape)}
    x = x.unsqueeze(0)  # (1, 3, 4): a new first dim
    shapes["unsqueeze(0)"] = tuple(x.shape)
    x = x.unsqueeze(1)  # (1, 1, 3, 4): a new second dim
    shapes["unsqueeze(1)"] = tuple(x.shape)
    x = x.squeeze(0)  # (1, 3, 4)
    shapes["squeeze(0)"] = tuple(x.shape)
    x = x.squeeze()  # (3, 4): every size-1 dim gone
    shapes["squeeze()"] = tuple(x.shape)
    return shapes


def reorder_dims():
    """permute reorders all dims at once; transpose swaps two; view reshapes a contiguous tensor."""
    x = torch.randn(3, 4, 5)
    shapes = {"randn(3, 4, 5)": tuple(x.shape)}
    x = x.permute(1, 0, 2)  # (4, 3, 5)
    shapes["permute(1, 0, 2)"] = tuple(x.shape)
    x = x.transpose(0, 2)  # (5, 3, 4)
    shapes["transpose(0, 2)"] = tuple(x.shape)
    y = torch.randn(3, 4, 5)
    y = y.view(-1, 5)  # (12, 5): -1 is inferred from the other sizes
    shapes["view(-1, 5)"] = tuple(y.shape)
    y = y.view(3, 20)  # (3, 20)
    shapes["view(3, 20)"] = tuple(y.shape)
    # view needs contiguous memory: after permute/transpose use .reshape (or .contiguous().view).
    shapes["transposed.reshape(-1, 5)"] = tuple(x.reshape(-1, 5).shape)
    return shapes


def inplace_ops():
    """A trailing underscore means in place: the same storage is changed, no new tensor."""
    x = torch.randn(3, 4)
    ptr = x.data_ptr()
    x.unsqueeze_(0)  # (1, 3, 4)
    x.transpose_(1, 0)  # (3, 1, 4)
    shape_after = tuple(x.shape)
    a, b = torch.ones(3, 3), torch.ones(3, 3)
    a.add_(b)  # a is now all 2s
    return {"shape": shape_after, "same_storage": x.data_ptr() == ptr, "a": a}


def numpy_round_trip():
    """torch.from_numpy and .numpy() share memory on the CPU: a change to one shows in the other."""
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = torch.from_numpy(arr)
    arr[0, 0] = 100.0  # visible through t: same memory
    back = t.numpy()
    return {"tensor": t, "shares_memory": bool(t[0, 0] == 100.0), "back_dtype": back.dtype}


def grad_needs_float():
    """Only floating (and complex) tensors can require gradients: an integer tensor raises."""
    try:
        torch.tensor([1, 2, 3]).requires_grad_()
    except RuntimeError as e:
        message = str(e)
    else:
        raise AssertionError("an integer tensor accepted requires_grad")
    ok = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    return {"error": message, "float_ok": ok.requires_grad}


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="0.0 Tensor: tensor basics from the notes")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    attrs = tensor_attributes()
    print("# .size() .item() .grad .data  (w = [1, 2, 3], y = (w * x).sum(), x = [1, 2, 3])")
    print("w.size():", attrs["size"], "| y.item():", attrs["item"], "(a Python float)")
    print("w.grad before backward:", attrs["grad_before"], "| after:", attrs["grad"])
    print("w.data: same storage:", attrs["data_shares_storage"],
          "| requires_grad:", attrs["data_requires_grad"])

    print("\n# max / sum along a dim")
    x = torch.randn(3, 4)
    print("x =\n", x)
    max_value, max_idx, sum_x = reduce_along_dim(x)
    print("torch.max(x, dim=1):", max_value, max_idx)
    print("torch.sum(x, dim=1):", sum_x)

    print("\n# unsqueeze / squeeze")
    dims = add_and_drop_dims(x)
    for name, shape in dims.items():
        print(f"{name:>14}: {list(shape)}")

    print("\n# permute / transpose / view")
    order = reorder_dims()
    for name, shape in order.items():
        print(f"{name:>26}: {list(shape)}")

    print("\n# in-place ops end with _")
    inplace = inplace_ops()
    print("x.unsqueeze_(0); x.transpose_(1, 0) ->", list(inplace["shape"]),
          "(same storage:", inplace["same_storage"], ")")
    print("x.add_(y) ->\n", inplace["a"])

    print("\n# numpy round trip")
    nr = numpy_round_trip()
    print("torch.from_numpy(arr) after arr[0, 0] = 100:\n", nr["tensor"])
    print("shares memory:", nr["shares_memory"], "| t.numpy().dtype:", nr["back_dtype"])

    print("\n# requires_grad needs a floating dtype")
    g = grad_needs_float()
    print("int tensor .requires_grad_() ->", "RuntimeError:", g["error"])
    print("float tensor requires_grad:", g["float_ok"])

    return {"view(-1, 5)": order["view(-1, 5)"], "item": attrs["item"]}


if __name__ == "__main__":
    main()
