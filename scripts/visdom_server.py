"""可视化 / Visualization: the visdom server, offline (the notes' `python -m visdom.server`).

`python -m visdom.server` first downloads the page's JavaScript and crashes offline (visdom
issues #738, #865; no flag skips it). This starts the same server (visdom 0.2.4 or 0.3.x) through
visdom's `start_server`, which skips the download, on 127.0.0.1 only: `run` in the foreground, or
`start` / `stop` / `status` in the background (pid file and log in a git-ignored .visdom/). It
says when the page's libraries are missing: python scripts/visdom_assets.py fetches them.

Run:    python scripts/visdom_server.py start    (or: make visdom-server; stop: make visdom-stop)
Expect: "visdom server running at http://localhost:8097 (pid ...)", a no-op when one answers;
        `stop` ends it by its pid (Linux, macOS, Windows); no action (or in a notebook): `status`.

Try:    --port 8098 start   a second server: "visdom server running at http://localhost:8098"
        --port 8098 stop    "stopped the visdom server (pid ...)": the one on 8097 runs on
"""
import argparse
import contextlib
import importlib.util
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil  # "is it alive" and terminate/kill that work the same on Linux, macOS and Windows

# .visdom/ at the repository's root (beside scripts/); this script copied out alone: beside it;
# pasted into a notebook: in the working folder (or --state-dir)
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
ROOT = HERE.parent if (HERE.parent / "scripts" / "get_mnist.py").is_file() else HERE
# what `start` runs in the background (`run`); pasted into a notebook: the repository's copy
SCRIPT = Path(__file__).resolve() if "__file__" in globals() else ROOT / "scripts/visdom_server.py"
PORT = 8097  # visdom's default port, the one the notes' Visdom() client talks to
STATE_DIR = ROOT / ".visdom"  # pid file + log (git-ignored)
START_TIMEOUT = 30.0  # seconds to wait for a starting server to answer (imports take ~2-5 s)


def answers(url):
    """True when an HTTP server answers GET url within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:  # refused, timed out, reset, HTTP error
        return False


def read_pid(pid_file):
    """The pid in pid_file while that server is alive, else None (a stale file is removed)."""
    with contextlib.suppress(OSError, ValueError, psutil.Error):  # none, garbage, gone, a zombie
        pid = int(pid_file.read_text())
        # Alive and still our server: the pid may have been reused by another program. (Not
        # os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT, not a probe.)
        if any("visdom_server" in part for part in psutil.Process(pid).cmdline()):
            return pid
    pid_file.unlink(missing_ok=True)
    return None


def visdom_static_dir():
    """The installed visdom's static/ folder (the page), found without importing visdom."""
    spec = importlib.util.find_spec("visdom")
    if spec is None:
        raise SystemExit("error: visdom is not installed: pip install -r requirements.txt")
    return Path(spec.origin).parent / "static"


def missing_page_files(static_dir):
    """The files visdom's index.html loads from static/ (0.2.4's and 0.3's differ) not there."""
    html = (static_dir / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r"""static_url\(\s*["']([^"'?#]+)""", html)  # {{ static_url("js/x.js") }}
    return [f for f in loaded if not f.startswith("../") and not (static_dir / f).is_file()]


def run_foreground(port, env_path):
    """Serve on 127.0.0.1:port until killed; like `python -m visdom.server` minus the download."""
    # This imports visdom, and torch with it (seconds). Not blocked by sys.modules["torch"] = None:
    # visdom 0.3 imports scipy (through openTSNE), which dies on that None.
    from visdom.server.run_server import start_server

    def ready(bound_port):  # visdom calls it once its socket is bound, before serving
        if bound_port != port:  # visdom 0.3 moves to a free port when port is taken: we don't
            raise SystemExit(f"error: port {port} is in use by another program")
        print(f"visdom server ready at http://localhost:{port}", flush=True)

    start_server(port=port, hostname="localhost", base_url="", env_path=str(env_path),
                 bind_local=True, print_func=ready)


def start_background(port, env_path, state_dir, timeout):
    """Start `run` as a detached process and wait until it answers; returns its pid."""
    pid_file, log_file = state_dir / "server.pid", state_dir / "server.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as log:
        # A new session (POSIX) or process group (Windows): the server outlives `make` and a
        # Ctrl-C in the terminal that started it.
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "run", "--port", str(port), "--env-path", str(env_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))
    pid_file.write_text(f"{proc.pid}\n")  # now: a Ctrl-C while we wait leaves one `stop` finds
    deadline = time.monotonic() + timeout
    while not answers(f"http://127.0.0.1:{port}/"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid)
            pid_file.unlink()
            last = (log_file.read_text().strip().splitlines() or ["no output"])[-1].strip()
            raise SystemExit(f"error: the visdom server did not start on port {port} ({last}); "
                             f"log: {log_file}")
        time.sleep(0.2)
    return proc.pid


def stop_pid(pid, grace=5.0):
    """terminate(), then kill() if still alive after grace seconds."""
    with contextlib.suppress(psutil.NoSuchProcess):  # gone already (or meanwhile): nothing to stop
        proc = psutil.Process(pid)
        proc.terminate()
        if not has_ended(proc, grace):
            proc.kill()  # SIGKILL, which Windows does not have: psutil picks what each OS has
            has_ended(proc, grace)


def has_ended(proc, timeout):
    """Wait up to timeout seconds for proc to end; waiting reaps our own child. A zombie (ended,
    its parent has not reaped it: a container whose first process reaps none) has ended too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(timeout=0.1)
            return True
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
    return False


def stop_server(state_dir):
    """`stop`: end the server whose pid file is in state_dir, if it runs; returns its pid."""
    pid_file = state_dir / "server.pid"
    pid = read_pid(pid_file)
    if pid:
        stop_pid(pid)
        pid_file.unlink()
    print(f"stopped the visdom server (pid {pid})" if pid else
          f"no visdom server started from {state_dir} (no live pid file)")
    return pid


def ensure_running(port, env_path, state_dir, timeout):
    """`start`: a no-op when a server answers on port, else start one; returns its pid."""
    url, pid = f"http://localhost:{port}", read_pid(state_dir / "server.pid")
    if answers(f"http://127.0.0.1:{port}/"):
        print(f"a visdom server already answers at {url}")
        return pid
    if pid:
        raise SystemExit(f"error: a visdom server (pid {pid}) runs but does not answer at {url}; "
                         f"stop it: python scripts/visdom_server.py stop (or: make visdom-stop)")
    pid = start_background(port, env_path, state_dir, timeout)
    print(f"visdom server running at {url} (pid {pid}, log: {state_dir}/server.log)")
    return pid


def warn_missing_page_files():
    """The page's libraries visdom's static/ lacks, said in one line (stderr); returns them."""
    missing = missing_page_files(visdom_static_dir())
    if missing:
        print(f"warning: the visdom page's libraries are missing ({len(missing)} files, e.g. "
              f"{missing[0]}), so the page stays blank; fetch them with: "
              f"python scripts/visdom_assets.py (or: make visdom-assets)", file=sys.stderr)
    return missing


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="Start, stop or run a visdom server offline.")
    parser.add_argument("action", nargs="?", default="status",
                        choices=["start", "stop", "status", "run"],
                        help="start/stop/status: a background server; run: in the foreground")
    parser.add_argument("--port", type=positive_int, default=PORT, help="port to serve on")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="pid file and log")
    parser.add_argument("--env-path", type=Path, help="visdom's saved envs; none: <state dir>/env")
    parser.add_argument("--timeout", type=float, default=START_TIMEOUT, help="seconds start waits")
    args = parse_flags(parser, argv)
    env_path = args.env_path or args.state_dir / "env"
    url = f"http://localhost:{args.port}"
    if args.action == "run":
        run_foreground(args.port, env_path)
        return {"url": url, "running": False}
    if args.action == "stop":
        return {"url": url, "pid": stop_server(args.state_dir), "running": False}
    if args.action == "start":
        pid, running = ensure_running(args.port, env_path, args.state_dir, args.timeout), True
    else:  # status
        pid = read_pid(args.state_dir / "server.pid")
        running = answers(f"http://127.0.0.1:{args.port}/")
        print(f"visdom server at {url}: {'answers' if running else 'not running'}"
              + (f" (pid {pid})" if pid else ""))
    missing = warn_missing_page_files()
    return {"url": url, "pid": pid, "running": running, "missing_page_files": missing}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults

def positive_int(text, kind=int, what="integer"):
    try:  # --epochs abc: this line, where argparse would say "invalid positive_int value"
        if kind(text) > 0:
            return kind(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be a positive {what}, got {text}")


if __name__ == "__main__":
    main()
