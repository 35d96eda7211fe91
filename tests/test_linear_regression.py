"""1.0 linear model: the notes' gradient formulas, autograd, gradient descent, accumulation."""
import contextlib
import io

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import linear_regression
from conftest import lesson_namespace


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


def test_ten_steps_have_not_converged_and_2000_have():
    """The fit is compared with numpy's own least squares (polyfit), not with the script's."""
    x, y = linear_regression.make_data(15, torch.Generator().manual_seed(0))
    best_w, best_b = np.polyfit(x.numpy(), y.numpy(), 1)  # 0.4958, 0.9438
    lines, r = run_main()  # the notes' 10 steps
    assert (round(r["w"], 4), round(r["b"], 4)) == (0.6460, -0.0875)  # as the docstring says
    assert abs(r["b"] - best_b) > 0.5 and "not converged yet" in lines[-1]
    lines, r = run_main("--epochs", "2000")
    assert abs(r["w"] - best_w) < 1e-3 and abs(r["b"] - best_b) < 1e-3
    assert lines[-1].endswith("converged (within 0.001)")
    assert sum(s.startswith("epoch: ") for s in lines) == 10  # ten lines, not 2000


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


def test_forgetting_zero_grad_breaks_descent():
    torch.manual_seed(0)
    x, y = linear_regression.make_data(linear_regression.N_POINTS,
                                       torch.Generator().manual_seed(0))
    w = torch.randn(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    losses = linear_regression.train(x, y, w, b, linear_regression.EPOCHS, linear_regression.LR,
                                     zero_grad=False)
    assert not all(later < earlier for earlier, later in zip(losses, losses[1:]))
