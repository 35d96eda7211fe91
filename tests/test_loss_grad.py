"""loss_grad.py: the notes' MSE numbers, the sum-vs-mean factor, the softmax Jacobian formula, and
autograd.grad refusing a vector output (the notes' "Loss只能1维")."""
import math

import pytest
import torch

import loss_grad
from conftest import lesson_namespace, try_lines

# LS17's In [135], printed for an unseeded a = torch.rand(3): verbatim
NOTES_PRINTED_ROWS = ["(tensor([-0.1005,  0.2052, -0.1048]),)",
                      "(tensor([-0.1265, -0.1048,  0.2313]),)"]


@pytest.fixture(scope="module")
def lesson():
    return lesson_namespace("loss_grad")  # the lesson alone: no main(), no plumbing


def test_prints_the_notes_lines_labelled(capsys):
    r = loss_grad.main([])
    out = capsys.readouterr().out
    lines = out.splitlines()
    # the notes' In [129] and In [130], each value on its own labelled line, under its heading
    assert lines[:4] == ["== Loss函数: MSE = sum (f(x) - y)^2 and its gradient ==",
                         "mse = F.mse_loss(x * w, torch.ones(1)) = "
                         "tensor(1., grad_fn=<MseLossBackward0>)",
                         "torch.autograd.grad(mse, [w]) = (tensor([2.]),)",
                         "w.grad after mse.backward() = tensor([2.])"]
    assert (r["mse"], r["grad"], r["w_grad"]) == (1.0, 2.0, 2.0)  # (2-1)^2, 2(2-1)*1: exact
    assert "does not require grad" in lines[4]
    assert "| rounded: [0.7, 0.2, 0.1]" in out  # the notes' "= 0.7, 0.2, 0.1"
    assert ("Loss只能1维 = one element: torch.autograd.grad(p, [a]) of all 3 -> RuntimeError: "
            "grad can be implicitly created only for scalar outputs") in out
    # the printed rows are the formula's at the notes' example a = [2.0, 1.0, 0.1]
    formula = softmax_jacobian_formula(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64))
    for i in (1, 2):
        assert f"torch.autograd.grad(p[{i}], [a]) = {(formula[i].float(),)!r} |" in out


def test_the_vector_output_error_and_what_one_element_means(lesson):
    a = torch.tensor([0.2, -1.0, 0.5], requires_grad=True)
    p = torch.softmax(a, dim=0)
    refused = lesson["refusal"](lambda: torch.autograd.grad(p, [a], retain_graph=True))
    assert "grad can be implicitly created only for scalar outputs" in refused
    # "1维" is one element, not one dimension: a (1,) slice is accepted like the 0-dim p[1]
    (as_slice,) = torch.autograd.grad(p[1:2], [a], retain_graph=True)
    (as_scalar,) = torch.autograd.grad(p[1], [a])
    assert torch.equal(as_slice, as_scalar)


def test_sum_and_mean_mse_gradients(lesson):
    g = torch.Generator().manual_seed(4)
    xs, ys = torch.randn(5, generator=g), torch.randn(5, generator=g)
    notes_formula = 2 * sum((2.0 * xi - yi) * xi for xi, yi in zip(xs.tolist(), ys.tolist()))
    for reduction, expected in [("sum", notes_formula), ("mean", notes_formula / 5)]:
        _, (grad,), w_grad = lesson["mse_grad_two_ways"](xs, torch.full([1], 2.0), ys, reduction)
        assert grad.item() == pytest.approx(expected, rel=1e-5)  # float32 in the script
        assert w_grad.item() == pytest.approx(expected, rel=1e-5)  # backward(): the same


def test_softmax_example_rounds_to_the_notes():
    exps = [math.exp(v) for v in (2.0, 1.0, 0.1)]
    expected = [e / sum(exps) for e in exps]
    r = loss_grad.main([])
    assert r["softmax"] == pytest.approx(expected, rel=1e-6)
    assert [round(v, 1) for v in expected] == [0.7, 0.2, 0.1]  # the notes' rounding


def softmax_jacobian_formula(a):
    """p_i(delta_ij - p_j), written out element by element from math.exp."""
    exps = [math.exp(v) for v in a.tolist()]
    p = [e / sum(exps) for e in exps]
    n = len(p)
    return torch.tensor([[p[i] * ((i == j) - p[j]) for j in range(n)] for i in range(n)],
                        dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_jacobian_is_exact_in_float64(lesson, seed):
    a = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    p, jacobian = lesson["softmax_jacobian"](a)
    torch.testing.assert_close(jacobian, softmax_jacobian_formula(a), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(jacobian.sum(dim=0), torch.zeros(5, dtype=torch.float64),
                               rtol=0, atol=1e-15)  # sum_i p_i = 1 does not move: columns sum to 0


def test_the_notes_unseeded_rows_come_from_one_probability_vector():
    """LS17 prints two rows of the softmax Jacobian for an unseeded a. The script recovers p from
    three off-diagonal entries, J10, J12 and J20; the other three printed entries, J11, J21 and
    J22, and sum(p) = 1, none of them used in the fit, must agree with it."""
    rows = [[-0.1005, 0.2052, -0.1048], [-0.1265, -0.1048, 0.2313]]  # the notes' rows, again
    p = loss_grad.probabilities_behind_rows(rows)
    assert abs(sum(p) - 1) < 1e-3  # a probability vector, to the printed precision
    for i, j in [(1, 1), (2, 1), (2, 2)]:  # J_ij = p_i(δij − p_j) in plain Python
        assert abs(p[i] * ((i == j) - p[j]) - rows[i - 1][j]) < 2e-4, (i, j)
    assert [round(v, 2) for v in p] == [0.35, 0.29, 0.36]  # the README's figure


def check_notes_a(out):
    """An a in [0, 1), as torch.rand(3) draws it, whose rows print as the notes' own."""
    for i, notes in zip([1, 2], NOTES_PRINTED_ROWS):
        assert f"torch.autograd.grad(p[{i}], [a]) = {notes} |" in out


def check_seed_1(out):
    """The same 5-sample batch drawn here from seed 1: the notes' gradient 2 sum (wx - y) x by
    hand, and 1/5 of it for the mean."""
    torch.manual_seed(1)
    xs, ys = torch.randn(5).tolist(), torch.randn(5).tolist()
    by_hand = 2 * sum((2.0 * xi - yi) * xi for xi, yi in zip(xs, ys))
    assert (f"5 samples: grad of sum (the notes' MSE) = {by_hand:.4f}, "
            f"grad of F.mse_loss (a mean) = {by_hand / 5:.4f} = 1/5 of it") in out


def test_every_try_line_shows_what_it_says(capsys):
    checks = {"--a 0.8 0.6112 0.8418": check_notes_a, "--seed 1": check_seed_1}
    for flags, _ in try_lines("loss_grad"):
        loss_grad.main(flags.split())
        checks[flags](capsys.readouterr().out)  # KeyError: a Try: line with no check
