import json

import pytest

from resolve import pip_output, protocol, report
from resolve.tests.support import PROTOCOL
from resolve.tests.support import pip_output as sample_output
from resolve.tests.support import report as sample_report


def fixture(name):
    return json.loads((PROTOCOL / name).read_text())


def shape(value, maps=("dependencies",)):
    """Keys and types, not values: a list's shape is the set of its items' shapes, and a dict
    under a key in `maps` is a map (its keys are data)."""
    if isinstance(value, dict):
        return {key: (map_shape(item) if key in maps else shape(item)) for key, item in value.items()}
    if isinstance(value, list):
        return {"list": sorted({json.dumps(shape(item), sort_keys=True) for item in value})}
    return type(value).__name__


def map_shape(value):
    assert isinstance(value, dict)
    return {"map": sorted({json.dumps(shape(item), sort_keys=True) for item in value.values()})}


def test_session_fixture_is_read():
    session = protocol.parse_session((PROTOCOL / "resolve-session.json").read_text())
    assert session == protocol.Session(
        socket="/ob/index.sock", requests="/ob/requests", out="/out", jobs=2, only_binary=("demo-wheel-only",)
    )


def test_request_fixture_is_read():
    request = protocol.parse_request("7", (PROTOCOL / "resolve-request.json").read_text())
    assert request == protocol.Request(
        id="7", requirements=["hatchling", "hatch-vcs"], constraints=["setuptools-scm<9"]
    )


def test_ok_result_has_the_fixtures_shape():
    request = fixture("resolve-request.json")
    result = protocol.ok_result(
        request["id"], report.resolution(sample_report("hatch-vcs"), request["requirements"])
    )
    expected = fixture("resolve-result-ok.json")
    assert shape(result) == shape(expected)
    # Both kinds of requires_python (a string and null) appear in the fixture.
    assert {type(pin["requires_python"]) for pin in expected["pins"]} == {str, type(None)}


def test_error_result_has_the_fixtures_shape_with_every_optional_field():
    error = pip_output.explain(sample_output("no-sdist-python"))
    result = protocol.error_result("8", error, "/out/logs/resolve-8.log")
    expected = fixture("resolve-result-error.json")
    assert shape(result) == shape(expected)
    assert set(expected["error"]) == {"kind", "package", "message", "log", "requirement", "sdist_versions"}
    assert expected["error"]["kind"] in protocol.ERROR_KINDS


def test_error_kinds_are_closed():
    with pytest.raises(ValueError):
        protocol.error_result("1", {"kind": "oops", "package": "", "message": ""}, "/out/logs/x.log")


def test_event_line():
    assert protocol.event_line("7") == 'offline-build-event {"event": "resolved", "id": "7"}'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "not JSON"),
        ('{"socket": "/s", "requests": "/r", "out": "/o"}', "no `jobs`"),
        ('{"socket": "/s", "requests": "/r", "out": "/o", "jobs": 0}', "at least 1"),
        ('{"socket": "/s", "requests": "/r", "out": "/o", "jobs": true}', "must be int"),
        ('{"socket": 1, "requests": "/r", "out": "/o", "jobs": 1}', "must be str"),
        ('{"socket": "/s", "requests": "/r", "out": "/o", "jobs": 1, "verify": true}', "unknown fields"),
        ('{"socket": "/s", "requests": "/r", "out": "/o", "jobs": 1, "only_binary": "x"}', "must be list"),
        (
            '{"socket": "/s", "requests": "/r", "out": "/o", "jobs": 1, "only_binary": ["a,:all:"]}',
            "not a normalized project name",
        ),
    ],
)
def test_bad_sessions(text, says):
    with pytest.raises(protocol.ProtocolError, match=says):
        protocol.parse_session(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"id": "8", "requirements": [], "constraints": []}', "says its id is `8`"),
        ('{"id": 7, "requirements": [], "constraints": []}', "must be str"),
        ('{"id": "7", "requirements": "foo", "constraints": []}', "must be list"),
        ('{"id": "7", "requirements": []}', "no `constraints`"),
        ("[]", "no `id`"),
        ('{"id": "7", "requirements": [], "constraints": [], "extras": []}', "unknown fields"),
    ],
)
def test_bad_requests(text, says):
    with pytest.raises(protocol.ProtocolError, match=says):
        protocol.parse_request("7", text)
