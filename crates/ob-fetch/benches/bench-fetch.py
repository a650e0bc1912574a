#!/usr/bin/env python3
"""Benchmark of `offline-build fetch` against the obvious alternatives, side by side in one run.

Cold: the 18 sdists of the `requests` build closure, fetched from the real index by
  (a) `offline-build fetch` into an empty wheelhouse,
  (b) 8 parallel `curl` processes on the same URLs (about the network's limit),
in alternating order over several rounds, after one unmeasured round that warms any proxy cache;
then (c) `pip download --no-deps --no-binary :all:` of the same pins, fewer rounds because pip
prepares every sdist's metadata, building its build requirements from source. Medians and ratios
to (b). Goal: (a) <= 1.2x (b).
Warm: `offline-build fetch` over a complete wheelhouse of 30 sdists (nothing to download, every
file hashed), and `--offline`; medians. Goal: < 0.3 s.

The index comes from pip's configuration (PIP_INDEX_URL, pip config, else pip's built-in
default), asked at run time; no host name is written here. Needs network, curl, python3 with pip.
Run from the repository root:
  python3 crates/ob-fetch/benches/bench-fetch.py [--rounds N] [--pip-rounds N] [--warm-runs N]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

CLOSURE = [
    "requests", "certifi", "charset-normalizer", "idna", "urllib3", "setuptools", "flit-core",
    "hatchling", "hatch-vcs", "setuptools-scm", "vcs-versioning", "pluggy", "trove-classifiers",
    "calver", "packaging", "pathspec", "tomlkit", "poetry-core",
]
# Twelve more, for the 30-file warm run.
MORE = [
    "markupsafe", "pyyaml", "attrs", "click", "jinja2", "six", "wheel", "flask", "werkzeug",
    "itsdangerous", "blinker", "tomli",
]


def index_url():
    """Where pip would look: PIP_INDEX_URL, pip's config, else pip's own default."""
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


def newest_sdist(index, name):
    """The newest non-yanked sdist of `name`, from the PEP 691 JSON Simple API."""
    from pip._vendor.packaging.version import InvalidVersion, Version
    from pip._vendor.packaging.utils import parse_sdist_filename

    request = urllib.request.Request(
        index.rstrip("/") + f"/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        page = json.load(response)
    best = None
    for file in page["files"]:
        if not file["filename"].endswith(".tar.gz") or file.get("yanked"):
            continue
        try:
            _, version = parse_sdist_filename(file["filename"])
        except (InvalidVersion, ValueError):
            continue
        if version.is_prerelease or "sha256" not in file.get("hashes", {}):
            continue
        if best is None or version > best[0]:
            best = (version, file)
    if best is None:
        raise SystemExit(f"no sdist found for {name}")
    version, file = best
    url = urllib.parse.urljoin(response.url, file["url"]).split("#")[0]
    return {
        "name": name, "version": str(version), "filename": file["filename"], "url": url,
        "size": file["size"], "sha256": file["hashes"]["sha256"],
    }


def timed(command, timeout=None, **kwargs):
    started = time.perf_counter()
    subprocess.run(command, check=True, timeout=timeout, **kwargs)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm-runs", type=int, default=10)
    parser.add_argument("--pip-rounds", type=int, default=1)
    parser.add_argument("--pip-timeout", type=float, default=900)
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "offline-build"], check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "ob-fetch", "--example",
                    "lock-from-json"], check=True)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    binary = os.path.abspath(os.path.join(target, "release", "offline-build"))
    lock_from_json = os.path.abspath(os.path.join(target, "release", "examples", "lock-from-json"))

    index = index_url()
    work = tempfile.mkdtemp(prefix="bench-fetch-")
    # The host's own pip settings (e.g. find-links) must not change what pip downloads.
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_NO_INDEX")}
    try:
        sdists = {name: newest_sdist(index, name) for name in CLOSURE + MORE}
        closure = [sdists[name] for name in CLOSURE]
        for label, entries in (("cold", closure), ("warm", list(sdists.values()))):
            with open(os.path.join(work, f"{label}.json"), "w") as out:
                json.dump(entries, out)
            subprocess.run([lock_from_json, os.path.join(work, f"{label}.json"),
                            os.path.join(work, f"{label}.toml"), index], check=True)
        total = sum(entry["size"] for entry in closure)
        print(f"cold set: {len(closure)} sdists, {total / 1e6:.1f} MB")

        def ours():
            shutil.rmtree(os.path.join(work, "wheelhouse"), ignore_errors=True)
            return timed([binary, "-q", "fetch", "--lock", "cold.toml",
                          "--wheelhouse", "wheelhouse"], cwd=work)

        def curl():
            target_dir = os.path.join(work, "curl")
            shutil.rmtree(target_dir, ignore_errors=True)
            os.makedirs(target_dir)
            urls = "\n".join(entry["url"] for entry in closure)
            return timed(["xargs", "-P", "8", "-n", "1", "curl", "-sSfLO"], cwd=target_dir,
                         input=urls.encode())

        def pip():
            target_dir = os.path.join(work, "pip")
            shutil.rmtree(target_dir, ignore_errors=True)
            pins = [f"{entry['name']}=={entry['version']}" for entry in closure]
            # pip prepares metadata of every sdist, which builds their build requirements from
            # source too: minutes, so it runs fewer rounds and under a time limit.
            try:
                return timed([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                              "--no-binary", ":all:", "--no-cache-dir", "-i", index, "-d",
                              target_dir, *pins], env=pip_env, stdout=subprocess.DEVNULL,
                             timeout=args.pip_timeout)
            except subprocess.TimeoutExpired:
                return float("inf")

        contenders = {"offline-build fetch": ours, "curl x8": curl}
        # One unmeasured round, so that no contender pays for a cold proxy cache alone.
        for run in contenders.values():
            run()
        times = {name: [] for name in contenders}
        names = list(contenders)
        for round_index in range(args.rounds):
            order = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in order:
                times[name].append(contenders[name]())
        base = statistics.median(times["curl x8"])

        def show(name, samples):
            median = statistics.median(samples)
            print(f"  {name:22} {median:7.3f} s  ({min(samples):.3f}-{max(samples):.3f})"
                  f"  {median / base:5.2f}x", flush=True)

        print(f"\ncold, {len(closure)} sdists, {args.rounds} rounds (median, min-max, "
              f"ratio to curl x8):")
        for name, samples in times.items():
            show(name, samples)
        show(f"pip download ({args.pip_rounds}x)", [pip() for _ in range(args.pip_rounds)])

        # Warm: a complete wheelhouse of 30 files.
        subprocess.run([binary, "-q", "fetch", "--lock", "warm.toml", "--wheelhouse", "warm"],
                       cwd=work, check=True)
        print(f"\nwarm, {len(sdists)} files present, {args.warm_runs} runs (median, min-max):")
        for label, extra in (("fetch (no-op)", []), ("fetch --offline", ["--offline"])):
            samples = [timed([binary, "-q", "fetch", "--lock", "warm.toml", "--wheelhouse",
                              "warm", *extra], cwd=work) for _ in range(args.warm_runs)]
            print(f"  {label:22} {statistics.median(samples):7.3f} s  "
                  f"({min(samples):.3f}-{max(samples):.3f})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
