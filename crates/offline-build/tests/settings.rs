//! Per-package build settings end to end, as a user writes them: `offline-build.toml` beside
//! the lock, read by resolve (which applies them to the hooks and its verification build and
//! pins them into the lock), then fetch, then a build that uses exactly what the lock says.
//! The fixture `tuned` needs each setting: its backend imports `greet`, which its
//! `[build-system].requires` forgot, and it records its variables, config settings and a file
//! that a patch changes into its wheel.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output};

use ob_testkit::index::{IndexEntry, TestIndex};

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

fn index(dir: &Path) -> TestIndex {
    let sdists = dir.join("sdists");
    let entries = ["minibackend", "greet", "tuned"]
        .into_iter()
        .map(|name| {
            let packed = ob_testkit::sdist::pack_fixture(name, &sdists).unwrap();
            IndexEntry::from_file(&packed.name, &packed.path)
        })
        .collect();
    TestIndex::serve(entries)
}

fn resolve(dir: &Path, index: &TestIndex) -> Output {
    offline_build(
        dir,
        &[
            "resolve",
            "tuned==1.0",
            "--index-url",
            &index.url(),
            "--image",
            &ob_testkit::image::builder_image(),
            "--lock",
            "pylock.toml",
        ],
    )
}

fn build(dir: &Path) -> Output {
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
        ],
    )
}

const PATCH: &str = "\
--- a/tuned/flavour.txt
+++ b/tuned/flavour.txt
@@ -1 +1 @@
-plain
+patched
";

const SETTINGS: &str = r#"
[[package]]
name = "tuned"
env = { TUNED_FLAVOUR = "salty", CFLAGS = "-DTUNED" }
config-settings = { mode = "fast", "--opt" = ["a", "b"] }
extra-build-requires = ["greet"]
patches = ["patches/flavour.patch"]

[[package]]
name = "tuned"
version = "<1"
env = { TUNED_FLAVOUR = "old" }

[[package]]
name = "absent"
env = { X = "1" }
"#;

/// The JSON file `member` that a fixture's backend wrote into the wheel of `project` 1.0.
fn recorded(dist: &Path, project: &str, member: &str) -> serde_json::Value {
    let prefix = format!("{project}-1.0-");
    let wheel = fs_err::read_dir(dist)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("the {project} wheel is in dist/"));
    let mut archive = zip::ZipArchive::new(fs_err::File::open(&wheel).unwrap()).unwrap();
    let mut text = String::new();
    archive
        .by_name(member)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn per_package_settings_reach_resolve_the_lock_and_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let index = index(dir);

    // Without settings the sdist cannot build: its backend imports what it did not declare.
    let bare = resolve(dir, &index);
    assert_eq!(bare.status.code(), Some(1), "{}", stderr(&bare));
    assert!(stderr(&bare).contains("tuned"), "{}", stderr(&bare));
    assert!(
        !dir.join("pylock.toml").exists(),
        "a failed resolve writes no lock"
    );

    fs_err::create_dir_all(dir.join("patches")).unwrap();
    fs_err::write(dir.join("patches/flavour.patch"), PATCH).unwrap();
    fs_err::write(dir.join("offline-build.toml"), SETTINGS).unwrap();
    let resolved = resolve(dir, &index);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let text = stderr(&resolved);
    assert!(
        text.contains("the settings for `absent` match no package of the lock"),
        "a setting for a package that is not locked is a warning: {text}"
    );
    assert!(
        text.contains("the settings for `tuned` `<1` match no package"),
        "{text}"
    );

    // The lock records exactly the settings in effect (the `<1` entry does not match 1.0), the
    // patch pinned by sha256, and `greet` in tuned's build environment.
    let lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    let tuned = lock.package("tuned").unwrap();
    let settings = &tuned.settings;
    assert_eq!(settings.env["TUNED_FLAVOUR"], "salty");
    assert_eq!(settings.env["CFLAGS"], "-DTUNED");
    assert_eq!(
        settings.config_settings["--opt"],
        ob_lock::ConfigSetting::Many(vec!["a".into(), "b".into()])
    );
    assert_eq!(settings.extra_build_requires, ["greet"]);
    assert_eq!(settings.patches.len(), 1);
    assert_eq!(settings.patches[0].path, "patches/flavour.patch");
    assert_eq!(
        settings.patches[0].sha256,
        ob_testkit::crates::sha256_hex(PATCH.as_bytes())
    );
    let environment: Vec<String> = tuned.build_requires.iter().map(|p| p.to_string()).collect();
    assert_eq!(environment, ["greet==1.0", "minibackend==1.0"]);
    assert!(lock.package("greet").unwrap().settings.is_empty());

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

    // The build takes the settings from the lock alone: the settings file is gone, and the
    // wheel shows every one of them applied.
    fs_err::remove_file(dir.join("offline-build.toml")).unwrap();
    let built = build(dir);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let probe = recorded(&dir.join("dist"), "tuned", "tuned/settings.json");
    assert_eq!(probe["flavour"], "salty");
    let cflags = probe["cflags"].as_str().unwrap();
    assert!(
        cflags.ends_with(" -DTUNED") && cflags.contains("-ffile-prefix-map="),
        "the user's CFLAGS come after ours, which keep the build reproducible: {cflags}"
    );
    assert_eq!(
        probe["config_settings"],
        serde_json::json!({"mode": "fast", "--opt": ["a", "b"]})
    );
    assert_eq!(probe["flavour_file"], "patched\n", "the patch was applied");

    // A patch that changed after the lock pinned it stops the build before anything runs.
    fs_err::write(
        dir.join("patches/flavour.patch"),
        PATCH.replace("patched", "tampered"),
    )
    .unwrap();
    let tampered = build(dir);
    assert_eq!(tampered.status.code(), Some(1), "{}", stderr(&tampered));
    let text = stderr(&tampered);
    assert!(
        text.contains("flavour.patch` of `tuned` has sha256")
            && text.contains(&format!(
                "but the lock pins {}",
                ob_testkit::crates::sha256_hex(PATCH.as_bytes())
            )),
        "{text}"
    );
    assert!(
        text.contains("hint: the lock pins every patch by sha256"),
        "{text}"
    );
}

/// A patch that does not apply fails the package's resolve with patch's own words, naming it.
#[test]
fn a_patch_that_does_not_apply_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let index = index(dir);
    fs_err::create_dir_all(dir.join("patches")).unwrap();
    fs_err::write(
        dir.join("patches/wrong.patch"),
        PATCH.replace("-plain", "-something else"),
    )
    .unwrap();
    fs_err::write(
        dir.join("offline-build.toml"),
        "[[package]]\nname = \"tuned\"\nextra-build-requires = [\"greet\"]\npatches = [\"patches/wrong.patch\"]\n",
    )
    .unwrap();
    let resolved = resolve(dir, &index);
    assert_eq!(resolved.status.code(), Some(1), "{}", stderr(&resolved));
    let text = stderr(&resolved);
    assert!(text.contains("wrong.patch"), "{text}");
    assert!(!dir.join("pylock.toml").exists());
}

/// Build requirements on `cmake` and `ninja` (the index's wrappers, whose sdists bootstrap
/// CMake from C++ for ten minutes) are served by the builder image's own tools: the local index
/// has no such projects at all, the lock says which Debian package provides each, fetch makes
/// their sdists without downloading anything, and the build runs the image's programs.
#[test]
fn cmake_and_ninja_requirements_are_served_by_the_image_tools() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let sdists = dir.join("sdists");
    let entries = ["minibackend", "toolchain"]
        .into_iter()
        .map(|name| {
            let packed = ob_testkit::sdist::pack_fixture(name, &sdists).unwrap();
            IndexEntry::from_file(&packed.name, &packed.path)
        })
        .collect();
    let index = TestIndex::serve(entries);
    let resolve = |spec: &str| {
        offline_build(
            dir,
            &[
                "resolve",
                spec,
                "--index-url",
                &index.url(),
                "--image",
                &ob_testkit::image::builder_image(),
                "--lock",
                "pylock.toml",
            ],
        )
    };
    let resolved = resolve("toolchain==1.0");
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr(&resolved));
    let lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    let cmake = lock.package("cmake").unwrap();
    assert!(
        cmake
            .image_tool
            .as_deref()
            .is_some_and(|tool| tool.starts_with("cmake=3.")),
        "{cmake:?}"
    );
    assert!(cmake.build_only && cmake.sdist.url.is_none());
    assert_eq!(
        cmake.sdist.path.as_deref(),
        Some(format!("wheelhouse/cmake-{}.tar.gz", cmake.version).as_str())
    );
    let ninja = lock.package("ninja").unwrap();
    assert!(
        ninja
            .image_tool
            .as_deref()
            .is_some_and(|tool| tool.starts_with("ninja-build=1."))
    );
    let toolchain = lock.package("toolchain").unwrap();
    let environment: Vec<String> = toolchain
        .build_requires
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(environment, ["cmake", "minibackend", "ninja"]);

    // fetch makes the stand-ins (the index has nothing to download for them).
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
    assert!(
        dir.join(format!("wheelhouse/cmake-{}.tar.gz", cmake.version))
            .is_file()
    );
    let built = build(dir);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let tools = recorded(&dir.join("dist"), "toolchain", "toolchain/tools.json");
    assert_eq!(
        tools["cmake"],
        format!("cmake version {}", cmake.version),
        "{tools}"
    );
    assert_eq!(tools["cmake_data"], true, "{tools}");
    assert_eq!(tools["ninja"], ninja.version.as_str(), "{tools}");
    assert_eq!(tools["ninja_module"], ninja.version.as_str(), "{tools}");
    assert!(
        tools["cpack"]
            .as_str()
            .unwrap()
            .starts_with("cpack version"),
        "{tools}"
    );

    // A version the image does not have is named with the image's.
    let too_new = resolve("cmake>=99");
    assert_eq!(too_new.status.code(), Some(1), "{}", stderr(&too_new));
    let text = stderr(&too_new);
    assert!(
        text.contains(&format!(
            "`cmake`: `cmake>=99` is not satisfied by the builder image's cmake {} (Debian cmake=",
            cmake.version
        )),
        "{text}"
    );
    assert!(text.contains("image-tools = []"), "{text}");
}
