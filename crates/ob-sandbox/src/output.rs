//! Reading what a container writes while it still runs. The container owns its output mount: it
//! can swap a file for a symlink to a host path, a FIFO that blocks whoever opens it, or a file
//! larger than memory, between any two of our system calls. [`OutputDir`] holds the directory
//! open, so swapping the directory itself changes nothing, opens each file without following a
//! symlink or waiting on a FIFO, checks what it opened, and reads no more than a cap.

use std::fs::File;
use std::io::Read as _;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A directory a container writes into, opened once on the host.
#[derive(Debug)]
pub struct OutputDir {
    dir: File,
    shown: PathBuf,
}

impl OutputDir {
    /// Opens `path`, which must be a directory and not a symlink.
    pub fn open(path: &Path) -> std::io::Result<OutputDir> {
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        Ok(OutputDir {
            dir,
            shown: path.to_path_buf(),
        })
    }

    /// Where the directory was when it was opened, for messages.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The bytes of regular file `name` (a plain name, no directories) in this directory;
    /// `Err` names the file and says why when it is anything else or longer than `cap` bytes.
    pub fn read(&self, name: &str, cap: u64) -> Result<Vec<u8>, String> {
        let shown = self.shown.join(name);
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(format!("`{name}` is not a plain file name"));
        }
        // The kernel resolves /proc/self/fd/N to the directory we opened, wherever it is now.
        let path = PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd())).join(name);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|err| match err.raw_os_error() {
                Some(libc::ELOOP) => format!("{} is a symlink", shown.display()),
                _ => format!("{}: {err}", shown.display()),
            })?;
        let meta = file
            .metadata()
            .map_err(|err| format!("{}: {err}", shown.display()))?;
        if !meta.file_type().is_file() {
            return Err(format!("{} is not a regular file", shown.display()));
        }
        if meta.len() > cap {
            return Err(format!(
                "{} is {} bytes, more than the {cap} allowed",
                shown.display(),
                meta.len()
            ));
        }
        let mut bytes = Vec::new();
        // The file may still grow: read one byte past the cap to notice.
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| format!("{}: {err}", shown.display()))?;
        if bytes.len() as u64 > cap {
            return Err(format!(
                "{} grew past the {cap} bytes allowed while it was read",
                shown.display()
            ));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_refuses_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("1.json"), b"{}").unwrap();
        std::fs::write(root.join("secret"), b"host secret").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), root.join("2.json")).unwrap();
        std::fs::create_dir(root.join("3.json")).unwrap();
        std::fs::write(root.join("4.json"), vec![b' '; 100]).unwrap();
        let fifo = root.join("5.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());

        let out = OutputDir::open(root).unwrap();
        assert_eq!(out.read("1.json", 10).unwrap(), b"{}");
        assert!(
            out.read("2.json", 10)
                .unwrap_err()
                .ends_with("2.json is a symlink")
        );
        assert!(
            out.read("3.json", 10)
                .unwrap_err()
                .ends_with("3.json is not a regular file")
        );
        assert!(out.read("4.json", 10).unwrap_err().contains("100 bytes"));
        // Would block forever without O_NONBLOCK; with it, a FIFO is just not a regular file.
        assert!(
            out.read("5.json", 10)
                .unwrap_err()
                .ends_with("is not a regular file")
        );
        assert!(out.read("../1.json", 10).is_err());
    }

    #[test]
    fn swapping_the_directory_for_a_symlink_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        std::fs::create_dir(&results).unwrap();
        std::fs::write(results.join("1.json"), b"ours").unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("1.json"), b"theirs").unwrap();

        let out = OutputDir::open(&results).unwrap();
        std::fs::rename(&results, dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &results).unwrap();
        assert_eq!(out.read("1.json", 10).unwrap(), b"ours");
        // And a symlink is never opened as the directory.
        assert!(OutputDir::open(&results).is_err());
    }
}
