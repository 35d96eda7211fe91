"""scripts/visdom_assets.py (make visdom-assets): the files it puts in place are exactly those
visdom's own download_scripts would download (checked offline: the downloads are faked)."""
import sys
from unittest import mock

import pytest
from visdom.server import build

import visdom_assets


class FakeResponse:
    content = b"x"

    def read(self):
        return b"x"


def test_same_file_names_as_visdoms_download_scripts(tmp_path):
    opener = mock.Mock(open=lambda request: FakeResponse())
    with mock.patch.object(build.request, "build_opener", return_value=opener), \
            mock.patch.object(build.request, "install_opener"), \
            mock.patch("requests.get", return_value=FakeResponse()):
        build.download_scripts(install_dir=str(tmp_path))
    static = tmp_path / "static"
    visdoms = {str(p.relative_to(static)) for p in static.rglob("*") if p.is_file()}
    ours = {target for files in visdom_assets.ASSETS.values() for target in files.values()}
    assert ours == visdoms - {visdom_assets.BUILT}
    assert (static / visdom_assets.BUILT).read_text() == build.visdom.__version__


def test_check_reports_what_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        visdom_assets.main(["--check", "--static-dir", str(tmp_path)])
    assert exc.value.code == 1
    assert "29 files missing" in capsys.readouterr().out
    (tmp_path / visdom_assets.BUILT).write_text(build.visdom.__version__)
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "jquery.min.js").write_text("x")
    assert len(visdom_assets.missing_assets(tmp_path)) == 28


def test_no_npm_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no npm anywhere
    with pytest.raises(SystemExit) as exc:
        visdom_assets.npm_pack(["jquery@3.6.4"], tmp_path)
    assert str(exc.value).startswith("error: npm not found")


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in npm is a POSIX shell script")
def test_npm_is_called_by_the_path_which_finds(tmp_path, monkeypatch):
    """npm is run by the full path shutil.which returns (npm.cmd on Windows), not by name:
    a stand-in npm on PATH records how it was called and fails like a registry error."""
    bin_dir, record = tmp_path / "bin", tmp_path / "called.txt"
    bin_dir.mkdir()
    fake = bin_dir / "npm"
    fake.write_text(f'#!/bin/sh\necho "$0 $*" > {record}\necho "npm ERR! 404" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(SystemExit) as exc:
        visdom_assets.npm_pack(["jquery@3.6.4"], tmp_path)
    assert str(exc.value) == "error: npm pack failed: npm ERR! 404"
    assert record.read_text().split()[:3] == [str(fake), "pack", "--silent"]
