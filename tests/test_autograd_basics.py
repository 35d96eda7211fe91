"""autograd_basics.py: the retain_graph error, .grad accumulating (the self-notes' 8.2 + 8.2),
zeroing, autograd.grad. The notes' screenshot (their function and input) is not in the text; the
script's x = 4.1 was picked so that 2x = 8.2, so the expectations here are the closed form 2x at
several points, not the 8.2 the input was chosen to give."""
import pytest
import torch

import autograd_basics
from conftest import lesson_namespace, try_lines


def check_closed_forms(x, out, r):
    """x.grad is 2x, then 2x + 2x, then 0, then 2x again; autograd.grad gives 2x, .grad stays
    None."""
    assert r["grad"] == pytest.approx(2 * x, rel=1e-7)  # float32
    assert r["grad_twice"] == pytest.approx(4 * x, rel=1e-7)  # the notes' claim: the sum of two
    assert r["grad_zeroed"] == 0.0
    assert r["grad_new_graph"] == r["autograd_grad"] == pytest.approx(2 * x, rel=1e-7)
    assert "backward through the graph a second time" in r["error"]
    two_x, four_x = torch.tensor(2 * x), torch.tensor(4 * x)  # the closed forms, as torch prints
    assert f"x.grad after backward(retain_graph=True) = {two_x!r}\n" in out
    assert f"x.grad after a second backward() = {four_x!r}\n" in out
    assert f"x.grad after x.grad.zero_() = {torch.tensor(0.0)!r}\n" in out
    assert f"x.grad after backward() on a new graph = {two_x!r}\n" in out
    assert f"torch.autograd.grad(y, [x]) = ({two_x!r},) | x.grad stays None\n" in out


@pytest.mark.parametrize("x", [autograd_basics.X, -1.5, 0.3])
def test_gradients_are_2x_and_accumulate(x, capsys):
    r = autograd_basics.main(["--x", str(x)])
    check_closed_forms(x, capsys.readouterr().out, r)


def test_default_prints_the_notes_digits(capsys):
    autograd_basics.main([])
    out = capsys.readouterr().out
    assert "= tensor(8.2000)\n" in out and "= tensor(16.4000)\n" in out  # the notes' 8.2 + 8.2
    assert [s for s in out.splitlines() if s.startswith("== ")] == [
        "== 多次自动求导 / backward twice ==",
        "== 梯度变为两次梯度的和 / .grad accumulates (2x, then 2x + 2x) until it is zeroed ==",
        "== 自动求导 / torch.autograd.grad returns the gradient, .grad untouched =="]


def test_copied_lesson_in_float64():
    lesson = lesson_namespace("autograd_basics")  # the lesson alone: no main(), no plumbing
    x = torch.tensor(-2.75, dtype=torch.float64, requires_grad=True)
    grads = [g.item() for g in lesson["grad_after_each_step"](x)]
    assert grads == [-5.5, -11.0, 0.0, -5.5]  # 2x, 2x + 2x, zeroed, 2x on a new graph: exact
    error = lesson["second_backward_error"](torch.tensor(1.0, requires_grad=True))
    assert error.startswith("Trying to backward through the graph a second time")
    x = torch.tensor(1.25, dtype=torch.float64, requires_grad=True)
    assert lesson["autograd_grad"](x).item() == 2.5 and x.grad is None


def check_x_3(out, r):
    assert "= tensor(6.)\n" in out and "= tensor(12.)\n" in out and "= tensor(0.)\n" in out
    check_closed_forms(3.0, out, r)


CHECKS = {"--x 3": check_x_3}


@pytest.mark.parametrize("flags, said", try_lines("autograd_basics"))
def test_try_experiments(flags, said, capsys):
    check = CHECKS[flags]  # KeyError: a Try: line with no check here
    r = autograd_basics.main(flags.split())
    check(capsys.readouterr().out, r)
