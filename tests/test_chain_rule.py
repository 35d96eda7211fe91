"""chain_rule.py: the notes' tensor(2.) twice, and the chain rule against the closed form w2*x."""
import pytest
import torch

import chain_rule
from conftest import lesson_namespace, try_lines

HEADING = "== LS20.引入链式法则: y1 = x * w1 + b1, y2 = y1 * w2 + b2 =="


def test_prints_the_notes_values_labelled(capsys):
    result = chain_rule.main([])
    assert capsys.readouterr().out.splitlines() == [
        HEADING,
        "dy2/dy1 * dy1/dw1 = tensor(2.)",  # the notes' tensor(2.) twice
        "dy2/dw1 = tensor(2.) (closed form w2 * x = 2)"]
    assert result == {"dy2_dy1": 2.0, "dy1_dw1": 1.0, "dy2_dw1": 2.0}  # w2, x, w2 * x = 2 * 1


@pytest.mark.parametrize("x, w1, b1, w2, b2", [(3.0, -0.5, 2.0, -1.5, 0.25),
                                               (0.1, 7.0, -3.0, 0.3, 9.0)])
def test_copied_lesson_equals_the_closed_form_in_float64(x, w1, b1, w2, b2, capsys):
    lesson = lesson_namespace("chain_rule")["chain_rule"]  # the lesson alone, no main()
    f64 = dict(dtype=torch.float64)
    dy2_dy1, dy1_dw1, dy2_dw1 = lesson(
        torch.tensor(x, **f64), torch.tensor(w1, **f64, requires_grad=True),
        torch.tensor(b1, **f64), torch.tensor(w2, **f64, requires_grad=True),
        torch.tensor(b2, **f64))
    torch.testing.assert_close(dy2_dy1, torch.tensor(w2, **f64), rtol=0, atol=0)
    torch.testing.assert_close(dy1_dw1, torch.tensor(x, **f64), rtol=0, atol=0)
    torch.testing.assert_close(dy2_dw1, torch.tensor(w2 * x, **f64), rtol=1e-15, atol=0)
    torch.testing.assert_close(dy2_dy1 * dy1_dw1, dy2_dw1, rtol=1e-15, atol=0)
    assert f"(closed form w2 * x = {w2 * x:g})" in capsys.readouterr().out


def check_x_3_w2_minus_1_5(out, result):
    assert result == {"dy2_dy1": -1.5, "dy1_dw1": 3.0, "dy2_dw1": -4.5}  # w2, x, w2 * x: exact
    assert out.splitlines() == [HEADING, "dy2/dy1 * dy1/dw1 = tensor(-4.5000)",
                                "dy2/dw1 = tensor(-4.5000) (closed form w2 * x = -4.5)"]


def test_every_try_line_shows_what_it_says(capsys):
    checks = {"--x 3 --w2 -1.5": check_x_3_w2_minus_1_5}
    for flags, _ in try_lines("chain_rule"):
        result = chain_rule.main(flags.split())
        checks[flags](capsys.readouterr().out, result)  # KeyError: a Try: line with no check
