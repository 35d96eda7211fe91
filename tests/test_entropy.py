"""entropy.py: the notes' entropies at their printed precision, and every identity against a
closed form written here (float64 where the point is exactness)."""
import math

import pytest
import torch
import torch.nn.functional as F

import entropy

F64 = dict(dtype=torch.float64)


@pytest.fixture(scope="module")
def run():
    """The script's steps called directly, on inputs made here (the tests' own seed)."""
    g = torch.Generator().manual_seed(1)
    p = F.softmax(torch.randn(5, generator=g, **F64), dim=0)
    q = F.softmax(torch.randn(5, generator=g, **F64), dim=0)
    one_hot = F.one_hot(torch.tensor(2), 5).double()
    x, w, b = (torch.randn(1, 784, generator=g), torch.randn(10, 784, generator=g),
               torch.randn(1, 10, generator=g))
    z, y = torch.randn(6, generator=g, **F64), torch.randint(0, 2, (6,), generator=g).double()
    logits = torch.tensor(entropy.WRONG_LOGITS, **F64)
    h_pq, h_p, kl = entropy.cross_entropy_and_kl(p, q)
    g_mse, g_bce = entropy.logit_gradients(logits, 1.0)
    return {"entropies": [entropy.entropy_bits(torch.tensor(d)) for d in entropy.DISTRIBUTIONS],
            "exam": {pp: entropy.binary_entropy_bits(pp) for pp in entropy.EXAM_PASS},
            "p": p, "q": q, "H_pq": h_pq, "H_p": h_p, "KL": kl,
            "one_hot": (one_hot, *entropy.cross_entropy_and_kl(one_hot, q)),
            "multi": entropy.show_multiclass("t", x @ w.t(), torch.tensor([3]), False),
            "multi_bias": entropy.show_multiclass("t", x @ w.t() + b, torch.tensor([4]), True),
            "unstable": entropy.show_multiclass("t", torch.tensor([[0.0, 120.0]]),
                                                torch.tensor([0]), False),
            "z": z, "y": y, "binary": entropy.binary_cross_entropy_three_ways(z, y),
            "logits": logits, "g_mse": g_mse, "g_bce": g_bce}


def test_information_content_and_entropy_as_its_mean():
    assert entropy.information_bits(1.0) == 0.0
    assert entropy.information_bits(0.125) == 3.0  # 1/8 = 2^-3
    for dist in entropy.DISTRIBUTIONS:  # H = sum p * I(p), computed with math here
        mean_info = sum(p * entropy.information_bits(p) for p in dist)
        assert math.isclose(entropy.entropy_bits(torch.tensor(dist, **F64)).item(), mean_info,
                            rel_tol=1e-12)


def test_main_returns_the_headline():
    r = entropy.main([])
    assert [f"{h:.4f}" for h in r["entropies"]] == ["2.0000", "1.3568", "0.0342"]
    s = 1 / (1 + math.exp(10))  # sigmoid(-10): the closed forms of both gradients
    assert math.isclose(r["dmse_at_-10"], 2 * (s - 1) * s * (1 - s), rel_tol=1e-9)
    assert math.isclose(r["dbce_at_-10"], s - 1, rel_tol=1e-9)


def test_prints_the_notes_entropies(capsys):
    entropy.main([])
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("# entropy in bits: the more even, the higher")
    assert lines[at + 1:at + 4] == ["tensor(2.)", "tensor(1.3568)", "tensor(0.0342)"]  # LS22, 004
    assert "pass with p = 0.1: H = 0.469" in lines  # 003's exam: 0.469
    assert "pass with p = 0.5: H = 1" in lines  # and 1


def test_entropies_at_the_notes_precision(run):
    assert [f"{h.item():.4f}" for h in run["entropies"]] == ["2.0000", "1.3568", "0.0342"]
    assert f"{run['exam'][0.1]:.3f}" == "0.469"
    assert run["exam"][0.5] == 1.0


def test_cross_entropy_is_entropy_plus_kl(run):
    p, q = run["p"].tolist(), run["q"].tolist()
    h_pq = -sum(pi * math.log(qi) for pi, qi in zip(p, q))
    h_p = -sum(pi * math.log(pi) for pi in p)
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    torch.testing.assert_close(run["H_pq"], torch.tensor(h_pq, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(run["H_p"], torch.tensor(h_p, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(run["KL"], torch.tensor(kl, **F64), rtol=1e-12, atol=0)
    assert kl > 0  # p != q


def test_one_hot_cross_entropy_is_kl(run):
    one_hot, h_pq, h_p, kl = run["one_hot"]
    assert one_hot.tolist() == [0, 0, 1, 0, 0]
    assert h_p.item() == 0.0  # 1 log 1 = 0 and 0 log 0 = 0
    expected = -math.log(run["q"][2].item())
    torch.testing.assert_close(h_pq, torch.tensor(expected, **F64), rtol=1e-12, atol=0)
    torch.testing.assert_close(kl, h_pq, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", ["multi", "multi_bias"])
def test_cross_entropy_equals_nll_of_log_softmax(run, case):
    logits, target = run[case]["logits"][0].double().tolist(), run[case]["target"].item()
    top = max(logits)  # -log softmax by hand, shifted by the max so nothing overflows
    by_hand = -(logits[target] - top - math.log(sum(math.exp(v - top) for v in logits)))
    for loss in run[case]["losses"]:
        torch.testing.assert_close(loss.double(), torch.tensor(by_hand, **F64),
                                   rtol=1e-5, atol=1e-5)  # float32, as in the notes
    printed = {f"{loss.item():.4f}" for loss in run[case]["losses"]}
    assert len(printed) == 1  # equal at the notes' printed precision


def test_log_of_softmax_underflows_where_log_softmax_does_not(run):
    ce, naive, stable = run["unstable"]["losses"]
    assert ce.item() == 120.0 and stable.item() == 120.0  # -log softmax_0 = 120 exactly
    assert naive.item() == math.inf  # e^-120 rounds to 0 in float32, log(0) = -inf


def test_binary_cross_entropy_three_ways(run):
    z, y = run["z"].tolist(), run["y"].tolist()
    assert set(y) <= {0.0, 1.0}
    sig = [1 / (1 + math.exp(-v)) for v in z]
    by_hand = -sum(t * math.log(s) + (1 - t) * math.log(1 - s) for s, t in zip(sig, y)) / len(z)
    for value in run["binary"]:
        torch.testing.assert_close(value, torch.tensor(by_hand, **F64), rtol=1e-12, atol=0)


def test_why_not_mse(run):
    z = run["logits"].tolist()
    sig = [1 / (1 + math.exp(-v)) for v in z]
    mse = [2 * (s - 1) * s * (1 - s) for s in sig]  # d(s - 1)^2/dz
    bce = [s - 1 for s in sig]  # d -log s / dz
    torch.testing.assert_close(run["g_mse"], torch.tensor(mse, **F64), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(run["g_bce"], torch.tensor(bce, **F64), rtol=1e-12, atol=1e-15)
    assert z[0] == -10.0
    assert abs(run["g_mse"][0]) < 1e-4 < 0.99 < abs(run["g_bce"][0])  # vanishes vs does not
