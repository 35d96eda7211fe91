"""scripts/visdom_assets.py (make visdom-assets): the files it puts in place are exactly those
visdom's own download_scripts would download (checked offline: the downloads are faked)."""
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
