"""activations.py: the notes' printed tensors, and every derivative against a closed form."""
import math
import sys

import matplotlib
import pytest
import torch

import activations
from conftest import lesson_namespace, try_lines

# The course notes' output (LS17, In [98] / [97] / [99]), verbatim.
NOTES_SIGMOID = """\
tensor([4.5398e-05, 4.1877e-04, 3.8510e-03, 3.4445e-02, 2.4766e-01, 7.5234e-01,
        9.6555e-01, 9.9615e-01, 9.9958e-01, 9.9995e-01])"""
NOTES_TANH = """\
tensor([-1.0000, -1.0000, -1.0000, -0.9975, -0.8045,  0.8045,  0.9975,  1.0000,
         1.0000,  1.0000])"""
NOTES_RELU = """\
tensor([ 0.0000,  0.0000,  0.0000,  0.0000,  0.0000,  1.1111,  3.3333,  5.5556,
         7.7778, 10.0000])"""
ALPHA, SCALE = 1.6732632423543772, 1.0507009873554805  # SELU's (Klambauer et al. 2017)


@pytest.fixture(scope="module")
def lesson():
    return lesson_namespace("activations")  # the lesson alone: no main(), no plumbing


def test_prints_the_notes_tensors_labelled(capsys):
    r = activations.main([])
    out = capsys.readouterr().out
    assert out.startswith("== 激活函数: sigmoid, tanh and ReLU on the notes' a ==\n"
                          "a = torch.linspace(-10, 10, 10)\n")
    assert f"torch.sigmoid(a) = {NOTES_SIGMOID}\n" in out
    assert f"torch.tanh(a) = {NOTES_TANH}\n" in out
    assert f"torch.relu(a) = {NOTES_RELU}\n" in out
    assert f"F.relu(a) = {NOTES_RELU} | the same: True\n" in out  # the notes print both
    assert r["tanh_gap"] < 1e-15  # tanh(x) = 2 sigmoid(2x) - 1, float64: equal up to rounding
    assert max(r["derivative_gaps"].values()) < 1e-15 and len(r["derivative_gaps"]) == 6


def test_variants_against_their_definitions(lesson):
    a = torch.linspace(-10, 10, 10, dtype=torch.float64)
    by_hand = {"leaky_relu": [v if v > 0 else 0.01 * v for v in a.tolist()],
               "selu": [SCALE * (v if v > 0 else ALPHA * math.expm1(v)) for v in a.tolist()],
               "softplus": [math.log1p(math.exp(v)) for v in a.tolist()]}
    for name, expected in by_hand.items():
        fn = lesson["ACTIVATIONS"][name][0]
        torch.testing.assert_close(fn(a), torch.tensor(expected, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-15, msg=name)


def test_autograd_derivatives_equal_closed_forms(lesson):
    """Closed forms written here with math (not the script's), compared in float64."""
    x = torch.linspace(-5, 5, 100, dtype=torch.float64)
    xs = x.tolist()
    sig = [1 / (1 + math.exp(-v)) for v in xs]
    expected = {
        "sigmoid": [s * (1 - s) for s in sig],
        "tanh": [1 - math.tanh(v) ** 2 for v in xs],
        "relu": [1.0 if v > 0 else 0.0 for v in xs],
        "leaky_relu": [1.0 if v > 0 else 0.01 for v in xs],
        "selu": [SCALE if v > 0 else SCALE * ALPHA * math.exp(v) for v in xs],
        "softplus": sig,
    }
    assert 0.0 not in xs  # the grid avoids the kink, where the derivative is a convention
    assert set(lesson["ACTIVATIONS"]) == set(expected)
    for name, values in expected.items():
        auto = lesson["autograd_derivative"](lesson["ACTIVATIONS"][name][0], x)
        torch.testing.assert_close(auto, torch.tensor(values, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14, msg=name)


def test_plot_writes_a_png_and_leaves_the_backend_alone(tmp_path, capsys):
    path = tmp_path / "act.png"
    backend, had_pyplot = matplotlib.rcParams["backend"], "matplotlib.pyplot" in sys.modules
    activations.main(["--plot", str(path)])
    assert matplotlib.rcParams["backend"] == backend  # no matplotlib.use()
    assert had_pyplot or "matplotlib.pyplot" not in sys.modules  # a Figure of its own
    from matplotlib.image import imread
    image = imread(path)  # decodes: a real image, not just a header
    assert image.shape[:2] == (700, 1200)  # figsize (12, 7) at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank
    assert len({tuple(p) for p in image[::9, ::9, :3].reshape(-1, 3).round(2).tolist()}) > 10
    assert f"plot written to {path}" in capsys.readouterr().out


def check_plot(out):
    """The figure is there, and what it draws says what the Try: line says, by math: sigmoid'
    and tanh' fade to under 0.01 at the plot's ends (x = +-5), relu' steps from 0 to 1."""
    from matplotlib.image import imread
    image = imread("act.png")  # decodes: a real image
    assert image.shape[:2] == (700, 1200) and image[..., :3].std() > 0.05
    assert "plot written to act.png" in out
    s = 1 / (1 + math.exp(-5))
    assert s * (1 - s) < 0.01 and 1 - math.tanh(5) ** 2 < 0.01
    lesson = lesson_namespace("activations")
    ends = torch.tensor([-5.0, 5.0], dtype=torch.float64)  # the plot's x range
    for name, expected in [("sigmoid", [s * (1 - s)] * 2), ("tanh", [1 - math.tanh(5) ** 2] * 2),
                           ("relu", [0.0, 1.0])]:
        fn = lesson["ACTIVATIONS"][name][0]  # the derivative the plot draws, from autograd
        torch.testing.assert_close(lesson["autograd_derivative"](fn, ends),
                                   torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)


def test_every_try_line_shows_what_it_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the Try: line writes act.png where it runs
    checks = {"--plot act.png": check_plot}
    for flags, _ in try_lines("activations"):
        activations.main(flags.split())
        checks[flags](capsys.readouterr().out)  # KeyError: a Try: line with no check


def test_plot_path_is_checked_before_any_work(tmp_path, capsys):
    target = tmp_path / "no_such_folder" / "act.png"
    with pytest.raises(SystemExit) as exc:  # refused while parsing: exit 2
        activations.main(["--plot", str(target)])
    assert exc.value.code == 2
    assert f"{target}: give FILE.png in a folder that exists" in capsys.readouterr().err
    assert not target.parent.exists()
