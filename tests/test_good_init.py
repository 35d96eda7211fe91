"""good_init: nan / exact zeros / at scale after 100 layers, and the mean/sqr experiments against
their closed forms, for several seeds (each main() ~0.5 s)."""
import contextlib
import io
import math

import pytest
import torch
from torch.testing import assert_close

import good_init
from conftest import lesson_namespace

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
    ln(3.4e38)/ln(sqrt(512)) = 28.4 of them (0-based i ~27; the notes: 28; 12 seeds: all 27)."""
    estimate = math.log(FLOAT32_MAX) / math.log(math.sqrt(512))
    for seed in SEEDS:
        i = runs[seed]["nan_iter"]
        assert i is not None and abs((i + 1) - estimate) < 2.5
        assert all(math.isnan(v) for v in runs[seed]["final_stats"]["x1"])


def test_small_weights_vanish_to_exact_zero(runs):
    """(0.01 * sqrt(512))^100 ~ 3e-65 is far below float32's smallest subnormal (1.4e-45)."""
    assert (0.01 * math.sqrt(512)) ** 100 < torch.finfo(torch.float32).smallest_normal * 2**-23
    for seed in SEEDS:
        assert runs[seed]["zeros"]
        assert runs[seed]["final_stats"]["x0.01"] == (0.0, 0.0)


def test_sqrt_n_scaling_stays_at_scale(runs):
    """The same matrix 100 times multiplies the scale by about its largest |eigenvalue|^100,
    and that eigenvalue is ~1 (circular law: radius 1 for randn / sqrt(n)), so neither nan nor 0
    but not exactly 1 (the notes: 0.927). 40 seeds of the lesson's draw: final std 0.43-859,
    geometric mean factor per layer (std_100 / std_0)^(1/100) 0.992-1.070."""
    for seed in SEEDS:
        stds = runs[seed]["stds"]["/sqrt(512)"]
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
        assert 0 < r["stds"]["/spectral norm"][-1] < 1e-20


def test_lesson_alone_spectral_bound():
    """The lesson part alone: dividing by the spectral norm bounds |a @ x| by |x| for any x."""
    lesson = lesson_namespace("good_init")
    torch.manual_seed(0)
    a = lesson["scaled_matrices"](64)["/spectral norm"]
    x = torch.randn(64, 1000)  # 1000 random vectors
    assert ((a @ x).norm(dim=0) <= x.norm(dim=0) * (1 + 1e-5)).all()
    assert_close(torch.linalg.matrix_norm(a, ord=2), torch.tensor(1.0))


def test_mean_sqr_experiments_match_closed_forms(runs):
    """Tolerances ~5 standard errors of each average (12 seeds: well inside)."""
    closed = {"a @ x": (0.0, 512.0), "a * x (scalars)": (0.0, 1.0),
              "relu(a * x) (scalars)": (1 / math.pi, 0.5),
              "relu(a @ x)": (math.sqrt(512 / (2 * math.pi)), 256.0),
              "relu(a*sqrt(2/512) @ x)": (1 / math.sqrt(math.pi), 1.0)}
    tolerance = {"a @ x": (0.5, 22), "a * x (scalars)": (0.05, 0.15),
                 "relu(a * x) (scalars)": (0.03, 0.1), "relu(a @ x)": (0.4, 16),
                 "relu(a*sqrt(2/512) @ x)": (0.025, 0.0625)}
    for seed in SEEDS:
        for name, (mean, sqr) in runs[seed]["experiments"].items():
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
