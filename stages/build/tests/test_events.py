"""The event lines against stages/protocol/build-events.jsonl, which the Rust side reads too, and
hook_runner.py's copy of the protocol against events.py."""

import ast
import io
import json
import pathlib
import sys

import pytest

from build import events, hook_runner

from .support import protocol_events

EMITTERS = {
    events.BUILD_REQUIREMENTS: events.build_requirements,
    events.MISSING_BUILD_REQUIREMENTS: events.missing_build_requirements,
    events.NETWORK_ATTEMPT: events.network_attempt,
    events.METADATA: events.metadata,
    events.BUILT: events.built,
    events.FAILED: events.failed,
}
# What hook_runner.py emits itself (the driver emits `failed` for the other phases).
RUNNER_KINDS = (
    "build-requirements",
    "missing-build-requirements",
    "network-attempt",
    "metadata",
    "built",
    "failed",
)


def test_fixture_holds_each_kind_once():
    kinds = [json.loads(line)["event"] for line in protocol_events()]
    assert sorted(kinds) == sorted(events.KINDS)
    assert sorted(EMITTERS) == sorted(events.KINDS)


@pytest.mark.parametrize("line", protocol_events(), ids=lambda line: json.loads(line)["event"])
def test_emitter_prints_the_fixture_line(line):
    fields = json.loads(line)
    kind = fields.pop("event")
    output = io.StringIO()
    EMITTERS[kind](**fields, stream=output)
    assert output.getvalue() == events.PREFIX + line + "\n"


@pytest.mark.parametrize("line", protocol_events(), ids=lambda line: json.loads(line)["event"])
def test_hook_runner_formats_the_fixture_line(line):
    fields = json.loads(line)
    kind = fields.pop("event")
    assert kind in RUNNER_KINDS
    assert hook_runner.event_line(kind, **fields) == events.PREFIX + line


def test_hook_runner_constants_agree_with_events():
    pairs = {
        "EVENT_PREFIX": "PREFIX",
        "BUILD_REQUIREMENTS": "BUILD_REQUIREMENTS",
        "MISSING_BUILD_REQUIREMENTS": "MISSING_BUILD_REQUIREMENTS",
        "NETWORK_ATTEMPT": "NETWORK_ATTEMPT",
        "METADATA": "METADATA",
        "BUILT": "BUILT",
        "FAILED": "FAILED",
        "PHASE_HOOKS": "PHASE_HOOKS",
        "EXIT_OK": "EXIT_OK",
        "EXIT_FAILED": "EXIT_FAILED",
        "EXIT_MISSING_BUILD_REQUIREMENTS": "EXIT_MISSING_BUILD_REQUIREMENTS",
    }
    for runner_name, events_name in pairs.items():
        assert getattr(hook_runner, runner_name) == getattr(events, events_name), runner_name


def test_exit_codes_are_distinct():
    codes = [events.EXIT_OK, events.EXIT_FAILED, events.EXIT_BAD_JOB, events.EXIT_MISSING_BUILD_REQUIREMENTS]
    assert len(set(codes)) == len(codes)


def test_a_message_stays_on_one_ascii_line():
    output = io.StringIO()
    events.failed("hooks", "line one\nline two: caf\u00e9 \u2192 \U0001f4a5", stream=output)
    text = output.getvalue()
    assert text.count("\n") == 1 and text.isascii()
    assert (
        json.loads(text[len(events.PREFIX) :])["message"] == "line one\nline two: caf\u00e9 \u2192 \U0001f4a5"
    )


def test_unknown_kind_or_phase_is_refused():
    with pytest.raises(ValueError):
        events.event_line("progress", percent=5)
    with pytest.raises(ValueError):
        events.failed("upload", "no such phase", stream=io.StringIO())


def test_hook_runner_imports_only_the_stdlib():
    # It shares the interpreter with the third-party backend, and runs where our modules are
    # not importable.
    tree = ast.parse(pathlib.Path(hook_runner.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
