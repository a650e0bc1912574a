"""Applying the user's patches with the real GNU patch: in order, each wholly or with a failure
that names it, and never through a symlink out of the sdist's tree."""

import os

import pytest

from build import patches
from build.patches import NO_PATCH, PatchError, apply_patches, failure_message, patch_command

from .support import needs_patch

SETUP = "from setuptools import setup\nsetup(name='demo', version='1.0')\n"
# What `git diff` writes: a/ and b/ prefixes, so -p1.
FIX_VERSION = """\
diff --git a/setup.py b/setup.py
--- a/setup.py
+++ b/setup.py
@@ -1,2 +1,2 @@
 from setuptools import setup
-setup(name='demo', version='1.0')
+setup(name='demo', version='1.0.post1')
"""
# Only applies on top of FIX_VERSION.
ADD_ZIP_SAFE = """\
--- a/setup.py
+++ b/setup.py
@@ -1,2 +1,2 @@
 from setuptools import setup
-setup(name='demo', version='1.0.post1')
+setup(name='demo', version='1.0.post1', zip_safe=False)
"""
NEW_FILE = """\
--- /dev/null
+++ b/demo/_patched.py
@@ -0,0 +1 @@
+PATCHED = True
"""


@pytest.fixture
def source_dir(tmp_path):
    """An extracted sdist's tree: setup.py and a package directory."""
    source = tmp_path / "src" / "demo-1.0"
    (source / "demo").mkdir(parents=True)
    (source / "setup.py").write_text(SETUP)
    (source / "demo" / "__init__.py").write_text("")
    return source


def write_patches(tmp_path, *texts):
    """The patch files, as the orchestrator mounts them: `<index>-<name>.patch`."""
    directory = tmp_path / "patches"
    directory.mkdir()
    paths = []
    for index, text in enumerate(texts):
        path = directory / f"{index}-fix.patch"
        path.write_text(text)
        paths.append(str(path))
    return paths


def tree(directory):
    """Every file under `directory`, as sorted relative paths."""
    return sorted(
        os.path.relpath(os.path.join(root, name), directory)
        for root, _, names in os.walk(directory)
        for name in names
    )


def test_the_command_line():
    assert patch_command("/usr/bin/patch", "/tmp/src/demo-1.0", "/in/patches/0-fix.patch") == [
        "/usr/bin/patch",
        "-p1",
        "--batch",
        "--forward",
        "--no-backup-if-mismatch",
        "--reject-file=-",
        "--get=0",
        "-d",
        "/tmp/src/demo-1.0",
        "-i",
        "/in/patches/0-fix.patch",
    ]


def test_the_failure_names_the_patch_and_keeps_patchs_output():
    output = "patching file setup.py\nHunk #1 FAILED at 1.\n1 out of 1 hunk FAILED\n"
    assert failure_message("/in/patches/0-fix.patch", 1, output) == (
        "cannot apply /in/patches/0-fix.patch: patch exited with status 1:\n"
        "patching file setup.py\nHunk #1 FAILED at 1.\n1 out of 1 hunk FAILED"
    )
    assert failure_message("/in/patches/0-fix.patch", -9, "").startswith(
        "cannot apply /in/patches/0-fix.patch: patch was killed by signal 9"
    )


@needs_patch
def test_applies_a_patch(tmp_path, source_dir):
    lines = []
    apply_patches(write_patches(tmp_path, FIX_VERSION + NEW_FILE), str(source_dir), lines.append)
    assert (source_dir / "setup.py").read_text() == SETUP.replace("'1.0'", "'1.0.post1'")
    assert (source_dir / "demo" / "_patched.py").read_text() == "PATCHED = True\n"
    assert "  patching file setup.py" in lines
    assert lines[-1] == f"applied {tmp_path / 'patches' / '0-fix.patch'}"


@needs_patch
def test_a_patch_that_does_not_apply_names_the_file(tmp_path, source_dir):
    [patch_file] = write_patches(tmp_path, ADD_ZIP_SAFE)
    with pytest.raises(PatchError) as raised:
        apply_patches([patch_file], str(source_dir), lambda line: None)
    message = str(raised.value)
    assert message.startswith(f"cannot apply {patch_file}: patch exited with status 1:\n")
    assert "1 out of 1 hunk FAILED" in message
    # Nothing changed, and neither a reject nor a backup is left for the backend to pack.
    assert (source_dir / "setup.py").read_text() == SETUP
    assert tree(source_dir) == ["demo/__init__.py", "setup.py"]


@needs_patch
def test_an_already_applied_patch_is_a_failure(tmp_path, source_dir):
    # --batch alone would take it for a reversed patch and undo it.
    (source_dir / "setup.py").write_text(SETUP.replace("'1.0'", "'1.0.post1'"))
    with pytest.raises(PatchError, match=r"0-fix\.patch"):
        apply_patches(write_patches(tmp_path, FIX_VERSION), str(source_dir), lambda line: None)
    assert (source_dir / "setup.py").read_text() == SETUP.replace("'1.0'", "'1.0.post1'")


@needs_patch
def test_patches_apply_in_the_order_given(tmp_path, source_dir):
    first, second = write_patches(tmp_path, FIX_VERSION, ADD_ZIP_SAFE)
    lines = []
    apply_patches([first, second], str(source_dir), lines.append)
    assert "zip_safe=False" in (source_dir / "setup.py").read_text()
    assert [line for line in lines if line.startswith("applied")] == [f"applied {first}", f"applied {second}"]


@needs_patch
def test_the_first_patch_that_does_not_apply_stops_the_rest(tmp_path, source_dir):
    first, second = write_patches(tmp_path, FIX_VERSION, ADD_ZIP_SAFE)
    with pytest.raises(PatchError) as raised:
        apply_patches([second, first], str(source_dir), lambda line: None)
    assert str(raised.value).startswith(f"cannot apply {second}:")
    assert (source_dir / "setup.py").read_text() == SETUP


@needs_patch
def test_does_not_write_through_a_symlink_out_of_the_tree(tmp_path, source_dir):
    # A hostile sdist's setup.py that points at a file outside: patch refuses it, and the
    # driver never passes --follow-symlinks.
    outside = tmp_path / "outside.py"
    outside.write_text(SETUP)
    (source_dir / "setup.py").unlink()
    (source_dir / "setup.py").symlink_to(outside)
    with pytest.raises(PatchError, match="not a regular file"):
        apply_patches(write_patches(tmp_path, FIX_VERSION), str(source_dir), lambda line: None)
    assert outside.read_text() == SETUP


def test_an_image_without_patch_says_how_to_remake_it(tmp_path, monkeypatch, source_dir):
    monkeypatch.setitem(patches.PATCH_ENVIRONMENT, "PATH", str(tmp_path / "empty"))
    with pytest.raises(PatchError) as raised:
        apply_patches(write_patches(tmp_path, FIX_VERSION), str(source_dir), lambda line: None)
    assert str(raised.value) == NO_PATCH
    # No patches, no patch program needed.
    apply_patches(None, str(source_dir), lambda line: None)
    apply_patches([], str(source_dir), lambda line: None)
