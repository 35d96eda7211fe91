"""1.0 linear model: the notes' gradient formulas, autograd, gradient descent, accumulation."""
import pytest
import torch
from torch.testing import assert_close

import linear_regression


@pytest.fixture(scope="module")
def result():
    return linear_regression.main([])


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
    assert_close(result["grad_once"], result["autograd"][0])
    assert_close(result["grad_twice"], 2 * result["grad_once"])


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
    losses = linear_regression.main(["--forget-zero-grad"])["losses"]
    assert not all(later < earlier for earlier, later in zip(losses, losses[1:]))
