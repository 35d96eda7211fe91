"""0.0 Tensor: the shapes the notes state in their comments, and the behaviours they describe."""
import torch

import tensor_basics
from conftest import run_script


def test_attributes_size_item_grad_data():
    a = tensor_basics.tensor_attributes()
    assert a["size"] == torch.Size([3]) and tuple(a["size"]) == (3,)
    assert type(a["item"]) is float and a["item"] == 1 * 1 + 2 * 2 + 3 * 3  # 14, by hand
    assert a["grad_before"] is None  # no backward yet
    assert a["grad"].tolist() == [1.0, 2.0, 3.0]  # d(sum w_i x_i)/dw = x
    assert a["data_shares_storage"] and not a["data_requires_grad"]


def test_shapes_match_the_notes_comments(capsys):
    r = tensor_basics.main([])
    assert r["view(-1, 5)"] == (12, 5)  # notes: x : torch.Size([12, 5])
    torch.manual_seed(0)
    order = tensor_basics.reorder_dims()
    assert order["permute(1, 0, 2)"] == (4, 3, 5)  # notes: x : torch.Size([4, 3, 5])
    assert order["transpose(0, 2)"] == (5, 3, 4)  # notes: x : torch.Size([5, 3, 4])
    assert order["view(3, 20)"] == (3, 20)  # notes: x : torch.Size([3, 20])
    dims = tensor_basics.add_and_drop_dims(torch.zeros(3, 4))
    assert dims == {"x": (3, 4), "unsqueeze(0)": (1, 3, 4), "unsqueeze(1)": (1, 1, 3, 4),
                    "squeeze(0)": (1, 3, 4), "squeeze()": (3, 4)}
    assert "permute(1, 0, 2): [4, 3, 5]" in capsys.readouterr().out


def test_reductions_agree_with_python():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    max_value, argmax, sums = tensor_basics.reduce_along_dim(x)
    rows = x.tolist()
    assert max_value.tolist() == [max(row) for row in rows]
    assert argmax.tolist() == [row.index(max(row)) for row in rows]
    torch.testing.assert_close(sums, torch.tensor([sum(row) for row in rows]))


def test_inplace_numpy_and_grad_dtype():
    inplace = tensor_basics.inplace_ops()
    assert inplace["shape"] == (3, 1, 4) and inplace["same_storage"]
    assert torch.equal(inplace["a"], torch.full((3, 3), 2.0))
    nr = tensor_basics.numpy_round_trip()
    assert nr["shares_memory"] and str(nr["back_dtype"]) == "float32"
    g = tensor_basics.grad_needs_float()
    assert "floating point" in g["error"] and g["float_ok"]


def test_runs_from_any_working_directory(tmp_path):
    proc = run_script("tensor_basics", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "view(-1, 5): [12, 5]" in proc.stdout and "y.item(): 14.0" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # writes nothing where it is run


def test_seed_makes_runs_repeatable(capsys):
    tensor_basics.main(["--seed", "3"])
    first = capsys.readouterr().out
    tensor_basics.main(["--seed", "3"])
    assert capsys.readouterr().out == first
