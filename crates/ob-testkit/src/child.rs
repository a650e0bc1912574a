//! Runs one test of the current test binary again, in a child process: for a test that needs an
//! environment of its own (edition 2024 makes `set_var` unsafe) or a process it can kill, cut off
//! from the daemon, or interrupt. The child is usually a helper marked `#[ignore]`.

use std::process::Command;

/// A command that runs only the test `name` of this test binary, ignored tests included, with
/// its output not captured. The caller adds the environment and the pipes.
///
/// No `--test-threads=1`: on one thread the harness prints `test name ... ` before the test's own
/// output, so a line the test prints would no longer start a line of the child's stdout.
pub fn test_command(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command.args(["--exact", name, "--include-ignored", "--nocapture"]);
    command
}

/// Runs the test `name` of this test binary again with `env` added, and panics with its output
/// unless it passed.
pub fn rerun_in_child(name: &str, env: &[(&str, &str)]) {
    let output = test_command(name)
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary again");
    assert!(
        output.status.success(),
        "the child run of `{name}` failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
