"""The driver end to end on this machine: the fixture backend builds itself, then greet with it.
The container run (network none, read-only root, uid 65534) is the Rust side's integration test."""

import json
import os
import subprocess
import sys

import pytest

from build import driver, events
from build.job import Job

from .support import FIXTURES, needs_patch, pack_sdist

DRIVER = driver.__file__


def read_events(output):
    return [
        json.loads(line[len(events.PREFIX) :])
        for line in output.splitlines()
        if line.startswith(events.PREFIX)
    ]


def job_for(tmp_path, name, sdist, wheels=(), mode="build", patches=None):
    out = tmp_path / f"out-{name}-{mode}"
    out.mkdir()
    return Job(
        name=name,
        version="1.0",
        sdist=str(sdist),
        wheels=[str(w) for w in wheels],
        wheels_dir=str(tmp_path / "wheels"),
        out=str(out),
        source_dir=str(tmp_path / "src" / f"{name}-1.0-{mode}"),
        prefix_map_to=f"/usr/src/{name}-1.0",
        source_date_epoch=315532800,
        mode=mode,
        patches=patches,
    )


@pytest.fixture
def built_minibackend(tmp_path, monkeypatch, capfd):
    """The minibackend wheel in tmp_path/wheels, built by the driver from its fixture sdist."""
    if not (FIXTURES / "minibackend").is_dir():
        pytest.skip("fixtures/build is not beside stages/")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "sdists").mkdir()
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv-minibackend"))
    job = job_for(
        tmp_path,
        "minibackend",
        pack_sdist(FIXTURES / "minibackend", "minibackend", "1.0", tmp_path / "sdists"),
    )
    assert driver.build(job) == events.EXIT_OK
    found = read_events(capfd.readouterr().out)
    assert found == [
        {"event": "build-requirements", "requirements": []},
        {"event": "built", "wheel": "minibackend-1.0-py3-none-any.whl"},
    ]
    wheel = tmp_path / "wheels" / "minibackend-1.0-py3-none-any.whl"
    os.rename(os.path.join(job.out, "minibackend-1.0-py3-none-any.whl"), wheel)
    return wheel


@pytest.mark.parametrize(
    ("mode", "last"),
    [
        ("build", {"event": "built", "wheel": "greet-1.0-py3-none-any.whl"}),
        ("requires", {"event": "build-requirements", "requirements": []}),
        # minibackend has no metadata hook: the driver builds the wheel, as PEP 517 frontends do.
        ("metadata", {"event": "built", "wheel": "greet-1.0-py3-none-any.whl"}),
    ],
)
def test_builds_greet_with_the_minibackend_wheel(tmp_path, monkeypatch, capfd, built_minibackend, mode, last):
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv-greet"))
    sdist = pack_sdist(FIXTURES / "greet", "greet", "1.0", tmp_path / "sdists")
    job = job_for(tmp_path, "greet", sdist, [built_minibackend], mode=mode)
    assert driver.build(job) == events.EXIT_OK
    output = capfd.readouterr().out
    assert read_events(output)[-1] == last
    assert "offline-build: installed minibackend-1.0-py3-none-any.whl" in output
    assert os.path.isdir(os.path.join(job.source_dir, "greet"))


def test_a_missing_backend_is_a_missing_requirement(tmp_path, monkeypatch, capfd, built_minibackend):
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv-greet"))
    sdist = pack_sdist(FIXTURES / "greet", "greet", "1.0", tmp_path / "sdists")
    assert driver.build(job_for(tmp_path, "greet", sdist)) == events.EXIT_MISSING_BUILD_REQUIREMENTS
    assert read_events(capfd.readouterr().out) == [
        {"event": "missing-build-requirements", "requirements": ["minibackend==1.0"]}
    ]


def test_refuses_a_wheel_outside_the_wheels_directory(tmp_path, monkeypatch, capfd, built_minibackend):
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv-greet"))
    elsewhere = tmp_path / "minibackend-1.0-py3-none-any.whl"
    os.link(built_minibackend, elsewhere)
    sdist = pack_sdist(FIXTURES / "greet", "greet", "1.0", tmp_path / "sdists")
    assert driver.build(job_for(tmp_path, "greet", sdist, [elsewhere])) == events.EXIT_FAILED
    [failed] = read_events(capfd.readouterr().out)
    assert failed["phase"] == "install"
    assert failed["message"].startswith(f"refusing a wheel outside {tmp_path / 'wheels'}")


def test_an_sdist_that_is_not_an_archive_fails_in_extract(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv"))
    sdist = tmp_path / "greet-1.0.tar.gz"
    sdist.write_bytes(b"not a tar")
    assert driver.build(job_for(tmp_path, "greet", sdist)) == events.EXIT_FAILED
    [failed] = read_events(capfd.readouterr().out)
    assert failed["phase"] == "extract"


# greet's build requirements, with one more.
MORE_REQUIREMENTS = """\
--- a/pyproject.toml
+++ b/pyproject.toml
@@ -1,4 +1,4 @@
 # Pure Python, built by minibackend (itself built earlier in the same run).
 [build-system]
-requires = ["minibackend==1.0"]
+requires = ["minibackend==1.0", "patched-in"]
 build-backend = "minibackend"
"""


def greet_with_patch(tmp_path, text, mode):
    if not (FIXTURES / "greet").is_dir():
        pytest.skip("fixtures/build is not beside stages/")
    (tmp_path / "sdists").mkdir()
    sdist = pack_sdist(FIXTURES / "greet", "greet", "1.0", tmp_path / "sdists")
    patch_file = tmp_path / "0-more-requirements.patch"
    patch_file.write_text(text)
    return job_for(tmp_path, "greet", sdist, mode=mode, patches=[str(patch_file)])


@needs_patch
def test_the_hooks_see_the_patched_tree(tmp_path, monkeypatch, capfd):
    # Mode `requires`: the patch is applied before the first thing that reads the tree.
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv"))
    job = greet_with_patch(tmp_path, MORE_REQUIREMENTS, "requires")
    assert driver.build(job) == events.EXIT_MISSING_BUILD_REQUIREMENTS
    output = capfd.readouterr().out
    assert f"offline-build: applied {job.patches[0]}" in output
    assert read_events(output) == [
        {"event": "missing-build-requirements", "requirements": ["minibackend==1.0", "patched-in"]}
    ]


@needs_patch
def test_a_patch_that_does_not_apply_fails_in_phase_patch(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(driver, "VENV_DIR", str(tmp_path / "venv"))
    # Written against a greet that requires flit_core: its hunk does not match.
    stale = MORE_REQUIREMENTS.replace('"minibackend==1.0"]', '"flit_core"]', 1)
    job = greet_with_patch(tmp_path, stale, "build")
    assert driver.build(job) == events.EXIT_FAILED
    output = capfd.readouterr().out
    [failed] = read_events(output)
    assert failed["phase"] == "patch"
    assert failed["message"].startswith(f"cannot apply {job.patches[0]}: patch exited with status 1:\n")
    assert "Hunk #1 FAILED" in failed["message"]
    assert f"offline-build: cannot apply {job.patches[0]}" in output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "usage"),
        (["{}"], "invalid job: missing job field(s): `name`"),
        (['{"venv": "/tmp/v"}'], "`venv` was removed"),
        (["{", "extra"], "usage"),
    ],
)
def test_an_invalid_job_exits_2(arguments, message):
    # Fails before anything is created, so it can run as the real program.
    result = subprocess.run([sys.executable, "-I", DRIVER, *arguments], capture_output=True, text=True)
    assert result.returncode == events.EXIT_BAD_JOB
    assert message in result.stdout
    assert result.stderr == ""
