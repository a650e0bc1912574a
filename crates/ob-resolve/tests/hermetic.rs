//! Resolve against a package index that the test serves on loopback from hand-made sdists
//! (fixtures/resolve/index plus the build fixtures' minibackend and greet), in real containers
//! on the real Docker daemon. Needs the builder image (made on first use).

use std::path::Path;
use std::time::Duration;

use ob_index::{IndexSource, IndexUrl};
use ob_resolve::{NoReporter, RequirementSources, ResolveError, ResolveOptions, resolve};
use ob_testkit::index::{IndexEntry, Misbehaviour, TestIndex, pack_resolve_fixtures};

/// Every fixture sdist, plus a wheel-only `nosdist` 1.0.
fn fixture_index(dir: &Path) -> TestIndex {
    fixture_index_with(dir, Misbehaviour::default())
}

fn fixture_index_with(dir: &Path, misbehaviour: Misbehaviour) -> TestIndex {
    let mut entries = pack_resolve_fixtures("index", dir);
    for name in ["minibackend", "greet", "slowpoke"] {
        let packed = ob_testkit::sdist::pack_fixture(name, dir).unwrap();
        entries.push(IndexEntry::from_file(&packed.name, &packed.path));
    }
    entries.push(IndexEntry {
        project: "nosdist".into(),
        filename: "nosdist-1.0-py3-none-any.whl".into(),
        bytes: b"not a real wheel: the proxy never serves wheels".to_vec(),
        upload_time: Some(ob_testkit::index::DEFAULT_UPLOAD_TIME.into()),
        requires_python: None,
    });
    TestIndex::serve_with(entries, misbehaviour)
}

fn options(index: &TestIndex, specs: &[&str], verify: bool) -> ResolveOptions {
    ResolveOptions {
        requirements: RequirementSources {
            specs: specs.iter().map(|spec| spec.to_string()).collect(),
            ..RequirementSources::default()
        }
        .read()
        .unwrap(),
        image: Some(ob_testkit::image::builder_image()),
        index: IndexUrl::parse(&index.url(), IndexSource::CommandLine).unwrap(),
        exclude_newer: Some(ob_resolve::parse_exclude_newer("2025-01-01").unwrap()),
        jobs: 2,
        verify_build: verify,
        cache_dir: None,
        build_timeout: Duration::from_secs(300),
        timeout: Duration::from_secs(900),
    }
}

#[tokio::test]
async fn resolves_runtime_and_build_closure_without_verification() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(&options(&index, &["app"], false), &NoReporter)
        .await
        .unwrap();
    let text = outcome.lock.to_toml_string();
    eprintln!("{text}");
    let runtime: Vec<&str> = outcome
        .lock
        .packages
        .iter()
        .filter(|p| !p.build_only)
        .map(|p| p.name.as_str())
        .collect();
    // greet is a runtime dependency only through legacy, whose PKG-INFO leaves Requires-Dist
    // dynamic: pip resolved without it until legacy's metadata hook said otherwise.
    assert_eq!(runtime, ["app", "dynreq", "greet", "legacy"]);
    assert_eq!(
        outcome.lock.package("legacy").unwrap().dependencies,
        ["greet"]
    );
    let build_only: Vec<&str> = outcome
        .lock
        .packages
        .iter()
        .filter(|p| p.build_only)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(build_only, ["minibackend", "setuptools"]);
    let pins = |name: &str| -> Vec<String> {
        outcome
            .lock
            .package(name)
            .unwrap()
            .build_requires
            .iter()
            .map(|pin| format!("{}=={}", pin.name, pin.version))
            .collect()
    };
    assert_eq!(pins("dynreq"), ["greet==1.0", "minibackend==1.0"]);
    assert_eq!(pins("legacy"), ["minibackend==1.0", "setuptools==99.0"]);
    assert!(pins("minibackend").is_empty());
    assert_eq!(
        outcome.lock.tool.build_order,
        [
            "minibackend",
            "app",
            "greet",
            "setuptools",
            "dynreq",
            "legacy"
        ]
    );
    assert!(!outcome.lock.tool.build_verified);
    // pip's resolver took every sdist's metadata from the loopback index, and built nothing.
    assert!(
        outcome.pip_prepared.is_empty(),
        "{:?}",
        outcome.pip_prepared
    );
}

#[tokio::test]
async fn a_hook_that_tries_the_network_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["netreq"], false), &NoReporter)
        .await
        .unwrap_err();
    match &err {
        ResolveError::NeedsNetwork {
            package, host, via, ..
        } => {
            assert_eq!(package, "netreq");
            assert_eq!(&**via, "", "asked for directly");
            assert_eq!(host.as_deref(), Some("downloads.invalid"));
        }
        other => panic!("expected NeedsNetwork, got {other}"),
    }
    assert!(err.is_user_error());
}

/// The audit hook refuses the network to Python code only. A build that finds the index's
/// address in /proc and asks it for a page with bash's /dev/tcp would pass resolve and fail
/// only in `build`; the seccomp filter of resolve's builds denies it the socket itself.
#[tokio::test]
async fn a_program_a_build_starts_cannot_open_a_network_socket() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["sneaky"], false), &NoReporter)
        .await
        .unwrap_err();
    match &err {
        ResolveError::BuildFailed { package, tail, .. } => {
            assert_eq!(package, "sneaky");
            assert!(tail.contains("sneaky: could not reach the index"), "{tail}");
            // It found an address and was refused the socket, not the connection.
            assert!(tail.contains("socket: Permission denied"), "{tail}");
            assert!(!tail.contains("reached the index"), "{tail}");
            // Nor can it read into the resolve driver, which runs outside the filter.
            assert!(
                tail.contains("could read the environment of 0 other process(es)"),
                "{tail}"
            );
        }
        other => panic!("expected BuildFailed, got {other}"),
    }
}

#[tokio::test]
async fn a_failure_the_user_did_not_ask_for_says_how_it_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["uses-netreq"], false), &NoReporter)
        .await
        .unwrap_err();
    match &err {
        ResolveError::NeedsNetwork { package, via, .. } => {
            assert_eq!(package, "netreq");
            assert_eq!(&**via, "uses-netreq needs netreq to build");
        }
        other => panic!("expected NeedsNetwork, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("\n(needed because uses-netreq needs netreq to build)\n"),
        "{message}"
    );
}

#[tokio::test]
async fn a_release_without_sdist_names_the_newest_that_has_one() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["nosdist==1.0"], false), &NoReporter)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("`nosdist`: no source distribution matches `nosdist==1.0` (the newest version with an sdist is 0.9)"), "{message}");
}

#[tokio::test]
async fn a_build_cycle_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["cycle-a"], false), &NoReporter)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("build-dependency cycle: cycle-a -> cycle-b -> cycle-a"),
        "{message}"
    );
}

#[tokio::test]
async fn verification_builds_every_package_in_order_with_the_build_stage_driver() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(&options(&index, &["app"], true), &NoReporter)
        .await
        .unwrap();
    assert!(outcome.lock.tool.build_verified);
    assert_eq!(outcome.runtime, 4);
    assert_eq!(outcome.build_only, 2);
}

/// Records every verification build, in order.
#[derive(Default)]
struct Builds(std::sync::Mutex<Vec<String>>);

impl ob_resolve::ResolveReporter for Builds {
    fn on_built(&self, package: &str, _done: usize, _total: usize) {
        self.0.lock().unwrap().push(package.to_string());
    }
}

#[tokio::test]
async fn a_pin_that_changes_rebuilds_what_was_built_with_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let builds = Builds::default();
    let outcome = resolve(
        &options(&index, &["uses-greet", "wants-old-greet"], true),
        &builds,
    )
    .await
    .unwrap();
    let built = builds.0.into_inner().unwrap();
    let times = |name: &str| built.iter().filter(|package| *package == name).count();
    // greet 2.0 was pinned, built and used for uses-greet; then wants-old-greet's hook asked for
    // greet<2: greet 1.0 is built and uses-greet built again with it.
    assert_eq!(times("greet"), 2, "{built:?}");
    assert_eq!(times("uses-greet"), 2, "{built:?}");
    // wants-old-greet was never built against the greet its hook refuses (its build asserts it).
    assert_eq!(times("wants-old-greet"), 1, "{built:?}");
    let lock = &outcome.lock;
    assert_eq!(lock.package("greet").unwrap().version, "1.0");
    for name in ["uses-greet", "wants-old-greet"] {
        let pins: Vec<String> = lock
            .package(name)
            .unwrap()
            .build_requires
            .iter()
            .map(|pin| format!("{}=={}", pin.name, pin.version))
            .collect();
        assert_eq!(pins, ["greet==1.0", "minibackend==1.0"], "{name}");
    }
    assert!(lock.tool.build_verified);
}

#[tokio::test]
async fn verification_catches_an_undeclared_build_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    // Without verification the gap goes unnoticed...
    let outcome = resolve(&options(&index, &["undeclared"], false), &NoReporter)
        .await
        .unwrap();
    assert!(!outcome.lock.tool.build_verified);
    // ...with it, the build fails and says why, with the log's tail and path.
    let err = resolve(&options(&index, &["undeclared"], true), &NoReporter)
        .await
        .unwrap_err();
    match &err {
        ResolveError::BuildFailed {
            package, tail, log, ..
        } => {
            assert_eq!(package, "undeclared");
            assert!(tail.contains("No module named 'greet'"), "{tail}");
            assert!(log.is_file(), "{}", log.display());
        }
        other => panic!("expected BuildFailed, got {other}"),
    }
    assert!(err.is_user_error());
}

#[tokio::test]
async fn a_runaway_build_is_stopped_by_the_timeout_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let mut options = options(&index, &["slowpoke"], true);
    // The limit holds for every step, minibackend's build included, so it must leave a loaded
    // machine room for a venv, an extraction and a build; slowpoke sleeps for an hour anyway.
    let limit = 30;
    options.build_timeout = Duration::from_secs(limit);
    let err = resolve(&options, &NoReporter).await.unwrap_err();
    match &err {
        ResolveError::BuildFailed {
            package,
            message,
            tail,
            ..
        } => {
            assert_eq!(package, "slowpoke");
            assert!(
                message.contains(&format!(
                    "its build took longer than {limit} s, and was stopped"
                )),
                "{message}"
            );
            assert!(tail.contains("slowpoke: sleeping"), "{tail}");
        }
        other => panic!("expected BuildFailed, got {other}"),
    }
}

#[tokio::test]
async fn an_index_serving_other_bytes_than_it_published_fails_the_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index_with(
        dir.path(),
        Misbehaviour {
            corrupt: vec!["greet-1.0.tar.gz".into()],
            ..Misbehaviour::default()
        },
    );
    let err = match resolve(&options(&index, &["greet==1.0"], false), &NoReporter).await {
        Ok(outcome) => panic!(
            "resolved although the index lied:\n{}\nindex requests: {:?}",
            outcome.lock.to_toml_string(),
            index.requests()
        ),
        Err(err) => err,
    };
    let message = err.to_string();
    assert!(matches!(err, ResolveError::Proxy { .. }), "{message}");
    assert!(
        message.contains("hash mismatch for `greet-1.0.tar.gz`"),
        "{message}"
    );
    assert!(err.is_user_error());
}

#[tokio::test]
async fn conflicting_requirements_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(
        &options(&index, &["pins-greet", "wants-newer"], false),
        &NoReporter,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ResolveError::Conflict { .. }), "{message}");
    assert!(
        message.contains("pins-greet 1.0 depends on greet==1.0"),
        "{message}"
    );
    assert!(
        message.contains("wants-newer 1.0 depends on greet>=2"),
        "{message}"
    );
    assert!(err.is_user_error());
}
