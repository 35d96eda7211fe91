"""Copy it anywhere: every script pasted whole into a real Jupyter kernel (nbclient + ipykernel),
its lesson part copied out alone, --plot leaving the notebook's backend alone, and the README's
notebook cells run as written in a kernel whose venv is not on PATH."""
import re
import subprocess

import pytest

from conftest import REPO, SCRIPTS, lesson_namespace, run_cells
from test_visdom_demo import free_port, server  # noqa: F401 (server: a fixture, a real visdom server)

ALL = sorted(p.stem for p in SCRIPTS.glob("*.py"))
# The trainers and tools whose defaults take more than a few seconds (or reach out to npm):
# pasted whole with the main guard turned off, then main() with a small budget in the next cell.
# Pasted whole with their defaults they run in the slow tier.
SMALL = {
    "bench_mnist": ["--limit", "400"],
    "dataloader_scratch": ["--epochs", "1", "--limit", "2000"],
    "mnist_ddp": ["--epochs", "1", "--limit", "2000"],
    "mnist_mlp": ["--epochs", "1", "--limit", "2000"],
    "mnist_mlp_gpu": ["--epochs", "1", "--limit", "1000", "--loader", "torchvision"],
    "mnist_raw_weights": ["--epochs", "1", "--limit", "2000"],
    "overfitting": ["--variants", "plain,dropout", "--epochs", "1", "--limit", "2000"],
    "tb_demo": ["--epochs", "1", "--limit", "2000"],
    "training_loop": ["--limit", "2000"],
    "visdom_assets": ["--check"],
    "visdom_demo": ["--epochs", "1", "--limit", "2000"],
    # its default asks port 8097, where the learner's own server may run: a free port instead
    "visdom_server": ["status"],
}
SHORT = [name for name in ALL if name not in SMALL]
GUARD = 'if __name__ == "__main__":'


def source(name):
    return (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")


def fresh(code):
    """A cell that first empties the kernel's namespace: a name the script forgot to define must
    not be found left over from the script pasted before it."""
    return "%reset -f\n" + code


@pytest.mark.parametrize("name", SHORT)
def test_short_script_pasted_whole_runs(kernel, name):
    out, = run_cells(kernel, fresh(source(name)))
    assert "Traceback" not in out and "error:" not in out, out[-2000:]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_long_script_pasted_then_main_with_flags(kernel, name, request):
    text = source(name)
    assert text.count(GUARD) == 1
    flags = SMALL[name] + (["--port", str(request.getfixturevalue("server"))]
                           if name == "visdom_demo" else
                           ["--port", str(free_port())] if name == "visdom_server" else [])
    call = f"result = main({flags!r})\nprint(type(result).__name__)"
    if name == "visdom_assets":  # --check exits 1 where the libraries are not fetched yet
        call = f"try:\n    main({flags!r})\nexcept SystemExit as e:\n    print('exit', e.code)"
    pasted, run = run_cells(kernel, fresh(text.replace(GUARD, "if False:")), call)
    assert pasted == "", pasted[-2000:]  # defining the script prints nothing and runs nothing
    assert "Traceback" not in run, run[-2000:]
    # "dict" on a line of its own (visdom_server may warn on stderr after it: no page libraries)
    assert "dict" in run.splitlines() or "visdom assets" in run, run[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(SMALL) - {"visdom_assets", "visdom_demo",
                                                      "visdom_server"}))
def test_long_script_pasted_whole_runs_its_defaults(kernel, name):
    out, = run_cells(kernel, fresh(source(name)), timeout=1200)
    assert "Traceback" not in out, out[-2000:]


@pytest.mark.parametrize("name", ALL)
def test_lesson_part_runs_alone(name):
    """Everything above main() runs without main and the plumbing, in a namespace with no
    __file__; what it defines is callable (each section's own test makes it train or compute)."""
    namespace = lesson_namespace(name)
    assert any(callable(v) and getattr(v, "__module__", None) == "lesson"
               for v in namespace.values()) or name in {"get_mnist", "visdom_server"}


def test_plot_leaves_the_notebooks_backend(kernel, tmp_path):
    png = tmp_path / "loss.png"
    before, run, after, shown = run_cells(
        kernel,
        "%matplotlib inline\nimport matplotlib\nprint(matplotlib.get_backend())",
        fresh(source("mnist_raw_weights").replace(GUARD, "if False:")) + "\n"
        f"main(['--epochs', '1', '--limit', '400', '--plot', {str(png)!r}])",
        "import matplotlib\nprint(matplotlib.get_backend())",
        "import matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.show()")
    assert before == after and "inline" in before
    assert png.stat().st_size > 10_000 and f"plot written to {png}" in run
    assert "Figure" in shown  # the learner's own plot is still drawn inline


def readme_cells():
    """The code blocks of the README's notebook section, in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### In a notebook")[1].split("\n## ")[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_kernel_has_not_this_venv_on_path(kernel):
    out, = run_cells(kernel, "import os, sys\n"
                     "print(os.path.dirname(sys.executable) in os.environ['PATH'].split(os.pathsep))")
    assert out.strip() == "False"


@pytest.mark.slow  # ~20 s: pip, three runs and a TensorBoard server
def test_readme_notebook_cells_run_as_written(kernel, tmp_path):
    """The README's cells, in a kernel started without this venv on PATH, from the repository
    folder (the Colab clone cell is the one step skipped: no network)."""
    cells = [c for c in readme_cells() if "git clone" not in c]
    assert any("sys.executable" in c for c in cells)
    try:
        outputs = run_cells(kernel, "%reset -f", *cells, timeout=600)
    finally:  # %tensorboard leaves a server running: stop it
        subprocess.run([str(REPO / ".venv/bin/python"), "-c",
                        "import os, signal\nfrom tensorboard import manager\n"
                        "for info in manager.get_all(): os.kill(info.pid, signal.SIGTERM)"],
                       timeout=60)
    text = "\n".join(outputs)
    assert "MNIST ready" in text and "Test set: Average loss:" in text
    assert "No module named" not in text and "Traceback" not in text, text[-3000:]
    assert len(text) < 20_000, "notebook output should stay small (no progress bars)"
