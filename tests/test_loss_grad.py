"""loss_grad.py: the notes' MSE numbers, the sum-vs-mean factor, the softmax Jacobian formula."""
import math

import pytest
import torch

import loss_grad


@pytest.fixture(scope="module")
def run():
    return loss_grad.main([])


def test_prints_the_notes_lines(capsys):
    loss_grad.main([])
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["tensor(1., grad_fn=<MseLossBackward0>)",  # the notes' In [129]
                         "(tensor([2.]),)",
                         "tensor([2.])"]  # In [130]


def test_mse_and_its_gradient(run):
    # (wx - y)^2 = (2 - 1)^2 = 1 and 2(wx - y)x = 2: exact in float32
    assert run["mse"].item() == 1.0
    assert len(run["grads"]) == 1 and run["grads"][0].tolist() == [2.0]
    assert run["w_grad"].tolist() == [2.0]


def test_no_requires_grad_is_an_error(run):
    assert "does not require grad" in run["error"]


def test_sum_and_mean_mse_gradients(run):
    xs, ys, w = run["xs"].double(), run["ys"].double(), 2.0
    notes_formula = 2 * sum((w * xi - yi) * xi for xi, yi in zip(xs.tolist(), ys.tolist()))
    torch.testing.assert_close(run["g_sum"].double(), torch.tensor([notes_formula],
                                                                    dtype=torch.float64),
                               rtol=1e-5, atol=1e-5)  # float32 in the script
    torch.testing.assert_close(run["g_mean"] * 5, run["g_sum"])


def test_softmax_example_rounds_to_the_notes(run):
    exps = [math.exp(v) for v in (2.0, 1.0, 0.1)]
    expected = torch.tensor([e / sum(exps) for e in exps])
    torch.testing.assert_close(run["softmax_example"], expected)
    assert [round(v, 1) for v in run["softmax_example"].tolist()] == [0.7, 0.2, 0.1]  # the notes


def softmax_jacobian_formula(a):
    """p_i(delta_ij - p_j), written out element by element from math.exp."""
    exps = [math.exp(v) for v in a.tolist()]
    p = [e / sum(exps) for e in exps]
    n = len(p)
    return torch.tensor([[p[i] * ((i == j) - p[j]) for j in range(n)] for i in range(n)],
                        dtype=torch.float64)


def test_softmax_jacobian_of_the_run(run):
    assert run["jacobian"].shape == (3, 3)
    expected = softmax_jacobian_formula(run["a"].double())
    torch.testing.assert_close(run["jacobian"].double(), expected, rtol=1e-5, atol=1e-6)  # float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_jacobian_is_exact_in_float64(seed):
    a = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    p, jacobian = loss_grad.softmax_jacobian(a)
    torch.testing.assert_close(jacobian, softmax_jacobian_formula(a), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(jacobian.sum(dim=0), torch.zeros(5, dtype=torch.float64),
                               rtol=0, atol=1e-15)  # sum_i p_i = 1 does not move: columns sum to 0


def test_the_notes_unseeded_rows_come_from_one_probability_vector():
    """LS17 prints two rows of the softmax Jacobian for an unseeded a: recover p from their
    off-diagonal entries, then the diagonal entries (not used) and sum(p) = 1 must agree."""
    p = loss_grad.probabilities_behind_rows(loss_grad.NOTES_ROWS)
    assert abs(sum(p) - 1) < 1e-3  # a probability vector, to the printed precision
    for i, row in zip([1, 2], loss_grad.NOTES_ROWS):  # J_ij = p_i(δij − p_j) in plain Python
        for j, printed in enumerate(row):
            assert abs(p[i] * ((i == j) - p[j]) - printed) < 2e-4, (i, j)
    assert [round(v, 2) for v in p] == [0.35, 0.29, 0.36]
