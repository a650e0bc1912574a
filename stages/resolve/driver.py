"""offline-build resolve driver: runs INSIDE the scratch resolve container, whose only reachable
service is the orchestrator's index proxy (sdists only).

It owns discovery. pip's resolver picks versions under the sdist-only policy, but never builds
anything: a loopback index in front of the proxy answers pip's PEP 658 metadata requests with
what each sdist states in its PKG-INFO. Then every package is taken bottom-up, as the build
stage will take it: its static `[build-system].requires` (the setuptools default when absent) are
built first, then the build stage's own driver runs its hooks in a venv of exactly those wheels,
which names the dynamic requirements (`get_requires_for_build_wheel`), and, once those are built
too, builds its wheel. That build is the verification build; its METADATA confirms what the
PKG-INFO said, and a difference is fed back to pip. New build requirements and corrected
metadata start another pip round, until nothing changes. Unrelated packages build in parallel.

The result goes to <out>/result.json; the orchestrator checks every file against what its proxy
served and trusts nothing here for security decisions.

Invoked as `python3 driver.py <job.json>`; the job fields are documented in
crates/ob-resolve/src/driver.rs.
"""

import concurrent.futures
import email.parser
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import threading
import tomllib
import traceback
import urllib.error
import urllib.request
import zipfile

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

WORK = "/tmp/ob"
NETWORK_LOG = "/tmp/ob-network.jsonl"
# PEP 517/518: what a project without [build-system] is built with.
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]
TAIL = 20
# A resolve that has not settled after this many pip rounds is going round in circles.
MAX_ROUNDS = 40
# What a build step does, weakest first: learn the build requirements, also prepare the
# metadata, or build the wheel.
MODES = ("requires", "metadata", "build")


class Failure(Exception):
    """A resolve failure the user has to act on; `kind` tells the orchestrator which."""

    def __init__(self, kind, package, message, log=None, **extra):
        super().__init__(message)
        self.kind = kind
        self.package = package
        self.message = message
        self.log = log
        self.extra = extra


class Unpinned(Exception):
    """A requirement names a package that the current pip resolution does not hold (yet)."""


def progress(event, **fields):
    print("offline-build-progress " + json.dumps({"event": event, **fields}), flush=True)


def tail(text, lines=TAIL):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def network_attempts():
    attempts = []
    try:
        with open(NETWORK_LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                # A build running in parallel may be half-way through writing its line.
                try:
                    attempts.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    except OSError:
        pass
    return attempts


# -- metadata ------------------------------------------------------------------------------------


def parse_metadata(text):
    """The fields of core metadata that resolution depends on."""
    message = email.parser.HeaderParser().parsestr(text)
    return {
        "metadata_version": message.get("Metadata-Version", "1.0").strip(),
        "name": (message.get("Name") or "").strip(),
        "version": (message.get("Version") or "").strip(),
        "requires_dist": [r.strip() for r in message.get_all("Requires-Dist") or []],
        "requires_python": (message.get("Requires-Python") or "").strip() or None,
        "provides_extra": [e.strip() for e in message.get_all("Provides-Extra") or []],
        "dynamic": [d.strip().lower() for d in message.get_all("Dynamic") or []],
    }


def metadata_key(metadata):
    """What must agree between the metadata pip resolved with and the built wheel's."""
    def requirement(text):
        try:
            return str(Requirement(text))
        except Exception:
            return text.strip()

    requires_python = metadata.get("requires_python")
    try:
        requires_python = str(SpecifierSet(requires_python)) if requires_python else ""
    except Exception:
        pass
    return (
        sorted({requirement(r) for r in metadata.get("requires_dist") or []}),
        requires_python,
        sorted({canonicalize_name(e) for e in metadata.get("provides_extra") or []}),
    )


def trusted(metadata):
    """PEP 643: from Metadata-Version 2.2 on, a field not marked Dynamic is what the wheel says."""
    try:
        new_enough = Version(metadata["metadata_version"]) >= Version("2.2")
    except InvalidVersion:
        return False
    dynamic = set(metadata["dynamic"])
    return new_enough and not dynamic & {"requires-dist", "requires-python", "provides-extra"}


def valid_requirement(text):
    try:
        Requirement(text)
    except Exception:
        return False
    return True


def sdist_name_version(filename):
    stem = filename[: -len(".tar.gz")] if filename.endswith(".tar.gz") else filename.rsplit(".", 1)[0]
    name, _, version = stem.rpartition("-")
    return canonicalize_name(name), version


def read_sdist(path):
    """PKG-INFO text and parsed pyproject.toml of an sdist's top directory, without extracting."""
    wanted = {}
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) == 2 and parts[1] in ("PKG-INFO", "pyproject.toml"):
                    wanted.setdefault(parts[1], archive.read(name))
    else:
        with tarfile.open(path) as archive:
            for member in archive:
                parts = member.name.lstrip("./").split("/")
                if member.isfile() and len(parts) == 2 and parts[1] in ("PKG-INFO", "pyproject.toml"):
                    wanted.setdefault(parts[1], archive.extractfile(member).read())
    pkg_info = wanted.get("PKG-INFO")
    pyproject = {}
    if "pyproject.toml" in wanted:
        pyproject = tomllib.loads(wanted["pyproject.toml"].decode("utf-8"))
    return (pkg_info.decode("utf-8", "replace") if pkg_info is not None else None), pyproject


class MetadataIndex:
    """A loopback index in front of the proxy that gives pip PEP 658 `core-metadata` for every
    sdist, so that pip's resolver never builds anything. The metadata is what `provide` returns
    for a file (what its PKG-INFO states until a build confirms or corrects it). Pages are kept
    for the whole run; files are forwarded untouched."""

    def __init__(self, upstream, provide):
        origin = urllib.request.urlparse(upstream)
        self.origin = f"{origin.scheme}://{origin.netloc}"
        self.provide = provide
        self.metadata = {}  # sdist file name -> METADATA bytes
        self.pages = {}  # path -> (content type, body)
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    index.answer(self)
                except Failure as failure:
                    index.failure = failure
                    self.send_error(502, failure.message)
                except Exception as error:  # a broken answer must not kill the server
                    self.send_error(502, str(error))

        self.failure = None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"

    def set(self, filename, metadata):
        lines = ["Metadata-Version: 2.1", f"Name: {metadata['name']}", f"Version: {metadata['version']}"]
        if metadata.get("requires_python"):
            lines.append(f"Requires-Python: {metadata['requires_python']}")
        lines += [f"Provides-Extra: {extra}" for extra in metadata.get("provides_extra") or []]
        lines += [f"Requires-Dist: {requirement}" for requirement in metadata.get("requires_dist") or []]
        self.metadata[filename] = ("\n".join(lines) + "\n").encode()

    def answer(self, request):
        path = request.path.split("?", 1)[0]
        if path.startswith("/files/") and path.endswith(".metadata"):
            file_path = path[: -len(".metadata")]
            filename = urllib.request.unquote(file_path.rsplit("/", 1)[-1])
            if filename not in self.metadata:
                self.set(filename, self.provide(filename, self.origin + file_path))
            return self.send(request, 200, "application/octet-stream", self.metadata[filename])
        if path.startswith("/simple/") and path in self.pages:
            return self.send(request, 200, *self.pages[path])
        upstream = urllib.request.Request(self.origin + path, headers={
            "Accept": request.headers.get("Accept", "*/*")})
        try:
            response = urllib.request.urlopen(upstream, timeout=600)
        except urllib.error.HTTPError as error:
            return self.send(request, error.code, "text/plain", error.read())
        with response:
            body = response.read()
            content_type = response.headers.get("Content-Type", "application/octet-stream")
        if path.startswith("/simple/") and "json" in content_type:
            page = json.loads(body)
            for file in page.get("files", []):
                if file["filename"].endswith((".tar.gz", ".zip")):
                    file["core-metadata"] = True
                    file["data-dist-info-metadata"] = True
            body = json.dumps(page).encode()
            self.pages[path] = (content_type, body)
        self.send(request, 200, content_type, body)

    @staticmethod
    def send(request, status, content_type, body):
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


# pip (25.1, Debian trixie's) resolves from PEP 658 metadata alone, then downloads and prepares
# every sdist anyway, building its metadata in an isolated environment, even for --dry-run. The
# answer is already known, so this skips that last step for whatever was resolved from metadata
# and reports that metadata. With a pip whose internals differ, nothing is patched: pip does
# its own preparation, slower, with the same result.
PIP_DRY_RUN = r'''
import sys

# Not dumpable: a build (same uid, under a seccomp filter that pip is not under) cannot attach
# to this process or read its memory through /proc.
import ctypes
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
try:
    from pip._internal.operations.prepare import RequirementPreparer
    from pip._internal.req.req_install import InstallRequirement
    from pip._internal.utils.direct_url_helpers import direct_url_from_link

    fetch_metadata_only = RequirementPreparer._fetch_metadata_only
    prepare_more = RequirementPreparer.prepare_linked_requirements_more
    get_dist = InstallRequirement.get_dist

    def _fetch_metadata_only(self, req):
        dist = fetch_metadata_only(self, req)
        if dist is not None:
            req._offline_build_metadata = dist
        return dist

    def _prepare_more(self, reqs, parallel_builds=False):
        rest = []
        for req in reqs:
            if req.needs_more_preparation and getattr(req, "_offline_build_metadata", None) is not None:
                if req.download_info is None:
                    req.download_info = direct_url_from_link(req.link, req.source_dir)
                req.needs_more_preparation = False
            else:
                rest.append(req)
        prepare_more(self, rest, parallel_builds)

    def _get_dist(self):
        dist = getattr(self, "_offline_build_metadata", None)
        return dist if dist is not None else get_dist(self)

    RequirementPreparer._fetch_metadata_only = _fetch_metadata_only
    RequirementPreparer.prepare_linked_requirements_more = _prepare_more
    InstallRequirement.get_dist = _get_dist
except (ImportError, AttributeError):
    pass
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


# -- the driver ----------------------------------------------------------------------------------


class Driver:
    def __init__(self, job):
        self.job = job
        self.out = job["out"]
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        for directory in ("sdists", "wheels", "envs", "venvs", "step-out"):
            os.makedirs(os.path.join(WORK, directory), exist_ok=True)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp/home",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "SOURCE_DATE_EPOCH": str(job["source_date_epoch"]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "OB_ALLOW_HOST": job["allow_host"],
            "OB_NETWORK_LOG": NETWORK_LOG,
            # pip: only our proxy, only sdists, no configuration but ours.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_TRUSTED_HOST": job["allow_host"],
            "PIP_NO_BINARY": ":all:",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_BREAK_SYSTEM_PACKAGES": "1",
            "PIP_PROGRESS_BAR": "off",
            "PIP_RETRIES": "0",
            # Metadata is served on demand, after its sdist is fetched through the proxy.
            "PIP_DEFAULT_TIMEOUT": "600",
        }
        # pip talks to the proxy through the metadata index (loopback, so plain http is fine).
        self.metadata_index = MetadataIndex(job["index_url"], self.provide_metadata)
        self.env["PIP_INDEX_URL"] = self.metadata_index.url
        self.requirements = list(job["requirements"])
        self.constraints = list(job["constraints"])
        self.lock = threading.Lock()
        self.fetch_locks = {}
        # name -> {"version", "url", "filename", "requires_dist", "requires_python"}: pip's answer.
        self.packages = {}
        self.sdists = {}  # filename -> {"static": [str], "pkg_info": metadata or None}
        self.served = {}  # filename -> metadata dict pip was given
        self.dynamic = {}  # (name, version) -> the last build requirements its hooks named
        # (name, version, env) -> {"mode", "status", "requires", "wheel", "log", "tail", "missing"}
        self.steps = {}
        self.metadata_changed = False
        self.unpinned = set()  # names a build environment needs that pip's resolution lacks
        self.pip_prepared = set()  # names of packages whose metadata pip prepared itself

    # -- sdists and their metadata ------------------------------------------------------------

    def fetch_sdist(self, url):
        filename = urllib.request.unquote(url.rsplit("/", 1)[-1])
        path = os.path.join(WORK, "sdists", filename)
        with self.lock:
            fetch_lock = self.fetch_locks.setdefault(path, threading.Lock())
        with fetch_lock:
            if not os.path.exists(path):
                with urllib.request.urlopen(url, timeout=300) as response, open(path + ".part", "wb") as f:
                    shutil.copyfileobj(response, f)
                os.rename(path + ".part", path)
        return path

    def sdist_info(self, filename, url):
        info = self.sdists.get(filename)
        if info is not None:
            return info
        path = self.fetch_sdist(url)
        name, _ = sdist_name_version(filename)
        try:
            pkg_info, pyproject = read_sdist(path)
        except Exception as error:
            raise Failure("bad-sdist", name, f"could not read {filename}: {error}")
        static = pyproject.get("build-system", {}).get("requires", DEFAULT_REQUIRES)
        if not isinstance(static, list) or not all(isinstance(r, str) and valid_requirement(r) for r in static):
            raise Failure("bad-sdist", name,
                          f"{filename}: [build-system].requires is not a list of PEP 508 requirements: {static!r}")
        info = {
            "static": list(static),
            "pkg_info": parse_metadata(pkg_info) if pkg_info else None,
        }
        with self.lock:
            self.sdists[filename] = info
        return info

    def provide_metadata(self, filename, url):
        """What pip is told about an sdist it has not been told about yet: its PKG-INFO, or only
        its name and version when it has none. A later build of it confirms or corrects this."""
        info = self.sdist_info(filename, url)
        name, version = sdist_name_version(filename)
        metadata = info["pkg_info"] or {"name": name, "version": version}
        metadata = {**metadata, "name": metadata.get("name") or name, "version": metadata.get("version") or version}
        # Unless trusted (PEP 643), only a guess until a step of it confirms or corrects it.
        self.served[filename] = metadata
        return metadata

    # -- pip's resolver -----------------------------------------------------------------------

    def pip_resolve(self, requirements, label):
        req_file = os.path.join(WORK, f"{label}-requirements.txt")
        with open(req_file, "w") as f:
            f.write("\n".join(requirements) + "\n")
        report = os.path.join(WORK, f"{label}-report.json")
        # -I: no user site directory, which a build (same uid, same writable /tmp and HOME) could
        # fill with a .pth file that pip would run.
        command = [sys.executable, "-I", "-c", PIP_DRY_RUN, "install", "--dry-run", "--ignore-installed",
                   "--report", report, "-r", req_file]
        if self.constraints:
            constraints = os.path.join(WORK, "constraints.txt")
            with open(constraints, "w") as f:
                f.write("\n".join(self.constraints) + "\n")
            command += ["-c", constraints]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True)
        log = os.path.join(self.logs, f"{label}.log")
        with open(log, "w") as f:
            f.write(result.stdout + result.stderr)
        # pip downloads a whole sdist only to prepare its metadata itself: correct, but the slow
        # path that PIP_DRY_RUN exists to avoid. Reported, so that a regression shows.
        for url in re.findall(r"^\s*Downloading (\S+?\.(?:tar\.gz|zip))\s", result.stdout, re.M):
            self.pip_prepared.add(sdist_name_version(urllib.request.unquote(url.rsplit("/", 1)[-1]))[0])
        if self.metadata_index.failure is not None:
            raise self.metadata_index.failure
        if result.returncode != 0:
            self.explain_pip_failure(result.stdout + result.stderr, log)
        with open(report) as f:
            installs = json.load(f)["install"]
        self.packages = {}
        for item in installs:
            metadata = item["metadata"]
            url = item["download_info"]["url"]
            self.packages[canonicalize_name(metadata["name"])] = {
                "version": metadata["version"],
                "url": url,
                "filename": urllib.request.unquote(url.rsplit("/", 1)[-1]),
                "requires_dist": metadata.get("requires_dist", []),
                "requires_python": metadata.get("requires_python"),
            }
        progress("found", packages=len(self.packages))

    @staticmethod
    def explain_pip_failure(output, log):
        missing = re.search(
            r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)",
            output)
        if missing:
            requirement = missing.group(1)
            versions = [v.strip() for v in missing.group(2).split(",") if v.strip() and v.strip() != "none"]
            name = canonicalize_name(re.split(r"[\[<>=!~;@ ]", requirement, maxsplit=1)[0])
            raise Failure("no-sdist", name, f"no source distribution matches `{requirement}`",
                          log=log, requirement=requirement, sdist_versions=versions)
        if "ResolutionImpossible" in output or "conflicting dependencies" in output:
            explanation = []
            capture = False
            for line in output.splitlines():
                if "The conflict is caused by:" in line:
                    capture = True
                if capture and (line.startswith("To fix this") or "Additionally, some packages" in line):
                    break
                if capture:
                    explanation.append(line.strip())
            conflict = re.search(r"Cannot install (.+?) because", output)
            raise Failure("conflict", conflict.group(1) if conflict else "",
                          "\n".join(line for line in explanation if line) or tail(output),
                          log=log)
        found = re.findall(r"Collecting (\S+)", output)
        package = canonicalize_name(re.split(r"[\[<>=!~;@ ]", found[-1], maxsplit=1)[0]) if found else ""
        raise Failure("internal", package, "pip's resolver failed:\n" + tail(output), log=log)

    # -- requirements and closures ------------------------------------------------------------

    def static_requirements(self, name):
        package = self.packages[name]
        return self.sdist_info(package["filename"], package["url"])["static"]

    def build_strings(self):
        """Every build requirement of every package pip chose, as pip is to enforce them."""
        strings = set()
        for name, package in self.packages.items():
            info = self.sdists.get(package["filename"])
            if info is not None:
                strings.update(info["static"])
            strings.update(self.dynamic.get((name, package["version"]), []))
        return sorted(strings)

    def satisfied(self, requirement_strings):
        """Whether the pinned versions meet these requirements' version specifiers."""
        environment = {**default_environment(), "extra": ""}
        for text in requirement_strings:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            package = self.packages.get(canonicalize_name(requirement.name))
            if package is not None and not requirement.specifier.contains(package["version"], prereleases=True):
                return False
        return True

    def closure(self, requirement_strings, edges=None):
        """Names of the packages that `requirement_strings` pull in under pip's resolution."""
        environment = default_environment()
        chosen = {}  # name -> extras
        stack = [Requirement(r) for r in requirement_strings]
        while stack:
            requirement = stack.pop()
            if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in self.packages:
                raise Unpinned(name)
            extras = {canonicalize_name(e) for e in requirement.extras}
            before = chosen.get(name)
            if before is not None and extras <= before:
                continue
            chosen[name] = (before or set()) | extras
            for text in self.packages[name]["requires_dist"] or []:
                dependency = Requirement(text)
                marker = dependency.marker
                if marker is not None and not any(
                    marker.evaluate({**environment, "extra": extra}) for extra in ["", *sorted(chosen[name])]
                ):
                    continue
                dependency.marker = None
                if edges is not None:
                    edges.setdefault(name, set()).add(canonicalize_name(dependency.name))
                stack.append(dependency)
        return set(chosen)

    # -- the plan: what each package needs and what can run now --------------------------------

    def plan(self):
        """For every package: its build environments so far, whether it is done, and the step
        that can run now. Returns (states, runnable steps, needs another pip round)."""
        needs_round = False
        self.unpinned = set()
        states = {}
        build_ids = {}
        visiting = set()

        def step_for(name, env_names, mode_needed):
            env = env_id(env_names)
            if env is None:
                return None, env
            result = self.steps.get((name, self.packages[name]["version"], env))
            if result is not None and MODES.index(result["mode"]) >= MODES.index(mode_needed):
                return result, env
            return None, env

        def env_id(names):
            ids = []
            for dependency in sorted(names):
                identity = build_id(dependency)
                if identity is None:
                    return None
                ids.append(identity)
            return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]

        def build_id(name):
            """Identity of `name`'s current wheel (its version and what it was built with), or
            None while it is not built under the current resolution."""
            if name in build_ids:
                return build_ids[name]
            if name in visiting:
                return None
            visiting.add(name)
            state = state_of(name, "build")
            visiting.discard(name)
            identity = None
            if state["done"] and state["result"]["mode"] == "build":
                identity = f"{name}=={self.packages[name]['version']}@{state['env']}"
            build_ids[name] = identity
            return identity

        def state_of(name, mode_needed):
            nonlocal needs_round
            state = {"done": False, "waits": set(), "step": None, "result": None, "env": None,
                     "build_env": None}
            static = self.static_requirements(name)
            # What its hooks named last, in whatever environment they ran.
            requires = self.dynamic.get((name, self.packages[name]["version"]))
            try:
                target = self.closure(static + (requires or []))
            except Unpinned as missing:
                needs_round = True
                self.unpinned.add(str(missing))
                return state
            if requires and not self.satisfied(requires):
                # A dynamic requirement that the pins break (`setuptools>=90` with 84 pinned):
                # building now could only fail or mislead; pip picks again first.
                needs_round = True
                self.unpinned.add(f"a version that meets {name}'s {requires}")
                return state
            if name in target:
                raise Failure("cycle", name, "build-dependency cycle", cycle=[name, name])
            if mode_needed == "requires" and requires is not None:
                state.update(done=True, build_env=sorted(target))
                return state
            result, env = step_for(name, target, mode_needed)
            if env is None:
                state["waits"] = {d for d in target if d in visiting or build_id(d) is None}
                return state
            if result is None:
                state["step"] = (name, target, env, mode_needed)
                return state
            if result["status"] == "missing":
                raise Failure("build-failed", name,
                              f"its build asked for `{result['missing']}`, which is not in its build environment",
                              log=result["log"], tail=result["tail"], via=self.why(name))
            if self.closure(static + result["requires"]) != target:
                raise Failure("hook-failed", name,
                              "get_requires_for_build_wheel names other requirements in other build "
                              f"environments: {result['requires']} here, {requires} elsewhere",
                              log=result["log"], tail=result["tail"])
            state.update(done=True, result=result, env=env, build_env=sorted(target))
            return state

        def trusted_metadata(name):
            info = self.sdists.get(self.packages[name]["filename"])
            return bool(info and info["pkg_info"] and trusted(info["pkg_info"]))

        def mode_of(name):
            if self.job["verify"] or name in needed:
                return "build"
            return "requires" if trusted_metadata(name) else "metadata"

        # Without verification, only what some build environment holds is built: every static
        # environment (hooks run there), and the full one of whatever is built or prepared.
        needed = set()
        if not self.job["verify"]:
            for name in self.packages:
                try:
                    needed |= self.closure(self.static_requirements(name))
                except Unpinned as missing:
                    needs_round = True
                    self.unpinned.add(str(missing))
            while True:
                grown = set(needed)
                for name, package in self.packages.items():
                    requires = self.dynamic.get((name, package["version"]))
                    if requires and mode_of(name) != "requires":
                        try:
                            grown |= self.closure(self.static_requirements(name) + requires)
                        except Unpinned:
                            needs_round = True
                if grown == needed:
                    break
                needed = grown

        runnable = []
        for name in sorted(self.packages):
            visiting.add(name)
            states[name] = state_of(name, mode_of(name))
            visiting.discard(name)
            if states[name]["step"] is not None:
                runnable.append(states[name]["step"])
        return states, runnable, needs_round

    def why(self, target):
        """How what was asked for leads to `target`, through run-time and build requirements:
        "black needs mypy to build; mypy needs librt". Empty for a requested package."""
        environment = {**default_environment(), "extra": ""}

        def names(requirements):
            found = []
            for text in requirements:
                try:
                    requirement = Requirement(text)
                except Exception:
                    continue
                if requirement.marker is None or requirement.marker.evaluate(environment):
                    found.append(canonicalize_name(requirement.name))
            return found

        def parse_names(texts):
            return [n for n in names(texts) if n in self.packages]

        start = [n for n in names(self.requirements) if n in self.packages]
        parent = {name: None for name in start}
        queue = list(start)
        while queue and target not in parent:
            name = queue.pop(0)
            package = self.packages[name]
            info = self.sdists.get(package["filename"]) or {"static": []}
            build = info["static"] + self.dynamic.get((name, package["version"]), [])
            for dependency, how in [(d, "") for d in parse_names(package["requires_dist"] or [])] + \
                    [(d, " to build") for d in parse_names(build)]:
                if dependency not in parent:
                    parent[dependency] = (name, how)
                    queue.append(dependency)
        if target not in parent:
            return ""
        links = []
        while parent[target] is not None:
            name, how = parent[target]
            links.append(f"{name} needs {target}{how}")
            target = name
        return "; ".join(reversed(links))

    def pinned(self, name, version):
        """Whether `version` is what the current resolution pins for `name`."""
        return self.packages.get(name, {}).get("version") == version

    # -- one step: the build stage's driver on one package -------------------------------------

    def run_step(self, name, env_wheels, env, mode):
        package = self.packages[name]
        version = package["version"]
        sdist = self.fetch_sdist(package["url"])
        tag = f"{name}-{env}"
        wheels_dir = os.path.join(WORK, "envs", tag)
        out = os.path.join(WORK, "step-out", tag)
        venv = os.path.join(WORK, "venvs", tag)
        source_dir = f"/tmp/src/{name}-{version}"
        for directory in (wheels_dir, out, venv, source_dir, source_dir + ".extract"):
            shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(wheels_dir)
        os.makedirs(out)
        wheels = []
        for built in env_wheels:
            target = os.path.join(wheels_dir, os.path.basename(built))
            os.link(built, target)
            wheels.append(target)
        job = {
            "name": name,
            "version": version,
            "sdist": sdist,
            "wheels": wheels,
            "wheels_dir": wheels_dir,
            "out": out,
            "source_dir": source_dir,
            "prefix_map_to": f"/usr/src/{name}-{version}",
            "source_date_epoch": self.job["source_date_epoch"],
            "venv": venv,
            "audit": self.job["audit"],
            "mode": mode,
            # This container reaches the index proxy; nothing a build starts may open a socket.
            "deny_network": True,
        }
        # One log per step: a package may run in several environments and rounds, and an error
        # raised later from a remembered step must point at that step's own log.
        kind = "build" if mode == "build" else "hooks"
        log_path = os.path.join(self.logs, f"{kind}-{name}-{version}-{env}.log")
        env_vars = {k: v for k, v in self.env.items() if not k.startswith(("PIP_", "OB_ALLOW"))}
        with open(log_path, "w") as log:
            log.write(f"# {name} {version}, {mode}, with {', '.join(os.path.basename(w) for w in wheels) or 'nothing'}\n")
            log.flush()
            # A session of its own, so that a timeout stops the hooks' processes too.
            process = subprocess.Popen([sys.executable, "-I", self.job["build_driver"], json.dumps(job)],
                                       env=env_vars, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                returncode = process.wait(timeout=self.job["build_timeout"])
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                returncode = None
            # Nothing a step started outlives it (a daemon left behind would still be there
            # during the next pip round).
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with open(log_path) as f:
            text = f.read()
        if returncode is None:
            raise Failure("build-failed", name, f"{'its build' if mode == 'build' else 'running its hooks'} took "
                          f"longer than {self.job['build_timeout']} s, and was stopped (--timeout)",
                          log=log_path, tail=tail(text))
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(wheels_dir, ignore_errors=True)
        listed = re.search(r"^offline-build: build-requirements (\[.*\])$", text, re.M)
        requires = json.loads(listed.group(1)) if listed else None
        for requirement in requires or []:
            if not valid_requirement(requirement):
                raise Failure("hook-failed", name, f"get_requires_for_build_wheel named `{requirement}`, "
                              "which is not a PEP 508 requirement", log=log_path, tail=tail(text))
        missing = re.search(r"offline-build: missing-build-requirement (.+?) \(", text)
        step = {"mode": mode, "status": "ok", "requires": requires or [], "wheel": None,
                "log": log_path, "tail": tail(text), "missing": None}
        if returncode != 0:
            unfiltered = re.search(r"^offline-build: network-filter (.+)$", text, re.M)
            if unfiltered:
                # Not the package's fault: this machine cannot keep builds from the network.
                raise Failure("internal", name,
                              f"building `{name}`: the seccomp filter that keeps resolve's builds from "
                              f"the network could not be installed ({unfiltered.group(1)}); resolve needs "
                              "Linux with seccomp, on x86_64 or aarch64, and refuses to build without it",
                              log=log_path)
            attempts = [a for a in network_attempts()
                        if str(a.get("cwd", "")) == source_dir or str(a.get("cwd", "")).startswith(source_dir + "/")]
            attempt = re.search(r"offline-build: network-attempt \S+ (.+)", text)
            if attempts or attempt:
                host = attempts[0].get("host") if attempts else attempt.group(1).strip("'\"")
                raise Failure("network", name, "its build tried to reach the network",
                              log=log_path, host=host, tail=tail(text))
            if missing and listed:
                step.update(status="missing", missing=missing.group(1))
            else:
                raise Failure("build-failed" if mode == "build" and listed else "hook-failed", name,
                              "its verification build failed" if mode == "build" and listed
                              else "its build hooks failed", log=log_path, tail=tail(text))
        elif requires is None:
            raise Failure("hook-failed", name, "the build driver did not report its build requirements",
                          log=log_path, tail=tail(text))
        elif mode != "requires":
            metadata_text = self.collect_output(name, out, mode, log_path, text, step)
            self.confirm(name, parse_metadata(metadata_text))
        for directory in (out, source_dir):
            shutil.rmtree(directory, ignore_errors=True)
        return step

    def collect_output(self, name, out, mode, log_path, text, step):
        """Keeps the wheel and returns the METADATA the step produced."""
        wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
        if mode == "metadata" and not wheels:
            dist_info = [d for d in os.listdir(out) if d.endswith(".dist-info")]
            if len(dist_info) == 1 and os.path.isfile(os.path.join(out, dist_info[0], "METADATA")):
                with open(os.path.join(out, dist_info[0], "METADATA"), encoding="utf-8", errors="replace") as f:
                    return f.read()
            raise Failure("hook-failed", name, "prepare_metadata_for_build_wheel left no METADATA",
                          log=log_path, tail=tail(text))
        if len(wheels) != 1:
            raise Failure("build-failed", name, f"its build produced {len(wheels)} wheels, not one",
                          log=log_path, tail=tail(text))
        wheel = os.path.join(WORK, "wheels", os.path.basename(out), wheels[0])
        os.makedirs(os.path.dirname(wheel), exist_ok=True)
        shutil.move(os.path.join(out, wheels[0]), wheel)
        with zipfile.ZipFile(wheel) as archive:
            found = [n for n in archive.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if len(found) != 1:
                raise Failure("build-failed", name, f"{wheels[0]} holds {len(found)} METADATA files",
                              log=log_path, tail=tail(text))
            metadata_text = archive.read(found[0]).decode("utf-8", "replace")
        if mode == "build":
            step["wheel"] = wheel
        return metadata_text

    def confirm(self, name, built):
        """Checks what a build says against what pip resolved with; a difference is kept and
        starts another round."""
        package = self.packages[name]
        if canonicalize_name(built["name"]) != name or Version(built["version"]) != Version(package["version"]):
            raise Failure("build-failed", name,
                          f"its build made {built['name']} {built['version']}, not {name} {package['version']}")
        served = self.served.get(package["filename"])
        if served is not None and metadata_key(served) == metadata_key(built):
            return
        with self.lock:
            self.served[package["filename"]] = built
            self.metadata_index.set(package["filename"], built)
            self.metadata_changed = True

    # -- the loop -----------------------------------------------------------------------------

    def work(self):
        """Runs every step the current resolution allows, in parallel, until none is left.
        Returns the final plan."""
        running = {}
        verifying = False
        with concurrent.futures.ThreadPoolExecutor(max(1, self.job["jobs"])) as pool:
            try:
                while True:
                    plan = self.plan()
                    states, runnable, _ = plan
                    busy = {key[0] for key in running.values()}
                    for name, env_names, env, mode in runnable:
                        if name in busy:
                            continue
                        if mode == "build" and not verifying:
                            verifying = True
                            progress("phase", phase="verify", total=len(self.packages))
                        wheels = [states[d]["result"]["wheel"] for d in sorted(env_names)]
                        future = pool.submit(self.run_step, name, wheels, env, mode)
                        running[future] = (name, self.packages[name]["version"], env)
                        busy.add(name)
                    if not running:
                        return plan
                    done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        key = running.pop(future)
                        try:
                            step = future.result()
                        except Failure as failure:
                            # Traced here, in the one thread that changes what it reads.
                            if failure.package and "via" not in failure.extra:
                                failure.extra["via"] = self.why(failure.package)
                            raise
                        with self.lock:
                            self.steps[key] = step
                            first = (key[0], key[1]) not in self.dynamic
                            self.dynamic[(key[0], key[1])] = step["requires"]
                        # Counted over the packages pinned now: earlier rounds may have run
                        # other versions, and a package may build in several environments.
                        if first:
                            discovered = sum(1 for known in self.dynamic if self.pinned(*known))
                            progress("discovered", package=key[0], done=discovered)
                        if step["wheel"]:
                            built = len({k[0] for k, s in self.steps.items() if s["wheel"] and self.pinned(*k[:2])})
                            progress("built", package=key[0], done=built, total=len(self.packages))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def run(self):
        progress("phase", phase="runtime", round=1)
        wanted = self.requirements
        self.pip_resolve(wanted, "resolve-1")
        for round_number in range(2, MAX_ROUNDS + 1):
            # The static build requirements cost nothing but a download: close them first, so
            # that builds start from versions that stay.
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda p: self.sdist_info(p["filename"], p["url"]), self.packages.values()))
            if self.requirements + self.build_strings() == wanted:
                states, _, needs_round = self.work()
                if self.requirements + self.build_strings() == wanted and not self.metadata_changed:
                    if all(state["done"] for state in states.values()) and not needs_round:
                        return self.finish(states)
                    self.blocked(states)
            self.metadata_changed = False
            wanted = self.requirements + self.build_strings()
            progress("phase", phase="build-requirements", round=round_number)
            self.pip_resolve(wanted, f"resolve-{round_number}")
        raise Failure("internal", "", f"the resolution did not settle in {MAX_ROUNDS} pip rounds")

    def blocked(self, states):
        """Nothing can run: either pip's answer lacks what a build environment needs, or packages
        wait on each other (a cycle)."""
        waiting = {name: state["waits"] for name, state in states.items() if not state["done"]}
        if self.unpinned or not waiting:
            raise Failure("internal", "", "the resolution stalled: pip's answer lacks "
                          f"{sorted(self.unpinned)}, which build environments need")
        raise Failure("cycle", "", "build-dependency cycle", cycle=find_cycle(waiting))

    # -- the result ----------------------------------------------------------------------------

    def finish(self, states):
        runtime = self.closure(self.requirements)
        dependencies = {}
        self.closure(self.requirements + self.build_strings(), dependencies)
        build_env = {name: state["build_env"] for name, state in states.items()}
        order = build_order(build_env)
        return {
            "python_version": sys.version.split()[0],
            "platform": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
            "build_order": order,
            "packages": [
                {
                    "name": name,
                    "version": package["version"],
                    "filename": package["filename"],
                    "requires_python": package["requires_python"],
                    "runtime": name in runtime,
                    "dependencies": sorted(dependencies.get(name, set())),
                    "build_requires": [
                        {"name": dep, "version": self.packages[dep]["version"]} for dep in build_env[name]
                    ],
                }
                for name, package in sorted(self.packages.items())
            ],
            "verified": bool(self.job["verify"]),
            "pip_prepared": sorted(self.pip_prepared),
        }


def build_order(build_env):
    """Each package after everything in its build environment; ties by name. A cycle fails."""
    remaining = {name: set(deps) for name, deps in build_env.items()}
    for name, deps in remaining.items():
        if name in deps:
            raise Failure("cycle", name, "build-dependency cycle", cycle=[name, name])
    order = []
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if not deps & remaining.keys())
        if not ready:
            raise Failure("cycle", "", "build-dependency cycle", cycle=find_cycle(remaining))
        for name in ready:
            order.append(name)
            del remaining[name]
    return order


def find_cycle(graph):
    """One cycle in `graph` (name -> names it waits on), as a path that returns to its start."""
    for start in sorted(graph):
        path, seen = [start], {start}
        node = start
        while True:
            next_nodes = sorted(d for d in graph[node] if d in graph)
            if not next_nodes:
                break
            node = next_nodes[0]
            if node in seen:
                return path[path.index(node):] + [node]
            path.append(node)
            seen.add(node)
    return sorted(graph)


def not_dumpable():
    """Builds run as this process's uid, under a seccomp filter that it and pip are not under;
    a process that is not dumpable cannot be attached to or have its memory read through
    /proc by them. (Each pip process does the same for itself: execve makes a process dumpable
    again.)"""
    import ctypes

    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError("prctl(PR_SET_DUMPABLE, 0) failed")


def main():
    not_dumpable()
    with open(sys.argv[1]) as f:
        job = json.load(f)
    result_path = os.path.join(job["out"], "result.json")
    try:
        result = Driver(job).run()
    except Failure as failure:
        result = {"error": {"kind": failure.kind, "package": failure.package,
                            "message": failure.message,
                            "log": failure.log, **failure.extra}}
    except Exception:
        result = {"error": {"kind": "internal", "package": "", "message": traceback.format_exc()}}
    with open(result_path + ".part", "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    os.rename(result_path + ".part", result_path)
    sys.exit(1 if "error" in result else 0)


if __name__ == "__main__":
    main()
