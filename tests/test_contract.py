"""The collection's contract, checked for every script: --help works, bad flags exit 2."""
import ast
import json
import subprocess
import sys

import pytest

from conftest import SCRIPTS

ALL = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_"))


# Runs in a fresh interpreter: each script as `python scripts/NAME.py --help` would (run_name
# "__main__", argv set), all in one process so torch is imported once instead of ~25 times.
HELP_DRIVER = r"""
import contextlib, io, json, runpy, sys
out = {}
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    buf, err = io.StringIO(), io.StringIO()
    code = None
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:
            code = e.code
    out[path] = {"code": code, "stdout": buf.getvalue(), "stderr": err.getvalue()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def help_runs():
    paths = [str(SCRIPTS / f"{name}.py") for name in ALL]
    proc = subprocess.run([sys.executable, "-c", HELP_DRIVER, *paths], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(proc.stdout.splitlines()[-1])
    return {name: runs[path] for name, path in zip(ALL, paths)}


@pytest.mark.parametrize("name", ALL)
def test_help_runs_and_lists_flags(name, help_runs):
    run = help_runs[name]
    assert run["code"] in (0, None) and run["stdout"].startswith("usage:"), run
    assert "Traceback" not in run["stderr"], run["stderr"]


@pytest.mark.parametrize("name", ALL)
def test_script_shape(name):
    """Docstring, main(argv=None), a main guard, and no import of a sibling script."""
    tree = ast.parse((SCRIPTS / f"{name}.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and "Run:" in doc and "Expect:" in doc, "docstring must say how to run and expect"
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert mains and mains[0].args.args[0].arg == "argv", "main(argv=None) is missing"
    guard = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert guard, "no `if __name__ == '__main__':` guard"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any((m or "").split(".")[0] in ALL for m in mods), f"imports a script: {mods}"


@pytest.mark.parametrize("name", ALL)
def test_unknown_flag_exits_2(name):
    import importlib
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as exc:
        module.main(["--no-such-flag"])
    assert exc.value.code == 2


# The few lines of plumbing every script repeats (scripts stay standalone) must read the same
# everywhere: a fix made in one copy and forgotten in another fails here.
PLUMBING = ["positive_int", "positive_float", "pick_device", "load_mnist", "load_lesson_mnist",
            "torch_threads"]


@pytest.mark.parametrize("func", PLUMBING)
def test_plumbing_reads_the_same_everywhere(func):
    copies = {}
    for name in ALL:
        source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == func:
                copies[name] = ast.get_source_segment(source, node)
    assert len(copies) >= 2, f"{func} is not shared any more: drop it from PLUMBING"
    first = next(iter(copies.values()))
    differing = [name for name, text in copies.items() if text != first]
    assert not differing, f"{func} differs in {differing} from {next(iter(copies))}"
