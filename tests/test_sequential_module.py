"""1.2 Sequential / Module: no activation = one layer; save and load both ways."""
import contextlib
import io
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import sequential_module
from conftest import lesson_namespace, try_lines


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """main() with --out in a folder of the test's, run once: (its lines, its result, folder)."""
    out = tmp_path_factory.mktemp("out") / "new"  # a folder main has to make
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = sequential_module.main(["--out", str(out)])
    return printed.getvalue().splitlines(), result, out


def test_two_linear_layers_are_one(run):
    torch.manual_seed(1)
    l1, l2 = nn.Linear(6, 7, dtype=torch.float64), nn.Linear(7, 3, dtype=torch.float64)
    x = torch.randn(20, 6, dtype=torch.float64)
    merged = sequential_module.merge_linears(l1, l2)
    with torch.no_grad():
        assert_close(merged(x), l2(l1(x)))
        # With a nonlinearity in between the same merge no longer reproduces the output.
        assert (merged(x) - l2(torch.tanh(l1(x)))).abs().max() > 1e-2
    assert_close(merged.weight, l2.weight @ l1.weight)
    assert run[1]["merge_diff"] < 1e-12  # what main printed: rounding only


def test_sequential_indexing_and_parameters(run):
    lines, result, _ = run
    # the notes' nn.Linear(2, 4) as torch prints it (the notes show no output for seq_net[0])
    assert "seq_net[0]: Linear(in_features=2, out_features=4, bias=True)" in lines
    assert lines[lines.index("seq_net[0].weight: Parameter containing:") + 4].endswith(
        "requires_grad=True)")  # (4, 2): four rows, the last one closing with requires_grad
    assert result["param_shapes"] == [(4, 2), (4,), (1, 4), (1,)]


def test_module_subclass_forward():
    lesson = lesson_namespace("sequential_module")  # the lesson part alone, as copied out
    torch.manual_seed(0)
    net = lesson["Net"](2, 4, 1)
    x = torch.randn(5, 2)
    with torch.no_grad():
        assert_close(net(x), net.layer3(net.layer1(x) + torch.tanh(net.layer2[0](x))))


def test_reloaded_models_give_identical_outputs(run):
    """The files main wrote, read back here: the pickled model only with weights_only=False,
    the state_dict into a Sequential built here; both compute the same outputs, bit for bit."""
    _, result, out = run
    with pytest.raises(pickle.UnpicklingError):  # weights_only=True refuses a pickled module
        torch.load(out / "save_seq_net.pth", weights_only=True)
    assert result["refused"]  # and main said so
    state = torch.load(out / "save_seq_net_params.pth", weights_only=True)  # a state_dict: fine
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    whole = torch.load(out / "save_seq_net.pth", weights_only=False)
    rebuilt = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    rebuilt.load_state_dict(state)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert isinstance(whole, nn.Sequential) and torch.equal(whole(x), rebuilt(x))
    assert result["reload_diffs"] == (0.0, 0.0)


def test_default_out_is_a_temporary_folder_removed_at_exit():
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        sequential_module.main([])
    line = next(s for s in printed.getvalue().splitlines() if s.startswith("saved "))
    folder = line.split(" in ")[-1]
    assert folder and not Path(folder).exists()


def check_tanh_between(lines, result):
    """With a Tanh between them, the two layers are no longer the merged Linear: seeds 0-9 miss
    by 0.076-0.45 (seed 0: 0.091), against ~1e-16 with nothing between (rounding only)."""
    assert 0.05 < result["merge_diff"] < 0.2
    assert lines[1].startswith("two Linear layers, a Tanh() between, vs one merged Linear: ")


CHECKS = {"--tanh-between": check_tanh_between}


@pytest.mark.parametrize("flags, said", try_lines("sequential_module"))
def test_try_experiments(flags, said):
    check = CHECKS[flags]  # KeyError: a Try: line with no check here
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        result = sequential_module.main(flags.split())
    check(printed.getvalue().splitlines(), result)
