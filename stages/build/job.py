"""The job the orchestrator hands the build driver: one JSON object on the command line.

Parsing is strict: a missing or unknown field, or a value of the wrong type, is refused with a
message that names it, because either means the orchestrator and the driver disagree about the
protocol (stages/protocol/build-job.json is the example both sides are tested against).
"""

import dataclasses
import json
import posixpath
import re

MODES = ("requires", "metadata", "build")
# Where the orchestrator mounts the package's patches (read-only).
PATCHES_DIR = "/in/patches"
# Variables the user's `env` may not set: the driver sets them (or keeps them unset) because the
# build's isolation or reproducibility depends on them. The orchestrator refuses the same list;
# this is defence in depth.
RESERVED_ENV = (
    "PATH",
    "HOME",
    "TMPDIR",
    "VIRTUAL_ENV",
    "SOURCE_DATE_EPOCH",
    "PYTHONHASHSEED",
    "PYTHONNOUSERSITE",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONPATH",
    "PYTHONHOME",
    "PIP_NO_INDEX",
    "LANG",
    "LC_ALL",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_NET_OFFLINE",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
)
# Families of variables refused as well (the loader's, the interpreter's, pip's, cargo's and
# rustc's), but for cargo's profile settings; the orchestrator refuses the same.
RESERVED_ENV_PREFIXES = ("LD_", "PYTHON", "PIP_", "CARGO_", "RUSTC")
ALLOWED_ENV_PREFIXES = ("CARGO_PROFILE_",)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_reserved(name):
    """Whether the user's `env` may not set `name`."""
    family = name.startswith(RESERVED_ENV_PREFIXES) and not name.startswith(ALLOWED_ENV_PREFIXES)
    return name in RESERVED_ENV or family


class JobError(ValueError):
    """The job is not one this driver understands."""


@dataclasses.dataclass(frozen=True)
class Job:
    # Package name and version, as the lock pins them.
    name: str
    version: str
    # Path of the sdist inside the container.
    sdist: str
    # Paths of the build-requirement wheels inside the container; each must lie in wheels_dir.
    wheels: list[str]
    wheels_dir: str
    # The output directory: the wheel (or the .dist-info, in mode `metadata`) goes there.
    out: str
    # The fixed path the sdist is extracted to, and what -ffile-prefix-map rewrites it to.
    source_dir: str
    prefix_map_to: str
    source_date_epoch: int
    # `requires`: stop after get_requires_for_build_wheel; `metadata`: also prepare the metadata
    # (or build, when the backend has no such hook); `build`: build the wheel.
    mode: str = "build"
    # Passed to every PEP 517 hook; None when the job has none.
    config_settings: dict | None = None
    # A read-only directory holding the vendored crates (`vendor/`) and cargo's `config.toml`;
    # None when the package has no Rust crates.
    cargo: str | None = None
    # Variables the user configured for this package's build, applied after the driver's own
    # (environment.py); None when there are none.
    env: dict[str, str] | None = None
    # Patch files under PATCHES_DIR, applied in order to source_dir before any hook runs;
    # None when there are none.
    patches: list[str] | None = None


def _is_string(value):
    return isinstance(value, str) and value != ""


def _is_path(value):
    return _is_string(value) and value.startswith("/")


def _is_epoch(value):
    # bool is an int in Python; JSON `true` is not a time.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_config_settings(value):
    # What frontends pass (pip's --config-settings): string keys, string or list-of-string values.
    def setting(item):
        return isinstance(item, str) or (isinstance(item, list) and all(isinstance(x, str) for x in item))

    return value is None or (isinstance(value, dict) and all(setting(v) for v in value.values()))


def _is_environment(value):
    return value is None or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))


def _is_patch(value):
    # normpath: no `..`, `.` or `//` that would make the prefix test mean something else.
    return (
        _is_path(value)
        and "\0" not in value
        and posixpath.normpath(value) == value
        and value.startswith(PATCHES_DIR + "/")
    )


def _check_environment(environment):
    """Raises JobError naming the first variable of the user's `env` the driver refuses."""
    for name, value in environment.items():
        if not _ENV_NAME.fullmatch(name):
            raise JobError(f"job field `env`: {json.dumps(name)} is not a variable name")
        if is_reserved(name):
            raise JobError(f"job field `env` may not set `{name}`: the build's isolation depends on it")
        if "\0" in value:
            raise JobError(f"job field `env`: the value of `{name}` holds a NUL character")


# field: (check, what the field must be)
_CHECKS = {
    "name": (_is_string, "a non-empty string"),
    "version": (_is_string, "a non-empty string"),
    "sdist": (_is_path, "an absolute path"),
    "wheels": (lambda v: isinstance(v, list) and all(_is_path(w) for w in v), "a list of absolute paths"),
    "wheels_dir": (_is_path, "an absolute path"),
    "out": (_is_path, "an absolute path"),
    "source_dir": (_is_path, "an absolute path"),
    "prefix_map_to": (_is_path, "an absolute path"),
    "source_date_epoch": (_is_epoch, "a non-negative integer"),
    "mode": (lambda v: v in MODES, "one of " + ", ".join(f"`{m}`" for m in MODES)),
    "config_settings": (_is_config_settings, "null or an object of strings or lists of strings"),
    "cargo": (lambda v: v is None or _is_path(v), "null or an absolute path"),
    "env": (_is_environment, "null or an object of strings"),
    "patches": (
        lambda v: v is None or (isinstance(v, list) and all(_is_patch(p) for p in v)),
        f"null or a list of absolute paths in {PATCHES_DIR}/",
    ),
}
# Options of the driver before resolve ran its hooks in build containers of their own.
_REMOVED = {
    "venv": "the venv is always /tmp/venv (one build per container)",
    "audit": "the container has no network; network attempts are only reported",
    "deny_network": "the container has no network",
}
REQUIRED = tuple(f.name for f in dataclasses.fields(Job) if f.default is dataclasses.MISSING)
OPTIONAL = tuple(f.name for f in dataclasses.fields(Job) if f.default is not dataclasses.MISSING)


def parse(text):
    """The Job in `text` (JSON); raises JobError naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise JobError(f"the job is not JSON: {error}") from None
    return from_dict(data)


def from_dict(data):
    if not isinstance(data, dict):
        raise JobError(f"the job must be a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        removed = "".join(f"; `{name}` was removed: {_REMOVED[name]}" for name in unknown if name in _REMOVED)
        raise JobError(f"unknown job field(s): {', '.join(f'`{name}`' for name in unknown)}{removed}")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise JobError(f"missing job field(s): {', '.join(f'`{name}`' for name in missing)}")
    for name, value in data.items():
        check, expected = _CHECKS[name]
        if not check(value):
            raise JobError(f"job field `{name}` must be {expected}, not {json.dumps(value)}")
    if data.get("env"):
        _check_environment(data["env"])
    return Job(**data)
