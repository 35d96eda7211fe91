"""mlp_backprop.py: the delta rule against autograd (1e-10, float64), against central differences
(an independent third route), and one SGD step that lowers E as the first-order term predicts."""
import pytest
import torch

import mlp_backprop


def steps(sizes, lr, seed=mlp_backprop.SEED, samples=mlp_backprop.SAMPLES):
    """The script's steps called directly: gradients two ways, then one SGD step."""
    torch.manual_seed(seed)
    params = mlp_backprop.init_params(sizes)
    x = torch.randn(samples, sizes[0], dtype=torch.float64)
    t = torch.rand(samples, sizes[-1], dtype=torch.float64)
    with torch.no_grad():
        manual = mlp_backprop.delta_rule(mlp_backprop.forward(x, params), params, t)
    auto = mlp_backprop.autograd_grads(x, params, t)
    e_before = error_of(x, t, params)
    mlp_backprop.sgd_step(params, manual, lr)
    return {"x": x, "t": t, "manual": manual, "autograd": auto, "E_before": e_before,
            "E_after": error_of(x, t, params)}


@pytest.fixture(scope="module")
def run():
    return steps(mlp_backprop.SIZES, mlp_backprop.LR)


def test_main_reports_the_same_numbers(run):
    r = mlp_backprop.main([])
    assert r["max_diff"] <= 1e-10
    assert r["E_before"] == pytest.approx(run["E_before"]) and r["E_after"] == pytest.approx(
        run["E_after"])  # E by the script's error() and by error_of() here


def test_delta_rule_equals_autograd_for_every_weight(run):
    assert len(run["manual"]) == 2  # a 4-5-3 net: one hidden layer
    for (dw, db), (aw, ab) in zip(run["manual"], run["autograd"]):
        assert dw.dtype == torch.float64
        torch.testing.assert_close(dw, aw, rtol=0, atol=1e-10)
        torch.testing.assert_close(db, ab, rtol=0, atol=1e-10)


def error_of(x, t, params):
    """E = 1/2 sum (O - t)^2 of a sigmoid MLP, written here independently of the script."""
    o = x
    for w, b in params:
        o = torch.sigmoid(o @ w + b)
    return 0.5 * ((o - t) ** 2).sum().item()


@pytest.mark.parametrize("sizes", [[3, 4, 2], [2, 3, 3, 2]])
def test_delta_rule_equals_central_differences(sizes):
    torch.manual_seed(1)
    params = [(w.detach(), b.detach()) for w, b in mlp_backprop.init_params(sizes)]
    x = torch.randn(3, sizes[0], dtype=torch.float64)
    t = torch.rand(3, sizes[-1], dtype=torch.float64)
    outputs = mlp_backprop.forward(x, params)
    manual = mlp_backprop.delta_rule(outputs, params, t)
    h = 1e-6  # central differences: error ~h^2, far below the tolerance
    for (w, b), (dw, db) in zip(params, manual):
        for tensor, grad in ((w, dw), (b, db)):
            numeric = torch.empty_like(tensor)
            flat, flat_numeric = tensor.view(-1), numeric.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + h
                up = error_of(x, t, params)
                flat[i] = old - h
                down = error_of(x, t, params)
                flat[i] = old
                flat_numeric[i] = (up - down) / (2 * h)
            torch.testing.assert_close(grad, numeric, rtol=1e-6, atol=1e-8)


def test_one_sgd_step_lowers_e(run):
    assert run["E_after"] < run["E_before"]  # E computed here, before and after the step


def test_small_step_lowers_e_by_lr_times_grad_norm_squared():
    lr = 1e-5
    result = steps([3, 4, 4, 2], lr)
    norm2 = sum((g ** 2).sum().item() for pair in result["autograd"] for g in pair)
    drop = result["E_before"] - result["E_after"]
    assert drop == pytest.approx(lr * norm2, rel=1e-3)  # first-order Taylor: dE = -lr |g|^2


def test_needs_a_hidden_layer():
    with pytest.raises(SystemExit) as exc:
        mlp_backprop.main(["--sizes", "4", "3"])
    assert exc.value.code == 2
