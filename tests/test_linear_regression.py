"""1.0 linear model: the notes' gradient formulas, autograd, gradient descent, accumulation."""
import contextlib
import io

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import linear_regression
from conftest import lesson_namespace, try_lines


@pytest.fixture(scope="module")
def result():
    """The lesson part alone (as a learner copies it), its steps called with the defaults."""
    lesson = lesson_namespace("linear_regression")
    torch.manual_seed(0)
    x, y = lesson["make_data"](lesson["N_POINTS"], torch.Generator().manual_seed(0))
    w = torch.randn(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    w0, b0 = w.detach().clone(), b.detach().clone()
    r = {"x": x, "y": y, "w0": w0, "b0": b0,
         "analytic": lesson["analytic_grads"](x, y, w, b),
         "autograd": lesson["autograd_grads"](x, y, w, b)}
    r["grad_twice"] = lesson["autograd_grads"](x, y, w, b, backwards=2)
    r["losses"] = lesson["train"](x, y, w, b, lesson["EPOCHS"], lesson["LR"], zero_grad=True)
    return r


def run_main(*argv):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = linear_regression.main(list(argv))
    return out.getvalue().splitlines(), result


def design(x):
    return np.stack([x.numpy(), np.ones(len(x))], axis=1)  # (n, 2): columns x and 1


def gd_closed_form(x, y, theta0, lr, steps):
    """Gradient descent on L = 1/n·|Aθ − y|² in closed form: its gradient is H(θ − θ*) with
    H = 2/n·AᵀA and θ* the least-squares minimum, so θ_k = θ* + (I − lr·H)^k (θ_0 − θ*)."""
    a = design(x)
    best = np.polyfit(x.numpy(), y.numpy(), 1)  # numpy's least squares: (w, b)
    hessian = 2 / len(x) * a.T @ a
    return best + np.linalg.matrix_power(np.eye(2) - lr * hessian, steps) @ (theta0 - best)


def first_w():
    torch.manual_seed(0)  # main draws w first after seeding: w random, b zero
    return torch.randn(1, dtype=torch.float64).item()


def test_ten_steps_match_the_closed_form_and_have_not_converged():
    """The fit is compared with the closed form of gradient descent on a quadratic and with
    numpy's own least squares (polyfit), not with the script's output."""
    x, y = linear_regression.make_data(15, torch.Generator().manual_seed(0))
    best_w, best_b = np.polyfit(x.numpy(), y.numpy(), 1)  # 0.4958, 0.9438
    lines, r = run_main()  # the notes' 10 steps
    expected = gd_closed_form(x, y, np.array([first_w(), 0.0]), linear_regression.LR, 10)
    assert_close(np.array([r["w"], r["b"]]), expected, rtol=1e-10, atol=1e-12)
    assert [round(v, 4) for v in expected] == [0.6460, -0.0875]  # the docstring's, the README's
    assert abs(r["b"] - best_b) > 0.5 and "not converged yet" in lines[-1]
    assert sum(s.startswith("epoch: ") for s in lines) == 10
    assert [s for s in lines if s.startswith("== ")] == [
        "== 二者的梯度 / the notes' ∂L/∂w, ∂L/∂b against autograd ==",
        "== 梯度归零 / .grad accumulates: why the notes zero it ==",
        "== 多次更新参数 / 10 gradient steps (each loss before its step) =="]


def check_2000_epochs(lines, r, x, y):
    best_w, best_b = np.polyfit(x.numpy(), y.numpy(), 1)  # 0.4958, 0.9438
    assert (round(best_w, 4), round(best_b, 4)) == (0.4958, 0.9438)  # as the Try: line says
    assert abs(r["w"] - best_w) < 1e-3 and abs(r["b"] - best_b) < 1e-3
    assert lines[-1].endswith("converged (within 0.001)")
    assert sum(s.startswith("epoch: ") for s in lines) == 10  # ten lines, not 2000


def check_lr_003(lines, r, x, y):
    a = design(x)
    largest = np.linalg.eigvalsh(2 / len(x) * a.T @ a).max()  # 78.2
    assert round(largest) == 78 and 0.03 > 2 / largest  # the step overshoots along it
    losses = r["losses"]
    assert all(later > earlier for earlier, later in zip(losses, losses[1:]))  # grows every step
    assert (round(losses[0], 1), round(losses[-1])) == (31.6, 5019)
    expected = gd_closed_form(x, y, np.array([first_w(), 0.0]), 0.03, 10)
    assert_close(np.array([r["w"], r["b"]]), expected, rtol=1e-10, atol=1e-12)
    assert "diverging" in lines[-1]


def check_forget_zero_grad(lines, r, x, y):
    """Without zeroing, each step uses the sum of all gradients so far: recomputed in numpy."""
    a, target = design(x), y.numpy()
    theta, grad_sum, losses = np.array([first_w(), 0.0]), np.zeros(2), []
    for _ in range(10):
        residual = a @ theta - target
        losses.append(np.mean(residual ** 2))
        grad_sum += 2 / len(x) * a.T @ residual
        theta = theta - linear_regression.LR * grad_sum
    assert_close(r["losses"], losses, rtol=1e-10, atol=0)
    assert [round(v, 1) for v in losses[1:4]] == [1.9, 16.7, 39.0]  # as the Try: line says
    assert not all(later < earlier for earlier, later in zip(losses, losses[1:]))


CHECKS = {"--epochs 2000": check_2000_epochs, "--lr 0.03": check_lr_003,
          "--forget-zero-grad": check_forget_zero_grad}


@pytest.mark.parametrize("flags, said", try_lines("linear_regression"))
def test_try_experiments(flags, said):
    check = CHECKS[flags]  # KeyError: a Try: line with no check here
    x, y = linear_regression.make_data(15, torch.Generator().manual_seed(0))
    lines, r = run_main(*flags.split())
    check(lines, r, x, y)


def closed_form_grads(x, y, w, b):
    r = w * x + b - y  # (n,)
    n = len(x)
    return 2 / n * (x * r).sum().reshape(1), 2 / n * r.sum().reshape(1)


def test_autograd_equals_the_notes_formulas(result):
    gw, gb = closed_form_grads(result["x"], result["y"], result["w0"], result["b0"])
    aw, ab = result["autograd"]
    assert aw.dtype == torch.float64
    assert_close(aw, gw)  # float64 default tolerance: rtol 1e-7, here they agree to ~1e-15
    assert_close(ab, gb)
    assert_close(result["analytic"][0].reshape(1), gw)
    assert_close(result["analytic"][1].reshape(1), gb)


def test_a_second_backward_adds_to_grad(result):
    assert_close(result["grad_twice"][0], 2 * result["autograd"][0])
    assert_close(result["grad_twice"][1], 2 * result["autograd"][1])


def test_loss_falls_every_epoch(result):
    x, y, losses = result["x"], result["y"], result["losses"]
    assert len(losses) == linear_regression.EPOCHS
    assert losses[0] == pytest.approx(torch.mean((result["w0"] * x + result["b0"] - y) ** 2).item())
    # Gradient descent on a quadratic decreases the loss at every step when lr < 2/L, L the
    # largest eigenvalue of the Hessian 2/n·[[Σx², Σx], [Σx, n]].
    hessian = 2 * torch.tensor([[(x * x).mean(), x.mean()], [x.mean(), 1.0]], dtype=torch.float64)
    assert linear_regression.LR < 2 / torch.linalg.eigvalsh(hessian).max().item()
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    # ... but never below the least-squares minimum.
    a = torch.stack([x, torch.ones_like(x)], dim=1)  # (n, 2)
    coef = torch.linalg.lstsq(a, y.unsqueeze(1)).solution
    assert losses[-1] > torch.mean((a @ coef - y.unsqueeze(1)) ** 2).item()

