"""Fixtures shared by the build stage's host tests."""

import pytest


@pytest.fixture
def marker_env():
    """A fixed marker environment: CPython 3.13.5 on Linux x86_64."""
    return {
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "6.1.0-28-amd64",
        "platform_system": "Linux",
        "platform_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1",
        "python_version": "3.13",
        "python_full_version": "3.13.5",
        "implementation_name": "cpython",
        "implementation_version": "3.13.5",
        "extra": "",
    }
