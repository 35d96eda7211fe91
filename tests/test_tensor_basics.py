"""0.0 Tensor: the shapes the notes state in their comments, and the behaviours they describe."""
import pytest
import torch

import tensor_basics
from conftest import lesson_namespace


def test_prints_the_shapes_of_the_notes_comments(capsys):
    r = tensor_basics.main([])
    out = capsys.readouterr().out
    for line, notes in [("x = x.permute(1, 0, 2)", "[4, 3, 5]"),  # the notes' comments:
                        ("x = x.transpose(0, 2)", "[5, 3, 4]"),  # x : torch.Size([...])
                        ("x = x.view(-1, 5)", "[12, 5]"),
                        ("x = x.view(3, 20)", "[3, 20]")]:
        assert f"{line:<29} # torch.Size({notes})\n" in out
        assert list(r[line]) == eval(notes)
    assert "w.size() = torch.Size([3]) | y.item() = 14.0 (a Python float)" in out
    assert "w.grad before backward() = None | after = tensor([1., 2., 3.]) (dy/dw = x)" in out
    assert "w.data: same storage as w: True | requires_grad: False" in out
    assert "t.numpy() is the same memory: True" in out
    assert "floating point dtype can require gradients | a float tensor can: True" in out


def test_attributes_by_hand():
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    item, grad_before, grad = tensor_basics.attributes(w, torch.tensor([4.0, 5.0, 6.0]))
    assert type(item) is float and item == 1 * 4 + 2 * 5 + 3 * 6  # 32
    assert grad_before is None and grad.tolist() == [4.0, 5.0, 6.0]  # d(sum w_i x_i)/dw = x


def test_reductions_agree_with_python():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    max_value, argmax, sums = tensor_basics.reduce_rows(x)
    rows = x.tolist()
    assert max_value.tolist() == [max(row) for row in rows]
    assert argmax.tolist() == [row.index(max(row)) for row in rows]
    assert sums.tolist() == pytest.approx([sum(row) for row in rows], rel=1e-6)


def test_copied_lesson_dims_and_in_place():
    lesson = lesson_namespace("tensor_basics")  # the lesson alone: no main(), no plumbing
    assert [shape for _, shape in lesson["add_and_drop_dims"](torch.zeros(3, 4))] == [
        (1, 3, 4), (1, 1, 3, 4), (1, 3, 4), (3, 4)]  # worked out from each call's definition
    assert dict(lesson["reorder_dims"](torch.zeros(3, 4, 5)))["x.reshape(-1, 5) [view fails]"] == (
        12, 5)
    x = torch.zeros(3, 4)
    shape, same_storage = lesson["inplace_ops"](x)
    assert shape == (3, 1, 4) and same_storage and x.shape == (3, 1, 4)  # x itself changed
    assert "floating point" in lesson["integer_requires_grad_error"]()


def test_view_needs_contiguous_memory():
    swapped = torch.zeros(3, 4, 5).permute(1, 0, 2).transpose(0, 2)
    try:
        swapped.view(-1, 5)
    except RuntimeError as e:  # what the script's comment says: use reshape
        assert "contiguous" in str(e) or "view size" in str(e)
    else:
        raise AssertionError("view on a transposed tensor did not raise")


def test_seed_makes_runs_repeatable(capsys):
    tensor_basics.main(["--seed", "3"])
    first = capsys.readouterr().out
    tensor_basics.main(["--seed", "3"])
    assert capsys.readouterr().out == first
