//! The two file operations every part of this crate needs: a file's sha256, streamed, and
//! putting a file at a place where readers trust what they find (never half a file).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// Lowercase hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Puts the file `from` at `to`: a hard link to a temporary name beside `to` where the file
/// system allows it (no copy for a wheel moving from the cache to `dist/`), else a copy, then a
/// rename over `to`. A reader of `to` sees the old file or the whole new one. Only for files of
/// our own: a file a container wrote is copied with [`copy_file`], so that what we keep is ours
/// (owner and mode), not a link to the container user's inode.
pub fn place_file(from: &Path, to: &Path) -> Result<(), BuildError> {
    put(from, to, true)
}

/// Like [`place_file`], always copying: the new file belongs to this process's user, with the
/// mode its umask gives.
pub fn copy_file(from: &Path, to: &Path) -> Result<(), BuildError> {
    put(from, to, false)
}

fn put(from: &Path, to: &Path, link: bool) -> Result<(), BuildError> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let temporary = tempfile::Builder::new()
        .prefix(".place-")
        .make_in(dir, |path| {
            if link && std::fs::hard_link(from, path).is_ok() {
                return Ok(());
            }
            // Ours, whatever mode the source had (a container may leave a 0666 or set-id
            // wheel): readable by all, writable by this user alone (less if the umask says so).
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            let mut target = fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(path)?;
            std::io::copy(&mut fs_err::File::open(from)?, &mut target).map(|_| ())
        })
        .map_err(BuildError::io("copy", from))?;
    temporary
        .persist(to)
        .map_err(|err| BuildError::io("write", to)(err.error))?;
    Ok(())
}
