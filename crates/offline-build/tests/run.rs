//! `offline-build run`, `snapshots` and `image assemble` as the real binary against the real
//! daemon, on a project built for real from the `minibackend` and `greet` fixtures: output and
//! exit code pass through, snapshots list and restore, bad mounts are refused with a hint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn offline_build(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(args)
        .output()
        .expect("run offline-build")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Packs and builds `minibackend` (build-only) and `greet`; returns (dir, lock, dist).
fn built_project() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wheelhouse = dir.path().join("wheelhouse");
    let out = dir.path().join("dist");
    let lock_path = ob_testkit::sdist::write_greet_project_lock(dir.path());
    let build = offline_build(&[
        "build",
        "--lock",
        path(&lock_path),
        "--wheelhouse",
        path(&wheelhouse),
        "--out",
        path(&out),
    ]);
    assert!(build.status.success(), "{}", text(&build.stderr));
    (dir, lock_path, out)
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn run_passes_output_and_exit_code_through_and_restore_undoes_its_writes() {
    let (dir, lock, out) = built_project();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    std::fs::write(results.join("earlier.txt"), "from an earlier run\n").unwrap();
    let results_mount = format!("{}:/results", results.display());
    let program = "import sys, os, greet\n\
                   print(greet.hello('cli'))\n\
                   print('to stderr', file=sys.stderr)\n\
                   os.remove('earlier.txt')\n\
                   open('made.txt', 'w').write('x')\n\
                   sys.exit(3)";
    let output = offline_build(&[
        "run",
        "--lock",
        path(&lock),
        "--out",
        path(&out),
        "--results",
        &results_mount,
        "--",
        "python3",
        "-c",
        program,
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert_eq!(
        text(&output.stdout),
        "hello, cli\n",
        "unprefixed, nothing else"
    );
    assert!(stderr.lines().any(|line| line == "to stderr"), "{stderr}");
    assert!(stderr.contains("snapshots restore --results"), "{stderr}");
    assert!(results.join("made.txt").exists() && !results.join("earlier.txt").exists());

    let listed = offline_build(&["snapshots", "list", "--results", path(&results), "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let snapshots = json.as_array().unwrap();
    assert_eq!(snapshots.len(), 1, "{json}");
    assert_eq!(snapshots[0]["kind"], "copy");
    assert_eq!(snapshots[0]["files"], 1);

    let restored = offline_build(&["snapshots", "restore", "--results", path(&results)]);
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    assert!(!results.join("made.txt").exists());
    assert_eq!(
        std::fs::read_to_string(results.join("earlier.txt")).unwrap(),
        "from an earlier run\n"
    );

    // A missing snapshot is the user's mistake: exit 1, named, with a hint.
    let missing = offline_build(&[
        "snapshots",
        "restore",
        "--results",
        path(&results),
        "20000101T000000Z-1",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("20000101T000000Z-1") && stderr.contains("hint:"),
        "{stderr}"
    );

    // A data directory inside the results would be writable through them: refused, exit 1.
    let inside = format!("{}:/data", results.display());
    let refused = offline_build(&[
        "run",
        "--lock",
        path(&lock),
        "--out",
        path(&out),
        "--results",
        &results_mount,
        "--data",
        &inside,
        "--",
        "true",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("overlaps the results directory") && stderr.contains("hint:"),
        "{stderr}"
    );

    // The image `run` assembled is reused, and --tag names it.
    let tag = format!("offline-build/runtime-test:{}", std::process::id());
    let assembled = offline_build(&[
        "image",
        "assemble",
        "--lock",
        path(&lock),
        "--out",
        path(&out),
        "--tag",
        &tag,
        "--json",
    ]);
    assert!(assembled.status.success(), "{}", text(&assembled.stderr));
    let image: serde_json::Value = serde_json::from_slice(&assembled.stdout).unwrap();
    assert_eq!(image["reference"], tag.as_str());
    assert_eq!(image["reused"], true);
    assert_eq!(image["packages"], serde_json::json!(["greet==1.0"]));
    let _ = Command::new("docker")
        .args(["rmi", "--force", image["id"].as_str().unwrap()])
        .output();
}
