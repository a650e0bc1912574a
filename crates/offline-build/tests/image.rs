//! `offline-build image create` and `image show`, run as the real binary against the real
//! daemon and the builder image.

use std::process::{Command, Output};

fn offline_build(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(args)
        .output()
        .expect("run offline-build")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Digests, IDs and the Python patch level change with every image; the layout does not.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"sha256:[0-9a-f]{64}", "sha256:[HEX]"),
        (r"python:( +)3\.\d+\.\d+", "python:$1[VERSION]"),
        // Debian's updates can add a dependency.
        (r"\d+ Debian packages", "[N] Debian packages"),
    ]
}

#[test]
fn create_when_the_image_exists_changes_nothing_and_says_so() {
    let reference = ob_testkit::image::builder_image();
    let before = offline_build(&["image", "show", "--json"]);
    assert!(before.status.success(), "{}", text(&before.stderr));

    // A cache of the test's own and a mirror that answers nothing: the Debian file list that
    // `image create` caches for hints is not fetched from the host's real mirror (a failed
    // download is a warning).
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(["image", "create", "--mirror", "http://127.0.0.1:9/debian"])
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("run offline-build");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("`{reference}` already exists")),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");

    // Same image ID: nothing was imported.
    let after = offline_build(&["image", "show", "--json"]);
    assert_eq!(text(&after.stdout), text(&before.stdout));
}

#[test]
fn show_json_has_the_documented_fields() {
    let reference = ob_testkit::image::builder_image();
    let output = offline_build(&["image", "show", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "debian_packages",
            "digest",
            "extra_packages",
            "id",
            "platform",
            "python_version",
            "reference"
        ]
    );
    // The builder image records every Debian package it holds, with its version.
    let packages = json["debian_packages"].as_array().unwrap();
    assert!(
        packages
            .iter()
            .any(|package| package.as_str().unwrap().starts_with("python3=")),
        "{packages:?}"
    );
    assert!(json["extra_packages"].as_array().unwrap().is_empty());
    assert_eq!(json["reference"], reference.as_str());
    let digest = json["digest"].as_str().unwrap();
    assert!(
        digest.len() == 71
            && digest.starts_with("sha256:")
            && digest[7..].bytes().all(|byte| byte.is_ascii_hexdigit()),
        "{digest}"
    );
    assert!(json["python_version"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        json["platform"],
        format!("linux_{}", std::env::consts::ARCH)
    );
}

#[test]
fn show_prints_reference_digest_python_and_platform() {
    ob_testkit::image::builder_image();
    let output = offline_build(&["image", "show"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(text(&output.stdout));
    });
}

/// Commands that need an image and do not find it stop with exit 2 and the command to run.
#[test]
fn show_of_a_missing_image_exits_2_with_a_hint() {
    let output = offline_build(&["image", "show", "--image", "offline-build/absent:0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("`offline-build/absent:0` does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn an_unreachable_daemon_is_named_with_a_hint() {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(["image", "show"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(stderr.contains("is dockerd running"), "{stderr}");
}

/// A forced create that fails (here: a mirror nobody serves, on a loopback port with no
/// listener) must leave the existing image as it was and no temporary rootfs behind.
#[test]
fn a_failed_create_leaves_the_image_and_no_rootfs_behind() {
    ob_testkit::image::builder_image();
    let before = offline_build(&["image", "show", "--json"]);
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mirror = format!("http://127.0.0.1:{unused_port}/debian");

    let output = offline_build(&["image", "create", "--force", "--mirror", &mirror]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&mirror), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");

    let after = offline_build(&["image", "show", "--json"]);
    assert_eq!(text(&after.stdout), text(&before.stdout));
    // The error quotes the debootstrap command, whose target is the temporary rootfs.
    let rootfs: Vec<&str> = stderr
        .split_whitespace()
        .filter(|word| word.contains("/offline-build-rootfs-"))
        .collect();
    assert!(
        !rootfs.is_empty(),
        "the error does not name the rootfs: {stderr}"
    );
    for path in rootfs {
        let path = path.trim_end_matches(['`', ',']);
        assert!(
            !std::path::Path::new(path).exists(),
            "`{path}` is still there"
        );
    }
}
