"""Parsing the job against stages/protocol/build-job.json, which the Rust side writes."""

import dataclasses
import json

import pytest

from build import job as job_module
from build.job import Job, JobError, parse

from .support import PROTOCOL, protocol_job


def test_accepts_the_protocol_example():
    data = protocol_job()
    job = parse(json.dumps(data))
    assert job == Job(**data)
    assert job.name == "greet"
    assert job.wheels == ["/in/wheels/minibackend-1.0-py3-none-any.whl"]
    assert job.source_date_epoch == 315532800


def test_the_example_has_every_field():
    assert sorted(protocol_job()) == sorted(f.name for f in dataclasses.fields(Job))


@pytest.mark.parametrize("field", job_module.REQUIRED)
def test_refuses_a_missing_required_field(field):
    data = protocol_job()
    del data[field]
    with pytest.raises(JobError, match=rf"missing job field.*`{field}`"):
        parse(json.dumps(data))


@pytest.mark.parametrize(
    ("field", "default"),
    [("mode", "build"), ("config_settings", None), ("cargo", None), ("env", None), ("patches", None)],
)
def test_optional_fields_have_defaults(field, default):
    assert field in job_module.OPTIONAL
    data = protocol_job()
    del data[field]
    assert getattr(parse(json.dumps(data)), field) == default


def test_refuses_an_unknown_field():
    data = {**protocol_job(), "wheel_dir": "/in/wheels"}
    with pytest.raises(JobError, match=r"unknown job field.*`wheel_dir`"):
        parse(json.dumps(data))


@pytest.mark.parametrize("field", ["venv", "audit", "deny_network"])
def test_says_which_options_were_removed(field):
    data = {**protocol_job(), field: True}
    with pytest.raises(JobError, match=f"`{field}` was removed"):
        parse(json.dumps(data))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", 3),
        ("wheels", "/in/wheels/a.whl"),
        ("wheels", ["relative/a.whl"]),
        ("sdist", "in/sdist/greet-1.0.tar.gz"),
        ("source_date_epoch", True),
        ("source_date_epoch", -1),
        ("source_date_epoch", "315532800"),
        ("mode", "wheel"),
        ("config_settings", ["--quiet"]),
        ("config_settings", {"level": 3}),
        ("cargo", "in/cargo"),
        ("cargo", ""),
        ("env", ["CFLAGS=-O2"]),
        ("env", {"CFLAGS": 2}),
        ("env", {"CFLAGS": ["-O2"]}),
        ("patches", "/in/patches/0-fix.patch"),
        ("patches", ["0-fix.patch"]),
        ("patches", ["/tmp/0-fix.patch"]),
        ("patches", ["/in/patches-extra/0-fix.patch"]),
        ("patches", ["/in/patches"]),
        ("patches", ["/in/patches/"]),
        ("patches", ["/in/patches/../sdist/evil.patch"]),
        ("patches", ["/in/patches//0-fix.patch"]),
        ("patches", ["/in/patches/./0-fix.patch"]),
        ("patches", ["/in/patches/0-fix.patch\0"]),
        ("patches", [None]),
    ],
)
def test_refuses_a_wrong_value(field, value):
    data = {**protocol_job(), field: value}
    with pytest.raises(JobError, match=f"`{field}` must be"):
        parse(json.dumps(data))


@pytest.mark.parametrize("text", ["", "not json", "[]", '"job"'])
def test_refuses_what_is_not_a_json_object(text):
    with pytest.raises(JobError):
        parse(text)


def test_every_field_is_checked():
    assert sorted(job_module._CHECKS) == sorted(f.name for f in dataclasses.fields(Job))


def test_accepts_patches_in_the_patches_directory():
    patches = ["/in/patches/1-second.patch", "/in/patches/greet/0-first.patch", "/in/patches/1-second.patch"]
    assert parse(json.dumps({**protocol_job(), "patches": patches})).patches == patches
    assert parse(json.dumps({**protocol_job(), "patches": []})).patches == []


def test_accepts_the_users_variables():
    env = {"CFLAGS": "", "_private": "x y", "GREET_LEVEL2": "caf\u00e9=1"}
    assert parse(json.dumps({**protocol_job(), "env": env})).env == env


@pytest.mark.parametrize("name", job_module.RESERVED_ENV)
def test_refuses_a_variable_the_isolation_depends_on(name):
    data = {**protocol_job(), "env": {"CFLAGS": "-O2", name: "/tmp/mine"}}
    with pytest.raises(JobError, match=f"may not set `{name}`"):
        parse(json.dumps(data))


@pytest.mark.parametrize(
    "name", ["LD_AUDIT", "PYTHONSTARTUP", "PIP_FIND_LINKS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER"]
)
def test_refuses_a_variable_of_a_reserved_family(name):
    with pytest.raises(JobError, match=f"may not set `{name}`"):
        parse(json.dumps({**protocol_job(), "env": {name: "x"}}))


def test_allows_cargo_profile_settings():
    env = {"CARGO_PROFILE_RELEASE_LTO": "off"}
    assert parse(json.dumps({**protocol_job(), "env": env})).env == env


@pytest.mark.parametrize("name", ["", "1CFLAGS", "MY-FLAG", "MY FLAG", "A=B", "CFLAGS\n", "\u00c4", "A\0B"])
def test_refuses_what_is_not_a_variable_name(name):
    with pytest.raises(JobError, match="is not a variable name") as raised:
        parse(json.dumps({**protocol_job(), "env": {name: "1"}}))
    assert json.dumps(name) in str(raised.value)


def test_refuses_a_value_holding_nul():
    with pytest.raises(JobError, match="value of `CFLAGS` holds a NUL"):
        parse(json.dumps({**protocol_job(), "env": {"CFLAGS": "-O2\0-O0"}}))


def test_the_protocol_lists_the_reserved_variables():
    # The orchestrator refuses the same list; the README is where both sides read it.
    readme = (PROTOCOL / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in job_module.RESERVED_ENV)
