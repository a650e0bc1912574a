"""offline-build resolve driver: runs INSIDE the scratch resolve container, whose only reachable
service is the orchestrator's index proxy (sdists only).

It owns discovery: resolve the runtime closure with pip's resolver under the sdist-only policy,
find every sdist's build requirements by running its PEP 517 hooks (static
`[build-system].requires`, the setuptools default when absent, then
`get_requires_for_build_wheel` in an environment holding the static ones), add their runtime
closure, and repeat until nothing new appears; then compute each package's pinned build
environment and the build order, and (unless told not to) build every package in that order with
the build stage's own driver. The result goes to <out>/result.json; the orchestrator checks every
file against what its proxy served and trusts nothing here for security decisions.

Invoked as `python3 driver.py <job.json>`; the job fields are documented in
crates/ob-resolve/src/driver.rs.
"""

import concurrent.futures
import hashlib
import http.server
import json
import os
import re
import shutil
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
from packaging.utils import canonicalize_name

WORK = "/tmp/ob"
NETWORK_LOG = "/tmp/ob-network.jsonl"
# PEP 517/518: what a project without [build-system] is built with.
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]
DEFAULT_BACKEND = "setuptools.build_meta:__legacy__"
TAIL = 20


class Failure(Exception):
    """A resolve failure the user has to act on; `kind` tells the orchestrator which."""

    def __init__(self, kind, package, message, log=None, **extra):
        super().__init__(message)
        self.kind = kind
        self.package = package
        self.message = message
        self.log = log
        self.extra = extra


def progress(event, **fields):
    print("offline-build-progress " + json.dumps({"event": event, **fields}), flush=True)


def tail(text, lines=TAIL):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def network_attempts():
    try:
        with open(NETWORK_LOG, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


class MetadataIndex:
    """A loopback index in front of the proxy that adds PEP 658 `core-metadata` for every sdist
    whose metadata an earlier pip run already prepared, so later resolver rounds do not build
    that metadata again (pip's --dry-run then needs no sdist). Files are forwarded untouched."""

    def __init__(self, upstream):
        self.upstream = upstream
        origin = urllib.request.urlparse(upstream)
        self.origin = f"{origin.scheme}://{origin.netloc}"
        self.metadata = {}  # sdist file name -> METADATA bytes
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    index.answer(self)
                except Exception as error:  # a broken answer must not kill the server
                    self.send_error(502, str(error))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"

    def add(self, filename, metadata):
        lines = [f"Metadata-Version: {metadata.get('metadata_version', '2.1')}",
                 f"Name: {metadata['name']}", f"Version: {metadata['version']}"]
        if metadata.get("requires_python"):
            lines.append(f"Requires-Python: {metadata['requires_python']}")
        lines += [f"Provides-Extra: {extra}" for extra in metadata.get("provides_extra") or []]
        lines += [f"Requires-Dist: {requirement}" for requirement in metadata.get("requires_dist") or []]
        self.metadata[filename] = ("\n".join(lines) + "\n").encode()

    def answer(self, request):
        path = request.path.split("?", 1)[0]
        if path.startswith("/files/") and path.endswith(".metadata"):
            filename = urllib.request.unquote(path[: -len(".metadata")].rsplit("/", 1)[-1])
            body = self.metadata.get(filename)
            if body is None:
                request.send_error(404)
                return
            return self.send(request, 200, "application/octet-stream", body)
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
                known = self.metadata.get(file["filename"])
                if known is not None:
                    digest = {"sha256": hashlib.sha256(known).hexdigest()}
                    file["core-metadata"] = digest
                    file["data-dist-info-metadata"] = digest
            body = json.dumps(page).encode()
        self.send(request, 200, content_type, body)

    @staticmethod
    def send(request, status, content_type, body):
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


class Driver:
    def __init__(self, job):
        self.job = job
        self.out = job["out"]
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        os.makedirs(WORK, exist_ok=True)
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
            "PIP_INDEX_URL": job["index_url"],
            "PIP_TRUSTED_HOST": job["allow_host"],
            "PIP_NO_BINARY": ":all:",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_BREAK_SYSTEM_PACKAGES": "1",
            "PIP_PROGRESS_BAR": "off",
            "PIP_RETRIES": "0",
        }
        # pip talks to the proxy through the metadata index (loopback, so plain http is fine).
        self.metadata_index = MetadataIndex(job["index_url"])
        self.env["PIP_INDEX_URL"] = self.metadata_index.url
        self.requirements = list(job["requirements"])
        self.constraints = list(job["constraints"])
        # name -> {"version", "url", "requires_dist", "requires_python", "build_requires": [str]}
        self.packages = {}
        self.discovered = {}  # (name, version) -> list of build requirement strings

    # -- pip's resolver -----------------------------------------------------------------------

    def pip_resolve(self, requirements, label):
        req_file = os.path.join(WORK, f"{label}-requirements.txt")
        with open(req_file, "w") as f:
            f.write("\n".join(requirements) + "\n")
        report = os.path.join(WORK, f"{label}-report.json")
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--report", report, "-r", req_file]
        if self.constraints:
            constraints = os.path.join(WORK, "constraints.txt")
            with open(constraints, "w") as f:
                f.write("\n".join(self.constraints) + "\n")
            command += ["-c", constraints]
        seen = len(network_attempts())
        result = subprocess.run(command, env=self.env, capture_output=True, text=True)
        log = os.path.join(self.logs, f"{label}.log")
        with open(log, "w") as f:
            f.write(result.stdout + result.stderr)
        if result.returncode != 0:
            self.explain_pip_failure(result.stdout + result.stderr, log, seen)
        with open(report) as f:
            return json.load(f)["install"]

    def explain_pip_failure(self, output, log, seen_attempts):
        attempts = network_attempts()[seen_attempts:]
        if attempts:
            first = attempts[0]
            raise Failure("network", first.get("package") or self.collecting(output),
                          "its build tried to reach the network", log=log,
                          host=first.get("host"), tail=tail(output))
        unreachable = re.search(
            r"Temporary failure in name resolution|Name or service not known|Network is unreachable"
            r"|No route to host", output)
        if unreachable:
            # The audit hook was not loaded (an image without Debian's site layout): the error
            # text still shows a failed lookup or connection.
            raise Failure("network", self.collecting(output), "its build tried to reach the network",
                          log=log, host=None, tail=tail(output))
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
        being_built = re.search(
            r"(\S+?\.(?:tar\.gz|zip))(?:#\S*)?(?: \(from [^)]*\))? is already being built", output)
        if being_built:
            # pip's build tracker caught a package needed (transitively) to build itself.
            name = sdist_name(being_built.group(1).rsplit("/", 1)[-1])
            raise Failure("cycle", name, "build-dependency cycle", log=log,
                          cycle=self.static_cycle(name))
        package = self.collecting(output)
        raise Failure("hook-failed", package,
                      "pip could not prepare its metadata (its build hooks failed)",
                      log=log, tail=tail(output))

    def static_build_requirements(self, name):
        """Names in `[build-system].requires` of the newest sdist of `name` on the proxy."""
        from packaging.version import InvalidVersion, Version

        request = urllib.request.Request(self.job["index_url"] + name + "/",
                                         headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.load(response)
        candidates = []
        for file in page["files"]:
            try:
                version = Version(file["filename"][: -len(".tar.gz")].rsplit("-", 1)[-1])
            except (InvalidVersion, IndexError):
                continue
            candidates.append((version, file["url"]))
        if not candidates:
            return []
        url = urllib.request.urljoin(self.job["index_url"] + name + "/", max(candidates)[1])
        source = self.extract(self.fetch_sdist(url), os.path.join(WORK, "cycle", name))
        build_system = {}
        if os.path.exists(os.path.join(source, "pyproject.toml")):
            with open(os.path.join(source, "pyproject.toml"), "rb") as f:
                build_system = tomllib.load(f).get("build-system", {})
        return [canonicalize_name(Requirement(r).name) for r in build_system.get("requires", DEFAULT_REQUIRES)]

    def static_cycle(self, start):
        """The path of static build requirements that leads from `start` back to it."""
        graph = {}
        path = []

        def visit(name):
            path.append(name)
            if name not in graph:
                try:
                    graph[name] = self.static_build_requirements(name)
                except Exception:
                    graph[name] = []
            for dependency in graph[name]:
                if dependency == start:
                    return path + [start]
                if dependency not in path and len(path) < 50:
                    found = visit(dependency)
                    if found:
                        return found
            path.pop()
            return None

        return visit(start) or [start, "...", start]

    @staticmethod
    def collecting(output):
        found = re.findall(r"Collecting (\S+)", output)
        if not found:
            return ""
        return canonicalize_name(re.split(r"[\[<>=!~;@ ]", found[-1], maxsplit=1)[0])

    # -- build requirements -------------------------------------------------------------------

    def fetch_sdist(self, url):
        filename = url.rsplit("/", 1)[-1]
        directory = os.path.join(WORK, "sdists")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, urllib.request.unquote(filename))
        if not os.path.exists(path):
            with urllib.request.urlopen(url, timeout=300) as response, open(path + ".part", "wb") as f:
                shutil.copyfileobj(response, f)
            os.rename(path + ".part", path)
        return path

    @staticmethod
    def extract(sdist, parent):
        os.makedirs(parent, exist_ok=True)
        staging = os.path.join(parent, ".extract")
        shutil.rmtree(staging, ignore_errors=True)
        if sdist.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                for name in archive.namelist():
                    if name.startswith("/") or ".." in name.split("/"):
                        raise Failure("bad-sdist", "", f"unsafe member {name!r} in {sdist}")
                archive.extractall(staging)
        else:
            with tarfile.open(sdist) as archive:
                archive.extractall(staging, filter="data")
        entries = os.listdir(staging)
        if len(entries) != 1:
            raise Failure("bad-sdist", "", f"{os.path.basename(sdist)} does not hold one top directory")
        return os.path.join(staging, entries[0])

    def discover(self, name, version, url):
        """Static + dynamic build requirements of one sdist."""
        log_path = os.path.join(self.logs, f"discover-{name}.log")
        log = open(log_path, "w")
        try:
            sdist = self.fetch_sdist(url)
            source = self.extract(sdist, os.path.join(WORK, "src", f"{name}-{version}"))
            build_system = {}
            pyproject = os.path.join(source, "pyproject.toml")
            if os.path.exists(pyproject):
                with open(pyproject, "rb") as f:
                    build_system = tomllib.load(f).get("build-system", {})
            static = list(build_system.get("requires", DEFAULT_REQUIRES))
            backend = build_system.get("build-backend", DEFAULT_BACKEND)
            backend_path = list(build_system.get("backend-path", []))
            target = os.path.join(WORK, "env", f"{name}-{version}")
            shutil.rmtree(target, ignore_errors=True)
            os.makedirs(target)
            seen = len(network_attempts())
            if static:
                pins = os.path.join(WORK, f"pins-{name}.txt")
                with open(pins, "w") as f:
                    f.write("\n".join(f"{n}=={p['version']}" for n, p in sorted(self.packages.items())) + "\n")
                command = [sys.executable, "-m", "pip", "install", "--target", target, "--no-compile",
                           "-c", pins, *static]
                log.write(f"$ {' '.join(command)}\n")
                log.flush()
                result = subprocess.run(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        text=True)
                if result.returncode != 0:
                    log.flush()
                    self.hook_failure(name, log_path, seen,
                                      f"could not install its build requirements {static}")
            runner = {
                "audit": self.job["audit"],
                "target": target,
                "backend": backend,
                "backend_path": backend_path,
                "result": os.path.join(WORK, f"dynamic-{name}.json"),
            }
            log.write(f"$ get_requires_for_build_wheel ({backend})\n")
            log.flush()
            result = subprocess.run([sys.executable, "-S", "-E", "-c", HOOK_RUNNER, json.dumps(runner)],
                                    cwd=source, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    text=True)
            if result.returncode != 0:
                log.flush()
                self.hook_failure(name, log_path, seen, "get_requires_for_build_wheel failed")
            with open(runner["result"]) as f:
                dynamic = json.load(f)
            log.write(f"static: {static}\ndynamic: {dynamic}\n")
            return static + [r for r in dynamic if r not in static]
        finally:
            log.close()

    def hook_failure(self, name, log_path, seen, message):
        with open(log_path) as f:
            text = f.read()
        attempts = network_attempts()[seen:]
        if attempts:
            raise Failure("network", attempts[0].get("package") or name,
                          "its build tried to reach the network", log=log_path,
                          host=attempts[0].get("host"), tail=tail(text))
        raise Failure("hook-failed", name, message, log=log_path, tail=tail(text))

    def current_build_requirements(self):
        # Only those of the versions in the latest resolution: an earlier round may have picked
        # another version whose build requirements no longer matter.
        return sorted({
            requirement
            for (name, version), requirements in self.discovered.items()
            if self.packages.get(name, {}).get("version") == version
            for requirement in requirements
        })

    # -- the loop -----------------------------------------------------------------------------

    def run(self):
        round_number = 0
        while True:
            round_number += 1
            wanted = self.requirements + self.current_build_requirements()
            progress("phase", phase="runtime" if round_number == 1 else "build-requirements",
                     round=round_number)
            installs = self.pip_resolve(wanted, f"resolve-{round_number}")
            self.packages = {}
            for item in installs:
                metadata = item["metadata"]
                name = canonicalize_name(metadata["name"])
                self.metadata_index.add(
                    urllib.request.unquote(item["download_info"]["url"].rsplit("/", 1)[-1]), metadata)
                self.packages[name] = {
                    "version": metadata["version"],
                    "url": item["download_info"]["url"],
                    "requires_dist": metadata.get("requires_dist", []),
                    "requires_python": metadata.get("requires_python"),
                }
            new = [(n, p) for n, p in sorted(self.packages.items()) if (n, p["version"]) not in self.discovered]
            progress("found", packages=len(self.packages), new=len(new))
            if not new:
                break
            with concurrent.futures.ThreadPoolExecutor(max(1, self.job["jobs"])) as pool:
                futures = {pool.submit(self.discover, n, p["version"], p["url"]): n for n, p in new}
                for future in concurrent.futures.as_completed(futures):
                    name = futures[future]
                    self.discovered[(name, self.packages[name]["version"])] = future.result()
                    progress("discovered", package=name, done=len(self.discovered))
        return self.finish()

    # -- graph ---------------------------------------------------------------------------------

    def closure(self, requirement_strings, edges=None):
        environment = default_environment()
        chosen = {}  # name -> extras
        stack = [Requirement(r) for r in requirement_strings]
        while stack:
            requirement = stack.pop()
            if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in self.packages:
                raise Failure("internal", name, f"`{requirement}` is not in pip's resolution")
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

    def finish(self):
        runtime = self.closure(self.requirements)
        dependencies = {}
        everything = self.requirements + self.current_build_requirements()
        self.closure(everything, dependencies)
        build_env = {}
        for name, package in self.packages.items():
            build_env[name] = sorted(self.closure(self.discovered[(name, package["version"])]))
        order = build_order(build_env)
        result = {
            "python_version": sys.version.split()[0],
            "platform": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
            "build_order": order,
            "packages": [
                {
                    "name": name,
                    "version": package["version"],
                    "filename": urllib.request.unquote(package["url"].rsplit("/", 1)[-1]),
                    "requires_python": package["requires_python"],
                    "runtime": name in runtime,
                    "dependencies": sorted(dependencies.get(name, set())),
                    "build_requires": [
                        {"name": dep, "version": self.packages[dep]["version"]} for dep in build_env[name]
                    ],
                }
                for name, package in sorted(self.packages.items())
            ],
            "verified": False,
        }
        if self.job["verify"]:
            self.verify(order, build_env)
            result["verified"] = True
        return result

    # -- verification builds -------------------------------------------------------------------

    def verify(self, order, build_env):
        """Builds every package in order exactly as the build stage does: its pinned build
        environment made of wheels built here, no build isolation, the build stage's driver."""
        wheels_dir = os.path.join(WORK, "wheels")
        os.makedirs(wheels_dir, exist_ok=True)
        built = {}
        progress("phase", phase="verify", total=len(order))
        for index, name in enumerate(order):
            package = self.packages[name]
            out = os.path.join(WORK, "build-out", name)
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            shutil.rmtree("/tmp/venv", ignore_errors=True)
            shutil.rmtree("/tmp/src", ignore_errors=True)
            job = {
                "name": name,
                "version": package["version"],
                "sdist": self.fetch_sdist(package["url"]),
                "wheels": [built[dep] for dep in build_env[name]],
                "wheels_dir": wheels_dir,
                "out": out,
                "source_dir": f"/tmp/src/{name}-{package['version']}",
                "prefix_map_to": f"/usr/src/{name}-{package['version']}",
                "source_date_epoch": self.job["source_date_epoch"],
            }
            log_path = os.path.join(self.logs, f"build-{name}.log")
            seen = len(network_attempts())
            env = {k: v for k, v in self.env.items() if not k.startswith("PIP_")}
            with open(log_path, "w") as log:
                result = subprocess.run([sys.executable, "-I", self.job["build_driver"], json.dumps(job)],
                                        env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            with open(log_path) as f:
                text = f.read()
            if result.returncode != 0:
                attempt = re.search(r"offline-build: network-attempt \S+ (.+)", text)
                attempts = network_attempts()[seen:]
                if attempt or attempts:
                    host = attempts[0].get("host") if attempts else attempt.group(1)
                    raise Failure("network", name, "its build tried to reach the network",
                                  log=log_path, host=host, tail=tail(text))
                missing = re.search(r"offline-build: missing-build-requirement (.+?) \(", text)
                if missing:
                    raise Failure("build-failed", name,
                                  f"its build asked for `{missing.group(1)}`, which is not in its build environment",
                                  log=log_path, tail=tail(text))
                raise Failure("build-failed", name, "its verification build failed", log=log_path,
                              tail=tail(text))
            wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
            if len(wheels) != 1:
                raise Failure("build-failed", name, f"its build produced {len(wheels)} wheels, not one",
                              log=log_path, tail=tail(text))
            target = os.path.join(wheels_dir, wheels[0])
            shutil.move(os.path.join(out, wheels[0]), target)
            built[name] = target
            progress("built", package=name, done=index + 1, total=len(order))


def sdist_name(filename):
    stem = filename[: -len(".tar.gz")] if filename.endswith(".tar.gz") else filename.rsplit(".", 1)[0]
    return canonicalize_name(stem.rsplit("-", 1)[0])


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
    """One cycle in `graph` (name -> build environment), as a path that returns to its start."""
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


# Runs in a fresh interpreter (-S -E) in the sdist's top directory, with only the stdlib, the
# static build requirements (a pip --target directory) and the backend-path on sys.path.
HOOK_RUNNER = r'''
import importlib, json, os, site, sys
job = json.loads(sys.argv[1])
with open(job["audit"]) as f:
    exec(compile(f.read(), job["audit"], "exec"))
while "" in sys.path:
    sys.path.remove("")
site.addsitedir(job["target"])
for entry in reversed(job["backend_path"]):
    sys.path.insert(0, os.path.realpath(entry))
module_name, _, attribute = job["backend"].partition(":")
backend = importlib.import_module(module_name)
for part in filter(None, attribute.split(".")):
    backend = getattr(backend, part)
hook = getattr(backend, "get_requires_for_build_wheel", None)
requires = list(hook(None)) if hook is not None else []
with open(job["result"], "w") as f:
    json.dump(requires, f)
'''


def main():
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
