//! The wheelhouse directory: its reserved names (manifest, advisory lock, hidden partial
//! downloads), the advisory lock that keeps two fetches apart, and checking the files present
//! against the lock by size and sha256.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::error::FetchError;
use crate::plan::Planned;

/// The manifest `build` reads: what fetch verified, with sources.
pub const MANIFEST_FILE: &str = "offline-build-manifest.json";
/// Advisory lock file: held exclusively by `fetch`, shared by checks.
pub const LOCK_FILE: &str = ".offline-build.lock";
/// The subdirectory that holds the Rust crates (`{name}-{version}.crate`) builds vendor.
pub const CRATES_DIR: &str = "crates";
/// Partial downloads are `.<filename>.partial`: hidden, and never a final name.
const PARTIAL_SUFFIX: &str = ".partial";

/// Where the partial download of `filename` (a name, or `crates/` and a name) lives until it
/// is verified: beside its final name, hidden.
pub(crate) fn partial_path(wheelhouse: &Path, filename: &str) -> PathBuf {
    match filename.rsplit_once('/') {
        Some((directory, name)) => wheelhouse
            .join(directory)
            .join(format!(".{name}{PARTIAL_SUFFIX}")),
        None => wheelhouse.join(format!(".{filename}{PARTIAL_SUFFIX}")),
    }
}

/// Whether `name` is one of the wheelhouse's own files rather than an sdist.
fn is_own_file(name: &str) -> bool {
    name == MANIFEST_FILE || name.starts_with('.')
}

/// The size and lowercase hex sha256 of a file, read once in large chunks.
pub(crate) fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// A file that is present under its final name but does not match the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongFile {
    /// The file name.
    pub filename: String,
    /// Size the lock pins.
    pub expected_size: u64,
    /// Size on disk.
    pub actual_size: u64,
    /// sha256 the lock pins.
    pub expected_sha256: String,
    /// sha256 on disk; `None` when the size already differed and the file was not hashed.
    pub actual_sha256: Option<String>,
}

impl WrongFile {
    /// One line on what differs.
    pub fn reason(&self) -> String {
        match &self.actual_sha256 {
            None => format!(
                "size {} bytes, the lock says {}",
                self.actual_size, self.expected_size
            ),
            Some(actual) => format!("sha256 {actual}, the lock says {}", self.expected_sha256),
        }
    }
}

/// The state of a wheelhouse compared with a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WheelhouseCheck {
    /// Files the lock names that are present and verified (size and sha256).
    pub verified: Vec<String>,
    /// Files the lock names that are absent.
    pub missing: Vec<String>,
    /// Files the lock names that are present but differ.
    pub wrong: Vec<WrongFile>,
    /// Other files in the wheelhouse (not the manifest, the lock file or partial downloads).
    pub extra: Vec<String>,
}

impl WheelhouseCheck {
    /// True when every file of the lock is present and verified (extra files do not matter:
    /// build only reads the files the lock names).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.wrong.is_empty()
    }
}

/// How one planned file stands on disk.
#[derive(Debug)]
pub(crate) enum Presence {
    Verified,
    Missing,
    Wrong(WrongFile),
}

/// Checks one file: size from metadata first (cheap), then the full sha256.
pub(crate) fn check_file(wheelhouse: &Path, planned: &Planned) -> Result<Presence, FetchError> {
    let path = wheelhouse.join(&planned.filename);
    let metadata = match fs_err::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Presence::Missing),
        Err(source) => {
            return Err(FetchError::Io {
                action: "inspect",
                path,
                source,
            });
        }
    };
    let wrong = |actual_size, actual_sha256| {
        Presence::Wrong(WrongFile {
            filename: planned.filename.clone(),
            expected_size: planned.size,
            actual_size,
            expected_sha256: planned.sha256.clone(),
            actual_sha256,
        })
    };
    // A symlink or directory under a final name is never what fetch put there.
    if !metadata.file_type().is_file() {
        return Ok(wrong(metadata.len(), None));
    }
    if metadata.len() != planned.size {
        return Ok(wrong(metadata.len(), None));
    }
    let (size, sha256) = hash_file(&path).map_err(|source| FetchError::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    if size == planned.size && sha256 == planned.sha256 {
        Ok(Presence::Verified)
    } else {
        Ok(wrong(size, Some(sha256)))
    }
}

/// Checks every planned file, hashing on up to `threads` threads at once. Results are in the
/// order of `planned`.
pub(crate) fn check_all(
    wheelhouse: &Path,
    planned: &[Planned],
    threads: usize,
) -> Result<Vec<Presence>, FetchError> {
    let threads = threads.clamp(1, planned.len().max(1));
    let next = AtomicUsize::new(0);
    let mut checked: Vec<(usize, Result<Presence, FetchError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut checked = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(entry) = planned.get(index) else {
                            break;
                        };
                        checked.push((index, check_file(wheelhouse, entry)));
                    }
                    checked
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    checked.sort_by_key(|(index, _)| *index);
    checked.into_iter().map(|(_, result)| result).collect()
}

/// Regular files in the wheelhouse that the lock does not name and that are not ours.
pub(crate) fn extra_files(
    wheelhouse: &Path,
    planned: &[Planned],
) -> Result<Vec<String>, FetchError> {
    let names: std::collections::HashSet<&str> = planned
        .iter()
        .map(|entry| entry.filename.as_str())
        .collect();
    let mut extra = Vec::new();
    for name in list(wheelhouse)? {
        if name == CRATES_DIR && wheelhouse.join(CRATES_DIR).is_dir() {
            for name in list(&wheelhouse.join(CRATES_DIR))? {
                let name = format!("{CRATES_DIR}/{name}");
                if !name.contains("/.") && !names.contains(name.as_str()) {
                    extra.push(name);
                }
            }
        } else if !is_own_file(&name) && !names.contains(name.as_str()) {
            extra.push(name);
        }
    }
    extra.sort();
    Ok(extra)
}

/// The names in `directory`; none when it does not exist.
fn list(directory: &Path) -> Result<Vec<String>, FetchError> {
    let io = |source| FetchError::Io {
        action: "list",
        path: directory.to_owned(),
        source,
    };
    let entries = match fs_err::read_dir(directory) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io(source)),
    };
    entries
        .map(|entry| {
            entry
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .map_err(io)
        })
        .collect()
}

/// An advisory lock on a wheelhouse, released on drop.
#[derive(Debug)]
pub(crate) struct WheelhouseLock {
    _file: fs_err::File,
}

/// How to take the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockMode {
    /// Fetch writes: nobody else may read or write.
    Exclusive,
    /// A check reads: other checks may run, fetch waits.
    Shared,
}

impl WheelhouseLock {
    /// Takes the lock, calling `on_wait` once if another process holds it and then waiting.
    /// Blocking: call from a blocking context.
    pub(crate) fn acquire(
        wheelhouse: &Path,
        mode: LockMode,
        on_wait: impl FnOnce(&Path),
    ) -> Result<WheelhouseLock, FetchError> {
        let path = wheelhouse.join(LOCK_FILE);
        let io = |action: &'static str| {
            let path = path.clone();
            move |source| FetchError::Io {
                action,
                path,
                source,
            }
        };
        let file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open the wheelhouse lock"))?;
        let attempt = match mode {
            LockMode::Exclusive => file.try_lock(),
            LockMode::Shared => file.try_lock_shared(),
        };
        match attempt {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(&path);
                match mode {
                    LockMode::Exclusive => file.lock(),
                    LockMode::Shared => file.lock_shared(),
                }
                .map_err(io("lock"))?;
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io("lock")(source)),
        }
        Ok(WheelhouseLock { _file: file })
    }
}
