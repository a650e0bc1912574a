//! Faults during `build`, each followed by a re-run that must complete with every wheel sound
//! and nothing of the failed run left behind: a lock edited by hand, the build process killed
//! with SIGKILL mid-build, and an output disk that fills up. (A swapped wheelhouse file and an
//! interrupted build, as Ctrl-C does it, are ob-build's `hermetic.rs` stories.)

#[path = "../../ob-build/tests/support/mod.rs"]
mod build_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use build_support::{Fixture, GREET, MINIBACKEND, Project, Recorder, entry};
use ob_build::{PackageStatus, build};
use ob_lock::Lock;

/// Every package has its wheel, and every wheel in `out` passes the validator.
fn assert_complete_and_sound(report: &ob_build::BuildReport, out: &Path) {
    for package in &report.packages {
        assert!(package.status.has_wheel(), "{package:#?}");
        let wheel = out.join(package.wheel.as_ref().unwrap());
        ob_build::wheel::check_wheel(&wheel, &package.name, &package.version)
            .unwrap_or_else(|problem| panic!("{}: {problem}", wheel.display()));
    }
}

/// A hand-edited lock (a changed sdist hash, a removed package that another needs to build, an
/// unknown version) is refused before any container starts, naming the package; the lock as it
/// was then builds.
#[tokio::test]
async fn a_lock_edited_by_hand_is_refused_and_the_original_still_builds() {
    let project = Project::new(&[MINIBACKEND, GREET]);
    let options = project.options();
    let mut changed_hash = project.lock.clone();
    changed_hash.packages[0].sdist.sha256 = "0".repeat(64);
    let mut removed = project.lock.clone();
    removed
        .packages
        .retain(|package| package.name != "minibackend");
    let mut unknown_version = project.lock.clone();
    for package in &mut unknown_version.packages {
        if package.name == "greet" {
            package.version = "9.9".to_owned();
        }
    }
    for (what, lock) in [
        ("changed hash", changed_hash),
        ("removed package", removed),
        ("unknown version", unknown_version),
    ] {
        // Through the file, as a hand edit arrives: the reader or the build must refuse it.
        let path = project
            .dir
            .path()
            .join(format!("{}.toml", what.replace(' ', "-")));
        std::fs::write(&path, lock.to_toml_string()).unwrap();
        let refused = match Lock::read(&path) {
            Err(error) => error.to_string(),
            Ok(read) => match build(&read, &options, &Recorder::default()).await {
                Err(error) => error.to_string(),
                Ok(report) => panic!("{what}: built {report:#?}"),
            },
        };
        assert!(
            refused.contains("minibackend") || refused.contains("greet"),
            "{what}: {refused}"
        );
        assert!(
            !project.out.exists() || std::fs::read_dir(&project.out).unwrap().count() == 0,
            "{what}: the refused build left files in dist/"
        );
    }
    let report = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert_complete_and_sound(&report, &project.out);
}

/// A copy of greet whose build sleeps first, so a test can kill the build while it runs.
fn sleepy_tree(into: &Path) -> PathBuf {
    let tree = into.join("sleepy");
    std::fs::create_dir_all(tree.join("sleepy")).unwrap();
    std::fs::create_dir_all(tree.join("_build")).unwrap();
    std::fs::write(tree.join("sleepy/__init__.py"), "SLEPT = True\n").unwrap();
    std::fs::write(
        tree.join("pyproject.toml"),
        "[build-system]\nrequires = [\"minibackend==1.0\"]\nbuild-backend = \"sleepy_backend\"\nbackend-path = [\"_build\"]\n\n[project]\nname = \"sleepy\"\nversion = \"1.0\"\n\n[tool.minibackend]\npackages = [\"sleepy\"]\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("_build/sleepy_backend.py"),
        "import time\nfrom minibackend import *  # noqa: F403\nfrom minibackend import build_wheel as _build_wheel\n\n\ndef build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    print('sleepy: started', flush=True)\n    time.sleep(20)\n    return _build_wheel(wheel_directory, config_settings, metadata_directory)\n",
    )
    .unwrap();
    tree
}

fn containers_of(pid: u32) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label={}={pid}", ob_sandbox::LABEL_OWNER_PID),
        ])
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A project of minibackend, greet and sleepy (see [`sleepy_tree`]) with its lock written to
/// the returned path; the temporary directory holds sleepy's tree.
fn sleepy_project() -> (tempfile::TempDir, Project, PathBuf) {
    let sleepy = Fixture {
        name: "sleepy",
        build_requires: &["minibackend"],
        build_only: false,
        dependencies: &[],
    };
    let trees = tempfile::tempdir().unwrap();
    let tree = sleepy_tree(trees.path());
    let project = Project::with_sources(&[MINIBACKEND, GREET, sleepy], &[("sleepy", &tree)]);
    let lock_path = project.dir.path().join("pylock.toml");
    project.lock.write(&lock_path).unwrap();
    (trees, project, lock_path)
}

/// Waits until the sleepy build's container runs under `child` (its owner) and returns the
/// child's containers; fails if the child ends first, before `what` could happen to it.
fn wait_for_sleepy_container(child: &mut Child, project: &Project, what: &str) -> Vec<String> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_secs(240) {
        // greet and sleepy start together once minibackend is built; greet takes a second,
        // sleepy sleeps for 20: with greet's wheel there, the running container is sleepy's.
        seen = containers_of(child.id());
        if !seen.is_empty() && project.out.join("greet-1.0-py3-none-any.whl").exists() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !seen.is_empty(),
        "no container of the child appeared before {what}"
    );
    seen
}

/// The child's exit status; a child still running after `bound` is killed and the test fails.
/// The bound is a hang detector, not a speed check.
fn wait_or_kill(
    child: &mut std::process::Child,
    bound: Duration,
    since: &str,
) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            panic!("the child still runs {} s {since}", bound.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Those of the containers `ids` that Docker still has.
fn still_there(ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            Command::new("docker")
                .args(["inspect", id.as_str()])
                .output()
                .unwrap()
                .status
                .success()
        })
        .cloned()
        .collect()
}

/// SIGKILL of `offline-build build` while a package's container runs; then a re-run of
/// the same lock into the same directory completes with every wheel sound, and the killed run's
/// container is gone.
#[test]
fn a_build_killed_with_sigkill_mid_build_is_completed_by_a_rerun() {
    let (_trees, project, lock_path) = sleepy_project();

    let mut child = offline_build_command(&project, &lock_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = wait_for_sleepy_container(&mut child, &project, "it could be killed");
    child.kill().unwrap();
    child.wait().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(build(
            &project.lock,
            &project.options(),
            &Recorder::default(),
        ))
        .unwrap();
    assert_complete_and_sound(&report, &project.out);
    assert_eq!(entry(&report, "sleepy").status, PackageStatus::Built);
    let left = still_there(&seen);
    // Clean up what the run under test should have, so a failure here leaves nothing behind.
    for id in &left {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert!(
        left.is_empty(),
        "the killed run's containers are still there: {left:?}"
    );
}

/// A tmpfs mounted over the output directory for one test, unmounted when dropped (also when
/// the test fails).
struct SmallDisk {
    mount_point: PathBuf,
}

impl SmallDisk {
    fn mount(mount_point: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(mount_point).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(mount_point)
            .status()
            .ok()?;
        status.success().then(|| SmallDisk {
            mount_point: mount_point.to_owned(),
        })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.mount_point)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// The output directory fills up mid-build (a 12 KiB tmpfs): the build fails or marks packages
/// failed, and whatever it left under a wheel's name is a sound wheel, never a torn one; with
/// room again, a re-run into the same directory completes.
#[tokio::test]
async fn a_full_output_disk_leaves_no_torn_wheel_and_a_rerun_completes() {
    let project = Project::new(&[MINIBACKEND, GREET]);
    let Some(disk) = SmallDisk::mount(&project.out, "12k") else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let options = project.options();
    let first = build(&project.lock, &options, &Recorder::default()).await;
    match &first {
        Err(error) => eprintln!("full disk: {error}"),
        Ok(report) => {
            assert!(
                report
                    .packages
                    .iter()
                    .any(|package| !package.status.has_wheel()),
                "everything fit into 12 KiB; the test proves nothing: {report:#?}"
            );
        }
    }
    for item in std::fs::read_dir(&project.out).unwrap() {
        let path = item.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".tmp"),
            "a temporary file is left: {name}"
        );
        if let Some(parsed) = ob_build::wheel::WheelName::parse(&name) {
            ob_build::wheel::check_wheel(&path, &parsed.distribution, &parsed.version)
                .unwrap_or_else(|problem| panic!("torn wheel {name}: {problem}"));
        }
    }
    disk.resize("16m");
    let report = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert_complete_and_sound(&report, &project.out);
    drop(disk);
}

const DAEMON_CHILD: &str = "OB_ADVERSARIAL_DAEMON_CHILD";

/// A unix-socket relay in front of the real daemon's socket, which the test can cut: to a
/// process talking to it, the daemon has died. The real daemon is never touched (other tests
/// run on it at the same time).
struct Relay {
    path: PathBuf,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl Relay {
    fn start(path: &Path) -> Relay {
        use std::os::unix::net::{UnixListener, UnixStream};
        let listener = UnixListener::bind(path).unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (thread_cut, thread_streams) = (cut.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if thread_cut.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(daemon) = UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                let mut kept = thread_streams.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(daemon.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), daemon.try_clone().unwrap()),
                    (daemon, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay {
            path: path.to_owned(),
            cut,
            streams,
        }
    }

    /// The daemon "dies": every open connection is closed and new ones are refused.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The Docker daemon goes away in the middle of a build (the connection to it is cut while a
/// package's container runs): the build ends with an error instead of hanging; the container
/// it could not remove carries our owner labels, so the sweep removes it; a re-run of the same
/// lock completes with every wheel sound.
#[test]
fn the_daemon_dying_mid_build_ends_the_build_and_a_rerun_completes() {
    let (trees, project, _) = sleepy_project();
    let relay = Relay::start(&trees.path().join("docker.sock"));

    let mut child = ob_testkit::child::test_command("daemon_child")
        .env(DAEMON_CHILD, project.dir.path())
        .env("DOCKER_HOST", format!("unix://{}", relay.path.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let seen = wait_for_sleepy_container(&mut child, &project, "the cut");
    relay.cut();
    // The build must notice and end; it must not wait for a daemon that is gone. The bound is
    // a hang detector (the sleepy build alone would take 20 s), not a speed check.
    let status = wait_or_kill(
        &mut child,
        Duration::from_secs(180),
        "after the daemon went away",
    );
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "{stdout}");
    assert!(stdout.contains("daemon gone: "), "{stdout}");
    eprintln!(
        "{}",
        stdout
            .lines()
            .find(|line| line.contains("daemon gone"))
            .unwrap_or("")
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let removed = runtime.block_on(async {
        let sandbox = ob_sandbox::Sandbox::connect().await.unwrap();
        sandbox.remove_leftovers().await.unwrap()
    });
    let survived = still_there(&seen);
    assert!(
        survived.is_empty(),
        "containers {survived:?} of the cut run survived the sweep ({removed} removed)"
    );
    let report = runtime
        .block_on(build(
            &project.lock,
            &project.options(),
            &Recorder::default(),
        ))
        .unwrap();
    assert_complete_and_sound(&report, &project.out);
}

/// The build that [`the_daemon_dying_mid_build_ends_the_build_and_a_rerun_completes`] cuts off
/// from the daemon: it must end with an error, which it prints.
#[tokio::test]
#[ignore = "run by the_daemon_dying_mid_build_ends_the_build_and_a_rerun_completes through a relay it cuts"]
async fn daemon_child() {
    let Some(dir) = std::env::var_os(DAEMON_CHILD).map(PathBuf::from) else {
        eprintln!("skipped: only meaningful inside its parent test");
        return;
    };
    let lock = Lock::read(&dir.join("pylock.toml")).unwrap();
    let mut options = ob_build::BuildOptions::new(dir.join("wheelhouse"), dir.join("dist"));
    options.jobs = 2;
    match build(&lock, &options, &Recorder::default()).await {
        Err(error) => {
            // With its causes, as the binary prints it.
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            println!("daemon gone: {}", text.replace('\n', " "));
        }
        Ok(report) => {
            let sleepy = entry(&report, "sleepy");
            assert!(
                !sleepy.status.has_wheel(),
                "built without a daemon: {sleepy:#?}"
            );
            println!("daemon gone: {:?}", sleepy.error);
        }
    }
}

/// The daemon is down before the build starts (`DOCKER_HOST` names a socket nobody listens
/// on): the build refuses at once, naming the daemon's address, and writes nothing.
#[test]
fn a_daemon_that_is_down_before_the_build_is_named_and_nothing_is_written() {
    let project = Project::new(&[MINIBACKEND, GREET]);
    project
        .lock
        .write(&project.dir.path().join("pylock.toml"))
        .unwrap();
    let socket = project.dir.path().join("no-daemon.sock");
    let output = ob_testkit::child::test_command("daemon_child")
        .env(DAEMON_CHILD, project.dir.path())
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|line| line.starts_with("daemon gone: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("no-daemon.sock"), "{line}");
    let written: Vec<_> = std::fs::read_dir(&project.out)
        .map(|items| items.map(|item| item.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
}

/// The `offline-build` binary, built on first use (the binary belongs to another package, so
/// Cargo gives this test no `CARGO_BIN_EXE_` for it). Same profile as this test.
fn offline_build_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            // target/<profile>/deps/<this test> → target/<profile>
            let profile_dir = std::env::current_exe()
                .unwrap()
                .parent()
                .and_then(Path::parent)
                .unwrap()
                .to_owned();
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args([
                "build",
                "--quiet",
                "-p",
                "offline-build",
                "--bin",
                "offline-build",
            ]);
            if profile_dir.ends_with("release") {
                cargo.arg("--release");
            }
            assert!(
                cargo.status().unwrap().success(),
                "could not build offline-build"
            );
            profile_dir.join("offline-build")
        })
        .clone()
}

fn offline_build_command(project: &Project, lock: &Path) -> Command {
    let mut command = Command::new(offline_build_binary());
    command
        // A wheel cache of the project's own: another test's wheels must not finish this build.
        .env("XDG_CACHE_HOME", project.dir.path().join("cache"))
        .arg("build")
        .arg("--lock")
        .arg(lock)
        .arg("--wheelhouse")
        .arg(&project.wheelhouse)
        .arg("--out")
        .arg(&project.out)
        .args(["--jobs", "2"]);
    command
}

/// SIGINT (Ctrl-C) to the `offline-build build` process while a package's container runs: it
/// exits non-zero with its containers already removed, and a re-run of the binary completes with
/// every wheel sound.
#[test]
fn sigint_to_offline_build_mid_build_removes_its_containers_and_a_rerun_completes() {
    let (_trees, project, lock) = sleepy_project();

    let mut child = offline_build_command(&project, &lock)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let seen = wait_for_sleepy_container(&mut child, &project, "SIGINT");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = wait_or_kill(&mut child, Duration::from_secs(120), "after SIGINT");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    let left = still_there(&seen);
    for id in &left {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
    assert!(
        left.is_empty(),
        "containers left after SIGINT: {left:?}\n{stderr}"
    );

    let rerun = offline_build_command(&project, &lock).output().unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    for package in &project.lock.packages {
        let wheel = project.out.join(format!(
            "{}-{}-py3-none-any.whl",
            package.name.replace('-', "_"),
            package.version
        ));
        ob_build::wheel::check_wheel(&wheel, &package.name, &package.version)
            .unwrap_or_else(|problem| panic!("{}: {problem}", wheel.display()));
    }
}
