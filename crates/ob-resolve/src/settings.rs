//! The user's per-package build settings: `offline-build.toml` beside the lock, else the
//! `[tool.offline-build]` table of the project's pyproject.toml. Resolve applies them to the
//! hooks and verification builds of the packages they match and writes the settings in effect
//! into each package's lock entry, which is all `build` reads: the file itself never reaches
//! the build stage.
//!
//! ```toml
//! [[package]]
//! name = "lxml"
//! version = ">=5"                        # optional PEP 440 specifier
//! env = { CFLAGS = "-O3" }               # set for its steps (flags are appended to ours)
//! config-settings = { "--build-option" = ["--with-cython"] }
//! extra-build-requires = ["cython>=3"]   # for an sdist that forgot one
//! patches = ["patches/lxml-fix.patch"]   # applied with `patch -p1`, pinned by sha256
//! ```
//!
//! Every entry that matches a package applies, in file order: a later entry's `env` and
//! `config-settings` keys replace an earlier one's, its requirements and patches are added.
//!
//! At the top level, `allow-binary = ["name==version", ...]` names the releases (exact
//! versions) that may be taken as the index's upstream wheel, never built: for the rare
//! package that publishes no sdist. Off unless listed, and loud when used.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use ob_lock::{BuildSettings, ConfigSetting, Patch};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ResolveError;

/// The settings file looked for beside the lock.
pub const CONFIG_FILE: &str = "offline-build.toml";

use ob_lock::MAX_PATCH_BYTES;

/// Settings by package, as the user configured them.
#[derive(Debug, Clone, Default)]
pub struct BuildConfig {
    /// The file they came from; `None` when there is none.
    pub source: Option<PathBuf>,
    /// Notes for the user about where settings were looked for (e.g. a table that was ignored).
    pub notes: Vec<String>,
    /// `image-tools`: the index projects served by the builder image's own tools
    /// ([`ob_index::image_tools`]); `None` means all of them.
    pub image_tools: Option<Vec<String>>,
    /// The lock's directory: the patches' paths are relative to it, in the lock as here.
    pub patch_root: PathBuf,
    /// `allow-binary`: normalized name to the one version (PEP 440 normalized) that may be
    /// taken as an upstream wheel.
    pub allow_binary: BTreeMap<String, String>,
    pub(crate) rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Normalized.
    name: String,
    /// As written, and parsed.
    version: Option<(String, pep440_rs::VersionSpecifiers)>,
    /// Patches already pinned and made relative to the lock's directory.
    settings: BuildSettings,
}

/// A pyproject.toml: only `[tool.offline-build]` is ours.
#[derive(Debug, Deserialize)]
struct Pyproject {
    tool: Option<ToolTables>,
}

#[derive(Debug, Deserialize)]
struct ToolTables {
    #[serde(rename = "offline-build")]
    offline_build: Option<FileTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileTable {
    #[serde(default)]
    package: Vec<RuleTable>,
    image_tools: Option<Vec<String>>,
    #[serde(default)]
    allow_binary: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RuleTable {
    name: String,
    version: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    config_settings: BTreeMap<String, SettingValue>,
    #[serde(default)]
    extra_build_requires: Vec<String>,
    #[serde(default)]
    patches: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SettingValue {
    One(String),
    Many(Vec<String>),
}

impl BuildConfig {
    /// The settings for a lock at `lock`: `offline-build.toml` in its directory, else the
    /// `[tool.offline-build]` table of `project` (a pyproject.toml), else none. Patch paths
    /// are relative to the file that names them and must lie inside the lock's directory.
    pub fn find(lock: &Path, project: Option<&Path>) -> Result<BuildConfig, ResolveError> {
        let lock_dir = parent_dir(lock);
        let beside = lock_dir.join(CONFIG_FILE);
        let from_project = match project {
            Some(project) => {
                let text = read(project)?;
                let parsed: Pyproject = parse(&text, project)?;
                parsed
                    .tool
                    .and_then(|tool| tool.offline_build)
                    .map(|table| (project, table))
            }
            None => None,
        };
        if beside.is_file() {
            let table: FileTable = parse(&read(&beside)?, &beside)?;
            let mut config = BuildConfig::from_table(table, &beside, &lock_dir)?;
            if let Some((project, _)) = from_project {
                config.notes.push(format!(
                    "`{}` takes precedence: the `[tool.offline-build]` table of `{}` is not used",
                    beside.display(),
                    project.display()
                ));
            }
            return Ok(config);
        }
        match from_project {
            Some((project, table)) => BuildConfig::from_table(table, project, &lock_dir),
            None => Ok(BuildConfig {
                patch_root: lock_dir,
                ..BuildConfig::default()
            }),
        }
    }

    /// The settings of `table`, which came from `file`.
    fn from_table(
        table: FileTable,
        file: &Path,
        lock_dir: &Path,
    ) -> Result<BuildConfig, ResolveError> {
        let base = parent_dir(file);
        let mut rules = Vec::new();
        for (index, entry) in table.package.into_iter().enumerate() {
            let location = format!(
                "{}: [[package]] #{} (`{}`)",
                file.display(),
                index + 1,
                entry.name
            );
            rules.push(Rule::read(entry, &location, &base, lock_dir)?);
        }
        let image_tools = match table.image_tools {
            None => None,
            Some(names) => {
                let mut tools = Vec::new();
                for name in names {
                    let normalized = ob_lock::normalize_name(&name);
                    if ob_index::image_tools::image_tool(&normalized).is_none() {
                        let known: Vec<&str> = ob_index::image_tools::IMAGE_TOOLS
                            .iter()
                            .map(|tool| tool.project)
                            .collect();
                        return Err(bad(
                            &file.display().to_string(),
                            &format!(
                                "`image-tools`: the image cannot stand in for `{name}` (it can \
                                 for {})",
                                known.join(", ")
                            ),
                            "list only those, or `image-tools = []` to build every tool from \
                             its sdist",
                        ));
                    }
                    tools.push(normalized);
                }
                Some(tools)
            }
        };
        let mut allow_binary = BTreeMap::new();
        for entry in &table.allow_binary {
            let (name, version) = allowed_binary(entry).map_err(|problem| {
                bad(
                    &file.display().to_string(),
                    &format!("`allow-binary`: `{entry}` {problem}"),
                    "write each entry as `name==version`, one exact release per package",
                )
            })?;
            if let Some(other) = allow_binary.insert(name.clone(), version.clone())
                && other != version
            {
                return Err(bad(
                    &file.display().to_string(),
                    &format!("`allow-binary` names `{name}` at both {other} and {version}"),
                    "one environment takes one version of a package: keep the one you need",
                ));
            }
        }
        // A release taken as a wheel is never built: settings for its build would be silently
        // ignored (a patch the user relies on among them).
        if let Some(rule) = rules.iter().find(|rule| {
            allow_binary
                .get(&rule.name)
                .is_some_and(|version| rule.matches(&rule.name, version))
        }) {
            return Err(bad(
                &file.display().to_string(),
                &format!(
                    "`{}` has build settings, and `allow-binary` takes it as its upstream wheel, \
                     which is never built",
                    rule.name
                ),
                "remove its `[[package]]` settings, or build it from its sdist (leave it out of \
                 `allow-binary`)",
            ));
        }
        Ok(BuildConfig {
            patch_root: lock_dir.to_path_buf(),
            source: Some(file.to_path_buf()),
            notes: Vec::new(),
            image_tools,
            allow_binary,
            rules,
        })
    }

    /// Whether `name` (normalized) at `version` may be taken as an upstream wheel.
    pub fn allows_binary(&self, name: &str, version: &str) -> bool {
        self.allow_binary.get(name).is_some_and(|allowed| {
            allowed == version
                || pep440_rs::Version::from_str(version).is_ok_and(|v| v.to_string() == *allowed)
        })
    }

    /// True when no package has settings.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the index project `project` (normalized) is served by the image's own tool.
    pub fn uses_image_tool(&self, project: &str) -> bool {
        ob_index::image_tools::image_tool(project).is_some()
            && self
                .image_tools
                .as_ref()
                .is_none_or(|tools| tools.iter().any(|tool| tool == project))
    }

    /// The settings in effect for `name` (normalized) at `version`; their patches are in
    /// [`BuildConfig::patch_root`].
    pub fn for_package(&self, name: &str, version: &str) -> BuildSettings {
        let mut settings = BuildSettings::default();
        for rule in self.rules.iter().filter(|rule| rule.matches(name, version)) {
            settings.env.extend(rule.settings.env.clone());
            settings
                .config_settings
                .extend(rule.settings.config_settings.clone());
            settings
                .extra_build_requires
                .extend(rule.settings.extra_build_requires.iter().cloned());
            settings
                .patches
                .extend(rule.settings.patches.iter().cloned());
        }
        settings.extra_build_requires.sort();
        settings.extra_build_requires.dedup();
        settings
    }

    /// A warning for every entry that matches none of `locked` (name, version): settings for
    /// a package that is not in the lock are a typo or out of date.
    pub fn unmatched<'a>(
        &self,
        locked: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Vec<String> {
        let source = self
            .source
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        let binaries = self.allow_binary.iter().filter(|(name, _)| {
            !locked
                .clone()
                .into_iter()
                .any(|(locked_name, locked_version)| {
                    locked_name == name.as_str() && self.allows_binary(name, locked_version)
                })
        });
        let binaries: Vec<String> = binaries
            .map(|(name, version)| {
                format!(
                    "{source}: `allow-binary` names `{name}=={version}`, which is not in the \
                     lock; it was not used"
                )
            })
            .collect();
        binaries
            .into_iter()
            .chain(self.unmatched_rules(&source, locked))
            .collect()
    }

    fn unmatched_rules<'a>(
        &self,
        source: &str,
        locked: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Vec<String> {
        self.rules
            .iter()
            .filter(|rule| {
                !locked
                    .clone()
                    .into_iter()
                    .any(|(name, version)| rule.matches(name, version))
            })
            .map(|rule| match &rule.version {
                Some((text, _)) => format!(
                    "{source}: the settings for `{}` `{text}` match no package of the lock; they \
                     were not used",
                    rule.name
                ),
                None => format!(
                    "{source}: the settings for `{}` match no package of the lock; they were not \
                     used",
                    rule.name
                ),
            })
            .collect()
    }
}

/// `name==version` of `allow-binary`: the name normalized, the version exact and normalized.
fn allowed_binary(entry: &str) -> Result<(String, String), String> {
    let (name, version) = entry
        .split_once("==")
        .ok_or_else(|| "is not `name==version`".to_owned())?;
    let (name, version) = (name.trim(), version.trim());
    if !ob_lock::is_valid_name(name) {
        return Err(format!("names no package (`{name}`)"));
    }
    let parsed = pep440_rs::Version::from_str(version)
        .map_err(|error| format!("has no exact version: {error}"))?;
    if version.contains('*') || version.starts_with('=') {
        return Err("has no exact version".to_owned());
    }
    Ok((ob_lock::normalize_name(name), parsed.to_string()))
}

impl Rule {
    fn read(
        entry: RuleTable,
        location: &str,
        base: &Path,
        lock_dir: &Path,
    ) -> Result<Rule, ResolveError> {
        if !ob_lock::is_valid_name(&entry.name) {
            return Err(bad(
                location,
                "`name` is not a package name",
                "write the name as on the index, e.g. `lxml`",
            ));
        }
        let version = match entry.version {
            None => None,
            Some(text) => {
                let parsed = pep440_rs::VersionSpecifiers::from_str(&text).map_err(|error| {
                    bad(
                        location,
                        &format!("`version = \"{text}\"` is not a PEP 440 specifier: {error}"),
                        "write e.g. `version = \">=5,<6\"` or `version = \"==5.3.0\"`",
                    )
                })?;
                Some((text, parsed))
            }
        };
        for (name, value) in &entry.env {
            ob_lock::check_build_env_name(name).map_err(|problem| {
                bad(
                    location,
                    &format!("`env.{name}`: {problem}"),
                    "set only variables the package's build reads (e.g. `CFLAGS`)",
                )
            })?;
            if value.contains('\0') {
                return Err(bad(
                    location,
                    &format!("`env.{name}` holds a NUL byte"),
                    "remove it",
                ));
            }
        }
        for requirement in &entry.extra_build_requires {
            if let Some(why) = crate::requirement::refusal(requirement) {
                return Err(bad(
                    location,
                    &format!(
                        "`extra-build-requires`: `{}` {why}",
                        crate::requirement::shown(requirement)
                    ),
                    "name a requirement on the index, e.g. `cython>=3`",
                ));
            }
        }
        let patches = entry
            .patches
            .iter()
            .map(|written| pin_patch(written, location, base, lock_dir))
            .collect::<Result<Vec<_>, _>>()?;
        let mut extra_build_requires = entry.extra_build_requires;
        extra_build_requires.sort();
        extra_build_requires.dedup();
        Ok(Rule {
            name: ob_lock::normalize_name(&entry.name),
            version,
            settings: BuildSettings {
                env: entry.env,
                config_settings: entry
                    .config_settings
                    .into_iter()
                    .map(|(key, value)| {
                        let value = match value {
                            SettingValue::One(one) => ConfigSetting::One(one),
                            SettingValue::Many(many) => ConfigSetting::Many(many),
                        };
                        (key, value)
                    })
                    .collect(),
                extra_build_requires,
                patches,
            },
        })
    }

    fn matches(&self, name: &str, version: &str) -> bool {
        if self.name != name {
            return false;
        }
        match &self.version {
            None => true,
            Some((_, specifiers)) => pep440_rs::Version::from_str(version)
                .is_ok_and(|version| specifiers.contains(&version)),
        }
    }
}

/// Reads the patch `written` (relative to `base`), pins it by sha256, and names it relative to
/// the lock's directory, where `build` will look for it.
fn pin_patch(
    written: &str,
    location: &str,
    base: &Path,
    lock_dir: &Path,
) -> Result<Patch, ResolveError> {
    let hint = "keep patches in the repository beside the lock, e.g. `patches/lxml-fix.patch`";
    let file = base.join(written);
    let canonical = |path: &Path| {
        fs_err::canonicalize(path).map_err(|source| ResolveError::ReadInput {
            path: path.to_path_buf(),
            source,
        })
    };
    let absolute = canonical(&file)?;
    let root = canonical(if lock_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        lock_dir
    })?;
    let relative = absolute.strip_prefix(&root).map_err(|_| {
        bad(
            location,
            &format!(
                "patch `{written}` is outside the lock's directory `{}`",
                root.display()
            ),
            hint,
        )
    })?;
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part.to_owned()),
                None => {
                    return Err(bad(
                        location,
                        &format!("patch `{written}` has a name that is not UTF-8"),
                        hint,
                    ));
                }
            },
            _ => return Err(bad(location, &format!("patch `{written}`: odd path"), hint)),
        }
    }
    let sha256 = sha256_of(&absolute, written, location)?;
    Ok(Patch {
        path: parts.join("/"),
        sha256,
    })
}

fn sha256_of(path: &Path, written: &str, location: &str) -> Result<String, ResolveError> {
    use std::io::Read as _;
    let read_error = |source: std::io::Error| ResolveError::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let file = fs_err::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let copied =
        std::io::copy(&mut file.take(MAX_PATCH_BYTES + 1), &mut hasher).map_err(read_error)?;
    if copied > MAX_PATCH_BYTES {
        return Err(bad(
            location,
            &format!("patch `{written}` is larger than {MAX_PATCH_BYTES} bytes"),
            "a patch of an sdist is a small text file",
        ));
    }
    Ok(hex::encode(hasher.finalize()))
}

fn read(path: &Path) -> Result<String, ResolveError> {
    fs_err::read_to_string(path).map_err(|source| ResolveError::ReadInput {
        path: path.to_path_buf(),
        source,
    })
}

/// `text` (of `file`) as `T`; toml's message names the line and the key.
fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, ResolveError> {
    toml::from_str(text).map_err(|error| {
        bad(
            &file.display().to_string(),
            error.to_string().trim_end(),
            "each `[[package]]` takes `name`, and optionally `version`, `env`, \
             `config-settings`, `extra-build-requires` and `patches` (docs/build.md: \
             Per-package settings)",
        )
    })
}

/// The directory `file` is in (`.` for a bare file name).
fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn bad(location: &str, problem: &str, hint: &str) -> ResolveError {
    ResolveError::BadInput {
        location: location.to_owned(),
        problem: problem.to_owned(),
        hint: hint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, text: &str) -> Result<BuildConfig, ResolveError> {
        fs_err::write(dir.join(CONFIG_FILE), text).unwrap();
        BuildConfig::find(&dir.join("pylock.toml"), None)
    }

    #[test]
    fn matching_entries_apply_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("patches")).unwrap();
        fs_err::write(dir.path().join("patches/a.patch"), "--- a\n").unwrap();
        let config = config(
            dir.path(),
            r#"
[[package]]
name = "LXML"
env = { CFLAGS = "-O1", A = "1" }
extra-build-requires = ["cython>=3"]

[[package]]
name = "lxml"
version = ">=5"
env = { CFLAGS = "-O3" }
config-settings = { "--build-option" = ["--with-cython"], verbose = "true" }
patches = ["patches/a.patch"]

[[package]]
name = "other"
"#,
        )
        .unwrap();
        let new = config.for_package("lxml", "5.3.0");
        assert_eq!(new.env["CFLAGS"], "-O3", "the later entry wins");
        assert_eq!(new.env["A"], "1");
        assert_eq!(new.extra_build_requires, ["cython>=3"]);
        assert_eq!(
            new.config_settings["--build-option"],
            ConfigSetting::Many(vec!["--with-cython".into()])
        );
        assert_eq!(new.patches.len(), 1);
        assert_eq!(new.patches[0].path, "patches/a.patch");
        assert_eq!(
            new.patches[0].sha256,
            hex::encode(Sha256::digest(b"--- a\n"))
        );
        assert!(
            config.patch_root.join(&new.patches[0].path).is_file(),
            "patch paths are relative to the lock's directory"
        );
        let old = config.for_package("lxml", "4.9.4");
        assert_eq!(old.env["CFLAGS"], "-O1", "`>=5` does not match 4.9.4");
        assert!(old.patches.is_empty());
        assert!(config.for_package("requests", "2.0").is_empty());
        let warnings = config.unmatched([("lxml", "5.3.0")]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("`other` match no package"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_project_table_is_read_and_the_file_beside_the_lock_takes_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("pyproject.toml");
        fs_err::write(
            &project,
            "[project]\nname = \"app\"\n\n[[tool.offline-build.package]]\nname = \"lxml\"\nenv = { X = \"project\" }\n",
        )
        .unwrap();
        let lock = dir.path().join("pylock.toml");
        let from_project = BuildConfig::find(&lock, Some(&project)).unwrap();
        assert_eq!(from_project.for_package("lxml", "1").env["X"], "project");
        assert!(from_project.notes.is_empty());

        fs_err::write(
            dir.path().join(CONFIG_FILE),
            "[[package]]\nname = \"lxml\"\nenv = { X = \"file\" }\n",
        )
        .unwrap();
        let from_file = BuildConfig::find(&lock, Some(&project)).unwrap();
        assert_eq!(from_file.for_package("lxml", "1").env["X"], "file");
        assert!(
            from_file.notes[0].contains("is not used"),
            "{:?}",
            from_file.notes
        );
    }

    #[test]
    fn allowed_binaries_are_exact_releases_and_off_unless_listed() {
        let dir = tempfile::tempdir().unwrap();
        let none = config(dir.path(), "").unwrap();
        assert!(!none.allows_binary("demo", "1.0"));
        let config = config(dir.path(), "allow-binary = [\"Demo_Wheel == 1.0\"]\n").unwrap();
        assert_eq!(config.allow_binary["demo-wheel"], "1.0");
        assert!(config.allows_binary("demo-wheel", "1.0"));
        assert!(!config.allows_binary("demo-wheel", "1.1"));
        assert!(!config.allows_binary("demo", "1.0"));
        let unmatched = config.unmatched([("demo-wheel", "1.1")]);
        assert!(
            unmatched
                .iter()
                .any(|w| w.contains("`allow-binary` names `demo-wheel==1.0`")),
            "{unmatched:?}"
        );
        assert!(config.unmatched([("demo-wheel", "1.0")]).is_empty());
    }

    #[test]
    fn no_file_means_no_settings() {
        let dir = tempfile::tempdir().unwrap();
        let config = BuildConfig::find(&dir.path().join("pylock.toml"), None).unwrap();
        assert!(config.is_empty() && config.source.is_none());
    }

    #[test]
    fn bad_settings_are_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "[[package]]\nname = \"x\"\nenv = { PATH = \"/evil\" }\n",
                "env.PATH",
            ),
            (
                "[[package]]\nname = \"x\"\nenv = { \"A-B\" = \"1\" }\n",
                "env.A-B",
            ),
            (
                "[[package]]\nname = \"x\"\nenv = { A = 1 }\n",
                "invalid type",
            ),
            (
                "[[package]]\nname = \"x\"\nversion = \"five\"\n",
                "not a PEP 440 specifier",
            ),
            (
                "[[package]]\nname = \"x\"\nextra-build-requires = [\"evil @ https://x/y.whl\"]\n",
                "direct reference",
            ),
            (
                "[[package]]\nname = \"x\"\nconfig-settings = { a = 1 }\n",
                "config-settings",
            ),
            (
                "[[package]]\nname = \"x\"\nbuild-env = {}\n",
                "unknown field `build-env`",
            ),
            (
                "[[package]]\nname = \"x\"\npatches = [\"missing.patch\"]\n",
                "missing.patch",
            ),
            (
                "[[package]]\nname = \"x\"\npatches = [\"../outside.patch\"]\n",
                "outside the lock's directory",
            ),
            ("[[package]]\nname = \"not a name\"\n", "not a package name"),
            ("allow-binary = [\"demo>=1\"]\n", "is not `name==version`"),
            ("allow-binary = [\"demo==1.*\"]\n", "no exact version"),
            ("allow-binary = [\"demo===1\"]\n", "no exact version"),
            ("allow-binary = [\"not a name==1\"]\n", "names no package"),
            (
                "allow-binary = [\"demo==1\", \"Demo==2\"]\n",
                "names `demo` at both 1 and 2",
            ),
            (
                "allow-binary = [\"demo==1\"]\n[[package]]\nname = \"demo\"\nenv = { A = \"1\" }\n",
                "which is never built",
            ),
        ];
        fs_err::write(dir.path().parent().unwrap().join("outside.patch"), "x").ok();
        for (text, expected) in cases {
            let error = config(dir.path(), text).unwrap_err();
            let message = format!("{error}");
            let chain = format!("{error:?}");
            assert!(
                message.contains(expected) || chain.contains(expected),
                "`{text}` gave: {message} / {chain}"
            );
        }
    }
}
