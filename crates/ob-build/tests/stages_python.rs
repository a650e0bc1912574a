//! The programs that run inside the containers (`stages/build/`, `stages/resolve/`) have unit
//! tests of their own, in Python: run here with a pinned pytest on the host, so that the
//! README's test command runs them too. Needs the package index once (for pytest); skips, saying
//! why, only when it cannot be reached at all.

/// pytest, and the packaging of the builder image (Debian trixie's 25.0), which the resolver
/// session's modules import.
const PINS: &[&str] = &["pytest==9.2.0", "packaging==25.0"];

#[test]
fn the_stage_programs_pass_their_own_tests() {
    let python = match ob_testkit::python::tools_venv("stages-pytest", PINS) {
        Ok(python) => python,
        Err(reason) => {
            eprintln!("SKIPPED the stages' pytest run: {reason}");
            return;
        }
    };
    let stages = ob_testkit::repo_root().join("stages");
    let output = ob_testkit::python::clean_command(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&stages)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pytest in {} failed:\n{}\n{}",
        stages.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
