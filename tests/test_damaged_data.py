"""MNIST missing or damaged (issue 27), always on copies in temporary folders, never data/: every
script that reads MNIST (the Makefile's MNIST list) answers with one line naming the file and the
command that repairs it, exit status 1, before any training; get_mnist.py, which checks the md5
instead of the scripts' CRC-32, finds the same file corrupt, and that command repairs it. A script
copied out of the repository alone looks for data/ beside itself and names only what works there."""
import importlib
import re
import runpy
import shutil
import sys

import pytest

import get_mnist
from conftest import MNIST_RAW, REPO, SCRIPTS


def mnist_scripts():
    """The Makefile's MNIST list: the sections that read MNIST."""
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^MNIST := ((?:.*\\\n)*.*)$", make, re.M).group(1)
    return listed.replace("\\\n", " ").split()


def splits_read(name):
    """The lesson scripts' load_lesson_mnist reads the training files only; the rest read both."""
    source = (SCRIPTS / f"{name}.py").read_text(encoding="utf-8")
    return ["train"] if "load_lesson_mnist(" in source else ["train", "t10k"]


# The four cases, each on the file it was found on (a script that reads only the training
# files gets it on the training file of the same kind), and a file gone.
CASES = {"images cut to 1 MB": ("train", "images-idx3", lambda b: b[:1 << 20]),
         "4 bad header bytes": ("t10k", "images-idx3", lambda b: b"\xde\xad\xbe\xef" + b[4:]),
         "labels overwritten with 200": ("train", "labels-idx1",
                                         lambda b: b[:8] + bytes([200]) * (len(b) - 8)),
         "empty labels": ("t10k", "labels-idx1", lambda b: b""),
         "labels deleted": ("train", "labels-idx1", None)}


def damaged_copy(folder, split, kind, damage):
    """folder/MNIST/raw: the official files as read-only links, one of them replaced by a damaged
    copy (or left out); returns the damaged file's path."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for source in MNIST_RAW.iterdir():
        if source.name != f"{split}-{kind}-ubyte":
            (raw / source.name).symlink_to(source)  # scripts only read: data/ is never written
        elif damage is not None:
            (raw / source.name).write_bytes(damage(source.read_bytes()))
    return raw / f"{split}-{kind}-ubyte"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, mnist_dir):
    """{(case, split): (data folder, damaged file)}, each folder made once for every script."""
    made = {}
    for case, (split, kind, damage) in CASES.items():
        for where in {split, "train"}:
            folder = tmp_path_factory.mktemp("damaged")
            made[case, where] = folder, damaged_copy(folder, where, kind, damage)
    return made


def expected_line(path, data):
    return (f"error: MNIST is not in {path.parent}: {path.name} is missing or damaged; `make data` "
            f"or the collection's `python get_mnist.py --data-dir {data}`")


def load(module, data, split):
    """What the script's main() calls to read MNIST (the trainers' or the lesson's loader)."""
    if hasattr(module, "load_lesson_mnist"):
        return module.load_lesson_mnist(data)
    return module.load_mnist(data, train=split == "train")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", mnist_scripts())
def test_a_damaged_file_is_one_line(name, case, damaged):
    """Each case through the script's own loader: one line naming the file and the command."""
    split = CASES[case][0] if CASES[case][0] in splits_read(name) else "train"
    data, path = damaged[case, split]
    with pytest.raises(SystemExit) as exc:
        load(importlib.import_module(name), data, split)
    assert exc.value.code == expected_line(path, data)  # a string: printed, exit status 1
    # get_mnist.py's md5 check (another hash, the official digests) finds the same file
    state = "corrupt (md5 differs), to be replaced" if path.exists() else "not downloaded yet"
    assert get_mnist.check(path.parent) == {path.name: state}


# Where each script writes before it loads (tb_demo makes its run folder first): a temporary one.
OUTPUT_FLAGS = {"tb_demo": ["--logdir"]}
# What a script needs before it loads, stood in for: visdom_demo's server (its own tests run one).
STAND_INS = {"visdom_demo": "connect"}


@pytest.mark.parametrize("name", mnist_scripts())
def test_main_stops_before_any_training(name, damaged, tmp_path, capsys, monkeypatch):
    """main() as the command line runs it, on the case found last in the issue (trained, then
    an IndexError): a damaged file of the last split the script reads stops it before training."""
    split = splits_read(name)[-1]
    data, path = damaged["labels overwritten with 200" if split == "train" else "empty labels",
                         split]
    module = importlib.import_module(name)
    if name in STAND_INS:
        monkeypatch.setattr(module, STAND_INS[name], lambda *args, **kwargs: None)
    with pytest.raises(SystemExit) as exc:
        module.main(["--data-dir", str(data)] + [
            arg for flag in OUTPUT_FLAGS.get(name, []) for arg in (flag, str(tmp_path))])
    assert exc.value.code == expected_line(path, data)
    out = capsys.readouterr().out
    assert "Train Epoch" not in out and "Test set" not in out, out[-2000:]


def test_the_named_command_repairs_it(tmp_path, mnist_dir, monkeypatch, capsys):
    """`python get_mnist.py --data-dir DIR`, with the mirrors stood in for by the official bytes:
    the damaged file is replaced and the script loads the copy."""
    import mnist_mlp
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(MNIST_RAW, raw)  # real copies: get_mnist writes every file it installs
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"")
    official = {name: (MNIST_RAW / name).read_bytes() for name in get_mnist.FILES}
    monkeypatch.setattr(get_mnist, "from_torchvision", lambda: dict(official))
    with pytest.raises(SystemExit) as exc:
        mnist_mlp.load_mnist(tmp_path, train=False)
    assert f"`python get_mnist.py --data-dir {tmp_path}`" in exc.value.code
    assert get_mnist.main(["--data-dir", str(tmp_path)]) == {"source": "torchvision"}
    assert "t10k-labels-idx1-ubyte" in capsys.readouterr().out
    images, labels = mnist_mlp.load_mnist(tmp_path, train=False)
    assert images.shape == (10000, 28, 28) and labels.bincount().tolist()[:2] == [980, 1135]


@pytest.mark.parametrize("name", mnist_scripts())
def test_copied_out_alone_it_looks_beside_itself(name, tmp_path):
    """A script copied into a folder of its own: data/ beside it (not ../data); in the
    repository: data/ at its root."""
    shutil.copy(SCRIPTS / f"{name}.py", tmp_path / f"{name}.py")
    copied = runpy.run_path(str(tmp_path / f"{name}.py"), run_name="copied")  # no main() run
    assert copied["DATA_DIR"] == tmp_path / "data"
    assert importlib.import_module(name).DATA_DIR == REPO / "data"


def test_pasted_into_a_notebook_it_looks_in_the_working_folder(tmp_path, monkeypatch):
    """No __file__ (a notebook cell): data/ in the working folder; run in scripts/: the repo's."""
    source = (SCRIPTS / "mnist_mlp.py").read_text(encoding="utf-8")
    for folder, expected in [(tmp_path, tmp_path / "data"), (SCRIPTS, REPO / "data")]:
        monkeypatch.chdir(folder)
        cell = {"__name__": "__main__x"}
        exec(compile(source, "<cell>", "exec"), cell)
        assert cell["DATA_DIR"] == expected


def test_copied_out_alone_it_names_only_what_works_there(tmp_path, monkeypatch):
    """Run there with no data (`python mnist_mlp.py` in its folder; in this process, torch being
    imported already): one line naming data/ beside it and the collection's get_mnist.py, not
    `make data` (no Makefile there), as the exit message."""
    shutil.copy(SCRIPTS / "mnist_mlp.py", tmp_path / "mnist_mlp.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["mnist_mlp.py", "--epochs", "1"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path("mnist_mlp.py", run_name="__main__")
    data = tmp_path / "data"
    assert exc.value.code == (
        f"error: MNIST is not in {data / 'MNIST' / 'raw'}: train-images-idx3-ubyte is missing or "
        f"damaged; the collection's `python get_mnist.py --data-dir {data}`")
    assert not data.exists()  # nothing made there: the learner's folder as it was
