# offline-build resolve: network audit hook. Loaded into every Python process of the resolve
# container (through a .pth file, and explicitly by the driver's hook runner). It lets through
# loopback and the index proxy only; any other lookup or connection is refused BEFORE it happens
# (so not even a DNS query leaves) and recorded, naming the host and the package whose source
# tree the process runs in, so that resolve can say which package needs its network inputs vendored.
import sys as _ob_sys


def _ob_install_audit():
    import json
    import os

    allowed = {None, "localhost", "127.0.0.1", "::1", b"localhost", "ip6-localhost"}
    proxy = os.environ.get("OB_ALLOW_HOST")
    if proxy:
        allowed.add(proxy)
    log_path = os.environ.get("OB_NETWORK_LOG", "/tmp/ob-network.jsonl")

    def package_here():
        # Build hooks run with the sdist's top directory as working directory.
        directory = os.getcwd()
        for _ in range(4):
            pkg_info = os.path.join(directory, "PKG-INFO")
            if os.path.isfile(pkg_info):
                try:
                    with open(pkg_info, encoding="utf-8", errors="replace") as f:
                        for line in f:
                            if line.lower().startswith("name:"):
                                return line.split(":", 1)[1].strip()
                except OSError:
                    return None
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        return None

    def refuse(host, port):
        try:
            record = {"host": str(host), "port": port, "package": package_here(), "cwd": os.getcwd()}
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except Exception:
            pass
        raise OSError(f"offline-build: network access to {host}:{port} refused during resolve")

    def hook(event, args):
        if event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            if host not in allowed:
                refuse(host, args[1])
        elif event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and address and address[0] not in allowed:
                refuse(address[0], address[1] if len(address) > 1 else None)

    _ob_sys.addaudithook(hook)


if not getattr(_ob_sys, "_ob_audit_installed", False):
    _ob_sys._ob_audit_installed = True
    _ob_install_audit()
