"""why_sqrt5: the notes' exact values exactly, the random ones by ranges that hold for any seed."""
import contextlib
import io
import math

import pytest
import torch
from torch.nn import init
from torch.testing import assert_close

import why_sqrt5
from conftest import lesson_namespace

SEEDS = [0, 1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small ops, one thread


@pytest.fixture(scope="module")
def runs(mnist_dir):
    """main() once per seed (~1 s each), its printed text and its results."""
    out = {}
    for seed in SEEDS:
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            out[seed] = why_sqrt5.main(["--seed", str(seed), "--data-dir", str(mnist_dir)])
        out[seed]["text"] = text.getvalue()
    return out


def test_data_is_the_lessons(runs):
    """Normalising with the training mean/std makes /256 vs /255 irrelevant: the notes' stats(x)
    of x_valid[:100] to their printed 4 decimals, and the lesson's shapes."""
    res = runs[0]
    assert [round(v, 4) for v in res["x = x_valid[:100]"]] == [-0.0363, 0.9602]
    assert "x_train.shape = [50000, 1, 28, 28], x_valid.shape = [10000, 1, 28, 28]" in res["text"]
    assert (res["n"], res["c"]) == (50000, 10)  # the notes' n,c: (50000, tensor(10))
    assert "n, c = 50000, 10" in res["text"]


def test_fans_and_gains_exactly():
    w = torch.empty(32, 1, 5, 5)
    assert why_sqrt5.fans(w) == (25, 25, 800)  # the notes: rec_fs 25, fan_in 25, fan_out 800
    notes = [1.0, 1.4142135623730951, 1.4141428569978354, 1.4071950894605838, 0.5773502691896257]
    slopes = [1, 0, 0.01, 0.1, math.sqrt(5.0)]
    ours = torch.tensor([why_sqrt5.gain(a) for a in slopes], dtype=torch.float64)
    assert_close(ours, torch.tensor(notes, dtype=torch.float64), rtol=0, atol=1e-15)
    closed = [1.0, math.sqrt(2), math.sqrt(2 / 1.0001), math.sqrt(2 / 1.01), 1 / math.sqrt(3)]
    assert_close(ours, torch.tensor(closed, dtype=torch.float64))
    torch_gains = [init.calculate_gain("leaky_relu", a) for a in slopes]
    assert_close(ours, torch.tensor(torch_gains, dtype=torch.float64))


def test_kaiming2_with_sqrt5_is_pytorchs_default(runs):
    """bound = sqrt(3) * gain(sqrt5) / sqrt(25) = 1/sqrt(fan_in) = 0.2; a=0: sqrt(6/25)."""
    for res in runs.values():
        assert_close(res["kaiming2 a=sqrt5 bound"], 1 / math.sqrt(25), rtol=1e-15, atol=0)
        assert_close(res["kaiming2 a=0 bound"], math.sqrt(6 / 25), rtol=1e-15, atol=0)
        assert res["same_as_default"]  # the very same weights from the same RNG state
        assert res["weight_absmax"] <= 0.2  # the default init is uniform(±1/sqrt(fan_in))


def test_default_init_std_is_one_over_sqrt_3_fan_in(runs):
    """uniform(±0.2) has std 0.2/sqrt(3) = 0.1155 (the notes: 0.1156); 800 weights put the sample
    std within ~±0.002 (20 seeds: 0.111-0.120); 10000 uniform(-1,1) within ~±0.003 of 0.5774."""
    for res in runs.values():
        assert abs(res["l1.weight"][1] - 1 / math.sqrt(3 * 25)) < 0.01
        assert abs(res["uniform(-1, 1).std()"][0] - 1 / math.sqrt(3)) < 0.015  # 20 seeds: .572-.580


def test_activation_scales(runs):
    """Ranges over 20 seeds in comments; kaiming (gain sqrt2, bound 0.49) beats the default (0.2)
    (20 seeds: kaiming2 a=0 / a=sqrt5 relu std ratio >= 1.93)."""
    for res in runs.values():
        assert 0.45 < res["l1(x)"][1] < 0.9  # 0.571-0.741 (notes 0.5978)
        assert 0.75 < res["kaiming_normal_ a=1"][1] < 1.6  # 0.958-1.314 (notes 1.1067)
        mean, std = res["kaiming_normal_ a=0, relu"]
        assert 0.35 < mean < 0.75 and 0.6 < std < 1.5  # 0.476-0.596, 0.816-1.154 (notes .55, 1.02)
        mean, std = res["default, relu"]
        assert 0.12 < mean < 0.35 and 0.22 < std < 0.6  # 0.183-0.257, 0.311-0.474 (notes .22, .37)
        assert res["kaiming2 a=0, relu"][1] > 1.5 * res["kaiming2 a=sqrt5, relu"][1]


def test_four_conv_net_default_vs_kaiming(runs):
    """The notes' table: output std 0.0065 -> 0.40, first-layer grad std 0.033 -> 0.42.
    20 seeds: output std 0.005-0.018 vs 0.18-0.49, grad std 0.024-0.076 vs 0.29-0.94; per-seed
    ratios >= 12 (output) and >= 6.9 (gradient)."""
    for res in runs.values():
        default, kaiming = res["net default"], res["net kaiming"]
        assert default[1] < 0.05 and 0.1 < kaiming[1] < 1.0
        assert kaiming[1] > 5 * default[1]
        assert kaiming[3] > 3 * default[3]
        assert "notes: (-0.0363, 0.9602)" in res["text"]


def test_kaiming_normal_weight_std_is_gain_over_sqrt_fan_in(runs):
    """a=1: gain 1, std 1/sqrt(25) = 0.2; a=0: gain sqrt(2), std 0.283. 800 normal weights put
    the sample std within 3 standard errors (1/sqrt(2*800) = 2.5%) of it: windows of +-7.5%,
    far narrower than the sqrt(2) between the two, so swapping a would fail."""
    for res in runs.values():
        assert abs(res["kaiming_normal_ a=1 weight std"] / 0.2 - 1) < 0.075
        assert abs(res["kaiming_normal_ a=0 weight std"] / (math.sqrt(2) * 0.2) - 1) < 0.075


def test_bias_stats_fit_uniform_one_over_sqrt_fan_in(runs):
    """stats(l1.bias) comes from uniform(+-0.2), 32 values: mean 0 with standard error
    0.1155/sqrt(32) = 0.0204, std 0.2/sqrt(3) = 0.1155 with standard error 0.1155*sqrt(0.8/128)
    = 0.0091 (uniform: kurtosis 1.8). Ours within 3 of them; so are the notes' unseeded
    (0.0212, 0.1176): 1.04 and 0.23 standard errors."""
    std, mean_se, std_se = 0.2 / math.sqrt(3), 0.2 / math.sqrt(3) / math.sqrt(32), 0.0091
    for mean, sd in [r["l1.bias"] for r in runs.values()]:
        assert abs(mean) < 3 * mean_se and abs(sd - std) < 3 * std_se, (mean, sd)
    # the notes' l1.weight.shape: torch.Size([32, 1, 5, 5])
    assert torch.nn.Conv2d(1, why_sqrt5.NH, why_sqrt5.KERNEL).weight.shape == (32, 1, 5, 5)


def test_kaiming_out_mean_is_an_offset_of_the_weights(mnist_dir):
    """Why the kaiming row's out mean (seed 0: 1.6814) is far from the notes' -0.0352: the mean
    is an offset the weights give every image. Two batches of 100 images through one net agree
    (seeds 0-5: within 0.10), while six nets' means spread out (0.03 to 1.09 here)."""
    lesson = lesson_namespace("why_sqrt5")  # the lesson part alone, no main or plumbing
    x_train, _, x_valid, _ = why_sqrt5.load_lesson_mnist(mnist_dir)
    x = lesson["normalize"](x_valid, x_train.mean(), x_train.std()).view(-1, 1, 28, 28)
    means = []
    for seed in range(6):
        torch.manual_seed(seed)
        net = lesson["build_net"]()
        lesson["reinit_kaiming"](net)
        with torch.no_grad():
            a, b = net(x[:100]).mean().item(), net(x[100:200]).mean().item()
        assert abs(a - b) < 0.25, seed
        means.append(a)
    assert max(means) - min(means) > 0.4
