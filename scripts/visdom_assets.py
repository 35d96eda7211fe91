"""可视化 / Visualization: the visdom page's JavaScript from the npm registry (for visdom_demo).

`python -m visdom.server` downloads the page's libraries from unpkg, cdnjs, cdn.plot.ly and
d3js.org at every start and fails without internet (visdom issues #738, #865). This asks the
installed visdom which files it wants (its own `download_scripts`, run with the network replaced
by an echo, so 0.2.4's list and 0.3's differ as they should: MathJax 2.7.5 or 3.2.2), maps each
URL to an npm package@version, and puts the files from `npm pack` tarballs into visdom's static/
folder under visdom's own names; then marks them built, as visdom's download would.

Run:    python scripts/visdom_assets.py        (or: make visdom-assets; --check: only report)
Expect: "visdom assets: 29 files in .../visdom/static (from 15 npm packages, for visdom 0.2.4)"
        (visdom 0.3.0: 22 files); ~10-30 s the first time (mathjax is a 20 MB tarball), instant
        when they are already in place.
"""
import argparse
import contextlib
import functools
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
import types
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

NPM_TIMEOUT = 300  # seconds for all `npm pack` downloads; npm retries slow mirrors on its own
# Where each URL visdom downloads from lives on npm: (pattern over host/path, without ?query or
# #fragment; npm package@version; the file inside the tarball, first one found). unpkg serves npm
# tarballs as they are (a bare name@version: the package's main file, ""); cdnjs's mathjax is
# npm's mathjax; cdn.plot.ly's plotly-X.min.js is plotly.js-dist-min's; d3js.org/NAME.vN.js is
# the newest NAME N.x (d3.v3.min.js is d3 3.5.17).
NPM_RULES = [
    (r"unpkg\.com/((?:@[^/]+/)?[^/@]+)@([^/]+)/?", r"\1@\2", [""]),
    (r"unpkg\.com/((?:@[^/]+/)?[^/@]+)@([^/]+)/(.+)", r"\1@\2", [r"\3"]),
    (r"cdnjs\.cloudflare\.com/ajax/libs/(mathjax)/([^/]+)/(.+)", r"\1@\2", [r"\3"]),
    (r"cdn\.plot\.ly/plotly-([\d.]+)\.min\.js", r"plotly.js-dist-min@\1", ["plotly.min.js"]),
    (r"d3js\.org/([\w-]+)\.v(\d+)((?:\.min)?\.js)", r"\1@\2", [r"\1\3", r"build/\1\3"]),
]
# The installed visdom, found without importing it (its __init__ imports torch: seconds).
VISDOM_DIR = Path(importlib.util.find_spec("visdom").origin).resolve().parent
STATIC_DIR = VISDOM_DIR / "static"  # the page: index.html and its libraries
BUILT = "version.built"  # visdom skips its download when this holds its own version


def visdom_version():
    """visdom.__version__, read where visdom reads it from."""
    return (VISDOM_DIR / "VERSION").read_text().strip()


@functools.cache
def wanted_files():
    """{path under static/: URL} of every file the installed visdom's download_scripts fetches.
    It runs for real into a temporary folder, but every request is answered with its own URL:
    each file it writes then says where it came from, and nothing is downloaded."""
    import requests
    from visdom.server import build  # imports visdom (and torch when present): a few seconds

    def echo(request):  # urllib: opener.open(Request) -> a response whose body is its URL
        return io.BytesIO(request.full_url.encode())

    def echo_get(url, *args, **kwargs):  # requests.get(url), which it uses for MathJax
        return types.SimpleNamespace(content=url.encode())

    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(build.request, "build_opener", return_value=mock.Mock(open=echo)), \
            mock.patch.object(build.request, "install_opener"), \
            mock.patch.object(requests, "get", echo_get), \
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
    raise SystemExit(f"error: visdom {visdom_version()} asks for {url}, which no rule in "
                     f"NPM_RULES maps to an npm package")


def npm_sources(wanted):
    """{package@version: {target path: candidate files}} for wanted {target path: URL}."""
    sources = {}
    for target, url in wanted.items():
        package, files = npm_source(url)
        sources.setdefault(package, {})[target] = files
    return sources


def missing_assets(static_dir):
    """The target paths (relative to static/) not yet in place; all of them if not marked built."""
    targets = list(wanted_files())
    built = static_dir / BUILT
    if not built.exists() or built.read_text().strip() != visdom_version():
        return targets
    return [t for t in targets if not (static_dir / t).is_file()]


def npm_pack(packages, dest):
    """`npm pack` each package@version into dest; returns {package@version: tarball path}."""
    npm = shutil.which("npm")  # the full path: npm.cmd on Windows, which subprocess needs
    if npm is None:
        raise SystemExit("error: npm not found: install Node.js (npm) to fetch the visdom page's "
                         "libraries from the npm registry")
    try:
        proc = subprocess.run([npm, "pack", "--silent", "--pack-destination", str(dest),
                               *packages], capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"error: npm pack did not finish within {NPM_TIMEOUT} s")
    names = proc.stdout.split()
    if proc.returncode != 0 or len(names) != len(packages):
        errors = [line for line in proc.stderr.splitlines() if "ERR" in line] or ["no output"]
        raise SystemExit(f"error: npm pack failed: {errors[0].strip()}")
    return dict(zip(packages, (dest / name for name in names)))


def package_member(tar, files):
    """The tarball member holding the first of files that exists; "" is the package's main file
    (package.json's "main", index.js when none), which unpkg serves for a bare name@version."""
    names = tar.getnames()
    root = names[0].split("/")[0]  # "package" in almost every npm tarball
    for name in files:
        if name == "":
            main = json.load(tar.extractfile(f"{root}/package.json")).get("main", "index.js")
            name = main.removeprefix("./")
            name += "" if f"{root}/{name}" in names else ".js"  # "main": "index" means index.js
        if f"{root}/{name}" in names:
            return f"{root}/{name}"
    raise SystemExit(f"error: none of {files} in {Path(tar.name).name}")


def extract_assets(sources, tarballs, static_dir):
    """Copy each wanted file out of its tarball to static/<target>; returns how many."""
    count = 0
    for package, files in sources.items():
        with tarfile.open(tarballs[package]) as tar:
            for target, candidates in files.items():
                data = tar.extractfile(package_member(tar, candidates)).read()
                path = static_dir / target
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".part")  # never a half-written asset
                tmp.write_bytes(data)
                os.replace(tmp, path)
                count += 1
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__.splitlines()[0])
    parser.add_argument("--static-dir", type=Path, default=STATIC_DIR,
                        help="visdom's static folder")
    parser.add_argument("--check", action="store_true",
                        help="only report what is missing; exit 1 if anything is")
    args = parse_flags(parser, argv)

    missing = missing_assets(args.static_dir)
    if args.check or not missing:
        state = f"{len(missing)} files missing" if missing else "all files in place"
        print(f"visdom assets in {args.static_dir}: {state} (visdom {visdom_version()})")
        if args.check and missing:
            raise SystemExit(1)
        return {"static_dir": str(args.static_dir), "missing": missing, "fetched": 0}
    if not os.access(args.static_dir, os.W_OK):
        raise SystemExit(f"error: {args.static_dir} is not writable")
    sources = npm_sources({target: wanted_files()[target] for target in missing})
    with tempfile.TemporaryDirectory() as tmp:
        tarballs = npm_pack(list(sources), Path(tmp))
        count = extract_assets(sources, tarballs, args.static_dir)
    (args.static_dir / BUILT).write_text(visdom_version())  # last: marks the set complete
    print(f"visdom assets: {count} files in {args.static_dir} (from {len(sources)} npm "
          f"packages, for visdom {visdom_version()})")
    return {"static_dir": str(args.static_dir), "missing": [], "fetched": count}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv), every default shown in --help; main() with no argv in a notebook
    kernel runs the defaults (the kernel's own argv is not the learner's)."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
