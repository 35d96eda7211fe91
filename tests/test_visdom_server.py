"""scripts/visdom_server.py (make visdom-server / visdom-stop): a real server, started, found
again, stopped by its pid; and the README's path without make (assets script, then start), the
page in a real headless Chromium."""
import importlib.metadata
import json
import re
import shutil
import socket
import subprocess
import sys
import urllib.request

import psutil
import pytest

import visdom_server
from conftest import run_script, try_lines

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_start_is_idempotent_and_stop_ends_it(tmp_path, capsys):
    argv = ["--port", str(free_port()), "--state-dir", str(tmp_path)]
    started = visdom_server.main(["start", *argv])
    assert started["running"] and (tmp_path / "server.pid").read_text().split() == [
        str(started["pid"])]
    # It is visdom answering: the API takes a window and gives it back.
    port = argv[1]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/events", method="POST",
        data=json.dumps({"eid": "main", "win": "t", "data": [{"content": "hi", "type": "text"}],
                         "layout": {}, "opts": {}}).encode())
    assert urllib.request.urlopen(request, timeout=5).read() == b"t"
    again = visdom_server.main(["start", *argv])  # a second start is a no-op
    assert again["pid"] == started["pid"]
    assert "already answers" in capsys.readouterr().out
    assert (tmp_path / "env").is_dir()  # the env path is under the state dir by default

    stopped = visdom_server.main(["stop", *argv])
    assert stopped["pid"] == started["pid"] and not stopped["running"]
    assert not psutil.pid_exists(started["pid"])
    assert not (tmp_path / "server.pid").exists()
    assert not visdom_server.main(["status", *argv])["running"]
    assert visdom_server.main(["stop", *argv])["pid"] is None  # nothing left to stop


def test_stale_pid_file_is_ignored(tmp_path):
    (tmp_path / "server.pid").write_text("999999999\n")  # no such process
    assert visdom_server.read_pid(tmp_path / "server.pid") is None
    assert not (tmp_path / "server.pid").exists()


def sleeper(*extra):
    """A real child process that would run for a minute: python -c 'sleep' (any OS). Returned
    once it says it runs: right after Popen the child may not have exec'd yet, and its command
    line reads empty (16 of 40 immediate reads here)."""
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; print('ready', flush=True); time.sleep(60)", *extra],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def test_stop_pid_ends_a_real_process_and_reaps_it():
    child = sleeper()
    assert psutil.pid_exists(child.pid)
    visdom_server.stop_pid(child.pid)
    assert not psutil.pid_exists(child.pid)  # gone and reaped: no zombie left in the table
    visdom_server.stop_pid(child.pid)  # stopping a gone pid is a no-op, not an error


def test_stop_pid_kills_what_ignores_terminate():
    # A child that ignores SIGTERM (on Windows terminate() already is TerminateProcess).
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"  # the handler is in place: an event
    visdom_server.stop_pid(child.pid, grace=0.5)  # terminate() is ignored: kill() must follow
    assert not psutil.pid_exists(child.pid)  # reaped: no zombie left


def test_pid_file_of_another_program_is_not_ours(tmp_path):
    """A live pid whose command line is not visdom_server's (a reused pid): ignored, file gone."""
    other, ours = sleeper(), sleeper("visdom_server.py")  # argv shows up in the cmdline
    try:
        (tmp_path / "server.pid").write_text(f"{other.pid}\n")
        assert visdom_server.read_pid(tmp_path / "server.pid") is None
        assert not (tmp_path / "server.pid").exists()
        (tmp_path / "server.pid").write_text(f"{ours.pid}\n")
        assert visdom_server.read_pid(tmp_path / "server.pid") == ours.pid
    finally:
        for child in (other, ours):
            visdom_server.stop_pid(child.pid)


def post_window(port, win, data, layout=None):
    """One window through visdom's own HTTP API (what the Visdom client sends); returns its id."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/events", method="POST",
        data=json.dumps({"eid": "main", "win": win, "data": data, "layout": layout or {},
                         "opts": {}}).encode())
    return urllib.request.urlopen(request, timeout=5).read().decode()


def test_missing_page_libraries_are_one_line_naming_both_commands(tmp_path, monkeypatch, capsys):
    """A visdom whose static/ has its index.html but none of the libraries it loads."""
    static = tmp_path / "static"
    static.mkdir()
    shutil.copy(visdom_server.visdom_static_dir() / "index.html", static)
    monkeypatch.setattr(visdom_server, "visdom_static_dir", lambda: static)
    argv = ["--port", str(free_port()), "--state-dir", str(tmp_path / "state")]
    try:
        result = visdom_server.main(["start", *argv])
    finally:
        visdom_server.main(["stop", *argv])
    assert result["running"] and "js/plotly-plotly.min.js" in result["missing_page_files"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: the visdom page's libraries are missing")
    assert err[0].endswith("fetch them with: python scripts/visdom_assets.py "
                           "(or: make visdom-assets)")


def test_no_action_in_a_notebook_kernel_is_status(tmp_path, monkeypatch, capsys):
    """Pasted whole into a Jupyter cell, main() does not parse the kernel's `-f kernel.json`:
    with no action it reports the status, and starts nothing."""
    monkeypatch.setattr(sys, "argv", ["/venv/ipykernel_launcher.py", "-f", "/run/kernel-1.json"])
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel", object()))
    monkeypatch.setattr(visdom_server, "STATE_DIR", tmp_path)
    monkeypatch.setattr(visdom_server, "PORT", free_port())
    result = visdom_server.main()
    assert not result["running"] and result["pid"] is None
    assert capsys.readouterr().out.startswith(f"visdom server at {result['url']}: not running")
    assert not list(tmp_path.iterdir())  # no pid file, no log: nothing was started


@pytest.fixture(scope="module")
def no_make_server(tmp_path_factory):
    """The README's visdom steps without make, as plain commands in a learner's terminal:
    `python scripts/visdom_assets.py`, then `python scripts/visdom_server.py start`."""
    assets = run_script("visdom_assets", timeout=600)
    if assets.returncode != 0 and "error: npm" in assets.stderr:
        pytest.skip(f"the page's libraries are not in place and npm cannot fetch them "
                    f"({assets.stderr.strip()}): python scripts/visdom_assets.py once online")
    assert assets.returncode == 0, assets.stderr
    state, port = tmp_path_factory.mktemp("no_make"), free_port()
    start = run_script("visdom_server", "start", "--port", port, "--state-dir", state,
                       timeout=120)
    assert start.returncode == 0, start.stderr
    yield port, assets, start
    stop = run_script("visdom_server", "stop", "--port", port, "--state-dir", state)
    assert stop.returncode == 0 and stop.stdout.startswith("stopped the visdom server")


def test_no_make_path_puts_the_page_libraries_in_place(no_make_server):
    port, assets, start = no_make_server
    assert assets.stdout.startswith("visdom assets")  # fetched now, or already in place
    assert start.stdout.startswith(f"visdom server running at http://localhost:{port}")
    assert "warning" not in start.stderr  # no "libraries are missing" line
    # Every file the served page loads from /static/ answers, read off the page itself.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        page = response.read().decode()
    loaded = [u for u in re.findall(r"""(?:src|href)=["']?(/static/[^"'\s>?]+)""", page)
              if "/user/" not in u]  # ../user/style.css: the user's own, optional
    assert len(loaded) >= 12, page[:2000]
    for path in loaded:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            assert response.status == 200 and len(response.read()) > 0, path


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium (.ci/run does)")
def test_no_make_path_page_renders_in_chromium(no_make_server, tmp_path):
    """The page as a browser shows it, offline: plotly draws the line, MathJax (2.7.5 for visdom
    0.2.4, 3.2.2 for 0.3) runs, the text window shows."""
    port = no_make_server[0]
    post_window(port, "line", [{"x": [1, 2, 3], "y": [3, 1, 2], "type": "scatter",
                                "mode": "lines", "name": "a line"}], {"title": "no make"})
    post_window(port, "text", [{"content": "offline page $$x^2$$", "type": "text"}])
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path}", "--virtual-time-budget=8000",
         "--dump-dom", f"http://127.0.0.1:{port}/env/main"],
        capture_output=True, text=True, timeout=90)
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'class="main-svg"' in dom and "no make" in dom, dom[-2000:]  # plotly drew it
    assert "offline page" in dom
    if importlib.metadata.version("visdom").startswith("0.2."):
        assert "#MathJax_Message {" in dom  # MathJax 2 ran: it adds its styles to the page
    else:
        assert "<mjx-container" in dom  # MathJax 3 typeset the text window's $$x^2$$


def test_try_lines_start_and_stop_a_second_server(tmp_path, capsys):
    """The docstring's experiments in order, with a state folder of the test's own: a server
    starts on 8098 (visdom's API answers there), then the second line stops it by its pid."""
    first_line = {"--port 8098 start": "visdom server running at http://localhost:8098 (pid ",
                  "--port 8098 stop": "stopped the visdom server (pid "}
    results = {}
    for flags, _ in try_lines("visdom_server"):
        results[flags] = visdom_server.main(flags.split() + ["--state-dir", str(tmp_path)])
        assert capsys.readouterr().out.startswith(first_line[flags])
        if flags.endswith("start"):
            assert post_window(8098, "t", [{"content": "hi", "type": "text"}]) == "t"
    started, stopped = results["--port 8098 start"], results["--port 8098 stop"]
    assert stopped["pid"] == started["pid"] and not psutil.pid_exists(started["pid"])
