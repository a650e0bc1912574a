//! The one error type of this crate. Every variant names the file, URL, path or digest it is
//! about; causes go in `#[source]`. URLs in errors never carry credentials: the lock may not hold
//! any, and credentials from netrc or the index URL travel only in the `Authorization` header.

use std::fmt;
use std::path::PathBuf;

/// Why a fetch or a wheelhouse check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The lock names something fetch refuses (a file named twice, a path separator in a file
    /// name, a URL that is not https, a size of zero, a malformed sha256). Raised before any
    /// download starts.
    #[error("The lock's entry for package `{package}` cannot be fetched: {reason}")]
    InvalidLock {
        /// The package whose entry is wrong.
        package: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The bytes received do not have the sha256 the lock pins. Nothing was written under the
    /// file's name.
    #[error(
        "Hash mismatch for `{filename}` from {source_location}\n  expected sha256: {expected}\n  computed sha256: {computed}"
    )]
    HashMismatch {
        /// The sdist's file name.
        filename: String,
        /// The URL (without credentials) or local path it came from.
        source_location: String,
        /// The sha256 the lock pins.
        expected: String,
        /// The sha256 of the bytes received.
        computed: String,
    },
    /// The server sent more or fewer bytes than the lock's size. Nothing was written under the
    /// file's name.
    #[error(
        "Size mismatch for `{filename}` from {source_location}: the lock says {expected} bytes, {received}"
    )]
    SizeMismatch {
        /// The sdist's file name.
        filename: String,
        /// The URL (without credentials) or local path it came from.
        source_location: String,
        /// The size the lock pins.
        expected: u64,
        /// What arrived instead.
        received: Received,
    },
    /// The server answered with an HTTP error status (after retries, for 5xx).
    #[error("HTTP status {status} for `{filename}` from {url} (after {attempts} attempt(s))")]
    HttpStatus {
        /// The sdist's file name.
        filename: String,
        /// The URL, without credentials.
        url: String,
        /// The status code of the last answer.
        status: u16,
        /// How many requests were made.
        attempts: u32,
    },
    /// Connecting failed, the connection dropped or stalled past the timeout, and retries did
    /// not help. The partial download is kept under a hidden name and a re-run resumes it.
    #[error("Could not download `{filename}` from {url} (after {attempts} attempt(s))")]
    Network {
        /// The sdist's file name.
        filename: String,
        /// The URL, without credentials.
        url: String,
        /// How many requests were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server redirected somewhere fetch will not follow (not https, or too many hops).
    #[error("Refused a redirect for `{filename}` from {url}")]
    Redirect {
        /// The sdist's file name.
        filename: String,
        /// The URL in the lock, without credentials.
        url: String,
        /// Where it led and why that was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file the lock names by `path` (relative to the lock's directory) could not be read.
    #[error("Could not read `{filename}` from {}", path.display())]
    LocalSource {
        /// The sdist's file name.
        filename: String,
        /// Where the lock says it is.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A filesystem operation in the wheelhouse failed.
    #[error("Could not {action} {}", path.display())]
    Io {
        /// What we were doing, e.g. `create the wheelhouse`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The wheelhouse manifest exists but is not valid JSON of the expected shape.
    #[error("Could not parse the wheelhouse manifest {}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP client could not be set up (for example an unreadable trust store).
    #[error("Could not set up the HTTP client")]
    Client {
        /// The client builder's error.
        #[source]
        source: reqwest::Error,
    },
    /// More than one download failed; each is listed.
    #[error("{} downloads failed:{}", errors.len(), ListErrors(errors))]
    Several {
        /// Every failure, in lock order.
        errors: Vec<FetchError>,
    },
}

/// What arrived when the size did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// The body ended after this many bytes.
    Exactly(u64),
    /// The server announced this `Content-Length` (or `Content-Range` total).
    Announced(u64),
    /// More than the lock's size arrived; the download was stopped at this many bytes.
    MoreThan(u64),
}

impl fmt::Display for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Received::Exactly(bytes) => write!(f, "the server sent {bytes}"),
            Received::Announced(bytes) => write!(f, "the server announced {bytes}"),
            Received::MoreThan(bytes) => {
                write!(f, "the server sent more ({bytes} before fetch stopped it)")
            }
        }
    }
}

struct ListErrors<'a>(&'a [FetchError]);

impl fmt::Display for ListErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for err in self.0 {
            write!(f, "\n  - {err}")?;
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        Ok(())
    }
}

impl FetchError {
    /// True when the input is at fault or a verification failed (the lock, the server's bytes,
    /// a 4xx answer, a missing local file): the CLI exits 1. False for the environment (a
    /// server that keeps failing, the network, the disk): exit 2.
    pub fn is_rejection(&self) -> bool {
        match self {
            FetchError::InvalidLock { .. }
            | FetchError::HashMismatch { .. }
            | FetchError::SizeMismatch { .. }
            | FetchError::Redirect { .. }
            | FetchError::LocalSource { .. } => true,
            FetchError::HttpStatus { status, .. } => (400..500).contains(status),
            FetchError::Several { errors } => errors.iter().any(FetchError::is_rejection),
            FetchError::Network { .. }
            | FetchError::Io { .. }
            | FetchError::Manifest { .. }
            | FetchError::Client { .. } => false,
        }
    }

    /// What the user can do next, printed after the error as a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            FetchError::InvalidLock { .. } => {
                "fix this entry of the lock, or create the lock again with `offline-build resolve`"
            }
            FetchError::HashMismatch { .. } | FetchError::SizeMismatch { .. } => {
                "the bytes differ from those the lock was made from; nothing was written to the \
                 wheelhouse. If the file really changed upstream, run `offline-build resolve` \
                 again and review the change"
            }
            FetchError::HttpStatus {
                status: 401 | 403, ..
            } => {
                "the server refused access: put credentials for this host in ~/.netrc (or \
                 $NETRC) or in the index URL of pip's configuration"
            }
            FetchError::HttpStatus {
                status: 404 | 410, ..
            } => {
                "the file is gone from the index; run `offline-build resolve` again to pick \
                 another release"
            }
            FetchError::HttpStatus { status, .. } if *status >= 500 => {
                "the server kept failing; try again later (completed files are kept)"
            }
            FetchError::HttpStatus { .. } => "check the URL in the lock and the server's answer",
            FetchError::Network { .. } => {
                "check the connection, HTTPS_PROXY/NO_PROXY and the trust store (SSL_CERT_FILE); \
                 run the same command again to resume (completed files are kept)"
            }
            FetchError::Redirect { .. } => {
                "fetch follows redirects only to https; put the final https URL in the lock"
            }
            FetchError::LocalSource { .. } => {
                "a `path` in the lock is relative to the lock's directory; put the file there \
                 or fix the path"
            }
            FetchError::Manifest { .. } => {
                "the manifest is written by `offline-build fetch`; run it again to rewrite it"
            }
            FetchError::Client { .. } => "check the trust store (SSL_CERT_FILE, SSL_CERT_DIR)",
            FetchError::Io { .. } | FetchError::Several { .. } => return None,
        };
        Some(hint.to_owned())
    }
}
