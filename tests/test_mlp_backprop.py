"""mlp_backprop.py: the delta rule against autograd (1e-10, float64), against central differences
(an independent third route), and one SGD step that lowers E as the first-order term predicts.
E is written here again (error_of), independently of the script's error()."""
import pytest
import torch

import mlp_backprop
from conftest import lesson_namespace, try_lines


def error_of(x, t, params):
    """E = 1/2 sum (O - t)^2 of a sigmoid MLP, summed over the samples."""
    o = x
    for w, b in params:
        o = torch.sigmoid(o @ w + b)
    return 0.5 * ((o - t) ** 2).sum().item()


def net(sizes, seed, samples=3):
    """Float64 parameters and data for a net of `sizes`, from the copied lesson's init_params."""
    torch.manual_seed(seed)
    params = lesson_namespace("mlp_backprop")["init_params"](sizes)  # the lesson alone
    x = torch.randn(samples, sizes[0], dtype=torch.float64)
    t = torch.rand(samples, sizes[-1], dtype=torch.float64)
    return params, x, t


def e_before_and_after(sizes, lr, seed=0, samples=4):
    """main()'s E before and after its step, worked out here: the same draws (seed, init_params,
    x, t), E by error_of and the step by torch.autograd.grad of a torch E written here; no
    delta rule, no script function past the init."""
    params, x, t = net(sizes, seed, samples)
    def e_torch():
        o = x
        for w, b in params:
            o = torch.sigmoid(o @ w + b)
        return 0.5 * ((o - t) ** 2).sum()
    before = error_of(x, t, params)
    grads = torch.autograd.grad(e_torch(), [p for wb in params for p in wb])
    with torch.no_grad():
        for p, g in zip([p for wb in params for p in wb], grads):
            p -= lr * g
    return before, error_of(x, t, params)


def assert_e_line(out, result, sizes, lr):
    before, after = e_before_and_after(sizes, lr)
    assert result["E_before"] == pytest.approx(before, rel=1e-12)
    assert result["E_after"] == pytest.approx(after, rel=1e-9)
    assert (f"E = {before:.4f} before, {after:.4f} after one SGD step (lr {lr:g}) with the "
            "delta-rule gradients") in out.splitlines()
    return before, after


def test_main_prints_every_gradient_and_lowers_e(capsys):
    r = mlp_backprop.main([])
    out = capsys.readouterr().out
    for name, shape in [("W1", (4, 5)), ("b1", (5,)), ("W2", (5, 3)), ("b2", (3,))]:  # 4-5-3
        assert f"dE/d{name} {shape}: max |delta rule - autograd| = " in out
    before, after = assert_e_line(out, r, [4, 5, 3], 0.5)
    assert after < before


def test_main_fails_loudly_when_the_delta_rule_is_off(monkeypatch, capsys):
    """main checks itself: a delta rule off by 1% in every entry makes it exit with the gap."""
    right = mlp_backprop.delta_rule
    monkeypatch.setattr(mlp_backprop, "delta_rule", lambda x, params, t: [
        (1.01 * dw, 1.01 * db) for dw, db in right(x, params, t)])
    with pytest.raises(SystemExit) as exc:
        mlp_backprop.main([])
    assert str(exc.value).startswith("error: the delta rule is off by ")
    assert str(exc.value).endswith(" > 1e-10")


def check_two_hidden_layers(out, result):
    for name, shape in [("W1", (4, 6)), ("b1", (6,)), ("W2", (6, 5)), ("b2", (5,)),
                        ("W3", (5, 3)), ("b3", (3,))]:
        line = next(s for s in out.splitlines() if s.startswith(f"dE/d{name} {shape}: "))
        assert float(line.split("= ")[-1]) < 1e-15  # float64 rounding, ~1e-17
    before, after = assert_e_line(out, result, [4, 6, 5, 3], 0.5)
    assert after < before


def check_lr_20(out, result):
    before, after = assert_e_line(out, result, [4, 5, 3], 20.0)
    assert after > before  # the step overshoots: the first-order drop holds only for small lr


def test_every_try_line_shows_what_it_says(capsys):
    checks = {"--sizes 4 6 5 3": check_two_hidden_layers, "--lr 20": check_lr_20}
    for flags, _ in try_lines("mlp_backprop"):
        result = mlp_backprop.main(flags.split())
        checks[flags](capsys.readouterr().out, result)  # KeyError: a Try: line with no check


@pytest.mark.parametrize("sizes", [[4, 5, 3], [2, 6, 4, 3]])
def test_delta_rule_equals_autograd_for_every_weight(sizes):
    params, x, t = net(sizes, seed=2)
    manual = mlp_backprop.delta_rule(x, params, t)
    auto = mlp_backprop.autograd_grads(x, params, t)
    assert len(manual) == len(sizes) - 1
    for (dw, db), (aw, ab) in zip(manual, auto):
        torch.testing.assert_close(dw, aw, rtol=0, atol=1e-10)
        torch.testing.assert_close(db, ab, rtol=0, atol=1e-10)


@pytest.mark.parametrize("sizes", [[3, 4, 2], [2, 3, 3, 2]])
def test_delta_rule_equals_central_differences(sizes):
    params, x, t = net(sizes, seed=1)
    params = [(w.detach(), b.detach()) for w, b in params]
    manual = mlp_backprop.delta_rule(x, params, t)
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


@pytest.mark.parametrize("lr, check", [(0.5, "lower"), (1e-5, "first order")])
def test_sgd_step_with_delta_rule_gradients(lr, check):
    params, x, t = net([3, 4, 4, 2], seed=0)
    grads = mlp_backprop.delta_rule(x, params, t)
    e_before = error_of(x, t, params)
    mlp_backprop.sgd_step(params, grads, lr)
    drop = e_before - error_of(x, t, params)
    if check == "lower":
        assert drop > 0
    else:  # first-order Taylor: dE = -lr |g|^2
        norm2 = sum((g ** 2).sum().item() for pair in grads for g in pair)
        assert drop == pytest.approx(lr * norm2, rel=1e-3)


@pytest.mark.parametrize("argv", [["--sizes", "4", "3"], ["--sizes", "4", "0", "3"],
                                  ["--samples", "0"]])
def test_needs_a_hidden_layer_and_positive_counts(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        mlp_backprop.main(argv)
    assert exc.value.code == 2 and "--sizes needs 3+ positive numbers" in capsys.readouterr().err
