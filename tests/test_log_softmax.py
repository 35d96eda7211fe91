"""log_softmax: the three implementations against closed forms and F.log_softmax, the loss three
ways, float32's exp limit behind the x1000 failure, and the notes' np.exp table within 1 ulp."""
import contextlib
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import log_softmax as ls
from conftest import lesson_namespace, try_lines

# The notes' np.exp table, as printed there.
NOTES_EXP = {1: "2.718281828459045", 10: "22026.465794806718", 100: "2.6881171418161356e+43",
             500: "1.4035922178528375e+217", 1000: "inf", -1: "0.36787944117144233",
             -10: "4.5399929762484854e-05", -100: "3.720075976020836e-44",
             -500: "7.124576406741286e-218", -1000: "0.0"}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small ops, one thread


@pytest.fixture(scope="module")
def res(mnist_dir):
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        out = ls.main(["--data-dir", str(mnist_dir)])
    return {**out, "text": text.getvalue()}


def probs_and_logits(shift=0.0, dtype=torch.float64):
    """Rows whose softmax is known: logits log(p) + shift have softmax p for any shift."""
    p = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]], dtype=dtype)
    return p, p.log() + shift


@pytest.mark.parametrize("label, log_softmax", ls.IMPLEMENTATIONS)
def test_each_implementation_gives_log_p(label, log_softmax):
    p, x = probs_and_logits()
    assert_close(log_softmax(x), p.log())


def test_only_logsumexp_trick_survives_large_inputs():
    """Shifted by +1000 the softmax is unchanged, but exp(1000) overflows even in float64."""
    p, x = probs_and_logits(shift=1000.0)
    assert_close(ls.log_softmax_lse(x), p.log())
    assert not ls.log_softmax_naive(x).isfinite().all()
    assert not ls.log_softmax_sub(x).isfinite().all()
    assert_close(ls.logsumexp(x), torch.logsumexp(x, -1))


def test_a_shift_of_400_breaks_float32_only():
    """|x| ~ 400 (what pred * 1000 reaches) is past float32's exp limit ln(3.4e38) = 88.72 and
    inside float64's ln(1.8e308) = 709.78: the naive formula fails in float32 only."""
    for dtype, finite in [(torch.float32, False), (torch.float64, True)]:
        p, x = probs_and_logits(shift=400.0, dtype=dtype)
        assert bool(ls.log_softmax_naive(x).isfinite().all()) is finite, dtype
        assert_close(ls.log_softmax_lse(x), p.log(), atol=1e-4, rtol=0)


def test_nll_is_integer_array_indexing():
    p, x = probs_and_logits()
    target = torch.tensor([3, 0])
    expected = -(math.log(0.4) + math.log(0.25)) / 2  # -mean log p[target]
    assert_close(ls.nll(p.log(), target).item(), expected)
    assert_close(F.cross_entropy(x, target).item(), expected)


def test_lesson_alone_gives_cross_entropy():
    """The lesson part alone (no main, no plumbing): nll(log_softmax_lse(x)) = F.cross_entropy."""
    lesson = lesson_namespace("log_softmax")
    torch.manual_seed(0)
    x, target = torch.randn(8, 10, dtype=torch.float64) * 50, torch.randint(0, 10, (8,))
    assert_close(lesson["nll"](lesson["log_softmax_lse"](x), target), F.cross_entropy(x, target))


def test_untrained_model_loss_three_ways(res):
    """The data's first labels exactly; an untrained net's loss is ~ln 10 (notes 2.3019; 10 seeds:
    2.300-2.318); nll by indexing = F.nll_loss = F.cross_entropy."""
    assert res["y3"] == [5, 0, 4]
    assert "y_train[:3] = [5, 0, 4], y_train.shape[0] = 50000 " in res["text"]  # the notes' 50000
    losses = list(res["losses"])
    for value in losses:
        assert_close(value, losses[0], rtol=1e-6, atol=0)
        assert 2.25 < value < 2.40
    assert all(-2.8 < v < -1.9 for v in res["picked"])  # notes: -2.2674, -2.1714, -2.3043
    assert res["lse_err"] < 1e-5


def test_implementations_on_predictions(res):
    """pred * 1000 reaches |x| = 357 with seed 0 (seeds 0-4: 330-474): past 88.72, below 709.78.
    In float32 exp overflows (inf / inf = nan) and underflows (log 0 = -inf) for the first two;
    in float64 all three stay finite."""
    assert 88.72 < res["max_abs_x"] < 709.78
    checks = res["implementations"]
    assert all(c.max_err < 1e-5 for c in checks)
    assert [c.finite_float32 for c in checks] == [False, False, True]
    assert [c.finite_float64 for c in checks] == [True, True, True]


def test_predictions_carry_no_graph():
    """The lesson part alone: the untrained net's predictions are made under no_grad, so no
    autograd graph is kept over the 50000 images (requires_grad False, no grad_fn)."""
    lesson = lesson_namespace("log_softmax")
    x = torch.rand(100, 784)
    pred = lesson["untrained_predictions"](x, 50)
    assert pred.shape == (100, 10) and not pred.requires_grad and pred.grad_fn is None


def test_float_limits_as_in_the_notes(res):
    """The notes' np.exp digits, within 1 ulp: numpy 1.x's float64 exp on AVX-512 is 1 ulp off
    (exp(-1) = 0.3678794411714424 there, 0.36787944117144233 in the notes and numpy 2)."""
    limits = res["limits"]
    for e, printed in NOTES_EXP.items():
        notes, ours = float(printed), limits.float64[e]
        if math.isinf(notes) or notes == 0.0:
            assert ours == notes, e
        else:
            assert abs(ours - notes) <= math.ulp(notes), (e, ours, printed)
    assert limits.small_lost and limits.big_lost and limits.small_lost_float32  # the notes' "wut"
    assert math.isinf(limits.float32[100]) and limits.float32[-500] == 0.0
    assert_close(limits.max_exp32, 88.72283905206835)  # ln(3.4028234663852886e38)
    assert_close(limits.max_exp64, 709.782712893384)  # ln(1.7976931348623157e308)


def check_scale_100(res):
    """pred * 100: |x| ~36 (seed 0: 35.7), under 88.72, so every exp is finite in float32."""
    assert res["max_abs_x"] < 88.72
    assert [c.finite_float32 for c in res["implementations"]] == [True, True, True]


def check_scale_3000(res):
    """pred * 3000: |x| ~1070 (seed 0: 1069.8), past float64's 709.78: exp overflows there too."""
    assert res["max_abs_x"] > 709.78
    checks = res["implementations"]
    assert [c.finite_float64 for c in checks] == [False, False, True]
    assert [c.finite_float32 for c in checks] == [False, False, True]


CHECKS = {"--scale 100": check_scale_100, "--scale 3000": check_scale_3000}


def test_try_experiments(mnist_dir):
    """Every Try: line of the docstring, run and checked against what it says."""
    for flags, _ in try_lines("log_softmax"):
        with contextlib.redirect_stdout(io.StringIO()):
            res = ls.main([*flags.split(), "--data-dir", str(mnist_dir)])
        CHECKS[flags](res)  # KeyError: a Try: line with no check here


def test_missing_data_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        ls.main(["--data-dir", str(tmp_path)])
    message = str(exc.value)
    assert message.startswith("error: MNIST is not in") and "get_mnist.py" in message
    assert len(message.splitlines()) == 1
