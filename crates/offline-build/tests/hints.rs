//! A build that fails on a missing system header names the Debian package that ships it and the
//! command that adds it, with the real binary and Docker: first with nothing cached (the hint
//! says how to find the package), then after `image create` cached Debian's file list from a
//! mirror served here on loopback, which is gone again when the build runs.

#[path = "../../ob-build/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output};

use support::*;

/// Its C extension includes `<lz4.h>`, which the default image does not have.
const LZ4VERSION: Fixture = fixture("lz4version", &["minibackend"]);

fn offline_build(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .env("XDG_CACHE_HOME", cache)
        .args(args)
        .output()
        .unwrap()
}

fn build(project: &Project, cache: &Path, extra: &[&str]) -> Output {
    let lockfile = project.dir.path().join("pylock.toml");
    project.lock.write(&lockfile).unwrap();
    let (lock, wheelhouse, out) = (
        lockfile.display().to_string(),
        project.wheelhouse.display().to_string(),
        project.out.display().to_string(),
    );
    let mut args = vec![
        "build",
        "--lock",
        &lock,
        "--wheelhouse",
        &wheelhouse,
        "--out",
        &out,
        "--jobs",
        "2",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    offline_build(cache, &args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A Contents file as the archive has them, with the header this fixture needs among others.
fn contents_gz(triplet: &str) -> Vec<u8> {
    let text = format!(
        "usr/bin/lz4                                             utils/lz4\n\
         usr/include/lz4.h                                       libdevel/liblz4-dev\n\
         usr/include/lz4frame.h                                  libdevel/liblz4-dev\n\
         usr/include/zstd.h                                      libdevel/libzstd-dev\n\
         usr/lib/{triplet}/liblz4.so                             libdevel/liblz4-dev\n\
         usr/share/doc/liblz4-dev/copyright                      libdevel/liblz4-dev\n"
    );
    let mut gzip = Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    gzip.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = gzip.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Serves `body` at `path` on 127.0.0.1 (404 elsewhere) until one request for it was
/// answered; returns the mirror URL and the thread, which ends with the requests it saw.
fn serve_once(path: String, body: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut requested = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            let target = request_line.split_whitespace().nth(1).unwrap_or_default();
            requested.push(target.to_owned());
            let found = target == path;
            let (status, body) = if found {
                ("200 OK", body.as_slice())
            } else {
                ("404 Not Found", &b""[..])
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .unwrap();
            stream.write_all(body).unwrap();
            if found {
                break;
            }
        }
        requested
    });
    (format!("http://{address}/debian"), thread)
}

#[test]
fn a_missing_header_names_the_debian_package_and_the_command_that_adds_it() {
    let project = Project::new(&[MINIBACKEND, LZ4VERSION]);
    let cache = project.dir.path().join("cache");

    // Nothing cached: the hint says how to find the package, and how to have it named.
    let output = build(&project, &cache, &[]);
    let text = stderr(&output);
    eprintln!("{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("`lz4version` 1.0 failed to build"), "{text}");
    assert!(
        text.contains("the compiler found no `lz4.h`; `apt-file search /lz4.h` names the Debian package that ships it"),
        "{text}"
    );
    assert!(
        text.contains("running `offline-build image create` once keeps Debian's file list"),
        "{text}"
    );

    // `image create` finds the image made already and only caches the file list, from the
    // mirror it is given.
    let arch = ob_sandbox::debian_contents::host_architecture().expect("a Debian architecture");
    let contents_path = format!("/debian/dists/trixie/main/Contents-{}.gz", arch.debian);
    let (mirror, server) = serve_once(contents_path.clone(), contents_gz(arch.triplet));
    let created = offline_build(&cache, &["image", "create", "--mirror", &mirror]);
    let text = stderr(&created);
    eprintln!("{text}");
    assert_eq!(created.status.code(), Some(0), "{text}");
    assert!(text.contains("already exists"), "{text}");
    assert!(
        text.contains("Cached the 5 files build hints can name"),
        "{text}"
    );
    // The mirror is gone before the build.
    assert_eq!(server.join().unwrap(), [contents_path]);

    let output = build(&project, &cache, &["--json"]);
    let text = stderr(&output);
    eprintln!("{text}");
    assert_eq!(output.status.code(), Some(1), "{text}");
    let expected = "the compiler found no `lz4.h`; Debian's `liblz4-dev` ships it as \
                    `/usr/include/lz4.h`; add it to the builder image with `offline-build image \
                    create --with liblz4-dev` and build again";
    assert!(text.contains(expected), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == "lz4version")
        .and_then(|package| package["error"].as_str())
        .unwrap()
        .to_owned();
    assert!(error.contains(expected), "{error}");
}

/// The other half: the image made with the package the hint named, under a tag of its own (the
/// default image is every test's), builds the fixture. It bootstraps a whole image from the
/// Debian mirror of the host's apt sources: about four minutes and the network, so it only runs
/// when asked: `cargo test -p offline-build --test hints -- --ignored`.
#[test]
#[ignore = "makes a second builder image from the Debian mirror (about four minutes)"]
fn the_image_made_as_the_hint_says_builds_the_package() {
    const TEST_IMAGE: &str = "offline-build/hints-test:lz4";
    let mut project = Project::new(&[MINIBACKEND, LZ4VERSION]);
    let cache = project.dir.path().join("cache");
    let created = offline_build(
        &cache,
        &[
            "image",
            "create",
            "--image",
            TEST_IMAGE,
            "--with",
            "liblz4-dev",
        ],
    );
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let shown = offline_build(&cache, &["image", "show", "--image", TEST_IMAGE, "--json"]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let info: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    project.lock.tool.image = TEST_IMAGE.to_owned();
    project.lock.tool.image_digest = info["digest"].as_str().unwrap().to_owned();

    let output = build(
        &project,
        &cache,
        &["--image", TEST_IMAGE, "--verify-install"],
    );
    let text = stderr(&output);
    eprintln!("{text}");
    let removed = Command::new("docker")
        .args(["image", "rm", TEST_IMAGE])
        .output();
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        fs_err::read_dir(&project.out).unwrap().any(|entry| entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("lz4version-1.0-cp")),
        "no wheel in {}",
        project.out.display()
    );
    assert!(removed.is_ok_and(|removed| removed.status.success()));
}
