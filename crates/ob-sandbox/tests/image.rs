//! The builder image on the real daemon: what `inspect` reports matches the image itself,
//! `create` is a no-op when the image exists, and an image without python3 is refused by name.

use futures_util::StreamExt;
use ob_sandbox::bollard::query_parameters::{CreateImageOptions, RemoveImageOptions};
use ob_sandbox::image::{self, CreateOptions, DEFAULT_IMAGE};
use ob_sandbox::{OutputLine, RunSpec, Sandbox, SandboxError};

async fn sandbox() -> Sandbox {
    Sandbox::connect().await.expect("connect to Docker")
}

#[tokio::test]
async fn inspect_reports_the_layer_and_what_python_itself_says() {
    let reference = ob_testkit::image::builder_image();
    let sandbox = sandbox().await;
    let info = image::inspect(&sandbox, &reference).await.unwrap().unwrap();
    assert_eq!(info.reference, DEFAULT_IMAGE);

    // The digest is the single layer Docker recorded.
    let inspected = sandbox.docker().inspect_image(&reference).await.unwrap();
    let layers = inspected.root_fs.unwrap().layers.unwrap();
    assert_eq!(layers, std::slice::from_ref(&info.digest));
    assert_eq!(inspected.id.as_deref(), Some(info.id.as_str()));

    // The labels written at create time agree with the python3 in the image.
    let spec = RunSpec::new(
        reference.as_str(),
        vec![
            "python3".into(),
            "-c".into(),
            "import platform, sysconfig; print(platform.python_version()); print(sysconfig.get_platform())".into(),
        ],
        "test:python-version",
    );
    let mut printed = Vec::new();
    let outcome = sandbox
        .run(&spec, |line| {
            if let OutputLine::Stdout(line) = line {
                printed.push(line);
            }
        })
        .await
        .unwrap();
    assert!(outcome.success());
    assert_eq!(printed[0], info.python_version);
    assert_eq!(printed[1].replace('-', "_"), info.platform);
    assert!(info.python_version.starts_with("3."), "{info:?}");
}

#[tokio::test]
async fn create_is_a_no_op_when_the_image_exists() {
    let reference = ob_testkit::image::builder_image();
    let sandbox = sandbox().await;
    let before = image::require(&sandbox, Some(&reference)).await.unwrap();
    let outcome = image::create(&sandbox, &CreateOptions::default(), &())
        .await
        .unwrap();
    assert!(!outcome.created);
    assert_eq!(outcome.info, before, "the image was touched");
}

#[tokio::test]
async fn an_image_without_python_is_refused_by_name() {
    let sandbox = sandbox().await;
    let reference = format!("offline-build/test-no-python:{}", std::process::id());
    import_single_file_image(&sandbox, &reference).await;

    let err = image::require(&sandbox, Some(&reference))
        .await
        .unwrap_err();
    let message = err.to_string();
    let _ = sandbox
        .docker()
        .remove_image(&reference, None::<RemoveImageOptions>, None)
        .await;
    assert!(matches!(err, SandboxError::ImageUnusable { .. }), "{err:?}");
    assert!(
        message.contains(&reference) && message.contains("hint:"),
        "{message}"
    );
}

/// An image whose only content is one text file: no shell, no python.
async fn import_single_file_image(sandbox: &Sandbox, reference: &str) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "hello.txt", &b"hello\n"[..])
        .unwrap();
    let tar = builder.into_inner().unwrap();
    let (repo, tag) = reference.split_once(':').unwrap();
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        ..Default::default()
    };
    let mut progress = sandbox.docker().create_image(
        Some(options),
        Some(ob_sandbox::bollard::body_full(tar.into())),
        None,
    );
    while let Some(message) = progress.next().await {
        message.expect("import the test image");
    }
}

/// Re-making the image from a fresh debootstrap takes about three minutes and replaces the
/// image every other test uses, so it only runs when asked: `cargo test -p ob-sandbox --test
/// image -- --ignored`. Two bootstraps of the same Debian packages must give the same layer
/// digest (measured: they do); it can only differ when the archive changed in between, or the
/// image was made by an older version of `create`.
#[tokio::test]
#[ignore = "slow (about three minutes) and replaces the shared builder image"]
async fn a_forced_create_gives_the_same_layer_again() {
    let reference = ob_testkit::image::builder_image();
    let sandbox = sandbox().await;
    let before = image::require(&sandbox, Some(&reference)).await.unwrap();
    let options = CreateOptions {
        force: true,
        ..Default::default()
    };
    let outcome = image::create(&sandbox, &options, &()).await.unwrap();
    assert!(outcome.created);
    assert_ne!(outcome.info.id, before.id, "a forced create imports anew");
    assert_eq!(
        outcome.info.digest, before.digest,
        "a fresh bootstrap gave another layer (did the Debian archive change meanwhile?)"
    );
}
