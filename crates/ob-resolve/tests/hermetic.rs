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
        wheel_cache: None,
        build_timeout: Duration::from_secs(300),
        timeout: Duration::from_secs(900),
        runs_dir: None,
        policy: Default::default(),
        runtime: None,
        config: Default::default(),
        keep_going: false,
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
        [ob_lock::Dependency {
            name: "greet".into(),
            version: Some("2.0".into())
        }]
    );
    let build_only: Vec<String> = outcome
        .lock
        .build_only_packages()
        .map(|p| p.pin().to_string())
        .collect();
    // dynreq's hook asks for greet==1.0: its build environment has its own greet, beside the
    // runtime greet 2.0 (legacy's `greet>=1`). One name, two versions, one lock.
    assert_eq!(
        build_only,
        ["greet==1.0", "minibackend==1.0", "setuptools==99.0"]
    );
    assert_eq!(outcome.lock.package("greet").unwrap().version, "2.0");
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
    // Each after its build environment, whichever version of a name that holds.
    let order: Vec<String> = outcome
        .lock
        .tool
        .build_order
        .iter()
        .map(ToString::to_string)
        .collect();
    let position = |pin: &str| order.iter().position(|entry| entry == pin).unwrap();
    assert!(
        position("greet==1.0") < position("dynreq==1.0"),
        "{order:?}"
    );
    assert!(
        position("setuptools==99.0") < position("legacy==1.0"),
        "{order:?}"
    );
    assert!(!outcome.lock.tool.build_verified);
    // Without verification, only what build environments hold was built: minibackend, greet
    // 1.0 (dynreq's), setuptools (legacy's). Nothing else compiled.
    assert_eq!(outcome.built, 3, "{text}");
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

/// A hook runs in a container of its own with no network at all: a program that is not
/// Python, looking in /proc for any address to reach, finds no other process (pip and the
/// session driver are in another container) and no way out.
#[tokio::test]
async fn a_program_a_hook_starts_finds_nothing_to_reach() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let err = resolve(&options(&index, &["sneaky"], false), &NoReporter)
        .await
        .unwrap_err();
    match &err {
        ResolveError::BuildFailed { package, tail, .. } => {
            assert_eq!(package, "sneaky");
            assert!(tail.contains("sneaky: could not reach the index"), "{tail}");
            assert!(!tail.contains("reached the index at"), "{tail}");
            assert!(
                tail.contains("could read the environment of 0 other process(es)"),
                "{tail}"
            );
        }
        other => panic!("expected BuildFailed, got {other}"),
    }
}

/// The package and message of the `BuildFailed` that a resolve of `spec` (not verified) ends in.
/// The package and message of a resolve refused before anything of the package ran.
async fn refusal(spec: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    match resolve(&options(&index, &[spec], false), &NoReporter).await {
        Err(ResolveError::Refused { package, message }) => (package, message),
        Err(other) => panic!("expected Refused, got {other}"),
        Ok(_) => panic!("expected Refused, the resolve of {spec} succeeded"),
    }
}

/// Regression (found by review): metadata requiring `greet @ file:///proc/self/cwd/...` made
/// pip prepare a file of the session's own container. The proxy refuses such metadata to pip
/// and resolve names the package.
#[tokio::test]
async fn a_direct_reference_in_metadata_never_reaches_pip() {
    let (package, message) = refusal("directref").await;
    assert_eq!(package, "directref");
    assert!(message.contains("is a direct reference"), "{message}");
    assert!(message.contains("file:///proc/self/cwd/"), "{message}");
}

/// Regression (found by review): a `===` build requirement carried arbitrary text (an archive)
/// into the session's requirements file. It is refused on the host, before the session.
#[tokio::test]
async fn an_arbitrary_equality_build_requirement_is_refused_on_the_host() {
    let (package, message) = refusal("polyglot").await;
    assert_eq!(package, "polyglot");
    assert!(
        message.contains("[build-system].requires holds `x===ustar"),
        "{message}"
    );
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
async fn verification_builds_every_package_once_with_the_build_stage_driver() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(&options(&index, &["app"], true), &NoReporter)
        .await
        .unwrap();
    assert!(outcome.lock.tool.build_verified);
    assert_eq!(outcome.runtime, 4);
    assert_eq!(outcome.build_only, 3);
    // Each (name, version) once: seven packages, seven wheels, none twice (dynreq's first step
    // in its static environment stops at the missing greet==1.0 and builds nothing).
    assert_eq!(outcome.built, 7);
    assert_eq!(outcome.from_cache, 0);
}

/// Two build environments want greet at different versions (uses-greet takes the newest,
/// wants-old-greet's hook asks for greet<2): each gets its own, both are locked, and nothing is
/// built against a version its hooks refuse (wants-old-greet's build asserts it).
#[tokio::test]
async fn build_environments_that_disagree_on_a_version_each_get_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(
        &options(&index, &["uses-greet", "wants-old-greet"], true),
        &NoReporter,
    )
    .await
    .unwrap();
    let lock = &outcome.lock;
    let versions: Vec<&str> = lock
        .packages_named("greet")
        .map(|p| p.version.as_str())
        .collect();
    assert_eq!(versions, ["1.0", "2.0"]);
    assert!(lock.packages_named("greet").all(|p| p.build_only));
    let pins = |name: &str| -> Vec<String> {
        lock.package(name)
            .unwrap()
            .build_requires
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(pins("uses-greet"), ["greet==2.0", "minibackend==1.0"]);
    assert_eq!(pins("wants-old-greet"), ["greet==1.0", "minibackend==1.0"]);
    assert!(lock.tool.build_verified);
}

/// Two packages built with one backend at two versions (flitlike<2 and flitlike>=2), each
/// backend checking at build time that it is the version the project pinned.
#[tokio::test]
async fn two_packages_build_with_two_versions_of_one_backend() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(
        &options(&index, &["old-flit-user", "new-flit-user"], true),
        &NoReporter,
    )
    .await
    .unwrap();
    let lock = &outcome.lock;
    let backend = |name: &str| -> String {
        lock.package(name)
            .unwrap()
            .build_requires
            .iter()
            .find(|pin| pin.name == "flitlike")
            .unwrap()
            .to_string()
    };
    assert_eq!(backend("old-flit-user"), "flitlike==1.0");
    assert_eq!(backend("new-flit-user"), "flitlike==2.0");
    // Both versions of the backend were built, each once, and both users against theirs.
    assert_eq!(outcome.built, 5, "minibackend, two flitlikes, two users");
    let text = lock.to_toml_string();
    assert_eq!(text.matches("name = \"flitlike\"").count(), 2, "{text}");
}

/// A runtime package pins greet 1.0; another package's build needs greet>=2. The runtime set
/// keeps 1.0 (what a plain install gets) and the build environment gets 2.0, build-only.
#[tokio::test]
async fn a_runtime_pin_does_not_bind_a_build_environment() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(
        &options(&index, &["pins-greet", "needs-new-greet"], false),
        &NoReporter,
    )
    .await
    .unwrap();
    let lock = &outcome.lock;
    let runtime_greet = lock.package("greet").unwrap();
    assert_eq!(
        (runtime_greet.version.as_str(), runtime_greet.build_only),
        ("1.0", false)
    );
    let build_greet = lock.package_at("greet", "2.0").unwrap();
    assert!(build_greet.build_only);
    assert!(
        lock.package("needs-new-greet")
            .unwrap()
            .build_requires
            .iter()
            .any(|pin| pin.to_string() == "greet==2.0")
    );
    // pins-greet depends on the runtime greet, by version now that greet has two.
    assert_eq!(
        lock.package("pins-greet").unwrap().dependencies,
        [ob_lock::Dependency {
            name: "greet".into(),
            version: Some("1.0".into())
        }]
    );
}

/// shaky's newest version depends on a package that publishes no sdist; a resolver that looked
/// only at the newest candidate would stop there. pip's resolver, under the sdist-only policy
/// of our proxy, backtracks to shaky 1.0 (maturin and python-sbom in real life).
#[tokio::test]
async fn a_build_requirement_whose_newest_version_cannot_be_built_backtracks() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let outcome = resolve(&options(&index, &["uses-shaky"], false), &NoReporter)
        .await
        .unwrap();
    let lock = &outcome.lock;
    assert_eq!(lock.package("shaky").unwrap().version, "1.0");
    assert!(lock.package("nosdist").is_none());
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
async fn the_lock_carries_the_requires_python_its_verified_build_said() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let told = resolve(&options(&index, &["pylie"], false), &NoReporter)
        .await
        .unwrap();
    let package = told.lock.package("pylie").unwrap();
    assert_eq!(package.requires_python.as_deref(), Some(">=3"));
    // Verified, the build's METADATA replaces what PKG-INFO claimed, in the lock too.
    let built = resolve(&options(&index, &["pylie"], true), &NoReporter)
        .await
        .unwrap();
    let package = built.lock.package("pylie").unwrap();
    assert_eq!(package.requires_python.as_deref(), Some(">=3.8"));
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

/// `keep_going`: a hook that needs the network and a build cycle are each recorded, once per
/// package; the package that needs netreq to build is blocked by it, and greet resolves.
#[tokio::test]
async fn keep_going_records_every_failure_and_what_it_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let mut options = options(&index, &["cycle-a", "uses-netreq", "greet"], false);
    options.keep_going = true;
    let err = resolve(&options, &NoReporter).await.unwrap_err();
    assert!(err.is_user_error());
    let message = err.to_string();
    let ResolveError::Several {
        failures,
        blocked,
        resolved,
    } = &err
    else {
        panic!("expected Several, got {message}");
    };
    let failed: Vec<(&str, &str)> = failures
        .iter()
        .map(|failure| (failure.package.as_str(), failure.phase.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("cycle-a", "cycle"),
            ("cycle-b", "cycle"),
            ("netreq", "hooks")
        ],
        "{message}"
    );
    assert!(
        matches!(failures[2].error, ResolveError::NeedsNetwork { .. }),
        "{message}"
    );
    assert_eq!(
        failures[2].needed_because(),
        "uses-netreq needs netreq to build"
    );
    assert!(failures[2].log.as_ref().is_some_and(|log| log.is_file()));
    assert!(
        message.contains(
            "`cycle-a` 1.0 (build cycle): build-dependency cycle: cycle-a -> cycle-b -> cycle-a\n"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "`netreq` 1.0 (hooks): its build tried to reach the network (host `downloads.invalid`)"
        ),
        "{message}"
    );
    let blocked: Vec<(&str, &[String])> = blocked
        .iter()
        .map(|package| (package.package.as_str(), package.because.as_slice()))
        .collect();
    assert_eq!(
        blocked,
        [("uses-netreq", &["netreq".to_string()][..])],
        "{message}"
    );
    assert!(
        resolved.iter().any(|pin| pin.to_string() == "greet==2.0"),
        "{message}"
    );
}
