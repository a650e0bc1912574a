//! Per-package build settings (`env`, `config-settings`, `extra-build-requires`, `patches` in
//! `[packages.tool.offline-build]`): written only when set, read back exactly, refused when a
//! build could not honour them, and hashed canonically for the wheel cache key.

mod common;

use std::path::Path;

use common::{digest, sample_lock};
use ob_lock::{
    BuildSettings, ConfigSetting, Lock, LockError, Patch, Problem, RESERVED_BUILD_ENV,
    check_build_env_name,
};

fn full_settings() -> BuildSettings {
    BuildSettings {
        env: [
            ("CFLAGS".to_owned(), "-DNDEBUG".to_owned()),
            (
                "A_LONGER_NAME".to_owned(),
                "two words = \"quoted\"".to_owned(),
            ),
        ]
        .into(),
        config_settings: [
            (
                "--build-option".to_owned(),
                ConfigSetting::Many(vec!["--with-cython".to_owned(), "--b".to_owned()]),
            ),
            (
                "editable-verbose".to_owned(),
                ConfigSetting::One("true".to_owned()),
            ),
            ("empty-list".to_owned(), ConfigSetting::Many(Vec::new())),
        ]
        .into(),
        extra_build_requires: vec!["wheel".to_owned(), "cython>=3".to_owned()],
        patches: vec![
            Patch {
                path: "patches/z-first.patch".to_owned(),
                sha256: digest("z"),
            },
            Patch {
                path: "patches/a-second.patch".to_owned(),
                sha256: digest("a"),
            },
        ],
    }
}

fn with_idna_settings(settings: BuildSettings) -> Lock {
    let mut lock = sample_lock();
    lock.packages
        .iter_mut()
        .find(|package| package.name == "idna")
        .unwrap()
        .settings = settings;
    lock
}

/// The sample lock's text with `toml` added to idna's `[packages.tool.offline-build]`.
fn idna_text_with(toml: &str) -> String {
    let line = "build-requires = [\"flit-core==3.12.0\"]\n";
    let text = sample_lock().to_toml_string();
    assert_eq!(text.matches(line).count(), 1);
    text.replace(line, &format!("{line}{toml}\n"))
}

fn refused(text: &str) -> LockError {
    let error = Lock::from_toml_str(text, Path::new("pylock.toml"))
        .expect_err("the lock should be refused");
    let message = error.to_string();
    assert!(message.contains("package `idna`"), "{message}");
    assert!(message.contains("\n\nhint: "), "{message}");
    error
}

fn assert_refused(text: &str, field: &str, check: impl Fn(&Problem) -> bool) {
    let error = refused(text);
    let message = error.to_string();
    assert!(message.contains(&format!("`{field}`")), "{message}");
    assert!(check(error.problem().unwrap()), "{message}");
}

#[test]
fn all_four_settings_round_trip_in_the_documented_layout() {
    let lock = with_idna_settings(full_settings());
    lock.validate().unwrap();
    let text = lock.to_toml_string();
    let expected = r#"[packages.tool.offline-build]
build-requires = ["flit-core==3.12.0"]
extra-build-requires = [
    "cython>=3",
    "wheel",
]
patches = [
    { path = "patches/z-first.patch", sha256 = "#;
    assert!(text.contains(expected), "{text}");
    for table in [
        r#"
[packages.tool.offline-build.env]
A_LONGER_NAME = 'two words = "quoted"'
CFLAGS = "-DNDEBUG"
"#,
        r#"
[packages.tool.offline-build.config-settings]
--build-option = [
    "--with-cython",
    "--b",
]
editable-verbose = "true"
empty-list = []
"#,
    ] {
        assert!(text.contains(table), "`{table}` missing:\n{text}");
    }
    let back = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    let mut sorted = lock.clone();
    sorted
        .packages
        .iter_mut()
        .for_each(|package| package.settings.extra_build_requires.sort());
    assert_eq!(back, sorted);
    assert_eq!(back.to_toml_string(), text);
    // Patches keep their order: it is the order they apply in.
    let idna = back.package("idna").unwrap();
    assert_eq!(idna.settings.patches[0].path, "patches/z-first.patch");
}

/// Settings on a package that also carries another tool's table: ours first, and stable.
#[test]
fn settings_beside_foreign_package_tables_round_trip() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock/valid-foreign/pylock.toml");
    let mut lock = Lock::read(&path).unwrap();
    let idna = lock
        .packages
        .iter_mut()
        .find(|package| package.name == "idna")
        .unwrap();
    assert!(!idna.foreign.is_empty());
    idna.settings = full_settings();
    idna.settings.extra_build_requires.sort();
    let text = lock.to_toml_string();
    let ours = text
        .find("[packages.tool.offline-build.config-settings]")
        .unwrap();
    let theirs = text.find("[packages.tool.uv.source]").unwrap();
    assert!(ours < theirs, "{text}");
    let back = Lock::from_toml_str(&text, &path).unwrap();
    assert_eq!(back, lock);
    assert_eq!(back.to_toml_string(), text);
}

/// Every key is written only when set, so locks from before settings existed keep their bytes
/// (`valid_fixture_matches_writer_output` and the snapshot test compare whole files).
#[test]
fn lock_without_settings_writes_no_settings_keys() {
    let text = sample_lock().to_toml_string();
    for key in [
        "extra-build-requires",
        "patches",
        ".env]",
        ".config-settings]",
    ] {
        assert!(!text.contains(key), "`{key}` written:\n{text}");
    }
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock/valid/pylock.toml");
    assert_eq!(std::fs::read_to_string(fixture).unwrap(), text);
    // Empty tables and arrays read as no settings, and are not written back.
    let text = idna_text_with(
        "extra-build-requires = []\npatches = []\n[packages.tool.offline-build.env]\n\
         [packages.tool.offline-build.config-settings]",
    );
    let lock = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(lock, sample_lock());
}

#[test]
fn reserved_env_name_is_refused() {
    let text = idna_text_with("[packages.tool.offline-build.env]\nSOURCE_DATE_EPOCH = \"1\"");
    assert_refused(
        &text,
        "tool.offline-build.env",
        |problem| matches!(problem, Problem::ReservedEnvName { name } if name == "SOURCE_DATE_EPOCH"),
    );
    // And in memory: a lock resolve built is not written either.
    let mut settings = BuildSettings::default();
    settings
        .env
        .insert("LD_PRELOAD".to_owned(), "x.so".to_owned());
    let error = with_idna_settings(settings).validate().unwrap_err();
    assert!(matches!(
        error.problem(),
        Some(Problem::ReservedEnvName { .. })
    ));
}

#[test]
fn bad_env_name_is_refused() {
    for name in ["\"1ABC\"", "\"A-B\"", "\"A B\"", "\"\""] {
        let text = idna_text_with(&format!(
            "[packages.tool.offline-build.env]\n{name} = \"1\""
        ));
        assert_refused(&text, "tool.offline-build.env", |problem| {
            matches!(problem, Problem::BadEnvName { .. })
        });
    }
}

#[test]
fn non_string_env_value_is_refused() {
    let text = idna_text_with("[packages.tool.offline-build.env]\nCFLAGS = 3");
    assert_refused(
        &text,
        "tool.offline-build.env.CFLAGS",
        |problem| matches!(problem, Problem::WrongType { found, .. } if found == "integer"),
    );
    // A NUL byte would cut the value short in the build's environment.
    let text = idna_text_with("[packages.tool.offline-build.env]\nCFLAGS = \"a\\u0000b\"");
    assert_refused(&text, "tool.offline-build.env.CFLAGS", |problem| {
        matches!(problem, Problem::BadSettingValue { .. })
    });
}

#[test]
fn config_setting_that_is_a_number_is_refused() {
    let text = idna_text_with("[packages.tool.offline-build.config-settings]\njobs = 4");
    assert_refused(
        &text,
        "tool.offline-build.config-settings.jobs",
        |problem| matches!(problem, Problem::WrongType { expected, .. } if expected.contains("array of strings")),
    );
    let text = idna_text_with(
        "[packages.tool.offline-build.config-settings]\n\"--build-option\" = [\"a\", 4]",
    );
    assert_refused(
        &text,
        "tool.offline-build.config-settings.--build-option",
        |problem| matches!(problem, Problem::WrongType { .. }),
    );
    let text = idna_text_with("[packages.tool.offline-build.config-settings]\n\"a b\" = true");
    assert_refused(
        &text,
        "tool.offline-build.config-settings.\"a b\"",
        |problem| matches!(problem, Problem::WrongType { .. }),
    );
}

#[test]
fn patch_path_with_dotdot_or_absolute_is_refused() {
    let sha = digest("p");
    for path in [
        "../outside.patch",
        "patches/../../x.patch",
        "/etc/x.patch",
        "C:/x.patch",
    ] {
        let text = idna_text_with(&format!(
            "patches = [{{ path = \"{path}\", sha256 = \"{sha}\" }}]"
        ));
        assert_refused(&text, "tool.offline-build.patches[0].path", |problem| {
            matches!(problem, Problem::UnsafePath { .. })
        });
    }
}

#[test]
fn patch_with_bad_sha256_is_refused() {
    let upper = digest("p").to_uppercase();
    for sha in ["abc", upper.as_str()] {
        let text = idna_text_with(&format!(
            "patches = [{{ path = \"p.patch\", sha256 = \"{sha}\" }}]"
        ));
        assert_refused(&text, "tool.offline-build.patches[0].sha256", |problem| {
            matches!(problem, Problem::BadSha256 { .. })
        });
    }
    let text = idna_text_with("patches = [{ path = \"p.patch\" }]");
    assert_refused(&text, "tool.offline-build.patches[0].sha256", |problem| {
        matches!(problem, Problem::MissingSha256)
    });
}

#[test]
fn unknown_key_in_patch_entry_is_refused() {
    let sha = digest("p");
    let text = idna_text_with(&format!(
        "patches = [{{ path = \"p.patch\", sha256 = \"{sha}\", strip = 1 }}]"
    ));
    assert_refused(&text, "tool.offline-build.patches[0].strip", |problem| {
        matches!(problem, Problem::UnknownKey)
    });
    let text = idna_text_with("patches = \"p.patch\"");
    assert_refused(&text, "tool.offline-build.patches", |problem| {
        matches!(problem, Problem::WrongType { .. })
    });
}

#[test]
fn extra_build_requires_must_be_single_line_unique_strings() {
    let field = "tool.offline-build.extra-build-requires";
    let text = idna_text_with("extra-build-requires = [\"cython>=3\\nx\"]");
    assert_refused(&text, field, |problem| {
        matches!(problem, Problem::BadSettingValue { .. })
    });
    let text = idna_text_with("extra-build-requires = [\"\"]");
    assert_refused(&text, field, |problem| matches!(problem, Problem::Empty));
    let text = idna_text_with("extra-build-requires = [\"a\", \"a\"]");
    assert_refused(&text, field, |problem| {
        matches!(problem, Problem::DuplicateEntry { .. })
    });
    let text = idna_text_with("extra-build-requires = [3]");
    assert_refused(&text, field, |problem| {
        matches!(problem, Problem::WrongType { .. })
    });
}

#[test]
fn env_name_rule_is_exact_and_case_sensitive() {
    for name in ["CFLAGS", "_X", "a1", "path", "Path", &"A".repeat(128)] {
        check_build_env_name(name).unwrap_or_else(|problem| panic!("{name}: {problem}"));
    }
    for name in ["", "1A", "A-B", "A B", "A=B", "Ä", "A\0", &"A".repeat(129)] {
        assert!(
            matches!(check_build_env_name(name), Err(Problem::BadEnvName { .. })),
            "{name:?}"
        );
    }
    for name in RESERVED_BUILD_ENV {
        let problem = check_build_env_name(name).unwrap_err();
        assert!(
            problem.to_string().contains(name),
            "the message names it: {problem}"
        );
        assert!(matches!(problem, Problem::ReservedEnvName { .. }));
    }
    // Whole families too (attacker's review: LD_AUDIT, CARGO_ENCODED_RUSTFLAGS, RUSTC_WRAPPER,
    // PIP_FIND_LINKS slipped past the exact list), but for cargo's profile settings.
    for name in [
        "LD_AUDIT",
        "PYTHONSTARTUP",
        "PIP_FIND_LINKS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
    ] {
        assert!(
            matches!(
                check_build_env_name(name),
                Err(Problem::ReservedEnvName { .. })
            ),
            "{name}"
        );
    }
    check_build_env_name("CARGO_PROFILE_RELEASE_LTO").unwrap();
}

/// The wheel cache key hashes this text: a package without settings keeps its old key, and any
/// one change of a setting gives another key.
#[test]
fn digest_input_is_empty_for_no_settings_and_changes_with_every_field() {
    assert_eq!(BuildSettings::default().digest_input(), "");
    assert!(BuildSettings::default().is_empty());
    let base = full_settings();
    assert!(!base.is_empty());
    let text = base.digest_input();
    assert!(!text.is_empty());
    assert_eq!(base.clone().digest_input(), text, "deterministic");
    // Sorted and unique is the lock's form: order alone is no difference.
    let mut reordered = base.clone();
    reordered.extra_build_requires.reverse();
    assert_eq!(reordered.digest_input(), text);

    let mut variants: Vec<BuildSettings> = Vec::new();
    let mut changed = base.clone();
    changed.env.insert("CFLAGS".to_owned(), "-O2".to_owned());
    variants.push(changed);
    let mut changed = base.clone();
    changed.env.remove("CFLAGS");
    variants.push(changed);
    let mut changed = base.clone();
    changed.config_settings.insert(
        "editable-verbose".to_owned(),
        ConfigSetting::Many(vec!["true".to_owned()]),
    );
    variants.push(changed);
    let mut changed = base.clone();
    changed.config_settings.remove("empty-list");
    variants.push(changed);
    let mut changed = base.clone();
    changed
        .extra_build_requires
        .push("setuptools-scm".to_owned());
    variants.push(changed);
    let mut changed = base.clone();
    changed.patches.reverse();
    variants.push(changed);
    let mut changed = base.clone();
    changed.patches[0].sha256 = digest("other");
    variants.push(changed);
    // A value that moves from one field to another is a difference too.
    let only_env = BuildSettings {
        env: [("X".to_owned(), "1".to_owned())].into(),
        ..BuildSettings::default()
    };
    let only_config = BuildSettings {
        config_settings: [("X".to_owned(), ConfigSetting::One("1".to_owned()))].into(),
        ..BuildSettings::default()
    };
    variants.push(only_env);
    variants.push(only_config);

    let mut seen = std::collections::HashSet::from([text]);
    for variant in &variants {
        assert!(
            seen.insert(variant.digest_input()),
            "{variant:?} gives a text seen before"
        );
    }
}

/// `resolve --locked` must notice settings that changed under the same versions.
#[test]
fn changed_settings_show_as_package_details() {
    let old = sample_lock();
    let new = with_idna_settings(full_settings());
    let changes = old.package_changes(&new);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].to_string().contains("idna"));
}
