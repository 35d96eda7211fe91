"""Shared test plumbing: where things are, and running a script as a learner would."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
DATA_DIR = REPO / "data"
MNIST_RAW = DATA_DIR / "MNIST" / "raw"


# What a test run may leave behind: caches, and what was there before it started.
NOT_OURS = {".git", ".venv", "__pycache__", ".pytest_cache"}


def tree_snapshot(root):
    """{path: (size, mtime)} of every file and folder under root, the venv, git and caches left
    out: what a test run must leave as it found it (data/ included)."""
    snapshot = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_OURS]
        for name in dirs + files:
            path = Path(folder, name)
            stat = path.lstat()
            snapshot[str(path.relative_to(root))] = (0 if name in dirs else stat.st_size,
                                                     0 if name in dirs else stat.st_mtime_ns)
    return snapshot


def tree_changes(before, after):
    """Lines naming what appeared (+), went (-) or changed (~) between two snapshots."""
    return ([f"+ {p}" for p in sorted(after.keys() - before.keys())]
            + [f"- {p}" for p in sorted(before.keys() - after.keys())]
            + [f"~ {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
               and not p.startswith(("scripts/", "tests/"))])  # sources: edited by hand meanwhile


@pytest.fixture(scope="session", autouse=True)
def leaves_the_tree_as_found():
    """Tests write only into temporary folders: a run that adds, removes or changes a file in the
    learner's working tree (runs/, a plot, data/) fails here, naming the files."""
    before = tree_snapshot(REPO)
    yield
    changes = tree_changes(before, tree_snapshot(REPO))
    assert not changes, "the test run changed the working tree:\n" + "\n".join(changes[:20])


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
def kernel(tmp_path_factory):
    """One real Jupyter kernel (ipykernel) for every notebook test, with a PATH that does not hold
    this venv, as a kernel registered with `ipykernel install` or VS Code's would be: `!python`
    would not find torch there. It starts in a learner's copy of the repository in a temporary
    folder (its tracked files, data/MNIST linked to this one's), so what the cells write (runs/,
    loss.png) lands there and not in this working tree."""
    from jupyter_client.manager import KernelManager
    work = tmp_path_factory.mktemp("clone")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():  # a file deleted but not yet committed is skipped
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    (work / "data" / "MNIST").symlink_to(DATA_DIR / "MNIST", target_is_directory=True)
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ, PATH=path), cwd=str(work))
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


# ---- The device tier (issue 25): a test that takes `device` runs once per device present ----

def device_params():
    """cpu always; cuda and mps as cases skipped, each with its reason, where torch finds none,
    so `make test` on a GPU machine runs them with no flag."""
    import torch
    no_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="no CUDA GPU here (torch.cuda.is_available() is False)")
    no_mps = pytest.mark.skipif(
        not torch.backends.mps.is_available(),
        reason="no Apple GPU here (torch.backends.mps.is_available() is False)")
    return [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=no_cuda),
            pytest.param("mps", id="mps", marks=no_mps)]


@pytest.fixture(params=device_params())
def device(request):
    """Each device of this machine in turn, as a torch.device."""
    import torch
    return torch.device(request.param)


@pytest.fixture(params=device_params()[1:])
def gpu(request):
    """Each GPU of this machine in turn (none here: every case skipped with its reason)."""
    import torch
    return torch.device(request.param)


@pytest.fixture(scope="session", autouse=True)
def cublas_workspace():
    """Bit-for-bit repeatable cuda matmuls under torch.use_deterministic_algorithms(True) need
    CUBLAS_WORKSPACE_CONFIG=:4096:8 before cuBLAS starts (the first cuda matmul of the process):
    set here, before any test runs, so no script needs a flag for it; a value the learner set is
    kept. Without cuda it changes nothing. Returns the value and whether cuda had started."""
    import torch
    old = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    yield os.environ["CUBLAS_WORKSPACE_CONFIG"], torch.cuda.is_initialized()
    if old is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def evaluated_the_notes_way(model, mnist_dir):
    """The notes' test loop on `model`, another pipeline than the script's: torchvision's ToTensor
    and Normalize per image, a DataLoader of batch 200, nn.CrossEntropyLoss per batch. Returns
    (true mean loss per image, the notes' figure: batch means summed / 10000, correct)."""
    import torch
    from torch import nn
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,),
                                                                                (0.3081,))])
    loader = torch.utils.data.DataLoader(
        datasets.MNIST(mnist_dir, train=False, transform=transform), batch_size=200)
    criteon, test_loss, correct = nn.CrossEntropyLoss(), 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            logits = model(data.view(-1, 28 * 28))
            test_loss += criteon(logits, target).item()
            correct += logits.argmax(dim=1).eq(target).sum().item()
    return test_loss / len(loader), test_loss / len(loader.dataset), correct
