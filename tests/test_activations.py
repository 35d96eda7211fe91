"""activations.py: the notes' printed tensors, and every derivative against a closed form."""
import math

import pytest
import torch

import activations

# The notes' output (001, LS17, In [98] / [97] / [99]), verbatim.
NOTES_SIGMOID = """\
tensor([4.5398e-05, 4.1877e-04, 3.8510e-03, 3.4445e-02, 2.4766e-01, 7.5234e-01,
        9.6555e-01, 9.9615e-01, 9.9958e-01, 9.9995e-01])"""
NOTES_TANH = """\
tensor([-1.0000, -1.0000, -1.0000, -0.9975, -0.8045,  0.8045,  0.9975,  1.0000,
         1.0000,  1.0000])"""
NOTES_RELU = """\
tensor([ 0.0000,  0.0000,  0.0000,  0.0000,  0.0000,  1.1111,  3.3333,  5.5556,
         7.7778, 10.0000])"""


@pytest.fixture(scope="module")
def run():
    return activations.main([])


def numbers(block):
    """The numbers of a printed tensor, as the strings the notes show."""
    return block.replace("tensor([", "").replace("])", "").replace(",", " ").split()


def test_prints_the_notes_tensors(run, capsys):
    activations.main([])
    out = capsys.readouterr().out
    assert NOTES_SIGMOID in out
    assert NOTES_TANH in out
    assert out.count(NOTES_RELU) == 2  # torch.relu and F.relu, as the notes print both


def test_values_at_the_notes_precision(run):
    assert [f"{v:.4e}" for v in run["sigmoid"].tolist()] == numbers(NOTES_SIGMOID)
    assert [f"{v:.4f}" for v in run["tanh"].tolist()] == numbers(NOTES_TANH)
    assert [f"{v:.4f}" for v in run["relu"].tolist()] == numbers(NOTES_RELU)
    assert torch.equal(run["relu"], run["F.relu"])


def test_variants_against_their_definitions(run):
    a = run["a"].double()
    leaky = torch.tensor([v if v > 0 else 0.01 * v for v in a.tolist()], dtype=torch.float64)
    alpha, scale = 1.6732632423543772, 1.0507009873554805  # Klambauer et al. 2017
    selu = torch.tensor([scale * (v if v > 0 else alpha * math.expm1(v)) for v in a.tolist()],
                        dtype=torch.float64)
    softplus = torch.tensor([math.log1p(math.exp(v)) for v in a.tolist()], dtype=torch.float64)
    for name, expected in (("leaky_relu", leaky), ("selu", selu), ("softplus", softplus)):
        torch.testing.assert_close(run["variants"][name].double(), expected, rtol=1e-6, atol=1e-6)


def test_tanh_is_a_rescaled_sigmoid(run):
    assert run["tanh_gap"] < 1e-15  # float64: equal up to rounding


def test_autograd_derivatives_equal_closed_forms(run):
    """Closed forms written here with math (not the script's), compared in float64."""
    x = run["x"].tolist()
    sig = [1 / (1 + math.exp(-v)) for v in x]
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    expected = {
        "sigmoid": [s * (1 - s) for s in sig],
        "tanh": [1 - math.tanh(v) ** 2 for v in x],
        "relu": [1.0 if v > 0 else 0.0 for v in x],
        "leaky_relu": [1.0 if v > 0 else 0.01 for v in x],
        "selu": [scale if v > 0 else scale * alpha * math.exp(v) for v in x],
        "softplus": sig,
    }
    assert 0.0 not in x  # the grid avoids the kink, where the derivative is a convention
    assert set(run["derivatives"]) == set(expected)
    for name, values in expected.items():
        autograd_value = run["derivatives"][name][0]
        assert autograd_value.dtype == torch.float64
        torch.testing.assert_close(autograd_value, torch.tensor(values, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14, msg=name)


def test_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "act.png"
    activations.main(["--plot", str(path)])
    import matplotlib.pyplot as plt
    image = plt.imread(path)  # decodes: a real image, not just a header
    assert image.shape[:2] == (700, 1200)  # figsize (12, 7) at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank
    assert len({tuple(p) for p in image[::9, ::9, :3].reshape(-1, 3).round(2).tolist()}) > 10
    assert f"plot written to {path}" in capsys.readouterr().out


def test_unwritable_plot_path_is_one_clear_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    target = blocker / "act.png"  # its parent is a file: cannot be created
    with pytest.raises(SystemExit) as exc:  # refused while parsing, before any work: exit 2
        activations.main(["--plot", str(target)])
    assert exc.value.code == 2
    assert f"{target}: no folder {blocker}" in capsys.readouterr().err
    assert not target.exists()
