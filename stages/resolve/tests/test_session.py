"""The session's file handling, with pip replaced by a stand-in that plays back captured pip
runs (the real pip runs in test_forkserver.py and in the image)."""

import io
import json
import os

from resolve import protocol
from resolve.session import Resolver
from resolve.tests.support import pip_output, report


class PlayedBackPip:
    """Plays back (exit status, output, report) per request id, and records what it was given."""

    def __init__(self, runs, patched=True):
        self.runs = runs
        self.patched = patched
        self.detail = "applied to pip 25.1.1" if patched else "not applied (ImportError: gone)"
        self.seen = {}

    def run(self, tag, argv, cwd, log):
        given = [argv[i + 1] for i, flag in enumerate(argv) if flag in ("-r", "-c")]
        files = {os.path.basename(path): open(path).read() for path in given}
        self.seen[tag] = {"argv": argv, "cwd": cwd, "cwd_files": os.listdir(cwd), "files": files}
        returncode, output, pip_report = self.runs[tag]
        with open(log, "a") as f:
            f.write(output)
        if pip_report is not None:
            with open(argv[argv.index("--report") + 1], "w") as f:
                json.dump(pip_report, f)
        return returncode


def start(tmp_path, requests, runs, patched=True):
    inbox = tmp_path / "requests"
    inbox.mkdir()
    for name, document in requests.items():
        (inbox / name).write_text(document if isinstance(document, str) else json.dumps(document))
    (inbox / "stop").write_text("")
    session = protocol.Session(socket="/nowhere", requests=str(inbox), out=str(tmp_path / "out"), jobs=2)
    pip = PlayedBackPip(runs, patched)
    stdout = io.StringIO()
    assert Resolver(session, pip, work=str(tmp_path / "work"), stdout=stdout).run()
    return pip, stdout.getvalue(), tmp_path / "out"


def result(out, request_id):
    return json.loads((out / "results" / f"{request_id}.json").read_text())


def test_requests_before_stop_all_get_results_and_events(tmp_path):
    requests = {
        "1.json": {"id": "1", "requirements": ["requests[socks]"], "constraints": []},
        "2.json": {"id": "2", "requirements": ["hatch-vcs", "setuptools-scm<8.0"], "constraints": []},
        "3.json": {"id": "3", "requirements": ["--index-url=http://evil/"], "constraints": []},
        "4.json": "{not json",
        "5.json.tmp": {"id": "5", "requirements": ["idna"], "constraints": []},
    }
    runs = {
        "1": (0, "Would install ...\n", report("requests-socks")),
        "2": (1, pip_output("conflict"), None),
    }
    pip, stdout, out = start(tmp_path, requests, runs)
    events = sorted(stdout.splitlines())
    assert events == [protocol.event_line(request_id) for request_id in ("1", "2", "3", "4")]
    assert sorted(os.listdir(out / "results")) == ["1.json", "2.json", "3.json", "4.json"]
    assert result(out, "1")["roots"] == ["requests"]
    assert result(out, "2")["error"]["kind"] == "conflict"
    assert result(out, "2")["error"]["log"] == str(out / "logs" / "resolve-2.log")
    bad = result(out, "3")["error"]
    assert (bad["kind"], bad["requirement"]) == ("bad-requirement", "--index-url=http://evil/")
    assert result(out, "4")["error"]["kind"] == "internal"
    assert "not JSON" in result(out, "4")["error"]["message"]
    # pip never saw the bad request, nor the unfinished one.
    assert sorted(pip.seen) == ["1", "2"]


def test_pip_gets_its_files_outside_an_empty_directory_of_its_own(tmp_path):
    requests = {
        "1.json": {"id": "1", "requirements": ["requests", "idna"], "constraints": ["urllib3<2"]},
        "2.json": {"id": "2", "requirements": ["idna"], "constraints": []},
    }
    runs = {"1": (1, pip_output("conflict-constraint"), None), "2": (0, "", report("false-marker"))}
    pip, _, out = start(tmp_path, requests, runs)
    first = pip.seen["1"]
    assert first["files"] == {"requirements.txt": "requests\nidna\n", "constraints.txt": "urllib3<2\n"}
    # pip's working directory is empty and its inputs are elsewhere, so metadata that names
    # `file:///proc/self/cwd/requirements.txt` names nothing.
    assert first["cwd_files"] == []
    for flag in ("-r", "-c"):
        given = first["argv"][first["argv"].index(flag) + 1]
        assert not given.startswith(first["cwd"] + os.sep)
    assert "-c" not in pip.seen["2"]["argv"]
    assert pip.seen["1"]["cwd"] != pip.seen["2"]["cwd"]
    # Each directory is gone once its result is written.
    assert os.listdir(tmp_path / "work") == []
    assert result(out, "2")["pins"][0]["name"] == "idna"


def test_the_log_has_the_request_then_pips_output(tmp_path):
    requests = {"6.json": {"id": "6", "requirements": ["requests>=3"], "constraints": []}}
    runs = {"6": (1, pip_output("no-sdist"), None)}
    _, _, out = start(tmp_path, requests, runs)
    log = (out / "logs" / "resolve-6.log").read_text()
    assert log.startswith('offline-build: request 6\noffline-build: requirements ["requests>=3"]\n')
    assert log.endswith(pip_output("no-sdist"))
    error = result(out, "6")["error"]
    assert error["sdist_versions"] == ["2.32.4", "2.32.5"]


def test_archive_refused_says_when_the_patch_did_not_apply(tmp_path):
    requests = {"1.json": {"id": "1", "requirements": ["webclient"], "constraints": []}}
    runs = {"1": (1, pip_output("archive-refused"), None)}
    _, _, out = start(tmp_path, requests, runs, patched=False)
    error = result(out, "1")["error"]
    assert error["kind"] == "archive-refused"
    assert error["message"].endswith("; the dry-run patch was not applied (ImportError: gone)")


def test_a_report_that_disagrees_with_its_closure_is_internal(tmp_path):
    requests = {"1.json": {"id": "1", "requirements": ["requests"], "constraints": []}}
    runs = {"1": (0, "", report("requests-socks"))}
    _, _, out = start(tmp_path, requests, runs)
    error = result(out, "1")["error"]
    assert error["kind"] == "internal"
    assert "pysocks" in error["message"]


def test_no_result_file_is_left_half_written(tmp_path):
    requests = {"1.json": {"id": "1", "requirements": ["idna"], "constraints": []}}
    _, _, out = start(tmp_path, requests, {"1": (0, "", report("false-marker"))})
    assert os.listdir(out / "results") == ["1.json"]


def test_an_internal_error_shows_pips_output_not_ours(tmp_path):
    requests = {"9.json": {"id": "9", "requirements": ["broken-meta"], "constraints": []}}
    _, _, out = start(tmp_path, requests, {"9": (1, pip_output("metadata-500"), None)})
    error = result(out, "9")["error"]
    assert (error["kind"], error["package"]) == ("internal", "broken-meta")
    assert error["message"].startswith("pip failed:\nLooking in indexes:")
    assert "offline-build:" not in error["message"]


def test_a_result_that_cannot_be_written_ends_the_session(tmp_path):
    inbox = tmp_path / "requests"
    inbox.mkdir()
    (inbox / "1.json").write_text(json.dumps({"id": "1", "requirements": ["--x"], "constraints": []}))
    session = protocol.Session(socket="/nowhere", requests=str(inbox), out=str(tmp_path / "out"), jobs=1)
    runner = Resolver(session, PlayedBackPip({}), work=str(tmp_path / "work"), stdout=io.StringIO())
    os.rmdir(tmp_path / "out" / "results")
    # No `stop`: the session ends because it cannot answer, not because it was asked to.
    assert runner.run() is False
