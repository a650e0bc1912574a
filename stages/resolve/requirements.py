"""Which requirement strings pip may see, and how they reach it.

Requirements and constraints go into requirements files, whose syntax gives meaning to more than
PEP 508 does: a line (or a space-separated token) starting with `-` is an option such as
`--index-url`, `#` starts a comment, a trailing backslash joins the next line, and `${NAME}` is
replaced by an environment variable. A string that could mean anything there besides the
requirement it parses as is refused before pip runs, and so is a direct reference (`name @ url`),
which would make pip fetch something that no index page named, and a constraint with extras,
which pip refuses. So is anything longer than a real requirement ever is, and `===`, PEP 440's
arbitrary equality, which takes any text as a version: together they once let a build
requirement be a tar archive that pip, told to by a direct reference, unpacked and ran.
"""

from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# What requirements-file syntax gives a meaning to, and what it means there.
SPECIAL = (
    ("#", "starts a comment"),
    ("\\", "joins lines"),
    ("${", "expands an environment variable"),
)


# Far above any real requirement (the longest on the index are a few hundred characters).
MAX_LENGTH = 1000


@dataclass(frozen=True)
class BadRequirement:
    requirement: str
    package: str
    message: str


def check(text, what="requirement"):
    """None when `text` may go to pip as one line of a requirements file, else why not."""
    if not isinstance(text, str):
        return BadRequirement(repr(text), "", f"a {what} must be a string, not {type(text).__name__}")
    if text.splitlines() != [text]:
        return BadRequirement(text, "", f"a {what} must be one non-empty line")
    if text.lstrip().startswith("-"):
        return BadRequirement(text, "", f"`{text}` is a pip option, not a {what}")
    if len(text) > MAX_LENGTH:
        return BadRequirement(
            text, "", f"a {what} of {len(text)} characters is longer than any real one ({MAX_LENGTH})"
        )
    if "===" in text:
        shown = text if len(text) <= 80 else text[:77] + "..."
        return BadRequirement(
            text,
            "",
            f"`{shown}` uses `===` (arbitrary equality: any text as a version), which resolve refuses",
        )
    try:
        requirement, invalid = Requirement(text), None
    # Not only InvalidRequirement: packaging 25.0 (the builder image's) lets a SyntaxError out of
    # a marker string that ends in a backslash; any failure to parse is the string's fault.
    except (InvalidRequirement, SyntaxError, ValueError) as error:
        requirement, invalid = None, str(error)
    package = canonicalize_name(requirement.name) if requirement is not None else ""
    if requirement is not None and requirement.url:
        return BadRequirement(
            text, package, f"`{text}` is a direct reference; resolve takes packages from the index only"
        )
    # pip splits a line at its first word that starts with `-` and reads the rest as options.
    if any(word.startswith("-") for word in text.split()):
        return BadRequirement(
            text, package, f"`{text}` holds a word starting with `-`, which pip would read as an option"
        )
    for characters, meaning in SPECIAL:
        if characters in text:
            return BadRequirement(
                text, package, f"`{text}` contains `{characters}`, which {meaning} in a requirements file"
            )
    if requirement is None:
        return BadRequirement(text, "", f"`{text}` is not a PEP 508 {what}: {invalid}")
    if what == "constraint" and requirement.extras:
        return BadRequirement(text, package, f"`{text}` has extras, which pip refuses in a constraint")
    return None


def first_problem(requirements, constraints):
    """The first bad string of a request, or None."""
    for what, texts in (("requirement", requirements), ("constraint", constraints)):
        for text in texts:
            problem = check(text, what)
            if problem is not None:
                return problem
    return None


def requirements_file(texts):
    """The text of a requirements file with one checked string per line."""
    return "".join(f"{text}\n" for text in texts)
