//! The builder image's root file system on the host: debootstrap into a temporary directory,
//! tidy it, and stream it as a tar (sorted entries, numeric owners) while hashing it.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::SandboxError;

/// Prefix of the temporary rootfs directories, so abandoned ones can be found.
const ROOTFS_PREFIX: &str = "offline-build-rootfs-";
/// File inside each rootfs directory that its owner holds locked while it exists.
const OWNER_LOCK: &str = "owner.lock";

/// A temporary directory holding a root file system. Dropping it unmounts anything debootstrap
/// left mounted inside (`proc`, `sys` after a failure) and deletes it, root-owned files included.
/// A lock file inside tells [`remove_abandoned`] whether its owner is still alive.
#[derive(Debug)]
pub(crate) struct RootfsDir {
    temp: Option<tempfile::TempDir>,
    _owner: std::fs::File,
}

impl RootfsDir {
    pub(crate) fn new() -> Result<RootfsDir, SandboxError> {
        let temp = tempfile::Builder::new()
            .prefix(ROOTFS_PREFIX)
            .tempdir()
            .map_err(|source| {
                SandboxError::io(
                    "could not create a temporary directory for the rootfs",
                    source,
                )
            })?;
        let lock_path = temp.path().join(OWNER_LOCK);
        let owner = fs_err::File::create(&lock_path)
            .and_then(|file| {
                file.file().lock()?;
                Ok(file.into_parts().0)
            })
            .map_err(|source| {
                SandboxError::io(format!("could not lock `{}`", lock_path.display()), source)
            })?;
        Ok(RootfsDir {
            temp: Some(temp),
            _owner: owner,
        })
    }

    /// Where debootstrap installs to (a fresh subdirectory, so it owns all of it).
    pub(crate) fn root(&self) -> PathBuf {
        self.temp
            .as_ref()
            .map(|temp| temp.path().join("rootfs"))
            .unwrap_or_default()
    }

    /// Deletes it now, on a blocking thread (hundreds of megabytes take a few seconds).
    pub(crate) async fn remove(mut self) {
        let Some(temp) = self.temp.take() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || remove_tree(temp)).await;
    }
}

impl Drop for RootfsDir {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            remove_tree(temp);
        }
    }
}

/// Deletes the rootfs directories of `image create` runs that were killed (their owner lock is
/// free); blocking. Returns how many. Directories without a lock file are left alone: their
/// owner may be between creating the directory and locking it.
pub(crate) fn remove_abandoned() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let is_ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with(ROOTFS_PREFIX)
            && entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !is_ours {
            continue;
        }
        let dir = entry.path();
        let Ok(lock) = std::fs::File::open(dir.join(OWNER_LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            unmount_below(&dir);
            if std::fs::remove_dir_all(&dir).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

fn remove_tree(temp: tempfile::TempDir) {
    unmount_below(temp.path());
    // remove_dir_all does not follow symlinks, so the rootfs's absolute links are harmless.
    let _ = temp.close();
}

/// Lazily unmounts every mount point below `dir` (deepest first), so deleting `dir` cannot
/// descend into the host's /proc or /sys.
fn unmount_below(dir: &Path) {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(point)
            .status();
    }
}

/// Makes a fresh debootstrap fit to be an image: no apt lists or caches, no logs, no host
/// resolver or hostname, and `/tmp` world-writable with the sticky bit (a tmpfs mounted there
/// takes this mode).
pub(crate) fn tidy(root: &Path) -> Result<(), SandboxError> {
    for dir in [
        "var/lib/apt/lists",
        "var/cache/apt/archives",
        "var/log",
        "tmp",
        "var/tmp",
    ] {
        empty_dir(&root.join(dir))?;
    }
    for file in [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/cache/debconf/config.dat-old",
        "var/cache/debconf/templates.dat-old",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/diversions-old",
        // ldconfig's cache of inode numbers and times: differs on every bootstrap, only speeds
        // up the next ldconfig run.
        "var/cache/ldconfig/aux-cache",
    ] {
        remove_if_present(&root.join(file))?;
    }
    // debootstrap copies these from the host; Docker mounts its own over them at run time, but
    // the files must exist for that.
    write(&root.join("etc/resolv.conf"), "")?;
    write(&root.join("etc/hostname"), "builder\n")?;
    for dir in ["tmp", "var/tmp"] {
        let path = root.join(dir);
        fs_err::create_dir_all(&path)
            .and_then(|()| fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o1777)))
            .map_err(|source| {
                SandboxError::io(format!("could not prepare `{}`", path.display()), source)
            })?;
    }
    clear_password_change_dates(&root.join("etc/shadow"))?;
    let passwd = root.join("etc/passwd");
    let users = fs_err::read_to_string(&passwd)
        .map_err(|source| SandboxError::io("could not read the rootfs's /etc/passwd", source))?;
    if !users
        .lines()
        .any(|line| line.starts_with("nobody:x:65534:65534:"))
    {
        return Err(SandboxError::io(
            format!(
                "`{}` has no `nobody` user (65534), which containers run as",
                passwd.display()
            ),
            io::Error::from(io::ErrorKind::NotFound),
        ));
    }
    Ok(())
}

/// `/etc/shadow` records the day each account was made, i.e. the day of the bootstrap; an empty
/// field means "no password ageing", which is all a build image needs, and keeps the layer the
/// same from one day to the next.
fn clear_password_change_dates(shadow: &Path) -> Result<(), SandboxError> {
    let Ok(text) = fs_err::read_to_string(shadow) else {
        return Ok(());
    };
    let cleared: String = text
        .lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if let Some(last_change) = fields.get_mut(2) {
                *last_change = "";
            }
            fields.join(":") + "\n"
        })
        .collect();
    // Same mode and owner as before: rewrite in place rather than replace the file.
    fs_err::write(shadow, cleared).map_err(|source| {
        SandboxError::io(format!("could not write `{}`", shadow.display()), source)
    })
}

fn empty_dir(dir: &Path) -> Result<(), SandboxError> {
    let Ok(entries) = fs_err::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(|source| {
            SandboxError::io(format!("could not list `{}`", dir.display()), source)
        })?;
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        let removed = if is_dir {
            fs_err::remove_dir_all(&path)
        } else {
            fs_err::remove_file(&path)
        };
        removed.map_err(|source| {
            SandboxError::io(format!("could not remove `{}`", path.display()), source)
        })?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), SandboxError> {
    match fs_err::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(SandboxError::io(
            format!("could not remove `{}`", path.display()),
            err,
        )),
        _ => Ok(()),
    }
}

fn write(path: &Path, contents: &str) -> Result<(), SandboxError> {
    // A symlink here (resolv.conf often is one) would be followed out of the rootfs.
    remove_if_present(path)?;
    fs_err::write(path, contents)
        .map_err(|source| SandboxError::io(format!("could not write `{}`", path.display()), source))
}

/// What went into the tar stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TarSummary {
    /// `sha256:<hex>` of the uncompressed tar: Docker's layer digest (DiffID) for it.
    pub(crate) digest: String,
    pub(crate) bytes: u64,
}

/// The mtime given to every file made during the bootstrap (2026-01-01T00:00:00Z).
pub(crate) const FIXED_MTIME: u64 = 1_767_225_600;

/// Writes `root` as a tar into `sender` in chunks, hashing every byte; blocking, run it on a
/// blocking thread. Entries are sorted by name and carry numeric owners. Files unpacked from
/// packages keep their mtimes (Python's `.pyc` files record their sources' mtimes, and would look
/// stale otherwise); anything modified at or after `made_since` (seconds since the epoch: the
/// bootstrap's start) gets [`FIXED_MTIME`], so two bootstraps of the same packages give the
/// same bytes.
pub(crate) fn stream_tar(
    root: &Path,
    made_since: u64,
    sender: mpsc::Sender<io::Result<Bytes>>,
) -> Result<TarSummary, SandboxError> {
    let writer = ChunkWriter {
        sender,
        buffer: Vec::with_capacity(CHUNK),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut builder = tar::Builder::new(writer);
    builder.mode(tar::HeaderMode::Complete);
    builder.follow_symlinks(false);
    let mut hard_links = HashMap::new();
    let walk = Walk { root, made_since };
    append_tree(&mut builder, &walk, Path::new(""), &mut hard_links)?;
    let mut writer = builder
        .into_inner()
        .map_err(|source| SandboxError::io("could not finish the rootfs tar", source))?;
    writer
        .flush()
        .map_err(|source| SandboxError::io("could not send the rootfs tar to Docker", source))?;
    Ok(TarSummary {
        digest: format!("sha256:{}", hex::encode(writer.hasher.finalize_reset())),
        bytes: writer.bytes,
    })
}

/// Directories whose contents belong to the kernel or to Docker at run time, not to the image.
const RUNTIME_DIRS: &[&str] = &["proc", "sys", "dev"];

/// What [`append_tree`] needs at every level.
struct Walk<'a> {
    root: &'a Path,
    made_since: u64,
}

fn append_tree(
    builder: &mut tar::Builder<ChunkWriter>,
    walk: &Walk<'_>,
    relative: &Path,
    hard_links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SandboxError> {
    let root = walk.root;
    let dir = root.join(relative);
    let mut names: Vec<_> = fs_err::read_dir(&dir)
        .map_err(|source| SandboxError::io(format!("could not list `{}`", dir.display()), source))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    for name in names {
        let path = root.join(relative).join(&name);
        let entry_name = relative.join(&name);
        let failed = |source| {
            SandboxError::io(
                format!("could not add `{}` to the rootfs tar", path.display()),
                source,
            )
        };
        let meta = fs_err::symlink_metadata(&path).map_err(failed)?;
        let kind = meta.file_type();
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        // Only permission bits belong in the mode field; the entry type carries the kind.
        header.set_mode(meta.mode() & 0o7777);
        if u64::try_from(meta.mtime()).unwrap_or(0) >= walk.made_since {
            header.set_mtime(FIXED_MTIME);
        }
        if kind.is_dir() {
            header.set_size(0);
            builder
                .append_data(&mut header, &entry_name, io::empty())
                .map_err(failed)?;
            if !(relative.as_os_str().is_empty() && RUNTIME_DIRS.iter().any(|dir| name == *dir)) {
                append_tree(builder, walk, &entry_name, hard_links)?;
            }
        } else if kind.is_symlink() {
            let target = fs_err::read_link(&path).map_err(failed)?;
            header.set_size(0);
            builder
                .append_link(&mut header, &entry_name, &target)
                .map_err(failed)?;
        } else if kind.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = hard_links.get(&key) {
                    header.set_entry_type(tar::EntryType::Link);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, &entry_name, first)
                        .map_err(failed)?;
                    continue;
                }
                hard_links.insert(key, entry_name.clone());
            }
            let file = fs_err::File::open(&path).map_err(failed)?;
            builder
                .append_data(&mut header, &entry_name, file)
                .map_err(failed)?;
        }
        // Devices, sockets and FIFOs are not image content: Docker provides /dev itself.
    }
    Ok(())
}

const CHUNK: usize = 1 << 20;

/// Sends what is written in 1 MiB chunks to the import request, hashing as it goes.
struct ChunkWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "Docker stopped reading the image",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(root: &Path) -> (TarSummary, Vec<u8>) {
        let (sender, mut receiver) = mpsc::channel(1024);
        let summary = stream_tar(root, u64::MAX, sender).unwrap();
        let mut bytes = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        (summary, bytes)
    }

    #[test]
    fn the_tar_is_sorted_hashed_and_keeps_links() {
        let root = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(root.path().join("b/dir")).unwrap();
        fs_err::write(root.path().join("b/dir/file"), "content").unwrap();
        fs_err::hard_link(root.path().join("b/dir/file"), root.path().join("a-link")).unwrap();
        std::os::unix::fs::symlink("/b/dir/file", root.path().join("c-symlink")).unwrap();
        fs_err::create_dir_all(root.path().join("proc/1")).unwrap();

        let (summary, bytes) = tar_of(root.path());
        assert_eq!(summary.bytes, bytes.len() as u64);
        assert_eq!(
            summary.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );

        let mut archive = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, tar::EntryType)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (
                    entry.path().unwrap().display().to_string(),
                    entry.header().entry_type(),
                )
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
        // The first of the two hard-linked names carries the data; `proc` is kept but empty.
        assert_eq!(
            names,
            ["a-link", "b", "b/dir", "b/dir/file", "c-symlink", "proc"]
        );
        assert_eq!(entries[3].1, tar::EntryType::Link);
        assert_eq!(entries[4].1, tar::EntryType::Symlink);

        // Same tree, same bytes.
        assert_eq!(tar_of(root.path()).0, summary);
    }

    #[test]
    fn only_rootfs_dirs_whose_owner_is_gone_are_removed() {
        let alive = RootfsDir::new().unwrap();
        let abandoned = tempfile::Builder::new()
            .prefix(ROOTFS_PREFIX)
            .tempdir()
            .unwrap()
            .keep();
        fs_err::create_dir_all(abandoned.join("rootfs/usr")).unwrap();
        fs_err::write(abandoned.join(OWNER_LOCK), "").unwrap();

        assert!(remove_abandoned() >= 1);
        assert!(!abandoned.exists());
        assert!(alive.root().parent().unwrap().join(OWNER_LOCK).exists());
        let alive_dir = alive.root().parent().unwrap().to_path_buf();
        drop(alive);
        assert!(!alive_dir.exists());
    }

    #[test]
    fn files_made_during_the_bootstrap_get_the_fixed_mtime() {
        let root = tempfile::tempdir().unwrap();
        let packaged = root.path().join("packaged.py");
        fs_err::write(&packaged, "").unwrap();
        let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&packaged)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        fs_err::write(root.path().join("generated.pyc"), "").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();

        let (sender, mut receiver) = mpsc::channel(1024);
        stream_tar(root.path(), now - 60, sender).unwrap();
        let mut bytes = Vec::new();
        while let Ok(chunk) = receiver.try_recv() {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mtimes: Vec<(String, u64)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.path().unwrap().display().to_string();
                (name, entry.header().mtime().unwrap())
            })
            .collect();
        assert_eq!(
            mtimes,
            [
                ("generated.pyc".to_string(), FIXED_MTIME),
                ("packaged.py".to_string(), 1_000_000_000)
            ]
        );
    }

    /// Measures whether two bootstraps give the same layer: set OB_REPRO_ROOTS to two rootfs
    /// directories made by debootstrap (they are tidied in place).
    #[test]
    #[ignore = "experiment on two hand-made debootstraps, see the doc comment"]
    fn two_bootstraps_give_the_same_layer() {
        let roots = std::env::var("OB_REPRO_ROOTS").expect("OB_REPRO_ROOTS=dir1:dir2");
        let since: u64 = std::env::var("OB_REPRO_SINCE").unwrap().parse().unwrap();
        let digests: Vec<String> = roots
            .split(':')
            .map(|root| {
                tidy(Path::new(root)).unwrap();
                let (sender, mut receiver) = mpsc::channel(8);
                let drain = std::thread::spawn(move || while receiver.blocking_recv().is_some() {});
                let summary = stream_tar(Path::new(root), since, sender).unwrap();
                drain.join().unwrap();
                eprintln!("{root}: {} ({} bytes)", summary.digest, summary.bytes);
                summary.digest
            })
            .collect();
        assert_eq!(digests[0], digests[1]);
    }
}
