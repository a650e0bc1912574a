import pytest

from resolve.pip_output import TAIL, explain, oldest_first
from resolve.tests.support import pip_output


def test_conflict_keeps_the_causes_without_pips_advice():
    error = explain(pip_output("conflict"))
    assert error == {
        "kind": "conflict",
        # pip names it `-r <file> (line 1)`; its Collecting line says which requirement that is.
        "package": "hatch-vcs",
        "message": "The user requested setuptools-scm<8.0\n"
        "hatch-vcs 0.5.0 depends on setuptools-scm>=8.2.0\n"
        "hatch-vcs 0.4.0 depends on setuptools-scm>=8.0.0",
    }


def test_conflict_with_a_constraint():
    error = explain(pip_output("conflict-constraint"))
    assert error["kind"] == "conflict"
    assert error["package"] == "requests"
    assert error["message"].splitlines()[-1] == "The user requested (constraint) urllib3<2"
    assert "To fix this" not in error["message"]
    assert "ResolutionImpossible" not in error["message"]


def test_conflict_between_pinned_requirements():
    error = explain(pip_output("conflict-pins"))
    assert (error["kind"], error["package"]) == ("conflict", "hatch-vcs")
    assert error["message"] == (
        "The user requested setuptools-scm==7.1.0\nhatch-vcs 0.5.0 depends on setuptools-scm>=8.2.0"
    )


def test_conflict_names_a_plain_requirement_when_pip_does():
    output = (
        "ERROR: Cannot install Foo.Bar==1.0 and baz>=2 because these package versions have conflicting "
        "dependencies.\n\nThe conflict is caused by:\n    The user requested baz>=2\n"
        "    foo-bar 1.0 depends on baz<2\n\nTo fix this you could try to:\n"
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/\n"
    )
    assert explain(output)["package"] == "foo-bar"


def test_a_python_that_metadata_excludes_is_a_conflict():
    error = explain(pip_output("requires-python"))
    assert error == {
        "kind": "conflict",
        "package": "newpy",
        "message": "Package 'newpy' requires a different Python: 3.13.5 not in '>=3.14'",
    }


def test_no_sdist_lists_the_versions_pip_saw():
    error = explain(pip_output("no-sdist"))
    assert error == {
        "kind": "no-sdist",
        "package": "requests",
        "message": "no sdist of `requests` satisfies `requests>=3`; the sdists pip found: 2.32.4, 2.32.5",
        "requirement": "requests>=3",
        "sdist_versions": ["2.32.4", "2.32.5"],
    }


def test_no_sdist_at_all():
    error = explain(pip_output("no-sdist-none"))
    assert error["kind"] == "no-sdist"
    assert error["package"] == "python-sbom"
    assert error["sdist_versions"] == []
    assert "no sdist of `python-sbom`" in error["message"]


def test_no_sdist_says_why_versions_were_left_out():
    error = explain(pip_output("no-sdist-python"))
    assert error["sdist_versions"] == ["0.12.1"]
    assert error["message"].splitlines()[1] == (
        "Ignored the following versions that require a different python version: 1.0.0 Requires-Python >=3.14"
    )
    misnamed = explain(pip_output("misnamed"))
    assert misnamed["kind"] == "no-sdist"
    assert "inconsistent Name: expected 'misnamed', but metadata has 'othername'" in misnamed["message"]


def test_sdist_versions_are_oldest_first():
    output = (
        "ERROR: Could not find a version that satisfies the requirement Foo_Bar[x]>=9 "
        "(from versions: 1.10, 1.9, 1.0rc1, 1.0)\n"
    )
    error = explain(output)
    assert error["package"] == "foo-bar"
    assert error["requirement"] == "Foo_Bar[x]>=9"
    assert error["sdist_versions"] == ["1.0rc1", "1.0", "1.9", "1.10"]
    assert oldest_first(["2", "not-a-version", "1"]) == ["1", "2", "not-a-version"]


def test_archive_refused_from_a_403():
    # The image's pip without the dry-run patch, against an index that refuses archives.
    error = explain(pip_output("archive-refused"))
    assert error["kind"] == "archive-refused"
    assert error["package"] == "webclient"
    assert "`webclient-1.0.tar.gz`" in error["message"]
    assert "does not resolve from metadata alone" in error["message"]
    assert "never lets pip download or prepare an sdist" in error["message"]


@pytest.mark.parametrize(
    ("line", "package"),
    [
        # What pip 25.1 logs before downloading an archive it was given (not provoked: the
        # stand-in index never serves one).
        ("  Downloading http://127.0.0.1:4/files/zope_interface-7.2.tar.gz (252 kB)", "zope-interface"),
        ("Downloading http://127.0.0.1:4/files/Foo-1.0.zip", "foo"),
    ],
)
def test_archive_refused_from_a_download(line, package):
    error = explain(f"Collecting x\n{line}\nERROR: something later\n")
    assert (error["kind"], error["package"]) == ("archive-refused", package)


def test_downloading_metadata_is_not_an_archive():
    output = pip_output("metadata-500").replace(
        "Collecting broken-meta",
        "Collecting broken-meta\n  Downloading http://127.0.0.1:4/files/x-1.0.tar.gz.metadata (75 bytes)",
    )
    assert explain(output)["kind"] == "internal"
    refused_metadata = "ERROR: HTTP error 403 while getting http://127.0.0.1:4/files/x-1.0.tar.gz.metadata\n"
    assert explain(refused_metadata)["kind"] == "internal"


def test_anything_else_is_internal_with_the_end_of_the_output():
    error = explain(pip_output("metadata-500"))
    assert error["kind"] == "internal"
    assert error["package"] == "broken-meta"
    assert "too many 500 error responses" in error["message"]
    long_output = "".join(f"line {number}\n" for number in range(100))
    message = explain(long_output)["message"]
    assert message.splitlines()[1:] == [f"line {number}" for number in range(100 - TAIL, 100)]


def test_a_link_outside_the_index_is_a_bad_requirement_named_by_package():
    output = (
        "Collecting x@ file:///proc/self/cwd/requirements.txt (from evilb==1.0)\n"
        "ERROR: offline-build: refusing to prepare x: `file:///proc/self/cwd/requirements.txt` "
        "is not a file of the index\n"
    )
    error = explain(output)
    assert error["kind"] == "bad-requirement"
    assert error["package"] == "x"
    assert error["requirement"] == "file:///proc/self/cwd/requirements.txt"
