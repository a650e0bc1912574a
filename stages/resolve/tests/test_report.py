import copy

import pytest

from resolve.report import ReportMismatch, resolution, sdist_filename
from resolve.tests.support import report


def test_requests_socks_pins_roots_and_edges():
    result = resolution(report("requests-socks"), ["requests[socks]"])
    assert [pin["name"] for pin in result["pins"]] == [
        "certifi",
        "charset-normalizer",
        "idna",
        "pysocks",
        "requests",
        "urllib3",
    ]
    pysocks = next(pin for pin in result["pins"] if pin["name"] == "pysocks")
    assert pysocks == {
        "name": "pysocks",
        "version": "1.7.1",
        "filename": "PySocks-1.7.1.tar.gz",
        "url": pysocks["url"],
        "requires_python": ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*",
    }
    assert pysocks["url"].endswith("/files/PySocks-1.7.1.tar.gz")
    assert result["roots"] == ["requests"]
    # The socks extra adds PySocks; use-chardet-on-py3 is not requested, so chardet is no edge.
    requests_edges = ["certifi", "charset-normalizer", "idna", "pysocks", "urllib3"]
    assert result["dependencies"]["requests"] == requests_edges
    assert result["dependencies"]["urllib3"] == []


def test_every_pin_is_a_key_of_dependencies():
    result = resolution(report("hatch-vcs"), ["hatchling", "hatch-vcs"])
    assert list(result["dependencies"]) == [pin["name"] for pin in result["pins"]]
    assert result["dependencies"]["hatch-vcs"] == ["hatchling", "setuptools-scm"]
    assert result["dependencies"]["trove-classifiers"] == []
    trove = next(pin for pin in result["pins"] if pin["name"] == "trove-classifiers")
    assert trove["requires_python"] is None


def test_extras_propagate_through_a_dependency():
    # webclient requires `requests[socks]`; nothing asks for requests' extra at the top.
    result = resolution(report("webclient"), ["webclient"])
    assert result["roots"] == ["webclient"]
    assert "pysocks" in result["dependencies"]["requests"]


def test_dependencies_with_false_markers_are_no_edges():
    result = resolution(report("webclient"), ["webclient"])
    # `idna; python_version < "3.0"` and `chardet; sys_platform == "win32"`: idna is pinned
    # (requests needs it), but not because of webclient.
    assert result["dependencies"]["webclient"] == ["requests"]
    scm = resolution(report("setuptools-scm-7"), ["setuptools_scm<8.0", "setuptools"])
    # tomli (python < 3.11) and importlib-metadata (python < 3.8) are false on 3.13.
    assert scm["dependencies"]["setuptools-scm"] == ["packaging", "setuptools", "typing-extensions"]


def test_a_requirement_on_its_own_extras_adds_them_without_a_self_edge():
    result = resolution(report("selfextra"), ["selfextra[a]"])
    # selfextra[a] requires selfextra[b], whose extra requires idna.
    assert result["dependencies"]["selfextra"] == ["certifi", "idna"]


def test_roots_leave_out_requirements_whose_markers_are_false():
    result = resolution(report("false-marker"), ['requests; python_version < "3"', "idna"])
    assert result["roots"] == ["idna"]
    assert [pin["name"] for pin in result["pins"]] == ["idna"]


def test_roots_are_canonical_and_unique():
    result = resolution(report("setuptools-scm-7"), ["setuptools_scm<8.0", "setuptools", "Setuptools>=1"])
    assert result["roots"] == ["setuptools", "setuptools-scm"]


def test_markers_are_evaluated_for_the_reports_environment_not_the_hosts():
    pip_report = copy.deepcopy(report("setuptools-scm-7"))
    pip_report["environment"]["python_version"] = "3.10"
    pip_report["environment"]["python_full_version"] = "3.10.0"
    # On 3.10 setuptools-scm 7.1.0 needs tomli, which this report does not pin.
    with pytest.raises(ReportMismatch, match="tomli"):
        resolution(pip_report, ["setuptools_scm<8.0", "setuptools"])


def test_a_pin_nothing_requires_is_a_mismatch():
    # Without the socks extra, the PySocks that pip pinned would have no reason to be there.
    with pytest.raises(ReportMismatch, match="pysocks"):
        resolution(report("requests-socks"), ["requests"])


def test_a_name_pinned_twice_is_a_mismatch():
    pip_report = report("false-marker")
    pip_report["install"].append(copy.deepcopy(pip_report["install"][0]))
    with pytest.raises(ReportMismatch, match="twice"):
        resolution(pip_report, ["idna"])


def test_sdist_filename_is_unquoted():
    assert sdist_filename("http://127.0.0.1:1/files/zope.interface-1%2Blocal.tar.gz") == (
        "zope.interface-1+local.tar.gz"
    )
    assert sdist_filename("http://127.0.0.1:1/files/a-1.0.zip") == "a-1.0.zip"
