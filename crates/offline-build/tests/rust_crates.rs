//! A Rust extension through all three stages, hermetically: the `rustdemo` sdist (a cdylib that
//! needs the crate `obadd` from a registry) on a package index served on loopback, and `obadd`
//! on a sparse crate registry served on loopback; real containers on the real Docker daemon.
//! resolve pins the crate from the sdist's Cargo.lock, fetch downloads it beside the sdists,
//! build vendors it read-only into a network-less container, and `run` calls the library.

use std::path::Path;
use std::process::{Command, Output};

use ob_testkit::crates::{CrateRegistry, obadd_crate, pack_crate, rustdemo_sdist_locked};
use ob_testkit::index::{IndexEntry, TestIndex};

/// The binary with what every stage here shares: the test's own caches and temporary
/// directory, and an empty cargo home, so that the host's cargo configuration plays no part.
fn offline_build(dir: &Path, args: &[&str]) -> Output {
    let cargo_home = dir.join("cargo-home");
    fs_err::create_dir_all(&cargo_home).unwrap();
    offline_build_with(dir, args, &cargo_home)
}

fn offline_build_with(dir: &Path, args: &[&str], cargo_home: &Path) -> Output {
    let tmp = dir.join("tmp");
    fs_err::create_dir_all(&tmp).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("TMPDIR", tmp)
        .env("CARGO_HOME", cargo_home)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// minibackend and the given rustdemo sdist on a test index.
fn index_with(dir: &Path, rustdemo: &Path) -> TestIndex {
    let minibackend = ob_testkit::sdist::pack_fixture("minibackend", dir).unwrap();
    TestIndex::serve(vec![
        IndexEntry::from_file(&minibackend.name, &minibackend.path),
        IndexEntry::from_file("rustdemo", rustdemo),
    ])
}

fn resolve(dir: &Path, index: &TestIndex) -> Output {
    let cargo_home = dir.join("cargo-home");
    fs_err::create_dir_all(&cargo_home).unwrap();
    resolve_with(dir, index, &cargo_home)
}

fn resolve_with(dir: &Path, index: &TestIndex, cargo_home: &Path) -> Output {
    offline_build_with(
        dir,
        &[
            "resolve",
            "rustdemo==1.0",
            "--index-url",
            &index.url(),
            "--image",
            &ob_testkit::image::builder_image(),
            "--lock",
            "pylock.toml",
        ],
        cargo_home,
    )
}

fn build(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        "--lock",
        "pylock.toml",
        "--wheelhouse",
        "wheelhouse",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    offline_build(dir, &args)
}

#[test]
fn a_rust_extension_is_pinned_fetched_vendored_and_built_offline() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let registry = CrateRegistry::start(vec![obadd_crate()]);
    let checksum = registry.checksum("obadd", "0.1.0").unwrap();
    let source = registry.source();
    let rustdemo = rustdemo_sdist_locked(
        &dir.join("sdists"),
        Some(&source),
        &[("obadd", "0.1.0", &source, &checksum)],
    );
    let index = index_with(&dir.join("sdists"), &rustdemo);

    // resolve: the crate is pinned once, with the registry's download URL, and named by the
    // package that vendors it; resolve's own verification build already compiled it offline.
    let resolved = resolve(dir, &index);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let lock_text = fs_err::read_to_string(dir.join("pylock.toml")).unwrap();
    assert!(
        lock_text.contains("crates = [\"obadd@0.1.0\"]"),
        "{lock_text}"
    );
    assert!(
        lock_text.contains(&format!(
            "[[tool.offline-build.crates]]\nname = \"obadd\"\nversion = \"0.1.0\"\nsource = \"{source}\"\nurl = \"{}\"",
            registry.download_url("obadd", "0.1.0")
        )),
        "{lock_text}"
    );
    assert!(
        lock_text.contains(&format!("hashes = {{ sha256 = \"{checksum}\" }}")),
        "{lock_text}"
    );

    // fetch: the crate lands beside the sdists, verified.
    let fetched = offline_build(
        dir,
        &[
            "fetch",
            "--lock",
            "pylock.toml",
            "--wheelhouse",
            "wheelhouse",
        ],
    );
    assert_eq!(fetched.status.code(), Some(0), "{}", stderr(&fetched));
    let crate_file = dir.join("wheelhouse/crates/obadd-0.1.0.crate");
    assert_eq!(
        ob_testkit::crates::sha256_hex(&fs_err::read(&crate_file).unwrap()),
        checksum
    );
    let offline = offline_build(
        dir,
        &[
            "fetch",
            "--offline",
            "--lock",
            "pylock.toml",
            "--wheelhouse",
            "wheelhouse",
        ],
    );
    assert_eq!(offline.status.code(), Some(0), "{}", stderr(&offline));

    // build, and the library answers through the crate it was linked with.
    let built = build(dir, "dist", &["--verify-install", "--no-cache"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert!(
        stderr(&built).contains("built      rustdemo 1.0"),
        "{}",
        stderr(&built)
    );
    let log = fs_err::read_to_string(dir.join("dist/logs/rustdemo-1.0.log")).unwrap();
    assert!(log.contains("Compiling obadd v0.1.0"), "{log}");
    let answer = offline_build(
        dir,
        &[
            "run",
            "--lock",
            "pylock.toml",
            "--out",
            "dist",
            "--",
            "python3",
            "-c",
            "import rustdemo; print(rustdemo.answer())",
        ],
    );
    assert_eq!(answer.status.code(), Some(0), "{}", stderr(&answer));
    assert_eq!(String::from_utf8_lossy(&answer.stdout).trim(), "42");

    // A crate nobody vendored: the same lock without its crates. The build has no network,
    // so cargo must stop and name the crate it lacks.
    let mut lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    lock.tool.crates.clear();
    for package in &mut lock.packages {
        package.crates.clear();
    }
    lock.write(&dir.join("pylock.toml")).unwrap();
    let unvendored = build(dir, "dist-unvendored", &["--no-cache"]);
    assert_eq!(unvendored.status.code(), Some(1), "{}", stderr(&unvendored));
    let text = stderr(&unvendored);
    assert!(text.contains("rustdemo"), "{text}");
    assert!(text.contains("obadd"), "{text}");

    // A registry that now serves other bytes under the pinned name: fetch refuses the crate,
    // naming it, and leaves nothing under its final name.
    fs_err::remove_file(&crate_file).unwrap();
    resolved_lock_back(dir, &lock_text);
    let tampered_tree = dir.join("obadd-tampered");
    ob_testkit::sdist::copy_tree(
        &ob_testkit::repo_root().join("fixtures/crates/obadd"),
        &tampered_tree,
    )
    .unwrap();
    fs_err::write(
        tampered_tree.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 { a - b }\n",
    )
    .unwrap();
    registry.replace(
        "obadd",
        "0.1.0",
        pack_crate(&tampered_tree, "obadd", "0.1.0"),
    );
    let refused = offline_build(
        dir,
        &[
            "fetch",
            "--lock",
            "pylock.toml",
            "--wheelhouse",
            "wheelhouse",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let text = stderr(&refused);
    assert!(text.contains("obadd-0.1.0.crate"), "{text}");
    assert!(
        !crate_file.exists(),
        "an unverified crate kept its final name"
    );
}

/// Puts the lock resolve wrote back in place.
fn resolved_lock_back(dir: &Path, text: &str) {
    fs_err::write(dir.join("pylock.toml"), text).unwrap();
}

/// A git dependency cannot be pinned by sha256: resolve refuses the package, naming the crate,
/// and writes no lock.
#[test]
fn a_git_dependency_in_a_cargo_lock_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let rustdemo = rustdemo_sdist_locked(
        &dir.join("sdists"),
        Some("sparse+http://127.0.0.1:9/index/"),
        &[(
            "obadd",
            "0.1.0",
            "git+http://127.0.0.1:9/obadd.git?rev=main#0123456789abcdef0123456789abcdef01234567",
            &"0".repeat(64),
        )],
    );
    let index = index_with(&dir.join("sdists"), &rustdemo);
    let refused = resolve(dir, &index);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let text = stderr(&refused);
    assert!(text.contains("rustdemo"), "{text}");
    assert!(text.contains("`obadd`"), "{text}");
    assert!(text.contains("git"), "{text}");
    assert!(!dir.join("pylock.toml").exists());
}

/// Most real sdists: a plain dependency of cargo's default registry, which the Cargo.lock
/// records under the default registry's own source, and a host whose cargo configuration sends
/// that registry to a mirror (here the test's). Resolve follows the configuration as cargo
/// would, the lock records which source is the default, and the build's configuration
/// replaces it as `[source.crates-io]` (cargo refuses any other name for it).
#[test]
fn a_default_registry_crate_comes_through_the_configured_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let registry = CrateRegistry::start(vec![obadd_crate()]);
    let checksum = registry.checksum("obadd", "0.1.0").unwrap();
    // The default registry's source, as the host's cargo names it: written only into this
    // test's temporary files, never into the project.
    let default_source = ob_cargo::probe::default_registry_source().unwrap();
    let rustdemo = rustdemo_sdist_locked(
        &dir.join("sdists"),
        None,
        &[("obadd", "0.1.0", &default_source, &checksum)],
    );
    let index = index_with(&dir.join("sdists"), &rustdemo);
    let cargo_home = dir.join("mirror-cargo-home");
    fs_err::create_dir_all(&cargo_home).unwrap();
    fs_err::write(
        cargo_home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"{}\"\n",
            registry.source()
        ),
    )
    .unwrap();

    let resolved = resolve_with(dir, &index, &cargo_home);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    assert_eq!(
        lock.tool.cargo_default_registry.as_deref(),
        Some(default_source.as_str())
    );
    assert_eq!(lock.tool.crates.len(), 1);
    assert_eq!(lock.tool.crates[0].source, default_source);
    assert_eq!(
        lock.tool.crates[0].url,
        registry.download_url("obadd", "0.1.0")
    );
    assert!(
        registry
            .requests()
            .iter()
            .any(|path| path.ends_with("/obadd/0.1.0/download")),
        "the crate came from the mirror"
    );

    let fetched = offline_build(
        dir,
        &[
            "fetch",
            "--lock",
            "pylock.toml",
            "--wheelhouse",
            "wheelhouse",
        ],
    );
    assert_eq!(fetched.status.code(), Some(0), "{}", stderr(&fetched));
    let built = build(dir, "dist", &["--no-cache"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let log = fs_err::read_to_string(dir.join("dist/logs/rustdemo-1.0.log")).unwrap();
    assert!(log.contains("Compiling obadd v0.1.0"), "{log}");
}

/// Every regular file under `dir`, except under the cargo homes, that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(metadata) = fs_err::symlink_metadata(&path) else {
            continue;
        };
        if metadata.is_dir() {
            if path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with("cargo-home"))
            {
                continue;
            }
            for entry in fs_err::read_dir(&path).into_iter().flatten().flatten() {
                stack.push(entry.path());
            }
        } else if metadata.is_file()
            && fs_err::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|window| window == needle))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// A registry that wants a token for everything (`auth-required`): without one configured,
/// resolve stops and says which variable to set; with one in `$CARGO_HOME/credentials.toml`,
/// resolve and fetch send it (the registry refuses every request without it) and the build
/// needs none. The token is in no output and no file the stages wrote.
#[test]
fn a_private_registry_token_is_sent_and_never_written() {
    const TOKEN: &str = "ob-test-token-5c1e9a";
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let registry = CrateRegistry::start(vec![obadd_crate()]);
    registry.require_token(TOKEN);
    let checksum = registry.checksum("obadd", "0.1.0").unwrap();
    let source = registry.source();
    let rustdemo = rustdemo_sdist_locked(
        &dir.join("sdists"),
        Some(&source),
        &[("obadd", "0.1.0", &source, &checksum)],
    );
    let index = index_with(&dir.join("sdists"), &rustdemo);
    let cargo_home = dir.join("private-cargo-home");
    fs_err::create_dir_all(&cargo_home).unwrap();
    fs_err::write(
        cargo_home.join("config.toml"),
        format!("[registries.private]\nindex = \"{source}\"\n"),
    )
    .unwrap();

    let refused = resolve_with(dir, &index, &cargo_home);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("requires a token")
            && stderr(&refused).contains("CARGO_REGISTRIES_PRIVATE_TOKEN"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.join("pylock.toml").exists());

    fs_err::write(
        cargo_home.join("credentials.toml"),
        format!("[registries.private]\ntoken = \"{TOKEN}\"\n"),
    )
    .unwrap();
    let resolved = resolve_with(dir, &index, &cargo_home);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let fetched = offline_build_with(
        dir,
        &[
            "fetch",
            "--lock",
            "pylock.toml",
            "--wheelhouse",
            "wheelhouse",
        ],
        &cargo_home,
    );
    assert_eq!(fetched.status.code(), Some(0), "{}", stderr(&fetched));
    let downloads: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|path| path.ends_with("/obadd/0.1.0/download"))
        .collect();
    assert_eq!(
        downloads.len(),
        2,
        "resolve and fetch each downloaded with the token: {downloads:?}"
    );
    let built = build(dir, "dist", &[]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));

    for output in [&refused, &resolved, &fetched, &built] {
        assert!(!stderr(output).contains(TOKEN));
        assert!(!String::from_utf8_lossy(&output.stdout).contains(TOKEN));
    }
    // The one file that holds it is the canary that shows the search can find it.
    let canary = dir.join("canary");
    fs_err::write(&canary, format!("x{TOKEN}y")).unwrap();
    assert_eq!(
        files_containing(dir, TOKEN.as_bytes()),
        vec![canary.display().to_string()]
    );
}
