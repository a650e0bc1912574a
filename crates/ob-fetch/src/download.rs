//! Moving one file into the wheelhouse: every chunk is size-checked and hashed as it arrives and
//! appended to a hidden partial file; connection errors, stalls and 5xx answers are retried with
//! exponential backoff, resuming with `Range`; only a verified file is renamed to its final name.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    AUTHORIZATION, CONTENT_RANGE, ETAG, HeaderValue, IF_RANGE, LAST_MODIFIED, RANGE,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::FetchOptions;
use crate::credentials::Credentials;
use crate::error::{FetchError, Received};
use crate::plan::{Planned, is_loopback};
use crate::reporter::Reporter;
use crate::wheelhouse::partial_path;

/// Writes are gathered into chunks this large before they reach the file.
const WRITE_BUFFER: usize = 256 * 1024;
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Downloads files with shared HTTP clients.
pub(crate) struct Downloader {
    /// Honours `HTTPS_PROXY`/`NO_PROXY`.
    client: reqwest::Client,
    /// For loopback URLs: a proxy elsewhere could never reach this machine's loopback.
    loopback_client: reqwest::Client,
    credentials: Credentials,
    /// By crate download URL: the `Authorization` value of the registry it comes from, for a
    /// registry that wants a token for everything (sensitive: never formatted).
    crate_tokens: HashMap<String, HeaderValue>,
    retries: u32,
    retry_base_delay: Duration,
}

/// Why one attempt failed.
enum Attempt {
    /// Worth another attempt (connection error, stall, 5xx).
    Retry(Failure),
    /// Final: verification failed, 4xx, or the disk failed.
    Fatal(FetchError),
}

enum Failure {
    Status(u16),
    Network(Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Status(status) => format!("HTTP status {status}"),
            Failure::Network(err) => {
                let mut text = err.to_string();
                let mut source = err.source();
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                text
            }
        }
    }
}

/// The hidden partial file and the hash of the bytes in it.
struct Partial {
    path: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: Sha256,
    /// Bytes in the file (and in the hash).
    received: u64,
    /// Bytes that came over the network in this process.
    transferred: u64,
}

impl Partial {
    /// Opens the partial file of `entry`, continuing from what an earlier, interrupted process
    /// left there: those bytes are read once to seed the hash (that process's hash state died
    /// with it). A partial file as long as the whole file or longer is started afresh.
    async fn open(wheelhouse: &Path, entry: &Planned) -> Result<Partial, FetchError> {
        let path = partial_path(wheelhouse, &entry.filename);
        let size = entry.size;
        let seeded_path = path.clone();
        let seeded = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut file = fs_err::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&seeded_path)?;
            let mut hasher = Sha256::new();
            let existing = file.metadata()?.len();
            if existing >= size {
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                return Ok((file.into_parts().0, hasher, 0));
            }
            let mut buffer = vec![0u8; WRITE_BUFFER];
            let mut received = 0u64;
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
                received += read as u64;
            }
            Ok((file.into_parts().0, hasher, received))
        })
        .await
        .map_err(|join| FetchError::Io {
            action: "open the partial download",
            path: path.clone(),
            source: std::io::Error::other(join),
        })?;
        let (file, hasher, received) = seeded.map_err(|source| FetchError::Io {
            action: "open the partial download",
            path: path.clone(),
            source,
        })?;
        Ok(Partial {
            path,
            file: tokio::io::BufWriter::with_capacity(
                WRITE_BUFFER,
                tokio::fs::File::from_std(file),
            ),
            hasher,
            received,
            transferred: 0,
        })
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> FetchError {
        let path = self.path.clone();
        move |source| FetchError::Io {
            action,
            path,
            source,
        }
    }

    async fn append(&mut self, bytes: &[u8]) -> Result<(), FetchError> {
        self.hasher.update(bytes);
        self.file
            .write_all(bytes)
            .await
            .map_err(self.io("write the partial download"))?;
        self.received += bytes.len() as u64;
        self.transferred += bytes.len() as u64;
        Ok(())
    }

    /// Makes the file hold exactly the bytes hashed so far.
    async fn flush(&mut self) -> Result<(), FetchError> {
        self.file
            .flush()
            .await
            .map_err(self.io("write the partial download"))
    }

    /// Throws away what was received: the server will send the whole file.
    async fn reset(&mut self) -> Result<(), FetchError> {
        self.flush().await?;
        let file = self.file.get_mut();
        file.set_len(0)
            .await
            .map_err(self.io("truncate the partial download"))?;
        tokio::io::AsyncSeekExt::seek(self.file.get_mut(), SeekFrom::Start(0))
            .await
            .map_err(self.io("truncate the partial download"))?;
        self.hasher = Sha256::new();
        self.received = 0;
        Ok(())
    }
}

/// Removes a partial file whose bytes can never become the right file.
async fn discard(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}

impl Downloader {
    /// The same downloader, sending `tokens` (by crate download URL) with those downloads.
    pub(crate) fn with_crate_tokens(mut self, tokens: HashMap<String, HeaderValue>) -> Downloader {
        self.crate_tokens = tokens;
        self
    }

    pub(crate) fn new(options: &FetchOptions) -> Result<Downloader, FetchError> {
        let build = |use_proxy: bool| {
            let builder = reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                // A read timeout rather than a total one: a large file on a slow link is fine,
                // a connection where nothing arrives for this long is stalled.
                .read_timeout(options.timeout)
                .redirect(redirect_policy())
                .user_agent(concat!("offline-build/", env!("CARGO_PKG_VERSION")));
            let builder = if use_proxy {
                builder
            } else {
                builder.no_proxy()
            };
            builder
                .build()
                .map_err(|source| FetchError::Client { source })
        };
        Ok(Downloader {
            client: build(true)?,
            loopback_client: build(false)?,
            credentials: options.credentials.clone(),
            crate_tokens: HashMap::new(),
            retries: options.retries,
            retry_base_delay: options.retry_base_delay,
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.retry_base_delay
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// Downloads `entry` from `url` into the wheelhouse; returns the bytes transferred.
    pub(crate) async fn download(
        &self,
        entry: &Planned,
        url: &Url,
        wheelhouse: &Path,
        reporter: &dyn Reporter,
    ) -> Result<u64, FetchError> {
        let mut transferred = 0;
        // At most twice: a second time only when bytes left by an earlier process did not
        // verify, since they may have come from a file that has changed since.
        for fresh in [false, true] {
            let mut partial = Partial::open(wheelhouse, entry).await?;
            let seeded = partial.received > 0;
            reporter.on_download_start(&entry.filename, entry.size);
            reporter.on_download_progress(&entry.filename, partial.received);
            let result = self.transfer(entry, url, &mut partial, reporter).await;
            transferred += partial.transferred;
            if let Err(err) = result {
                let _ = partial.flush().await;
                drop(partial);
                if err.is_rejection() {
                    discard(&partial_path(wheelhouse, &entry.filename)).await;
                }
                return Err(err);
            }
            partial.flush().await?;
            let computed = hex::encode(partial.hasher.finalize_reset());
            if computed != entry.sha256 {
                drop(partial);
                discard(&partial_path(wheelhouse, &entry.filename)).await;
                if seeded && !fresh {
                    reporter.on_download_retry(
                        &entry.filename,
                        1,
                        "the resumed download did not verify; starting from the beginning",
                    );
                    continue;
                }
                return Err(FetchError::HashMismatch {
                    filename: entry.filename.clone(),
                    source_location: url.to_string(),
                    expected: entry.sha256.clone(),
                    computed,
                });
            }
            finish(partial, wheelhouse, entry).await?;
            reporter.on_download_complete(&entry.filename);
            return Ok(transferred);
        }
        // The loop returns on its second pass at the latest (`fresh` is then true).
        Err(FetchError::Io {
            action: "download",
            path: partial_path(wheelhouse, &entry.filename),
            source: std::io::Error::other("download retried past its limit"),
        })
    }

    /// Fills `partial` with the whole file, retrying and resuming as needed.
    async fn transfer(
        &self,
        entry: &Planned,
        url: &Url,
        partial: &mut Partial,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        let mut validator: Option<HeaderValue> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = match self
                .attempt(entry, url, attempt, partial, &mut validator, reporter)
                .await
            {
                Ok(()) => return Ok(()),
                Err(Attempt::Fatal(err)) => return Err(err),
                Err(Attempt::Retry(failure)) => failure,
            };
            partial.flush().await?;
            if attempt > self.retries {
                return Err(match failure {
                    Failure::Status(status) => FetchError::HttpStatus {
                        filename: entry.filename.clone(),
                        url: url.to_string(),
                        status,
                        attempts: attempt,
                    },
                    Failure::Network(source) => FetchError::Network {
                        filename: entry.filename.clone(),
                        url: url.to_string(),
                        attempts: attempt,
                        source,
                    },
                });
            }
            reporter.on_download_retry(&entry.filename, attempt + 1, &failure.describe());
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }

    /// One request: resumes from `partial.received` when it is not zero.
    async fn attempt(
        &self,
        entry: &Planned,
        url: &Url,
        attempt: u32,
        partial: &mut Partial,
        validator: &mut Option<HeaderValue>,
        reporter: &dyn Reporter,
    ) -> Result<(), Attempt> {
        let size_mismatch = |received| {
            Attempt::Fatal(FetchError::SizeMismatch {
                filename: entry.filename.clone(),
                source_location: url.to_string(),
                expected: entry.size,
                received,
            })
        };
        let client = if is_loopback(url) {
            &self.loopback_client
        } else {
            &self.client
        };
        let mut request = client.get(url.clone());
        if partial.received > 0 {
            request = request.header(RANGE, format!("bytes={}-", partial.received));
            // Without a validator the server could splice two versions of a file; the final
            // hash would catch it, but If-Range makes it send the whole new file instead.
            if let Some(validator) = validator.as_ref() {
                request = request.header(IF_RANGE, validator.clone());
            }
        }
        if let Some((username, password)) = self.credentials.for_url(url) {
            request = request.basic_auth(username, password);
        }
        if let Some(token) = self.crate_tokens.get(url.as_str()) {
            request = request.header(AUTHORIZATION, token.clone());
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_redirect() => {
                return Err(Attempt::Fatal(FetchError::Redirect {
                    filename: entry.filename.clone(),
                    url: url.to_string(),
                    source: Box::new(err.without_url()),
                }));
            }
            Err(err) => {
                return Err(Attempt::Retry(Failure::Network(Box::new(
                    err.without_url(),
                ))));
            }
        };
        let status = response.status();
        match status {
            StatusCode::PARTIAL_CONTENT if partial.received > 0 => {
                match content_range(response.headers().get(CONTENT_RANGE)) {
                    Some((start, total)) if start == partial.received => {
                        if let Some(total) = total.filter(|total| *total != entry.size) {
                            return Err(size_mismatch(Received::Announced(total)));
                        }
                    }
                    _ => {
                        partial.reset().await.map_err(Attempt::Fatal)?;
                        reporter.on_download_progress(&entry.filename, 0);
                        return Err(Attempt::Retry(Failure::Network(
                            "the server answered the range request with another range".into(),
                        )));
                    }
                }
            }
            StatusCode::OK => {
                if partial.received > 0 {
                    // The server ignores ranges (or the file changed): start over.
                    partial.reset().await.map_err(Attempt::Fatal)?;
                    reporter.on_download_progress(&entry.filename, 0);
                }
                if let Some(length) = response.content_length()
                    && length != entry.size
                {
                    return Err(size_mismatch(Received::Announced(length)));
                }
                *validator = strong_validator(&response);
            }
            StatusCode::RANGE_NOT_SATISFIABLE if partial.received > 0 => {
                partial.reset().await.map_err(Attempt::Fatal)?;
                reporter.on_download_progress(&entry.filename, 0);
                return Err(Attempt::Retry(Failure::Status(status.as_u16())));
            }
            _ if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
            {
                return Err(Attempt::Retry(Failure::Status(status.as_u16())));
            }
            _ => {
                return Err(Attempt::Fatal(FetchError::HttpStatus {
                    filename: entry.filename.clone(),
                    url: url.to_string(),
                    status: status.as_u16(),
                    attempts: attempt,
                }));
            }
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let after = partial.received + chunk.len() as u64;
                    if after > entry.size {
                        return Err(size_mismatch(Received::MoreThan(after)));
                    }
                    partial.append(&chunk).await.map_err(Attempt::Fatal)?;
                    reporter.on_download_progress(&entry.filename, partial.received);
                }
                Ok(None) => break,
                Err(err) => {
                    return Err(Attempt::Retry(Failure::Network(Box::new(
                        err.without_url(),
                    ))));
                }
            }
        }
        if partial.received < entry.size {
            // The body ended cleanly but short: the server's file is shorter than the lock's.
            return Err(size_mismatch(Received::Exactly(partial.received)));
        }
        Ok(())
    }
}

/// Flushes the verified partial file to disk and renames it to its final name.
async fn finish(partial: Partial, wheelhouse: &Path, entry: &Planned) -> Result<(), FetchError> {
    let Partial { path, file, .. } = partial;
    let file = file.into_inner();
    // On disk before the rename, so that a crash cannot leave a final name over missing data.
    file.sync_all().await.map_err(|source| FetchError::Io {
        action: "write the partial download",
        path: path.clone(),
        source,
    })?;
    drop(file);
    let final_path = wheelhouse.join(&entry.filename);
    tokio::fs::rename(&path, &final_path)
        .await
        .map_err(|source| FetchError::Io {
            action: "move the verified download to",
            path: final_path,
            source,
        })
}

/// Makes the stand-in sdist of a builder-image tool (the lock's `image-tool`) and puts it into
/// the wheelhouse if it is exactly what the lock pins: what resolve served was made by the
/// same code from the same name and version. Blocking. Returns its size.
pub(crate) fn make_image_tool(
    entry: &Planned,
    tool: &ob_index::image_tools::ImageTool,
    wheelhouse: &Path,
) -> Result<u64, FetchError> {
    let bytes = ob_index::image_tools::sdist(tool, &entry.version);
    let location = format!("offline-build's stand-in for the image's {}", tool.project);
    if bytes.len() as u64 != entry.size {
        return Err(FetchError::SizeMismatch {
            filename: entry.filename.clone(),
            source_location: location,
            expected: entry.size,
            received: Received::Exactly(bytes.len() as u64),
        });
    }
    let computed = hex::encode(Sha256::digest(&bytes));
    if computed != entry.sha256 {
        return Err(FetchError::HashMismatch {
            filename: entry.filename.clone(),
            source_location: location,
            expected: entry.sha256.clone(),
            computed,
        });
    }
    place(entry, wheelhouse, |partial| {
        let written = (|| {
            let mut output = fs_err::File::create(partial)?;
            output.write_all(&bytes)?;
            output.sync_all()
        })();
        written.map_err(|source| FetchError::Io {
            action: "write",
            path: partial.to_owned(),
            source,
        })
    })
}

/// Fills the wheelhouse's partial file for `entry` with `fill` (which verifies what it
/// writes), then gives it its final name; removes it when `fill` fails. Returns its size.
fn place(
    entry: &Planned,
    wheelhouse: &Path,
    fill: impl FnOnce(&Path) -> Result<(), FetchError>,
) -> Result<u64, FetchError> {
    let partial = partial_path(wheelhouse, &entry.filename);
    if let Err(err) = fill(&partial) {
        let _ = fs_err::remove_file(&partial);
        return Err(err);
    }
    let final_path = wheelhouse.join(&entry.filename);
    fs_err::rename(&partial, &final_path).map_err(|source| FetchError::Io {
        action: "move the verified copy to",
        path: final_path,
        source,
    })?;
    Ok(entry.size)
}

/// Copies a file the lock names by `path`, hashing as it goes; same guarantees as a download.
/// Blocking. Returns the bytes copied.
pub(crate) fn copy_local(
    entry: &Planned,
    source_path: &Path,
    wheelhouse: &Path,
) -> Result<u64, FetchError> {
    place(entry, wheelhouse, |partial| {
        copy_local_into(entry, source_path, partial)
    })
}

fn copy_local_into(entry: &Planned, source_path: &Path, partial: &Path) -> Result<(), FetchError> {
    let local = |source| FetchError::LocalSource {
        filename: entry.filename.clone(),
        path: source_path.to_owned(),
        source,
    };
    let write = |source| FetchError::Io {
        action: "write",
        path: partial.to_owned(),
        source,
    };
    let location = source_path.display().to_string();
    let mut input = fs_err::File::open(source_path).map_err(local)?;
    let mut output = fs_err::File::create(partial).map_err(write)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; WRITE_BUFFER];
    let mut copied = 0u64;
    loop {
        let read = input.read(&mut buffer).map_err(local)?;
        if read == 0 {
            break;
        }
        copied += read as u64;
        if copied > entry.size {
            return Err(FetchError::SizeMismatch {
                filename: entry.filename.clone(),
                source_location: location,
                expected: entry.size,
                received: Received::MoreThan(copied),
            });
        }
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read]).map_err(write)?;
    }
    if copied != entry.size {
        return Err(FetchError::SizeMismatch {
            filename: entry.filename.clone(),
            source_location: location,
            expected: entry.size,
            received: Received::Exactly(copied),
        });
    }
    let computed = hex::encode(hasher.finalize());
    if computed != entry.sha256 {
        return Err(FetchError::HashMismatch {
            filename: entry.filename.clone(),
            source_location: location,
            expected: entry.sha256.clone(),
            computed,
        });
    }
    output.sync_all().map_err(write)
}

/// `Content-Range: bytes <start>-<end>/<total or *>` as (start, total).
fn content_range(value: Option<&HeaderValue>) -> Option<(u64, Option<u64>)> {
    let text = value?.to_str().ok()?;
    let range = text.trim().strip_prefix("bytes ")?;
    let (span, total) = range.split_once('/')?;
    let (start, _end) = span.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        total => Some(total.parse().ok()?),
    };
    Some((start, total))
}

/// A validator for `If-Range`: a strong ETag, else `Last-Modified`.
fn strong_validator(response: &reqwest::Response) -> Option<HeaderValue> {
    let headers = response.headers();
    headers
        .get(ETAG)
        .filter(|etag| !etag.as_bytes().starts_with(b"W/"))
        .or_else(|| headers.get(LAST_MODIFIED))
        .cloned()
}

/// Follows up to 10 redirects, but never from https down to anything but https (loopback http
/// only for a request that began on loopback http, as a lock allows).
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 10 {
            return attempt.error("more than 10 redirects");
        }
        let next = attempt.url();
        if may_follow(attempt.previous(), next) {
            attempt.follow()
        } else {
            // The location is the server's text: never echo credentials it may carry.
            let mut shown = next.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            let message = format!("refusing to follow a redirect to {shown}, which is not https");
            attempt.error(message)
        }
    })
}

/// https anywhere; loopback http only for a request that never was https (no downgrade).
fn may_follow(previous: &[reqwest::Url], next: &reqwest::Url) -> bool {
    let downgrade = previous.iter().any(|url| url.scheme() == "https");
    next.scheme() == "https" || (next.scheme() == "http" && is_loopback(next) && !downgrade)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a redirect from an https index to http on loopback was followed, in clear,
    /// to whatever listens there.
    #[test]
    fn a_redirect_never_goes_down_from_https() {
        let url = |text: &str| reqwest::Url::parse(text).unwrap();
        let https = [url("https://files.example/a.tar.gz")];
        let local = [url("http://127.0.0.1:8000/a.tar.gz")];
        assert!(may_follow(&https, &url("https://mirror.example/a.tar.gz")));
        assert!(!may_follow(&https, &url("http://127.0.0.1:8000/a.tar.gz")));
        assert!(!may_follow(&https, &url("http://files.example/a.tar.gz")));
        assert!(may_follow(&local, &url("http://localhost:9000/a.tar.gz")));
        assert!(!may_follow(&local, &url("http://files.example/a.tar.gz")));
    }

    #[test]
    fn content_range_forms() {
        let value = |text: &'static str| HeaderValue::from_static(text);
        assert_eq!(
            content_range(Some(&value("bytes 100-199/200"))),
            Some((100, Some(200)))
        );
        assert_eq!(content_range(Some(&value("bytes 5-9/*"))), Some((5, None)));
        assert_eq!(content_range(Some(&value("items 5-9/10"))), None);
        assert_eq!(content_range(None), None);
    }
}
