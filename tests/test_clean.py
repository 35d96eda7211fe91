"""make clean / distclean / visdom-stop, run for real in a copy of the repository's skeleton in a
temporary folder (the Makefile, the visdom server script, a stand-in .venv whose python is this
one, a stand-in server): they stop what the collection started and remove what it wrote. The
real .venv, data/ and any server on port 8097 are never touched."""
import shutil
import subprocess
import sys

import psutil
import pytest

from conftest import REPO, SCRIPTS

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

# What the collection writes into its folder: the server's state, tb_demo's runs, the README
# notebook cell's plot, outputs/, pytest's and Python's caches.
WRITTEN = [".visdom/server.log", ".visdom/env/main.json", "runs/tb_demo-20260101-000000/events",
           "outputs/model.pth", "loss.png", ".pytest_cache/v/cache/lastfailed",
           "scripts/__pycache__/get_mnist.cpython-311.pyc"]


@pytest.fixture
def skeleton(tmp_path):
    """tmp_path laid out as the repository after `make all`: a stand-in .venv/bin/python that
    runs this interpreter, MNIST in data/, every output the collection writes."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "Makefile", tmp_path)
    for name in ("visdom_server.py", "get_mnist.py"):  # get_mnist.py: scripts/ marks the root
        shutil.copy(SCRIPTS / name, tmp_path / "scripts")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (tmp_path / "data" / "MNIST" / "raw").mkdir(parents=True)
    shutil.copy(REPO / "data" / "README.md", tmp_path / "data" / "README.md")
    (tmp_path / "data" / "MNIST" / "raw" / "train-labels-idx1-ubyte").write_bytes(b"x")
    for path in WRITTEN:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    return tmp_path


def server(state_dir):
    """A running process that is ours by visdom_server's rule (its command line names
    visdom_server), its pid in state_dir/server.pid, as `make visdom-server` leaves it. Its
    parent is this test, which reaps it only after make has returned: stopped, it stays a
    zombie meanwhile, as under a container's first process that reaps nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); "
                              "time.sleep(120)", "visdom_server.py"], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    state_dir.mkdir(exist_ok=True)
    (state_dir / "server.pid").write_text(f"{child.pid}\n")
    return child


def make(folder, target):
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(folder), target],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def stopped(child):
    """The stand-in server ended (by SIGTERM); waited for here, its parent, so it is reaped."""
    try:
        return child.wait(timeout=10) is not None
    except subprocess.TimeoutExpired:
        child.kill()
        return False


def tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_clean_stops_the_server_and_removes_the_outputs(skeleton):
    child = server(skeleton / ".visdom")
    out = make(skeleton, "clean")
    assert f"stopped the visdom server (pid {child.pid})" in out and stopped(child)
    assert tree(skeleton) == [".venv/bin/python", "Makefile",
                              "data/MNIST/raw/train-labels-idx1-ubyte", "data/README.md",
                              "scripts/get_mnist.py", "scripts/visdom_server.py"]
    assert "no visdom server started" in make(skeleton, "clean")  # again: nothing left to do


def test_distclean_leaves_the_clone_as_cloned(skeleton):
    child = server(skeleton / ".visdom")
    out = make(skeleton, "distclean")
    assert f"stopped the visdom server (pid {child.pid})" in out and stopped(child)
    assert tree(skeleton) == ["Makefile", "data/README.md", "scripts/get_mnist.py",
                              "scripts/visdom_server.py"]
    assert not (skeleton / ".venv").exists()
    # afterwards, without .venv: visdom-stop still answers (Error 127 before), and still stops
    # a server of ours left running by a .venv removed by hand
    assert make(skeleton, "visdom-stop").startswith("no visdom server started from .visdom/")
    child = server(skeleton / ".visdom")
    assert make(skeleton, "visdom-stop").startswith("stopped the visdom server") and stopped(child)
    assert not (skeleton / ".visdom" / "server.pid").exists()


def test_visdom_stop_without_venv_leaves_another_program_alone(skeleton):
    """A pid file naming a process that is not our server (a pid reused): not killed."""
    shutil.rmtree(skeleton / ".venv")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (skeleton / ".visdom").mkdir(exist_ok=True)
        (skeleton / ".visdom" / "server.pid").write_text(f"{other.pid}\n")
        assert make(skeleton, "visdom-stop").startswith("no visdom server started")
        assert other.poll() is None and psutil.pid_exists(other.pid)
    finally:
        other.kill()
        other.wait()


def test_help_says_what_clean_and_distclean_remove():
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True,
                         text=True, timeout=60).stdout
    clean = next(line for line in out.splitlines() if line.startswith("make clean "))
    for part in ("visdom server", ".visdom/", "runs/", "outputs/", "loss.png", "keep .venv, data/"):
        assert part in clean, part
    distclean = next(line for line in out.splitlines() if line.startswith("make distclean "))
    assert ".venv" in distclean and "data/" in distclean
