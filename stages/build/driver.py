"""offline-build build driver: runs INSIDE one locked-down build container (network none).

It owns one package's build: make a venv, unpack the pinned build-requirement wheels (only the
files the orchestrator mounted, all built by offline-build), extract the verified sdist at a
fixed path, and run the backend's PEP 517 hooks through hook_runner.py in the venv's interpreter.
Build and resolve both run it, one build per container. The orchestrator validates whatever lands
in the output directory; nothing this program prints is trusted for security decisions.

Invoked as `python3 -I /ob/stage/build/driver.py '<job json>'` (job.py and
stages/protocol/build-job.json describe the job). It prints human-readable progress lines
(`offline-build: ...`) and the typed events of events.py; its exit codes are there too.
"""

import json
import os
import subprocess
import sys
import tarfile
import time
import traceback
import zipfile

# `-I` keeps the script's directory off sys.path; this directory is the `build` package.
STAGE_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(STAGE_DIR))

from build import events  # noqa: E402
from build.archives import UnsafeMember  # noqa: E402
from build.environment import CARGO_HOME, build_environment  # noqa: E402
from build.job import JobError, parse  # noqa: E402
from build.patches import PatchError, apply_patches  # noqa: E402
from build.sdist import SdistError, extract_sdist  # noqa: E402
from build.wheels import WheelError, install_wheel, make_venv  # noqa: E402

# One build per container: the venv's place is fixed.
VENV_DIR = "/tmp/venv"
HOOK_RUNNER = os.path.join(STAGE_DIR, "hook_runner.py")
# Prefix of the human-readable lines.
MARK = "offline-build:"
# Failures whose message says it all; anything else is a bug of ours and shows its traceback.
EXPECTED_ERRORS = (
    OSError,
    UnsafeMember,
    WheelError,
    SdistError,
    PatchError,
    zipfile.BadZipFile,
    tarfile.TarError,
)


def log(message):
    print(f"{MARK} {message}", flush=True)


def fail(phase, message, error=None):
    """Reports a failure the driver detected itself; returns the exit code."""
    if error is not None and not isinstance(error, EXPECTED_ERRORS):
        traceback.print_exception(error)
    log(message)
    events.failed(phase, message)
    return events.EXIT_FAILED


def run_hooks(job, python):
    """Runs hook_runner.py in the venv's interpreter, in the source tree; returns its exit code."""
    request = {"out": job.out, "mode": job.mode, "config_settings": job.config_settings}
    # -P: neither hook_runner.py's directory nor the source tree is importable by the backend
    # (PEP 517: only backend-path is). Not -I: the environment's PYTHON* variables must apply.
    runner = subprocess.run(
        [python, "-P", HOOK_RUNNER, json.dumps(request)],
        cwd=job.source_dir,
        env=build_environment(job, VENV_DIR),
    )
    return runner.returncode


def prepare_cargo_home(cargo_dir):
    """A fresh CARGO_HOME whose config.toml is the orchestrator's (which replaces every registry
    with the read-only vendor directory): cargo writes its lock files into its home, so the home
    cannot be the read-only mount itself."""
    os.makedirs(CARGO_HOME, mode=0o755)
    with open(os.path.join(cargo_dir, "config.toml"), "rb") as source:
        config = source.read()
    with open(os.path.join(CARGO_HOME, "config.toml"), "wb") as target:
        target.write(config)


def build(job):
    """The whole build; returns the exit code."""
    started = time.monotonic()
    log(f"building {job.name} {job.version} with Python {sys.version.split()[0]}")
    try:
        python, site_packages = make_venv(VENV_DIR)
    except Exception as error:
        return fail(events.PHASE_VENV, f"cannot create the venv at {VENV_DIR}: {error}", error)

    wheels_dir = os.path.realpath(job.wheels_dir)
    for wheel in job.wheels:
        if os.path.dirname(os.path.realpath(wheel)) != wheels_dir:
            return fail(events.PHASE_INSTALL, f"refusing a wheel outside {job.wheels_dir}: {wheel}")
        try:
            install_wheel(wheel, VENV_DIR, site_packages, python)
        except Exception as error:
            return fail(events.PHASE_INSTALL, f"cannot install {os.path.basename(wheel)}: {error}", error)
        log(f"installed {os.path.basename(wheel)}")

    try:
        extract_sdist(job.sdist, job.source_dir)
    except Exception as error:
        return fail(events.PHASE_EXTRACT, f"cannot extract {os.path.basename(job.sdist)}: {error}", error)
    log(f"extracted {os.path.basename(job.sdist)} at {job.source_dir}")

    # Before any hook: in every mode the backend sees the patched tree.
    try:
        apply_patches(job.patches, job.source_dir, log)
    except PatchError as error:
        return fail(events.PHASE_PATCH, str(error), error)

    if job.cargo is not None:
        try:
            prepare_cargo_home(job.cargo)
        except OSError as error:
            return fail(events.PHASE_EXTRACT, f"cannot prepare cargo's home at {CARGO_HOME}: {error}", error)
        log(f"vendored crates from {job.cargo}/vendor; cargo runs offline")

    try:
        returncode = run_hooks(job, python)
    except OSError as error:
        return fail(events.PHASE_HOOKS, f"cannot start the hook runner: {error}", error)
    if returncode == events.EXIT_MISSING_BUILD_REQUIREMENTS:
        log("stopped: the build requirements are incomplete")
        return returncode
    if returncode != events.EXIT_OK:
        log(f"build failed with exit status {returncode}")
        # The hook runner reports its own failures (traceback, then `failed`) and exits 1; any
        # other status means it did not get that far: killed, or a backend's os._exit.
        if returncode != events.EXIT_FAILED:
            how = (
                f"was killed by signal {-returncode}"
                if returncode < 0
                else f"exited with status {returncode}"
            )
            events.failed(events.PHASE_HOOKS, f"the hook runner {how}")
        return events.EXIT_FAILED
    log(f"done in {time.monotonic() - started:.2f}s")
    return events.EXIT_OK


def main(argv):
    # Docker carries stdout and stderr in two pipes and loses their relative order. A backend's
    # traceback (stderr) must stay after the output that came before it (stdout), or the log's
    # tail shown with a failure can miss the very error it is there to show: one pipe for both.
    sys.stderr.flush()
    os.dup2(sys.stdout.fileno(), sys.stderr.fileno())
    if len(argv) != 2:
        log("usage: driver.py '<job json>'")
        return events.EXIT_BAD_JOB
    try:
        job = parse(argv[1])
    except JobError as error:
        log(f"invalid job: {error}")
        return events.EXIT_BAD_JOB
    return build(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
