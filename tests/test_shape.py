"""Every script reads like the notes (STYLE.md): the lesson lives in short functions above main(),
main() only wires them, the docstring ends with experiments to try, and each is run by a test."""
import ast
import importlib
import re

import pytest

from conftest import REPO, SCRIPTS, try_lines

ALL = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_"))
MAIN_LINES = 25  # beside its parser.add_argument calls (STYLE.md, pytorch/examples' main)
FUNCTION_LINES = 35  # a lesson function a learner copies: ~30 lines


def tree_of(name):
    source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    return source, ast.parse(source)


def main_lines(source):
    """The line numbers of main() from its `def` to its end, blank lines too (as the collection's
    before-stop review counts them), its add_argument calls left out."""
    main = next(n for n in ast.parse(source).body
                if isinstance(n, ast.FunctionDef) and n.name == "main")
    flags = {line for n in ast.walk(main) if isinstance(n, ast.Call)
             and getattr(n.func, "attr", "") == "add_argument"
             for line in range(n.lineno, n.end_lineno + 1)}
    return [i for i in range(main.lineno, main.end_lineno + 1) if i not in flags]


@pytest.mark.parametrize("name", ALL)
def test_main_only_wires(name):
    _, tree = tree_of(name)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    counted = main_lines(tree_of(name)[0])
    assert len(counted) <= MAIN_LINES, f"main() is {len(counted)} lines"
    loops = [n.lineno for n in ast.walk(main) if isinstance(n, (ast.For, ast.While))]
    assert not loops, f"main() loops at lines {loops}: a loop is a lesson function's"


@pytest.mark.parametrize("name", ALL)
def test_lesson_functions_are_short(name):
    source, tree = tree_of(name)
    fence = source.index("# ---- plumbing") if "# ---- plumbing" in source else len(source)
    fence_line = source[:fence].count("\n") + 1
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.name != "main" and n.lineno < fence_line
            and n.end_lineno - n.lineno + 1 > FUNCTION_LINES]
    assert not long, f"over {FUNCTION_LINES} lines: {long}"


def test_main_lines_counts_what_it_should():
    """The count skips add_argument calls (one over two lines here), not the def or a blank line."""
    source = ("def main(argv=None):\n    parser = make()\n    parser.add_argument(\n"
              "        '--a', type=int)\n\n    return parser\n")
    assert main_lines(source) == [1, 2, 5, 6]


@pytest.mark.parametrize("name", ALL)
def test_docstring_ends_with_experiments_that_parse(name, capsys):
    experiments = try_lines(name)
    assert 1 <= len(experiments) <= 3, f"{len(experiments)} Try: lines (1 to 3)"
    assert all(said for _, said in experiments), "each Try: line says what you will see"
    module = importlib.import_module(name)
    for flags, _ in experiments:  # argparse checks each flag before it meets --help
        with pytest.raises(SystemExit) as exc:
            module.main(flags.split() + ["--help"])
        assert exc.value.code == 0, f"Try: {flags} is refused by the parser"
    capsys.readouterr()


@pytest.mark.parametrize("name", ALL)
def test_every_experiment_is_run_by_a_test(name):
    """The script's test file takes its Try: lines from the docstring (try_lines), so an
    experiment added to the docstring is run by that test, and one with no check fails there."""
    tests = (REPO / "tests" / f"test_{name}.py").read_text(encoding="utf-8")
    assert re.search(rf"try_lines\(\s*[\"']{name}[\"']\s*\)", tests), f"test_{name}.py never runs them"


@pytest.mark.parametrize("name", ALL)
def test_notes_named_by_short_name(name):
    """Comments and output name the notes as the README's table does ("the details notes"),
    not by file number (`000`, `004`), which no learner can map."""
    source, _ = tree_of(name)
    numbers = re.findall(r"(?<![\w.])00[0-4](?![\w.])", source)
    assert not numbers, f"the notes named by file number {len(numbers)} times"
