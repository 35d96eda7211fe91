"""why_sqrt5: the notes' exact values exactly, the random ones by ranges that hold for any seed."""
import contextlib
import io
import math
import re

import pytest
import torch
from torch.nn import init
from torch.testing import assert_close

import why_sqrt5
from conftest import lesson_namespace, try_lines

SEEDS = [0, 1]
# What the notes print for these cells, as they print it.
NOTES_PRINTED = {"x_train.shape": "torch.Size([50000, 1, 28, 28])",
                 "x_valid.shape": "torch.Size([10000, 1, 28, 28])",
                 "n, c": "(50000, tensor(10))", "x.shape": "torch.Size([100, 1, 28, 28])",
                 "l1.weight.shape": "torch.Size([32, 1, 5, 5])", "rec_fs": "25",
                 "nf, ni": "(32, 1)", "fan_in, fan_out": "(25, 800)"}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small ops, one thread


def run(*flags, data_dir):
    """main() with these flags: its results, with its printed text under "text"."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        res = why_sqrt5.main([*flags, "--data-dir", str(data_dir)])
    return {**res, "text": text.getvalue()}


def ours(text, label):
    """The `ours:` part of the printed row `label   notes: ...  ours: ...`."""
    return re.search(rf"^{re.escape(label)}\s+notes: .*?  ours: (.*)$", text, re.M).group(1)


@pytest.fixture(scope="module")
def runs(mnist_dir):
    """main() once per seed (~1 s each), its printed text and its results."""
    return {seed: run("--seed", str(seed), data_dir=mnist_dir) for seed in SEEDS}


def test_data_is_the_lessons(runs):
    """Normalising with the training mean/std makes /256 vs /255 irrelevant: the notes' stats(x)
    of x_valid[:100] to their printed 4 decimals."""
    assert [round(v, 4) for v in runs[0]["x_stats"]] == [-0.0363, 0.9602]
    assert ours(runs[0]["text"], "x = x_valid[:100]") == "(-0.0363, 0.9602)"


@pytest.mark.parametrize("label", list(NOTES_PRINTED))
def test_printed_shapes_and_fans_are_the_notes(runs, label):
    """Each shape, n, c and fan the notes print, as the script prints it, is the notes' text."""
    assert ours(runs[0]["text"], label) == NOTES_PRINTED[label]


def test_fans_and_gains_exactly():
    w = torch.empty(32, 1, 5, 5)
    assert why_sqrt5.count_fans(w) == (32, 1, 25, 25, 800)  # the notes: nf, ni; 25; 25, 800
    notes = [1.0, 1.4142135623730951, 1.4141428569978354, 1.4071950894605838, 0.5773502691896257]
    slopes = [1, 0, 0.01, 0.1, math.sqrt(5.0)]
    ours = torch.tensor([why_sqrt5.gain(a) for a in slopes], dtype=torch.float64)
    assert_close(ours, torch.tensor(notes, dtype=torch.float64), rtol=0, atol=1e-15)
    closed = [1.0, math.sqrt(2), math.sqrt(2 / 1.0001), math.sqrt(2 / 1.01), 1 / math.sqrt(3)]
    assert_close(ours, torch.tensor(closed, dtype=torch.float64))
    torch_gains = [init.calculate_gain("leaky_relu", a) for a in slopes]
    assert_close(ours, torch.tensor(torch_gains, dtype=torch.float64))


def test_kaiming2_bounds(runs):
    """bound = sqrt(3) * gain(sqrt5) / sqrt(25) = 1/sqrt(fan_in) = 0.2; a=0: sqrt(6/25)."""
    for res in runs.values():
        assert_close(res["kaiming2"].bound_sqrt5, 1 / math.sqrt(25), rtol=1e-15, atol=0)
        assert_close(res["kaiming2"].bound_a0, math.sqrt(6 / 25), rtol=1e-15, atol=0)
        assert res["conv"].weight_absmax <= 0.2  # the default init is uniform(±1/sqrt(fan_in))


@pytest.mark.parametrize("kernel", [5, 3])
def test_kaiming2_with_sqrt5_draws_pytorchs_default_weights(kernel):
    """The lesson's kaiming2 alone against torch's own nn.Conv2d init: from the same RNG state,
    bit for bit the same weights."""
    lesson = lesson_namespace("why_sqrt5")
    for seed in SEEDS:
        torch.manual_seed(seed)
        default = torch.nn.Conv2d(1, 32, kernel).weight.detach()  # drawn first in reset_parameters
        torch.manual_seed(seed)
        w = torch.empty(32, 1, kernel, kernel)
        lesson["kaiming2"](w, a=math.sqrt(5.0))
        assert torch.equal(w, default), (kernel, seed)


def test_default_init_std_is_one_over_sqrt_3_fan_in(runs):
    """uniform(±0.2) has std 0.2/sqrt(3) = 0.1155 (the notes: 0.1156); 800 weights put the sample
    std within ~±0.002 (20 seeds: 0.111-0.120); 10000 uniform(-1,1) within ~±0.003 of 0.5774."""
    for res in runs.values():
        assert abs(res["conv"].weight[1] - 1 / math.sqrt(3 * 25)) < 0.01
        assert abs(res["kaiming2"].uniform_std - 1 / math.sqrt(3)) < 0.015  # 20 seeds: .572-.580


def test_activation_scales(runs):
    """Ranges over 20 seeds in comments; kaiming (gain sqrt2, bound 0.49) beats the default (0.2)
    (20 seeds: kaiming2 a=0 / a=sqrt5 relu std ratio >= 1.93)."""
    for res in runs.values():
        conv = res["conv"]
        assert 0.45 < conv.out[1] < 0.9  # 0.571-0.741 (notes 0.5978)
        assert 0.75 < conv.kaiming_a1[1] < 1.6  # 0.958-1.314 (notes 1.1067)
        mean, std = conv.kaiming_a0_relu
        assert 0.35 < mean < 0.75 and 0.6 < std < 1.5  # 0.476-0.596, 0.816-1.154 (notes .55, 1.02)
        mean, std = conv.default_relu
        assert 0.12 < mean < 0.35 and 0.22 < std < 0.6  # 0.183-0.257, 0.311-0.474 (notes .22, .37)
        assert res["kaiming2"].relu_a0[1] > 1.5 * res["kaiming2"].relu_sqrt5[1]


def test_four_conv_net_default_vs_kaiming(runs):
    """The notes' table: output std 0.0065 -> 0.40, first-layer grad std 0.033 -> 0.42.
    20 seeds: output std 0.005-0.018 vs 0.18-0.49, grad std 0.024-0.076 vs 0.29-0.94; per-seed
    ratios >= 12 (output) and >= 6.9 (gradient)."""
    for res in runs.values():
        default, kaiming = res["net_default"], res["net_kaiming"]
        assert default.out_std < 0.05 and 0.1 < kaiming.out_std < 1.0
        assert kaiming.out_std > 5 * default.out_std
        assert kaiming.grad_std > 3 * default.grad_std


def test_kaiming_normal_weight_std_is_gain_over_sqrt_fan_in(runs):
    """a=1: gain 1, std 1/sqrt(25) = 0.2; a=0: gain sqrt(2), std 0.283. 800 normal weights put
    the sample std within 3 standard errors (1/sqrt(2*800) = 2.5%) of it: windows of +-7.5%,
    far narrower than the sqrt(2) between the two, so swapping a would fail."""
    for res in runs.values():
        assert abs(res["conv"].kaiming_a1_weight_std / 0.2 - 1) < 0.075
        assert abs(res["conv"].kaiming_a0_weight_std / (math.sqrt(2) * 0.2) - 1) < 0.075


def test_bias_stats_fit_uniform_one_over_sqrt_fan_in(runs):
    """stats(l1.bias) comes from uniform(+-0.2), 32 values: mean 0 with standard error
    0.1155/sqrt(32) = 0.0204, std 0.2/sqrt(3) = 0.1155 with standard error 0.1155*sqrt(0.8/128)
    = 0.0091 (uniform: kurtosis 1.8). Ours within 3 of them; so are the notes' unseeded
    (0.0212, 0.1176): 1.04 and 0.23 standard errors."""
    std, mean_se, std_se = 0.2 / math.sqrt(3), 0.2 / math.sqrt(3) / math.sqrt(32), 0.0091
    for mean, sd in [r["conv"].bias for r in runs.values()]:
        assert abs(mean) < 3 * mean_se and abs(sd - std) < 3 * std_se, (mean, sd)


def check_sqrt5_slope(res):
    """kaiming_uniform_(a=sqrt5) is PyTorch's default weight init again: output std back under
    0.05 (20 seeds: 0.005-0.014, the default's 0.005-0.018; a = 0 gives 0.18-0.49)."""
    assert res["net_kaiming"].out_std < 0.05
    assert "net kaiming a=2.23607" in res["text"]


def check_kernel_3(res):
    """A 3x3 kernel: rec_fs 3*3 = 9, fan_in 1*9, fan_out 32*9 = 288; default bound 1/sqrt(9)."""
    assert ours(res["text"], "fan_in, fan_out") == "(9, 288)"
    assert ours(res["text"], "l1.weight.shape") == "torch.Size([32, 1, 3, 3])"
    assert_close(res["kaiming2"].bound_sqrt5, 1 / 3, rtol=1e-15, atol=0)
    assert res["conv"].weight_absmax <= 1 / 3
    # the same weights as nn.Conv2d's: test_kaiming2_with_sqrt5_draws_pytorchs_default_weights[3]


CHECKS = {"--kaiming-a 2.2360679": check_sqrt5_slope, "--kernel 3": check_kernel_3}


def test_try_experiments(mnist_dir):
    """Every Try: line of the docstring, run and checked against what it says."""
    for flags, _ in try_lines("why_sqrt5"):
        CHECKS[flags](run(*flags.split(), data_dir=mnist_dir))  # KeyError: a line with no check


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
