"""Shared test plumbing: where things are, and running a script as a learner would."""
import os
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


def lesson_part(name):
    """The text of scripts/<name>.py above `def main`: the lesson a learner copies out."""
    source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    return source[:source.index("\ndef main(")]


def lesson_namespace(name):
    """The lesson part run alone in a fresh namespace with no __file__, as in a learner's file:
    no main(), no fenced plumbing. Returns the namespace (its functions and constants)."""
    namespace = {"__name__": "lesson"}
    exec(compile(lesson_part(name), f"<the lesson of {name}.py>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="session")
def kernel():
    """One real Jupyter kernel (ipykernel) for every notebook test, started in the repository
    folder with a PATH that does not hold this venv, as a kernel registered with `ipykernel
    install` or VS Code's would be: `!python` would not find torch there."""
    from jupyter_client.manager import KernelManager
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ, PATH=path), cwd=str(REPO))
    yield km
    km.shutdown_kernel(now=True)


def run_cells(km, *cells, timeout=600):
    """Execute code cells as one notebook in the shared kernel with nbclient; a cell that raises
    fails the test with the kernel's traceback. Returns each cell's output text."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, km=km, timeout=timeout).execute()
    texts = []
    for cell in nb.cells:
        parts = []
        for out in cell.outputs:
            parts.append(out.get("text") or "".join(out.get("data", {}).get("text/plain", "")))
        texts.append("".join(parts))
    return texts


@pytest.fixture(scope="module")
def one_thread():
    """Small tensor ops do not gain from a second intra-op thread, and with the other tests
    keeping both cores busy it only waits: good_init's main() took 1.5 s on one thread, 21 s on
    two (load ~15 on 2 cores). The scripts leave the learner's threads alone."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def try_lines(name):
    """The docstring's `Try:` experiments of scripts/<name>.py as [(flags, what you will see)].
    The block starts at `Try:` and ends at a blank line or the docstring's end; each experiment
    is one line `--flag value ...   what you will see` (two or more spaces before the words), and
    a line that does not start with `--` continues the words of the one above."""
    import ast
    import re
    doc = ast.get_docstring(ast.parse((SCRIPTS / f"{name}.py").read_text(encoding="utf-8")))
    block = doc.split("\nTry:", 1)[1].split("\n\n")[0] if "\nTry:" in doc else ""
    experiments = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("--"):
            flags, said = (re.split(r"\s{2,}", line, maxsplit=1) + [""])[:2]
            experiments.append((flags, said))
        elif line and experiments:
            experiments[-1] = (experiments[-1][0], f"{experiments[-1][1]} {line}".strip())
    return experiments
