"""Parsing the job against stages/protocol/build-job.json, which the Rust side writes."""

import dataclasses
import json

import pytest

from build import job as job_module
from build.job import Job, JobError, parse

from .support import protocol_job


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
    ("field", "default"), [("mode", "build"), ("config_settings", None), ("cargo", None)]
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
