"""The READMEs are the map of the collection: the English and the Chinese edition list the same
scripts and make targets, give the same commands, paths, flags and figures section by section, and
name only targets that exist."""
import re
from collections import Counter

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


def sections(readme):
    """The `## ` sections of a README, in order (the title and its lines before the first left out)."""
    return re.split(r"^## ", readme, flags=re.M)[1:]


def facts(section):
    """What a translation must keep of a section: the commands of its code blocks (comments left
    out), its code spans (commands, paths, flags; a <placeholder>'s words may be translated), the
    figures in its prose, and the links that leave the page."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", section, flags=re.S)
    commands = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    spans = [re.sub(r"<[^<>]*>", "<>", " ".join(s.split())) for s in re.findall(r"`([^`]+)`", prose)]
    words = re.sub(r"`[^`]+`", "", prose)
    figures = [n.replace(" ", "") for n in re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*(?:\s?%)?", words)]
    links = [u for u in re.findall(r"\]\(([^)]+)\)", words) if not u.startswith("#")
             and not u.startswith("README")]
    return {"commands": commands, "code spans": Counter(spans), "figures": Counter(figures),
            "links": Counter(links)}


def test_both_editions_have_the_same_sections():
    en, zh = sections(text("en")), sections(text("zh"))
    assert len(en) == len(zh), ([s.splitlines()[0] for s in en], [s.splitlines()[0] for s in zh])


@pytest.mark.parametrize("index", range(len(sections(text("en")))))
def test_each_section_keeps_every_command_path_flag_and_figure(index):
    """The Chinese section says what the English one says: the same commands, code spans, figures
    and links (a sentence dropped or a figure changed in one edition fails here)."""
    en, zh = sections(text("en"))[index], sections(text("zh"))[index]
    fact_en, fact_zh = facts(en), facts(zh)
    for kind in fact_en:
        a, b = fact_en[kind], fact_zh[kind]
        if kind != "commands":
            a, b = dict(a - b), dict(b - a)  # what only one edition has
            assert not a and not b, f"{en.splitlines()[0]}: {kind} only in en {a}, only in zh {b}"
        else:
            assert a == b, f"{en.splitlines()[0]}: the code blocks differ"


def test_the_section_check_sees_a_changed_figure_and_a_dropped_span():
    en = sections(text("en"))[0]
    assert facts(en + "\nabout 3.14 s\n")["figures"] != facts(en)["figures"]
    span = re.search(r"`[^`]+`", en).group(0)
    assert facts(en.replace(span, "", 1))["code spans"] != facts(en)["code spans"]
