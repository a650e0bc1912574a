#!/usr/bin/env python3
"""End-to-end benchmark: `offline-build` resolve + fetch + build against `uv pip install
--no-binary :all:` and `fromager bootstrap`, side by side, cold caches, alternating order.

Per round and requirement set, each tool starts from nothing:
  ours      `offline-build resolve SPEC --exclude-newer T --lock L --index-url I --json`, then
            `fetch --lock L --wheelhouse W`, then `build --lock L --wheelhouse W --out D --json`,
            with a fresh XDG_CACHE_HOME (its sdist and wheel caches live in
            $XDG_CACHE_HOME/offline-build/) and fresh work dirs. Each stage is timed and the sum is
            "e2e". Then, not part of e2e: a second `build` into a fresh --out (it takes every wheel
            from the wheel cache that resolve filled; goal < 1 s), and one cold
            `build --no-cache` of the same lock and wheelhouse (what one compile of the set costs;
            for pyyaml the goal is e2e <= 1.15x that, i.e. Cython is compiled once).
  uv        `uv pip install --no-binary :all: --exclude-newer T --index-url I SPEC` into a fresh venv
            (made by `uv venv` before the clock starts) with a fresh UV_CACHE_DIR and no uv config.
            uv runs every build hook on the host with no sandbox at all: full network, full file
            system, this user's rights.
  fromager  `fromager -o sdists-repo -w wheels-repo -t work-dir bootstrap SPEC` in a fresh dir with a
            fresh XDG_CACHE_HOME (its uv cache is inside work-dir). fromager builds every package
            from source by default, runs build hooks under `unshare -cn` (no network, but the host's
            file system; no container). fromager 0.77.0 has no way to limit candidates by upload
            time, so it resolves the NEWEST versions (the script says so and lists the versions
            that differ from ours). It has no command-line option for the index either: it
            resolves against its built-in default (`fromager.resolver.PYPI_SERVER_URL`), and only
            per-package settings (`resolver_dist.sdist_server_url`) can change that. The script
            reads that default from the installed fromager and skips fromager, saying why, when it
            is not the index pip uses.

The index is the one pip would use: PIP_INDEX_URL, pip's configuration, else pip's default; no
host name is written here. uv and fromager are installed with the host's pip into private venvs
under the work dir (pinned below). uv and fromager build with the host's Python, ours with the
builder image's. The exclude-newer date is passed to ours and uv as the same RFC 3339 instant.
Needs Docker, the builder image (`offline-build image create`), network to the index, and minutes
(pyyaml compiles Cython: several minutes per tool and round on 2 cores).

Run from anywhere:
  python3 crates/offline-build/benches/e2e.py [--runs 3] [--set requests|pyyaml|both]
      [--exclude-newer 2026-11-01] [--work DIR] [--skip uv,fromager] [--keep]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# The newest releases that installed here on 2026-12 (checked with `pip index versions`).
UV_VERSION = "0.13.9"
FROMAGER_VERSION = "0.77.0"
SETS = {"requests": ["requests==2.32.5"], "pyyaml": ["pyyaml"]}
TOOLS = ["ours", "uv", "fromager"]
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# One tool's whole run of one set; pyyaml takes minutes, a hang should not take hours.
TIMEOUT = 3600
GOALS = {
    ("requests", "uv"): 1.5,
    ("requests", "fromager"): 0.6,
    ("pyyaml", "cold-build"): 1.15,
}
BUILD_AFTER_RESOLVE_GOAL = 1.0


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


def same_index(left, right):
    return left.rstrip("/") == right.rstrip("/")


def instant(text):
    """A bare date means its first instant in UTC (as offline-build reads it); uv would read a bare
    date in the local time zone, so both get the same RFC 3339 timestamp."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return f"{text}T00:00:00Z"
    return text


def foreign_env(**extra):
    """The host's environment without its pip and uv settings (find-links and the like must not
    change what another tool installs), with the system trust store for the TLS proxy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    if os.path.exists(SYSTEM_CA_BUNDLE):
        env.setdefault("SSL_CERT_FILE", SYSTEM_CA_BUNDLE)
        env.setdefault("REQUESTS_CA_BUNDLE", SYSTEM_CA_BUNDLE)
    env.update(extra)
    return env


class Failed(Exception):
    pass


def run(command, log, cwd, env, timeout=TIMEOUT):
    """Runs `command`, stderr to `log`; returns (seconds, stdout). Raises Failed with the log's
    tail on a non-zero exit or a timeout."""
    started = time.perf_counter()
    with open(log, "w") as err:
        try:
            done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=err, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"`{' '.join(map(str, command))}` timed out after {timeout} s; "
                         f"log: {log}")
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = Path(log).read_text(errors="replace").splitlines()[-15:]
        raise Failed(f"`{' '.join(map(str, command))}` exited {done.returncode}; log {log}:\n"
                     + "\n".join("    " + line for line in tail))
    return seconds, done.stdout


def binary():
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    path = target / "release" / "offline-build"
    if not path.exists():
        print(f"{path} is missing: building it first "
              "(cargo build --release -p offline-build; a few minutes)", flush=True)
        subprocess.run(["cargo", "build", "--release", "-p", "offline-build"], cwd=REPO,
                       check=True)
    else:
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        print(f"ours: {path} (built {built}; not rebuilt)")
    return path


def tool_venv(work, name, packages, program):
    """A private venv holding `packages`, installed with the host's pip; reused when it already
    reports the pinned version."""
    venv = work / "tools" / name
    executable = venv / "bin" / program
    version = packages[0].split("==")[1]
    if executable.exists():
        shown = subprocess.run([executable, "--version"], capture_output=True, text=True)
        if version in shown.stdout:
            return venv
        shutil.rmtree(venv)
    print(f"installing {' '.join(packages)} into {venv}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "-q", *packages], check=True)
    return venv


def wheel_versions(filenames):
    """{normalized name: version} from wheel file names (fromager adds a build tag)."""
    versions = {}
    for filename in filenames:
        parts = filename[: -len(".whl")].split("-")
        versions.setdefault(re.sub(r"[-_.]+", "-", parts[0]).lower(), set()).add(parts[1])
    return versions


def top_level_wheels(paths, specs):
    """The requested packages' wheel names, each marked with whether it holds compiled code
    (pyyaml leaves out its C extension where libyaml's headers are missing)."""
    names = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[]", spec)[0]).lower() for spec in specs}
    shown = []
    for path in sorted(paths, key=lambda p: p.name):
        if re.sub(r"[-_.]+", "-", path.name.split("-")[0]).lower() not in names:
            continue
        with zipfile.ZipFile(path) as wheel:
            compiled = any(n.endswith((".so", ".pyd")) for n in wheel.namelist())
        shown.append(f"{path.name} ({'with' if compiled else 'no'} compiled extension)")
    return shown


def statuses(report):
    counts = {}
    for package in report["packages"]:
        counts[package["status"]] = counts.get(package["status"], 0) + 1
    return counts


def run_ours(program, specs, index, exclude_newer, run_dir):
    env = dict(os.environ, XDG_CACHE_HOME=str(run_dir / "cache"))
    quiet = [program, "--no-progress"]
    result = {}
    result["resolve"], resolve_out = run(
        [*quiet, "resolve", *specs, "--exclude-newer", exclude_newer, "--index-url", index,
         "--lock", "pylock.toml", "--json"], run_dir / "resolve.log", run_dir, env)
    resolved = json.loads(resolve_out)
    result["fetch"], _ = run([*quiet, "fetch", "--lock", "pylock.toml", "--wheelhouse",
                              "wheelhouse"], run_dir / "fetch.log", run_dir, env)
    result["build"], build_out = run(
        [*quiet, "build", "--lock", "pylock.toml", "--wheelhouse", "wheelhouse", "--out", "dist",
         "--json"], run_dir / "build.log", run_dir, env)
    report = json.loads(build_out)
    result["e2e"] = result["resolve"] + result["fetch"] + result["build"]
    result["second-build"], second_out = run(
        [*quiet, "build", "--lock", "pylock.toml", "--wheelhouse", "wheelhouse", "--out",
         "dist-again", "--json"], run_dir / "build-again.log", run_dir, env)
    result["cold-build"], cold_out = run(
        [*quiet, "build", "--no-cache", "--lock", "pylock.toml", "--wheelhouse", "wheelhouse",
         "--out", "dist-cold", "--json"], run_dir / "build-cold.log", run_dir, env)
    counts, second_counts = statuses(report), statuses(json.loads(second_out))
    cold_counts = statuses(json.loads(cold_out))
    wheels = [run_dir / "dist" / p["wheel"] for p in report["packages"] if p.get("wheel")]
    result["facts"] = {
        "resolve built": resolved.get("built"),
        "resolve from cache": resolved.get("from_cache"),
        "build statuses": counts,
        "build after resolve built nothing": set(counts) <= {"cached", "up-to-date"},
        "second build statuses": second_counts,
        "cold build statuses": cold_counts,
        "wheels": len(wheels),
        "top-level wheels": top_level_wheels(wheels, specs),
    }
    result["versions"] = wheel_versions(p.name for p in wheels)
    return result


def run_uv(venv, specs, index, exclude_newer, run_dir):
    uv = venv / "bin" / "uv"
    env = foreign_env(UV_CACHE_DIR=str(run_dir / "uv-cache"), UV_PYTHON_DOWNLOADS="never",
                      XDG_CACHE_HOME=str(run_dir / "cache"))
    subprocess.run([uv, "venv", "-q", "--no-config", "--python", sys.executable, "venv"],
                   cwd=run_dir, env=env, check=True)
    seconds, _ = run(
        [uv, "pip", "install", "--no-config", "--python", "venv/bin/python", "--no-binary",
         ":all:", "--exclude-newer", exclude_newer, "--index-url", index, *specs],
        run_dir / "uv.log", run_dir, env)
    # Every wheel uv compiled from an sdist stays in its cache's sdists bucket, at
    # sdists-vN/<index>/<name>/<version>/<id>/; deeper are the unpacked sources' own files.
    wheels = sorted((run_dir / "uv-cache").glob("sdists-v*/*/*/*/*/*.whl"))
    return {
        "e2e": seconds,
        "facts": {"wheels built": len(wheels), "top-level wheels": top_level_wheels(wheels, specs)},
        "versions": wheel_versions(p.name for p in wheels),
    }


def run_fromager(venv, specs, run_dir):
    env = foreign_env(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                      XDG_CACHE_HOME=str(run_dir / "cache"))
    seconds, _ = run(
        [venv / "bin" / "fromager", "-o", "sdists-repo", "-w", "wheels-repo", "-t", "work-dir",
         "--log-file", "fromager-detail.log", "bootstrap", *specs],
        run_dir / "fromager.log", run_dir, env)
    wheels = sorted((run_dir / "wheels-repo" / "downloads").glob("*.whl"))
    return {
        "e2e": seconds,
        "facts": {"wheels built": len(wheels), "top-level wheels": top_level_wheels(wheels, specs)},
        "versions": wheel_versions(p.name for p in wheels),
    }


def version_differences(ours, theirs):
    """Names whose built versions differ between two tools, as `name ours -> theirs`."""
    lines = []
    for name in sorted(set(ours) | set(theirs)):
        left, right = ours.get(name, set()), theirs.get(name, set())
        if left != right:
            lines.append(f"{name} {','.join(sorted(left)) or '-'} -> "
                         f"{','.join(sorted(right)) or '-'}")
    return lines


def fmt(seconds):
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--set", choices=["requests", "pyyaml", "both"], default="both")
    parser.add_argument("--exclude-newer", default="2026-11-01")
    parser.add_argument("--work", type=Path, help="work dir (default: a new temporary one)")
    parser.add_argument("--skip", default="", help="comma-separated: uv,fromager")
    parser.add_argument("--keep", action="store_true", help="keep every run's directory")
    args = parser.parse_args()
    skip = {name for name in args.skip.split(",") if name}
    if skip - {"uv", "fromager"}:
        parser.error(f"--skip takes uv and fromager, not {', '.join(sorted(skip - {'uv', 'fromager'}))}")
    sets = ["requests", "pyyaml"] if args.set == "both" else [args.set]
    exclude_newer = instant(args.exclude_newer)
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-e2e-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)

    index = index_url()
    program = binary()
    print(f"index: {index} (where pip looks); exclude-newer: {exclude_newer}; work dir: {work}")
    skipped = {}
    venvs = {}
    if "uv" not in skip:
        venvs["uv"] = tool_venv(work, "uv", [f"uv=={UV_VERSION}"], "uv")
    if "fromager" not in skip:
        # fromager installs build environments with uv: pin that too.
        venvs["fromager"] = tool_venv(
            work, "fromager", [f"fromager=={FROMAGER_VERSION}", f"uv=={UV_VERSION}"], "fromager")
        default = subprocess.run(
            [venvs["fromager"] / "bin" / "python", "-c",
             "import fromager.resolver as r; print(r.PYPI_SERVER_URL)"],
            capture_output=True, text=True, check=True).stdout.strip()
        if not same_index(default, index):
            skipped["fromager"] = (
                f"fromager {FROMAGER_VERSION} resolves against its built-in index {default} and "
                f"has no option to use {index} instead (only per-package settings)")
    for name, reason in skipped.items():
        print(f"SKIPPING {name}: {reason}")
    tools = [t for t in TOOLS if t not in skip and t not in skipped]
    print(f"versions: uv {UV_VERSION}, fromager {FROMAGER_VERSION}; "
          f"tools: {', '.join(tools)}; {args.runs} round(s), alternating order")
    if "uv" in tools:
        print("note: uv builds with no sandbox: its build hooks run on the host with network.")
    if "fromager" in tools:
        print("note: fromager has no upload-time limit: it resolves the NEWEST versions; its "
              "hooks run under `unshare -cn` (no network) on the host's file system.")
    if "pyyaml" in sets and os.path.exists("/usr/include/yaml.h"):
        print("note: the host has libyaml's headers, so uv and fromager (building on the host) "
              "compile pyyaml's C extension, which the builder image (no libyaml headers) leaves out; "
              "each run's wheel line says which wheel has it.")

    results = {(s, t): [] for s in sets for t in tools}
    failures = []
    for round_number in range(args.runs):
        for set_name in sets:
            shift = round_number % len(tools)
            for tool in tools[shift:] + tools[:shift]:
                run_dir = work / f"round{round_number + 1}-{set_name}-{tool}"
                shutil.rmtree(run_dir, ignore_errors=True)
                run_dir.mkdir(parents=True)
                specs = SETS[set_name]
                try:
                    if tool == "ours":
                        result = run_ours(program, specs, index, exclude_newer, run_dir)
                    elif tool == "uv":
                        result = run_uv(venvs["uv"], specs, index, exclude_newer, run_dir)
                    else:
                        result = run_fromager(venvs["fromager"], specs, run_dir)
                except Failed as err:
                    failures.append(f"round {round_number + 1} {set_name} {tool}: {err}")
                    print(f"round {round_number + 1} {set_name:8} {tool:8} FAILED: {err}",
                          flush=True)
                    continue
                results[(set_name, tool)].append(result)
                times = ", ".join(f"{key} {fmt(value)}" for key, value in result.items()
                                  if isinstance(value, float))
                print(f"round {round_number + 1} {set_name:8} {tool:8} {times}", flush=True)
                facts = "; ".join(f"{key}: {value}" for key, value in result["facts"].items())
                print(f"    {facts}", flush=True)
                if not args.keep:
                    shutil.rmtree(run_dir, ignore_errors=True)

    print("\nmedians")
    for set_name in sets:
        medians = {}
        for tool in tools:
            runs = results[(set_name, tool)]
            if not runs:
                continue
            keys = [k for k, v in runs[0].items() if isinstance(v, float)]
            medians[tool] = {k: statistics.median(r[k] for r in runs) for k in keys}
            line = ", ".join(f"{k} {fmt(v)}" for k, v in medians[tool].items())
            print(f"  {set_name:8} {tool:8} ({len(runs)} run(s)) {line}")
        ours_runs = results.get((set_name, "ours"), [])
        if "ours" in tools and ours_runs and "fromager" in medians:
            differences = version_differences(ours_runs[-1]["versions"],
                                              results[(set_name, "fromager")][-1]["versions"])
            if differences:
                print(f"    fromager (newest versions) built other versions than ours: "
                      f"{'; '.join(differences)}")
        if "ours" not in medians:
            continue
        ours_e2e = medians["ours"]["e2e"]
        print(f"  ratios, {set_name}:")
        for other, label in (("uv", "uv (pip install --no-binary :all:)"),
                             ("fromager", "fromager (bootstrap)"),
                             ("cold-build", "ours cold build (--no-cache, same lock)")):
            theirs = medians["ours"]["cold-build"] if other == "cold-build" else \
                medians.get(other, {}).get("e2e")
            if theirs is None:
                reason = skipped.get(other) or ("skipped" if other in skip else "no successful run")
                print(f"    ours e2e / {label}: n/a ({reason})")
                continue
            ratio = ours_e2e / theirs
            goal = GOALS.get((set_name, other))
            verdict = f"   goal <= {goal}x: {'met' if ratio <= goal else 'NOT met'}" if goal else ""
            print(f"    ours e2e / {label}: {fmt(ours_e2e)} / {fmt(theirs)} = {ratio:.2f}x{verdict}")
        for key, label in (("build", "build after resolve (e2e's build stage)"),
                           ("second-build", "second build into a fresh --out")):
            value = medians["ours"][key]
            met = "met" if value < BUILD_AFTER_RESOLVE_GOAL else "NOT met"
            print(f"    {label}: {fmt(value)}   goal < {BUILD_AFTER_RESOLVE_GOAL:.0f} s: {met}")
        nothing = all(r["facts"]["build after resolve built nothing"] for r in ours_runs)
        print(f"    build after resolve built nothing in every run: {nothing}")
    if failures:
        print("\nfailures (no numbers were made up for these):")
        for failure in failures:
            print(f"  {failure}")
    print(f"\nwork dir: {work}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
