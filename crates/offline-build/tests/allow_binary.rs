//! `allow-binary` end to end, as a user meets it: a package (`usesbin`) needs, to build and to
//! run, a project that publishes only a wheel (`binhelper`). Without the setting resolve says
//! there is no sdist and how to allow the wheel; with it the one release is locked as a wheel,
//! fetched by its sha256, checked like a built wheel, installed in usesbin's build environment
//! and shipped in dist/, marked prebuilt everywhere. A wheel whose bytes are not the ones pinned
//! (by the index, then by the lock) is refused.

use std::path::Path;
use std::process::{Command, Output};

use ob_testkit::index::{IndexEntry, Misbehaviour, TestIndex};

fn offline_build(dir: &Path, args: &[&str]) -> Output {
    let tmp = dir.join("tmp");
    fs_err::create_dir_all(&tmp).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The upstream wheel of binhelper 1.0 (the index has no sdist of it).
fn binhelper() -> (String, Vec<u8>) {
    ob_testkit::wheel::pure_wheel(
        "binhelper",
        "1.0",
        &[(
            "binhelper/__init__.py",
            b"VALUE = 'from the upstream wheel'\n",
        )],
        &[],
    )
}

fn entries(dir: &Path) -> Vec<IndexEntry> {
    let sdists = dir.join("sdists");
    let mut entries: Vec<IndexEntry> = ["minibackend", "usesbin"]
        .into_iter()
        .map(|name| {
            let packed = ob_testkit::sdist::pack_fixture(name, &sdists).unwrap();
            IndexEntry::from_file(&packed.name, &packed.path)
        })
        .collect();
    let (filename, bytes) = binhelper();
    let path = sdists.join(filename);
    fs_err::write(&path, bytes).unwrap();
    entries.push(IndexEntry::from_file("binhelper", &path));
    entries
}

fn resolve(dir: &Path, index: &TestIndex) -> Output {
    offline_build(
        dir,
        &[
            "resolve",
            "usesbin==1.0",
            "--index-url",
            &index.url(),
            "--image",
            &ob_testkit::image::builder_image(),
            "--lock",
            "pylock.toml",
        ],
    )
}

const ALLOW: &str = "allow-binary = [\"binhelper==1.0\"]\n";

#[test]
fn a_wheel_only_release_is_taken_only_when_allowed_and_is_marked_prebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let index = TestIndex::serve(entries(dir));

    // Off by default: the index's wheel is not even listed to the resolver.
    let bare = resolve(dir, &index);
    assert_eq!(bare.status.code(), Some(1), "{}", stderr(&bare));
    let text = stderr(&bare);
    assert!(
        text.contains("`binhelper`: no source distribution matches"),
        "{text}"
    );
    assert!(
        text.contains("allow-binary = [\"binhelper==VERSION\"]"),
        "{text}"
    );
    assert!(!dir.join("pylock.toml").exists());

    fs_err::write(dir.join("offline-build.toml"), ALLOW).unwrap();
    let resolved = resolve(dir, &index);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    assert!(
        stderr(&resolved).contains(
            "`binhelper` 1.0 is taken as the upstream wheel `binhelper-1.0-py3-none-any.whl`, \
             not built from source"
        ),
        "loud when used: {}",
        stderr(&resolved)
    );
    let lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    let helper = lock.package("binhelper").unwrap();
    let wheel = helper
        .wheel
        .as_ref()
        .expect("binhelper is locked as a wheel");
    assert_eq!(wheel.filename, "binhelper-1.0-py3-none-any.whl");
    assert_eq!(wheel.sha256, ob_testkit::crates::sha256_hex(&binhelper().1));
    assert!(helper.build_requires.is_empty() && !helper.build_only);
    assert_eq!(lock.tool.allow_binary, [helper.pin()]);
    let usesbin = lock.package("usesbin").unwrap();
    let environment: Vec<String> = usesbin
        .build_requires
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(environment, ["binhelper==1.0", "minibackend==1.0"]);
    let text = fs_err::read_to_string(dir.join("pylock.toml")).unwrap();
    assert!(text.contains("[[packages.wheels]]"), "{text}");

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
    assert_eq!(
        fs_err::read(dir.join("wheelhouse/binhelper-1.0-py3-none-any.whl")).unwrap(),
        binhelper().1
    );

    // The build takes the lock alone (the settings file is gone), installs the wheel in
    // usesbin's build environment (its backend imports it) and ships it, loudly.
    fs_err::remove_file(dir.join("offline-build.toml")).unwrap();
    let build = |dir: &Path| {
        offline_build(
            dir,
            &[
                "build",
                "--lock",
                "pylock.toml",
                "--wheelhouse",
                "wheelhouse",
                "--out",
                "dist",
                "--verify-install",
            ],
        )
    };
    let built = build(dir);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert!(
        stderr(&built).contains(
            "binhelper 1.0 is the upstream wheel `binhelper-1.0-py3-none-any.whl`, not built from source"
        ),
        "{}",
        stderr(&built)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("dist/build-report.json")).unwrap()).unwrap();
    let status = |name: &str| {
        report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == name)
            .map(|entry| entry["status"].clone())
    };
    assert_eq!(status("binhelper"), Some("prebuilt".into()), "{report}");
    // Built here or by resolve's verification build (the wheel cache is shared): either way
    // by its backend, which imported binhelper from the prebuilt wheel (helper.txt below).
    assert!(
        [Some("built".into()), Some("cached".into())].contains(&status("usesbin")),
        "{report}"
    );
    assert_eq!(
        fs_err::read(dir.join("dist/binhelper-1.0-py3-none-any.whl")).unwrap(),
        binhelper().1
    );
    let usesbin_wheel = dir.join("dist/usesbin-1.0-py3-none-any.whl");
    let mut archive = zip::ZipArchive::new(fs_err::File::open(&usesbin_wheel).unwrap()).unwrap();
    let mut recorded = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("usesbin/helper.txt").unwrap(),
        &mut recorded,
    )
    .unwrap();
    assert_eq!(recorded, "from the upstream wheel");

    // Other bytes under the wheel's name in the wheelhouse: refused before anything builds.
    let tampered = dir.join("wheelhouse/binhelper-1.0-py3-none-any.whl");
    let mut bytes = binhelper().1;
    bytes[10] ^= 1;
    fs_err::write(&tampered, bytes).unwrap();
    fs_err::remove_dir_all(dir.join("dist")).unwrap();
    let refused = build(dir);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("binhelper-1.0-py3-none-any.whl"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.join("dist/binhelper-1.0-py3-none-any.whl").exists());
}

/// An index that serves other bytes than the sha256 it publishes for the allowed wheel: resolve
/// stops, naming the file, and writes no lock.
#[test]
fn an_allowed_wheel_with_a_wrong_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let index = TestIndex::serve_with(
        entries(dir),
        Misbehaviour {
            corrupt: vec!["binhelper-1.0-py3-none-any.whl".to_owned()],
            ..Misbehaviour::default()
        },
    );
    fs_err::write(dir.join("offline-build.toml"), ALLOW).unwrap();
    let resolved = resolve(dir, &index);
    assert_eq!(resolved.status.code(), Some(1), "{}", stderr(&resolved));
    let text = stderr(&resolved);
    assert!(
        text.contains("binhelper-1.0-py3-none-any.whl") && text.contains("hash mismatch"),
        "{text}"
    );
    assert!(!dir.join("pylock.toml").exists());
}
