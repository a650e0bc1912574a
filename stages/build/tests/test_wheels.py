"""Unpacking our wheels into the build venv the way an installer would."""

import os
import stat
import subprocess
import sys

import pytest

from build.archives import UnsafeMember
from build.wheels import WheelError, console_scripts, install_wheel, make_venv, venv_paths

from .support import write_zip

ENTRY_POINTS = b"""\
[console_scripts]
demo = demo.cli:main
demo-extra = demo.cli:Main.run [speedups]

[gui_scripts]
demo-gui = demo.gui:main
"""


def demo_wheel(path):
    return write_zip(
        path,
        {
            "demo/__init__.py": b"",
            "demo/cli.py": (
                b"class Main:\n    @staticmethod\n    def run():\n        print('run')\n        return 0\n"
                b"def main():\n    print('hello from demo')\n    return 0\n"
            ),
            "demo-1.0.data/purelib/demo_extra.py": b"VALUE = 1\n",
            "demo-1.0.data/scripts/demo-tool": (b"#!python\nprint('tool')\n", 0o644),
            "demo-1.0.data/scripts/demo-sh": (b"#!/bin/sh\necho sh\n", 0o755),
            "demo-1.0.data/headers/demo.h": b"int demo;\n",
            "demo-1.0.data/data/share/demo/readme.txt": b"data\n",
            "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
            "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            "demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS,
            "demo-1.0.dist-info/RECORD": b"",
        },
    )


@pytest.fixture
def venv_layout(tmp_path):
    """(venv dir, python, site-packages) of an empty venv layout; `python` is this interpreter,
    so that the scripts written for it run."""
    venv_dir = str(tmp_path / "venv")
    _, site_packages = venv_paths(venv_dir)
    os.makedirs(site_packages)
    os.makedirs(os.path.join(venv_dir, "bin"))
    return venv_dir, sys.executable, site_packages


def test_make_venv_has_no_pip(tmp_path):
    python, site_packages = make_venv(str(tmp_path / "venv"))
    assert os.access(python, os.X_OK)
    assert site_packages.startswith(str(tmp_path / "venv") + "/")
    assert os.path.isdir(site_packages)
    assert not any(name.startswith("pip") for name in os.listdir(site_packages))


def test_unpacks_purelib_data_and_scripts(tmp_path, venv_layout):
    venv_dir, python, site_packages = venv_layout
    install_wheel(demo_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), venv_dir, site_packages, python)
    bin_dir = os.path.join(venv_dir, "bin")
    assert os.path.isfile(os.path.join(site_packages, "demo", "cli.py"))
    assert os.path.isfile(os.path.join(site_packages, "demo-1.0.dist-info", "METADATA"))
    # `.data/purelib` lands in site-packages, not under a .data directory.
    assert os.path.isfile(os.path.join(site_packages, "demo_extra.py"))
    assert not os.path.exists(os.path.join(site_packages, "demo-1.0.data"))
    assert os.path.isfile(os.path.join(venv_dir, "include", "demo.h"))
    assert os.path.isfile(os.path.join(venv_dir, "share", "demo", "readme.txt"))
    # `#!python` points at the venv's interpreter; other scripts are left alone; all executable.
    tool = os.path.join(bin_dir, "demo-tool")
    with open(tool, "rb") as f:
        assert f.read() == f"#!{python}\nprint('tool')\n".encode()
    with open(os.path.join(bin_dir, "demo-sh"), "rb") as f:
        assert f.read().startswith(b"#!/bin/sh\n")
    for script in ("demo-tool", "demo-sh"):
        assert os.stat(os.path.join(bin_dir, script)).st_mode & stat.S_IXUSR
    assert subprocess.run([tool], capture_output=True, text=True, check=True).stdout == "tool\n"


def test_writes_console_script_wrappers(tmp_path, venv_layout):
    venv_dir, python, site_packages = venv_layout
    install_wheel(demo_wheel(tmp_path / "demo-1.0-py3-none-any.whl"), venv_dir, site_packages, python)
    bin_dir = os.path.join(venv_dir, "bin")
    wrapper = os.path.join(bin_dir, "demo")
    with open(wrapper) as f:
        assert f.read() == f"#!{python}\nimport sys\nfrom demo.cli import main\nsys.exit(main())\n"
    assert os.stat(wrapper).st_mode & stat.S_IXUSR
    # gui_scripts are not console scripts.
    assert not os.path.exists(os.path.join(bin_dir, "demo-gui"))
    environment = {"PYTHONPATH": site_packages, "PATH": os.environ.get("PATH", "")}
    for name, output in (("demo", "hello from demo\n"), ("demo-extra", "run\n")):
        result = subprocess.run(
            [os.path.join(bin_dir, name)], capture_output=True, text=True, env=environment
        )
        assert (result.returncode, result.stdout) == (0, output), result.stderr


@pytest.mark.parametrize("member", ["../evil.py", "demo/../../evil.py", "/tmp/evil.py", "demo\\..\\evil.py"])
def test_refuses_members_that_leave_the_venv(tmp_path, venv_layout, member):
    venv_dir, python, site_packages = venv_layout
    wheel = write_zip(tmp_path / "evil-1.0-py3-none-any.whl", {"evil/__init__.py": b"", member: b"x = 1\n"})
    with pytest.raises(UnsafeMember):
        install_wheel(wheel, venv_dir, site_packages, python)
    # Checked before anything is written.
    assert os.listdir(site_packages) == []


def test_refuses_a_console_script_that_names_a_path(tmp_path, venv_layout):
    venv_dir, python, site_packages = venv_layout
    wheel = write_zip(
        tmp_path / "evil-1.0-py3-none-any.whl",
        {"evil-1.0.dist-info/entry_points.txt": b"[console_scripts]\n../../evil = evil:main\n"},
    )
    with pytest.raises(WheelError, match="not a plain file name"):
        install_wheel(wheel, venv_dir, site_packages, python)


def test_console_scripts_parsing():
    assert console_scripts(ENTRY_POINTS.decode()) == [
        ("demo", "demo.cli", "main"),
        ("demo-extra", "demo.cli", "Main.run"),
    ]
    with pytest.raises(WheelError, match="module:attribute"):
        console_scripts("[console_scripts]\nbad = demo.cli\n")
    with pytest.raises(WheelError, match="module:attribute"):
        console_scripts("[console_scripts]\nbad = demo:main; import os\n")
