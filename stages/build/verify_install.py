"""offline-build verify-install: runs INSIDE a fresh container with no network.

Installs the runtime set from the built wheels only (pip --no-index --find-links) into a new
venv, then imports every top-level module. Proves that the output directory is complete and
usable without any index. Invoked as `python3 -I -c <this file> <job json>` with `dist`,
`requirements` (name==version pins) and `modules`.
"""

import json
import subprocess
import sys

job = json.loads(sys.argv[1])
env_dir = "/tmp/verify"
subprocess.run([sys.executable, "-m", "venv", env_dir], check=True)
python = f"{env_dir}/bin/python"
install = subprocess.run(
    [
        python,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        job["dist"],
        "--only-binary",
        ":all:",
        "--no-cache-dir",
        "--no-compile",
        "--disable-pip-version-check",
        *job["requirements"],
    ]
)
if install.returncode != 0:
    print("offline-build: pip could not install the runtime set from the built wheels", flush=True)
    sys.exit(1)

IMPORTER = r"""
import importlib, json, sys, traceback
failed = []
for module in json.loads(sys.argv[1]):
    try:
        importlib.import_module(module)
        print(f"offline-build: imported {module}", flush=True)
    except BaseException:
        traceback.print_exc()
        print(f"offline-build: could not import {module}", flush=True)
        failed.append(module)
sys.exit(1 if failed else 0)
"""
# Isolated mode: the venv's site-packages only, not the working directory.
imported = subprocess.run([python, "-I", "-c", IMPORTER, json.dumps(job["modules"])], cwd="/tmp")
sys.exit(imported.returncode)
