"""The Makefile's wiring, read with `make -n` (prints the commands, runs nothing)."""
import re
import shutil
import subprocess

import pytest

from conftest import REPO, SCRIPTS

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make_n(*args):
    """The commands `make` would run, forced (-B) and without running them (-n)."""
    proc = subprocess.run(["make", "-n", "-B", "--no-print-directory", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def pip_lines(lines):
    return [line for line in lines if " -m pip install " in line]


def test_install_from_plain_pypi_by_default():
    pips = pip_lines(make_n("install"))
    assert pips[-1].endswith("--no-build-isolation -r requirements.txt")
    assert not any("--index-url" in line for line in pips)


def test_torch_index_installs_torch_first_from_that_index():
    index = "https://wheels.example/cpu"
    pips = pip_lines(make_n("install", f"TORCH_INDEX={index}"))
    torch_line = [i for i, line in enumerate(pips) if f"--index-url {index}" in line]
    assert len(torch_line) == 1 and pips[torch_line[0]].endswith(" torch torchvision")
    # ...before requirements.txt, which then finds torch installed and keeps it.
    assert torch_line[0] < [i for i, line in enumerate(pips) if "-r requirements.txt" in line][0]


def test_args_reach_pytest_in_both_tiers():
    fast = [line for line in make_n("test", "ARGS=-k entropy") if " -m pytest" in line]
    slow = [line for line in make_n("test-full", "ARGS=-k entropy") if " -m pytest" in line]
    assert fast == [".venv/bin/python -m pytest -k entropy"]
    assert slow == [".venv/bin/python -m pytest -m slow -k entropy"]


def test_help_lists_every_documented_target_and_section():
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60).stdout
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    documented = re.findall(r"^([a-zA-Z_-]+):.*## ", makefile, re.M)
    assert {"all", "test", "test-full", "install", "data"} <= set(documented)
    for target in documented:
        assert re.search(rf"^make {re.escape(target)}\s+\S", out, re.M), target
    sections = re.search(r"^SCRIPTS :=(.*?)\n\n", makefile, re.M | re.S).group(1).split()
    sections = [s for s in sections if s != "\\"]
    listed = {line.strip() for line in out.splitlines() if line.startswith(" ")}
    assert set(sections) == listed


def test_every_script_has_a_target_and_a_readme_row():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for path in SCRIPTS.glob("*.py"):
        assert f"scripts/{path.name}" in readme, f"{path.name} has no README index row"
        assert path.stem in makefile, f"{path.name} has no make target"


def test_args_reach_a_section():
    assert make_n("entropy", "ARGS=--seed 5")[-1] == ".venv/bin/python scripts/entropy.py --seed 5"
    ddp = make_n("mnist_ddp", "ARGS=--epochs 1")[-1]
    assert ddp.endswith("-m torch.distributed.run --standalone --nproc_per_node 2 "
                        "scripts/mnist_ddp.py --epochs 1")


def test_mnist_is_checked_once_and_only_where_needed():
    everything = make_n("all")
    assert sum("scripts/get_mnist.py" in line for line in everything) == 1
    assert not any("get_mnist.py" in line for line in make_n("entropy"))
    assert any("get_mnist.py" in line for line in make_n("mnist_mlp"))
    assert "make visdom-stop" in everything[-1]  # `make all` says the server is still up


def test_the_tree_check_sees_what_a_run_leaves(tmp_path):
    """conftest's end-of-run check on a made-up tree: a new file, a removed one, a changed one."""
    from conftest import tree_changes, tree_snapshot
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kept").write_text("x")
    (tmp_path / "gone").write_text("x")
    before = tree_snapshot(tmp_path)
    assert tree_changes(before, tree_snapshot(tmp_path)) == []
    (tmp_path / "gone").unlink()
    (tmp_path / "runs").mkdir()
    (tmp_path / "data" / "kept").write_text("changed")
    assert tree_changes(before, tree_snapshot(tmp_path)) == ["+ runs", "- gone", "~ data/kept"]
