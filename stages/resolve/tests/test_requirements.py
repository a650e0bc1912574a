import pytest

from resolve.requirements import check, first_problem, requirements_file


@pytest.mark.parametrize(
    "text",
    [
        "setuptools>=40.8.0",
        "hatch-vcs",
        "setuptools_scm<8.0",
        "requests[socks]>=2.32,<3",
        'tomli>=1.2.2; python_version < "3.11"',
        "jaraco.text>=3.7",
        "PySocks!=1.5.7,>=1.5.6",
    ],
)
def test_good_requirements_pass(text):
    assert check(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        # Options that a requirements file would obey.
        ("--index-url=http://evil.example/simple/", "pip option"),
        ("-e .", "pip option"),
        ("  --extra-index-url http://evil.example/", "pip option"),
        # pip splits a line at its first word starting with `-`, even inside a marker string.
        ('foo; extra == "x --index-url=http://evil.example/"', "word starting with `-`"),
        # Direct references would fetch what no index page named.
        ("foo @ https://example.com/foo-1.0.tar.gz", "direct reference"),
        ("foo @ file:///etc/passwd", "direct reference"),
        # One line each.
        ("foo\n--index-url=http://evil.example/", "one non-empty line"),
        ("foo\r", "one non-empty line"),
        ("foo\u2028bar", "one non-empty line"),
        ("", "one non-empty line"),
        # Requirements-file syntax.
        ('foo; extra == "#"', "comment"),
        ('foo; extra == "\\"', "joins lines"),
        ('foo; platform_release == "${HOME}"', "environment variable"),
        # Arbitrary equality takes any text as a version, and nothing real is this long: the
        # two once carried a tar archive that pip ran (see requirements.py).
        ("0===" + "d" * 90 + ';python_version=="0"', "arbitrary equality"),
        ("foo>=1; extra == '" + "x" * 1200 + "'", "longer than any real one"),
        # Not PEP 508 at all.
        ("not a requirement!", "not a PEP 508"),
        ("foo>=", "not a PEP 508"),
        ("foo==1.0 bar", "not a PEP 508"),
    ],
)
def test_bad_requirements_are_refused(text, says):
    problem = check(text)
    assert problem is not None
    assert says in problem.message
    assert problem.requirement == text


def test_a_direct_reference_names_its_package():
    assert check("Foo_Bar @ https://example.com/x.tar.gz").package == "foo-bar"
    assert check("--index-url=x").package == ""


def test_a_non_string_is_refused():
    problem = check(["foo"])
    assert problem.requirement == "['foo']"
    assert "must be a string" in problem.message


def test_constraints_may_not_have_extras():
    assert check("urllib3[socks]<3", "constraint").message.endswith("which pip refuses in a constraint")
    assert check("urllib3[socks]<3", "requirement") is None
    assert check("urllib3<3", "constraint") is None


def test_first_problem_checks_requirements_then_constraints():
    assert first_problem(["foo", "bar"], ["baz<2"]) is None
    problem = first_problem(["foo"], ["-r /etc/passwd"])
    assert problem.requirement == "-r /etc/passwd"
    assert "constraint" in problem.message
    assert first_problem(["x @ https://a/b", "--y"], ["--z"]).requirement == "x @ https://a/b"


def test_requirements_file_has_one_line_each():
    assert requirements_file(["a", "b>=1"]) == "a\nb>=1\n"
    assert requirements_file([]) == ""
