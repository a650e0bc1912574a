#!/usr/bin/env python3
"""Benchmark: `offline-build build` against `pip wheel --no-binary :all:` for the requests closure.

Both build the same sdists in the same image under network none, side by side, several times;
the script prints medians and ratios, and the no-op rebuild. Not a test: it needs the index
(through pip's configuration) to download the sdists once, and takes a few minutes.

The lock is made HERE, not by `offline-build resolve` (not available yet): each package's
build requirements are its static `[build-system].requires` (PEP 518 default when absent) plus
the runtime closure of those, read from the sdists' PKG-INFO; versions are the newest with an
sdist that satisfy every specifier seen. Dynamic requirements (`get_requires_for_build_wheel`)
are found by building: the driver refuses to build when the hook asks for anything missing and
names it, so the script adds what was named and builds again until nothing is missing.

Usage: python3 crates/ob-build/bench/requests_closure.py [--runs 3] [--work DIR] [--jobs 2]
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

from pip._vendor.packaging.markers import default_environment
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[3]
IMAGE = "offline-build/builder:trixie"
TARGET_PYTHON = "3.13.5"
TOP_LEVEL = ["requests"]
SOURCE_DATE_EPOCH = 315532800


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def index_url():
    """Where pip looks: PIP_INDEX_URL, pip's configuration, else pip's built-in default."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True, text=True,
    )
    if configured.returncode == 0 and configured.stdout.strip():
        return configured.stdout.strip()
    from pip._internal.models.index import PyPI

    return PyPI.simple_url


def target_environment():
    environment = default_environment()
    environment.update(
        python_version=TARGET_PYTHON.rsplit(".", 1)[0],
        python_full_version=TARGET_PYTHON,
        implementation_version=TARGET_PYTHON,
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        os_name="posix",
        extra="",
    )
    return environment


class Index:
    def __init__(self, url, wheelhouse):
        self.url = url.rstrip("/") + "/"
        self.wheelhouse = wheelhouse
        self.pages = {}
        self.metadata = {}

    def files(self, name):
        if name not in self.pages:
            request = urllib.request.Request(
                self.url + name + "/",
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                self.pages[name] = json.load(response)["files"]
        return self.pages[name]

    def choose(self, name, specifier):
        """Newest non-yanked, final release with an sdist that fits the target Python."""
        candidates = []
        for file in self.files(name):
            filename = file["filename"]
            if not filename.endswith(".tar.gz") or file.get("yanked"):
                continue
            if file.get("requires-python"):
                try:
                    if Version(TARGET_PYTHON) not in SpecifierSet(file["requires-python"]):
                        continue
                except Exception:
                    continue
            stem = filename[: -len(".tar.gz")]
            raw_version = stem.rsplit("-", 1)[-1]
            try:
                version = Version(raw_version)
            except InvalidVersion:
                continue
            if version.is_prerelease or version not in specifier:
                continue
            candidates.append((version, file))
        if not candidates:
            raise SystemExit(f"no sdist of {name} satisfies {specifier}")
        version, file = max(candidates, key=lambda c: c[0])
        return str(version), file

    def fetch(self, file):
        path = self.wheelhouse / file["filename"]
        if not path.exists():
            with urllib.request.urlopen(file["url"], timeout=120) as response:
                data = response.read()
            if hashlib.sha256(data).hexdigest() != file["hashes"]["sha256"]:
                raise SystemExit(f"hash mismatch for {file['filename']}")
            path.write_bytes(data)
        return path

    def read_sdist(self, path):
        """(static build requirements, runtime requirements) of an sdist."""
        if path in self.metadata:
            return self.metadata[path]
        with tarfile.open(path) as archive:
            members = {m.name: m for m in archive.getmembers()}
            top = sorted(members)[0].split("/")[0]

            def read(relative):
                member = members.get(f"{top}/{relative}")
                return archive.extractfile(member).read().decode() if member else None

            pyproject = read("pyproject.toml")
            pkg_info = read("PKG-INFO") or ""
        build_system = tomllib.loads(pyproject).get("build-system", {}) if pyproject else {}
        build = build_system.get("requires", ["setuptools>=40.8.0"]) if build_system else ["setuptools>=40.8.0"]
        runtime = [line.split(":", 1)[1].strip() for line in pkg_info.splitlines() if line.startswith("Requires-Dist:")]
        self.metadata[path] = (build, runtime)
        return build, runtime


def applicable(requirements, environment):
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            yield requirement


def make_lock(work, url, extra_build):
    """Downloads the closure into work/wheelhouse and writes work/pylock.toml. `extra_build`
    holds, per package, the dynamic build requirements found by earlier builds."""
    wheelhouse = work / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    index = Index(url, wheelhouse)
    environment = target_environment()
    constraints = {}
    while True:
        chosen = {}  # name -> (version, file, path)
        runtime_deps = {}
        build_reqs = {}
        pending = []
        seen_constraints = {}

        def want(requirement):
            name = normalize(requirement.name)
            seen_constraints.setdefault(name, SpecifierSet())
            seen_constraints[name] &= requirement.specifier
            if name not in chosen:
                version, file = index.choose(name, constraints.get(name, SpecifierSet()) & requirement.specifier)
                chosen[name] = (version, file, index.fetch(file))
                pending.append(name)

        for text in TOP_LEVEL:
            want(Requirement(text))
        while pending:
            name = pending.pop()
            build, runtime = index.read_sdist(chosen[name][2])
            runtime_deps[name] = [r for r in applicable(runtime, environment)]
            build_reqs[name] = [r for r in applicable(build + extra_build.get(name, []), environment)]
            for requirement in runtime_deps[name] + build_reqs[name]:
                want(requirement)
        changed = False
        for name, specifier in seen_constraints.items():
            if Version(chosen[name][0]) not in specifier:
                constraints[name] = specifier
                changed = True
        if not changed:
            break

    def runtime_closure(names):
        closure, stack = set(), list(names)
        while stack:
            name = stack.pop()
            if name in closure:
                continue
            closure.add(name)
            stack.extend(normalize(r.name) for r in runtime_deps[name])
        return closure

    runtime_set = runtime_closure(normalize(r) for r in TOP_LEVEL)
    build_requires = {
        name: sorted(runtime_closure(normalize(r.name) for r in build_reqs[name])) for name in chosen
    }
    order, done = [], set()

    def visit(name, path=()):
        if name in done:
            return
        if name in path:
            raise SystemExit(f"build cycle: {' -> '.join(path + (name,))}")
        for requirement in build_requires[name]:
            visit(requirement, path + (name,))
        done.add(name)
        order.append(name)

    for name in sorted(chosen):
        visit(name)

    digest = subprocess.run(
        ["docker", "image", "inspect", IMAGE, "--format", "{{index .RootFS.Layers 0}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    lines = [
        "# This file is @generated by offline-build. Do not edit it by hand:",
        "# regenerate it with `offline-build resolve`. Format: docs/lockfile.md.",
        'lock-version = "1.0"',
        'created-by = "offline-build"',
        'dependency-groups = ["build"]',
        "default-groups = []",
        "",
    ]
    for name in sorted(chosen):
        version, file, path = chosen[name]
        lines += ["[[packages]]", f'name = "{name}"', f'version = "{version}"']
        if name not in runtime_set:
            lines.append("marker = \"'build' in dependency_groups\"")
        deps = sorted({normalize(r.name) for r in runtime_deps[name]})
        if deps:
            lines.append("dependencies = [" + ", ".join(f'{{ name = "{d}" }}' for d in deps) + "]")
        lines += [
            "",
            "[packages.sdist]",
            f'name = "{file["filename"]}"',
            f'path = "wheelhouse/{file["filename"]}"',
            f"size = {path.stat().st_size}",
            f'hashes = {{ sha256 = "{file["hashes"]["sha256"]}" }}',
            "",
            "[packages.tool.offline-build]",
            "build-requires = ["
            + ", ".join(f'"{r}=={chosen[r][0]}"' for r in build_requires[name])
            + "]",
            "",
        ]
    lines += [
        "[tool.offline-build]",
        f'image = "{IMAGE}"',
        f'image-digest = "{digest}"',
        f'python-version = "{TARGET_PYTHON}"',
        'platform = "linux_x86_64"',
        # The lock records where it came from; build never contacts it.
        f'index-url = "{url}"',
        "build-verified = false",
        f"source-date-epoch = {SOURCE_DATE_EPOCH}",
        "requirements = [" + ", ".join(f'"{r}"' for r in TOP_LEVEL) + "]",
        "build-order = [" + ", ".join(f'"{n}"' for n in order) + "]",
        "",
    ]
    (work / "pylock.toml").write_text("\n".join(lines))
    return {name: chosen[name][0] for name in chosen}, runtime_set


def timed(command, **kwargs):
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(map(str, command[:6]))} ...")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/offline-build-bench"))
    parser.add_argument("--lock-only", action="store_true", help="make the lock and wheelhouse, then stop")
    parser.add_argument("--binary", type=Path, default=REPO / "target/debug/offline-build")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not args.binary.exists():
        subprocess.run(["cargo", "build", "-p", "offline-build"], cwd=REPO, check=True)

    url = index_url()
    extra_build = {}
    for _ in range(6):
        versions, runtime_set = make_lock(work, url, extra_build)
        discover = work / "discover"
        result = subprocess.run(
            [str(args.binary), "--quiet", "build", "--lock", str(work / "pylock.toml"),
             "--wheelhouse", str(work / "wheelhouse"), "--out", str(discover), "--jobs", str(args.jobs)],
            capture_output=True, text=True,
        )
        found = False
        for log in (discover / "logs").glob("*.log"):
            for line in log.read_text(errors="replace").splitlines():
                if "offline-build: missing-build-requirement " in line:
                    name = log.name[: -len(".log")].rsplit("-", 1)[0]
                    listed = line.split("missing-build-requirement ", 1)[1].split(" (asked for")[0]
                    extra_build.setdefault(name, []).extend(r.strip() for r in listed.split(" | "))
                    found = True
        if not found:
            if result.returncode != 0:
                sys.stderr.write(result.stderr[-4000:])
                raise SystemExit("the closure does not build; see the logs in " + str(discover))
            break
    print(f"closure of {', '.join(TOP_LEVEL)}: {len(versions)} sdists", flush=True)
    print("  " + ", ".join(f"{n}=={v}" for n, v in sorted(versions.items())), flush=True)
    if args.lock_only:
        return

    ours, noop, pip = [], [], []
    for run in range(args.runs):
        out = work / f"dist-{run}"
        shutil.rmtree(out, ignore_errors=True)
        command = [
            str(args.binary), "--quiet", "build", "--lock", str(work / "pylock.toml"),
            "--wheelhouse", str(work / "wheelhouse"), "--out", str(out), "--jobs", str(args.jobs),
        ]
        ours.append(timed(command))
        noop.append(timed(command))
        # pip, same image, same profile: network none, read-only rootfs, uid 65534, fresh /tmp
        # (so its wheel cache starts empty every run, as a first build does).
        pip_out = work / f"pip-{run}"
        shutil.rmtree(pip_out, ignore_errors=True)
        pip_out.mkdir()
        os.chmod(pip_out, 0o777)
        pins = [f"{name}=={versions[name]}" for name in sorted(runtime_set)]
        pip.append(timed([
            "docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,exec",
            "--user", "65534:65534", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-e", "HOME=/tmp", "-e", f"SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}",
            "-v", f"{work / 'wheelhouse'}:/wheelhouse:ro", "-v", f"{pip_out}:/out",
            IMAGE, "python3", "-m", "pip", "wheel", "--no-binary", ":all:", "--no-index",
            "--find-links", "/wheelhouse", "--disable-pip-version-check", "-w", "/out", *pins,
        ]))
        print(
            f"run {run + 1}: offline-build {ours[-1]:.1f}s, no-op {noop[-1]:.2f}s, pip wheel {pip[-1]:.1f}s",
            flush=True,
        )
    pip_version = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", IMAGE, "python3", "-m", "pip", "--version"],
        capture_output=True, text=True,
    ).stdout.split()[1]
    ours_median, noop_median, pip_median = map(statistics.median, (ours, noop, pip))
    print(f"median of {args.runs}, --jobs {args.jobs}, {len(versions)} sdists:")
    print(f"  offline-build build      {ours_median:7.2f} s")
    print(f"  pip {pip_version} wheel          {pip_median:7.2f} s")
    print(f"  ratio offline-build/pip  {ours_median / pip_median:7.2f}  (goal <= 0.5)")
    print(f"  no-op rebuild            {noop_median:7.2f} s  (goal < 2)")


if __name__ == "__main__":
    main()
