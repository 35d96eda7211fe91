"""perceptron_grad.py: autograd's w.grad against the notes' derivation, with mse_loss's 2/K.

The notes' printed w.grad came from an unseeded torch.randn: not reproducible, so the tests check
the formula it illustrates, dE/dw_kj = (O_k - t_k) O_k (1 - O_k) x_j for
E = 1/2 sum_k (O_k - t_k)^2, written here element by element."""
import math

import pytest
import torch

import perceptron_grad
from conftest import lesson_namespace, try_lines


def formula_by_hand(x, w, t):
    """The notes' derivation, element by element in Python floats (float64)."""
    x, w, t = x.double().tolist()[0], w.double().tolist(), t.double().tolist()[0]
    rows = []
    for k, w_k in enumerate(w):
        o = 1 / (1 + math.exp(-sum(xj * wj for xj, wj in zip(x, w_k))))
        rows.append([(o - t[k]) * o * (1 - o) * xj for xj in x])
    return torch.tensor(rows, dtype=torch.float64)  # (K, FEATURES)


@pytest.mark.parametrize("outputs", [1, 2, 5])
def test_copied_lesson_is_2_over_k_times_the_notes_formula_in_float64(outputs):
    lesson = lesson_namespace("perceptron_grad")  # the lesson alone: no main(), no plumbing
    g = torch.Generator().manual_seed(outputs)
    x = torch.randn(1, 10, dtype=torch.float64, generator=g)
    w = 0.3 * torch.randn(outputs, 10, dtype=torch.float64, generator=g)  # O away from 0 and 1
    t = torch.ones(1, outputs, dtype=torch.float64)
    o, grad = lesson["autograd_grad"](x, w, t)
    assert grad.shape == (outputs, 10)  # the shape of w
    expected = formula_by_hand(x, w, t)
    torch.testing.assert_close(grad, 2 / outputs * expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(lesson["notes_formula"](x, o, t), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("outputs", [2, 3])
def test_printed_ratios_are_2_over_k(outputs, capsys):
    r = perceptron_grad.main(["--outputs", str(outputs)])
    out = capsys.readouterr().out
    assert "w.grad / formula = 2.000000, 2/K = 2.000000" in out  # one output: mean of 1, no 1/2
    assert r["ratio_single"] == pytest.approx(2.0, abs=1e-5)
    assert r["ratio_multi"] == pytest.approx(2 / outputs, abs=1e-5)  # 1 for the notes' 2
    assert f"w.grad / formula = {2 / outputs:.6f}, 2/K" in out
    assert r["rank_ratio"] < 1e-5  # float32: sigma2 is rounding noise, ~1e-7 of sigma1


# LS19's printed w.grad of the two-output perceptron (unseeded x and w).
NOTES_GRAD = [[-0.0043, -0.0066, -0.0252, -0.0253, -0.0119, 0.0927, -0.1116, 0.0628, 0.0308,
               -0.0127],
              [-0.0026, -0.0040, -0.0151, -0.0152, -0.0071, 0.0556, -0.0669, 0.0377, 0.0185,
               -0.0076]]


def test_the_notes_two_output_gradient_has_rank_one():
    """delta x^T: both printed rows are multiples of the same x, to the printed precision."""
    g = torch.tensor(NOTES_GRAD, dtype=torch.float64)
    ratio = g[1] / g[0]  # the same delta1/delta0 in every column
    assert (ratio - ratio.mean()).abs().max() < 0.03  # 4-digit rounding of entries ~0.005
    assert perceptron_grad.rank_ratio(g) < 2e-3
    assert perceptron_grad.rank_ratio(torch.eye(2)) == 1.0  # and a rank-2 matrix is told apart


def check_three_outputs(out, result):
    """2/K = 2/3 by the closed form, and the printed O against sigmoid(x . w_k) by hand on the
    same draws (seed 0: the single-output x, w first, then x (1, 10) and w (3, 10))."""
    assert result["ratio_multi"] == pytest.approx(2 / 3, abs=1e-5)
    assert f"w.grad / formula = {2 / 3:.6f}, 2/K = {2 / 3:.6f}" in out
    torch.manual_seed(0)
    torch.randn(1, 10), torch.randn(1, 10)  # drawn first: the x, w of K = 1
    x, w = torch.randn(1, 10).double().tolist()[0], torch.randn(3, 10).double().tolist()
    o = [1 / (1 + math.exp(-sum(a * b for a, b in zip(x, w_k)))) for w_k in w]
    assert "O = tensor([[" + ", ".join(f"{v:.4f}" for v in o) + "]])" in out.splitlines()


def test_every_try_line_shows_what_it_says(capsys):
    checks = {"--outputs 3": check_three_outputs}
    for flags, _ in try_lines("perceptron_grad"):
        result = perceptron_grad.main(flags.split())
        checks[flags](capsys.readouterr().out, result)  # KeyError: a Try: line with no check


def test_outputs_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exc:
        perceptron_grad.main(["--outputs", "0"])
    assert exc.value.code == 2 and "--outputs needs at least 1" in capsys.readouterr().err
