"""Extracting the sdist: one top-level directory, nothing outside the tree, modes kept."""

import os
import stat

import pytest

from build.sdist import SdistError, extract_sdist

from .support import write_tar, write_zip


def test_extracts_the_top_directory_at_the_source_path(tmp_path):
    sdist = write_tar(
        tmp_path / "demo-1.0.tar.gz",
        {
            "demo-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
            "demo-1.0/pyproject.toml": b"[project]\nname = 'demo'\n",
            "demo-1.0/tools/run.sh": (b"#!/bin/sh\n", 0o755),
        },
    )
    source_dir = str(tmp_path / "src" / "demo-1.0")
    extract_sdist(str(sdist), source_dir)
    assert sorted(os.listdir(source_dir)) == ["PKG-INFO", "pyproject.toml", "tools"]
    # Modes survive (the reason for extracting without chown).
    assert stat.S_IMODE(os.stat(os.path.join(source_dir, "tools", "run.sh")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.join(source_dir, "PKG-INFO")).st_mode) == 0o644
    # The staging directory is gone.
    assert os.listdir(tmp_path / "src") == ["demo-1.0"]


def test_extracts_a_zip_sdist(tmp_path):
    sdist = write_zip(tmp_path / "demo-1.0.zip", {"demo-1.0/PKG-INFO": b"Name: demo\n"})
    source_dir = str(tmp_path / "src" / "demo-1.0")
    extract_sdist(str(sdist), source_dir)
    assert os.listdir(source_dir) == ["PKG-INFO"]


@pytest.mark.parametrize(
    "members",
    [
        {"demo-1.0/PKG-INFO": b"", "other-1.0/PKG-INFO": b""},
        {"demo-1.0/PKG-INFO": b"", "setup.py": b""},
        {"PKG-INFO": b""},
    ],
)
def test_requires_exactly_one_top_directory(tmp_path, members):
    sdist = write_tar(tmp_path / "demo-1.0.tar.gz", members)
    with pytest.raises(SdistError, match="exactly one top-level directory"):
        extract_sdist(str(sdist), str(tmp_path / "src" / "demo-1.0"))


@pytest.mark.parametrize(
    "members",
    [
        {"demo-1.0/PKG-INFO": b"", "demo-1.0/../../escaped": b"x"},
        {"demo-1.0/PKG-INFO": b"", "/tmp/escaped-absolute": b"x"},
        {"demo-1.0/PKG-INFO": b"", "demo-1.0/link": ("symlink", "/etc/passwd")},
        {"demo-1.0/PKG-INFO": b"", "demo-1.0/link": ("symlink", "../../escaped")},
    ],
    ids=["dotdot", "absolute", "absolute-symlink", "escaping-symlink"],
)
def test_refuses_a_tar_member_that_escapes(tmp_path, members):
    sdist = write_tar(tmp_path / "demo-1.0.tar.gz", members)
    with pytest.raises(SdistError):
        extract_sdist(str(sdist), str(tmp_path / "src" / "demo-1.0"))
    assert not (tmp_path / "escaped").exists()


def test_refuses_a_zip_member_that_escapes(tmp_path):
    sdist = write_zip(tmp_path / "demo-1.0.zip", {"demo-1.0/PKG-INFO": b"", "demo-1.0/../../escaped": b"x"})
    with pytest.raises(SdistError, match="unsafe archive member"):
        extract_sdist(str(sdist), str(tmp_path / "src" / "demo-1.0"))
    assert not (tmp_path / "escaped").exists()


def test_refuses_a_member_that_is_in_the_archive_twice(tmp_path):
    # The host reads the first PKG-INFO, extraction would keep the second: refused, not chosen.
    sdist = write_tar(
        tmp_path / "demo-1.0.tar.gz",
        [
            ("demo-1.0/PKG-INFO", b"Name: demo\nRequires-Dist: idna\n"),
            ("demo-1.0/setup.py", b""),
            ("./demo-1.0/PKG-INFO", b"Name: demo\nRequires-Dist: evil\n"),
        ],
    )
    with pytest.raises(SdistError, match="twice"):
        extract_sdist(str(sdist), str(tmp_path / "src" / "demo-1.0"))
    assert not (tmp_path / "src" / "demo-1.0").exists()
