"""The READMEs are the map of the collection: the English and the Chinese edition list the same
scripts and make targets, give the same quick-start commands, and name only targets that exist."""
import re

import pytest

from conftest import REPO, SCRIPTS

EDITIONS = {"en": REPO / "README.md", "zh": REPO / "README.zh-CN.md"}


def text(edition):
    return EDITIONS[edition].read_text(encoding="utf-8")


def index_rows(readme):
    """{script: make targets} of the index table: the rows that name a `scripts/x.py`."""
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (m := re.fullmatch(r"`scripts/(\w+)\.py`", cells[1])):
            rows[m.group(1)] = tuple(re.findall(r"`make ([\w-]+)`", cells[2]))
    return rows


def first_code_block(readme):
    """The quick start: the first fenced block, its commands without their comments."""
    block = re.search(r"```(?:bash)?\n(.*?)```", readme, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def make_targets():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z_][\w-]*):", makefile, re.M))
    sections = re.search(r"^SCRIPTS :=(.*?)\n\n", makefile, re.M | re.S).group(1)
    return targets | {s for s in sections.split() if s != "\\"}


@pytest.mark.parametrize("edition", EDITIONS)
def test_index_lists_every_script_once(edition):
    rows = index_rows(text(edition))
    assert set(rows) == {p.stem for p in SCRIPTS.glob("*.py")}
    assert all(rows.values()), [s for s, targets in rows.items() if not targets]


def test_both_indexes_agree():
    en, zh = index_rows(text("en")), index_rows(text("zh"))
    assert en == zh, {s: (en.get(s), zh.get(s)) for s in set(en) | set(zh) if en.get(s) != zh.get(s)}


def test_same_quick_start_commands():
    assert first_code_block(text("en")) == first_code_block(text("zh"))
    assert first_code_block(text("en"))[:2] == ["make all", "make test"]


def test_each_links_the_other_at_the_top():
    assert "README.zh-CN.md" in "\n".join(text("en").splitlines()[:25])
    assert "README.md" in "\n".join(text("zh").splitlines()[:5])


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_make_target_named_exists(edition):
    named = set(re.findall(r"`make ([a-z][\w-]*)", text(edition)))
    assert named <= make_targets(), sorted(named - make_targets())


@pytest.mark.parametrize("edition", EDITIONS)
def test_no_test_count_to_drift(edition):
    """A count of tests goes stale with the next test added: the READMEs give none."""
    assert not re.search(r"\b\d{3} (tests|passed|个测试)", text(edition))


def test_the_sync_test_catches_a_dropped_row():
    """Drop one script's row from the Chinese index: the comparison sees it."""
    zh = text("zh")
    line = next(l for l in zh.splitlines() if "`scripts/entropy.py`" in l)
    assert "entropy" not in index_rows(zh.replace(line + "\n", ""))
    assert index_rows(zh.replace(line + "\n", "")) != index_rows(text("en"))
