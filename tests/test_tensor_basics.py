"""0.0 Tensor: the shapes the self-notes state in their comments, and the behaviours they
describe."""
import pytest
import torch

import tensor_basics
from conftest import lesson_namespace, try_lines

# The self-notes' comments: x : torch.Size([...]) after each of these lines.
NOTES_SHAPES = [("x = x.permute(1, 0, 2)", [4, 3, 5]), ("x = x.transpose(0, 2)", [5, 3, 4]),
                ("x = x.view(-1, 5)", [12, 5]), ("x = x.view(3, 20)", [3, 20])]


def assert_notes_shapes(out, result):
    for line, notes in NOTES_SHAPES:
        assert f"{line:<29} # torch.Size({notes})\n" in out
        assert list(dict(result["rows"])[line]) == notes


def test_prints_the_shapes_of_the_notes_comments(capsys):
    r = tensor_basics.main([])
    out = capsys.readouterr().out
    assert_notes_shapes(out, r)
    assert r["item"] == 1 * 1 + 2 * 2 + 3 * 3  # y = sum(w * x), w = x = [1, 2, 3]
    assert "w.size() = torch.Size([3]) | y.item() = 14.0 (a Python float)" in out
    assert "w.grad before backward() = None | after = tensor([1., 2., 3.]) (dy/dw = x)" in out
    assert "w.data: same storage as w: True | requires_grad: False" in out
    assert "t.numpy() is the same memory: True" in out
    assert "floating point dtype can require gradients | a float tensor can: True" in out
    headings = [s for s in out.splitlines() if s.startswith("== ")]
    assert len(headings) == 7 and all(s.endswith(" ==") for s in headings)  # one per block


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
        (3, 4), (1, 3, 4), (1, 1, 3, 4), (1, 3, 4), (3, 4)]  # from each call's definition
    assert dict(lesson["reorder_dims"](torch.zeros(3, 4, 5)))["x.reshape(-1, 5) [view fails]"] == (
        12, 5)
    x = torch.zeros(3, 4)
    shape, same_storage = lesson["inplace_ops"](x)
    assert shape == (3, 1, 4) and same_storage and x.shape == (3, 1, 4)  # x itself changed
    t, shared = lesson["numpy_round_trip"]()
    assert shared and t.tolist() == [[100.0, 1.0, 2.0], [3.0, 4.0, 5.0]]  # arr's write seen in t
    assert "floating point" in lesson["integer_requires_grad_error"]()


def test_seed_draws_the_printed_x(capsys):
    """The printed x is the first (3, 4) draw of torch's generator seeded with --seed."""
    expected = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    r = tensor_basics.main(["--seed", "3"])
    assert f"x = {expected}\n" in capsys.readouterr().out
    assert r["max_idx"] == [row.index(max(row)) for row in expected.tolist()]


def check_view_after_transpose(out, result):
    """view on the transposed x raises (its strides are not contiguous); the rest is unchanged."""
    line = next(s for s in out.splitlines() if s.startswith("x.view(-1, 5) "))
    assert line.split(" # ", 1)[1].startswith(
        "RuntimeError: view size is not compatible with input tensor's size and stride")
    assert "x.reshape(-1, 5)" not in out
    assert_notes_shapes(out, result)


CHECKS = {"--view-after-transpose": check_view_after_transpose}


@pytest.mark.parametrize("flags, said", try_lines("tensor_basics"))
def test_try_experiments(flags, said, capsys):
    check = CHECKS[flags]  # KeyError: a Try: line with no check here
    result = tensor_basics.main(flags.split())
    check(capsys.readouterr().out, result)
