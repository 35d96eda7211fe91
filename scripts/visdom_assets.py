"""可视化 / Visualization: the visdom page's JavaScript from the npm registry (for visdom_demo).

`python -m visdom.server` downloads the page's libraries from unpkg, cdn.plot.ly and d3js.org at
every start and fails without internet (visdom issues #738, #865). This puts the same files, at the
exact versions visdom 0.2.4 asks for, into the installed visdom's static/ folder from `npm pack`
tarballs, under the names visdom's own `download_scripts` uses, and marks them built.

Run:    python scripts/visdom_assets.py        (or: make visdom-assets)
Expect: "visdom assets: 29 files in .../visdom/static (from 15 npm packages)"; ~10-30 s the first
        time (mathjax is a 20 MB tarball), instant when they are already in place.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

NPM_TIMEOUT = 300  # seconds for all `npm pack` downloads; npm retries slow mirrors on its own
MATHJAX = "js/mathjax/2.7.5/"  # where visdom's page loads MathJax from
MATHJAX_FILES = ["MathJax.js", "config/Safe.js", "config/TeX-AMS-MML_HTMLorMML.js",
                 "extensions/Safe.js", "jax/output/SVG/config.js", "jax/output/SVG/jax.js",
                 "jax/output/SVG/fonts/TeX/fontdata.js",
                 "jax/output/SVG/fonts/TeX/Size1/Regular/Main.js"]
GLYPHS = "glyphicons-halflings-regular"
# npm package@version -> {file inside the tarball's package/: path under static/}. The versions and
# the target names are those of visdom/server/build.py's download_scripts (the svg font keeps the
# "#fragment" in its name there, so it does here; classnames is its index.js saved as "classnames").
ASSETS = {
    "jquery@3.1.1": {"dist/jquery.min.js": "js/jquery.min.js"},
    "bootstrap@3.3.7": {
        "dist/js/bootstrap.min.js": "js/bootstrap.min.js",
        "dist/css/bootstrap.min.css": "css/bootstrap.min.css",
        **{f"dist/fonts/{GLYPHS}.{ext}": f"fonts/{GLYPHS}.{ext}"
           for ext in ["eot", "woff2", "woff", "ttf"]},
        f"dist/fonts/{GLYPHS}.svg": f"fonts/{GLYPHS}.svg#glyphicons_halflingsregular"},
    "react@16.2.0": {"umd/react.production.min.js": "js/react-react.min.js"},
    "react-dom@16.2.0": {"umd/react-dom.production.min.js": "js/react-dom.min.js"},
    "react-modal@3.1.10": {"dist/react-modal.min.js": "js/react-modal.min.js"},
    "plotly.js-dist-min@2.11.1": {"plotly.min.js": "js/plotly-plotly.min.js"},
    "sjcl@1.0.7": {"sjcl.js": "js/sjcl.js"},
    "layout-bin-packer@1.4.0": {"dist/layout-bin-packer.js": "js/layout_bin_packer.js",
                                "dist/layout-bin-packer.js.map": "js/layout-bin-packer.js.map"},
    "d3@3.5.17": {"d3.min.js": "js/d3.v3.min.js"},  # d3js.org/d3.v3.min.js is d3 3.5.17
    "d3-selection-multi@1.0.1": {"build/d3-selection-multi.js": "js/d3-selection-multi.v1.js"},
    "save-svg-as-png@1.4.17": {"lib/saveSvgAsPng.js": "js/saveSvgAsPng.js"},
    "react-resizable@1.4.6": {"css/styles.css": "css/react-resizable-styles.css"},
    "react-grid-layout@0.16.3": {"css/styles.css": "css/react-grid-layout-styles.css"},
    "classnames@2.2.5": {"index.js": "fonts/classnames"},
    "mathjax@2.7.5": {f: MATHJAX + f for f in MATHJAX_FILES},
}
# The installed visdom, found without importing it (its __init__ imports torch: ~3 s).
VISDOM_DIR = Path(importlib.util.find_spec("visdom").origin).resolve().parent
STATIC_DIR = VISDOM_DIR / "static"  # the page: index.html and its libraries
BUILT = "version.built"  # visdom skips its download when this holds its own version


def visdom_version():
    """visdom.__version__, read where visdom reads it from."""
    return (VISDOM_DIR / "VERSION").read_text().strip()


def missing_assets(static_dir):
    """The target paths (relative to static/) not yet in place; all of them if not marked built."""
    targets = [t for files in ASSETS.values() for t in files.values()]
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


def extract_assets(tarballs, static_dir):
    """Copy each wanted file out of its tarball to static/<target>; returns how many."""
    count = 0
    for package, files in ASSETS.items():
        with tarfile.open(tarballs[package]) as tar:
            for inner, target in files.items():
                data = tar.extractfile(f"package/{inner}").read()
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
    args = parser.parse_args(argv)

    missing = missing_assets(args.static_dir)
    if args.check or not missing:
        state = f"{len(missing)} files missing" if missing else "all files in place"
        print(f"visdom assets in {args.static_dir}: {state}")
        if args.check and missing:
            raise SystemExit(1)
        return {"static_dir": str(args.static_dir), "missing": missing, "fetched": 0}
    if not os.access(args.static_dir, os.W_OK):
        raise SystemExit(f"error: {args.static_dir} is not writable")
    with tempfile.TemporaryDirectory() as tmp:
        tarballs = npm_pack(list(ASSETS), Path(tmp))
        count = extract_assets(tarballs, args.static_dir)
    (args.static_dir / BUILT).write_text(visdom_version())  # last: marks the set complete
    print(f"visdom assets: {count} files in {args.static_dir} (from {len(ASSETS)} npm packages)")
    return {"static_dir": str(args.static_dir), "missing": [], "fetched": count}


if __name__ == "__main__":
    main()
