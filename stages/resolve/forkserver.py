"""Runs pip without paying for its start-up on every resolution: one process imports pip's
modules and applies the dry-run patch once, then forks a child per resolution that runs pip's
`main()`.

The server is a fresh interpreter of its own (the session, which has threads, only spawns it)
and never starts a thread: forking a process with threads can leave a lock held forever in the
child. It reads one JSON line per job on stdin ({"tag", "argv", "cwd", "log"}) and answers one
per finished job on stdout ({"tag", "returncode"}); its first line says whether the patch applied.
"""

import json
import os
import select
import subprocess
import sys
import threading
import traceback

# What pip imports for `install --dry-run --report` (measured in the image); imported once here.
WARM_MODULES = (
    "pip._internal.cli.main",
    "pip._internal.commands.install",
    "pip._internal.cli.req_command",
    "pip._internal.index.collector",
    "pip._internal.index.package_finder",
    "pip._internal.network.session",
    "pip._internal.network.download",
    "pip._internal.operations.prepare",
    "pip._internal.req.req_file",
    "pip._internal.resolution.resolvelib.resolver",
    "pip._internal.resolution.resolvelib.factory",
    "pip._internal.models.installation_report",
    "pip._internal.metadata.importlib",
    "pip._vendor.requests",
    "pip._vendor.truststore",
    "pip._vendor.rich.console",
    "pip._vendor.distro",
    "netrc",
)
# How often the server looks for finished children while some run.
REAP_INTERVAL = 0.01


# -- the server (its own process) ------------------------------------------------------------


def serve():
    import importlib

    from resolve import pip_patch

    for module in WARM_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # another pip: it imports what it needs in each child
    applied, detail = pip_patch.apply()
    from pip._internal.cli.main import main as pip_main

    answer({"ready": True, "patched": applied, "detail": detail})
    children = {}  # pid -> tag
    pending = b""
    stdin = sys.stdin.fileno()
    open_input = True
    while open_input or children:
        timeout = REAP_INTERVAL if children else None
        readable, _, _ = select.select([stdin] if open_input else [], [], [], timeout)
        if readable:
            data = os.read(stdin, 65536)
            if not data:
                open_input = False
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                job = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    run_child(job, pip_main)  # never returns
                children[pid] = job["tag"]
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            answer({"tag": children.pop(pid), "returncode": os.waitstatus_to_exitcode(status)})


def answer(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run_child(job, pip_main):
    """In the forked child: pip's output to the log, stdin empty, temporary files in the job's
    own directory; then pip's `main()`. Leaves only through os._exit."""
    code = 1
    try:
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(job["cwd"])
        import tempfile

        os.environ["TMPDIR"] = job["cwd"]
        tempfile.tempdir = job["cwd"]
        sys.argv = ["pip", *job["argv"]]
        code = pip_main(job["argv"])
    except SystemExit as stop:
        # As the interpreter would exit: None is success, a message is printed and is failure.
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)


# -- the client (in the session) -------------------------------------------------------------


class ForkServerGone(Exception):
    pass


class ForkServer:
    """The session's handle on the server: `run` blocks the calling thread until its job ends."""

    def __init__(self, env):
        stage = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = f"import sys; sys.path.insert(0, {stage!r}); from resolve.forkserver import serve; serve()"
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
        )
        first = self.process.stdout.readline()
        if not first:
            raise ForkServerGone(f"the pip fork server exited at start (status {self.process.wait()})")
        hello = json.loads(first)
        self.patched, self.detail = hello["patched"], hello["detail"]
        self.lock = threading.Lock()
        self.waiting = {}  # tag -> [event, returncode]
        self.gone = False
        threading.Thread(target=self._read, name="forkserver-read", daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            message = json.loads(line)
            with self.lock:
                slot = self.waiting.pop(message["tag"])
            slot[1] = message["returncode"]
            slot[0].set()
        with self.lock:
            self.gone = True
            for slot in self.waiting.values():
                slot[0].set()
            self.waiting.clear()

    def run(self, tag, argv, cwd, log):
        """pip's exit status for `pip <argv>` run in `cwd`, its output appended to `log`."""
        slot = [threading.Event(), None]
        with self.lock:
            if self.gone:
                raise ForkServerGone("the pip fork server has exited")
            self.waiting[tag] = slot
            job = {"tag": tag, "argv": argv, "cwd": cwd, "log": log}
            self.process.stdin.write((json.dumps(job) + "\n").encode())
            self.process.stdin.flush()
        slot[0].wait()
        if slot[1] is None:
            raise ForkServerGone("the pip fork server exited while pip ran")
        return slot[1]

    def close(self):
        self.process.stdin.close()
        self.process.wait()
