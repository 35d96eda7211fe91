"""scripts/visdom_server.py (make visdom-server / visdom-stop): a real server, started, found
again, stopped by its pid."""
import json
import socket
import subprocess
import sys
import urllib.request

import psutil

import visdom_server


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
    assert visdom_server.has_exited(started["pid"])
    assert not (tmp_path / "server.pid").exists()
    assert not visdom_server.main(["status", *argv])["running"]
    assert visdom_server.main(["stop", *argv])["pid"] is None  # nothing left to stop


def test_stale_pid_file_is_ignored(tmp_path):
    (tmp_path / "server.pid").write_text("999999999\n")  # no such process
    assert visdom_server.read_pid(tmp_path / "server.pid") is None
    assert not (tmp_path / "server.pid").exists()


def sleeper(*extra):
    """A real child process that would run for a minute: python -c 'sleep' (any OS)."""
    return subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(60)", *extra])


def test_stop_pid_ends_a_real_process_and_reaps_it():
    child = sleeper()
    assert not visdom_server.has_exited(child.pid)
    visdom_server.stop_pid(child.pid)
    assert visdom_server.has_exited(child.pid)
    assert not psutil.pid_exists(child.pid)  # reaped: no zombie left in the process table
    visdom_server.stop_pid(child.pid)  # stopping a gone pid is a no-op, not an error


def test_stop_pid_kills_what_ignores_terminate():
    # A child that ignores SIGTERM (on Windows terminate() already is TerminateProcess).
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"  # the handler is in place: an event
    visdom_server.stop_pid(child.pid, grace=0.5)  # terminate() is ignored: kill() must follow
    assert visdom_server.has_exited(child.pid) and not psutil.pid_exists(child.pid)


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
