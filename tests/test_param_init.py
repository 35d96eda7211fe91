"""1.4 parameter initialisation: numpy assignment, the loop over layers, nn.init statistics."""
import contextlib
import io
import math

import numpy as np
import pytest
import torch
from torch import nn

import param_init
from conftest import lesson_namespace, try_lines


@pytest.fixture(scope="module")
def result():
    with contextlib.redirect_stdout(io.StringIO()):
        return param_init.main([])


def test_numpy_assignment_keeps_float32():
    lesson = lesson_namespace("param_init")  # the lesson part alone, as a learner copies it
    array = np.random.default_rng(1).uniform(3, 5, size=(4, 3))
    assert array.dtype == np.float64
    # The notes' `.data =` swaps in the float64 tensor; a float32 input then fails.
    dtype, error = lesson["notes_data_assignment"](nn.Linear(3, 4), array)
    assert dtype == torch.float64 and "dtype" in error
    layer = nn.Linear(3, 4)
    bias = layer.bias.detach().clone()
    lesson["assign_from_numpy"](layer, array)
    assert layer.weight.dtype == torch.float32 and layer.weight.requires_grad
    assert torch.equal(layer.weight.detach(), torch.from_numpy(array.astype(np.float32)))
    assert 3 <= layer.weight.min().item() and layer.weight.max().item() < 5
    assert torch.equal(layer.bias.detach(), bias)  # only the weight was set


def test_loop_redraws_every_linear_in_order():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    param_init.init_linears_normal(net, np.random.default_rng(2), 0.5)
    rng = np.random.default_rng(2)  # the same draws, made here: layer by layer, (out, in)
    expected = [rng.normal(0, 0.5, size=shape) for shape in [(4, 3), (5, 4), (2, 5)]]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    for layer, e in zip(linears, expected):
        assert layer.weight.dtype == torch.float32
        assert torch.equal(layer.weight.detach(), torch.from_numpy(e.astype(np.float32)))


# 800 x 400 = 320,000 weights. The relative standard error of a sample std is
# sqrt((kurtosis - 1) / (4n)): 0.13% for a normal (kurtosis 3), 0.08% for a uniform (1.8).
# A 1% tolerance is more than 7 standard errors: it fails only if a formula is wrong.
FAN_IN, FAN_OUT = 800, 400


def test_init_stds_match_their_formulas(result):
    assert (param_init.FAN_IN, param_init.FAN_OUT) == (FAN_IN, FAN_OUT)
    assert result["notes_dtype"] == torch.float64  # what main printed for the notes' .data =
    expected = {"xavier_uniform_": math.sqrt(2 / (FAN_IN + FAN_OUT)),  # 0.040825
                "kaiming_normal_": math.sqrt(2 / FAN_IN),  # 0.05
                "nn.Linear default": math.sqrt(1 / (3 * FAN_IN))}  # U(±1/√fan_in): 0.020412
    measured = {row.name: row.empirical for row in result["init_stds"]}
    for name, std in expected.items():
        assert measured[name] == pytest.approx(std, rel=0.01), name


def test_xavier_uniform_bound(result):
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))  # 0.070711
    # All draws lie inside the bound, and with 320k of them the largest is within 0.1% of it
    # (the chance that none exceeds 0.999·bound is 0.999^320000 ≈ e^-320).
    assert 0.999 * bound <= result["xavier_max"] <= bound


def check_fan_in_200(out, result):
    """200 x 400 = 80,000 weights: a normal's sample std is within 0.25% (one standard error)
    of the true one, 1.5% is 6 of them. The closed forms at fan_in 200, fan_out 400:"""
    expected = {"kaiming_normal_": math.sqrt(2 / 200),  # 0.1000
                "xavier_uniform_": math.sqrt(2 / 600),  # 0.0577
                "nn.Linear default": math.sqrt(1 / 600)}  # 0.0408, U(±1/√200)
    assert [round(v, 4) for v in expected.values()] == [0.1, 0.0577, 0.0408]  # the Try: line
    measured = {row.name: row.empirical for row in result["init_stds"]}
    for name, std in expected.items():
        assert measured[name] == pytest.approx(std, rel=0.015), name
    assert "200 -> 400 weight   empirical std   formula" in out
    assert result["xavier_max"] <= math.sqrt(6 / 600)  # the bound, 0.1


CHECKS = {"--fan-in 200": check_fan_in_200}


@pytest.mark.parametrize("flags, said", try_lines("param_init"))
def test_try_experiments(flags, said):
    check = CHECKS[flags]  # KeyError: a Try: line with no check here
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = param_init.main(flags.split())
    check(out.getvalue(), result)
