"""可视化 / Visualization: the visdom server, offline (the notes' `python -m visdom.server`).

`python -m visdom.server` first downloads the page's JavaScript and crashes without internet
(visdom issues #738, #865; no flag skips it). This starts the same server through
`visdom.server.run_server.start_server`, which skips the download, on 127.0.0.1 only:
`run` in the foreground, or `start` / `stop` / `status` in the background with a pid file and a
log in a git-ignored .visdom/ folder. Works with visdom 0.2.4 and 0.3.x. The page needs its
libraries once: python scripts/visdom_assets.py (or: make visdom-assets); `start` says so when
they are missing.

Run:    python scripts/visdom_server.py start    (or: make visdom-server; stop: make visdom-stop)
Expect: "visdom server running at http://localhost:8097 (pid ...)"; a no-op when one already
        answers there; `stop` ends it by its pid (on Linux, macOS and Windows alike); no action
        (or pasted into a notebook): `status`.
"""
import argparse
import importlib.util
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil  # "is it alive" and terminate/kill that work the same on Linux, macOS and Windows

ROOT = Path(__file__).resolve().parent.parent if "__file__" in globals() else Path.cwd()
# what `start` runs in the background (`run`); pasted into a notebook: the repository's copy
SCRIPT = Path(__file__).resolve() if "__file__" in globals() else ROOT / "scripts/visdom_server.py"
PORT = 8097  # visdom's default port, the one the notes' Visdom() client talks to
STATE_DIR = ROOT / ".visdom"  # pid file + log (git-ignored)
START_TIMEOUT = 30.0  # seconds to wait for a starting server to answer (imports take ~2-5 s)
PROBE_TIMEOUT = 1.0  # seconds for one "does it answer?" request
FETCH_ASSETS = "python scripts/visdom_assets.py (or: make visdom-assets)"  # the page's libraries


def answers(url, timeout=PROBE_TIMEOUT):
    """True when an HTTP server answers GET url within timeout seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, timed out, reset, HTTP error
        return False


def read_pid(pid_file):
    """The pid in pid_file if that server is still alive, else None (a stale file is removed)."""
    try:
        text = pid_file.read_text()
    except OSError:  # no pid file, or no such folder
        return None
    try:
        pid = int(text.split()[0])
        # Alive and still our server: the pid may have been reused by another program. (Not
        # os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT, not a probe.)
        if not any("visdom_server" in part for part in psutil.Process(pid).cmdline()):
            raise psutil.NoSuchProcess(pid)
        return pid
    except (ValueError, IndexError, psutil.Error):  # garbage, gone, a zombie, not ours
        pid_file.unlink(missing_ok=True)
        return None


def visdom_static_dir():
    """The installed visdom's static/ folder (the page), found without importing visdom."""
    spec = importlib.util.find_spec("visdom")
    if spec is None:
        raise SystemExit("error: visdom is not installed: pip install -r requirements.txt")
    return Path(spec.origin).parent / "static"


def missing_page_files(static_dir):
    """The files the page's index.html loads from static/ that are not there: without them the
    page stays blank. Read from the installed visdom's own index.html (0.2.4 and 0.3 differ)."""
    html = (static_dir / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r"""static_url\(\s*["']([^"'?#]+)""", html)  # {{ static_url("js/x.js") }}
    return [f for f in loaded if not f.startswith("../") and not (static_dir / f).is_file()]


def run_foreground(port, env_path):
    """Serve on 127.0.0.1:port until killed; like `python -m visdom.server` minus the download."""
    # visdom's __init__ imports torch when it can (a few seconds; the server never sees a
    # tensor). Not blocked with sys.modules["torch"] = None: visdom 0.3 imports scipy (through
    # openTSNE), which reads sys.modules["torch"].Tensor and dies on that None.
    from visdom.server.run_server import start_server  # imports tornado: only when serving

    def ready(bound_port):  # visdom calls it once its socket is bound, before serving
        if bound_port != port:  # visdom 0.3 moves to a free port when port is taken: we don't
            raise SystemExit(f"error: port {port} is in use by another program")
        print(f"visdom server ready at http://localhost:{port}", flush=True)

    Path(env_path).mkdir(parents=True, exist_ok=True)
    start_server(port=port, hostname="localhost", base_url="", env_path=str(env_path),
                 bind_local=True, print_func=ready)


def start_background(port, env_path, state_dir, timeout):
    """Start `run` as a detached process, wait until it answers; returns its pid."""
    if not SCRIPT.is_file():  # a notebook outside the repository: nothing to run in the background
        raise SystemExit(f"error: `start` runs {SCRIPT} in the background and it is not there; "
                         f"in a terminal: python scripts/visdom_server.py start")
    pid_file, log_file = state_dir / "server.pid", state_dir / "server.log"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_file, "w")
    except OSError as e:
        raise SystemExit(f"error: cannot write the server's log in {state_dir} ({e.strerror})")
    with log:
        # A new session (POSIX) or process group (Windows): the server outlives `make` and a
        # Ctrl-C in the terminal that started it.
        proc = subprocess.Popen([sys.executable, str(SCRIPT), "run",
                                 "--port", str(port), "--env-path", str(env_path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
    pid_file.write_text(f"{proc.pid}\n")
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while not answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid)
            pid_file.unlink(missing_ok=True)
            lines = log_file.read_text().strip().splitlines() or ["no output"]
            raise SystemExit(f"error: the visdom server did not start on port {port} "
                             f"({lines[-1].strip()}); log: {log_file}")
        time.sleep(0.2)
    return proc.pid


def has_exited(pid):
    """True once pid is gone; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop_pid(pid, grace=5.0):
    """terminate() (SIGTERM; TerminateProcess on Windows), then kill() if it is still alive after
    `grace` seconds. psutil's wait() also reaps our own child, so no zombie is left behind."""
    try:
        proc = psutil.Process(pid)
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except psutil.TimeoutExpired:
            proc.kill()  # SIGKILL, which Windows does not have: psutil picks what each OS has
            proc.wait(timeout=grace)
    except psutil.NoSuchProcess:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Start, stop or run a visdom server offline.")
    parser.add_argument("action", nargs="?", default="status",
                        choices=["start", "stop", "status", "run"],
                        help="start/stop/status: background server with a pid file; "
                             "run: serve in the foreground")
    parser.add_argument("--port", type=positive_int, default=PORT, help="port to serve on")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="pid file and log")
    parser.add_argument("--env-path", type=Path, default=None,
                        help="where visdom saves its envs; none: env/ in the state dir")
    parser.add_argument("--timeout", type=float, default=START_TIMEOUT,
                        help="seconds to wait for the server to answer")
    args = parse_flags(parser, argv)
    env_path = args.env_path or args.state_dir / "env"
    url = f"http://localhost:{args.port}"
    pid_file = args.state_dir / "server.pid"

    if args.action == "run":
        run_foreground(args.port, env_path)
        return {"url": url, "running": False}
    pid = read_pid(pid_file)
    if args.action == "stop":
        if pid is None:
            print(f"no visdom server started from {args.state_dir} (no live pid file)")
        else:
            stop_pid(pid)
            pid_file.unlink(missing_ok=True)
            print(f"stopped the visdom server (pid {pid})")
        return {"url": url, "pid": pid, "running": False}
    running = answers(url.replace("localhost", "127.0.0.1") + "/")
    if args.action == "start" and not running:
        if pid is not None:
            raise SystemExit(f"error: a visdom server (pid {pid}) is running but does not answer "
                             f"at {url}; stop it with: python scripts/visdom_server.py stop "
                             f"(or: make visdom-stop)")
        pid = start_background(args.port, env_path, args.state_dir, args.timeout)
        running = True
        print(f"visdom server running at {url} (pid {pid}, log: {args.state_dir}/server.log)")
    elif args.action == "start":
        print(f"a visdom server already answers at {url}")
    else:
        print(f"visdom server at {url}: {'answers' if running else 'not running'}"
              + (f" (pid {pid})" if pid else ""))
    missing = missing_page_files(visdom_static_dir())
    if missing:
        print(f"warning: the visdom page's libraries are missing ({len(missing)} files, e.g. "
              f"{missing[0]}), so the page stays blank; fetch them with: {FETCH_ASSETS}",
              file=sys.stderr)
    return {"url": url, "pid": pid, "running": running, "missing_page_files": missing}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv), every default shown in --help; main() with no argv in a notebook
    kernel runs the defaults (the kernel's own argv is not the learner's)."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


def positive_int(text):
    if int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return int(text)


if __name__ == "__main__":
    main()
