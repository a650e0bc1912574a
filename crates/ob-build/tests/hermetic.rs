//! Hermetic builds of the hand-made fixture packages in real containers on the real daemon:
//! no index, no network. Each test tells one story about a property of `build`.

mod support;

use std::collections::BTreeSet;
use std::io::Read;

use ob_build::{BuildError, PackageStatus, build};
use ob_testkit::sdist::sha256_file;
use support::*;

/// A three-level graph (a self-bootstrapping backend, a package built with it, one whose build
/// runs code from that package), compiled C code, and a probe of the build environment; then a
/// second build of everything to compare, and an install of the result under network none.
#[tokio::test]
async fn builds_the_fixture_graph_from_our_own_wheels_only() {
    const ENVPROBE: Fixture = fixture("envprobe", &["minibackend", "greet"]);
    let project = Project::new(&[MINIBACKEND, GREET, CSPEED, LAYERED, ENVPROBE]);
    // Wheels planted where a careless tool would pick them up: beside the sdists, and in the
    // output directory before any build (no report vouches for it). Neither may be used.
    let planted = b"PK planted, not built by us";
    fs_err::write(
        project.wheelhouse.join("greet-1.0-py3-none-any.whl"),
        planted,
    )
    .unwrap();
    fs_err::create_dir_all(&project.out).unwrap();
    fs_err::write(
        project.out.join("minibackend-1.0-py3-none-any.whl"),
        planted,
    )
    .unwrap();
    let mut options = project.options();
    options.check_reproducible = true;
    options.verify_install = true;

    let report = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();

    for package in &report.packages {
        assert_eq!(package.status, PackageStatus::Built, "{package:#?}");
        let wheel = project.out.join(package.wheel.as_ref().unwrap());
        assert_eq!(
            &sha256_file(&wheel).unwrap(),
            package.wheel_sha256.as_ref().unwrap()
        );
        assert_eq!(package.image_digest, project.lock.tool.image_digest);
        assert!(project.out.join(package.log.as_ref().unwrap()).is_file());
        let reproducible = package.reproducible.as_ref().unwrap();
        assert!(
            reproducible.identical,
            "{} differs: {:?}",
            package.name, reproducible.differences
        );
    }
    let planted_sha256 =
        sha256_file(&project.wheelhouse.join("greet-1.0-py3-none-any.whl")).unwrap();
    for package in &report.packages {
        for used in &package.build_requires {
            assert_ne!(
                used.sha256, planted_sha256,
                "{} used a planted wheel",
                package.name
            );
        }
    }
    // The build environment holds exactly the pinned build requirements, from this run.
    let layered = entry(&report, "layered");
    let used: Vec<(&str, &str)> = layered
        .build_requires
        .iter()
        .map(|used| (used.name.as_str(), used.sha256.as_str()))
        .collect();
    let greet = entry(&report, "greet");
    let minibackend = entry(&report, "minibackend");
    assert_eq!(
        used,
        vec![
            ("greet", greet.wheel_sha256.as_deref().unwrap()),
            ("minibackend", minibackend.wheel_sha256.as_deref().unwrap()),
        ]
    );
    let generated = read_member(&project, "layered", "layered/generated.py");
    assert_eq!(generated, "GENERATED = 'hello, layered'\n");

    // What the envprobe build saw: only our two wheels (no pip, no setuptools, nothing of the
    // system's site-packages), the fixed settings, no host environment, a non-root user.
    let probe: serde_json::Value =
        serde_json::from_str(&read_member(&project, "envprobe", "envprobe/buildenv.json")).unwrap();
    let distributions: BTreeSet<String> = probe["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}=={} at {}",
                d[0].as_str().unwrap(),
                d[1].as_str().unwrap(),
                d[2].as_str().unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        "greet==1.0 at /tmp/venv/lib/python3.13/site-packages",
        "minibackend==1.0 at /tmp/venv/lib/python3.13/site-packages",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(distributions, expected);
    for path in probe["sys_path"].as_array().unwrap() {
        let path = path.as_str().unwrap();
        assert!(
            path.starts_with("/usr/lib/python3.13")
                || path == "/usr/lib/python313.zip"
                || path.starts_with("/tmp/venv/")
                || path == "/tmp/src/envprobe-1.0/_build",
            "unexpected sys.path entry {path}"
        );
    }
    assert_eq!(probe["source_date_epoch"], "1577836800");
    assert_eq!(probe["pythonhashseed"], "0");
    assert_eq!(probe["uid"], 65534);
    assert!(probe["home"].is_null());
    let environ: Vec<&str> = probe["environ"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Exactly what the driver sets: nothing of the host (which sets PIP_FIND_LINKS, PIP_CERT,
    // SSL_CERT_FILE and more for its own pip), no HOME.
    assert_eq!(
        environ,
        [
            "CARGO_HOME",
            "CARGO_INCREMENTAL",
            "CARGO_NET_OFFLINE",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "CARGO_TERM_PROGRESS_WHEN",
            "CFLAGS",
            "CXXFLAGS",
            "LANG",
            "LC_ALL",
            "PATH",
            "PIP_DISABLE_PIP_VERSION_CHECK",
            "PIP_NO_INDEX",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONHASHSEED",
            "PYTHONNOUSERSITE",
            "PYTHONUNBUFFERED",
            "RUSTFLAGS",
            "SOURCE_DATE_EPOCH",
            "TMPDIR",
            "VIRTUAL_ENV",
        ]
    );
    assert!(
        probe["cflags"]
            .as_str()
            .unwrap()
            .contains("-ffile-prefix-map=/tmp/src/envprobe-1.0=/usr/src/envprobe-1.0")
    );

    // Compiled code records the fixed /usr/src path, never the temporary one.
    // (A CPython extension module, compiled against the image's Python.h.)
    assert_eq!(
        entry(&report, "cspeed").wheel.as_deref(),
        Some("cspeed-1.0-cp313-cp313-linux_x86_64.whl")
    );
    let library = read_member_bytes(
        &project,
        "cspeed",
        "cspeed/_speed.cpython-313-x86_64-linux-gnu.so",
    );
    assert!(contains(&library, b"/usr/src/cspeed-1.0/src/speed.c"));
    assert!(!contains(&library, b"/tmp/src"));

    // And the runtime set installs offline and imports.
    let check = report.verify_install.as_ref().unwrap();
    assert!(
        check.ok,
        "{}",
        fs_err::read_to_string(project.out.join(&check.log)).unwrap()
    );
    assert_eq!(
        check.modules,
        vec!["cspeed", "envprobe", "greet", "layered"]
    );
    assert!(
        !check
            .requirements
            .iter()
            .any(|r| r.starts_with("minibackend"))
    );
    let report_file = fs_err::read_to_string(project.out.join("build-report.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<ob_build::BuildReport>(&report_file).unwrap(),
        report
    );
}

/// A wheel that differs on a second build is reported with the entries that differ, and the
/// build does not count as a success.
#[tokio::test]
async fn a_wheel_that_differs_on_a_second_build_is_reported() {
    const JITTER: Fixture = fixture("jitter", &["minibackend"]);
    let project = Project::new(&[MINIBACKEND, JITTER]);
    let mut options = project.options();
    options.check_reproducible = true;
    let report = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    let jitter = entry(&report, "jitter").reproducible.as_ref().unwrap();
    assert!(!jitter.identical);
    assert_eq!(
        jitter.differences,
        vec![
            "changed jitter-1.0.dist-info/RECORD".to_owned(),
            "changed jitter/stamp.txt".to_owned()
        ]
    );
    assert!(project.out.join(&jitter.log).is_file());
    assert!(
        entry(&report, "minibackend")
            .reproducible
            .as_ref()
            .unwrap()
            .identical
    );
    assert!(!report.succeeded());
}

/// Unchanged inputs are not rebuilt; a changed sdist rebuilds that package and its dependants.
#[tokio::test]
async fn rebuilds_only_what_changed() {
    let mut project = Project::new(&[MINIBACKEND, GREET, CSPEED, LAYERED]);
    let options = project.options();
    let first = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert!(
        first
            .packages
            .iter()
            .all(|p| p.status == PackageStatus::Built)
    );

    let again = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    for package in &again.packages {
        assert_eq!(package.status, PackageStatus::UpToDate, "{}", package.name);
        assert_eq!(
            package.wheel_sha256,
            entry(&first, &package.name).wheel_sha256
        );
    }

    // Change greet's source: greet and layered (whose build uses greet) rebuild, nothing else.
    let edited = copy_fixture("greet", project.dir.path());
    fs_err::write(
        edited.join("greet/__init__.py"),
        "\"\"\"Test fixture, edited.\"\"\"\n\n\ndef hello(name):\n    return f\"hi, {name}\"\n",
    )
    .unwrap();
    fs_err::remove_file(project.wheelhouse.join("greet-1.0.tar.gz")).unwrap();
    project.add(&GREET, Some(&edited));
    let third = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    let status = |name| entry(&third, name).status;
    assert_eq!(status("greet"), PackageStatus::Built);
    assert_eq!(status("layered"), PackageStatus::Built);
    assert_eq!(status("minibackend"), PackageStatus::UpToDate);
    assert_eq!(status("cspeed"), PackageStatus::UpToDate);
    assert_eq!(
        read_member(&project, "layered", "layered/generated.py"),
        "GENERATED = 'hi, layered'\n"
    );

    // A wheel changed behind our back in the output directory is rebuilt, not trusted.
    let cspeed_wheel = project
        .out
        .join(entry(&third, "cspeed").wheel.as_ref().unwrap());
    let mut bytes = fs_err::read(&cspeed_wheel).unwrap();
    bytes.push(0);
    fs_err::write(&cspeed_wheel, bytes).unwrap();
    let fourth = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert_eq!(entry(&fourth, "cspeed").status, PackageStatus::Built);
    assert_eq!(
        entry(&fourth, "cspeed").wheel_sha256,
        entry(&third, "cspeed").wheel_sha256
    );
}

/// A build that downloads something fails, and says it needs the network. The listener it
/// aims at is ours, on the host at the gateway of a network the test creates: reachable from a
/// container on that network (the positive control), never from a build.
#[tokio::test]
async fn a_build_that_needs_the_network_fails_and_says_so() {
    const NETPROBE: Fixture = fixture("netprobe", &["minibackend"]);
    let sandbox = ob_sandbox::Sandbox::connect().await.unwrap();
    let network = sandbox
        .create_internal_network(&format!("ob-build-test-{}", std::process::id()))
        .await
        .unwrap();
    let gateway = network.gateway().to_string();
    let listener = std::net::TcpListener::bind((network.gateway(), 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("{gateway}:{port}");

    // Positive control: the address is reachable from a container on that network.
    let mut spec = ob_sandbox::RunSpec::new(
        ob_testkit::image::builder_image(),
        vec![
            "python3".into(),
            "-c".into(),
            format!(
                "import socket; socket.create_connection(('{gateway}', {port}), timeout=10).close()"
            ),
        ],
        "test:network-control",
    );
    spec.network = ob_sandbox::Network::Named(network.name().to_owned());
    let control = sandbox.run(&spec, |_| {}).await.unwrap();
    network.remove().await.unwrap();
    assert!(
        control.success(),
        "the control could not reach the test's listener"
    );
    assert!(
        listener.accept().is_ok(),
        "the control connection did not arrive"
    );

    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_fixture("netprobe", scratch.path());
    fs_err::write(tree.join("target.txt"), &target).unwrap();
    let project = Project::with_sources(&[MINIBACKEND, NETPROBE], &[("netprobe", &tree)]);
    let report = build(&project.lock, &project.options(), &Recorder::default())
        .await
        .unwrap();

    let netprobe = entry(&report, "netprobe");
    assert_eq!(netprobe.status, PackageStatus::Failed);
    let error = netprobe.error.as_deref().unwrap();
    assert!(
        error.contains("`netprobe` 1.0 needs the network to build"),
        "{error}"
    );
    assert!(error.contains(&gateway), "{error}");
    assert!(listener.accept().is_err(), "the build reached the host");
    assert_eq!(entry(&report, "minibackend").status, PackageStatus::Built);
}

/// A hostile build tries to change its sdist and the wheels of its build environment, to write
/// outside its output directory, and leaves a forged `greet` wheel and litter in its output:
/// every write is denied, the forgery and the litter are dropped, the built set is unchanged.
#[tokio::test]
async fn a_hostile_build_cannot_touch_inputs_or_the_built_set() {
    const VANDAL: Fixture = fixture("vandal", &["minibackend", "greet"]);
    let mut project = Project::new(&[MINIBACKEND, GREET, CSPEED]);
    let options = project.options();
    let first = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    let wheels_before: Vec<(String, String)> = first
        .packages
        .iter()
        .map(|p| {
            (
                p.wheel.clone().unwrap(),
                sha256_file(&project.out.join(p.wheel.as_ref().unwrap())).unwrap(),
            )
        })
        .collect();

    project.add(&VANDAL, None);
    let recorder = Recorder::default();
    let report = build(&project.lock, &options, &recorder).await.unwrap();
    let vandal = entry(&report, "vandal");
    assert_eq!(vandal.status, PackageStatus::Built, "{vandal:#?}");
    let log = project.log(vandal);
    assert!(!log.contains("vandal: WROTE"), "{log}");
    let denied = log
        .lines()
        .filter(|line| line.starts_with("vandal: denied"))
        .count();
    // Two wheels and the sdist, a new file in each input directory, and three paths outside.
    assert!(denied >= 8, "{log}");
    for (wheel, sha256) in &wheels_before {
        assert_eq!(
            &sha256_file(&project.out.join(wheel)).unwrap(),
            sha256,
            "{wheel} changed"
        );
    }
    for package in &project.lock.packages {
        assert_eq!(
            sha256_file(&project.wheelhouse.join(&package.sdist.filename)).unwrap(),
            package.sdist.sha256
        );
    }
    let dropped: BTreeSet<String> = vandal.dropped.iter().map(|d| d.file.clone()).collect();
    assert_eq!(
        dropped,
        BTreeSet::from([
            "greet-1.0-py3-none-any.whl".to_owned(),
            "notes.txt".to_owned()
        ])
    );
    assert_eq!(recorder.dropped.lock().unwrap().len(), 2);
    // It left its wheel 0o6777; the copy in dist/ is ours, with no set-id, execute or
    // group/other write bit.
    let wheel = project.out.join(vandal.wheel.as_ref().unwrap());
    let metadata = fs_err::metadata(&wheel).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(metadata.mode() & 0o7133, 0, "{:o}", metadata.mode());
    assert_eq!(
        metadata.uid(),
        fs_err::metadata(&project.out).unwrap().uid()
    );
    for dir in [&project.out, &project.wheelhouse] {
        for file in fs_err::read_dir(dir).unwrap() {
            let name = file.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains("vandal-was-here") && name != "notes.txt",
                "{name} in {}",
                dir.display()
            );
        }
    }
}

/// A failure in the middle of the graph: its dependant is skipped, the independent packages
/// still finish, and the failure comes with the end of its log.
#[tokio::test]
async fn a_failure_skips_its_dependants_and_nothing_else() {
    const BROKEN: Fixture = fixture("broken", &["minibackend"]);
    const NEEDSBROKEN: Fixture = fixture("needsbroken", &["minibackend", "broken"]);
    let project = Project::new(&[MINIBACKEND, GREET, CSPEED, BROKEN, NEEDSBROKEN]);
    let recorder = Recorder::default();
    let report = build(&project.lock, &project.options(), &recorder)
        .await
        .unwrap();

    let broken = entry(&report, "broken");
    assert_eq!(broken.status, PackageStatus::Failed);
    assert!(
        broken
            .error
            .as_deref()
            .unwrap()
            .contains("`broken` 1.0 failed to build")
    );
    let needsbroken = entry(&report, "needsbroken");
    assert_eq!(needsbroken.status, PackageStatus::Skipped);
    assert!(
        needsbroken
            .error
            .as_deref()
            .unwrap()
            .contains("`broken` 1.0")
    );
    for name in ["minibackend", "greet", "cspeed"] {
        assert_eq!(entry(&report, name).status, PackageStatus::Built, "{name}");
    }
    let tail = recorder.tail_of("broken");
    assert_eq!(tail.len(), ob_build::LOG_TAIL_LINES);
    assert!(
        tail.iter()
            .any(|line| line.contains("RuntimeError: broken: this fixture fails on purpose")),
        "{tail:#?}"
    );
    // The fixture's steps alternate between stdout and stderr; the log keeps the order they
    // were written in, and the traceback comes after all of them. (CI once showed a tail of
    // steps only: stdout and stderr reached the log through two pipes, out of order.)
    let log = project.log(broken);
    let steps: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with("broken: step "))
        .collect();
    let expected: Vec<String> = (1..=30)
        .map(|n| format!("broken: step {n} of 30"))
        .collect();
    assert_eq!(steps, expected, "{log}");
    let last_step = log.find("broken: step 30 of 30").unwrap();
    let traceback = log.find("Traceback (most recent call last)").expect(&log);
    assert!(last_step < traceback, "{log}");
    assert!(!report.succeeded());
    let wheels: Vec<String> = fs_err::read_dir(&project.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".whl"))
        .collect();
    assert_eq!(wheels.len(), 3, "{wheels:?}");
}

/// A build that never ends is stopped by the per-package timeout, and says so.
#[tokio::test]
async fn a_runaway_build_is_stopped_by_the_timeout() {
    const SLOWPOKE: Fixture = fixture("slowpoke", &["minibackend"]);
    let project = Project::new(&[MINIBACKEND, SLOWPOKE]);
    let mut options = project.options();
    // The limit holds for minibackend's build too, so it leaves a loaded machine room for
    // that; slowpoke sleeps for an hour anyway.
    let limit = 20;
    options.timeout = std::time::Duration::from_secs(limit);
    let report = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert_eq!(entry(&report, "minibackend").status, PackageStatus::Built);
    let slowpoke = entry(&report, "slowpoke");
    assert_eq!(slowpoke.status, PackageStatus::TimedOut);
    assert!(
        slowpoke
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("did not finish within {limit} s"))
    );
    assert!(project.log(slowpoke).contains("slowpoke: sleeping"));
    assert_eq!(leftover_containers("build:slowpoke-1.0"), "");
}

/// A wrong or missing sdist stops everything before any container starts.
#[tokio::test]
async fn a_wrong_or_missing_sdist_stops_the_build_before_it_starts() {
    let project = Project::new(&[MINIBACKEND, GREET, CSPEED]);
    let mut bytes = fs_err::read(project.wheelhouse.join("greet-1.0.tar.gz")).unwrap();
    bytes[100] ^= 1;
    fs_err::write(project.wheelhouse.join("greet-1.0.tar.gz"), bytes).unwrap();
    fs_err::remove_file(project.wheelhouse.join("cspeed-1.0.tar.gz")).unwrap();

    let err = build(&project.lock, &project.options(), &Recorder::default())
        .await
        .unwrap_err();
    let BuildError::Wheelhouse { missing, wrong, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(missing, &vec!["cspeed-1.0.tar.gz".to_owned()]);
    assert_eq!(wrong.len(), 1);
    assert!(
        wrong[0].starts_with("greet-1.0.tar.gz: sha256 "),
        "{wrong:?}"
    );
    assert!(err.is_rejection());
    assert!(err.hint().unwrap().contains("offline-build fetch"));
    assert!(!project.out.exists(), "something was built");
}

/// Replaces a finished package's wheel in the output directory the moment it is reported
/// done: the other bytes something else could put there before a dependant mounts it.
struct SwapsWheel {
    out: std::path::PathBuf,
    package: &'static str,
    inner: Recorder,
}

impl ob_build::Reporter for SwapsWheel {
    fn on_package_done(&self, package: &ob_build::PackageReport, log_tail: &[String]) {
        if package.name == self.package
            && let Some(wheel) = &package.wheel
        {
            let target = self.out.join(wheel);
            let swapped = self.out.join(".swapped");
            fs_err::write(&swapped, b"not the wheel that was checked").unwrap();
            fs_err::rename(&swapped, &target).unwrap();
        }
        self.inner.on_package_done(package, log_tail);
    }
}

/// A build environment's wheel is hashed as it is mounted: one replaced in dist/ after it was
/// checked (by anything else that writes there) stops the build instead of being installed.
#[tokio::test]
async fn a_wheel_replaced_in_the_output_directory_is_not_installed() {
    let project = Project::new(&[MINIBACKEND, GREET]);
    let reporter = SwapsWheel {
        out: project.out.clone(),
        package: "minibackend",
        inner: Recorder::default(),
    };
    let err = build(&project.lock, &project.options(), &reporter)
        .await
        .unwrap_err();
    let BuildError::ChangedWheel {
        path,
        expected,
        found,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        path.ends_with("minibackend-1.0-py3-none-any.whl"),
        "{}",
        path.display()
    );
    assert_ne!(expected, found);
    assert!(err.hint().unwrap().contains("something else writes"));
    let greet = reporter
        .inner
        .done
        .lock()
        .unwrap()
        .iter()
        .any(|(report, _)| report.name == "greet" && report.status.has_wheel());
    assert!(!greet, "greet was built with a wheel nobody checked");
}

/// A wheelhouse whose manifest (written by fetch) disagrees with the lock is refused, even when
/// the files themselves match: it was fetched for another lock.
#[tokio::test]
async fn a_manifest_that_disagrees_with_the_lock_stops_the_build() {
    let project = Project::new(&[MINIBACKEND]);
    let package = &project.lock.packages[0];
    let manifest = serde_json::json!({
        "manifest-version": 1,
        "files": [{
            "name": "minibackend",
            "version": "0.9",
            "filename": package.sdist.filename,
            "sha256": package.sdist.sha256,
            "size": package.sdist.size,
        }],
    });
    fs_err::write(
        project.wheelhouse.join(ob_fetch::MANIFEST_FILE),
        manifest.to_string(),
    )
    .unwrap();
    let err = build(&project.lock, &project.options(), &Recorder::default())
        .await
        .unwrap_err();
    let BuildError::Wheelhouse { wrong, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        wrong[0].contains("the wheelhouse manifest records minibackend 0.9"),
        "{wrong:?}"
    );
}

/// An image other than the one the lock pins is refused.
#[tokio::test]
async fn an_image_other_than_the_locked_one_is_refused() {
    let mut project = Project::new(&[MINIBACKEND]);
    project.lock.tool.image_digest = format!("sha256:{}", "0".repeat(64));
    let err = build(&project.lock, &project.options(), &Recorder::default())
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::ImageMismatch { .. }), "{err:?}");
    assert!(err.is_rejection());
}

fn read_member_bytes(project: &Project, package: &str, member: &str) -> Vec<u8> {
    let report = ob_build::BuildReport::read(&project.out).unwrap();
    let wheel = project
        .out
        .join(entry(&report, package).wheel.as_ref().unwrap());
    let mut archive = zip::ZipArchive::new(fs_err::File::open(wheel).unwrap()).unwrap();
    let mut content = Vec::new();
    archive
        .by_name(member)
        .unwrap()
        .read_to_end(&mut content)
        .unwrap();
    content
}

fn read_member(project: &Project, package: &str, member: &str) -> String {
    String::from_utf8(read_member_bytes(project, package, member)).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// IDs of containers still labelled as the run `label`.
fn leftover_containers(label: &str) -> String {
    let output = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=org.offline-build.run={label}"),
        ])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Interrupting a build (dropping it, as Ctrl-C does) removes its container, and what was
/// finished before is found up to date by the next run: the report is written after every
/// package, not only at the end.
#[tokio::test]
async fn an_interrupted_build_leaves_no_container_and_keeps_finished_wheels() {
    // A copy of slowpoke under its own name, so that the timeout test's container (same
    // fixture, run in parallel) cannot be mistaken for this one. Pinning greet in its build
    // environment makes it start only after greet is built.
    const HANGS: Fixture = fixture("hangs", &["minibackend", "greet"]);
    struct StartsOf(&'static str, std::sync::Arc<tokio::sync::Notify>);
    impl ob_build::Reporter for StartsOf {
        fn on_package_start(&self, name: &str, _version: &str) {
            if name == self.0 {
                self.1.notify_one();
            }
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let tree = copy_fixture("slowpoke", scratch.path());
    let pyproject = fs_err::read_to_string(tree.join("pyproject.toml")).unwrap();
    fs_err::write(
        tree.join("pyproject.toml"),
        pyproject.replace("name = \"slowpoke\"", "name = \"hangs\""),
    )
    .unwrap();
    let mut project = Project::with_sources(&[MINIBACKEND, GREET, HANGS], &[("hangs", &tree)]);
    let options = project.options();
    let started = std::sync::Arc::new(tokio::sync::Notify::new());
    let reporter = StartsOf("hangs", started.clone());
    {
        let building = build(&project.lock, &options, &reporter);
        tokio::pin!(building);
        tokio::select! {
            result = &mut building => panic!("hangs finished: {result:?}"),
            () = started.notified() => {}
        }
        // Keep the build going until its container exists (the positive control), then drop
        // the build as Ctrl-C does.
        let mut seen = false;
        for _ in 0..120 {
            if tokio::time::timeout(std::time::Duration::from_millis(500), &mut building)
                .await
                .is_ok()
            {
                panic!("the build ended while `hangs` hangs");
            }
            if !leftover_containers("build:hangs-1.0").is_empty() {
                seen = true;
                break;
            }
        }
        assert!(seen, "the container of `hangs` never appeared");
    } // The build future is dropped here.
    ob_sandbox::settle_cleanups().await;
    assert_eq!(leftover_containers("build:hangs-1.0"), "");

    project
        .lock
        .packages
        .retain(|package| package.name != "hangs");
    let again = build(&project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert_eq!(entry(&again, "minibackend").status, PackageStatus::UpToDate);
    assert_eq!(entry(&again, "greet").status, PackageStatus::UpToDate);
}

/// The wheel cache: another project with the same pins compiles nothing; an entry whose wheel
/// was changed is built again with a warning that names it; an edited sdist misses while what
/// it does not touch still hits; and with no cache everything is built.
#[tokio::test]
async fn the_wheel_cache_serves_equal_inputs_checks_every_use_and_can_be_bypassed() {
    let cache = tempfile::tempdir().unwrap();
    let with_cache = |project: &Project| {
        let mut options = project.options();
        options.verify_install = false;
        options.cache = Some(cache.path().to_path_buf());
        options
    };
    let first_project = Project::new(&[MINIBACKEND, GREET]);
    let first = build(
        &first_project.lock,
        &with_cache(&first_project),
        &Recorder::default(),
    )
    .await
    .unwrap();
    for package in &first.packages {
        assert_eq!(package.status, PackageStatus::Built, "{}", package.name);
        let entry = cache.path().join(&package.inputs_digest);
        assert!(entry.join("entry.json").is_file(), "{}", entry.display());
    }

    // A second project, its own output directory, the same pins: every wheel from the cache.
    let second_project = Project::new(&[MINIBACKEND, GREET]);
    let second = build(
        &second_project.lock,
        &with_cache(&second_project),
        &Recorder::default(),
    )
    .await
    .unwrap();
    for package in &second.packages {
        let before = entry(&first, &package.name);
        assert_eq!(package.status, PackageStatus::Cached, "{}", package.name);
        assert_eq!(package.inputs_digest, before.inputs_digest);
        assert_eq!(package.wheel_sha256, before.wheel_sha256);
        let wheel = second_project.out.join(package.wheel.as_ref().unwrap());
        assert_eq!(
            sha256_file(&wheel).unwrap(),
            *package.wheel_sha256.as_ref().unwrap()
        );
    }

    // greet's cached wheel, changed behind our back: built again, with a warning naming it.
    let greet = entry(&first, "greet");
    let cached = cache
        .path()
        .join(&greet.inputs_digest)
        .join(greet.wheel.as_ref().unwrap());
    let mut bytes = fs_err::read(&cached).unwrap();
    bytes.extend_from_slice(b"tampered");
    fs_err::remove_file(&cached).unwrap();
    fs_err::write(&cached, bytes).unwrap();
    let third_project = Project::new(&[MINIBACKEND, GREET]);
    let recorder = Recorder::default();
    let third = build(&third_project.lock, &with_cache(&third_project), &recorder)
        .await
        .unwrap();
    assert_eq!(entry(&third, "greet").status, PackageStatus::Built);
    assert_eq!(entry(&third, "greet").wheel_sha256, greet.wheel_sha256);
    assert_eq!(entry(&third, "minibackend").status, PackageStatus::Cached);
    let warnings = recorder.warnings.lock().unwrap().clone();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&greet.inputs_digest) && w.contains("failed its check")),
        "{warnings:?}"
    );

    // An edited greet is other inputs: a miss; minibackend, untouched, still hits.
    let mut edited_project = Project::new(&[MINIBACKEND, GREET]);
    let edited = copy_fixture("greet", edited_project.dir.path());
    fs_err::write(edited.join("greet/extra.py"), "EXTRA = 1\n").unwrap();
    fs_err::remove_file(edited_project.wheelhouse.join("greet-1.0.tar.gz")).unwrap();
    edited_project.add(&GREET, Some(&edited));
    let fourth = build(
        &edited_project.lock,
        &with_cache(&edited_project),
        &Recorder::default(),
    )
    .await
    .unwrap();
    assert_eq!(entry(&fourth, "greet").status, PackageStatus::Built);
    assert_ne!(entry(&fourth, "greet").inputs_digest, greet.inputs_digest);
    assert_eq!(entry(&fourth, "minibackend").status, PackageStatus::Cached);

    // No cache: everything compiles.
    let uncached_project = Project::new(&[MINIBACKEND, GREET]);
    let mut options = uncached_project.options();
    options.verify_install = false;
    let fifth = build(&uncached_project.lock, &options, &Recorder::default())
        .await
        .unwrap();
    assert!(
        fifth
            .packages
            .iter()
            .all(|p| p.status == PackageStatus::Built)
    );
}

/// Adds `binhelper` 1.0 to `project` as a release taken as its upstream wheel (`files` in it),
/// and makes greet's build environment need it.
fn add_prebuilt(project: &mut Project, files: &[(&str, &[u8])]) {
    let (filename, bytes) = ob_testkit::wheel::pure_wheel("binhelper", "1.0", files, &[]);
    fs_err::write(project.wheelhouse.join(&filename), &bytes).unwrap();
    project.lock.packages.push(ob_lock::Package {
        name: "binhelper".into(),
        version: "1.0".into(),
        build_only: true,
        wheel: Some(ob_lock::Wheel {
            filename: filename.clone(),
            url: format!("http://127.0.0.1:1/files/{filename}"),
            upload_time: None,
            size: bytes.len() as u64,
            sha256: ob_testkit::crates::sha256_hex(&bytes),
        }),
        ..ob_lock::Package::default()
    });
    let greet = project
        .lock
        .packages
        .iter_mut()
        .find(|p| p.name == "greet")
        .unwrap();
    greet.build_requires.push(ob_lock::Pin {
        name: "binhelper".into(),
        version: "1.0".into(),
    });
    project.lock.tool.allow_binary = vec![ob_lock::Pin {
        name: "binhelper".into(),
        version: "1.0".into(),
    }];
    project.lock.packages.sort_by(|a, b| a.name.cmp(&b.name));
    project.lock.tool.build_order = project.lock.canonical_build_order().unwrap();
    project.lock.validate().unwrap();
}

/// A prebuilt wheel joins dist/ (mode 0644, status prebuilt) and greet's build environment;
/// one that the install policy refuses (a top-level `.pth`) fails, and greet, which needs it,
/// is skipped saying so. Neither leaves a copy behind.
#[tokio::test]
async fn a_prebuilt_wheel_is_checked_like_a_built_one_before_it_is_used() {
    let mut project = Project::new(&[MINIBACKEND, GREET]);
    add_prebuilt(&mut project, &[("binhelper/__init__.py", b"VALUE = 1\n")]);
    let report = build(&project.lock, &project.options(), &Recorder::default())
        .await
        .unwrap();
    let helper = entry(&report, "binhelper");
    assert_eq!(helper.status, PackageStatus::Prebuilt, "{helper:#?}");
    assert!(helper.sdist_sha256.is_empty());
    let greet = entry(&report, "greet");
    assert!(greet.status.has_wheel(), "{greet:#?}");
    assert!(
        greet.build_requires.iter().any(|w| w.name == "binhelper"),
        "{greet:#?}"
    );
    let placed = project.out.join("binhelper-1.0-py3-none-any.whl");
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(fs_err::metadata(&placed).unwrap().mode() & 0o7777, 0o644);

    let mut refused = Project::new(&[MINIBACKEND, GREET]);
    add_prebuilt(
        &mut refused,
        &[
            ("binhelper/__init__.py", b"VALUE = 1\n"),
            ("binhelper-startup.pth", b"import os\n"),
        ],
    );
    let report = build(&refused.lock, &refused.options(), &Recorder::default())
        .await
        .unwrap();
    let helper = entry(&report, "binhelper");
    assert_eq!(helper.status, PackageStatus::Failed, "{helper:#?}");
    let error = helper.error.as_deref().unwrap();
    assert!(
        error.contains("was refused") && error.contains(".pth"),
        "{error}"
    );
    let greet = entry(&report, "greet");
    assert_eq!(greet.status, PackageStatus::Skipped, "{greet:#?}");
    assert!(
        greet.error.as_deref().unwrap().contains("`binhelper` 1.0"),
        "{greet:#?}"
    );
    let left: Vec<String> = fs_err::read_dir(&refused.out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("binhelper") || name.starts_with(".prebuilt"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
