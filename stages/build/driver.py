"""offline-build build driver: runs INSIDE one locked-down build container (network none).

It owns one package's build: make a venv, unpack the pinned build-requirement wheels (only the
files the orchestrator mounted, all built by offline-build), extract the verified sdist at a
fixed path, and call the backend's PEP 517 hooks. The orchestrator validates whatever lands in
the output directory; nothing this script prints is trusted for security decisions.

Invoked as `python3 -c <this file> <job json>`; the job fields are documented in
crates/ob-build/src/driver.rs.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import venv
import zipfile

# Prefix of the lines the orchestrator looks for to explain a failure (never to decide trust).
MARK = "offline-build:"

# Runs inside the venv's interpreter, in the source tree: imports the backend and builds.
HOOK_RUNNER = r'''
import importlib, json, os, sys

MARK = "offline-build:"
job = json.loads(sys.argv[1])
# PEP 517: the source tree is not importable unless backend-path says so.
while "" in sys.path:
    sys.path.remove("")


def _audit(event, args):
    # Report every attempt to reach the network by its address. The container has no network,
    # so the attempt fails anyway; this only makes the failure explain itself.
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else args
        if isinstance(address, tuple) and address and address[0] in ("127.0.0.1", "::1"):
            return
        if isinstance(address, (str, bytes)):
            return  # AF_UNIX: local sockets are not the network
        print(f"{MARK} network-attempt {event} {address!r}", file=sys.stderr, flush=True)
    elif event == "socket.getaddrinfo":
        host = args[0]
        if host in (None, "localhost", "127.0.0.1", "::1", b"localhost"):
            return
        print(f"{MARK} network-attempt {event} {host!r}", file=sys.stderr, flush=True)


sys.addaudithook(_audit)

import tomllib

pyproject = {}
if os.path.exists("pyproject.toml"):
    with open("pyproject.toml", "rb") as f:
        pyproject = tomllib.load(f)
build_system = pyproject.get("build-system", {})
# PEP 517: without build-backend, behave like the legacy setuptools path.
backend_name = build_system.get("build-backend", "setuptools.build_meta:__legacy__")
for entry in reversed(build_system.get("backend-path", [])):
    path = os.path.realpath(entry)
    source = os.path.realpath(".")
    if os.path.commonpath([path, source]) != source:
        print(f"{MARK} backend-path {entry!r} leaves the source tree", file=sys.stderr)
        sys.exit(2)
    sys.path.insert(0, path)

module_name, _, attribute = backend_name.partition(":")
backend = importlib.import_module(module_name)
for part in filter(None, attribute.split(".")):
    backend = getattr(backend, part)

get_requires = getattr(backend, "get_requires_for_build_wheel", None)
if get_requires is not None:
    wanted = get_requires(None)
    from importlib import metadata
    import re

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    installed = {norm(d.metadata["Name"]) for d in metadata.distributions()}
    missing = []
    for requirement in wanted:
        name = norm(re.split(r"[\s\[<>=!~;(@]", requirement.strip(), maxsplit=1)[0])
        if name not in installed:
            missing.append(requirement)
    if missing:
        print(
            f"{MARK} missing-build-requirement {', '.join(missing)} "
            "(asked for by get_requires_for_build_wheel, not in the lock's build-requires)",
            file=sys.stderr,
        )
        sys.exit(3)

filename = backend.build_wheel(job["out"])
print(f"{MARK} built {filename}", flush=True)
'''


def log(message):
    print(f"{MARK} {message}", flush=True)


def make_venv(path):
    # No pip and no system site-packages: the environment holds the stdlib and our wheels only.
    venv.EnvBuilder(with_pip=False, symlinks=True, system_site_packages=False).create(path)
    # The `venv` scheme, not the default: Debian's default points at /usr/local-style paths.
    purelib = sysconfig.get_path("purelib", scheme="venv", vars={"base": path, "platbase": path})
    return os.path.join(path, "bin", "python"), purelib


def safe_member(name):
    # The orchestrator validated every wheel already; refuse anything odd again, cheaply.
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or "\\" in name:
        raise SystemExit(f"{MARK} unsafe member {name!r}")
    return name


def install_wheel(wheel, env, site_packages, python):
    """Unpack a wheel into the venv the way an installer would, without running any code."""
    bin_dir = os.path.join(env, "bin")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        data_dir = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".data")), None)
        for info in archive.infolist():
            name = safe_member(info.filename)
            if info.is_dir():
                continue
            target_root, relative = site_packages, name
            if data_dir and name.startswith(data_dir + "/"):
                _, scheme, *rest = name.split("/")
                relative = "/".join(rest)
                target_root = {
                    "purelib": site_packages,
                    "platlib": site_packages,
                    "scripts": bin_dir,
                    "headers": os.path.join(env, "include"),
                    "data": env,
                }.get(scheme)
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
    with open(path, "rb") as f:
        content = f.read()
    if content.startswith(b"#!python"):
        content = b"#!" + python.encode() + content[len(b"#!python") :]
        with open(path, "wb") as f:
            f.write(content)


def write_console_scripts(text, bin_dir, python):
    # Build tools are sometimes run as commands (cython, meson); an installer makes these wrappers.
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section != "console_scripts" or "=" not in line:
            continue
        name, _, target = (part.strip() for part in line.partition("="))
        module, _, attribute = target.split()[0].partition(":")
        path = os.path.join(bin_dir, name)
        with open(path, "w") as f:
            f.write(
                f"#!{python}\nimport sys\nfrom {module} import {attribute.split('.')[0]}\n"
                f"sys.exit({attribute}())\n"
            )
        os.chmod(path, 0o755)


def extract_sdist(sdist, parent, source_dir):
    """Extract without chown and with the 'data' filter (no links or paths out of the tree)."""
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, ".extract")
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            for name in archive.namelist():
                safe_member(name)
            archive.extractall(staging)
    else:
        with tarfile.open(sdist) as archive:
            archive.extractall(staging, filter="data")
    entries = os.listdir(staging)
    if len(entries) != 1 or not os.path.isdir(os.path.join(staging, entries[0])):
        raise SystemExit(f"{MARK} the sdist does not hold exactly one top-level directory: {entries}")
    os.rename(os.path.join(staging, entries[0]), source_dir)
    os.rmdir(staging)


def build_environment(job, env, source_dir):
    python_cflags = sysconfig.get_config_var("CFLAGS") or ""
    prefix_map = f"-ffile-prefix-map={source_dir}={job['prefix_map_to']}"
    environment = {
        "PATH": f"{env}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "SOURCE_DATE_EPOCH": str(job["source_date_epoch"]),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "VIRTUAL_ENV": env,
        # setuptools >= 84 lets CFLAGS replace Python's own flags, so carry those (optimisation
        # included) and add the prefix map that keeps the temporary source path out of binaries.
        "CFLAGS": f"{python_cflags} {prefix_map}".strip(),
        "CXXFLAGS": f"{python_cflags} {prefix_map}".strip(),
        # Anything that still tries pip fails at once instead of retrying an unreachable index.
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    # HOME stays unset on purpose: nothing of a home directory belongs in a build.
    return environment


def main():
    job = json.loads(sys.argv[1])
    started = time.monotonic()
    log(f"building {job['name']} {job['version']} with Python {sys.version.split()[0]}")
    env = "/tmp/venv"
    python, site_packages = make_venv(env)
    for wheel in job["wheels"]:
        if os.path.dirname(os.path.realpath(wheel)) != job["wheels_dir"]:
            raise SystemExit(f"{MARK} refusing a wheel outside {job['wheels_dir']}: {wheel}")
        install_wheel(wheel, env, site_packages, python)
        log(f"installed {os.path.basename(wheel)}")
    source_dir = job["source_dir"]
    extract_sdist(job["sdist"], os.path.dirname(source_dir), source_dir)
    log(f"extracted {os.path.basename(job['sdist'])} at {source_dir}")
    runner = subprocess.run(
        [python, "-P", "-c", HOOK_RUNNER, json.dumps({"out": job["out"]})],
        cwd=source_dir,
        env=build_environment(job, env, source_dir),
    )
    if runner.returncode != 0:
        log(f"build failed with exit status {runner.returncode}")
        sys.exit(1)
    log(f"done in {time.monotonic() - started:.2f}s")


if __name__ == "__main__":
    main()
