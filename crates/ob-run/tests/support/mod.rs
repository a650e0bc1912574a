//! Shared by the run tests: a project built for real (fixtures `minibackend` and `greet`,
//! packed with ob-testkit, built by ob-build in containers), with its lock on disk, and a
//! results tree whose every byte, mode and link can be compared.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A built project: `pylock.toml`, `wheelhouse/`, `dist/`.
pub struct Built {
    pub dir: tempfile::TempDir,
    pub lock: PathBuf,
    pub out: PathBuf,
}

/// Packs and builds `minibackend` (build-only) and `greet` (runtime) in a fresh directory.
pub async fn build_project() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let wheelhouse = dir.path().join("wheelhouse");
    let out = dir.path().join("dist");
    let lock_path = ob_testkit::sdist::write_greet_project_lock(dir.path());
    let lock = ob_lock::Lock::read(&lock_path).unwrap();
    let mut options = ob_build::BuildOptions::new(&wheelhouse, &out);
    options.jobs = 2;
    options.timeout = std::time::Duration::from_secs(300);
    let report = ob_build::build(&lock, &options, &ob_build::NoReporter)
        .await
        .unwrap();
    assert!(report.succeeded(), "{report:#?}");
    Built {
        dir,
        lock: lock_path,
        out,
    }
}

/// What a tree holds, entry by entry: kind, mode, and the bytes or the link target.
pub fn manifest(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut entries = BTreeMap::new();
    walk(root, Path::new(""), &mut entries);
    entries
}

fn walk(dir: &Path, relative: &Path, entries: &mut BTreeMap<PathBuf, String>) {
    let meta = std::fs::symlink_metadata(dir).unwrap();
    entries.insert(
        relative.to_path_buf(),
        format!(
            "dir {:o} {}:{}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        ),
    );
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let below = relative.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            walk(&path, &below, entries);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            entries.insert(below, format!("link -> {}", target.display()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            entries.insert(
                below,
                format!(
                    "file {:o} {}:{} {:?}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid(),
                    String::from_utf8_lossy(&bytes)
                ),
            );
        }
    }
}

/// A results directory as a user would leave it for a program running as uid 65534: files and
/// directories it may change, an executable script, a symlink, a nested directory, all owned by
/// the sandbox user as earlier runs would leave them (the tests run as root).
pub fn seed_results(results: &Path) {
    let keep = results.join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("delete-me.txt"), "precious result\n").unwrap();
    std::fs::write(
        results.join("rewrite-me.bin"),
        b"original bytes \x00\x01\xff",
    )
    .unwrap();
    std::fs::write(results.join("script.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(results.join("becomes-dir"), "a file for now").unwrap();
    std::os::unix::fs::symlink("keep/delete-me.txt", results.join("link")).unwrap();
    for (path, mode) in [
        // Not writable for everyone: the run must leave it as it found it.
        (results.to_path_buf(), 0o755),
        (keep.clone(), 0o777),
        (keep.join("delete-me.txt"), 0o666),
        (results.join("rewrite-me.bin"), 0o666),
        (results.join("script.sh"), 0o755),
        (results.join("becomes-dir"), 0o666),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // Earlier runs' results belong to the sandbox user; the program may chmod those.
    for path in [
        results.to_path_buf(),
        keep.clone(),
        keep.join("delete-me.txt"),
        results.join("rewrite-me.bin"),
        results.join("script.sh"),
        results.join("becomes-dir"),
        results.join("link"),
    ] {
        std::os::unix::fs::lchown(&path, Some(65534), Some(65534)).unwrap();
    }
}
