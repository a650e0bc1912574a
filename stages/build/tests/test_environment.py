"""The environment the hooks run in: nothing inherited, fixed where reproducibility needs it."""

import json
import sysconfig

from build.environment import build_environment, with_user_environment
from build.job import parse

from .support import protocol_job

# The protocol's job without the user's variables: what the driver sets on its own.
JOB = parse(json.dumps({**protocol_job(), "env": None}))
PREFIX_MAP = "-ffile-prefix-map=/tmp/src/greet-1.0=/usr/src/greet-1.0"


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
    expected = f"-g -O2 -Wall {PREFIX_MAP}"
    assert environment["CFLAGS"] == expected
    assert environment["CXXFLAGS"] == expected


def test_cflags_default_to_this_pythons():
    environment = build_environment(JOB, "/tmp/venv")
    own = sysconfig.get_config_var("CFLAGS") or ""
    assert environment["CFLAGS"].startswith(own)
    assert environment["CFLAGS"].endswith(PREFIX_MAP)


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


def test_the_users_flags_come_after_ours_and_keep_the_path_rewriting():
    user = {"CFLAGS": "-DNDEBUG", "CXXFLAGS": "-O3", "RUSTFLAGS": "-C target-cpu=x86-64-v2"}
    job = parse(json.dumps({**protocol_job(), "env": user}))
    environment = build_environment(job, "/tmp/venv", python_cflags="-O2")
    assert environment["CFLAGS"] == f"-O2 {PREFIX_MAP} -DNDEBUG"
    assert environment["CXXFLAGS"] == f"-O2 {PREFIX_MAP} -O3"
    assert environment["RUSTFLAGS"].startswith("--remap-path-prefix=/tmp/src/greet-1.0=/usr/src/greet-1.0 ")
    assert environment["RUSTFLAGS"].endswith(" -C target-cpu=x86-64-v2")


def test_the_users_other_variables_are_set_as_given():
    # CPPFLAGS and LDFLAGS are flag variables we do not set: theirs alone, no leading space.
    user = {
        "CPPFLAGS": "-I/usr/include/foo",
        "LDFLAGS": "-Wl,-O1",
        "GREET_NO_SPEEDUPS": "1",
        "CARGO_PROFILE_RELEASE_LTO": "off",
    }
    job = parse(json.dumps({**protocol_job(), "env": user}))
    environment = build_environment(job, "/tmp/venv", python_cflags="-O2")
    assert environment["CPPFLAGS"] == "-I/usr/include/foo"
    assert environment["LDFLAGS"] == "-Wl,-O1"
    assert environment["GREET_NO_SPEEDUPS"] == "1"
    assert environment["CARGO_PROFILE_RELEASE_LTO"] == "off"
    assert environment["CARGO_INCREMENTAL"] == "0", "the driver's own, which the user may not set"
    assert environment["CFLAGS"] == f"-O2 {PREFIX_MAP}"


def test_the_protocol_jobs_variables_apply():
    environment = build_environment(parse(json.dumps(protocol_job())), "/tmp/venv", python_cflags="-O2")
    assert environment["CFLAGS"] == f"-O2 {PREFIX_MAP} -DNDEBUG"
    assert environment["GREET_NO_SPEEDUPS"] == "1"


def test_merging_leaves_ours_alone():
    ours = {"CFLAGS": "-O2", "PIP_NO_INDEX": "1"}
    assert with_user_environment(ours, {"CFLAGS": ""}) == ours
    merged = with_user_environment(ours, {"CFLAGS": "-g", "EMPTY": ""})
    assert merged == {"CFLAGS": "-O2 -g", "PIP_NO_INDEX": "1", "EMPTY": ""}
    assert ours == {"CFLAGS": "-O2", "PIP_NO_INDEX": "1"}
