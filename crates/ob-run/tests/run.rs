//! `run` on the real daemon with a runtime image assembled from a real build: the program is
//! denied its data mount, the image's venv and the network (proved against a listener this test
//! starts, with a positive control on a bridge network), vandalises its results, and a restore
//! brings them back byte for byte; its exit code and output come back; retention drops the
//! oldest snapshot; the image carries the lock and report and is reused for the same inputs.

mod support;

use std::time::Duration;

use ob_run::{RunOptions, Snapshots, parse_mount, run};
use ob_sandbox::bollard::query_parameters::RemoveImageOptions;
use ob_sandbox::{OutputLine, Sandbox};
use ob_testkit::listener::Listener;
use support::{build_project, manifest, seed_results};

/// Removes the runtime image a test made, also when the test fails half-way.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let id = self.0.clone();
        // A thread and runtime of its own: this may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let sandbox = Sandbox::connect().await.unwrap();
                let _ = sandbox
                    .docker()
                    .remove_image(
                        &id,
                        Some(RemoveImageOptions {
                            force: true,
                            ..Default::default()
                        }),
                        None,
                    )
                    .await;
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_is_contained_and_its_results_can_be_restored() {
    let built = build_project().await;
    let sandbox = Sandbox::connect().await.unwrap();

    let data = built.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(
        ob_testkit::repo_root().join("fixtures/run/probe.py"),
        data.join("probe.py"),
    )
    .unwrap();
    std::fs::write(data.join("input.txt"), "input data\n").unwrap();
    let data_before = manifest(&data);
    let results = built.dir.path().join("results");
    seed_results(&results);
    let results_before = manifest(&results);

    // A bridge network of our own; its gateway is this host, where our listener waits.
    let network = sandbox
        .create_internal_network(&format!("ob-run-test-{}", std::process::id()))
        .await
        .unwrap();
    let listener = Listener::start(network.gateway()).await;
    let port = listener.address.port();

    let probe = |exit_code: &str| {
        let mut options = RunOptions::new(
            [
                "python3",
                "/data/probe.py",
                &network.gateway().to_string(),
                &port.to_string(),
                exit_code,
            ]
            .map(String::from)
            .to_vec(),
        );
        options.lock = built.lock.clone();
        options.out = built.out.clone();
        options.data = vec![parse_mount(&format!("{}:/data", data.display()), false).unwrap()];
        options.results =
            Some(parse_mount(&format!("{}:/results", results.display()), true).unwrap());
        options.keep = 2;
        options.timeout = Duration::from_secs(120);
        options
    };
    let run_collecting = |options: RunOptions| {
        let sandbox = sandbox.clone();
        async move {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let report = run(&sandbox, &options, &(), |line| match line {
                OutputLine::Stdout(line) => stdout.push(line),
                OutputLine::Stderr(line) => stderr.push(line),
            })
            .await
            .unwrap();
            (report, stdout, stderr)
        }
    };

    // 1. No network (the default): everything is denied, and the exit code comes back.
    let (report, stdout, stderr) = run_collecting(probe("7")).await;
    let said = |line: &str| stdout.iter().any(|printed| printed.starts_with(line));
    assert_eq!(report.outcome.exit_code, 7, "{stdout:?} {stderr:?}");
    assert!(said("probe: hello, run"), "{stdout:?} {stderr:?}");
    assert!(said("probe: python /opt/venv/bin/python3"), "{stdout:?}");
    assert!(said("probe: data-write denied"), "{stdout:?}");
    assert!(said("probe: data-delete denied"), "{stdout:?}");
    assert!(said("probe: venv-write denied"), "{stdout:?}");
    assert!(said("probe: network denied"), "{stdout:?}");
    assert!(said("probe: results vandalised"), "{stdout:?}");
    assert_eq!(stderr, ["probe: to stderr"]);
    assert_eq!(listener.accepted().await, 0, "reached the listener");
    assert_eq!(manifest(&data), data_before);
    assert_ne!(manifest(&results), results_before);
    // The sandbox opened the results directory to the container's user for the run only.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&results).unwrap().permissions().mode() & 0o777;
        assert_ne!(
            mode & 0o002,
            0o002,
            "results left writable for everyone: {mode:o}"
        );
    }
    let _remove_image = RemoveImage(report.image.id.clone());
    let first = report.snapshot.clone().unwrap();
    assert!(report.dropped.is_empty());
    assert_eq!(report.image.packages, ["greet==1.0"]);

    // Restoring the snapshot taken before the run undoes it byte for byte (modes, owners too).
    let snapshots = Snapshots::for_results(&results).unwrap();
    assert_eq!(snapshots.restore(None).unwrap().id, first.id);
    assert_eq!(manifest(&results), results_before);

    // 2. Positive control: the same program on the bridge network reaches the listener, so the
    // denial above was the missing network and not a broken probe.
    let mut options = probe("0");
    options.network = Some(network.name().to_string());
    let (report, stdout, _) = run_collecting(options).await;
    assert_eq!(report.outcome.exit_code, 0, "{stdout:?}");
    assert!(report.image.reused, "same inputs, same image");
    assert!(
        stdout.iter().any(|line| line == "probe: network reached"),
        "{stdout:?}"
    );
    // Exactly one: the probe connects once, and the first run not at all.
    assert_eq!(listener.accepted().await, 1);
    // The results are vandalised again, not restored: restore is explicit.
    assert_ne!(manifest(&results), results_before);
    snapshots.restore(None).unwrap();
    assert_eq!(manifest(&results), results_before);

    // 3. A third run with keep = 2: the first snapshot is dropped.
    let (report, _, _) = run_collecting(probe("0")).await;
    let dropped: Vec<&str> = report.dropped.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(dropped, [first.id.as_str()]);
    let listed = snapshots.list().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|snapshot| snapshot.id != first.id));

    // The image holds the exact lock and report and says so in its labels, and none of the
    // labels that would mark it as a leftover of ours.
    let image = report.image.clone();
    let inspected = sandbox.docker().inspect_image(&image.id).await.unwrap();
    let labels = inspected.config.unwrap().labels.unwrap();
    assert_eq!(
        labels[ob_run::assemble::LABEL_INPUTS_DIGEST],
        image.inputs_digest
    );
    assert_eq!(
        labels[ob_run::assemble::LABEL_LOCK_SHA256],
        image.lock_sha256
    );
    assert_eq!(
        labels[ob_run::assemble::LABEL_REPORT_SHA256],
        image.report_sha256
    );
    assert!(
        !labels.contains_key(ob_sandbox::LABEL_OWNER_PID),
        "{labels:?}"
    );
    let mut options = RunOptions::new(
        ["cat", "/opt/offline-build/pylock.toml"]
            .map(String::from)
            .to_vec(),
    );
    options.lock = built.lock.clone();
    options.out = built.out.clone();
    let mut printed = Vec::new();
    let report = run(&sandbox, &options, &(), |line| {
        if let OutputLine::Stdout(line) = line {
            printed.push(line);
        }
    })
    .await
    .unwrap();
    assert_eq!(report.outcome.exit_code, 0);
    assert!(report.snapshot.is_none());
    let lock_text = std::fs::read_to_string(&built.lock).unwrap();
    assert_eq!(printed.join("\n"), lock_text.trim_end());

    // A changed lock gets a new image, which replaces the old one: its default tag is removed,
    // and with it the image, unless the user tagged it too (then only that tag remains).
    let old = report.image;
    // In the default repository on purpose: only the tag assemble gave an image is removed.
    let user_tag = format!("offline-build/runtime:kept-{}", std::process::id());
    let assemble_options = |tag: Option<String>| ob_run::AssembleOptions {
        lock: built.lock.clone(),
        out: built.out.clone(),
        tag,
    };
    let tagged = ob_run::assemble(&sandbox, &assemble_options(Some(user_tag.clone())))
        .await
        .unwrap();
    assert!(tagged.reused && tagged.evicted.is_empty(), "{tagged:?}");
    std::fs::write(&built.lock, format!("{lock_text}# changed\n")).unwrap();
    let new = ob_run::assemble(&sandbox, &assemble_options(None))
        .await
        .unwrap();
    let _remove_new_image = RemoveImage(new.id.clone());
    assert!(!new.reused);
    assert_eq!(new.evicted, [old.reference]);
    let kept = sandbox.docker().inspect_image(&old.id).await.unwrap();
    assert_eq!(kept.repo_tags.unwrap(), [user_tag]);
    // Without the user's tag, the replaced image goes altogether.
    std::fs::write(&built.lock, format!("{lock_text}# changed again\n")).unwrap();
    let newer = ob_run::assemble(&sandbox, &assemble_options(None))
        .await
        .unwrap();
    let _remove_newer_image = RemoveImage(newer.id.clone());
    assert_eq!(newer.evicted, std::slice::from_ref(&new.reference));
    let gone = sandbox.docker().inspect_image(&new.id).await;
    assert!(gone.is_err(), "{gone:?}");

    network.remove().await.unwrap();
    ob_sandbox::settle_cleanups().await;
}

/// A wheel changed after the build is refused by name before any image is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wheel_changed_after_the_build_is_refused() {
    let built = build_project().await;
    let sandbox = Sandbox::connect().await.unwrap();
    let report = ob_build::BuildReport::read(&built.out).unwrap();
    let greet = report.packages.iter().find(|p| p.name == "greet").unwrap();
    let wheel = built.out.join(greet.wheel.as_ref().unwrap());
    let mut bytes = std::fs::read(&wheel).unwrap();
    bytes.push(0);
    std::fs::write(&wheel, bytes).unwrap();

    let options = ob_run::AssembleOptions {
        lock: built.lock.clone(),
        out: built.out.clone(),
        tag: None,
    };
    let err = ob_run::assemble(&sandbox, &options).await.unwrap_err();
    assert!(
        matches!(err, ob_run::RunError::WheelMismatch { .. }),
        "{err}"
    );
    assert!(err.is_input_error());
    let message = err.to_string();
    assert!(
        message.contains(greet.wheel.as_ref().unwrap()) && message.contains("hint:"),
        "{message}"
    );
}
