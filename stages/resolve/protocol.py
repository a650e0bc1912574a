"""The resolver session's protocol with the host: the session job, request files, result files
and event lines (documented in stages/protocol/README.md; the fixtures there are its examples).
Shapes are checked here, so that a malformed input fails with a message that names it.
"""

import json
import re
from dataclasses import dataclass

EVENT_PREFIX = "offline-build-event "
# Every error kind a result may carry.
ERROR_KINDS = ("no-sdist", "conflict", "archive-refused", "bad-requirement", "internal")


class ProtocolError(Exception):
    pass


_NORMALIZED_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True)
class Session:
    socket: str  # the index proxy's unix socket
    requests: str  # the directory the host writes requests into (read-only here)
    out: str  # results/ and logs/ go here
    jobs: int  # resolutions at once
    only_binary: tuple = ()  # normalized names pip may take only as wheels (`allow-binary`)


@dataclass(frozen=True)
class Request:
    id: str
    requirements: list
    constraints: list


def _field(document, key, kind, where):
    if not isinstance(document, dict) or key not in document:
        raise ProtocolError(f"{where} has no `{key}`")
    value = document[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"{where}: `{key}` must be {kind.__name__}, not {type(value).__name__}")
    return value


def _only(document, keys, where):
    unknown = sorted(set(document) - set(keys))
    if unknown:
        raise ProtocolError(f"{where} has unknown fields {unknown}")


def _load(text, where):
    try:
        return json.loads(text)
    except ValueError as error:
        raise ProtocolError(f"{where} is not JSON: {error}") from None


def parse_session(text):
    document = _load(text, "the session job")
    where = "the session job"
    jobs = _field(document, "jobs", int, where)
    if jobs < 1:
        raise ProtocolError(f"{where}: `jobs` must be at least 1, not {jobs}")
    _only(document, ("socket", "requests", "out", "jobs", "only_binary"), where)
    only_binary = _field(document, "only_binary", list, where) if "only_binary" in document else []
    for name in only_binary:
        # pip takes them as one comma-separated option value: plain normalized names only.
        if not isinstance(name, str) or not _NORMALIZED_NAME.fullmatch(name):
            raise ProtocolError(f"{where}: `only_binary` holds {name!r}, not a normalized project name")
    return Session(
        socket=_field(document, "socket", str, where),
        requests=_field(document, "requests", str, where),
        out=_field(document, "out", str, where),
        jobs=jobs,
        only_binary=tuple(only_binary),
    )


def parse_request(file_id, text):
    """The request in `<file_id>.json`. What the lists hold is `requirements.check`'s business:
    a bad item is the request's `bad-requirement` error, not a broken protocol."""
    where = f"request `{file_id}.json`"
    document = _load(text, where)
    request_id = _field(document, "id", str, where)
    if request_id != file_id:
        raise ProtocolError(f"{where} says its id is `{request_id}`")
    _only(document, ("id", "requirements", "constraints"), where)
    return Request(
        id=request_id,
        requirements=_field(document, "requirements", list, where),
        constraints=_field(document, "constraints", list, where),
    )


def ok_result(request_id, resolution):
    return {"id": request_id, **resolution}


def error_result(request_id, error, log):
    """`error` is {"kind", "package", "message", ...optional fields}; `log` is the request's log."""
    if error["kind"] not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {error['kind']!r}")
    return {"id": request_id, "error": {**error, "log": log}}


def internal(message, package=""):
    return {"kind": "internal", "package": package, "message": message}


def event_line(request_id):
    return EVENT_PREFIX + json.dumps({"event": "resolved", "id": request_id})
