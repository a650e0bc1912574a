"""A loopback TCP listener that relays every connection, byte for byte, to the index proxy's unix
socket: pip speaks HTTP to 127.0.0.1 and never knows that the index is a bind-mounted socket.

No HTTP is parsed here; what pip may ask and what it gets is the proxy's business.
"""

import socket
import threading

CHUNK = 64 * 1024


class Relay:
    """Listens on 127.0.0.1:<free port> from construction on; `port` says which."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    @property
    def index_url(self):
        return f"http://127.0.0.1:{self.port}/simple/"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._open, args=(client,), name="relay-open", daemon=True).start()

    def _open(self, client):
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.socket_path)
        except OSError:
            # pip sees a closed connection and reports it; there is nothing to relay to.
            upstream.close()
            client.close()
            return
        Connection(client, upstream).start()

    def close(self):
        self.listener.close()


class Connection:
    """One relayed connection: a thread per direction. A clean end of one direction is passed on
    as a half-close, so that HTTP/1.0-style "read until EOF" still works; an error in either
    direction ends both. The last direction to finish closes both sockets."""

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.lock = threading.Lock()
        self.running = 2

    def start(self):
        threading.Thread(target=self._copy, args=(self.client, self.upstream), daemon=True).start()
        threading.Thread(target=self._copy, args=(self.upstream, self.client), daemon=True).start()

    def _copy(self, source, destination):
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    destination.shutdown(socket.SHUT_WR)
                    break
                destination.sendall(data)
        except OSError:
            # Wakes the other direction's recv, so that it finishes too.
            for end in (self.client, self.upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self.client.close()
                self.upstream.close()
