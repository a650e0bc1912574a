"""The relay against a unix-socket server in the test's directory. Socket timeouts only guard
against a hang; no assertion depends on timing."""

import socket
import threading

import pytest

from resolve.relay import Relay


@pytest.fixture
def upstream(tmp_path):
    """A unix-socket server that reads until EOF, then answers with what it read, reversed."""
    path = str(tmp_path / "index.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                received = b""
                while chunk := connection.recv(65536):
                    received += chunk
                connection.sendall(received[::-1])

    threading.Thread(target=serve, daemon=True).start()
    yield path
    server.close()


def exchange(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def test_bytes_go_both_ways_and_half_closes_pass_through(upstream):
    relay = Relay(upstream)
    try:
        assert relay.index_url == f"http://127.0.0.1:{relay.port}/simple/"
        request = b"GET /simple/idna/ HTTP/1.1\r\n\r\n"
        assert exchange(relay.port, request) == request[::-1]
        big = bytes(range(256)) * 4096
        assert exchange(relay.port, big) == big[::-1]
    finally:
        relay.close()


def test_connections_are_independent(upstream):
    relay = Relay(upstream)
    try:
        answers = {}
        threads = [
            threading.Thread(target=lambda n=n: answers.__setitem__(n, exchange(relay.port, b"%d" % n)))
            for n in range(100, 120)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == {n: (b"%d" % n)[::-1] for n in range(100, 120)}
    finally:
        relay.close()


def test_a_missing_socket_closes_the_connection(tmp_path):
    relay = Relay(str(tmp_path / "absent.sock"))
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as client:
            try:
                client.sendall(b"GET / HTTP/1.1\r\n\r\n")
                assert client.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        relay.close()
