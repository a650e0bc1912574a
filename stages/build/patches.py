"""Applying the user's patches to the extracted source tree, in order, before any hook runs.

GNU patch from the builder image does the work. The tree is the sdist's and may hold symlinks:
patch refuses to write through one, and it is never given --follow-symlinks.
"""

import shutil
import subprocess

# Where patch is looked for, and all it sees of an environment: the caller's PATCH_GET,
# VERSION_CONTROL, POSIXLY_CORRECT and the like change what patch does.
PATCH_ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
NO_PATCH = "the builder image has no `patch`; remake it with `offline-build image create`"


class PatchError(Exception):
    """A patch that could not be applied; the message says which, with patch's own output."""


def patch_command(program, source_dir, patch_file):
    """patch's command line for one patch file."""
    return [
        program,
        # `a/` and `b/` prefixes, as git and `diff -ru a b` write them.
        "-p1",
        # No questions: --batch alone would assume a reversed patch is meant reversed...
        "--batch",
        # ...so --forward makes a patch that is reversed or already applied a failure instead.
        "--forward",
        # No `.orig` or `.rej` files left in a tree the backend may pack.
        "--no-backup-if-mismatch",
        "--reject-file=-",
        # Never check a file out of RCS or SCCS (that runs their programs on the tree's files).
        "--get=0",
        "-d",
        source_dir,
        "-i",
        patch_file,
    ]


def failure_message(patch_file, returncode, output):
    """What the build log and the `failed` event say when `patch_file` did not apply."""
    how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
    return f"cannot apply {patch_file}: patch {how}:\n{output.rstrip()}"


def find_patch():
    """The patch program's path; raises PatchError when the image has none."""
    program = shutil.which("patch", path=PATCH_ENVIRONMENT["PATH"])
    if program is None:
        raise PatchError(NO_PATCH)
    return program


def apply_patch(program, source_dir, patch_file):
    """Applies `patch_file` to `source_dir`; returns patch's output (which files, which hunks
    needed fuzz). Raises PatchError when it does not apply."""
    try:
        result = subprocess.run(
            patch_command(program, source_dir, patch_file),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=PATCH_ENVIRONMENT,
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise PatchError(f"cannot apply {patch_file}: cannot run {program}: {error}") from None
    if result.returncode != 0:
        raise PatchError(failure_message(patch_file, result.returncode, result.stdout))
    return result.stdout


def apply_patches(patches, source_dir, log):
    """Applies `patches` to `source_dir` in order, passing patch's output and one line per
    patch to `log`; stops with PatchError at the first that does not apply."""
    if not patches:
        return
    program = find_patch()
    for patch_file in patches:
        output = apply_patch(program, source_dir, patch_file)
        for line in output.splitlines():
            log(f"  {line}")
        log(f"applied {patch_file}")
