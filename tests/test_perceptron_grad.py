"""perceptron_grad.py: autograd's w.grad against the notes' derivation, with mse_loss's 2/K.

The notes' printed w.grad came from an unseeded torch.randn: not reproducible, so the tests check
the formula it illustrates, dE/dw_kj = (O_k - t_k) O_k (1 - O_k) x_j for
E = 1/2 sum_k (O_k - t_k)^2."""
import math

import pytest
import torch

import perceptron_grad


def formula_by_hand(x, w, t):
    """The notes' derivation, element by element in Python floats (float64)."""
    x, w, t = x.double().tolist()[0], w.double().tolist(), t.double().tolist()[0]
    rows = []
    for k, w_k in enumerate(w):
        o = 1 / (1 + math.exp(-sum(xj * wj for xj, wj in zip(x, w_k))))
        rows.append([(o - t[k]) * o * (1 - o) * xj for xj in x])
    return torch.tensor(rows, dtype=torch.float64)  # (K, FEATURES)


@pytest.fixture(scope="module")
def run():
    return perceptron_grad.main([])


def test_single_output_is_twice_the_notes_formula(run):
    case = run["single"]
    assert case["grad"].shape == (1, 10)
    expected = 2 * formula_by_hand(case["x"], case["w"], case["t"])  # mean over 1, no 1/2
    torch.testing.assert_close(case["grad"].double(), expected, rtol=1e-5, atol=1e-7)
    assert case["ratio"] == pytest.approx(2.0, abs=1e-5)


def test_two_outputs_equal_the_notes_formula(run):
    case = run["multi"]
    assert case["grad"].shape == (2, 10)
    expected = formula_by_hand(case["x"], case["w"], case["t"])  # mean over 2 cancels the 2
    torch.testing.assert_close(case["grad"].double(), expected, rtol=1e-5, atol=1e-7)
    assert case["ratio"] == pytest.approx(1.0, abs=1e-5)


def test_three_outputs_give_two_thirds():
    case = perceptron_grad.main(["--outputs", "3", "--seed", "1"])["multi"]
    expected = 2 / 3 * formula_by_hand(case["x"], case["w"], case["t"])
    torch.testing.assert_close(case["grad"].double(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("outputs", [1, 2, 5])
def test_exact_in_float64(outputs):
    g = torch.Generator().manual_seed(outputs)
    x = torch.randn(1, 10, dtype=torch.float64, generator=g)
    w = 0.3 * torch.randn(outputs, 10, dtype=torch.float64, generator=g)  # O away from 0 and 1
    t = torch.ones(1, outputs, dtype=torch.float64)
    _, grad = perceptron_grad.autograd_grad(x, w, t)
    torch.testing.assert_close(grad, 2 / outputs * formula_by_hand(x, w, t), rtol=1e-12, atol=1e-15)


def test_prints_both_gradients(run, capsys):
    perceptron_grad.main([])
    out = capsys.readouterr().out
    assert out.count("tensor([[") == 4  # w.grad and the scaled formula, for both cases
    assert "w.grad / formula = 2.000000" in out and "w.grad / formula = 1.000000" in out


# LS19's printed w.grad of the two-output perceptron (unseeded x and w).
NOTES_GRAD = [[-0.0043, -0.0066, -0.0252, -0.0253, -0.0119, 0.0927, -0.1116, 0.0628, 0.0308,
               -0.0127],
              [-0.0026, -0.0040, -0.0151, -0.0152, -0.0071, 0.0556, -0.0669, 0.0377, 0.0185,
               -0.0076]]


def test_the_notes_two_output_gradient_has_rank_one():
    """δ xᵀ: both printed rows are multiples of the same x, to the printed precision."""
    g = torch.tensor(NOTES_GRAD, dtype=torch.float64)
    ratio = g[1] / g[0]  # the same δ1/δ0 in every column
    assert (ratio - ratio.mean()).abs().max() < 0.03  # 4-digit rounding of entries ~0.005
    assert perceptron_grad.rank_of(g) < 2e-3


def test_our_two_output_gradient_has_rank_one(run):
    grad = run["multi"]["grad"]  # float32: sigma2 is rounding noise, ~1e-7 of sigma1
    assert perceptron_grad.rank_of(grad) < 1e-5
