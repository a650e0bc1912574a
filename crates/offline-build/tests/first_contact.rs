//! What a new user meets first: mistakes caught on the host, before anything starts, named
//! precisely, with the exit code the docs give. Each message is a snapshot with the test's
//! temporary paths filtered. Docker is pointed at a socket that does not exist: a command that
//! tried to start anything would fail with exit 2 ("cannot reach Docker") instead.

use std::path::Path;
use std::process::{Command, Output};

fn offline_build(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(args)
        .current_dir(dir)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-docker.sock", dir.display()),
        )
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(output: &Output, dir: &Path) -> String {
    String::from_utf8_lossy(&output.stderr).replace(&dir.display().to_string(), "[TMP]")
}

/// Regression: `resolve 'flask=>3'` started the proxy and a container, then failed inside with
/// pip's message, an internal path and exit 2.
#[test]
fn a_spec_that_is_not_pep_508_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = offline_build(dir.path(), &["resolve", "flask=>3"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output, dir.path()), @r#"
    error: command line: `flask=>3` is not a PEP 508 requirement:
    no such comparison operator "=>", must be one of ~= == != <= >= < > ===
    flask=>3
         ^^^

    hint: write it as `name`, `name==1.0`, `name>=1,<2` or `name[extra]; python_version >= "3.10"`
    "#);
}

#[test]
fn a_bad_line_of_a_requirements_file_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("requirements.txt"),
        "# tools\nidna==3.10\nrequests[socks\n",
    )
    .unwrap();
    let output = offline_build(dir.path(), &["resolve", "-r", "requirements.txt"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output, dir.path()), @r#"
    error: requirements.txt:3: `requests[socks` is not a PEP 508 requirement:
    Missing closing bracket (expected ']', found end of dependency specification)
    requests[socks
            ^

    hint: write it as `name`, `name==1.0`, `name>=1,<2` or `name[extra]; python_version >= "3.10"`
    "#);
}

#[test]
fn a_bad_dependency_of_a_project_is_named_by_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("pyproject.toml"),
        "[project]\nname = \"demo\"\nversion = \"1.0\"\ndependencies = [\"idna >= 3 ; python_version >\"]\n",
    )
    .unwrap();
    let output = offline_build(dir.path(), &["resolve", "--project", "pyproject.toml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output, dir.path()), @r#"
    error: pyproject.toml [project].dependencies: `idna >= 3 ; python_version >` is not a PEP 508 requirement:
    Expected marker value, found end of dependency specification
    idna >= 3 ; python_version >
                                ^

    hint: write it as `name`, `name==1.0`, `name>=1,<2` or `name[extra]; python_version >= "3.10"`
    "#);
}

/// Regression: the hint was printed before the cause.
#[test]
fn fetch_without_a_lock_says_why_then_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = offline_build(dir.path(), &["fetch", "--lock", "missing.toml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output, dir.path()), @r"
    error: failed to read lock file `missing.toml`
      caused by: failed to open file `missing.toml`: No such file or directory (os error 2)

    hint: create it with `offline-build resolve`, or point `--lock` at an existing lock
    ");
}
