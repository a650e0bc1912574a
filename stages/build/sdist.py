"""Extracting the verified sdist at its fixed source path.

Without chown and with tarfile's 'data' filter (no links, devices or paths out of the tree): as
root without capabilities tarfile fails to chown and then silently skips file modes, which
changes wheel hashes; as uid 65534 it cannot chown at all.
"""

import os
import tarfile
import zipfile

from .archives import UnsafeMember, check_member


class SdistError(ValueError):
    """An sdist we refuse to extract."""


def refuse_repeated(names):
    """Raises when a member path repeats: whichever copy a reader takes (resolve's host reads the
    first PKG-INFO, extraction keeps the last), another reader takes the other one."""
    seen = set()
    for name in names:
        path = os.path.normpath(name)
        if path in seen:
            raise UnsafeMember(f"`{name}` is in the archive twice")
        seen.add(path)


def extract_sdist(sdist, source_dir):
    """Extracts `sdist` and moves its one top-level directory to `source_dir`."""
    os.makedirs(os.path.dirname(source_dir), exist_ok=True)
    # Beside the source directory, so that the rename below stays on one file system.
    staging = source_dir + ".extract"
    try:
        if sdist.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                for name in archive.namelist():
                    check_member(name)
                refuse_repeated(archive.namelist())
                archive.extractall(staging)
        else:
            with tarfile.open(sdist) as archive:
                refuse_repeated(member.name for member in archive.getmembers() if not member.isdir())
                archive.extractall(staging, filter="data")
    except (UnsafeMember, tarfile.FilterError) as error:
        raise SdistError(f"{os.path.basename(sdist)}: {error}") from None
    entries = os.listdir(staging)
    if len(entries) != 1 or not os.path.isdir(os.path.join(staging, entries[0])):
        raise SdistError(
            f"{os.path.basename(sdist)} does not hold exactly one top-level directory: {sorted(entries)}"
        )
    os.rename(os.path.join(staging, entries[0]), source_dir)
    os.rmdir(staging)
