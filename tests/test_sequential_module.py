"""1.2 Sequential / Module: no activation = one layer; save and load both ways."""
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import sequential_module


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return sequential_module.main(["--out", str(tmp_path_factory.mktemp("out"))])


def test_two_linear_layers_are_one():
    torch.manual_seed(1)
    l1, l2 = nn.Linear(6, 7, dtype=torch.float64), nn.Linear(7, 3, dtype=torch.float64)
    x = torch.randn(20, 6, dtype=torch.float64)
    merged = sequential_module.merge_linears(l1, l2)
    with torch.no_grad():
        assert_close(merged(x), l2(l1(x)))
        # With a nonlinearity in between the same merge no longer reproduces the output.
        assert (merged(x) - l2(torch.tanh(l1(x)))).abs().max() > 1e-2
    assert_close(merged.weight, l2.weight @ l1.weight)


def test_merge_difference_is_rounding(result):
    assert result["merge_diff"] < 1e-12


def test_sequential_indexing_and_parameters(result):
    seq_net = result["seq_net"]
    assert isinstance(seq_net[0], nn.Linear) and isinstance(seq_net[1], nn.Tanh)
    assert seq_net[0].weight.shape == (4, 2)
    assert result["param_shapes"] == [(4, 2), (4,), (1, 4), (1,)]


def test_module_subclass_forward():
    torch.manual_seed(0)
    net = sequential_module.Net(2, 4, 1)
    x = torch.randn(5, 2)
    with torch.no_grad():
        assert_close(net(x), net.layer3(net.layer1(x) + torch.tanh(net.layer2[0](x))))


def test_reloaded_models_give_identical_outputs(result, tmp_path):
    assert torch.equal(result["y_whole"], result["y"])
    assert torch.equal(result["y_state_dict"], result["y"])
    assert "Sequential" in result["refused"]  # weights_only=True refuses a pickled module
    model_path, params_path = result["paths"]
    assert model_path.exists() and params_path.exists()
    state = torch.load(params_path)  # the safe default loads a state_dict fine
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert torch.equal(state["0.weight"], result["seq_net"][0].weight.detach())


def test_default_out_is_a_temporary_folder_removed_at_exit():
    paths = sequential_module.main([])["paths"]
    assert not paths[0].parent.exists()


def test_unwritable_out_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exc:
        sequential_module.main(["--out", str(blocker / "sub")])
    assert str(exc.value.code).startswith("error: cannot write to --out")  # exit status 1
    assert blocker.read_text() == "not a folder"
