"""The hook runner's PEP 508 subset: markers, requirement names and the missing-requirement check.
The build venv has no `packaging`, so these are ours and must agree with it where it matters."""

import sys

import pytest

from build import hook_runner


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('python_version >= "3.8"', True),
        ('python_version < "3.8"', False),
        # Numeric, not string, order: "3.13" > "3.9" although "1" < "9".
        ('python_version > "3.9"', True),
        ('"3.9" < python_version', True),
        ("python_version == '3.13'", True),
        ('python_version != "3.13"', False),
        ('sys_platform == "linux"', True),
        ('sys_platform == "win32"', False),
        ("os_name == 'posix'", True),
        ('extra == "test"', False),
        ('sys_platform == "win32" or python_version >= "3.8"', True),
        ('sys_platform == "linux" and python_version < "3"', False),
        # `and` binds tighter than `or`.
        ('sys_platform == "win32" or sys_platform == "linux" and python_version < "3"', False),
        ('(sys_platform == "win32" or sys_platform == "linux") and python_version >= "3.10"', True),
        ('(sys_platform == "win32" or sys_platform == "linux") and python_version < "3"', False),
        ('((python_version >= "3.8"))', True),
        ('"linux" in sys_platform', True),
        ('"lin" not in sys_platform', False),
        ('"win"   not   in sys_platform', True),
        ('platform_machine in "x86_64 aarch64"', True),
        ('python_full_version ~= "3.13.0"', True),
        ('python_full_version ~= "3.12.0"', False),
        ('python_version ~= "3.10"', True),
        ('python_version ~= "3.14"', False),
        ('python_version == "3.13.*"', True),
        ('python_full_version == "3.13.*"', True),
        ('python_full_version == "3.12.*"', False),
        ('python_full_version != "3.12.*"', True),
        ('python_full_version == "3.*"', True),
        ('implementation_name == "cpython" and platform_system == "Linux"', True),
        # Three-valued: a known False or True decides despite an unknown part.
        ('sys_platform == "win32" and unknown_variable == "1"', False),
        ('sys_platform == "linux" or unknown_variable == "1"', True),
    ],
)
def test_marker_evaluates(marker, expected, marker_env):
    assert hook_runner.evaluate_marker(marker, marker_env) is expected


@pytest.mark.parametrize(
    "marker",
    [
        'unknown_variable == "1"',
        'sys_platform == "linux" and unknown_variable == "1"',
        'python_version >= "3.8" and',
        "python_version >=",
        '(python_version >= "3.8"',
        'python_version >= "3.8")',
        "python_version",
        "$$",
        "",
        # Pre-releases need PEP 440 ordering, which we do not have: undefined, not a string order.
        'python_full_version < "3.13.0rc1"',
        # PEP 440: `~=` needs two release segments.
        'python_version ~= "3"',
        'platform_release ~= "6.1"',
    ],
)
def test_marker_unknown_is_none(marker, marker_env):
    assert hook_runner.evaluate_marker(marker, marker_env) is None


def test_marker_environment_describes_this_interpreter():
    environment = hook_runner.marker_environment()
    assert environment["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert environment["python_full_version"].startswith(environment["python_version"] + ".")
    assert environment["sys_platform"] == sys.platform
    assert environment["extra"] == ""
    assert hook_runner.evaluate_marker(f'python_version == "{environment["python_version"]}"', environment)


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("setuptools", "setuptools"),
        ("Foo_Bar>=1.0", "foo-bar"),
        ("zope.interface [security] ; python_version < '3'", "zope-interface"),
        ("name @ https://example.org/name-1.0.tar.gz", "name"),
        ("  Cython(>=3)", "cython"),
        ("flit-core<4,>=3.8", "flit-core"),
        ("hatch.vcs~=0.4", "hatch-vcs"),
        ("", None),
        (">=1.0", None),
    ],
)
def test_requirement_name(requirement, name):
    assert hook_runner.requirement_name(requirement) == name


def test_missing_requirements_evaluates_markers(marker_env):
    installed = {"setuptools", "wheel", "zope-interface"}
    requirements = [
        "setuptools>=40.8",
        "Wheel",
        "Zope.Interface",
        "cython>=3; python_version >= '3.8'",
        "tomli; python_version < '3.11'",
        "pywin32 ; sys_platform == 'win32'",
        "odd; unknown_variable == 'x'",
        "wheel; unknown_variable == 'x'",
    ]
    missing, unknown = hook_runner.missing_requirements(requirements, installed, marker_env)
    assert missing == ["cython>=3; python_version >= '3.8'", "odd; unknown_variable == 'x'"]
    # Unknown markers are assumed to apply, and named so that the log can say so.
    assert unknown == ["odd; unknown_variable == 'x'", "wheel; unknown_variable == 'x'"]


def test_missing_requirements_none_missing(marker_env):
    assert hook_runner.missing_requirements([], set(), marker_env) == ([], [])
    assert hook_runner.missing_requirements(["a"], {"a"}, marker_env) == ([], [])


def test_installed_distributions_sees_this_interpreter():
    # pytest runs these tests, so its distribution is installed here.
    assert "pytest" in hook_runner.installed_distributions()
