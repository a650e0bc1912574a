"""What one resolution found, from pip's installation report (`--report`, version 1): the pins,
the requested packages, and each pinned package's dependency edges.

Markers are evaluated for the environment that the report names (the image's interpreter), with
`extra` set to each extra that the resolution requests of that package anywhere in its closure,
so that `requests[socks]` makes requests depend on PySocks. A dependency whose marker is false is
no edge; neither is a package's requirement on its own extras (it only adds those extras).
"""

from urllib.parse import unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


class ReportMismatch(Exception):
    """pip's report and the closure computed from it disagree: the edges would be wrong."""


def sdist_filename(url):
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def pins(report):
    """name -> {"name", "version", "filename", "url", "requires_python", "requires_dist"}."""
    found = {}
    for item in report["install"]:
        metadata = item["metadata"]
        name = canonicalize_name(metadata["name"])
        if name in found:
            raise ReportMismatch(f"pip's report pins `{name}` twice")
        url = item["download_info"]["url"]
        found[name] = {
            "name": name,
            "version": metadata["version"],
            "filename": sdist_filename(url),
            "url": url,
            "requires_python": metadata.get("requires_python"),
            "requires_dist": list(metadata.get("requires_dist") or []),
        }
    return found


def resolution(report, requirements):
    """{"pins", "roots", "dependencies"} of a result, for pip's `report` of `requirements`."""
    environment = dict(report.get("environment") or {})
    pinned = pins(report)

    def applies(requirement, extra=""):
        return requirement.marker is None or requirement.marker.evaluate({**environment, "extra": extra})

    wanted = [Requirement(text) for text in requirements]
    wanted = [requirement for requirement in wanted if applies(requirement)]
    roots = sorted({canonicalize_name(requirement.name) for requirement in wanted})
    extras_of = {}  # name -> the extras requested of it so far
    edges = {name: set() for name in pinned}
    stack = list(wanted)
    while stack:
        requirement = stack.pop()
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            raise ReportMismatch(f"pip's report does not pin `{name}`, which the resolution requires")
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        before = extras_of.get(name)
        if before is not None and extras <= before:
            continue
        extras_of[name] = (before or set()) | extras
        for text in pinned[name]["requires_dist"]:
            dependency = Requirement(text)
            if not any(applies(dependency, extra) for extra in ["", *sorted(extras_of[name])]):
                continue
            dependency_name = canonicalize_name(dependency.name)
            if dependency_name != name:
                edges[name].add(dependency_name)
            dependency.marker = None
            stack.append(dependency)
    unreached = sorted(set(pinned) - set(extras_of))
    if unreached:
        raise ReportMismatch(f"pip's report pins {unreached}, which nothing requested requires")
    return {
        "pins": [
            {key: pin[key] for key in ("name", "version", "filename", "url", "requires_python")}
            for _, pin in sorted(pinned.items())
        ],
        "roots": roots,
        "dependencies": {name: sorted(edges[name]) for name in sorted(pinned)},
    }
