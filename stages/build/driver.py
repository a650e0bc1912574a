"""offline-build build driver: runs INSIDE one locked-down build container (network none).

It owns one package's build: make a venv, unpack the pinned build-requirement wheels (only the
files the orchestrator mounted, all built by offline-build), extract the verified sdist at a
fixed path, and call the backend's PEP 517 hooks. The orchestrator validates whatever lands in
the output directory; nothing this script prints is trusted for security decisions.

Invoked as `python3 -c <this file> <job json>`; the job fields are documented in
crates/ob-build/src/driver.rs. Resolve runs this same driver for its verification builds and
adds four optional fields: `deny_network` (no network socket for anything the build starts, by a
seccomp filter), `venv` (its own venv path, so that builds can run side by side),
`audit` (a hook that refuses network access instead of only reporting it) and `mode`
(`requires`: stop after reporting the build requirements; `metadata`: prepare the metadata
instead of building, when the backend can; `build`, the default).
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
if job.get("audit"):
    # Resolve's verification builds: refuse (not only report) any address but loopback.
    with open(job["audit"]) as f:
        exec(compile(f.read(), job["audit"], "exec"), {"__name__": "offline_build_audit"})
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
# Resolve reads this line to learn the dynamic build requirements; the build stage ignores it.
wanted = list(get_requires(None)) if get_requires is not None else []
print(f"{MARK} build-requirements {json.dumps(wanted)}", flush=True)
if wanted:
    import platform
    import re
    from importlib import metadata

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    MARKER_ENV = {
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "implementation_version": platform.python_version(),
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_system": platform.system(),
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_version": platform.version(),
        "implementation_name": sys.implementation.name,
        "platform_python_implementation": platform.python_implementation(),
        "extra": "",  # a build asks for no extras of its requirements
    }
    TOKEN = re.compile(r"\s*(\(|\)|'[^']*'|\"[^\"]*\"|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|[A-Za-z_][A-Za-z0-9_.]*)")

    def version_key(text):
        return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[.+-]", text))

    def evaluate_marker(text):
        """PEP 508 markers without `packaging` (not in the build environment). None: unknown."""
        tokens, position = [], 0
        while position < len(text.rstrip()):
            match = TOKEN.match(text, position)
            if not match:
                return None
            tokens.append(match.group(1))
            position = match.end()

        def value(token):
            if token[0] in "'\"":
                return token[1:-1]
            if token not in MARKER_ENV:
                raise ValueError(token)
            return MARKER_ENV[token]

        def compare(left, op, right):
            if op in ("in", "not in") or re.sub(r"\s+", " ", op) in ("not in",):
                found = left in right
                return found if op == "in" else not found
            if op == "===":
                return left == right
            numeric = re.fullmatch(r"[0-9.]+", left) and re.fullmatch(r"[0-9.*]+", right)
            if not numeric:
                return {"==": left == right, "!=": left != right}.get(op)
            if right.endswith(".*"):
                prefix = version_key(right[:-2])
                same = version_key(left)[: len(prefix)] == prefix
                return same if op == "==" else not same
            a, b = version_key(left), version_key(right)
            width = max(len(a), len(b))
            a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
            if op == "~=":
                return a >= b and a[: len(version_key(right)) - 1] == b[: len(version_key(right)) - 1]
            return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

        def parse_or(index):
            result, index = parse_and(index)
            while index < len(tokens) and tokens[index] == "or":
                right, index = parse_and(index + 1)
                result = result or right
            return result, index

        def parse_and(index):
            result, index = parse_atom(index)
            while index < len(tokens) and tokens[index] == "and":
                right, index = parse_atom(index + 1)
                result = result and right
            return result, index

        def parse_atom(index):
            if tokens[index] == "(":
                result, index = parse_or(index + 1)
                return result, index + 1
            left, op, right = tokens[index : index + 3]
            op = re.sub(r"\s+", " ", op)
            outcome = compare(value(left), op, value(right))
            if outcome is None:
                raise ValueError(op)
            return outcome, index + 3

        try:
            result, end = parse_or(0)
            return result if end == len(tokens) else None
        except (ValueError, IndexError, KeyError):
            return None

    installed = {norm(d.metadata["Name"]) for d in metadata.distributions()}
    missing = []
    for requirement in wanted:
        text, _, marker = requirement.partition(";")
        if marker.strip():
            applies = evaluate_marker(marker.strip())
            if applies is None:
                print(f"{MARK} cannot evaluate the marker of {requirement!r}; assuming it applies", file=sys.stderr)
            elif not applies:
                continue
        name = norm(re.split(r"[\s\[<>=!~(@]", text.strip(), maxsplit=1)[0])
        if name not in installed:
            missing.append(requirement.strip())
    if missing:
        print(
            f"{MARK} missing-build-requirement {' | '.join(missing)} "
            "(asked for by get_requires_for_build_wheel, not in the lock's build-requires)",
            file=sys.stderr,
        )
        sys.exit(3)

mode = job.get("mode", "build")
if mode == "requires":
    sys.exit(0)
if mode == "metadata":
    prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if prepare is not None:
        print(f"{MARK} metadata {prepare(job['out'])}", flush=True)
        sys.exit(0)
    # PEP 517: without the metadata hook, a frontend builds the wheel and reads its metadata.
filename = backend.build_wheel(job["out"])
print(f"{MARK} built {filename}", flush=True)
'''


def log(message):
    print(f"{MARK} {message}", flush=True)


# Linux: seccomp_data offsets, BPF opcodes, return actions, and per-architecture numbers.
AUDIT_ARCHES = {
    # machine: (AUDIT_ARCH_*, __NR_socket, __NR_io_uring_setup, whether x32 numbers exist,
    #           __NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_pidfd_getfd)
    "x86_64": (0xC000003E, 41, 425, True, 101, 310, 311, 438),
    "aarch64": (0xC00000B7, 198, 425, False, 117, 270, 271, 438),
}
LD_ABS_W, JEQ_K, JSET_K, RET_K = 0x20, 0x15, 0x45, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
EACCES, ENOSYS = 13, 38
AF_UNIX, AF_NETLINK = 1, 16


def deny_network():
    """Makes this process and everything it starts unable to open a network socket (anything
    but AF_UNIX and AF_NETLINK) or to reach into other processes: a seccomp filter, which no
    child can lift. Resolve asks for it, because its container can reach the index proxy, and
    the audit hook that refuses the network to Python code cannot stop a program a build starts
    (bash's /dev/tcp, curl, cargo) or Python code that calls libc through ctypes. Raises OSError
    where it cannot be done."""
    import ctypes
    import platform

    machine = platform.machine()
    if machine not in AUDIT_ARCHES:
        raise OSError(f"no seccomp filter for the {machine} architecture")
    arch, nr_socket, nr_io_uring_setup, has_x32, *nr_reach_others = AUDIT_ARCHES[machine]
    # (label, opcode, jump-if-true label, jump-if-false label, k); labels become offsets below.
    program = [
        ("arch", LD_ABS_W, None, None, 4),
        (None, JEQ_K, "nr", "deny", arch),  # another ABI (i386 on x86_64): nothing at all
        ("nr", LD_ABS_W, None, None, 0),
        *([(None, JSET_K, "deny", None, 0x40000000)] if has_x32 else []),
        # No reaching into another process of the container (the driver and pip are not
        # filtered): no ptrace, no reading or writing its memory, no taking its descriptors.
        *[(None, JEQ_K, "deny", None, nr) for nr in nr_reach_others],
        ("socket?", JEQ_K, "domain", "uring?", nr_socket),
        # io_uring can open sockets without the socket system call.
        ("uring?", JEQ_K, "nosys", "allow", nr_io_uring_setup),
        ("domain", LD_ABS_W, None, None, 16),  # args[0], low 32 bits: what the kernel reads
        (None, JEQ_K, "allow", "netlink?", AF_UNIX),
        ("netlink?", JEQ_K, "allow", "deny", AF_NETLINK),
        ("allow", RET_K, None, None, RET_ALLOW),
        ("deny", RET_K, None, None, RET_ERRNO | EACCES),
        ("nosys", RET_K, None, None, RET_ERRNO | ENOSYS),
    ]
    where = {label: index for index, (label, *_) in enumerate(program) if label}

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    filters = (SockFilter * len(program))()
    for index, (_, code, if_true, if_false, k) in enumerate(program):
        # A missing label means the next instruction.
        jump = lambda label: 0 if label is None else where[label] - index - 1  # noqa: E731
        filters[index] = SockFilter(code, jump(if_true), jump(if_false), k)
    fprog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    for args in ((PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                 (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0)):
        if libc.prctl(*[ctypes.c_ulong(arg) for arg in args]) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl{args[:2]}: {os.strerror(errno)}")


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
    # Beside the source directory, so that builds of other packages can extract at the same time.
    staging = source_dir + ".extract"
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
        # stdout and stderr share one pipe (see main): unbuffered, a traceback lands after the
        # output printed before it, not ahead of a buffer that is flushed only at exit.
        "PYTHONUNBUFFERED": "1",
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
    # Docker carries stdout and stderr in two pipes and loses their relative order. A backend's
    # traceback (stderr) must stay after the output that came before it (stdout), or the log's
    # tail shown with a failure can miss the very error it is there to show: one pipe for both.
    sys.stderr.flush()
    os.dup2(sys.stdout.fileno(), sys.stderr.fileno())
    job = json.loads(sys.argv[1])
    if job.get("deny_network"):
        try:
            deny_network()
        except OSError as error:
            raise SystemExit(f"{MARK} network-filter {error}")
    started = time.monotonic()
    log(f"building {job['name']} {job['version']} with Python {sys.version.split()[0]}")
    # Resolve runs several verification builds at once, each with a venv of its own.
    env = job.get("venv", "/tmp/venv")
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
        [python, "-P", "-c", HOOK_RUNNER,
         json.dumps({"out": job["out"], "audit": job.get("audit"), "mode": job.get("mode", "build")})],
        cwd=source_dir,
        env=build_environment(job, env, source_dir),
    )
    if runner.returncode != 0:
        log(f"build failed with exit status {runner.returncode}")
        sys.exit(1)
    log(f"done in {time.monotonic() - started:.2f}s")


if __name__ == "__main__":
    main()
