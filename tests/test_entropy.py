"""entropy.py: the notes' entropies at their printed precision, and every identity against a
closed form written here (float64 where the point is exactness)."""
import contextlib
import io
import math

import pytest
import torch
import torch.nn.functional as F

import entropy
from conftest import lesson_namespace, try_lines

F64 = dict(dtype=torch.float64)
NOTES_SHAPE = "torch.Size([1, 10])"  # the details notes' In [8] and the classification notes, twice


@pytest.fixture(scope="module")
def printed():
    """main() with its defaults, run once: (what it printed, what it returned)."""
    return run()


@pytest.fixture(scope="module")
def pq():
    """Two random distributions p, q (5,) in float64, made here with the tests' own seed."""
    g = torch.Generator().manual_seed(1)
    return [F.softmax(torch.randn(5, generator=g, **F64), dim=0) for _ in range(2)]


def run(*argv):
    """main(argv): (what it printed, what it returned)."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = entropy.main(list(argv))
    return out.getvalue(), result


def block(text, heading):
    """The lines of the printed block whose `== ... ==` line starts with `== heading`."""
    lines = text.splitlines()
    at = next(i for i, s in enumerate(lines) if s.startswith(f"== {heading}"))
    end = next((i for i in range(at + 1, len(lines)) if not lines[i]), len(lines))
    return lines[at + 1:end]


def seeded_draws(seed):
    """The script's random inputs, drawn here in its order from the same seed: p, q (5,) and the
    notes' x (1, 784), w (10, 784), b (1, 10). Only the inputs: every expectation below is
    computed from them by hand."""
    torch.manual_seed(seed)
    p, q = F.softmax(torch.randn(2, 5, **F64), dim=1)
    return p, q, torch.randn(1, 784), torch.randn(10, 784), torch.randn(1, 10)


def nll_by_hand(logits, target):
    """-log softmax(logits)[target] in float64 with math, shifted by the max: nothing overflows."""
    row = logits[0].double().tolist()
    top = max(row)
    return -(row[target] - top - math.log(sum(math.exp(v - top) for v in row)))


def by_hand(p, q):
    """H(p, q), H(p) and KL(p||q) in nats with math, skipping 0 ln 0 terms."""
    h_pq = -sum(pi * math.log(qi) for pi, qi in zip(p, q) if pi > 0)
    h_p = -sum(pi * math.log(pi) for pi in p if pi > 0)
    return h_pq, h_p, sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def test_prints_the_notes_entropies(printed):
    lines = printed[0].splitlines()
    assert block(printed[0], "熵 / Entropy") == [  # LS22 and the classification notes print 3
        "H([0.25, 0.25, 0.25, 0.25]) = tensor(2.)",
        "H([0.1, 0.1, 0.1, 0.7]) = tensor(1.3568)",
        "H([0.001, 0.001, 0.001, 0.997]) = tensor(0.0342)",
        "H([0.1, 0.9]) = tensor(0.4690)",  # the self-notes' exam: 0.469
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
    h_pq, h_p, kl = entropy.cross_entropy_and_kl(p, p)  # LS22: "P=Q 时, D_KL = 0, CE = Entropy"
    assert kl.item() == 0.0
    expected = by_hand(p.tolist(), p.tolist())[1]
    torch.testing.assert_close(h_pq, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(h_p, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    assert_kl_rows(printed[0], seed=0)


def assert_kl_rows(text, seed):
    """The three printed rows against H(p, q), H(p) and KL worked out with math on the draws."""
    p, q, *_ = seeded_draws(seed)
    one_hot = [0.0, 0.0, 1.0, 0.0, 0.0]
    rows = [(name, by_hand(a, b)) for name, (a, b) in
            [("random p, q", (p.tolist(), q.tolist())), ("P = Q", (p.tolist(), p.tolist())),
             ("one-hot p", (one_hot, q.tolist()))]]
    assert block(text, "交叉熵 / Cross Entropy") == [
        f"{name:<12} H(p, q) = {h_pq:.6f}   H(p) = {h_p + 0.0:.6f}   KL(p||q) = {kl + 0.0:.6f}"
        for name, (h_pq, h_p, kl) in rows]
    assert rows[0][1][2] > 0.1 and abs(rows[1][1][2]) < 1e-15  # KL > 0 but for P = Q


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
    for logits, target in [(x @ w.t(), 3), (x @ w.t() + b, 4)]:  # the details' and classification's
        expected = nll_by_hand(logits, target)
        for loss in entropy.cross_entropy_three_ways(logits, torch.tensor([target])):
            torch.testing.assert_close(loss.double(), torch.tensor(expected, **F64),
                                       rtol=1e-5, atol=1e-5)  # float32, as in the notes


def test_prints_the_notes_shapes_and_the_losses(printed):
    """The shapes as the notes print them, torch.Size([1, 10]) twice in each of the two cells,
    and each cell's three losses against -log softmax by hand on the same draws."""
    _, _, x, w, b = seeded_draws(0)
    details = block(printed[0], "交叉熵, the details notes")
    assert details[:2] == [f"logits.shape = {NOTES_SHAPE}", f"pred.shape = {NOTES_SHAPE}"]
    classification = block(printed[0], "交叉熵, the classification notes")
    assert classification[:2] == [f"logits.shape = {NOTES_SHAPE}",
                                  f"pred_log.shape = {NOTES_SHAPE}"]
    for lines, expected in [(details, nll_by_hand(x @ w.t(), 3)),
                            (classification, nll_by_hand(x @ w.t() + b, 4))]:
        values = [line.split("= ")[-1].removeprefix("tensor(").rstrip(")") for line in lines[2:]]
        assert len(values) == 3 and all(abs(float(v) - expected) < 2e-4 for v in values), values
    assert all("tensor(" in line for line in details[2:])  # the details notes print the tensor,
    assert not any("tensor(" in line for line in classification[2:])  # classification .item()


def test_log_of_softmax_underflows_where_log_softmax_does_not():
    ce, naive, stable = entropy.cross_entropy_three_ways(torch.tensor([[0.0, 120.0]]),
                                                         torch.tensor([0]))
    assert ce.item() == 120.0 and stable.item() == 120.0  # -log softmax_0 = 120 exactly
    assert naive.item() == math.inf  # e^-120 rounds to 0 in float32, log(0) = -inf


def test_softmax_fed_to_cross_entropy_is_stuck_and_its_gradient_shrinks():
    low, high = math.log(1 + 9 / math.e), math.log(math.e + 9)  # 1.4612, 2.4612 for 10 classes
    sure = F.one_hot(torch.tensor([3]), 10).double() * 20  # confidently right
    sure_result = entropy.softmax_twice(sure, torch.tensor([3]))
    assert sure_result.loss_on_logits < 1e-7  # a right answer costs 1.46 on softmax outputs:
    assert sure_result.loss_on_softmax == pytest.approx(low, abs=1e-7)
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        z = 30 * torch.randn(1, 10, generator=g, **F64)
        t = torch.randint(0, 10, (1,), generator=g)
        on = entropy.softmax_twice(z, t)
        assert low - 1e-9 <= on.loss_on_softmax <= high + 1e-9
        # closed forms: d CE/dz = s - y; through the extra softmax, J_s^T (softmax(s) - y)
        s, y = F.softmax(z[0], dim=0), F.one_hot(t[0], 10).double()
        jacobian = torch.diag(s) - torch.outer(s, s)
        assert on.grad_on_logits == pytest.approx((s - y).norm().item(), rel=1e-9)
        assert on.grad_on_softmax == pytest.approx(
            (jacobian @ (F.softmax(s, dim=0) - y)).norm().item(), rel=1e-9, abs=1e-15)
        if on.loss_on_logits > 5:  # confidently wrong: the extra softmax leaves a 10x smaller grad
            assert on.grad_on_softmax < on.grad_on_logits / 10


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
    assert abs(mse[0]) < 1e-4 < 0.99 < abs(bce[0])  # at logit -10 the MSE's vanishes, BCE's not
    assert block(printed[0], "交叉熵, not MSE")[1:] == [  # the table, from the closed forms
        f"{z:>6.1f} {s:>9.5f} {m:>12.2e} {b:>12.2e}"
        for z, s, m, b in zip(logits.tolist(), sig, mse, bce)]


def check_logit_gap_80(text):
    """log(softmax) is finite again at 80: -log(1 / (1 + e^80)) = 80 + log1p(e^-80) = 80.0 in
    float32; from 104 on, e^-104 is below half the smallest float32 subnormal 2^-149: 0, inf."""
    expected = f"tensor({80 + math.log1p(math.exp(-80)):.0f}.)"
    assert [line.split("= ")[-1] for line in block(text, "log_softmax")[2:]] == [expected] * 3
    assert math.exp(-103) > 2.0 ** -150 > math.exp(-104)
    # at 103, e^-103 rounds to the smallest subnormal 2^-149: the loss is 149 ln 2, not 103
    for gap, naive in [(103, f"tensor({149 * math.log(2):.4f})"), (104, "tensor(inf)")]:
        lines = block(run("--logit-gap", str(gap))[0], "log_softmax")
        assert lines[3].endswith(f"= {naive}") and lines[4].endswith(f"= tensor({gap}.)")


def check_seed_5(text):
    """Other draws: the KL rows and both cells' losses against math on those draws."""
    assert_kl_rows(text, seed=5)
    _, _, x, w, b = seeded_draws(5)
    for heading, expected in [("交叉熵, the details notes", nll_by_hand(x @ w.t(), 3)),
                              ("交叉熵, the classification notes", nll_by_hand(x @ w.t() + b, 4))]:
        values = [line.split("= ")[-1].removeprefix("tensor(").rstrip(")")
                  for line in block(text, heading)[2:]]
        assert all(abs(float(v) - expected) < 2e-4 for v in values), values


def test_every_try_line_shows_what_it_says():
    checks = {"--logit-gap 80": check_logit_gap_80, "--seed 5": check_seed_5}
    for flags, _ in try_lines("entropy"):
        checks[flags](run(*flags.split())[0])  # KeyError: a Try: line with no check
