"""Runs inside a sandboxed container and reports, as one JSON object on stdout, what it could do.

The test that runs it asserts every answer. Network probes only target the listener the test
started on the host (OB_PROBE_HOST:OB_PROBE_PORT) and the test's own DNS responder.
"""

import json
import os
import signal
import socket
import subprocess
import time

report = {}


def attempt(name, action):
    try:
        report[name] = {"ok": True, "value": action()}
    except Exception as err:  # noqa: BLE001 - every failure is an answer here
        report[name] = {"ok": False, "value": f"{type(err).__name__}: {err}"}


def tcp():
    with socket.create_connection(
        (os.environ["OB_PROBE_HOST"], int(os.environ["OB_PROBE_PORT"])), timeout=5
    ) as connection:
        connection.sendall(b"probe\n")
    return "connected"


def dns():
    return socket.getaddrinfo(os.environ["OB_PROBE_NAME"], 80, socket.AF_INET)[0][4][0]


def write(path):
    def action():
        with open(path, "w") as handle:
            handle.write("written by the probe\n")
        return path

    return action


def tmp_exec():
    script = "/tmp/probe-script"
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\necho ran-from-tmp\n")
    os.chmod(script, 0o755)
    return subprocess.run([script], capture_output=True, text=True, check=True).stdout.strip()


def status_field(name):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


def fork_until_failure():
    """Forks sleeping children until fork fails; returns how many it made and the error."""
    children = []
    error = None
    try:
        while len(children) < 100000:
            pid = os.fork()
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            children.append(pid)
    except OSError as err:
        error = f"{type(err).__name__}: {err}"
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
    return {"forked": len(children), "error": error}


attempt("tcp", tcp)
attempt("dns", dns)
attempt("write_root", write("/probe-was-here"))
attempt("write_usr", write("/usr/probe-was-here"))
# World-writable in the image (1777): only the read-only rootfs stops this one.
attempt("write_var_tmp", write("/var/tmp/probe-was-here"))
attempt("write_input", write("/in/probe-was-here"))
attempt("write_output", write("/out/probe-was-here"))
attempt("tmp_exec", tmp_exec)
report["env"] = dict(os.environ)
report["uid"] = os.getuid()
report["gid"] = os.getgid()
report["cap_eff"] = status_field("CapEff")
# Non-root already has no effective capabilities; the bounding set shows whether any could be
# regained (through a setuid binary, say).
report["cap_bnd"] = status_field("CapBnd")
report["no_new_privs"] = status_field("NoNewPrivs")
report["seccomp"] = status_field("Seccomp")
report["docker_socket"] = any(
    os.path.exists(path) for path in ("/var/run/docker.sock", "/run/docker.sock")
)
report["pids"] = fork_until_failure()
print(json.dumps(report))
