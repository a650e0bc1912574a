//! Snapshots without containers: a restore brings a results directory back byte for byte after
//! deletions, in-place rewrites, additions, mode changes and a file replaced by a directory;
//! retention drops the oldest. Runs on whatever file system the temp directory is on (a copy
//! snapshot; reflinked where that file system shares blocks).

mod support;

use std::os::unix::fs::PermissionsExt;

use ob_run::{RunError, SnapshotKind, Snapshots};
use support::{manifest, seed_results};

#[test]
fn restore_undoes_deletes_rewrites_additions_and_mode_changes() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    seed_results(&results);
    let before = manifest(&results);
    let snapshots = Snapshots::for_results(&results).unwrap();

    let snapshot = snapshots.take().unwrap();
    assert_eq!(snapshot.kind, SnapshotKind::Copy);
    assert_eq!(snapshot.files, 4);
    // Not inside the results directory, where the program could reach it.
    assert!(!snapshot.path.starts_with(&results), "{snapshot:?}");
    assert!(
        snapshot
            .path
            .starts_with(dir.path().join(".offline-build-snapshots/results"))
    );

    // What a careless program does. The in-place rewrite is the case a hard-link snapshot
    // would get wrong: it would change the snapshot's copy too.
    std::fs::remove_file(results.join("keep/delete-me.txt")).unwrap();
    {
        use std::io::{Seek, Write};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(results.join("rewrite-me.bin"))
            .unwrap();
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(b"OVERWRITTEN").unwrap();
    }
    std::fs::write(results.join("added.txt"), "new").unwrap();
    std::fs::create_dir(results.join("added-dir")).unwrap();
    std::fs::write(results.join("added-dir/inner"), "new").unwrap();
    std::fs::set_permissions(
        results.join("rewrite-me.bin"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::remove_file(results.join("becomes-dir")).unwrap();
    std::fs::create_dir(results.join("becomes-dir")).unwrap();
    std::fs::remove_file(results.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", results.join("link")).unwrap();
    // A symlink planted where a file was, pointing out of the results directory: a restore
    // that wrote through it would overwrite a host file.
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "host file").unwrap();
    std::fs::remove_file(results.join("script.sh")).unwrap();
    std::os::unix::fs::symlink(&outside, results.join("script.sh")).unwrap();
    std::fs::remove_dir_all(results.join("keep")).unwrap();
    std::fs::write(results.join("keep"), "a file where a directory was").unwrap();
    assert_ne!(manifest(&results), before);

    let restored = snapshots.restore(None).unwrap();
    assert_eq!(restored.id, snapshot.id);
    assert_eq!(manifest(&results), before);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host file");
    // The snapshot itself is untouched by the restore and can be used again.
    assert_eq!(manifest(&snapshot.path), before);
}

#[test]
fn restore_recreates_a_deleted_results_directory_and_names_a_missing_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    seed_results(&results);
    let before = manifest(&results);
    let snapshots = Snapshots::for_results(&results).unwrap();
    let err = snapshots.restore(None).unwrap_err();
    assert!(matches!(err, RunError::NoSuchSnapshot { .. }), "{err}");
    assert!(err.to_string().contains("hint:"), "{err}");

    let snapshot = snapshots.take().unwrap();
    std::fs::remove_dir_all(&results).unwrap();
    snapshots.restore(Some(&snapshot.id)).unwrap();
    assert_eq!(manifest(&results), before);

    let err = snapshots.restore(Some("20000101T000000Z-1")).unwrap_err();
    assert!(err.to_string().contains("20000101T000000Z-1"), "{err}");
}

#[test]
fn retention_drops_the_oldest_and_ids_sort_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let snapshots = Snapshots::for_results(&results).unwrap();
    // What a run killed while copying leaves: swept by the next snapshot, never listed.
    let partial = dir
        .path()
        .join(".offline-build-snapshots/results/.partial-20000101T000000Z-1");
    std::fs::create_dir_all(partial.join("sub")).unwrap();
    let mut taken = Vec::new();
    for round in 0..4 {
        std::fs::write(results.join("round"), format!("{round}")).unwrap();
        taken.push(snapshots.take().unwrap().id);
    }
    let listed: Vec<String> = snapshots
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, taken, "listed oldest first, in the order taken");
    assert!(!partial.exists());

    let dropped: Vec<String> = snapshots
        .prune(2)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(dropped, taken[..2]);
    let listed: Vec<String> = snapshots
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, taken[2..]);
    assert!(
        !dir.path()
            .join(".offline-build-snapshots/results")
            .join(&taken[0])
            .exists()
    );

    // The newest is the default for restore: round 3.
    std::fs::write(results.join("round"), "later").unwrap();
    snapshots.restore(None).unwrap();
    assert_eq!(std::fs::read_to_string(results.join("round")).unwrap(), "3");
}

/// A program may leave a set-user-id file, a FIFO or a socket in its results. Snapshots and
/// restores keep none of that: set-id and sticky bits are stripped (as a non-root user the copy
/// would be the invoking user's own set-id program), special files are skipped and listed, and
/// the store is the invoking user's alone (0700).
#[test]
fn snapshots_keep_no_set_id_bits_no_special_files_and_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let program = results.join("suid-shell");
    std::fs::write(&program, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let shared = results.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o3777)).unwrap();
    let fifo = results.join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let snapshots = Snapshots::for_results(&results).unwrap();
    let snapshot = snapshots.take().unwrap();
    let mode = |path: &std::path::Path| {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(&snapshot.path.join("suid-shell")), 0o755);
    assert_eq!(mode(&snapshot.path.join("shared")), 0o777);
    assert!(!snapshot.path.join("pipe").exists());
    assert_eq!(snapshot.skipped, [std::path::PathBuf::from("pipe")]);
    assert_eq!(mode(snapshots.store()), 0o700);
    assert_eq!(mode(snapshots.store().parent().unwrap()), 0o700);

    // A restore writes no set-id bit back either.
    std::fs::remove_file(&program).unwrap();
    snapshots.restore(None).unwrap();
    assert_eq!(mode(&program), 0o755);
}
