"""Shared test plumbing: where things are, and running a script as a learner would."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
DATA_DIR = REPO / "data"
MNIST_RAW = DATA_DIR / "MNIST" / "raw"


def run_script(name, *args, timeout=300, cwd=None):
    """Run scripts/<name>.py in a fresh interpreter; return the CompletedProcess (text)."""
    return subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="session")
def mnist_dir():
    """The repo's data/ folder; tests that train need `make data` to have run."""
    if not (MNIST_RAW / "t10k-labels-idx1-ubyte").exists():
        pytest.fail("MNIST is not in data/MNIST/raw: run `make data` (make test does it for you)")
    return DATA_DIR
