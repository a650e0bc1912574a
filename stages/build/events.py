"""The build driver's protocol with the orchestrator: the typed events it prints and its exit codes.

Every machine-read line on stdout is `offline-build-event <compact JSON object>` with an "event"
key; stages/protocol/README.md describes them and stages/protocol/build-events.jsonl holds one of
each. hook_runner.py may not import this module (it shares an interpreter with the backend), so it
repeats the names it emits; a test checks that the two agree.
"""

import json
import sys

PREFIX = "offline-build-event "

BUILD_REQUIREMENTS = "build-requirements"
MISSING_BUILD_REQUIREMENTS = "missing-build-requirements"
NETWORK_ATTEMPT = "network-attempt"
METADATA = "metadata"
BUILT = "built"
FAILED = "failed"
KINDS = (BUILD_REQUIREMENTS, MISSING_BUILD_REQUIREMENTS, NETWORK_ATTEMPT, METADATA, BUILT, FAILED)

# Where a `failed` event says the build stopped.
PHASE_VENV = "venv"
PHASE_INSTALL = "install"
PHASE_EXTRACT = "extract"
PHASE_PATCH = "patch"
PHASE_HOOKS = "hooks"
PHASES = (PHASE_VENV, PHASE_INSTALL, PHASE_EXTRACT, PHASE_PATCH, PHASE_HOOKS)

# Exit codes. The exit code decides; events only explain (a process that is killed, or a backend
# that calls os._exit, prints no `failed` event).
EXIT_OK = 0
# The build failed; a `failed` event normally says in which phase.
EXIT_FAILED = 1
# The job (the command line) is invalid: a bug of the orchestrator, not of the package. Python
# itself exits 2 when it cannot open the driver script.
EXIT_BAD_JOB = 2
# get_requires_for_build_wheel asked for distributions the venv does not hold; the
# `missing-build-requirements` event names them.
EXIT_MISSING_BUILD_REQUIREMENTS = 3


def event_line(kind, **fields):
    """The line for one event, without its newline. Compact, ASCII-only JSON: one line whatever a
    message holds, in field order, so that both sides can compare lines byte for byte."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return PREFIX + json.dumps({"event": kind, **fields}, separators=(",", ":"))


def _emit(line, stream):
    stream = sys.stdout if stream is None else stream
    stream.write(line + "\n")
    stream.flush()


def build_requirements(requirements, stream=None):
    """What get_requires_for_build_wheel returned, before anything is built."""
    _emit(event_line(BUILD_REQUIREMENTS, requirements=list(requirements)), stream)


def missing_build_requirements(requirements, stream=None):
    """Requirements (markers evaluated) whose distribution the venv does not hold."""
    _emit(event_line(MISSING_BUILD_REQUIREMENTS, requirements=list(requirements)), stream)


def network_attempt(operation, address, stream=None):
    """An audit event for a non-local address: `operation` is the audit event's name."""
    _emit(event_line(NETWORK_ATTEMPT, operation=operation, address=address), stream)


def metadata(directory, stream=None):
    """The `.dist-info` directory prepare_metadata_for_build_wheel made in the output directory."""
    _emit(event_line(METADATA, directory=directory), stream)


def built(wheel, stream=None):
    """The file name build_wheel returned."""
    _emit(event_line(BUILT, wheel=wheel), stream)


def failed(phase, message, stream=None):
    """Why the build stops, printed just before a non-zero exit."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    _emit(event_line(FAILED, phase=phase, message=message), stream)
