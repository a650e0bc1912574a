"""The build venv: created without pip, then our build-requirement wheels unpacked into it the way
an installer would (purelib/platlib, `.data` schemes, `#!python` scripts, console_scripts
wrappers), without running any code from them.
"""

import os
import re
import shutil
import sysconfig
import venv
import zipfile

from .archives import check_member

# A console script's name becomes a file in bin/, its target Python source in the wrapper.
_SCRIPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class WheelError(ValueError):
    """A wheel we refuse to unpack."""


def venv_paths(path):
    """(interpreter, site-packages) of the venv at `path`."""
    # The `venv` scheme, not the default: Debian's default points at /usr/local-style paths.
    purelib = sysconfig.get_path("purelib", scheme="venv", vars={"base": path, "platbase": path})
    return os.path.join(path, "bin", "python"), purelib


def make_venv(path):
    """Creates the venv: no pip and no system site-packages, so that it holds the stdlib and our
    wheels only. Returns venv_paths(path)."""
    venv.EnvBuilder(with_pip=False, symlinks=True, system_site_packages=False).create(path)
    return venv_paths(path)


def install_wheel(wheel, venv_dir, site_packages, python):
    """Unpacks `wheel` into the venv. Every member name is checked before anything is written."""
    bin_dir = os.path.join(venv_dir, "bin")
    schemes = {
        "purelib": site_packages,
        "platlib": site_packages,
        "scripts": bin_dir,
        "headers": os.path.join(venv_dir, "include"),
        "data": venv_dir,
    }
    with zipfile.ZipFile(wheel) as archive:
        infos = archive.infolist()
        for info in infos:
            check_member(info.filename)
        names = [info.filename for info in infos]
        data_dir = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".data")), None)
        for info in infos:
            if info.is_dir():
                continue
            name = info.filename
            target_root, relative = site_packages, name
            if data_dir and name.startswith(data_dir + "/"):
                _, scheme, *rest = name.split("/")
                relative = "/".join(rest)
                target_root = schemes.get(scheme)
                if target_root is None or not relative:
                    continue
            target = os.path.join(target_root, relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            mode = (info.external_attr >> 16) & 0o777
            if target_root == bin_dir:
                fix_script(target, python)
                mode |= 0o755
            if mode:
                os.chmod(target, mode | 0o600)
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        if entry_points:
            write_console_scripts(archive.read(entry_points).decode(), bin_dir, python)


def fix_script(path, python):
    """Points a `#!python` script at the venv's interpreter, as installers do."""
    with open(path, "rb") as f:
        content = f.read()
    match = re.match(rb"#!pythonw?(?=\s)", content)
    if match:
        with open(path, "wb") as f:
            f.write(b"#!" + python.encode() + content[match.end() :])


def console_scripts(text):
    """[(name, module, attribute)] of the `console_scripts` section of an entry_points.txt."""
    section, scripts = None, []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
            continue
        if section != "console_scripts" or "=" not in line:
            continue
        name, _, target = (part.strip() for part in line.partition("="))
        # `module:attribute [extra]`: the extras are not ours to check.
        module, _, attribute = target.split()[0].partition(":") if target else ("", "", "")
        if not _SCRIPT_NAME.fullmatch(name):
            raise WheelError(f"console script name {name!r} is not a plain file name")
        if not (_DOTTED.fullmatch(module) and _DOTTED.fullmatch(attribute)):
            raise WheelError(f"console script {name!r} has the target {target!r}, not module:attribute")
        scripts.append((name, module, attribute))
    return scripts


def write_console_scripts(text, bin_dir, python):
    # Build tools are sometimes run as commands (cython, meson); an installer makes these wrappers.
    for name, module, attribute in console_scripts(text):
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write(
                f"#!{python}\nimport sys\nfrom {module} import {attribute.split('.')[0]}\n"
                f"sys.exit({attribute}())\n"
            )
        os.chmod(path, 0o755)
