//! Hostile packages against resolve's boundary (real containers, a local index served by the
//! test): a hook that leaves a process behind (double fork, `setsid`) which, for two minutes,
//! tries to reach every address of the host and to rewrite what a resolver would read next.
//! Resolve runs pip alone in a session container with no network, and every hook in a
//! container of its own with no network: the daemon dies with its container, reaches nothing,
//! and the lock is what a clean run gives.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ob_build::driver::Mode;
use ob_build::{Builder, BuilderOptions, SdistInput, StepRequest};
use ob_index::{IndexSource, IndexUrl};
use ob_resolve::{NoReporter, RequirementSources, ResolveOptions, resolve};
use ob_testkit::index::{IndexEntry, TestIndex};
use ob_testkit::listener::Listener;

/// The host's own address on the way to `destination` (a UDP "connect" sends nothing; it
/// only asks the routing table).
fn source_address(destination: IpAddr) -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((destination, 9)).ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback() && !address.is_unspecified()).then_some(address)
}

/// The address this host's default route leaves from, if it has one.
fn primary_address() -> Option<IpAddr> {
    source_address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
}

/// The docker0 bridge's address on the host: what containers on Docker's default network see
/// as their gateway. Docker 20.10 lists only the bridge's subnet, so ask the routing table
/// which of the host's addresses a container of that subnet is reached from.
async fn docker0_address() -> IpAddr {
    let sandbox = ob_sandbox::Sandbox::connect().await.unwrap();
    let bridge = sandbox
        .docker()
        .inspect_network(
            "bridge",
            None::<ob_sandbox::bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    let subnet = bridge
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|config| config.subnet)
        .find_map(|subnet| subnet.split('/').next()?.parse::<Ipv4Addr>().ok())
        .expect("Docker's bridge network has an IPv4 subnet");
    let container = Ipv4Addr::from(u32::from(subnet) + 2);
    source_address(IpAddr::V4(container)).expect("the host has an address on docker0")
}

/// The lingerer's tree with `targets` written in, packed into `dir`.
fn pack_lingerer(dir: &Path, targets: &[SocketAddr]) -> ob_testkit::sdist::PackedSdist {
    let tree = dir.join("lingerer-tree");
    ob_testkit::sdist::copy_tree(
        &ob_testkit::repo_root().join("fixtures/hostile/lingerer"),
        &tree,
    )
    .unwrap();
    let targets: Vec<(String, u16)> = targets
        .iter()
        .map(|target| (target.ip().to_string(), target.port()))
        .collect();
    fs_err::write(
        tree.join("targets.json"),
        serde_json::to_string(&targets).unwrap(),
    )
    .unwrap();
    ob_testkit::sdist::pack(&tree, &dir.join("sdists")).unwrap()
}

/// Processes of this host (containers' included: one kernel) named `lingerer-daemon`.
fn lingering_daemons() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let comm = entry.path().join("comm");
        if let Ok(name) = std::fs::read_to_string(&comm)
            && name.trim() == "lingerer-daemon"
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[tokio::test]
async fn a_hook_that_leaves_a_process_behind_reaches_nothing_and_changes_nothing() {
    // Listeners on every address of the host: all of them (0.0.0.0), the docker0 bridge's
    // and the primary address, each reachable from the host itself (their marker proves it).
    let docker0 = docker0_address().await;
    let any = Listener::start(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).await;
    let on_docker0 = Listener::start(docker0).await;
    let primary = primary_address();
    let on_primary = match primary {
        Some(address) => Some(Listener::start(address).await),
        None => None,
    };
    let mut targets = vec![
        SocketAddr::new(docker0, any.address.port()),
        on_docker0.address,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), any.address.port()),
    ];
    if let (Some(address), Some(listener)) = (primary, &on_primary) {
        targets.push(SocketAddr::new(address, any.address.port()));
        targets.push(listener.address);
    }

    let dir = tempfile::tempdir().unwrap();
    let lingerer = pack_lingerer(dir.path(), &targets);
    let minibackend =
        ob_testkit::sdist::pack_fixture("minibackend", &dir.path().join("sdists")).unwrap();
    let index = TestIndex::serve(vec![
        IndexEntry::from_file(&lingerer.name, &lingerer.path),
        IndexEntry::from_file(&minibackend.name, &minibackend.path),
    ]);
    let options = ResolveOptions {
        requirements: RequirementSources {
            specs: vec!["lingerer".into()],
            ..RequirementSources::default()
        }
        .read()
        .unwrap(),
        image: Some(ob_testkit::image::builder_image()),
        index: IndexUrl::parse(&index.url(), IndexSource::CommandLine).unwrap(),
        exclude_newer: None,
        jobs: 2,
        verify_build: true,
        cache_dir: None,
        wheel_cache: None,
        build_timeout: Duration::from_secs(300),
        timeout: Duration::from_secs(900),
        runs_dir: None,
        policy: Default::default(),
        runtime: ob_testkit::image::runtime(),
        config: Default::default(),
        keep_going: false,
    };
    let outcome = resolve(&options, &NoReporter).await.unwrap();

    // The lock is a clean run's: lingerer built with minibackend, nothing else, nothing changed.
    let locked: Vec<(String, bool, Vec<String>)> = outcome
        .lock
        .packages
        .iter()
        .map(|package| {
            (
                package.pin().to_string(),
                package.build_only,
                package
                    .build_requires
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        locked,
        [
            (
                "lingerer==1.0".to_owned(),
                false,
                vec!["minibackend==1.0".to_owned()]
            ),
            ("minibackend==1.0".to_owned(), true, vec![]),
        ]
    );
    assert_eq!(
        outcome.lock.package("lingerer").unwrap().sdist.sha256,
        lingerer.sha256
    );
    assert!(outcome.lock.tool.build_verified);

    // The same hook once more, as one step whose log we keep: the daemon was started, and the
    // moment the step is over no process of it is left on this host.
    let (image, digest) = ob_testkit::image::builder_image_with_digest();
    let scratch = dir.path().join("steps");
    let builder = Builder::new(BuilderOptions {
        executor: Arc::new(ob_sandbox::Sandbox::connect().await.unwrap()),
        image,
        image_digest: digest,
        source_date_epoch: ob_resolve::SOURCE_DATE_EPOCH,
        timeout: Duration::from_secs(300),
        jobs: 1,
        cache: None,
        scratch: scratch.clone(),
        policy: Default::default(),
        runtime: ob_testkit::image::runtime(),
        output_limit: ob_build::step::DEFAULT_OUTPUT_LIMIT,
    })
    .unwrap();
    let log = dir.path().join("lingerer-hooks.log");
    let sdist = SdistInput {
        path: lingerer.path.clone(),
        filename: lingerer.filename.clone(),
        sha256: lingerer.sha256.clone(),
        crates: Vec::new(),
        settings: Default::default(),
        patch_root: std::path::PathBuf::new(),
    };
    let minibackend_wheel = build_minibackend(&builder, dir.path(), &minibackend).await;
    let outcome = builder
        .step(StepRequest {
            name: "lingerer",
            version: "1.0",
            sdist: &sdist,
            environment: &[minibackend_wheel],
            mode: Mode::Requires,
            log: &log,
            use_cache: false,
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome.result, ob_build::StepResult::Requirements),
        "{:?}",
        outcome.result
    );
    assert_eq!(
        lingering_daemons(),
        Vec::<String>::new(),
        "the daemon outlived its step"
    );
    let text = fs_err::read_to_string(&log).unwrap();
    assert!(text.contains("lingerer: left a daemon behind"), "{text}");
    // What the hook itself reached: nothing; what it wrote: only its own container's files.
    assert!(text.contains("lingerer-daemon: reached nothing;"), "{text}");
    assert!(!text.contains("/ob/requests/99.json"), "{text}");
    assert!(!text.contains("/ob/stage/build/driver.py"), "{text}");

    // Nothing reached any listener, from the session, a hook or a build.
    assert_eq!(any.accepted().await, 0, "0.0.0.0");
    assert_eq!(on_docker0.accepted().await, 0, "docker0 {docker0}");
    if let Some(listener) = &on_primary {
        assert_eq!(listener.accepted().await, 0, "primary {:?}", primary);
    }
    assert_eq!(lingering_daemons(), Vec::<String>::new());
}

/// minibackend's wheel, built by the same builder, for the lingerer's environment.
async fn build_minibackend(
    builder: &Builder,
    dir: &Path,
    packed: &ob_testkit::sdist::PackedSdist,
) -> ob_build::EnvWheel {
    let outcome = builder
        .step(StepRequest {
            name: "minibackend",
            version: "1.0",
            sdist: &SdistInput {
                path: packed.path.clone(),
                filename: packed.filename.clone(),
                sha256: packed.sha256.clone(),
                crates: Vec::new(),
                settings: Default::default(),
                patch_root: std::path::PathBuf::new(),
            },
            environment: &[],
            mode: Mode::Build,
            log: &dir.join("minibackend.log"),
            use_cache: false,
        })
        .await
        .unwrap();
    let ob_build::StepResult::Wheel(wheel) = outcome.result else {
        panic!("minibackend did not build: {:?}", outcome.result);
    };
    let kept = dir.join(&wheel.filename);
    wheel.place(&kept).unwrap();
    ob_build::EnvWheel {
        wheel: ob_build::UsedWheel {
            name: "minibackend".into(),
            version: "1.0".into(),
            wheel: wheel.filename.clone(),
            sha256: wheel.sha256.clone(),
        },
        path: kept,
    }
}
