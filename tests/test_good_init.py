"""good_init: nan / exact zeros / at scale after 100 layers, and the mean/sqr experiments against
their closed forms, for several seeds (each main() ~0.5 s)."""
import contextlib
import io
import math
import re

import pytest
import torch
from torch.testing import assert_close

import good_init
from conftest import lesson_namespace, try_lines

SEEDS = [0, 1, 2]
FLOAT32_MAX = 3.4028234663852886e38


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: small ops, one thread


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    plot = tmp_path_factory.mktemp("plot") / "std.png"
    for seed in SEEDS:
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            argv = ["--seed", str(seed)] + (["--plot", str(plot)] if seed == 0 else [])
            out[seed] = good_init.main(argv)
        out[seed]["text"] = text.getvalue()
    out["plot"] = plot
    return out


def test_first_nan_where_float32_overflows(runs):
    """Each layer multiplies the scale by ~sqrt(512): float32's max 3.4e38 is reached after
    ln(3.4e38)/ln(sqrt(512)) = 28.4 of them."""
    estimate = math.log(FLOAT32_MAX) / math.log(math.sqrt(512))
    for seed in SEEDS:
        unit = runs[seed]["chains"].unit
        assert unit.first_nan_x is not None and abs((unit.first_nan_x + 1) - estimate) < 1.5
        assert all(math.isnan(v) for v in (unit.end.mean().item(), unit.end.std().item()))


def test_the_notes_break_at_28_is_where_x_itself_turns_nan(runs):
    """The notes' `for i in range(100): x = a @ x; if x.std() != x.std(): break` gave i = 28, the
    same 0-based i the script prints. Ours: x.std() is nan one layer before x holds a nan (its
    squares overflow first), and x itself holds a nan at the notes' i. 300 seeds of this draw:
    x nan at 28 on all 300; x.std() nan at 27 on 299, at 28 on one."""
    notes_i = 28
    for seed in SEEDS:
        text = runs[seed]["text"]
        std_i = int(re.search(r"x\.std\(\) first nan at i = (\d+)", text).group(1))
        x_i = int(re.search(r"x itself first holds a nan at i = (\d+)", text).group(1))
        assert x_i == notes_i, seed
        assert std_i == notes_i - 1, seed


def test_the_notes_input_is_standard_normal(runs):
    """The notes' x = torch.randn(512); x.mean(), x.std() cell: (0.0144, 1.0207). Over 512 draws
    the mean has standard error 1/sqrt(512) = 0.044 and the std 1/sqrt(2 * 511) = 0.031: ours
    within 4 of them, and so are the notes' (0.33 and 0.66 standard errors)."""
    mean_se, std_se = 1 / math.sqrt(512), 1 / math.sqrt(2 * 511)
    for mean, std in [runs[seed]["x_stats"] for seed in SEEDS] + [(0.0144, 1.0207)]:
        assert abs(mean) < 4 * mean_se and abs(std - 1) < 4 * std_se, (mean, std)
    printed = re.search(r"x\.mean\(\), x\.std\(\)\s+notes: .*  ours: \((.*), (.*)\)",
                        runs[0]["text"])
    assert_close(tuple(map(float, printed.groups())), runs[0]["x_stats"], atol=5e-5, rtol=0)


def test_small_weights_vanish_to_exact_zero(runs):
    """(0.01 * sqrt(512))^100 ~ 3e-65 is far below float32's smallest subnormal (1.4e-45)."""
    for seed in SEEDS:
        assert runs[seed]["zeros"]
        small = runs[seed]["chains"].small
        assert (small.end.mean().item(), small.end.std().item()) == (0.0, 0.0)


def test_sqrt_n_scaling_stays_at_scale(runs):
    """The same matrix 100 times multiplies the scale by about its largest |eigenvalue|^100,
    and that eigenvalue is ~1 (circular law: radius 1 for randn / sqrt(n)), so neither nan nor 0
    but not exactly 1 (the notes: 0.927). 40 seeds of the lesson's draw: final std 0.43-859,
    geometric mean factor per layer (std_100 / std_0)^(1/100) 0.992-1.070."""
    for seed in SEEDS:
        stds = runs[seed]["chains"].sqrt_n.stds
        assert 0.2 < stds[-1] < 2000, seed
        assert 0.98 < stds[-1] ** (1 / 100) < 1.09, seed  # std_0 ~ 1: randn(512)


def test_orthogonal_keeps_the_norm_spectral_norm_still_vanishes(runs):
    """The notes' other two strategies. Orthogonal: |Ax| = |x| exactly, so after 100 layers only
    float32 rounding (40 seeds: ratio within 4e-6 of 1). a / spectral norm M: |a @ x| <= |x|,
    never nan; randn's largest |eigenvalue| ~sqrt(n) is half its M ~2 sqrt(n), so the std shrinks
    ~1/2 per layer (40 seeds: 100-layer std 3e-31 to 2e-28, i.e. 0.49-0.53 per layer)."""
    for seed in SEEDS:
        r = runs[seed]
        assert abs(r["orthogonal_norm_ratio"] - 1) < 1e-4
        assert 0.45 < r["spectral_factor"] < 0.56
        assert 0 < r["chains"].spectral.stds[-1] < 1e-20


def test_lesson_alone_keeps_or_bounds_the_norm():
    """The lesson part alone (no main, no plumbing), at width 64 over 30 layers: the orthogonal
    chain keeps |x| (up to float32 rounding) and the spectral-norm chain ends below |x|."""
    lesson = lesson_namespace("good_init")
    torch.manual_seed(0)
    x = torch.randn(64)
    with contextlib.redirect_stdout(io.StringIO()):
        chains = lesson["show_hundred_layers"](x, 64, 30)
    assert_close(chains.orthogonal.end.norm(), x.norm(), rtol=1e-4, atol=0)
    assert chains.spectral.end.norm() <= x.norm()
    assert len(chains.unit.stds) == 30 and chains.unit.first_nan_std is None  # 8^30 < 3.4e38


def check_twenty_layers(res):
    """20 layers: std ~sqrt(512)^20 = 1.2e27 for x1 (finite), 0.226^20 = 1.2e-13 for x0.01."""
    unit, small = res["chains"].unit, res["chains"].small
    assert unit.first_nan_std is None and 1e25 < unit.stds[-1] < 1e29
    assert 1e-15 < small.stds[-1] < 1e-11 and not res["zeros"]


def check_width_128(res):
    """Width 128: float32's max is ln(3.4e38)/ln(sqrt(128)) = 36.6 layers away, so the std's nan
    comes at i ~ 35 (its squares overflow a layer before x)."""
    estimate = math.log(FLOAT32_MAX) / math.log(math.sqrt(128))
    assert abs(res["chains"].unit.first_nan_std + 2 - estimate) < 1.5
    assert res["chains"].unit.first_nan_std > 28  # later than at width 512


CHECKS = {"--layers 20": check_twenty_layers, "--width 128": check_width_128}


def test_try_experiments():
    """Every Try: line of the docstring, run and checked against what it says."""
    for flags, _ in try_lines("good_init"):
        with contextlib.redirect_stdout(io.StringIO()):
            res = good_init.main(flags.split())
        CHECKS[flags](res)  # KeyError: a Try: line with no check here


def test_mean_sqr_experiments_match_closed_forms(runs):
    """Tolerances ~5 standard errors of each average (12 seeds: well inside)."""
    closed = {"plain": (0.0, 512.0), "scalar": (0.0, 1.0), "scalar_relu": (1 / math.pi, 0.5),
              "relu": (math.sqrt(512 / (2 * math.pi)), 256.0),
              "relu_scaled": (1 / math.sqrt(math.pi), 1.0)}
    tolerance = {"plain": (0.5, 22), "scalar": (0.05, 0.15), "scalar_relu": (0.03, 0.1),
                 "relu": (0.4, 16), "relu_scaled": (0.025, 0.0625)}
    for seed in SEEDS:
        for name, (mean, sqr) in runs[seed]["experiments"]._asdict().items():
            assert abs(mean - closed[name][0]) < tolerance[name][0], (seed, name, mean)
            assert abs(sqr - closed[name][1]) < tolerance[name][1], (seed, name, sqr)


def test_plot_is_a_real_picture(runs):
    from matplotlib.image import imread
    image = imread(runs["plot"])
    assert image.shape[:2] == (400, 700)  # figsize (7, 4) at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank


def test_unwritable_plot_path_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # refused while parsing, before any work: exit 2
        good_init.main(["--plot", str(tmp_path / "no" / "such" / "dir" / "std.png")])
    assert exc.value.code == 2 and "in a folder that exists" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_the_notes_magic_number(runs):
    assert "1/sqrt(512) = 0.044194173824159216 " in runs[0]["text"]  # the notes' repr
