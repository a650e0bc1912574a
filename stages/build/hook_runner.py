"""offline-build hook runner: runs the build backend's PEP 517 hooks, inside the build venv.

Run by the driver as `<venv>/bin/python -P /ob/stage/build/hook_runner.py '<json>'` with the
source tree as its working directory; the JSON holds `out`, `mode` and `config_settings` (see
driver.py). It shares its interpreter with the third-party backend, so it is self-contained:
stdlib only, importing none of the driver's modules. It repeats the few protocol names it emits
from events.py (a test checks that they agree). Importable for tests: the pure helpers (marker
evaluation, requirement names, the missing check, addresses of audit events) are at module level.
"""

import importlib
import importlib.metadata
import ipaddress
import json
import os
import platform
import re
import socket
import sys
import tomllib
import traceback

# From events.py: only what this program emits.
EVENT_PREFIX = "offline-build-event "
BUILD_REQUIREMENTS = "build-requirements"
MISSING_BUILD_REQUIREMENTS = "missing-build-requirements"
NETWORK_ATTEMPT = "network-attempt"
METADATA = "metadata"
BUILT = "built"
FAILED = "failed"
PHASE_HOOKS = "hooks"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_MISSING_BUILD_REQUIREMENTS = 3

# Prefix of the human-readable lines.
MARK = "offline-build:"
# PEP 517/518: without build-backend, behave like the legacy setuptools path; without requires,
# build with setuptools (what resolve assumes too).
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]


class HookFailure(Exception):
    """The hooks cannot go on; the message becomes the `failed` event's."""


# -- events -------------------------------------------------------------------------------------

# A copy of stdout's descriptor taken before the backend is imported: a backend that redirects
# sys.stdout, or even descriptor 1, does not swallow the events. Not inherited by its children.
_event_fd = None


def event_line(kind, **fields):
    """Exactly events.event_line: compact, ASCII-only JSON in field order."""
    return EVENT_PREFIX + json.dumps({"event": kind, **fields}, separators=(",", ":"))


def emit(kind, **fields):
    line = event_line(kind, **fields) + "\n"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # whatever was printed before the event stays before it
        except Exception:
            pass
    if _event_fd is None:
        sys.stdout.write(line)
        sys.stdout.flush()
    else:
        os.write(_event_fd, line.encode())


def say(message):
    print(f"{MARK} {message}", file=sys.stderr, flush=True)


# -- network attempts ---------------------------------------------------------------------------

_LOCAL_FAMILIES = {getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name)}


def is_local_host(host):
    """Whether `host` (a name or an address, str or bytes) names this machine only."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or host == "":
        return True
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def network_attempt(event, args):
    """(operation, address) when the audit event `event` is an attempt to reach the network;
    None for everything else, loopback and local sockets (AF_UNIX, AF_NETLINK) included."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        if len(args) < 2 or args[1] is None:
            return None
        sock, address = args[0], args[1]
        if getattr(sock, "family", None) in _LOCAL_FAMILIES or isinstance(address, (str, bytes)):
            return None
        if isinstance(address, tuple) and address and isinstance(address[0], (str, bytes)):
            if is_local_host(address[0]):
                return None
        return event, repr(address)
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        host = args[0] if args else None
        if is_local_host(host):
            return None
        return event, host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    return None


_reported = set()


def _audit(event, args):
    # The container has no network, so the attempt fails anyway; this only makes the failure
    # explain itself. An audit hook must never raise: that would break the backend's own call.
    if not event.startswith("socket."):
        return
    try:
        attempt = network_attempt(event, args)
        if attempt is not None and attempt not in _reported:
            _reported.add(attempt)
            operation, address = attempt
            emit(NETWORK_ATTEMPT, operation=operation, address=address)
    except Exception:
        pass


# -- markers and requirements -------------------------------------------------------------------


def _full_version(info):
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment():
    """PEP 508's marker variables for this interpreter. `extra` is empty: a build asks for no
    extras of its requirements."""
    return {
        "os_name": os.name,
        "sys_platform": sys.platform,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "python_full_version": platform.python_version(),
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "extra": "",
    }


_TOKEN = re.compile(
    r"""\s*(\(|\)|'[^']*'|"[^"]*"|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|[A-Za-z_][A-Za-z0-9_.]*)"""
)
_OPERATORS = {"===", "==", "!=", "<=", ">=", "~=", "<", ">", "in", "not in"}
_RELEASE = re.compile(r"[0-9]+(\.[0-9]+)*")


class _Unparsable(Exception):
    pass


def _compare(left, op, right):
    """One marker comparison: True, False or None (undefined, e.g. `<` between pre-releases)."""
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    if op == "===":
        return left == right
    wildcard = op in ("==", "!=") and right.endswith(".*")
    right_release = right[:-2] if wildcard else right
    if _RELEASE.fullmatch(left) and _RELEASE.fullmatch(right_release):
        a = [int(part) for part in left.split(".")]
        b = [int(part) for part in right_release.split(".")]
        if wildcard:
            same = (a + [0] * len(b))[: len(b)] == b
            return same if op == "==" else not same
        prefix = b[:-1]  # `~=`: the release must start like the right side but for its last part
        if op == "~=" and not prefix:
            return None  # PEP 440: `~=` needs at least two release segments
        width = max(len(a), len(b))
        a, b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
        if op == "~=":
            return a >= b and a[: len(prefix)] == prefix
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if wildcard or op == "~=":
        return None
    if op in ("==", "!="):
        return (left == right) == (op == "==")
    # PEP 508: without PEP 440 semantics, Python's own operator. Not for things that look like
    # versions (3.13.0rc1), where string order would be wrong: those stay undefined.
    if left[:1].isdigit() or right[:1].isdigit():
        return None
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _all(values):
    # Three-valued `and`: one False decides, otherwise one unknown makes it unknown.
    return False if False in values else None if None in values else True


def _any(values):
    return True if True in values else None if None in values else False


def evaluate_marker(text, environment):
    """PEP 508 marker `text` in `environment` (marker_environment()): True, False, or None when it
    cannot be evaluated (unknown variable, undefined comparison, syntax error). Written without
    `packaging`, which is not in the build environment."""
    tokens, position, end = [], 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if not match:
            return None
        tokens.append(re.sub(r"\s+", " ", match.group(1)))
        position = match.end()

    def value(token):
        if token[0] in "'\"":
            return token[1:-1]
        if token in environment:
            return environment[token]
        raise KeyError(token)

    def parse_or(index):
        results = []
        while True:
            result, index = parse_and(index)
            results.append(result)
            if index < len(tokens) and tokens[index] == "or":
                index += 1
                continue
            return _any(results), index

    def parse_and(index):
        results = []
        while True:
            result, index = parse_atom(index)
            results.append(result)
            if index < len(tokens) and tokens[index] == "and":
                index += 1
                continue
            return _all(results), index

    def parse_atom(index):
        if index >= len(tokens):
            raise _Unparsable()
        if tokens[index] == "(":
            result, index = parse_or(index + 1)
            if index >= len(tokens) or tokens[index] != ")":
                raise _Unparsable()
            return result, index + 1
        if index + 3 > len(tokens) or tokens[index + 1] not in _OPERATORS:
            raise _Unparsable()
        left, op, right = tokens[index : index + 3]
        if left in _OPERATORS or right in _OPERATORS or "(" in (left, right) or ")" in (left, right):
            raise _Unparsable()
        try:
            outcome = _compare(value(left), op, value(right))
        except KeyError:
            outcome = None  # a variable we do not know
        return outcome, index + 3

    try:
        result, index = parse_or(0)
    except _Unparsable:
        return None
    return result if index == len(tokens) else None


def normalize(name):
    """PEP 503 normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def requirement_name(requirement):
    """The normalized distribution name a PEP 508 requirement string starts with, or None."""
    match = _NAME.match(requirement)
    return normalize(match.group(1)) if match else None


def missing_requirements(requirements, installed, environment):
    """(missing, unknown): the requirements whose distribution is not in `installed` (normalized
    names) and whose marker applies, and those whose marker could not be evaluated (assumed to
    apply, so they are in `missing` too when not installed)."""
    missing, unknown = [], []
    for requirement in requirements:
        text, _, marker = requirement.partition(";")
        if marker.strip():
            applies = evaluate_marker(marker.strip(), environment)
            if applies is None:
                unknown.append(requirement.strip())
            elif not applies:
                continue
        if requirement_name(text) not in installed:
            missing.append(requirement.strip())
    return missing, unknown


def installed_distributions():
    """Normalized names of the distributions this interpreter sees (the venv's)."""
    names = set()
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            names.add(normalize(name))
    return names


# -- the backend --------------------------------------------------------------------------------


def read_build_system(source):
    path = os.path.join(source, "pyproject.toml")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f).get("build-system", {})
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise HookFailure(f"cannot read pyproject.toml: {error}") from None


def backend_paths(build_system, source):
    """The `backend-path` entries as absolute paths; each must stay inside the source tree."""
    source = os.path.realpath(source)
    entries = build_system.get("backend-path", [])
    if not _strings(entries):
        raise HookFailure(f"pyproject.toml: backend-path must be a list of strings, not {entries!r}")
    paths = []
    for entry in entries:
        path = os.path.realpath(os.path.join(source, entry))
        if os.path.commonpath([path, source]) != source:
            raise HookFailure(f"backend-path {entry!r} leaves the source tree")
        paths.append(path)
    return paths


def _call(what, function, *args):
    """function(*args); anything it raises (SystemExit too) is shown by its traceback and ends
    the hooks."""
    try:
        return function(*args)
    except BaseException as error:
        traceback.print_exc()
        raise HookFailure(f"{what} raised {type(error).__name__}: {error}") from None


def load_backend(spec):
    module_name, _, attribute = spec.partition(":")
    backend = _call(f"importing the backend `{module_name}`", importlib.import_module, module_name.strip())
    for part in filter(None, attribute.strip().split(".")):
        backend = getattr(backend, part, None)
        if backend is None:
            raise HookFailure(f"the backend `{spec}` has no attribute `{part}`")
    return backend


def _report_missing(requirements, asked_by):
    """Emits missing-build-requirements when some of `requirements` are not installed; returns
    whether it did."""
    if not requirements:
        return False
    missing, unknown = missing_requirements(requirements, installed_distributions(), marker_environment())
    for requirement in unknown:
        say(f"cannot evaluate the marker of {requirement!r}; assuming it applies")
    if not missing:
        return False
    say(f"missing build requirements: {' | '.join(missing)} (asked for by {asked_by}, not in the venv)")
    emit(MISSING_BUILD_REQUIREMENTS, requirements=missing)
    return True


def _strings(value):
    return isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value)


def run(out, mode, config_settings):
    """The hooks for `mode`; returns the exit code."""
    build_system = read_build_system(".")
    spec = build_system.get("build-backend", DEFAULT_BACKEND)
    static = build_system.get("requires", DEFAULT_REQUIRES)
    if not _strings(static) or not isinstance(spec, str):
        raise HookFailure(
            "pyproject.toml: [build-system] needs `requires` strings and a `build-backend` string"
        )
    # Before the backend is imported: a build environment without its backend says so by name,
    # not by an ImportError.
    if _report_missing(list(static), "[build-system].requires"):
        return EXIT_MISSING_BUILD_REQUIREMENTS
    # PEP 517: the source tree is importable only through backend-path.
    while "" in sys.path:
        sys.path.remove("")
    sys.path[:0] = backend_paths(build_system, ".")
    backend = load_backend(spec)

    get_requires = getattr(backend, "get_requires_for_build_wheel", None)
    wanted = []
    if get_requires is not None:
        wanted = _call("get_requires_for_build_wheel", get_requires, config_settings)
        if not _strings(wanted):
            raise HookFailure(f"get_requires_for_build_wheel returned {wanted!r}, not a list of strings")
        wanted = list(wanted)
    emit(BUILD_REQUIREMENTS, requirements=wanted)
    if _report_missing(wanted, "get_requires_for_build_wheel"):
        return EXIT_MISSING_BUILD_REQUIREMENTS
    if mode == "requires":
        return EXIT_OK
    if mode == "metadata":
        prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
        if prepare is not None:
            directory = _call("prepare_metadata_for_build_wheel", prepare, out, config_settings)
            if not isinstance(directory, str):
                raise HookFailure(f"prepare_metadata_for_build_wheel returned {directory!r}, not a name")
            emit(METADATA, directory=directory)
            return EXIT_OK
        # PEP 517: without the metadata hook, a frontend builds the wheel and reads its metadata.
    build_wheel = getattr(backend, "build_wheel", None)
    if build_wheel is None:
        raise HookFailure(f"the backend `{spec}` has no build_wheel hook")
    wheel = _call("build_wheel", build_wheel, out, config_settings)
    if not isinstance(wheel, str):
        raise HookFailure(f"build_wheel returned {wheel!r}, not a file name")
    emit(BUILT, wheel=wheel)
    return EXIT_OK


def main(argv):
    global _event_fd
    _event_fd = os.dup(sys.stdout.fileno())
    request = json.loads(argv[1])
    sys.addaudithook(_audit)
    try:
        return run(request["out"], request.get("mode", "build"), request.get("config_settings"))
    except HookFailure as failure:
        say(str(failure))
        emit(FAILED, phase=PHASE_HOOKS, message=str(failure))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv))
