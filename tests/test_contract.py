"""The collection's contract, checked for every script: --help works, bad flags exit 2."""
import ast
import builtins
import importlib
import difflib
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
# everywhere: a fix made in one copy and forgotten in another fails here, with the diff to paste.
PLUMBING = ["parse_flags", "positive_int", "positive_float", "pick_device", "png_path",
            "load_mnist", "load_lesson_mnist"]
CONSTANTS = ["HERE", "ROOT", "DATA_DIR", "MEAN", "N_TRAIN"]
# The MNIST trainers share one training-loop shape: these lesson functions are the same text in
# every one of them (six differing copies had drifted apart).
TRAINERS = ["mnist_raw_weights", "mnist_mlp", "mnist_mlp_gpu", "overfitting", "tb_demo",
            "visdom_demo"]
SHARED_LESSON = ["to_inputs", "shuffled_batches", "train_epoch"]
# Lesson functions several scripts share, the same text wherever they stand: the notes' test line
# (called from a lesson's epoch loop, so it is the lesson's) and the trainers' --plot figure.
SHARED_ANYWHERE = ["print_test", "plot_training"]
# The fence of the three MNIST trainers, from its line to the end (blank lines included): the
# plumbing stays an appendix to ~130 lines of lesson, not a second lesson (issue 26).
FENCE_BUDGET = {"mnist_raw_weights": 45, "mnist_mlp": 45, "mnist_mlp_gpu": 45}
FENCE = "# ---- plumbing: identical in every script (tests/test_contract.py) ----"


def parsed(name):
    source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    return source, ast.parse(source)


def copies_of(kind, wanted):
    """{script: source text} of every top-level function (or constant line) named `wanted`."""
    copies = {}
    for name in ALL:
        source, tree = parsed(name)
        lines = source.splitlines()
        for node in tree.body:
            if kind == "function" and isinstance(node, ast.FunctionDef) and node.name == wanted:
                copies[name] = ast.get_source_segment(source, node)
            elif (kind == "constant" and isinstance(node, ast.Assign)
                  and wanted in [n.id for n in ast.walk(node.targets[0]) if isinstance(n, ast.Name)]):
                copies[name] = "\n".join(lines[node.lineno - 1:node.end_lineno])  # with comment
    return copies


def assert_all_equal(copies, what):
    """Every copy equals the most common one; otherwise show a unified diff to paste."""
    texts = list(copies.values())
    reference = max(set(texts), key=texts.count)
    ref_name = next(n for n, t in copies.items() if t == reference)
    differing = [n for n, t in copies.items() if t != reference]
    if differing:
        diff = difflib.unified_diff(reference.splitlines(), copies[differing[0]].splitlines(),
                                    f"scripts/{ref_name}.py", f"scripts/{differing[0]}.py",
                                    lineterm="")
        pytest.fail(f"{what} differs in {differing} from {ref_name}:\n" + "\n".join(diff))


@pytest.mark.parametrize("func", PLUMBING)
def test_plumbing_reads_the_same_everywhere(func):
    copies = copies_of("function", func)
    assert len(copies) >= 2, f"{func} is not shared any more: drop it from PLUMBING"
    assert_all_equal(copies, func)


@pytest.mark.parametrize("func", SHARED_ANYWHERE)
def test_shared_lesson_functions_read_the_same_everywhere(func):
    copies = copies_of("function", func)
    assert len(copies) >= 2, f"{func} is not shared any more: drop it from SHARED_ANYWHERE"
    assert_all_equal(copies, func)


@pytest.mark.parametrize("name", sorted(FENCE_BUDGET))
def test_the_trainers_fence_stays_short(name):
    lines = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8").splitlines()
    fenced = len(lines) - lines.index(FENCE)
    assert fenced <= FENCE_BUDGET[name], f"the fence is {fenced} lines"


@pytest.mark.parametrize("func", SHARED_LESSON)
def test_shared_lesson_steps_read_the_same_everywhere(func):
    copies = copies_of("function", func)
    assert set(TRAINERS) <= set(copies), f"{func} missing in {set(TRAINERS) - set(copies)}"
    # to_inputs and shuffled_batches also stand in bench_mnist and mnist_ddp: every copy the same
    assert_all_equal(copies if func != "train_epoch" else
                     {name: copies[name] for name in TRAINERS}, func)


@pytest.mark.parametrize("constant", CONSTANTS)
def test_shared_constants_read_the_same_everywhere(constant):
    copies = copies_of("constant", constant)
    assert len(copies) >= 2, f"{constant} is not shared any more: drop it from CONSTANTS"
    assert_all_equal(copies, constant)


@pytest.mark.parametrize("name", ALL)
def test_lesson_first_plumbing_fenced_at_the_end(name):
    """docstring -> constants -> lesson -> main() -> fenced plumbing -> main guard (STYLE.md)."""
    source, tree = parsed(name)
    doc = ast.get_docstring(tree)
    assert len(doc.splitlines()) <= 20, f"docstring of {len(doc.splitlines())} lines"
    assert "(default:" not in source, "hand-written '(default:': use ArgumentDefaultsHelpFormatter"
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    names = [n.name for n in defs]
    after_main = names[names.index("main") + 1:]
    assert all(n in PLUMBING for n in after_main), f"lesson code after main(): {after_main}"
    before_main = names[:names.index("main")]
    assert not any(n in PLUMBING for n in before_main), f"plumbing before main(): {before_main}"
    if after_main:
        fence_line = source.splitlines().index(FENCE) + 1  # ValueError: no fence
        main_end = defs[names.index("main")].end_lineno
        first_plumbing = defs[names.index(after_main[0])]
        first_line = min([first_plumbing.lineno] + [d.lineno for d in first_plumbing.decorator_list])
        assert main_end < fence_line < first_line, "the fence goes between main() and plumbing"
    assert isinstance(tree.body[-1], ast.If) and "__main__" in ast.unparse(tree.body[-1].test)


@pytest.mark.parametrize("name", ALL)
def test_one_test_line_convention(name):
    """The notes' "Test set: Average loss" line is printed by the copied print_test only."""
    source, tree = parsed(name)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name != "print_test":
            assert "Test set: Average loss" not in ast.get_source_segment(source, node), node.name


def lesson_defs(tree):
    """The top-level functions and classes above main(): the lesson."""
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    names = [n.name for n in defs]
    return defs[:names.index("main")]


@pytest.mark.parametrize("name", ALL)
def test_lesson_takes_what_it_uses(name):
    """Copy-out: a lesson function reads its parameters, its locals, the imports, the UPPER_CASE
    constants and the other lesson functions; never an `args` namespace or another global."""
    source, tree = parsed(name)
    imported, constants = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        assert n.id.isupper(), f"module-level {n.id}: a lesson global not UPPER_CASE"
                        constants.add(n.id)
    defs = lesson_defs(tree)
    allowed = imported | constants | {d.name for d in defs} | set(dir(builtins)) | {"__file__"}
    for d in defs:
        local = set()
        for n in ast.walk(d):
            if isinstance(n, ast.arg):
                local.add(n.arg)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                local.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                local.add(n.name)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                local |= {(a.asname or a.name).split(".")[0] for a in n.names}
        foreign = {n.id for n in ast.walk(d) if isinstance(n, ast.Name)
                   and isinstance(n.ctx, ast.Load)} - local - allowed
        assert not foreign, f"{d.name} reads globals it is not given: {sorted(foreign)}"
        assert "args" not in local or not any(
            isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "args"
            for n in ast.walk(d)), f"{d.name} reads an args namespace"


@pytest.mark.parametrize("name", ALL)
def test_pastes_into_a_notebook(name):
    """No bare __file__ (a notebook cell has none) and main() parses through parse_flags (which
    ignores a kernel's own argv)."""
    source, tree = parsed(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__file__":
            line = source.splitlines()[node.lineno - 1]
            assert '"__file__" in globals()' in line, f"line {node.lineno}: __file__ without fallback"
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = {ast.unparse(n.func) for n in ast.walk(main) if isinstance(n, ast.Call)}
    assert "parse_flags" in calls, "main() must parse with parse_flags(parser, argv)"
    assert "parser.parse_args" not in calls, "parse_args directly reads a kernel's argv"


def bad_values():
    """(flag, value, the error line's end) for each bad value a learner may type."""
    import torch
    cases = [("--epochs", "abc", "must be a positive integer, got abc"),
             ("--epochs", "0", "must be a positive integer, got 0"),
             ("--batch-size", "2.5", "must be a positive integer, got 2.5"),
             ("--lr", "abc", "must be a positive number, got abc"),
             ("--lr", "-1", "must be a positive number, got -1"),
             ("--device", "tpu", "tpu is not one of auto, cpu, cuda, mps")]
    if not torch.cuda.is_available():  # asked for but absent: said so, not a traceback later
        cases.append(("--device", "cuda", "cuda is not available here"))
    if not torch.backends.mps.is_available():
        cases.append(("--device", "mps", "mps is not available here"))
    return cases


def flag_types(name):
    """{flag: the name of its type= function} of every add_argument call in scripts/<name>.py."""
    types = {}
    for node in ast.walk(parsed(name)[1]):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            kind = next((ast.unparse(k.value) for k in node.keywords if k.arg == "type"), None)
            for arg in node.args:
                if isinstance(arg, ast.Constant) and str(arg.value).startswith("--"):
                    types[arg.value] = kind
    return types


@pytest.mark.parametrize("name", ALL)
def test_a_bad_flag_value_is_one_line_saying_what_is_wanted(name, capsys):
    """argparse's usage, then one line: `error: argument --epochs: must be a positive integer,
    got abc`, never the type function's name ("invalid positive_int value")."""
    module = importlib.import_module(name)
    types = flag_types(name)
    shared = {"positive_int", "positive_float", "pick_device"}
    for flag, value, said in bad_values():
        if types.get(flag) not in shared:  # absent, or int/float: argparse names those itself
            continue
        with pytest.raises(SystemExit) as exc:
            module.main([flag, value])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and err[-1].endswith(f"error: argument {flag}: {said}"), err


# Flags that count or scale something: 0 or less is never an experiment, only a crash later on
# (a ZeroDivisionError in param_init, a oneDNN error in why_sqrt5, SGD's "Invalid learning rate").
MUST_BE_POSITIVE = {"--epochs", "--batch-size", "--lr", "--limit", "--log-interval", "--layers",
                    "--width", "--kernel", "--fan-in", "--fan-out", "--samples", "--folds"}


@pytest.mark.parametrize("name", ALL)
def test_counts_and_rates_refuse_zero_in_one_line(name, capsys):
    module = importlib.import_module(name)
    for flag in MUST_BE_POSITIVE & set(flag_types(name)):
        with pytest.raises(SystemExit) as exc:
            module.main([flag, "0"])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and "error:" in err[-1] and flag in err[-1], err  # one line
