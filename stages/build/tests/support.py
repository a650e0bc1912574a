"""Helpers for the build stage's host tests: the protocol fixtures, small archives, fixture sdists."""

import io
import json
import os
import pathlib
import shutil
import tarfile
import zipfile

import pytest

from build.patches import PATCH_ENVIRONMENT

STAGES = pathlib.Path(__file__).resolve().parents[2]
PROTOCOL = STAGES / "protocol"
FIXTURES = STAGES.parent / "fixtures" / "build"

# For tests that run the real GNU patch, which the builder image has and a host may not.
needs_patch = pytest.mark.skipif(
    shutil.which("patch", path=PATCH_ENVIRONMENT["PATH"]) is None,
    reason="GNU patch is not installed on this machine",
)


def protocol_job():
    """stages/protocol/build-job.json as a dict."""
    return json.loads((PROTOCOL / "build-job.json").read_text())


def protocol_events():
    """The lines of stages/protocol/build-events.jsonl, without their newlines."""
    return (PROTOCOL / "build-events.jsonl").read_text().splitlines()


def write_zip(path, members):
    """A zip at `path` of {name: bytes or (bytes, mode)}, names kept exactly as given."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            data, mode = content if isinstance(content, tuple) else (content, 0o644)
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, data)
    return path


def write_tar(path, members):
    """A .tar.gz at `path` of {name: bytes or (bytes, mode)} (or a list of such pairs, so a name
    can repeat); a value of ("symlink", target) makes a symbolic link."""
    pairs = members.items() if isinstance(members, dict) else members
    with tarfile.open(path, "w:gz") as archive:
        for name, content in pairs:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple) and content[0] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
                continue
            data, mode = content if isinstance(content, tuple) else (content, 0o644)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return path


def pack_sdist(directory, name, version, target_dir):
    """An sdist of a fixture tree: `<name>-<version>/` holding the tree and a PKG-INFO."""
    members = {
        f"{name}-{version}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    }
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file_name in sorted(files):
            path = os.path.join(root, file_name)
            relative = os.path.relpath(path, directory)
            members[f"{name}-{version}/{relative}"] = pathlib.Path(path).read_bytes()
    return write_tar(os.path.join(target_dir, f"{name}-{version}.tar.gz"), members)
