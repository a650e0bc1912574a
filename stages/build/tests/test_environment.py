"""The environment the hooks run in: nothing inherited, fixed where reproducibility needs it."""

import json
import sysconfig

from build.environment import build_environment
from build.job import parse

from .support import protocol_job

JOB = parse(json.dumps(protocol_job()))


def test_nothing_of_home_or_the_callers_environment(monkeypatch):
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:secret@example.org/simple")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    environment = build_environment(JOB, "/tmp/venv", python_cflags="-O2")
    assert "HOME" not in environment
    assert not any("secret" in value for value in environment.values())
    assert "PIP_INDEX_URL" not in environment


def test_reproducibility_settings():
    environment = build_environment(JOB, "/tmp/venv", python_cflags="-O2")
    assert environment["PYTHONHASHSEED"] == "0"
    assert environment["SOURCE_DATE_EPOCH"] == "315532800"
    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["VIRTUAL_ENV"] == "/tmp/venv"
    assert environment["PATH"].split(":")[0] == "/tmp/venv/bin"


def test_cflags_carry_pythons_own_and_the_prefix_map():
    environment = build_environment(JOB, "/tmp/venv", python_cflags="-g -O2 -Wall")
    expected = "-g -O2 -Wall -ffile-prefix-map=/tmp/src/greet-1.0=/usr/src/greet-1.0"
    assert environment["CFLAGS"] == expected
    assert environment["CXXFLAGS"] == expected


def test_cflags_default_to_this_pythons():
    environment = build_environment(JOB, "/tmp/venv")
    own = sysconfig.get_config_var("CFLAGS") or ""
    assert environment["CFLAGS"].startswith(own)
    assert environment["CFLAGS"].endswith("-ffile-prefix-map=/tmp/src/greet-1.0=/usr/src/greet-1.0")


def test_cargo_is_offline_for_every_build_and_remaps_its_paths():
    plain = parse(json.dumps({**protocol_job(), "cargo": None}))
    environment = build_environment(plain, "/tmp/venv", python_cflags="-O2")
    assert environment["CARGO_NET_OFFLINE"] == "true"
    assert environment["CARGO_HOME"] == "/tmp/cargo-home"
    assert environment["CARGO_INCREMENTAL"] == "0"
    assert "--remap-path-prefix=/tmp/src/greet-1.0=/usr/src/greet-1.0" in environment["RUSTFLAGS"]
    assert "/in/cargo" not in environment["RUSTFLAGS"]

    vendored = parse(json.dumps({**protocol_job(), "cargo": "/in/cargo"}))
    flags = build_environment(vendored, "/tmp/venv", python_cflags="-O2")["RUSTFLAGS"].split()
    assert "--remap-path-prefix=/in/cargo/vendor=/usr/src/crates" in flags
