//! `offline-build fetch` as a user runs it: a real lock file, the real binary, a real HTTP server
//! on loopback (which misbehaves on request), and the wheelhouse inspected afterwards.

#[path = "../../ob-fetch/tests/support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ob_lock::{Lock, LockTool, Package, Sdist};
use server::{Behaviour, TestServer};
use sha2::{Digest, Sha256};

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
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

struct Project {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    server: TestServer,
}

impl Project {
    fn new() -> Project {
        let temp = tempfile::tempdir().unwrap();
        Project {
            dir: temp.path().to_owned(),
            _temp: temp,
            server: TestServer::start(),
        }
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("pylock.toml")
    }

    fn wheelhouse(&self) -> PathBuf {
        self.dir.join("wheelhouse")
    }

    /// Serves each `(name, content)` and writes a valid lock naming them.
    fn write_lock(&self, files: &[(&str, &[u8])]) -> Lock {
        let packages = files
            .iter()
            .map(|(name, content)| {
                let filename = format!("{name}-1.0.tar.gz");
                Package {
                    name: (*name).to_owned(),
                    version: "1.0".to_owned(),
                    sdist: Sdist {
                        url: Some(self.server.add(&filename, content)),
                        filename,
                        size: content.len() as u64,
                        sha256: sha256(content),
                        ..Sdist::default()
                    },
                    ..Package::default()
                }
            })
            .collect::<Vec<Package>>();
        let build_order = packages.iter().map(Package::pin).collect();
        let lock = Lock {
            packages,
            tool: LockTool {
                image: "offline-build/builder:trixie".to_owned(),
                image_digest: format!("sha256:{}", "0".repeat(64)),
                python_version: "3.13.5".to_owned(),
                platform: "linux_x86_64".to_owned(),
                index_url: self.server.url("/simple/"),
                build_order,
                ..LockTool::default()
            },
            ..Lock::default()
        };
        lock.write(&self.lock_path()).unwrap();
        lock
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_offline-build"));
        command
            .current_dir(&self.dir)
            .arg("fetch")
            .args(["--lock", "pylock.toml", "--wheelhouse", "wheelhouse"])
            .args(extra)
            .env("NETRC", self.dir.join("no-netrc"));
        command
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().unwrap()
    }

    fn read(&self, filename: &str) -> Vec<u8> {
        std::fs::read(self.wheelhouse().join(filename)).unwrap()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn fetch_then_offline_check_then_repair() {
    let project = Project::new();
    let (alpha, beta, gamma) = (bytes(1, 200_000), bytes(2, 3_000), bytes(3, 4_000));
    project.write_lock(&[("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)]);

    let output = project.run(&["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["downloaded"].as_array().unwrap().len(), 3);
    assert_eq!(json["downloaded_bytes"], 207_000);
    assert!(
        stderr(&output).contains("Downloaded 3 file(s) (202.15 KiB) in "),
        "{}",
        stderr(&output)
    );
    assert_eq!(project.read("alpha-1.0.tar.gz"), alpha);

    let output = project.run(&["--offline"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("All 3 file(s) of the lock are present"));

    // Damage the wheelhouse three ways.
    std::fs::write(
        project.wheelhouse().join("beta-1.0.tar.gz"),
        bytes(9, 3_000),
    )
    .unwrap();
    std::fs::remove_file(project.wheelhouse().join("gamma-1.0.tar.gz")).unwrap();
    std::fs::write(project.wheelhouse().join("stray-2.0.tar.gz"), b"stray").unwrap();
    let output = project.run(&["--offline", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    // The digests are those of the seeded test bytes, so the report is stable as a whole.
    insta::assert_snapshot!(text, @r"
    missing: gamma-1.0.tar.gz
    wrong:   beta-1.0.tar.gz (sha256 f5f7b5aae0d2716fa62b5cdb81a6c92bc35ef10731a359b2ae72638a01e1fd83, the lock says 118d2639809e425390b34d835227db622ca550306a1397fe57884e32b823f4b5)
    extra:   stray-2.0.tar.gz (not in the lock)
    error: the wheelhouse `wheelhouse` does not match the lock: 1 missing, 1 wrong

    hint: run `offline-build fetch` with network to download and replace them
    ");
    assert!(text.contains("missing: gamma-1.0.tar.gz"), "{text}");
    assert!(text.contains("wrong:   beta-1.0.tar.gz (sha256 "), "{text}");
    assert!(text.contains("extra:   stray-2.0.tar.gz"), "{text}");
    assert!(text.contains("1 missing, 1 wrong"), "{text}");
    assert!(text.contains("hint:"), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["missing"][0], "gamma-1.0.tar.gz");
    assert_eq!(json["wrong"][0]["filename"], "beta-1.0.tar.gz");
    assert_eq!(json["extra"][0], "stray-2.0.tar.gz");
    // --offline made no request.
    assert_eq!(project.server.seen("gamma-1.0.tar.gz").len(), 1);

    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("warning: `beta-1.0.tar.gz` in the wheelhouse does not match the lock"),
        "{text}"
    );
    assert!(text.contains("stray-2.0.tar.gz"), "{text}");
    assert!(text.contains("Downloaded 2 file(s)"), "{text}");
    assert!(text.contains("1 already present"), "{text}");
    assert_eq!(project.read("beta-1.0.tar.gz"), beta);
    assert_eq!(project.read("stray-2.0.tar.gz"), b"stray");
}

#[test]
fn hash_mismatch_exits_1_naming_file_url_and_both_digests() {
    let project = Project::new();
    let good = bytes(4, 5_000);
    let evil = bytes(5, 5_000);
    let lock = project.write_lock(&[("alpha", &good)]);
    project
        .server
        .always("alpha-1.0.tar.gz", Behaviour::Body(evil.clone()));
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let url = lock.packages[0].sdist.url.clone().unwrap();
    for expected in [
        "Hash mismatch for `alpha-1.0.tar.gz`",
        url.as_str(),
        &sha256(&good),
        &sha256(&evil),
        "hint:",
    ] {
        assert!(text.contains(expected), "{expected} missing from: {text}");
    }
    assert!(!project.wheelhouse().join("alpha-1.0.tar.gz").exists());
}

#[test]
fn bad_lock_exits_1_naming_the_package_before_any_download() {
    let project = Project::new();
    let good = bytes(6, 5_000);
    let lock = project.write_lock(&[("alpha", &good), ("beta", &good)]);
    // An sdist URL that is plain http to somewhere other than loopback. Never contacted.
    let url = lock.packages[1].sdist.url.clone().unwrap();
    let text = std::fs::read_to_string(project.lock_path()).unwrap();
    let bad = text.replace(&url, "http://files.example.invalid/beta-1.0.tar.gz");
    assert_ne!(bad, text);
    std::fs::write(project.lock_path(), bad).unwrap();
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("`beta`"), "{}", stderr(&output));
    assert!(project.server.seen("alpha-1.0.tar.gz").is_empty());
    assert!(!project.wheelhouse().exists());

    std::fs::remove_file(project.lock_path()).unwrap();
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("`pylock.toml`") && text.contains("hint:"),
        "{text}"
    );
}

#[test]
fn server_that_keeps_failing_exits_2() {
    let project = Project::new();
    let good = bytes(7, 5_000);
    project.write_lock(&[("alpha", &good)]);
    // A stall on every attempt: the environment, not the input, is at fault.
    project.server.always(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(0, Duration::from_secs(30)),
    );
    let output = project.run(&["--timeout", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("Could not download `alpha-1.0.tar.gz`"),
        "{text}"
    );
    assert!(text.contains("timed out"), "{text}");
}

#[test]
fn two_fetches_at_once_the_second_waits_and_downloads_nothing() {
    let project = Project::new();
    let good = bytes(8, 400_000);
    project.write_lock(&[("alpha", &good)]);
    // The first fetch stalls halfway for its whole timeout, then resumes. The timeout is the
    // window in which the second process must start and find the lock taken: generous, so a
    // busy machine does not close it first.
    project.server.push(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(300_000, Duration::from_secs(30)),
    );
    let first = project
        .command(&["--timeout", "10"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = project.wheelhouse().join(".alpha-1.0.tar.gz.partial");
    while std::fs::metadata(&partial).map_or(true, |meta| meta.len() == 0) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = project.run(&[]);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let text = stderr(&second);
    assert!(text.contains("Waiting for another fetch"), "{text}");
    assert!(text.contains("Downloaded 0 file(s)"), "{text}");
    assert!(text.contains("1 already present"), "{text}");
    assert_eq!(project.server.seen("alpha-1.0.tar.gz").len(), 2);
    assert_eq!(project.read("alpha-1.0.tar.gz"), good);
}

/// Regression guard for the core promise: whatever moment a fetch dies, a file under its final
/// name has been verified. A watcher checks the final names all along.
#[test]
fn kill_9_mid_download_then_rerun_never_shows_an_unverified_final_name() {
    let project = Project::new();
    let big = bytes(10, 3_000_000);
    let small = bytes(11, 1_000);
    project.write_lock(&[("alpha", &big), ("beta", &small)]);
    project.server.always(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(1_500_000, Duration::from_secs(60)),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        let wheelhouse = project.wheelhouse();
        let expected = [
            ("alpha-1.0.tar.gz", sha256(&big)),
            ("beta-1.0.tar.gz", sha256(&small)),
        ];
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (filename, digest) in &expected {
                    if let Ok(content) = std::fs::read(wheelhouse.join(filename)) {
                        assert_eq!(&sha256(&content), digest, "unverified {filename}");
                        checks += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            checks
        })
    };

    let mut child = project.command(&["--timeout", "60"]).spawn().unwrap();
    let partial = project.wheelhouse().join(".alpha-1.0.tar.gz.partial");
    while std::fs::metadata(&partial).map_or(true, |meta| meta.len() < 1_000_000) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!project.wheelhouse().join("alpha-1.0.tar.gz").exists());
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept > 0 && kept <= 1_500_000, "{kept}");

    project.server.always("alpha-1.0.tar.gz", Behaviour::Serve);
    let output = project.run(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stop.store(true, Ordering::Relaxed);
    let checks = watcher
        .join()
        .expect("the watcher saw an unverified final name");
    assert!(checks > 0, "the watcher never saw a final file");
    assert_eq!(project.read("alpha-1.0.tar.gz"), big);
    assert_eq!(project.read("beta-1.0.tar.gz"), small);
    let seen = project.server.seen("alpha-1.0.tar.gz");
    assert_eq!(
        seen.last().unwrap().range.as_deref(),
        Some(format!("bytes={kept}-").as_str()),
        "the re-run resumes from the partial file"
    );
    assert!(!partial.exists());
    assert_wheelhouse_has_no_temporary_files(&project.wheelhouse());
}

fn assert_wheelhouse_has_no_temporary_files(wheelhouse: &Path) {
    for entry in std::fs::read_dir(wheelhouse).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".partial") && !name.ends_with(".tmp"),
            "left behind: {name}"
        );
    }
}

#[test]
fn ctrl_c_mid_download_exits_2_and_keeps_only_the_partial_file() {
    let project = Project::new();
    let big = bytes(12, 1_000_000);
    project.write_lock(&[("alpha", &big)]);
    project.server.always(
        "alpha-1.0.tar.gz",
        Behaviour::StallAfter(600_000, Duration::from_secs(60)),
    );
    let child = project
        .command(&["--timeout", "60"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = project.wheelhouse().join(".alpha-1.0.tar.gz.partial");
    while std::fs::metadata(&partial).map_or(true, |meta| meta.len() == 0) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted"),
        "{}",
        stderr(&output)
    );
    assert!(!project.wheelhouse().join("alpha-1.0.tar.gz").exists());
    assert!(partial.exists());
}

#[test]
fn credentials_from_pip_index_url_are_sent_and_never_printed() {
    let project = Project::new();
    let good = bytes(13, 2_000);
    project.write_lock(&[("alpha", &good)]);
    project
        .server
        .always("alpha-1.0.tar.gz", Behaviour::Status(401));
    let index = project
        .server
        .url("/simple/")
        .replace("http://", "http://alice:s3cret-pw@");
    let output = project
        .command(&[])
        .env("PIP_INDEX_URL", index)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let seen = project.server.seen("alpha-1.0.tar.gz");
    // "alice:s3cret-pw" in base64.
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0LXB3")
    );
    let text = stderr(&output);
    assert!(text.contains("HTTP status 401"), "{text}");
    assert!(text.contains("netrc"), "{text}");
    assert!(
        !text.contains("s3cret") && !text.contains("YWxpY2U6czNjcmV0LXB3"),
        "{text}"
    );
}

/// HTTPS_PROXY is honoured: the download goes to the proxy as a `CONNECT`. The proxy is the
/// test's own loopback server, which refuses the tunnel, so nothing leaves this machine.
#[test]
fn https_proxy_from_the_environment_is_used() {
    let project = Project::new();
    let good = bytes(14, 2_000);
    let lock = project.write_lock(&[("alpha", &good)]);
    let url = lock.packages[0].sdist.url.clone().unwrap();
    let text = std::fs::read_to_string(project.lock_path()).unwrap();
    std::fs::write(
        project.lock_path(),
        text.replace(&url, "https://files.example.invalid/alpha-1.0.tar.gz"),
    )
    .unwrap();
    let proxy = TestServer::start();
    let output = project
        .command(&["--timeout", "5"])
        .env("HTTPS_PROXY", proxy.url(""))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let targets = proxy.targets();
    assert!(
        !targets.is_empty()
            && targets
                .iter()
                .all(|target| target == "files.example.invalid:443"),
        "{targets:?}"
    );
    assert!(!project.wheelhouse().join("alpha-1.0.tar.gz").exists());
}
