"""The fork server with the host's own pip (any version): the plumbing, not the resolution."""

import importlib.util
import json
import os
import threading

import pytest

from resolve.forkserver import ForkServer

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="needs pip on the host")


@pytest.fixture
def server():
    server = ForkServer({"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": os.devnull})
    yield server
    server.close()


def test_each_job_runs_pip_main_in_its_directory_with_output_to_its_log(server, tmp_path):
    log = tmp_path / "one.log"
    log.write_text("header\n")
    assert server.run("1", ["--version"], str(tmp_path), str(log)) == 0
    text = log.read_text()
    assert text.startswith("header\npip ")
    assert isinstance(server.patched, bool)


def test_pips_exit_status_comes_back(server, tmp_path):
    assert server.run("2", ["install", "--no-such-option"], str(tmp_path), str(tmp_path / "two.log")) == 2
    assert "no such option" in (tmp_path / "two.log").read_text()


def test_jobs_may_overlap(server, tmp_path):
    codes = {}

    def one(tag):
        codes[tag] = server.run(tag, ["--version"], str(tmp_path), str(tmp_path / f"{tag}.log"))

    threads = [threading.Thread(target=one, args=(str(n),)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == {str(n): 0 for n in range(6)}


def test_pip_runs_in_the_jobs_directory(server, tmp_path):
    # Relative paths only resolve in the job's own directory; no requirement needs no index.
    (tmp_path / "requirements.txt").write_text("")
    argv = ["install", "--dry-run", "--ignore-installed", "--report", "report.json", "-r", "requirements.txt"]
    assert server.run("3", argv, str(tmp_path), str(tmp_path / "three.log")) == 0
    assert json.loads((tmp_path / "report.json").read_text())["install"] == []
