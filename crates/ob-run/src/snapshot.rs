//! Snapshots of a results directory, taken before each run so that whatever the program deletes
//! or rewrites can be restored byte for byte: where they live, how they are taken (btrfs
//! subvolume snapshot, else a reflink-or-real copy), listing, restoring and retention.
//!
//! Snapshots of `<parent>/<name>` live in `<parent>/.offline-build-snapshots/<name>/<id>/`:
//! beside the results directory, never inside it, so the program (which only sees the results
//! mount) cannot alter its own snapshots. Hard links are never used: a program that rewrites a
//! file in place would change the snapshot too, since it would be the same inode.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::error::RunError;

/// Name of the directory beside the results directory that holds its snapshots.
pub const SNAPSHOTS_DIR: &str = ".offline-build-snapshots";
/// Snapshots kept by default; older ones are dropped after a new one is taken.
pub const DEFAULT_KEEP: usize = 10;

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    /// A read-only btrfs subvolume snapshot (the results directory is a btrfs subvolume).
    Btrfs,
    /// A copy of every file: reflinked (shared blocks, copy-on-write) where the file system
    /// supports it through `copy_file_range` (btrfs, XFS with reflink, bcachefs), else real.
    Copy,
}

/// One snapshot. Serialised as-is by `snapshots list --json` (fields are only ever added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// `YYYYMMDDTHHMMSSZ-N`: UTC time taken and a counter; sorts by time.
    pub id: String,
    /// Where it is.
    pub path: PathBuf,
    /// How it was taken.
    pub kind: SnapshotKind,
    /// Regular files in it.
    pub files: u64,
    /// Their apparent size in bytes (what a copy without reflinks costs).
    pub bytes: u64,
    /// Entries that were neither file, directory nor symlink (FIFOs, sockets) and were left
    /// out; filled in by [`Snapshots::take`] only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<PathBuf>,
}

/// The snapshots of one results directory.
#[derive(Debug, Clone)]
pub struct Snapshots {
    results: PathBuf,
    store: PathBuf,
}

impl Snapshots {
    /// The snapshots of `results` (which need not exist yet, but its parent must).
    pub fn for_results(results: &Path) -> Result<Snapshots, RunError> {
        let absolute = std::path::absolute(results)
            .map_err(RunError::io("find the absolute path of", results))?;
        let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
            return Err(RunError::BadMount {
                spec: results.display().to_string(),
                problem: "the results directory cannot be the root directory".to_string(),
                hint: "name a directory of its own for the results".to_string(),
            });
        };
        // Resolve symlinks in the parent, so the store is where the data really is.
        let parent = fs_err::canonicalize(parent).map_err(RunError::io("find", parent))?;
        Ok(Snapshots {
            results: parent.join(name),
            store: parent.join(SNAPSHOTS_DIR).join(name),
        })
    }

    /// The results directory (absolute).
    pub fn results(&self) -> &Path {
        &self.results
    }

    /// The directory holding the snapshots.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<Snapshot>, RunError> {
        let mut found = Vec::new();
        let entries = match fs_err::read_dir(&self.store) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(err) => return Err(RunError::io("list", &self.store)(err)),
        };
        for entry in entries {
            let entry = entry.map_err(RunError::io("list", &self.store))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Half-taken snapshots (`.partial-*`) and anything else are not snapshots.
            if parse_id(&name).is_none() || !entry.path().is_dir() {
                continue;
            }
            found.push(describe(&name, &entry.path())?);
        }
        found.sort_by_key(|snapshot| parse_id(&snapshot.id));
        Ok(found)
    }

    /// Takes a snapshot of the results directory now; the directory must exist.
    pub fn take(&self) -> Result<Snapshot, RunError> {
        self.make_store()?;
        self.remove_partial()?;
        let id = self.next_id()?;
        let target = self.store.join(&id);
        if is_btrfs_subvolume(&self.results) {
            run_command(
                Command::new("btrfs")
                    .args(["subvolume", "snapshot", "-r"])
                    .arg(&self.results)
                    .arg(&target),
            )?;
            return describe(&id, &target);
        }
        // Copied under a temporary name and renamed when complete, so a snapshot that exists
        // under its ID is whole.
        let partial = self.store.join(format!(".partial-{id}"));
        let mut skipped = Vec::new();
        let copied =
            copy_tree(&self.results, &partial, Path::new(""), &mut skipped).and_then(|()| {
                fs_err::rename(&partial, &target).map_err(RunError::io("rename", &partial))
            });
        if let Err(err) = copied {
            let _ = remove_tree(&partial);
            return Err(err);
        }
        let mut snapshot = describe(&id, &target)?;
        snapshot.skipped = skipped;
        Ok(snapshot)
    }

    /// The store and the directory of all stores beside the results, created 0700 (and made
    /// so): a snapshot holds whatever the program wrote, and another local user has no business
    /// reading it, or finding a program's file there that it may run.
    fn make_store(&self) -> Result<(), RunError> {
        fs_err::create_dir_all(&self.store).map_err(RunError::io("create", &self.store))?;
        for dir in [Some(self.store.as_path()), self.store.parent()]
            .into_iter()
            .flatten()
        {
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(RunError::io("restrict", dir))?;
        }
        Ok(())
    }

    /// Makes the results directory exactly what snapshot `id` (default: the newest) holds:
    /// file contents, modes, owners (when permitted), symlinks; what the snapshot does not hold
    /// is deleted. The results directory is created if it is gone.
    pub fn restore(&self, id: Option<&str>) -> Result<Snapshot, RunError> {
        let snapshots = self.list()?;
        let chosen = match id {
            Some(id) => snapshots.into_iter().find(|snapshot| snapshot.id == id),
            None => snapshots.into_iter().last(),
        };
        let Some(snapshot) = chosen else {
            return Err(RunError::NoSuchSnapshot {
                results: self.results.clone(),
                id: id.unwrap_or("newest").to_string(),
            });
        };
        if !self.results.is_dir() {
            fs_err::create_dir_all(&self.results).map_err(RunError::io("create", &self.results))?;
        }
        sync_tree(&snapshot.path, &self.results)?;
        Ok(snapshot)
    }

    /// Deletes the oldest snapshots until at most `keep` remain; returns those deleted.
    pub fn prune(&self, keep: usize) -> Result<Vec<Snapshot>, RunError> {
        let mut snapshots = self.list()?;
        let excess = snapshots.len().saturating_sub(keep);
        let dropped: Vec<Snapshot> = snapshots.drain(..excess).collect();
        for snapshot in &dropped {
            match snapshot.kind {
                SnapshotKind::Btrfs => run_command(
                    Command::new("btrfs")
                        .args(["subvolume", "delete"])
                        .arg(&snapshot.path),
                )?,
                SnapshotKind::Copy => remove_tree(&snapshot.path)?,
            }
        }
        Ok(dropped)
    }

    /// Removes half-copied snapshots a killed run left behind (runs on one results directory
    /// are not meant to overlap, so none of these is still being written).
    fn remove_partial(&self) -> Result<(), RunError> {
        for entry in fs_err::read_dir(&self.store).map_err(RunError::io("list", &self.store))? {
            let entry = entry.map_err(RunError::io("list", &self.store))?;
            if entry.file_name().to_string_lossy().starts_with(".partial-") {
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    /// A new ID that sorts after every existing one.
    fn next_id(&self) -> Result<String, RunError> {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let newest = self
            .list()?
            .last()
            .and_then(|snapshot| parse_id(&snapshot.id));
        let counter = match newest {
            // Same second (or a clock that went back): count on from the newest.
            Some((newest_stamp, counter)) if newest_stamp >= stamp => {
                return Ok(format!("{newest_stamp}-{}", counter + 1));
            }
            _ => 1,
        };
        Ok(format!("{stamp}-{counter}"))
    }
}

/// `("20261127T051500Z", 3)` from `20261127T051500Z-3`.
fn parse_id(id: &str) -> Option<(String, u64)> {
    let (stamp, counter) = id.split_once('-')?;
    let well_formed = stamp.len() == 16
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[..8].bytes().all(|b| b.is_ascii_digit())
        && stamp[9..15].bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    Some((stamp.to_string(), counter.parse().ok()?))
}

fn describe(id: &str, path: &Path) -> Result<Snapshot, RunError> {
    let kind = if is_btrfs_subvolume(path) {
        SnapshotKind::Btrfs
    } else {
        SnapshotKind::Copy
    };
    let (mut files, mut bytes) = (0, 0);
    count(path, &mut files, &mut bytes)?;
    Ok(Snapshot {
        id: id.to_string(),
        path: path.to_path_buf(),
        kind,
        files,
        bytes,
        skipped: Vec::new(),
    })
}

fn count(dir: &Path, files: &mut u64, bytes: &mut u64) -> Result<(), RunError> {
    for entry in fs_err::read_dir(dir).map_err(RunError::io("list", dir))? {
        let entry = entry.map_err(RunError::io("list", dir))?;
        let meta = fs_err::symlink_metadata(entry.path())
            .map_err(|err| RunError::io("inspect", entry.path())(err))?;
        if meta.is_dir() {
            count(&entry.path(), files, bytes)?;
        } else if meta.is_file() {
            *files += 1;
            *bytes += meta.len();
        }
    }
    Ok(())
}

/// A btrfs subvolume's root directory always has inode number 256; a plain directory on btrfs
/// never does. The file system type comes from `stat -f`, which avoids unsafe `statfs` here.
fn is_btrfs_subvolume(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_dir() || meta.ino() != 256 {
        return false;
    }
    Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(path)
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "btrfs")
}

fn run_command(command: &mut Command) -> Result<(), RunError> {
    let line = format!("{command:?}");
    let output = command.output().map_err(|err| RunError::CommandFailed {
        command: line.clone(),
        detail: err.to_string(),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RunError::CommandFailed {
            command: line,
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// Copies the tree at `source` to `target` (which must not exist) without following symlinks.
/// `relative` is the path below the top, for the list of skipped entries.
fn copy_tree(
    source: &Path,
    target: &Path,
    relative: &Path,
    skipped: &mut Vec<PathBuf>,
) -> Result<(), RunError> {
    let meta = fs_err::symlink_metadata(source).map_err(RunError::io("inspect", source))?;
    fs_err::create_dir(target).map_err(RunError::io("create", target))?;
    for entry in fs_err::read_dir(source).map_err(RunError::io("list", source))? {
        let entry = entry.map_err(RunError::io("list", source))?;
        let from = entry.path();
        let to = target.join(entry.file_name());
        let below = relative.join(entry.file_name());
        let entry_meta = fs_err::symlink_metadata(&from).map_err(RunError::io("inspect", &from))?;
        if entry_meta.is_dir() {
            copy_tree(&from, &to, &below, skipped)?;
        } else if !copy_entry(&from, &to, &entry_meta)? {
            skipped.push(below);
        }
    }
    set_attributes(target, &meta)
}

/// Copies one file or symlink; `false` for anything else (not copied).
fn copy_entry(from: &Path, to: &Path, meta: &std::fs::Metadata) -> Result<bool, RunError> {
    if meta.file_type().is_symlink() {
        let link = fs_err::read_link(from).map_err(RunError::io("read the link", from))?;
        std::os::unix::fs::symlink(&link, to).map_err(RunError::io("create the link", to))?;
        // Owner of a symlink only; its mode means nothing on Linux.
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
        return Ok(true);
    }
    if !meta.is_file() {
        return Ok(false);
    }
    // std's copy uses copy_file_range, which the kernel turns into a reflink on file systems
    // that share blocks (btrfs, XFS), and into a real copy elsewhere. Never a hard link.
    fs_err::copy(from, to).map_err(RunError::io("copy", from))?;
    let file = fs_err::File::options()
        .write(true)
        .open(to)
        .map_err(RunError::io("open", to))?;
    if let Ok(modified) = meta.modified() {
        file.file()
            .set_modified(modified)
            .map_err(RunError::io("set the modification time of", to))?;
    }
    set_attributes(to, meta)?;
    Ok(true)
}

/// Owner (when we may: as root, or when it is ours already) then mode, without the set-user-id,
/// set-group-id and sticky bits: a program's file must not become a set-id program in a
/// snapshot or a restore (as a non-root user, the copy would be the invoking user's own).
fn set_attributes(path: &Path, meta: &std::fs::Metadata) -> Result<(), RunError> {
    let _ = std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()));
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o777))
        .map_err(RunError::io("set the mode of", path))
}

/// Makes `target` (an existing directory) equal to `source`: deletes what `source` lacks or
/// holds as another kind of entry, then copies every file and symlink over (each written to a
/// temporary name and renamed into place, which replaces a symlink rather than writing
/// through it), then sets modes and owners.
fn sync_tree(source: &Path, target: &Path) -> Result<(), RunError> {
    let source_meta = fs_err::symlink_metadata(source).map_err(RunError::io("inspect", source))?;
    for entry in fs_err::read_dir(target).map_err(RunError::io("list", target))? {
        let entry = entry.map_err(RunError::io("list", target))?;
        let path = entry.path();
        let here = fs_err::symlink_metadata(&path).map_err(RunError::io("inspect", &path))?;
        // Symlinks are never directories here: `symlink_metadata` does not follow them.
        let there = std::fs::symlink_metadata(source.join(entry.file_name()));
        let stale = match &there {
            Ok(there) => here.is_dir() != there.is_dir(),
            Err(_) => true,
        };
        if stale {
            if here.is_dir() {
                remove_tree(&path)?;
            } else {
                fs_err::remove_file(&path).map_err(RunError::io("delete", &path))?;
            }
        }
    }
    for entry in fs_err::read_dir(source).map_err(RunError::io("list", source))? {
        let entry = entry.map_err(RunError::io("list", source))?;
        let from = entry.path();
        let to = target.join(entry.file_name());
        let meta = fs_err::symlink_metadata(&from).map_err(RunError::io("inspect", &from))?;
        if meta.is_dir() {
            if !std::fs::symlink_metadata(&to).is_ok_and(|meta| meta.is_dir()) {
                fs_err::create_dir(&to).map_err(RunError::io("create", &to))?;
            }
            sync_tree(&from, &to)?;
        } else {
            let temporary = target.join(format!(
                ".offline-build-restore-{}",
                entry.file_name().to_string_lossy()
            ));
            let _ = std::fs::remove_file(&temporary);
            if copy_entry(&from, &temporary, &meta)? {
                fs_err::rename(&temporary, &to).map_err(RunError::io("replace", &to))?;
            }
        }
    }
    set_attributes(target, &source_meta)
}

/// Deletes a tree we made, first making its directories writable (a snapshot keeps the
/// program's modes, which may be read-only).
fn remove_tree(path: &Path) -> Result<(), RunError> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.is_dir()
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    remove_tree(&entry.path())?;
                }
            }
        }
    }
    match fs_err::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(RunError::io("delete", path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_then_counter() {
        let mut ids = vec![
            "20261127T051500Z-10",
            "20261127T051500Z-9",
            "20251231T235959Z-1",
        ];
        ids.sort_by_key(|id| parse_id(id));
        assert_eq!(
            ids,
            [
                "20251231T235959Z-1",
                "20261127T051500Z-9",
                "20261127T051500Z-10"
            ]
        );
        assert_eq!(parse_id(".partial-20261127T051500Z-1"), None);
        assert_eq!(parse_id("notes"), None);
    }
}
