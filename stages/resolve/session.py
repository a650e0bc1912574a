"""offline-build resolver session: runs INSIDE a scratch container that has no network at all,
and runs pip's resolver and nothing else. No third-party code ever runs here: every build and
hook runs in a container of its own, elsewhere.

The host asks for many independent resolutions (the top-level requirements, each package's build
environment) by writing request files; up to `jobs` of them run at once, each a pip dry run that
answers from the PEP 658 metadata the host's index proxy serves, never from an sdist. pip reaches
the proxy through a loopback relay to the bind-mounted unix socket. Each result is written to
<out>/results/<id>.json, then announced on stdout. stages/protocol/README.md has the protocol.

Invoked as `python3 -I session.py '<session json>'`. Exit codes: 0 after `stop`; 1 when a result
could not be written; 2 when the session job is unusable or pip cannot be started.
"""

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

# -I leaves the script's directory off sys.path; that directory is the `resolve` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from resolve import inbox, pip_command, pip_output, protocol, report, requirements
from resolve.forkserver import ForkServer, ForkServerGone
from resolve.relay import Relay

POLL_INTERVAL = 0.02
# Each request's temporary directory (requirements file, report, pip's own TMPDIR) goes here.
WORK = "/tmp/ob"


def write_atomically(path, text):
    """Readers of `path` see the whole text or no file."""
    partial = path + ".tmp"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, path)


class Resolver:
    """Answers a session's request files with result files. `pip.run(tag, argv, cwd, log)` runs
    pip, blocking the calling thread, and returns its exit status; `pip.patched` and `pip.detail`
    say whether pip resolves from metadata alone."""

    def __init__(self, session, pip, work=WORK, stdout=None):
        self.session = session
        self.pip = pip
        self.work = work
        self.stdout = stdout or sys.stdout
        self.stdout_lock = threading.Lock()
        self.broken = False  # a result could not be written
        self.results = os.path.join(session.out, "results")
        self.logs = os.path.join(session.out, "logs")
        for directory in (self.results, self.logs, work):
            os.makedirs(directory, exist_ok=True)

    def run(self):
        """Takes request files until `stop`; returns once every taken request has its result,
        True if each got one. Requests listed beside `stop` in the same scan are still taken;
        after a result could not be written, nothing more is."""
        taken = set()
        with ThreadPoolExecutor(self.session.jobs, thread_name_prefix="resolve") as pool:
            while not self.broken:
                found = inbox.scan(os.listdir(self.session.requests), taken)
                for request_id in found.new:
                    taken.add(request_id)
                    pool.submit(self.answer, request_id)
                if found.stop:
                    break
                time.sleep(POLL_INTERVAL)
        return not self.broken

    def answer(self, request_id):
        log = os.path.join(self.logs, f"resolve-{request_id}.log")
        try:
            result = self.resolve(request_id, log)
        except Exception:
            result = protocol.error_result(request_id, protocol.internal(traceback.format_exc()), log)
        try:
            text = json.dumps(result, indent=1, sort_keys=True) + "\n"
            write_atomically(os.path.join(self.results, f"{request_id}.json"), text)
            with self.stdout_lock:
                print(protocol.event_line(request_id), file=self.stdout, flush=True)
        except Exception:
            # The host would wait for this result forever: the session ends instead (exit 1).
            print(f"offline-build resolve session: request {request_id}:", file=sys.stderr)
            traceback.print_exc()
            self.broken = True

    def resolve(self, request_id, log):
        """The result for request `request_id`; its log gets our lines, then pip's output."""
        with open(os.path.join(self.session.requests, f"{request_id}.json"), encoding="utf-8") as f:
            text = f.read()
        header = f"offline-build: request {request_id}\n"
        try:
            request = protocol.parse_request(request_id, text)
        except protocol.ProtocolError as error:
            write_atomically(log, header + f"offline-build: {error}\n")
            return protocol.error_result(request_id, protocol.internal(str(error)), log)
        header += f"offline-build: requirements {json.dumps(request.requirements)}\n"
        header += f"offline-build: constraints {json.dumps(request.constraints)}\n"
        problem = requirements.first_problem(request.requirements, request.constraints)
        if problem is not None:
            write_atomically(log, header + f"offline-build: {problem.message}; pip did not run\n")
            error = {
                "kind": "bad-requirement",
                "package": problem.package,
                "message": problem.message,
                "requirement": problem.requirement,
            }
            return protocol.error_result(request_id, error, log)
        header += f"offline-build: dry-run patch {self.pip.detail}\n"
        write_atomically(log, header)
        returncode, pip_report = self.run_pip(request, log)
        if returncode == 0:
            try:
                resolution = report.resolution(pip_report, request.requirements)
            except report.ReportMismatch as error:
                return protocol.error_result(request_id, protocol.internal(str(error)), log)
            return protocol.ok_result(request_id, resolution)
        with open(log, encoding="utf-8", errors="replace") as f:
            output = f.read()[len(header) :]
        error = pip_output.explain(output)
        if error["kind"] == "archive-refused" and not self.pip.patched:
            error["message"] += f"; the dry-run patch was {self.pip.detail}"
        return protocol.error_result(request_id, error, log)

    def run_pip(self, request, log):
        """pip's exit status and, when it succeeded, its report; in a directory of its own."""
        workdir = tempfile.mkdtemp(prefix=f"request-{request.id}-", dir=self.work)
        try:
            # pip runs in an empty directory of its own: nothing it is given to read is at a path
            # that metadata could name relative to pip (`/proc/self/cwd/...`).
            pip_dir = os.path.join(workdir, "pip")
            os.mkdir(pip_dir)
            inputs = tempfile.mkdtemp(prefix="in-", dir=workdir)
            requirements_file = os.path.join(inputs, "requirements.txt")
            write_atomically(requirements_file, requirements.requirements_file(request.requirements))
            constraints_file = None
            if request.constraints:
                constraints_file = os.path.join(inputs, "constraints.txt")
                write_atomically(constraints_file, requirements.requirements_file(request.constraints))
            report_file = os.path.join(inputs, "report.json")
            argv = pip_command.arguments(
                report_file, requirements_file, constraints_file, self.session.only_binary
            )
            returncode = self.pip.run(request.id, argv, pip_dir, log)
            if returncode != 0:
                return returncode, None
            with open(report_file, encoding="utf-8") as f:
                return returncode, json.load(f)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv):
    if len(argv) != 2:
        print("usage: session.py '<session json>'", file=sys.stderr)
        return 2
    try:
        session = protocol.parse_session(argv[1])
    except protocol.ProtocolError as error:
        print(f"offline-build resolve session: {error}", file=sys.stderr)
        return 2
    relay = Relay(session.socket)
    try:
        pip = ForkServer(pip_command.environment(relay.index_url))
    except ForkServerGone as error:
        print(f"offline-build resolve session: {error}", file=sys.stderr)
        return 2
    try:
        answered = Resolver(session, pip).run()
    finally:
        pip.close()
        relay.close()
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
