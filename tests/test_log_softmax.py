"""log_softmax: the three implementations against closed forms and F.log_softmax, the loss three
ways, and the notes' float limits digit for digit."""
import contextlib
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import log_softmax as ls

# The notes' np.exp table, as printed there.
NOTES_EXP = {1: "2.718281828459045", 10: "22026.465794806718", 100: "2.6881171418161356e+43",
             500: "1.4035922178528375e+217", 1000: "inf", -1: "0.36787944117144233",
             -10: "4.5399929762484854e-05", -100: "3.720075976020836e-44",
             -500: "7.124576406741286e-218", -1000: "0.0"}


@pytest.fixture(scope="module")
def res(mnist_dir):
    with contextlib.redirect_stdout(io.StringIO()):
        return ls.main(["--data-dir", str(mnist_dir)])


def probs_and_logits(shift=0.0):
    """Rows whose softmax is known: logits log(p) + shift have softmax p for any shift."""
    p = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]], dtype=torch.float64)
    return p, p.log() + shift


@pytest.mark.parametrize("name", list(ls.IMPLEMENTATIONS))
def test_each_implementation_gives_log_p(name):
    p, x = probs_and_logits()
    assert_close(ls.IMPLEMENTATIONS[name](x), p.log())


def test_only_logsumexp_trick_survives_large_inputs():
    """Shifted by +1000 the softmax is unchanged, but exp(1000) overflows even in float64."""
    p, x = probs_and_logits(shift=1000.0)
    assert_close(ls.log_softmax_lse(x), p.log())
    assert not ls.log_softmax_naive(x).isfinite().all()
    assert not ls.log_softmax_sub(x).isfinite().all()
    assert_close(ls.logsumexp(x), torch.logsumexp(x, -1))


def test_nll_is_integer_array_indexing():
    p, x = probs_and_logits()
    target = torch.tensor([3, 0])
    expected = -(math.log(0.4) + math.log(0.25)) / 2  # -mean log p[target]
    assert_close(ls.nll(p.log(), target).item(), expected)
    assert_close(F.cross_entropy(x, target).item(), expected)


def test_untrained_model_loss_three_ways(res):
    """The data's first labels exactly; an untrained net's loss is ~ln 10 (notes 2.3019; 10 seeds:
    2.300-2.318); nll by indexing = F.nll_loss = F.cross_entropy."""
    assert res["y3"] == [5, 0, 4]
    losses = list(res["losses"].values())
    for value in losses:
        assert_close(value, losses[0], rtol=1e-6, atol=0)
        assert 2.25 < value < 2.40
    assert all(-2.8 < v < -1.9 for v in res["picked"].tolist())  # notes: -2.27, -2.17, -2.30
    assert res["lse_err"] < 1e-5


def test_implementations_on_predictions(res):
    impls = res["implementations"]
    assert all(r["max_err"] < 1e-5 for r in impls.values())
    assert [r["finite_x1000"] for r in impls.values()] == [False, False, True]
    assert impls["3 LogSumExp trick"]["max_err_x1000"] < 1e-3  # values of size ~100s


def test_float_limits_as_in_the_notes(res):
    limits = res["limits"]
    assert {e: repr(v) for e, v in limits["float64"].items()} == NOTES_EXP
    assert all(limits["sums"].values())
    assert math.isinf(limits["float32"][100]) and limits["float32"][-500] == 0.0
    assert_close(limits["max_exp"]["float32"], math.log(torch.finfo(torch.float32).max))


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        ls.main(["--data-dir", str(tmp_path)])
    assert str(exc.value).startswith("error: MNIST is not in") and "make data" in str(exc.value)
