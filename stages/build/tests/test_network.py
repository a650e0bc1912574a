"""Which audit events the hook runner reports as network attempts."""

import socket

import pytest

from build import hook_runner


class FakeSocket:
    def __init__(self, family):
        self.family = family


INET = FakeSocket(socket.AF_INET)
INET6 = FakeSocket(socket.AF_INET6)
UNIX = FakeSocket(socket.AF_UNIX)


@pytest.mark.parametrize(
    ("event", "args", "expected"),
    [
        ("socket.connect", (INET, ("203.0.113.7", 443)), ("socket.connect", "('203.0.113.7', 443)")),
        (
            "socket.connect",
            (INET6, ("2001:db8::1", 443, 0, 0)),
            ("socket.connect", "('2001:db8::1', 443, 0, 0)"),
        ),
        ("socket.sendto", (INET, ("198.51.100.2", 53)), ("socket.sendto", "('198.51.100.2', 53)")),
        ("socket.getaddrinfo", ("index.example", 443, 0, 0, 0), ("socket.getaddrinfo", "index.example")),
        (
            "socket.getaddrinfo",
            (b"files.example", 443, 0, 0, 0),
            ("socket.getaddrinfo", "files.example"),
        ),
        ("socket.gethostbyname", ("code.example",), ("socket.gethostbyname", "code.example")),
    ],
)
def test_reported(event, args, expected):
    assert hook_runner.network_attempt(event, args) == expected


@pytest.mark.parametrize(
    ("event", "args"),
    [
        ("socket.connect", (INET, ("127.0.0.1", 8080))),
        ("socket.connect", (INET, ("127.4.5.6", 8080))),
        ("socket.connect", (INET6, ("::1", 8080, 0, 0))),
        ("socket.connect", (INET, ("localhost", 8080))),
        ("socket.connect", (UNIX, "/run/some.sock")),
        ("socket.connect", (UNIX, b"\0abstract")),
        ("socket.sendmsg", (INET, None)),
        ("socket.getaddrinfo", (None, 80, 0, 0, 0)),
        ("socket.getaddrinfo", ("localhost", 80, 0, 0, 0)),
        ("socket.getaddrinfo", ("::1", 80, 0, 0, 0)),
        ("socket.bind", (INET, ("0.0.0.0", 0))),
        ("open", ("/etc/passwd", "r", 0)),
    ],
)
def test_not_reported(event, args):
    assert hook_runner.network_attempt(event, args) is None
