"""Why a resolution failed, from pip's output alone (pip 25.1's wording; what is not recognised
is `internal`, with the end of the output)."""

import re
from urllib.parse import unquote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

TAIL = 20

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# pip asked for an sdist itself: to download it, or (when batch-downloading) it was refused.
ARCHIVE_DOWNLOAD = re.compile(r"^\s*Downloading (\S+?\.(?:tar\.gz|zip))(?=\s|$)", re.M)
ARCHIVE_REFUSED = re.compile(r"(?:HTTP error 403 while getting|403 Client Error: Forbidden for url:) (\S+)")
NO_VERSION = re.compile(
    r"Could not find a version that satisfies the requirement (.+?) \(from versions: ([^)]*)\)"
)
# Why candidates were left out; worth passing on with a `no-sdist`.
LEFT_OUT = re.compile(r"^(?:ERROR: )?((?:Ignored the following |Discarding ).*)$", re.M)
WRONG_PYTHON = re.compile(r"^ERROR: (Package '(.+?)' requires a different Python: .*)$", re.M)
CANNOT_INSTALL = re.compile(
    r"Cannot install (.+?) because these package versions have conflicting dependencies"
)
# A root requirement as pip names it: by its line in our requirements file.
FROM_FILE = re.compile(r"^-r (\S+) \(line (\d+)\)")
COLLECTING_ROOT = re.compile(r"^Collecting (\S+) \(from -r (\S+) \(line (\d+)\)\)$", re.M)
COLLECTING = re.compile(r"^Collecting (\S+)", re.M)


def tail(text, lines=TAIL):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def name_of(requirement):
    """The canonical name a requirement as pip prints it starts with, or ""."""
    match = NAME.match(requirement.strip())
    return canonicalize_name(match.group(0)) if match else ""


def sdist_name(filename):
    """The canonical project name of `name-version.tar.gz` (sdist names have one `-` before the
    version since PEP 625; older ones are split at their last `-`)."""
    stem = filename[: -len(".tar.gz")] if filename.endswith(".tar.gz") else filename.rsplit(".", 1)[0]
    return canonicalize_name(stem.rpartition("-")[0] or stem)


def oldest_first(versions):
    def key(version):
        try:
            return (0, Version(version), version)
        except InvalidVersion:
            return (1, None, version)

    return sorted(versions, key=key)


REFUSED_LINK = re.compile(r"offline-build: refusing to prepare (\S+): `([^`]*)` is not a file of the index")


def explain(output):
    """{"kind", "package", "message", ...} for a pip run that failed with `output`."""
    refused = archive_refused(output)
    if refused is not None:
        return refused
    link = REFUSED_LINK.search(output)
    if link:
        return {
            "kind": "bad-requirement",
            "package": canonicalize_name(link.group(1)) if link.group(1) else "",
            "message": f"pip was asked to fetch `{link.group(2)}`, which is not a file of the "
            "index: a direct reference, which resolve never follows",
            "requirement": link.group(2),
        }
    wrong_python = WRONG_PYTHON.search(output)
    if wrong_python:
        package = canonicalize_name(wrong_python.group(2))
        return {"kind": "conflict", "package": package, "message": wrong_python.group(1)}
    missing = NO_VERSION.search(output)
    if missing:
        return no_sdist(output, missing)
    if "ResolutionImpossible" in output:
        return conflict(output)
    found = COLLECTING.findall(output)
    return {
        "kind": "internal",
        "package": name_of(found[-1]) if found else "",
        "message": "pip failed:\n" + tail(output),
    }


def archive_refused(output):
    urls = ARCHIVE_DOWNLOAD.findall(output)
    urls += [url for url in ARCHIVE_REFUSED.findall(output) if not url.endswith(".metadata")]
    if not urls:
        return None
    filename = unquote(urls[0].split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1])
    package = sdist_name(filename)
    return {
        "kind": "archive-refused",
        "package": package,
        "message": f"pip asked for the sdist archive `{filename}` of `{package}`, and the index refused it: "
        "the image's pip does not resolve from metadata alone, and resolve never lets pip download or "
        "prepare an sdist",
    }


def no_sdist(output, missing):
    requirement = missing.group(1)
    versions = [v.strip() for v in missing.group(2).split(",") if v.strip() and v.strip() != "none"]
    package = name_of(requirement)
    if versions:
        found = ", ".join(versions)
        message = f"no sdist of `{package}` satisfies `{requirement}`; the sdists pip found: {found}"
    else:
        message = f"the index has no sdist of `{package}` (for `{requirement}`)"
    notes = LEFT_OUT.findall(output)
    if notes:
        message += "\n" + "\n".join(notes)
    return {
        "kind": "no-sdist",
        "package": package,
        "message": message,
        "requirement": requirement,
        "sdist_versions": oldest_first(versions),
    }


def conflict(output):
    """The causes pip lists, without its advice; `package` is the first thing it cannot install."""
    causes = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "The conflict is caused by:":
            for cause in lines[index + 1 :]:
                if not cause.strip():
                    break
                causes.append(cause.strip())
            break
    package = ""
    cannot = CANNOT_INSTALL.search(output)
    if cannot:
        first = cannot.group(1)
        from_file = FROM_FILE.match(first)
        if from_file:
            roots = {(path, line): name for name, path, line in COLLECTING_ROOT.findall(output)}
            package = name_of(roots.get((from_file.group(1), from_file.group(2)), ""))
        else:
            package = name_of(first)
    return {"kind": "conflict", "package": package, "message": "\n".join(causes) or tail(output)}
