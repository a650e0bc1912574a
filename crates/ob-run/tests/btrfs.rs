//! Snapshots on btrfs: when the results directory is a subvolume, the snapshot is a read-only
//! btrfs subvolume snapshot, restore brings the directory back byte for byte, and retention
//! deletes old snapshots with `btrfs subvolume delete`.
//!
//! Needs root, btrfs-progs (`mkfs.btrfs`, `btrfs`) and a loop device, so it is ignored by
//! default: `cargo test -p ob-run --test btrfs -- --ignored`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ob_run::{SnapshotKind, Snapshots};
use support::{manifest, seed_results};

fn sh(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A 300 MB btrfs file system on a loop device, unmounted when dropped.
struct LoopBtrfs {
    _dir: tempfile::TempDir,
    mountpoint: PathBuf,
}

impl LoopBtrfs {
    fn new() -> LoopBtrfs {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("fs.img");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        sh("truncate", &["-s", "300M", image.to_str().unwrap()]);
        sh("mkfs.btrfs", &["-q", image.to_str().unwrap()]);
        sh(
            "mount",
            &[
                "-o",
                "loop",
                image.to_str().unwrap(),
                mountpoint.to_str().unwrap(),
            ],
        );
        LoopBtrfs {
            _dir: dir,
            mountpoint,
        }
    }

    fn path(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for LoopBtrfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mountpoint).status();
    }
}

#[test]
#[ignore = "needs root, btrfs-progs and a loop device"]
fn a_btrfs_subvolume_gets_subvolume_snapshots_that_restore_byte_for_byte() {
    let filesystem = LoopBtrfs::new();
    let results = filesystem.path().join("results");
    sh("btrfs", &["subvolume", "create", results.to_str().unwrap()]);
    seed_results(&results);
    let before = manifest(&results);
    let snapshots = Snapshots::for_results(&results).unwrap();

    let first = snapshots.take().unwrap();
    assert_eq!(first.kind, SnapshotKind::Btrfs, "{first:?}");
    assert_eq!(first.files, 4);
    // Read-only: not even root can change it.
    assert!(std::fs::write(first.path.join("rewrite-me.bin"), "changed").is_err());

    std::fs::remove_file(results.join("keep/delete-me.txt")).unwrap();
    std::fs::write(results.join("rewrite-me.bin"), "OVERWRITTEN").unwrap();
    std::fs::write(results.join("added.txt"), "new").unwrap();
    assert_ne!(manifest(&results), before);
    snapshots.restore(None).unwrap();
    assert_eq!(manifest(&results), before);

    let second = snapshots.take().unwrap();
    let dropped = snapshots.prune(1).unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].id, first.id);
    assert!(!first.path.exists());
    let listed: Vec<String> = snapshots
        .list()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [second.id]);
    // Deleted subvolumes must be gone before the file system can be unmounted cleanly.
    snapshots.prune(0).unwrap();
}
