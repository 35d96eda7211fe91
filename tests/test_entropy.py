"""entropy.py: the notes' entropies at their printed precision, and every identity against a
closed form written here (float64 where the point is exactness)."""
import contextlib
import io
import math

import pytest
import torch
import torch.nn.functional as F

import entropy
from conftest import lesson_namespace

F64 = dict(dtype=torch.float64)


@pytest.fixture(scope="module")
def printed():
    """main() with its defaults, run once: (what it printed, what it returned)."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = entropy.main([])
    return out.getvalue(), result


@pytest.fixture(scope="module")
def pq():
    """Two random distributions p, q (5,) in float64, made here with the tests' own seed."""
    g = torch.Generator().manual_seed(1)
    return [F.softmax(torch.randn(5, generator=g, **F64), dim=0) for _ in range(2)]


def by_hand(p, q):
    """H(p, q), H(p) and KL(p||q) in nats with math, skipping 0 ln 0 terms."""
    h_pq = -sum(pi * math.log(qi) for pi, qi in zip(p, q) if pi > 0)
    h_p = -sum(pi * math.log(pi) for pi in p if pi > 0)
    return h_pq, h_p, sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def test_prints_the_notes_entropies(printed):
    lines = printed[0].splitlines()
    at = next(i for i, s in enumerate(lines) if s.startswith("# entropy H = -sum p log2 p"))
    assert lines[at + 1:at + 6] == [  # LS22 and 004 print these three tensors
        "H([0.25, 0.25, 0.25, 0.25]) = tensor(2.)",
        "H([0.1, 0.1, 0.1, 0.7]) = tensor(1.3568)",
        "H([0.001, 0.001, 0.001, 0.997]) = tensor(0.0342)",
        "H([0.1, 0.9]) = tensor(0.4690)",  # 003's exam: 0.469
        "H([0.5, 0.5]) = tensor(1.)"]  # and 1
    for p in [1.0, 0.5, 0.25, 0.1]:  # I = -log2 p, by math here: 0, 1, 2 and 3.322 bits
        assert f"p = {p:<4}  I = {-math.log2(p) + 0.0:.3f} bits" in lines


def test_entropy_is_the_mean_information_content():
    lesson = lesson_namespace("entropy")  # the lesson part alone, as a learner copies it
    for dist in lesson["DISTRIBUTIONS"]:  # H = sum p * (-log2 p), computed with math here
        mean_info = -sum(p * math.log2(p) for p in dist)
        assert math.isclose(lesson["entropy_bits"](torch.tensor(dist, **F64)).item(), mean_info,
                            rel_tol=1e-12)


def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    for got, expected in zip(entropy.cross_entropy_and_kl(p, q), by_hand(p.tolist(), q.tolist())):
        torch.testing.assert_close(got, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    assert entropy.cross_entropy_and_kl(p, q)[2] > 0  # p != q


def test_p_equal_q_gives_kl_zero_and_cross_entropy_equal_entropy(pq, printed):
    p = pq[0]
    h_pq, h_p, kl = entropy.cross_entropy_and_kl(p, p)  # 001: "P=Q 时, D_KL = 0, CE = Entropy"
    assert kl.item() == 0.0
    expected = by_hand(p.tolist(), p.tolist())[1]
    torch.testing.assert_close(h_pq, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(h_p, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    line = next(s for s in printed[0].splitlines() if s.startswith("P = Q "))
    h = line.split("H(p, q) = ")[1].split()[0]
    assert line.split("H(p) = ")[1].split()[0] == h and line.endswith("KL(p||q) = 0.000000")


def test_one_hot_cross_entropy_is_kl(pq):
    q = pq[1]
    h_pq, h_p, kl = entropy.cross_entropy_and_kl(F.one_hot(torch.tensor(2), 5).double(), q)
    assert h_p.item() == 0.0  # 1 log 1 = 0 and 0 log 0 = 0
    expected = -math.log(q[2].item())
    torch.testing.assert_close(h_pq, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(kl, h_pq, rtol=1e-12, atol=0)


def test_cross_entropy_equals_nll_of_log_softmax():
    g = torch.Generator().manual_seed(2)
    x, w, b = (torch.randn(1, 784, generator=g), torch.randn(10, 784, generator=g),
               torch.randn(1, 10, generator=g))
    for logits, target in [(x @ w.t(), 3), (x @ w.t() + b, 4)]:  # 000/001's and 004's
        row = logits[0].double().tolist()
        top = max(row)  # -log softmax by hand, shifted by the max so nothing overflows
        expected = -(row[target] - top - math.log(sum(math.exp(v - top) for v in row)))
        losses = entropy.cross_entropy_three_ways(logits, torch.tensor([target])).values()
        for loss in losses:  # float32, as in the notes
            torch.testing.assert_close(loss.double(), torch.tensor(expected, **F64),
                                       rtol=1e-5, atol=1e-5)
        assert len({f"{loss.item():.4f}" for loss in losses}) == 1  # the notes' precision


def test_log_of_softmax_underflows_where_log_softmax_does_not():
    ce, naive, stable = entropy.cross_entropy_three_ways(torch.tensor([[0.0, 120.0]]),
                                                         torch.tensor([0])).values()
    assert ce.item() == 120.0 and stable.item() == 120.0  # -log softmax_0 = 120 exactly
    assert naive.item() == math.inf  # e^-120 rounds to 0 in float32, log(0) = -inf


def test_softmax_fed_to_cross_entropy_is_stuck_and_its_gradient_shrinks():
    low, high = math.log(1 + 9 / math.e), math.log(math.e + 9)  # 1.4612, 2.4612 for 10 classes
    sure = F.one_hot(torch.tensor([3]), 10).double() * 20  # confidently right
    right, wrong, _, _ = entropy.softmax_twice(sure, torch.tensor([3]))
    assert right < 1e-7 and wrong == pytest.approx(low, abs=1e-7)  # a right answer costs 1.46
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        z = 30 * torch.randn(1, 10, generator=g, **F64)
        t = torch.randint(0, 10, (1,), generator=g)
        right, wrong, g_right, g_wrong = entropy.softmax_twice(z, t)
        assert low - 1e-9 <= wrong <= high + 1e-9
        # closed forms: d CE/dz = s - y; through the extra softmax, J_s^T (softmax(s) - y)
        s, y = F.softmax(z[0], dim=0), F.one_hot(t[0], 10).double()
        jacobian = torch.diag(s) - torch.outer(s, s)
        assert g_right == pytest.approx((s - y).norm().item(), rel=1e-9)
        assert g_wrong == pytest.approx((jacobian @ (F.softmax(s, dim=0) - y)).norm().item(),
                                        rel=1e-9, abs=1e-15)
        if right > 5:  # confidently wrong: the extra softmax leaves a gradient 10x smaller
            assert g_wrong < g_right / 10


def test_binary_cross_entropy_three_ways():
    g = torch.Generator().manual_seed(4)
    z, y = torch.randn(6, generator=g, **F64), torch.randint(0, 2, (6,), generator=g).double()
    sig = [1 / (1 + math.exp(-v)) for v in z.tolist()]
    expected = -sum(t * math.log(s) + (1 - t) * math.log(1 - s)
                    for s, t in zip(sig, y.tolist())) / 6
    for value in entropy.binary_cross_entropy_three_ways(z, y):
        torch.testing.assert_close(value, torch.tensor(expected, **F64), rtol=1e-12, atol=0)


def test_why_not_mse(printed):
    logits = torch.tensor([-10.0, -6.0, -2.0, 0.0, 2.0], **F64)  # the script's table
    g_mse, g_bce = entropy.logit_gradients(logits, 1.0)
    sig = [1 / (1 + math.exp(-v)) for v in logits.tolist()]
    mse = [2 * (s - 1) * s * (1 - s) for s in sig]  # d(s - 1)^2/dz
    bce = [s - 1 for s in sig]  # d -log s / dz
    torch.testing.assert_close(g_mse, torch.tensor(mse, **F64), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(g_bce, torch.tensor(bce, **F64), rtol=1e-12, atol=1e-15)
    assert logits[0] == -10.0 and abs(g_mse[0]) < 1e-4 < 0.99 < abs(g_bce[0])  # vanishes, not
    assert " -10.0   0.00005    -9.08e-05    -1.00e+00" in printed[0].splitlines()
