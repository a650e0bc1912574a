"""Which member names of an archive (a wheel, a zip sdist) we are willing to write to disk."""


class UnsafeMember(ValueError):
    """An archive member whose name would land outside the directory it is unpacked into."""


def check_member(name):
    """Returns `name` when it is a plain relative path; raises UnsafeMember otherwise.

    The orchestrator validated every wheel already and a tar sdist goes through tarfile's 'data'
    filter; this refuses anything odd again, cheaply, before a single file is written."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "\\" in name or "\0" in name:
        raise UnsafeMember(f"unsafe archive member {name!r}")
    return name
