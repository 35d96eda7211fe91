"""scripts/visdom_assets.py (make visdom-assets): the files the installed visdom asks for (0.2.4
or 0.3.x), each mapped to the npm package that holds it; checked against visdom's own page and
package, offline (the npm download itself is walked in test_visdom_server.py's no-make path)."""
import importlib.metadata
import io
import re
import sys
import tarfile

import pytest

import visdom_assets
from conftest import try_lines

# What each visdom's build.py downloads and where that file lives on npm, read off by hand from
# visdom 0.2.4's and 0.3.0's download_scripts: (npm package@version, candidate files in it).
URLS = {
    "https://unpkg.com/jquery@3.1.1/dist/jquery.min.js": ("jquery@3.1.1", ["dist/jquery.min.js"]),
    "https://unpkg.com/classnames@2.2.5": ("classnames@2.2.5", [""]),  # the main file
    "https://unpkg.com/bootstrap@3.3.7/dist/fonts/glyphicons-halflings-regular.svg"
    "#glyphicons_halflingsregular": ("bootstrap@3.3.7",
                                     ["dist/fonts/glyphicons-halflings-regular.svg"]),
    "https://unpkg.com/react-grid-layout@2.2.3/css/styles.css": ("react-grid-layout@2.2.3",
                                                                 ["css/styles.css"]),
    "https://cdn.plot.ly/plotly-2.11.1.min.js": ("plotly.js-dist-min@2.11.1", ["plotly.min.js"]),
    "http://d3js.org/d3.v3.min.js": ("d3@3", ["d3.min.js", "build/d3.min.js"]),
    "https://d3js.org/d3-selection-multi.v1.js": (
        "d3-selection-multi@1", ["d3-selection-multi.js", "build/d3-selection-multi.js"]),
    "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/MathJax.js"
    "?config=TeX-AMS-MML_HTMLorMML%2CSafe.js&#038;ver=4.1": ("mathjax@2.7.5", ["MathJax.js"]),
    "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/config/Safe.js?V=2.7.5": (
        "mathjax@2.7.5", ["config/Safe.js"]),
    "https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-mml-svg.js": (
        "mathjax@3.2.2", ["es5/tex-mml-svg.js"]),
}
MJ2 = "js/mathjax/2.7.5/"
# The MathJax files each visdom's page loads (from its build.py): eight of 2.7.5, or one of 3.2.2.
MATHJAX = {
    "0.2.4": {MJ2 + f for f in ["MathJax.js", "config/Safe.js", "config/TeX-AMS-MML_HTMLorMML.js",
                                "extensions/Safe.js", "jax/output/SVG/config.js",
                                "jax/output/SVG/jax.js", "jax/output/SVG/fonts/TeX/fontdata.js",
                                "jax/output/SVG/fonts/TeX/Size1/Regular/Main.js"]},
    "0.3.0": {"js/mathjax/3.2.2/es5/tex-mml-svg.js"},
}


@pytest.mark.parametrize("url", URLS)
def test_each_url_maps_to_its_npm_package(url):
    assert visdom_assets.npm_source(url) == URLS[url]


def test_an_unknown_host_is_one_clear_line():
    with pytest.raises(SystemExit) as exc:
        visdom_assets.npm_source("https://cdn.example.org/lib-1.0.js")
    assert str(exc.value).startswith("error: visdom ") and "cdn.example.org/lib-1.0.js" in str(
        exc.value)


def test_every_file_the_page_loads_is_shipped_or_fetched():
    """The installed visdom's index.html, read independently of download_scripts: each library
    it loads is either in visdom's own package (its RECORD) or one that we fetch."""
    html = (visdom_assets.STATIC_DIR / "index.html").read_text(encoding="utf-8")
    loaded = {f for f in re.findall(r"""static_url\(\s*["']([^"'?#]+)""", html)
              if not f.startswith("../")}  # ../user/style.css: the user's own, optional
    shipped = {str(p).removeprefix("visdom/static/") for p in importlib.metadata.files("visdom")
               if str(p).startswith("visdom/static/")}
    fetched = set(visdom_assets.wanted_files())
    assert loaded <= shipped | fetched, sorted(loaded - shipped - fetched)
    assert len(loaded & fetched) >= 10  # jquery, bootstrap, react, plotly, d3, MathJax, ...
    assert not shipped & fetched  # a file visdom ships is never overwritten


def test_mathjax_is_the_one_this_visdom_asks_for():
    version = importlib.metadata.version("visdom")
    if version not in MATHJAX:
        pytest.skip(f"visdom {version}: no hand-read MathJax list (the page test covers it)")
    mathjax = {t for t in visdom_assets.wanted_files() if t.startswith("js/mathjax/")}
    assert mathjax == MATHJAX[version]


def test_every_wanted_file_has_an_npm_source_at_the_urls_version():
    wanted = visdom_assets.wanted_files()
    assert len(wanted) >= 20 and all(url.startswith("http") for url in wanted.values())
    for url in wanted.values():
        package, files = visdom_assets.npm_source(url)
        version = package.rsplit("@", 1)[1]
        assert version in url and files, (package, url)  # e.g. 2.7.5, or the v3 of d3


def make_tarball(path, files):
    """An npm-style tarball: every file under package/."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_takes_the_first_candidate_and_the_main_file(tmp_path):
    a = make_tarball(tmp_path / "a.tgz", {"package.json": b'{"main": "./lib/index"}',
                                          "lib/index.js": b"main", "build/x.js": b"built"})
    b = make_tarball(tmp_path / "b.tgz", {"package.json": b"{}", "index.js": b"default main"})
    sources = {"a@1": {"fonts/classnames": [""], "js/x.v1.js": ["x.js", "build/x.js"]},
               "b@2": {"js/b.js": [""]}}
    static = tmp_path / "static"
    assert visdom_assets.extract_assets(sources, {"a@1": a, "b@2": b}, static) == 3
    assert (static / "fonts/classnames").read_bytes() == b"main"  # "./lib/index" -> lib/index.js
    assert (static / "js/x.v1.js").read_bytes() == b"built"
    assert (static / "js/b.js").read_bytes() == b"default main"  # no "main": index.js
    written = sorted(p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file())
    assert written == ["fonts/classnames", "js/b.js", "js/x.v1.js"]  # those three and nothing else
    with tarfile.open(a) as tar, pytest.raises(SystemExit) as exc:
        visdom_assets.package_member(tar, ["nope.js"])
    assert str(exc.value) == "error: none of ['nope.js'] in a.tgz"


def test_check_reports_what_is_missing(tmp_path, capsys):
    wanted = len(visdom_assets.wanted_files())
    with pytest.raises(SystemExit) as exc:
        visdom_assets.main(["--check", "--static-dir", str(tmp_path)])
    assert exc.value.code == 1
    assert f"{wanted} files missing" in capsys.readouterr().out
    (tmp_path / visdom_assets.BUILT).write_text(importlib.metadata.version("visdom"))
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "jquery.min.js").write_text("x")
    assert len(visdom_assets.missing_assets(tmp_path)) == wanted - 1


def test_main_in_a_notebook_kernel_ignores_the_kernels_argv(monkeypatch, tmp_path, capsys):
    """Pasted into a Jupyter cell, main() runs its defaults instead of parsing `-f kernel.json`
    (here with --static-dir's default pointed at an empty folder: a check, no download)."""
    monkeypatch.setattr(sys, "argv", ["/venv/ipykernel_launcher.py", "-f", "/run/kernel-1.json"])
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel", object()))
    monkeypatch.setattr(visdom_assets, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(visdom_assets, "missing_assets", lambda static_dir: [])
    assert visdom_assets.main()["static_dir"] == str(tmp_path)
    assert "all files in place" in capsys.readouterr().out


def test_no_npm_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no npm anywhere
    with pytest.raises(SystemExit) as exc:
        visdom_assets.npm_pack(["jquery@3.6.4"], tmp_path)
    assert str(exc.value).startswith("error: npm not found")


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in npm is a POSIX shell script")
def test_npm_is_called_by_the_path_which_finds(tmp_path, monkeypatch):
    """npm is run by the full path shutil.which returns (npm.cmd on Windows), not by name:
    a stand-in npm on PATH records how it was called and fails as npm 10+ does on a 404 (a
    warning first; with --silent instead of --loglevel=error it would print nothing)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "called.txt"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    fake.write_text(f'#!/bin/sh\necho "$0 $*" > {record}\necho "npm warn config x" >&2\n'
                    f'echo "npm error code E404" >&2\necho "npm error 404 Not Found" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SystemExit) as exc:
        visdom_assets.npm_pack(["jquery@3.6.4"], tmp_path)
    assert str(exc.value) == "error: npm pack failed: npm error code E404"
    assert record.read_text().split()[:3] == [str(fake), "pack", "--loglevel=error"]


def test_try_line_check_only_looks(capsys):
    """--check on the installed visdom's static/ (read, never written): the files it names as
    wanted are either all there, or the count of those not on disk is said and the exit is 1."""
    for flags, _ in try_lines("visdom_assets"):
        assert flags == "--check"  # an experiment added to the docstring needs its own check here
        before = sorted(p.as_posix() for p in visdom_assets.STATIC_DIR.rglob("*"))
        absent = [t for t in visdom_assets.wanted_files()
                  if not (visdom_assets.STATIC_DIR / t).is_file()]
        built = visdom_assets.STATIC_DIR / visdom_assets.BUILT
        if built.is_file() and not absent:
            assert visdom_assets.main(flags.split())["missing"] == []
            assert "all files in place" in capsys.readouterr().out
        else:
            with pytest.raises(SystemExit) as exc:
                visdom_assets.main(flags.split())
            wanted = len(visdom_assets.wanted_files()) if not built.is_file() else len(absent)
            assert exc.value.code == 1 and f"{wanted} files missing" in capsys.readouterr().out
        assert sorted(p.as_posix() for p in visdom_assets.STATIC_DIR.rglob("*")) == before
