"""0.0 Tensor: the shapes the notes state in their comments, and the behaviours they describe."""
import torch

import tensor_basics
from conftest import run_script


def test_shapes_match_the_notes_comments(capsys):
    r = tensor_basics.main([])
    assert r["order"]["permute(1, 0, 2)"] == (4, 3, 5)  # notes: x : torch.Size([4, 3, 5])
    assert r["order"]["transpose(0, 2)"] == (5, 3, 4)  # notes: x : torch.Size([5, 3, 4])
    assert r["order"]["view(-1, 5)"] == (12, 5)  # notes: x : torch.Size([12, 5])
    assert r["order"]["view(3, 20)"] == (3, 20)  # notes: x : torch.Size([3, 20])
    assert r["dims"] == {"x": (3, 4), "unsqueeze(0)": (1, 3, 4), "unsqueeze(1)": (1, 1, 3, 4),
                         "squeeze(0)": (1, 3, 4), "squeeze()": (3, 4)}
    assert "permute(1, 0, 2): [4, 3, 5]" in capsys.readouterr().out


def test_reductions_agree_with_python():
    r = tensor_basics.main([])
    rows = r["x"].tolist()
    assert r["max"].tolist() == [max(row) for row in rows]
    assert r["argmax"].tolist() == [row.index(max(row)) for row in rows]
    torch.testing.assert_close(r["sum"], torch.tensor([sum(row) for row in rows]))


def test_inplace_numpy_and_grad_dtype():
    r = tensor_basics.main([])
    assert r["inplace"]["shape"] == (3, 1, 4) and r["inplace"]["same_storage"]
    assert torch.equal(r["inplace"]["a"], torch.full((3, 3), 2.0))
    assert r["numpy"]["shares_memory"] and str(r["numpy"]["back_dtype"]) == "float32"
    assert "floating point" in r["grad"]["error"] and r["grad"]["float_ok"]


def test_runs_from_any_working_directory(tmp_path):
    proc = run_script("tensor_basics", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "view(-1, 5): [12, 5]" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # writes nothing where it is run


def test_seed_makes_runs_repeatable():
    a, b = tensor_basics.main(["--seed", "3"]), tensor_basics.main(["--seed", "3"])
    assert torch.equal(a["x"], b["x"])
