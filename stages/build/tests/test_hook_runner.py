"""hook_runner.py run for real (this interpreter standing in for the venv's) on small backends."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from build import events, hook_runner

BACKEND = """
import json, os, socket, sys

REQUIRES = {requires!r}

def get_requires_for_build_wheel(config_settings=None):
    return REQUIRES

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
{build}
    name = "demo-1.0-py3-none-any.whl"
    with open(os.path.join(wheel_directory, name), "w") as f:
        json.dump(config_settings, f)
    return name
"""
PREPARE = """
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, "demo-1.0.dist-info"))
    return "demo-1.0.dist-info"
"""


def make_source(tmp_path, requires=(), build="    pass", prepare=False, static=(), backend_path='["_build"]'):
    source = tmp_path / "src"
    (source / "_build").mkdir(parents=True)
    (source / "out").mkdir()
    (source / "pyproject.toml").write_text(
        f"[build-system]\nrequires = {json.dumps(list(static))}\nbuild-backend = 'demo_backend'\n"
        f"backend-path = {backend_path}\n"
    )
    code = BACKEND.format(requires=list(requires), build=textwrap.indent(textwrap.dedent(build), "    "))
    (source / "_build" / "demo_backend.py").write_text(code + (PREPARE if prepare else ""))
    return source


def run_runner(source, mode="build", config_settings=None):
    """(exit code, output lines, events) of the hook runner in `source`."""
    request = {"out": str(source / "out"), "mode": mode, "config_settings": config_settings}
    result = subprocess.run(
        [sys.executable, "-P", hook_runner.__file__, json.dumps(request)],
        cwd=source,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"},
    )
    lines = result.stdout.splitlines()
    found = [json.loads(line[len(events.PREFIX) :]) for line in lines if line.startswith(events.PREFIX)]
    return result.returncode, lines, found


def test_build_passes_config_settings_and_reports_the_wheel(tmp_path):
    source = make_source(tmp_path)
    code, lines, found = run_runner(source, config_settings={"--build-option": ["--quiet"]})
    assert code == 0, lines
    assert found == [
        {"event": "build-requirements", "requirements": []},
        {"event": "built", "wheel": "demo-1.0-py3-none-any.whl"},
    ]
    assert json.loads((source / "out" / "demo-1.0-py3-none-any.whl").read_text()) == {
        "--build-option": ["--quiet"]
    }


def test_requires_stops_after_the_build_requirements(tmp_path):
    source = make_source(tmp_path, requires=["pytest>=1", "tomli; python_version < '3'"])
    code, lines, found = run_runner(source, mode="requires")
    assert code == 0, lines
    assert found == [
        {"event": "build-requirements", "requirements": ["pytest>=1", "tomli; python_version < '3'"]}
    ]
    assert os.listdir(source / "out") == []


def test_metadata_uses_the_metadata_hook(tmp_path):
    source = make_source(tmp_path, prepare=True)
    code, lines, found = run_runner(source, mode="metadata")
    assert code == 0, lines
    assert found[-1] == {"event": "metadata", "directory": "demo-1.0.dist-info"}
    assert os.listdir(source / "out") == ["demo-1.0.dist-info"]


def test_metadata_without_the_hook_builds_the_wheel(tmp_path):
    source = make_source(tmp_path)
    code, lines, found = run_runner(source, mode="metadata")
    assert code == 0, lines
    assert found[-1] == {"event": "built", "wheel": "demo-1.0-py3-none-any.whl"}


def test_missing_dynamic_requirements(tmp_path):
    source = make_source(
        tmp_path, requires=["surely-not-installed-dist>=1", "pytest", "tomli; python_version < '3'"]
    )
    code, lines, found = run_runner(source)
    assert code == events.EXIT_MISSING_BUILD_REQUIREMENTS, lines
    assert found == [
        {
            "event": "build-requirements",
            "requirements": ["surely-not-installed-dist>=1", "pytest", "tomli; python_version < '3'"],
        },
        {"event": "missing-build-requirements", "requirements": ["surely-not-installed-dist>=1"]},
    ]


def test_missing_static_requirements_before_the_backend_is_imported(tmp_path):
    source = make_source(
        tmp_path, static=["pytest", "surely-not-installed-backend==1.0"], build="raise SystemExit(9)"
    )
    code, lines, found = run_runner(source)
    assert code == events.EXIT_MISSING_BUILD_REQUIREMENTS, lines
    assert found == [
        {"event": "missing-build-requirements", "requirements": ["surely-not-installed-backend==1.0"]}
    ]


def test_a_raising_hook_shows_its_traceback_then_fails(tmp_path):
    source = make_source(tmp_path, build="raise RuntimeError('boom')")
    code, lines, found = run_runner(source)
    assert code == events.EXIT_FAILED
    assert found[-1] == {
        "event": "failed",
        "phase": "hooks",
        "message": "build_wheel raised RuntimeError: boom",
    }
    traceback_at = next(i for i, line in enumerate(lines) if line.startswith("Traceback"))
    assert traceback_at < next(i for i, line in enumerate(lines) if '"event":"failed"' in line)


def test_a_hook_calling_sys_exit_fails(tmp_path):
    source = make_source(tmp_path, build="sys.exit('error: no compiler')")
    code, _, found = run_runner(source)
    assert code == events.EXIT_FAILED
    assert found[-1]["message"] == "build_wheel raised SystemExit: error: no compiler"


def test_the_source_tree_is_not_importable(tmp_path):
    # PEP 517: only backend-path entries are.
    source = make_source(tmp_path, build="import sneaky")
    (source / "sneaky.py").write_text("")
    code, _, found = run_runner(source)
    assert code == events.EXIT_FAILED
    assert found[-1]["message"] == "build_wheel raised ModuleNotFoundError: No module named 'sneaky'"


@pytest.mark.parametrize("backend_path", ['["../elsewhere"]', '["/usr/lib"]'])
def test_backend_path_must_stay_in_the_source_tree(tmp_path, backend_path):
    source = make_source(tmp_path, backend_path=backend_path)
    code, _, found = run_runner(source)
    assert code == events.EXIT_FAILED
    assert found == [
        {
            "event": "failed",
            "phase": "hooks",
            "message": f"backend-path {json.loads(backend_path)[0]!r} leaves the source tree",
        }
    ]


def test_a_missing_backend_fails_by_name(tmp_path):
    source = make_source(tmp_path)
    (source / "pyproject.toml").write_text(
        "[build-system]\nrequires = []\nbuild-backend = 'no_such_backend'\n"
    )
    code, _, found = run_runner(source)
    assert code == events.EXIT_FAILED
    assert found[-1]["message"].startswith(
        "importing the backend `no_such_backend` raised ModuleNotFoundError"
    )


def test_network_attempts_are_reported_once_and_loopback_is_not(tmp_path):
    # UDP: connect() sends nothing, so the test needs no network; the audit event comes first.
    build = """
    for host in ("192.0.2.1", "192.0.2.1", "127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect((host, 9))
        except OSError:
            pass
        s.close()
    """
    source = make_source(tmp_path, build=build)
    code, lines, found = run_runner(source)
    assert code == 0, lines
    assert [e for e in found if e["event"] == "network-attempt"] == [
        {"event": "network-attempt", "operation": "socket.connect", "address": "('192.0.2.1', 9)"}
    ]


def test_events_survive_a_backend_that_swallows_stdout(tmp_path):
    build = """
    import io
    sys.stdout = io.StringIO()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    """
    source = make_source(tmp_path, build=build)
    code, lines, found = run_runner(source)
    assert code == 0, lines
    assert found[-1] == {"event": "built", "wheel": "demo-1.0-py3-none-any.whl"}
