//! Fetch against a real HTTP server on loopback that misbehaves on request: each test builds a
//! lock, runs `ob_fetch::fetch`, and checks the wheelhouse byte for byte.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ob_fetch::{FetchError, FetchOptions, Manifest, Received, Reporter};
use ob_lock::{Lock, LockTool, Package, Sdist};
use sha2::{Digest, Sha256};
use support::server::{Behaviour, TestServer};

/// Deterministic bytes that do not compress or repeat.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn package(name: &str, url: Option<String>, path: Option<&str>, content: &[u8]) -> Package {
    Package {
        name: name.to_owned(),
        version: "1.0".to_owned(),
        sdist: Sdist {
            filename: format!("{name}-1.0.tar.gz"),
            url,
            path: path.map(str::to_owned),
            size: content.len() as u64,
            sha256: sha256(content),
            ..Sdist::default()
        },
        ..Package::default()
    }
}

fn lock(packages: Vec<Package>) -> Lock {
    Lock {
        packages,
        tool: LockTool::default(),
        ..Lock::default()
    }
}

/// Short retry pauses so failing cases end quickly. The read timeout stays long: many tests
/// count requests, and a timeout that a busy machine can hit would add a retry to the count.
/// The tests about stalls set a short one themselves (`Case::fetch_stalling`).
fn options(wheelhouse: &Path) -> FetchOptions {
    let mut options = FetchOptions::new(wheelhouse);
    options.timeout = Duration::from_secs(30);
    options.retries = 3;
    options.retry_base_delay = Duration::from_millis(10);
    options
}

/// Every name in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Records events so tests can assert what the user would have seen.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Reporter for Recorder {
    fn on_download_retry(&self, filename: &str, attempt: u32, reason: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("retry {filename} #{attempt}: {reason}"));
    }
    fn on_download_complete(&self, filename: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("complete {filename}"));
    }
    fn on_replace(&self, filename: &str, reason: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("replace {filename}: {reason}"));
    }
    fn on_wait_for_lock(&self, _lock_file: &Path) {
        self.events.lock().unwrap().push("wait".to_owned());
    }
}

struct Case {
    server: TestServer,
    _temp: tempfile::TempDir,
    wheelhouse: PathBuf,
    lock_dir: PathBuf,
}

fn case() -> Case {
    let temp = tempfile::tempdir().unwrap();
    Case {
        server: TestServer::start(),
        wheelhouse: temp.path().join("wheelhouse"),
        lock_dir: temp.path().to_owned(),
        _temp: temp,
    }
}

impl Case {
    async fn fetch(
        &self,
        lock: &Lock,
        reporter: &dyn Reporter,
    ) -> Result<ob_fetch::FetchSummary, FetchError> {
        ob_fetch::fetch(lock, &self.lock_dir, &options(&self.wheelhouse), reporter).await
    }

    /// A fetch with a read timeout that a server told to stall reaches within the test.
    async fn fetch_stalling(
        &self,
        lock: &Lock,
        reporter: &dyn Reporter,
    ) -> Result<ob_fetch::FetchSummary, FetchError> {
        let mut options = options(&self.wheelhouse);
        options.timeout = Duration::from_millis(1500);
        ob_fetch::fetch(lock, &self.lock_dir, &options, reporter).await
    }

    fn read(&self, filename: &str) -> Vec<u8> {
        std::fs::read(self.wheelhouse.join(filename)).unwrap()
    }
}

#[tokio::test]
async fn downloads_every_file_verifies_and_writes_the_manifest() {
    let case = case();
    let alpha = bytes(1, 300_000);
    let beta = bytes(2, 1234);
    let lock = lock(vec![
        package(
            "alpha",
            Some(case.server.add("alpha-1.0.tar.gz", &alpha)),
            None,
            &alpha,
        ),
        package(
            "beta",
            Some(case.server.add("beta-1.0.tar.gz", &beta)),
            None,
            &beta,
        ),
    ]);
    let summary = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(summary.downloaded, ["alpha-1.0.tar.gz", "beta-1.0.tar.gz"]);
    assert_eq!(summary.downloaded_bytes, 301_234);
    assert_eq!(summary.already_present, 0);
    assert_eq!(case.read("alpha-1.0.tar.gz"), alpha);
    assert_eq!(case.read("beta-1.0.tar.gz"), beta);
    // No partial download or temporary file is left behind.
    assert_eq!(
        listing(&case.wheelhouse),
        [
            ".offline-build.lock",
            "alpha-1.0.tar.gz",
            "beta-1.0.tar.gz",
            "offline-build-manifest.json"
        ]
    );
    let manifest = Manifest::read(&case.wheelhouse).unwrap();
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(manifest.files[0].filename, "alpha-1.0.tar.gz");
    assert_eq!(manifest.files[0].sha256, sha256(&alpha));
    assert_eq!(manifest.files[0].size, 300_000);
    assert_eq!(
        manifest.files[0].url.as_deref(),
        lock.packages[0].sdist.url.as_deref()
    );

    // A second run hashes what is there and downloads nothing.
    let again = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert!(again.downloaded.is_empty());
    assert_eq!(again.already_present, 2);
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 1);
    let check = ob_fetch::verify_wheelhouse(&lock, &case.wheelhouse).unwrap();
    assert!(check.is_complete(), "{check:?}");
}

#[tokio::test]
async fn wrong_hash_leaves_the_wheelhouse_as_it_was() {
    let case = case();
    let good = bytes(3, 50_000);
    let mut evil = good.clone();
    evil[25_000] ^= 1;
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Body(evil.clone()));
    let lock = lock(vec![package("alpha", Some(url.clone()), None, &good)]);
    std::fs::create_dir_all(&case.wheelhouse).unwrap();
    let before = listing(&case.wheelhouse);

    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(err.is_rejection(), "a hash mismatch is exit 1: {err:?}");
    let message = err.to_string();
    for expected in [
        "alpha-1.0.tar.gz",
        url.as_str(),
        &sha256(&good),
        &sha256(&evil),
    ] {
        assert!(
            message.contains(expected),
            "{expected} missing from: {message}"
        );
    }
    assert!(matches!(err, FetchError::HashMismatch { .. }));
    let mut after = listing(&case.wheelhouse);
    after.retain(|name| name != ".offline-build.lock");
    assert_eq!(after, before);
    // A mismatch is not retried: the server would send the same bytes again.
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 1);
}

#[tokio::test]
async fn wrong_size_announced_by_the_server_is_refused() {
    let case = case();
    let good = bytes(4, 10_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    // The server has a longer file than the lock pins.
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Body(bytes(4, 20_000)));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    match &err {
        FetchError::SizeMismatch {
            expected, received, ..
        } => {
            assert_eq!(*expected, 10_000);
            assert_eq!(*received, Received::Announced(20_000));
        }
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert!(err.is_rejection());
    assert_eq!(listing(&case.wheelhouse), [".offline-build.lock"]);
}

#[tokio::test]
async fn truncated_file_on_the_server_is_a_size_mismatch() {
    let case = case();
    let good = bytes(5, 10_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    // A complete, well-formed answer whose file is shorter than the lock's.
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Body(good[..6_000].to_vec()));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::SizeMismatch {
                received: Received::Announced(6_000),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(listing(&case.wheelhouse), [".offline-build.lock"]);
}

#[tokio::test]
async fn body_cut_short_every_time_fails_as_network_and_keeps_the_partial_for_later() {
    let case = case();
    let good = bytes(6, 100_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::DropAfter(1_000));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(
        !err.is_rejection(),
        "a connection that keeps dropping is exit 2"
    );
    assert!(!case.wheelhouse.join("alpha-1.0.tar.gz").exists());
    let partial = case.wheelhouse.join(".alpha-1.0.tar.gz.partial");
    assert_eq!(std::fs::read(&partial).unwrap(), good[..4_000]);

    // The next run resumes where the partial ends.
    case.server.always("alpha-1.0.tar.gz", Behaviour::Serve);
    case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let seen = case.server.seen("alpha-1.0.tar.gz");
    assert_eq!(seen.last().unwrap().range.as_deref(), Some("bytes=4000-"));
    assert!(!partial.exists());
}

#[tokio::test]
async fn stall_past_the_timeout_is_retried_and_resumed() {
    let case = case();
    let good = bytes(7, 80_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server.push(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(30_000, Duration::from_secs(20)),
    );
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let recorder = Recorder::default();
    case.fetch_stalling(&lock, &recorder).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let seen = case.server.seen("alpha-1.0.tar.gz");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=30000-"));
    let events = recorder.events();
    assert!(
        events
            .iter()
            .any(|event| event.starts_with("retry alpha-1.0.tar.gz #2")
                && event.contains("timed out")),
        "{events:?}"
    );
}

#[tokio::test]
async fn stall_every_time_gives_up_with_the_url_named() {
    let case = case();
    let good = bytes(8, 80_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server.always(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(0, Duration::from_secs(20)),
    );
    let lock = lock(vec![package("alpha", Some(url.clone()), None, &good)]);
    let mut options = options(&case.wheelhouse);
    options.timeout = Duration::from_millis(300);
    options.retries = 1;
    let err = ob_fetch::fetch(&lock, &case.lock_dir, &options, &ob_fetch::NoReporter)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Network { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&url));
    assert!(!case.wheelhouse.join("alpha-1.0.tar.gz").exists());
}

#[tokio::test]
async fn dropped_connection_resumes_with_range() {
    let case = case();
    let good = bytes(9, 200_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .push("alpha-1.0.tar.gz", Behaviour::DropAfter(100_000));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let summary = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let seen = case.server.seen("alpha-1.0.tar.gz");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=100000-"));
    // The first half did not travel again.
    assert_eq!(summary.downloaded_bytes, 200_000);
}

#[tokio::test]
async fn server_that_ignores_range_is_downloaded_again_from_the_start() {
    let case = case();
    let good = bytes(10, 200_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .push("alpha-1.0.tar.gz", Behaviour::DropAfter(50_000));
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::IgnoreRange);
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let summary = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let seen = case.server.seen("alpha-1.0.tar.gz");
    assert_eq!(seen[1].range.as_deref(), Some("bytes=50000-"));
    assert_eq!(summary.downloaded_bytes, 250_000);
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let case = case();
    let good = bytes(11, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server.push("alpha-1.0.tar.gz", Behaviour::Status(500));
    case.server.push("alpha-1.0.tar.gz", Behaviour::Status(503));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let recorder = Recorder::default();
    case.fetch(&lock, &recorder).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 3);
    assert!(
        recorder
            .events()
            .iter()
            .any(|event| event.contains("HTTP status 500"))
    );
}

#[tokio::test]
async fn server_error_every_time_is_an_environment_failure() {
    let case = case();
    let good = bytes(12, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Status(502));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::HttpStatus {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_rejection());
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let case = case();
    let good = bytes(13, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Status(404));
    let lock = lock(vec![package("alpha", Some(url.clone()), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::HttpStatus {
                status: 404,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_rejection());
    assert!(err.to_string().contains(&url));
    assert!(err.hint().unwrap().contains("resolve"));
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 1);
    assert_eq!(listing(&case.wheelhouse), [".offline-build.lock"]);
}

#[tokio::test]
async fn redirect_is_followed() {
    let case = case();
    let good = bytes(14, 5_000);
    let real = case.server.add("real-1.0.tar.gz", &good);
    let alias = case.server.add("alpha-1.0.tar.gz", b"placeholder");
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Redirect(real));
    let lock = lock(vec![package("alpha", Some(alias), None, &good)]);
    case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    assert_eq!(case.server.seen("real-1.0.tar.gz").len(), 1);
}

#[tokio::test]
async fn present_file_that_is_wrong_is_replaced_and_extra_files_are_listed() {
    let case = case();
    let good = bytes(15, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    std::fs::create_dir_all(&case.wheelhouse).unwrap();
    // Same size, different bytes: only the hash can tell.
    std::fs::write(case.wheelhouse.join("alpha-1.0.tar.gz"), bytes(16, 5_000)).unwrap();
    std::fs::write(case.wheelhouse.join("notes.txt"), b"mine").unwrap();
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);

    let check = ob_fetch::verify_wheelhouse(&lock, &case.wheelhouse).unwrap();
    assert!(!check.is_complete());
    assert_eq!(check.wrong.len(), 1);
    assert_eq!(
        check.wrong[0].actual_sha256.as_deref(),
        Some(sha256(&bytes(16, 5_000)).as_str())
    );
    assert_eq!(check.extra, ["notes.txt"]);

    let recorder = Recorder::default();
    let summary = case.fetch(&lock, &recorder).await.unwrap();
    assert_eq!(summary.replaced, ["alpha-1.0.tar.gz"]);
    assert_eq!(summary.extra, ["notes.txt"]);
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    assert_eq!(case.read("notes.txt"), b"mine");
    assert!(
        recorder.events()[0].starts_with("replace alpha-1.0.tar.gz: sha256 "),
        "{:?}",
        recorder.events()
    );
}

#[tokio::test]
async fn local_path_sources_are_copied_and_verified() {
    let case = case();
    let good = bytes(17, 5_000);
    std::fs::create_dir_all(case.lock_dir.join("vendor")).unwrap();
    std::fs::write(case.lock_dir.join("vendor/alpha-1.0.tar.gz"), &good).unwrap();
    let mut wrong = package("beta", None, Some("vendor/beta-1.0.tar.gz"), &good);
    std::fs::write(
        case.lock_dir.join("vendor/beta-1.0.tar.gz"),
        bytes(18, 5_000),
    )
    .unwrap();
    let lock_ok = lock(vec![package(
        "alpha",
        None,
        Some("vendor/alpha-1.0.tar.gz"),
        &good,
    )]);
    let summary = case.fetch(&lock_ok, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(summary.downloaded, ["alpha-1.0.tar.gz"]);
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let manifest = Manifest::read(&case.wheelhouse).unwrap();
    assert_eq!(
        manifest.files[0].path.as_deref(),
        Some("vendor/alpha-1.0.tar.gz")
    );

    wrong.sdist.filename = "beta-1.0.tar.gz".to_owned();
    let err = case
        .fetch(&lock(vec![wrong]), &ob_fetch::NoReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::HashMismatch { .. }), "{err:?}");
    assert!(!case.wheelhouse.join("beta-1.0.tar.gz").exists());
    assert!(!case.wheelhouse.join(".beta-1.0.tar.gz.partial").exists());
}

#[tokio::test]
async fn several_failures_are_all_reported_and_the_good_files_kept() {
    let case = case();
    let good = bytes(19, 5_000);
    let url_a = case.server.add("alpha-1.0.tar.gz", &good);
    let url_b = case.server.add("beta-1.0.tar.gz", &good);
    let url_c = case.server.add("gamma-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Status(404));
    case.server
        .always("gamma-1.0.tar.gz", Behaviour::Body(bytes(20, 5_000)));
    let lock = lock(vec![
        package("alpha", Some(url_a), None, &good),
        package("beta", Some(url_b), None, &good),
        package("gamma", Some(url_c), None, &good),
    ]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    let FetchError::Several { errors } = &err else {
        panic!("expected several errors, got {err:?}");
    };
    assert_eq!(errors.len(), 2);
    assert!(err.to_string().contains("alpha-1.0.tar.gz"));
    assert!(err.to_string().contains("gamma-1.0.tar.gz"));
    assert_eq!(case.read("beta-1.0.tar.gz"), good);
    // No manifest: the fetch did not complete.
    assert!(!case.wheelhouse.join("offline-build-manifest.json").exists());
}

#[tokio::test]
async fn second_fetch_waits_for_the_first_and_downloads_nothing() {
    let case = case();
    let good = bytes(21, 100_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    // The first fetch stalls halfway until its timeout, then resumes.
    case.server.push(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(50_000, Duration::from_secs(20)),
    );
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let partial = case.wheelhouse.join(".alpha-1.0.tar.gz.partial");
    let first = case.fetch_stalling(&lock, &ob_fetch::NoReporter);
    let recorder = Recorder::default();
    let second = async {
        // Start once the first holds the lock: it creates the partial file under the lock, then
        // stalls for its whole timeout, so the second certainly finds the lock taken.
        while !partial.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        case.fetch(&lock, &recorder).await
    };
    let (first, second) = tokio::join!(first, second);
    let first = first.unwrap();
    let second = second.unwrap();
    assert_eq!(first.downloaded, ["alpha-1.0.tar.gz"]);
    assert!(second.downloaded.is_empty());
    assert_eq!(second.already_present, 1);
    assert_eq!(recorder.events(), ["wait"]);
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 2);
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
}

#[tokio::test]
async fn netrc_credentials_are_sent_but_never_shown() {
    let case = case();
    let good = bytes(22, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    case.server
        .always("alpha-1.0.tar.gz", Behaviour::Status(403));
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let mut options = options(&case.wheelhouse);
    options
        .credentials
        .add_netrc("machine 127.0.0.1 login alice password hunter2\n");
    let err = ob_fetch::fetch(&lock, &case.lock_dir, &options, &ob_fetch::NoReporter)
        .await
        .unwrap_err();
    let seen = case.server.seen("alpha-1.0.tar.gz");
    // "alice:hunter2" in base64.
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic YWxpY2U6aHVudGVyMg==")
    );
    let shown = format!("{err} {err:?} {}", err.hint().unwrap_or_default());
    assert!(
        !shown.contains("hunter2") && !shown.contains("YWxpY2U6aHVudGVyMg"),
        "{shown}"
    );
    assert!(err.hint().unwrap().contains("netrc"));
}

/// Each kind of bad entry is refused, naming the package, before any request is made.
#[tokio::test]
async fn bad_lock_entries_are_refused_before_any_download() {
    let case = case();
    let good = bytes(23, 100);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    let base = package("alpha", Some(url.clone()), None, &good);
    let other = package(
        "other",
        Some(case.server.add("other-1.0.tar.gz", &good)),
        None,
        &good,
    );
    let mut cases: Vec<(&str, Vec<Package>, &str)> = Vec::new();

    let mut twice = other.clone();
    twice.sdist.filename = "alpha-1.0.tar.gz".to_owned();
    cases.push((
        "file named twice",
        vec![base.clone(), twice],
        "also named by package `alpha`",
    ));
    let mut separator = base.clone();
    separator.sdist.filename = "../alpha-1.0.tar.gz".to_owned();
    cases.push((
        "path separator",
        vec![other.clone(), separator],
        "path separator",
    ));
    let mut plain_http = base.clone();
    plain_http.sdist.url = Some("http://files.example.invalid/alpha-1.0.tar.gz".to_owned());
    cases.push((
        "http off loopback",
        vec![other.clone(), plain_http],
        "is not https",
    ));
    let mut credentials = base.clone();
    credentials.sdist.url = Some(url.replace("http://", "http://me:hunter2@"));
    cases.push((
        "credentials in URL",
        vec![other.clone(), credentials],
        "carries credentials",
    ));
    let mut empty = base.clone();
    empty.sdist.size = 0;
    cases.push((
        "size zero",
        vec![other.clone(), empty],
        "size of `alpha-1.0.tar.gz` is zero",
    ));
    let mut short_hash = base.clone();
    short_hash.sdist.sha256 = "abc123".to_owned();
    cases.push((
        "short hash",
        vec![other.clone(), short_hash],
        "not 64 hexadecimal digits",
    ));
    let mut not_hex = base.clone();
    not_hex.sdist.sha256 = "g".repeat(64);
    cases.push((
        "non-hex hash",
        vec![other.clone(), not_hex],
        "not 64 hexadecimal digits",
    ));

    for (what, packages, reason) in cases {
        let err = case
            .fetch(&lock(packages), &ob_fetch::NoReporter)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(err.is_rejection(), "{what}: {err:?}");
        assert!(message.contains("package `alpha`"), "{what}: {message}");
        assert!(message.contains(reason), "{what}: {message}");
        assert!(!message.contains("hunter2"), "{what}: {message}");
    }
    assert!(case.server.seen("other-1.0.tar.gz").is_empty());
    assert!(case.server.seen("alpha-1.0.tar.gz").is_empty());
    assert!(
        !case.wheelhouse.exists(),
        "nothing is created before the lock is accepted"
    );
}

#[tokio::test]
async fn resumed_partial_from_other_bytes_is_started_afresh() {
    let case = case();
    let good = bytes(24, 10_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    std::fs::create_dir_all(&case.wheelhouse).unwrap();
    // An earlier process left bytes of some other file under the partial name.
    std::fs::write(
        case.wheelhouse.join(".alpha-1.0.tar.gz.partial"),
        bytes(25, 4_000),
    )
    .unwrap();
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap();
    assert_eq!(case.read("alpha-1.0.tar.gz"), good);
    let seen = case.server.seen("alpha-1.0.tar.gz");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=4000-"));
    assert_eq!(seen[1].range, None);
}

#[tokio::test]
async fn redirect_to_a_url_that_is_not_https_is_refused() {
    let case = case();
    let good = bytes(26, 5_000);
    let url = case.server.add("alpha-1.0.tar.gz", &good);
    // Refused by the redirect policy before any connection is made.
    case.server.always(
        "alpha-1.0.tar.gz",
        Behaviour::Redirect("ftp://127.0.0.1:1/alpha-1.0.tar.gz".to_owned()),
    );
    let lock = lock(vec![package("alpha", Some(url), None, &good)]);
    let err = case.fetch(&lock, &ob_fetch::NoReporter).await.unwrap_err();
    assert!(matches!(err, FetchError::Redirect { .. }), "{err:?}");
    assert!(err.is_rejection());
    assert_eq!(case.server.seen("alpha-1.0.tar.gz").len(), 1, "not retried");
    let mut chain = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(chain.contains("not https"), "{chain}");
}
