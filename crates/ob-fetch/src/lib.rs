//! Hash-verifying downloader for the wheelhouse: fetches exactly the sdists a lock names, and
//! checks a wheelhouse against a lock.
//!
//! Every byte is size-checked and hashed as it arrives; a download lives under a hidden partial
//! name until its sha256 and size match the lock, and only then is renamed to its final name. So
//! whatever happens (a mismatch, Ctrl-C, `kill -9`), a file under a final name has been verified.
//!
//! ```no_run
//! # async fn example(lock: &ob_lock::Lock) -> Result<(), ob_fetch::FetchError> {
//! use std::path::Path;
//! let options = ob_fetch::FetchOptions::new("wheelhouse");
//! let summary = ob_fetch::fetch(lock, Path::new("."), &options, &ob_fetch::NoReporter).await?;
//! println!("downloaded {} files", summary.downloaded.len());
//! let check = ob_fetch::verify_wheelhouse(lock, Path::new("wheelhouse"))?;
//! assert!(check.is_complete());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod credentials;
mod download;
mod error;
mod manifest;
mod plan;
mod reporter;
mod wheelhouse;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ob_cargo::config::CargoConfig;
use ob_lock::Lock;
use reqwest::header::HeaderValue;

pub use credentials::Credentials;
pub use error::{FetchError, Received};
pub use manifest::{MANIFEST_VERSION, Manifest, ManifestEntry};
pub use reporter::{NoReporter, Reporter};
pub use wheelhouse::{CRATES_DIR, LOCK_FILE, MANIFEST_FILE, WheelhouseCheck, WrongFile};

use download::Downloader;
use plan::{Planned, Source};
use wheelhouse::{LockMode, Presence, WheelhouseLock};

/// Parallel downloads when the caller does not say: downloads wait on the network, not on the
/// cores, and about eight connections fill a typical link.
pub const DEFAULT_JOBS: usize = 8;

/// How to fetch. Build with [`FetchOptions::new`], then change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchOptions {
    /// Directory that receives the sdists; created if absent.
    pub wheelhouse: PathBuf,
    /// Downloads at once (at least 1).
    pub jobs: usize,
    /// A connection on which nothing arrives for this long is stalled, and retried.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for connection errors, stalls and 5xx answers.
    pub retries: u32,
    /// Pause before the first retry; doubled for each further one (at most 10 s).
    pub retry_base_delay: Duration,
    /// Credentials for private hosts.
    pub credentials: Credentials,
}

impl FetchOptions {
    /// Defaults: [`DEFAULT_JOBS`] downloads, 30 s stall timeout, 4 retries from 0.5 s, no
    /// credentials.
    pub fn new(wheelhouse: impl Into<PathBuf>) -> FetchOptions {
        FetchOptions {
            wheelhouse: wheelhouse.into(),
            jobs: DEFAULT_JOBS,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            retries: 4,
            retry_base_delay: Duration::from_millis(500),
            credentials: Credentials::none(),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchSummary {
    /// Files downloaded (or copied from a local path), in lock order.
    pub downloaded: Vec<String>,
    /// Bytes that came over the network or were copied, including those of retried attempts.
    pub downloaded_bytes: u64,
    /// Files that were present and verified, so not downloaded.
    pub already_present: usize,
    /// Files that were present but wrong, and were replaced (also in `downloaded`).
    pub replaced: Vec<String>,
    /// Files in the wheelhouse that the lock does not name (left alone).
    pub extra: Vec<String>,
    /// Wall-clock time of the whole fetch.
    pub elapsed: Duration,
}

/// Downloads every sdist `lock` names into `options.wheelhouse`, verifying size and sha256 while
/// streaming; files already present are hashed and kept when right, replaced when wrong.
/// `lock_dir` is the lock file's directory, against which `path` entries are resolved.
///
/// The lock is checked whole before any download starts. Holds an exclusive advisory lock on the
/// wheelhouse, so a second fetch waits. On success, writes the manifest. When several downloads
/// fail, the others still complete and every failure is returned.
pub async fn fetch(
    lock: &Lock,
    lock_dir: &Path,
    options: &FetchOptions,
    reporter: &dyn Reporter,
) -> Result<FetchSummary, FetchError> {
    let started = Instant::now();
    let planned = Arc::new(plan::plan(lock)?);
    let wheelhouse = options.wheelhouse.clone();
    fs_err::create_dir_all(&wheelhouse).map_err(|source| FetchError::Io {
        action: "create the wheelhouse",
        path: wheelhouse.clone(),
        source,
    })?;
    let _guard = lock_wheelhouse(&wheelhouse, reporter).await?;
    if !lock.tool.crates.is_empty() {
        let crates = wheelhouse.join(CRATES_DIR);
        fs_err::create_dir_all(&crates).map_err(|source| FetchError::Io {
            action: "create the crates directory of",
            path: crates.clone(),
            source,
        })?;
    }

    let presence = {
        let wheelhouse = wheelhouse.clone();
        let planned = Arc::clone(&planned);
        let threads = hashing_threads();
        blocking(&options.wheelhouse, move || {
            wheelhouse::check_all(&wheelhouse, &planned, threads)
        })
        .await??
    };
    let mut summary = FetchSummary::default();
    let mut to_fetch: Vec<(usize, &Planned)> = Vec::new();
    for (index, (entry, presence)) in planned.iter().zip(presence).enumerate() {
        match presence {
            Presence::Verified => summary.already_present += 1,
            Presence::Missing => to_fetch.push((index, entry)),
            Presence::Wrong(wrong) => {
                reporter.on_replace(&entry.filename, &wrong.reason());
                // Removed now, so that no unverified file keeps a final name while the right
                // one downloads (or if its download fails).
                let path = wheelhouse.join(&entry.filename);
                remove_wrong(&path)?;
                summary.replaced.push(entry.filename.clone());
                to_fetch.push((index, entry));
            }
        }
    }
    summary.extra = wheelhouse::extra_files(&wheelhouse, &planned)?;

    let mut errors: Vec<(usize, FetchError)> = Vec::new();
    if !to_fetch.is_empty() {
        let mut options = options.clone();
        options.credentials = options
            .credentials
            .clone()
            .default_for_index(&lock.tool.index_url);
        let tokens = crate_tokens(&to_fetch).await;
        let downloader = Downloader::new(&options)?.with_crate_tokens(tokens);
        reporter.on_fetch_start(
            to_fetch.len(),
            to_fetch.iter().map(|(_, entry)| entry.size).sum(),
        );
        let downloader = &downloader;
        let wheelhouse = &wheelhouse;
        let mut results = futures_util::stream::iter(to_fetch)
            .map(|(index, entry)| async move {
                let result = match &entry.source {
                    Source::Url(url) => downloader.download(entry, url, wheelhouse, reporter).await,
                    Source::Path(path) => {
                        let source_path = lock_dir.join(path);
                        let owned_entry = entry.clone();
                        let owned_wheelhouse = wheelhouse.clone();
                        reporter.on_download_start(&entry.filename, entry.size);
                        let copied = blocking(wheelhouse, move || {
                            download::copy_local(&owned_entry, &source_path, &owned_wheelhouse)
                        })
                        .await
                        .and_then(|result| result);
                        if copied.is_ok() {
                            reporter.on_download_progress(&entry.filename, entry.size);
                            reporter.on_download_complete(&entry.filename);
                        }
                        copied
                    }
                    Source::ImageTool(tool, _) => {
                        let tool = *tool;
                        let owned_entry = entry.clone();
                        let owned_wheelhouse = wheelhouse.clone();
                        reporter.on_download_start(&entry.filename, entry.size);
                        let made = blocking(wheelhouse, move || {
                            download::make_image_tool(&owned_entry, tool, &owned_wheelhouse)
                        })
                        .await
                        .and_then(|result| result);
                        if made.is_ok() {
                            reporter.on_download_progress(&entry.filename, entry.size);
                            reporter.on_download_complete(&entry.filename);
                        }
                        made
                    }
                };
                (index, entry, result)
            })
            .buffer_unordered(options.jobs.max(1));
        let mut downloaded = Vec::new();
        while let Some((index, entry, result)) = results.next().await {
            match result {
                Ok(bytes) => {
                    summary.downloaded_bytes += bytes;
                    downloaded.push((index, entry.filename.clone()));
                }
                Err(err) => errors.push((index, err)),
            }
        }
        downloaded.sort();
        summary.downloaded = downloaded.into_iter().map(|(_, name)| name).collect();
    }
    if !errors.is_empty() {
        errors.sort_by_key(|(index, _)| *index);
        let mut errors: Vec<FetchError> = errors.into_iter().map(|(_, err)| err).collect();
        return Err(if errors.len() == 1 {
            errors.remove(0)
        } else {
            FetchError::Several { errors }
        });
    }
    Manifest::from_planned(&planned).write(&wheelhouse)?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The `Authorization` value to send with each crate download (by URL) whose registry wants a
/// token for everything, found as resolve found it: cargo's configuration on this host, the
/// registry's `config.json`. Cheap when no token is configured (nothing is asked of cargo or of
/// the network). Anything that fails here only means no token is sent: a registry that wanted
/// one then refuses the download, and that error names the file.
async fn crate_tokens(to_fetch: &[(usize, &Planned)]) -> HashMap<String, HeaderValue> {
    let mut tokens = HashMap::new();
    let crates: Vec<(String, String)> = to_fetch
        .iter()
        .filter_map(|(_, entry)| match (&entry.source, &entry.crate_source) {
            (Source::Url(url), Some(source)) => Some((url.to_string(), source.clone())),
            _ => None,
        })
        .collect();
    if crates.is_empty() {
        return tokens;
    }
    let Ok(Ok(config)) = tokio::task::spawn_blocking(|| {
        let (config, file) = CargoConfig::from_host_files()?;
        Ok::<_, ob_cargo::CargoError>(if config.has_tokens() {
            Some(config.with_host_probes(file.as_ref()))
        } else {
            None
        })
    })
    .await
    else {
        return tokens;
    };
    let Some(config) = config else {
        return tokens;
    };
    let Ok(client) = reqwest::Client::builder()
        .user_agent(concat!("offline-build/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .build()
    else {
        return tokens;
    };
    // One config.json per registry, however many crates it serves.
    let mut wanted: HashMap<String, Option<HeaderValue>> = HashMap::new();
    for (url, source) in crates {
        let Ok(index) = config.index_for(&source) else {
            continue;
        };
        let Some(token) = config.token_for(&index) else {
            continue;
        };
        let key = index.url.to_string();
        if !wanted.contains_key(&key) {
            let value = match ob_cargo::registry::fetch_config(&client, &index, Some(token)).await {
                Ok(registry) if registry.auth_required => token.header_value(),
                _ => None,
            };
            wanted.insert(key.clone(), value);
        }
        if let Some(Some(value)) = wanted.get(&key) {
            tokens.insert(url, value.clone());
        }
    }
    tokens
}

/// Checks `wheelhouse` against `lock` without any network: every file the lock names is
/// hashed (size first, then the full sha256; no digest cache is trusted). Lists what is
/// missing, wrong and extra. Holds a shared advisory lock while checking, so it waits for a
/// running fetch. Blocking: from async code, call it in `spawn_blocking`.
pub fn verify_wheelhouse(lock: &Lock, wheelhouse: &Path) -> Result<WheelhouseCheck, FetchError> {
    let planned = plan::plan(lock)?;
    let mut check = WheelhouseCheck::default();
    if !wheelhouse.is_dir() {
        check.missing = planned.into_iter().map(|entry| entry.filename).collect();
        return Ok(check);
    }
    // A wheelhouse we may not write to (say, mounted read-only) cannot be locked, and nobody
    // can be fetching into it either.
    let _guard = WheelhouseLock::acquire(wheelhouse, LockMode::Shared, |_| {}).ok();
    let presence = wheelhouse::check_all(wheelhouse, &planned, hashing_threads())?;
    for (entry, presence) in planned.iter().zip(presence) {
        match presence {
            Presence::Verified => check.verified.push(entry.filename.clone()),
            Presence::Missing => check.missing.push(entry.filename.clone()),
            Presence::Wrong(wrong) => check.wrong.push(wrong),
        }
    }
    check.extra = wheelhouse::extra_files(wheelhouse, &planned)?;
    Ok(check)
}

/// Hashing is bound by the disk and the cores: one thread per core.
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Takes the exclusive wheelhouse lock, telling the reporter if it has to wait.
async fn lock_wheelhouse(
    wheelhouse: &Path,
    reporter: &dyn Reporter,
) -> Result<WheelhouseLock, FetchError> {
    let owned = wheelhouse.to_owned();
    let (waiting_tx, mut waiting_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut locking = tokio::task::spawn_blocking(move || {
        WheelhouseLock::acquire(&owned, LockMode::Exclusive, |path| {
            let _ = waiting_tx.send(path.to_owned());
        })
    });
    loop {
        tokio::select! {
            joined = &mut locking => {
                return joined.map_err(|join| FetchError::Io {
                    action: "lock",
                    path: wheelhouse.join(LOCK_FILE),
                    source: std::io::Error::other(join),
                })?;
            }
            Some(path) = waiting_rx.recv() => reporter.on_wait_for_lock(&path),
        }
    }
}

/// Removes a wrong file from under a final name. A directory there is left for the user: fetch
/// never deletes trees.
fn remove_wrong(path: &Path) -> Result<(), FetchError> {
    fs_err::remove_file(path).map_err(|source| FetchError::Io {
        action: "remove the wrong file",
        path: path.to_owned(),
        source,
    })
}

/// Runs blocking work on `wheelhouse` off the async threads.
async fn blocking<T: Send + 'static>(
    wheelhouse: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, FetchError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|join| FetchError::Io {
            action: "finish work in",
            path: wheelhouse.to_owned(),
            source: std::io::Error::other(join),
        })
}
