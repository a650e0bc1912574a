//! How fetch reports progress without knowing about terminals: the binary implements
//! [`Reporter`] with progress bars; tests and library callers can use [`NoReporter`].

use std::path::Path;

/// Receives progress events. Called from several downloads at once, so implementations must be
/// cheap and thread-safe. Every method has an empty default.
pub trait Reporter: Send + Sync {
    /// Downloads are about to start: `files` files of `bytes` bytes in total.
    fn on_fetch_start(&self, files: usize, bytes: u64) {
        let _ = (files, bytes);
    }
    /// A download of `filename` (`size` bytes) started.
    fn on_download_start(&self, filename: &str, size: u64) {
        let _ = (filename, size);
    }
    /// `filename` now holds `position` bytes (absolute, not a delta: after a server ignores a
    /// range request the position goes back to 0).
    fn on_download_progress(&self, filename: &str, position: u64) {
        let _ = (filename, position);
    }
    /// A download failed for a reason worth retrying; attempt `attempt` starts after a pause.
    fn on_download_retry(&self, filename: &str, attempt: u32, reason: &str) {
        let _ = (filename, attempt, reason);
    }
    /// `filename` was verified and moved under its final name.
    fn on_download_complete(&self, filename: &str) {
        let _ = filename;
    }
    /// `filename` was present under its final name but wrong; it was removed and is fetched
    /// again.
    fn on_replace(&self, filename: &str, reason: &str) {
        let _ = (filename, reason);
    }
    /// Another process holds the wheelhouse lock at `lock_file`; fetch waits for it.
    fn on_wait_for_lock(&self, lock_file: &Path) {
        let _ = lock_file;
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {}
