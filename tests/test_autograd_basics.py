"""autograd_basics.py: the notes' 8.2 + 8.2, the retain_graph error, zeroing, autograd.grad."""
import pytest
import torch

import autograd_basics


@pytest.fixture(scope="module")
def run():
    return autograd_basics.main([])


def test_prints_the_notes_numbers(capsys):
    autograd_basics.main([])
    out = capsys.readouterr().out
    assert "backward(retain_graph=True): tensor(8.2000)" in out  # dy/dx = 2 * 4.1
    assert "backward() again, accumulated: tensor(16.4000)" in out  # the notes' 8.2 + 8.2
    assert "torch.autograd.grad(y, [x]): (tensor(8.2000),)" in out
    assert "x.grad afterwards: None" in out


def test_second_backward_without_retain_graph_raises(run):
    assert "backward through the graph a second time" in run["error"]
    assert run["first_grad"].item() == pytest.approx(8.2)  # the first pass did land


@pytest.mark.parametrize("x0", [4.1, -1.5, 0.3])
def test_retain_graph_accumulates_the_closed_form(x0):
    result = autograd_basics.main(["--x", str(x0)])
    two_x = 2 * torch.tensor(x0)  # dy/dx of x^2 in float32: doubling is exact
    torch.testing.assert_close(result["first"], two_x, rtol=0, atol=0)
    torch.testing.assert_close(result["second"], 2 * two_x, rtol=0, atol=0)  # 2x + 2x
    assert result["zeroed"].item() == 0.0
    torch.testing.assert_close(result["fresh"], two_x, rtol=0, atol=0)  # after zeroing: 2x again
    assert len(result["grads"]) == 1
    torch.testing.assert_close(result["grads"][0], two_x, rtol=0, atol=0)
    assert result["dot_grad"] is None  # autograd.grad left .grad alone


def test_notes_value_is_8_point_2(run):
    assert f"{run['first'].item():.4f}" == "8.2000"
    assert f"{run['second'].item():.4f}" == "16.4000"


def test_integers_cannot_require_grad(run):
    assert "floating point" in run["int_error"]
