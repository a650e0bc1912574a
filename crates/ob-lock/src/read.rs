//! Reading a `pylock.toml` into a [`Lock`]: TOML syntax errors with line and column, then every
//! key checked for presence and type, naming the package and field. Keys of other tools are kept
//! in [`Foreign`]; unknown keys in tables we own are refused (they would be silently dropped).

use std::path::Path;

use toml::{Table, Value};

use crate::error::{LockError, Problem};
use crate::model::{
    BUILD_MARKER, BuildSettings, ConfigSetting, Crate, CrateKey, Dependency, Foreign, Lock,
    LockTool, Package, Patch, Pin, Sdist, Wheel,
};

/// Our key in `[tool]` tables.
pub(crate) const TOOL_NAME: &str = "offline-build";

/// Something a reader should tell the user about but that does not stop the lock being used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockWarning {
    /// `lock-version` is a newer minor version than we write (PEP 751 asks readers to warn).
    NewerMinorVersion {
        /// The version in the file.
        found: String,
    },
}

impl std::fmt::Display for LockWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockWarning::NewerMinorVersion { found } => write!(
                f,
                "lock-version `{found}` is newer than the `{}` this offline-build writes; keys it does not know are kept but not used",
                crate::model::LOCK_VERSION
            ),
        }
    }
}

/// Where we are in the file, for error messages.
struct Context<'a> {
    path: Option<&'a Path>,
    package: Option<String>,
}

impl Context<'_> {
    fn error(&self, field: &str, problem: Problem) -> LockError {
        LockError::Invalid {
            path: self.path.map(Path::to_path_buf),
            package: self.package.clone(),
            field: field.to_owned(),
            problem: Box::new(problem),
        }
    }

    fn wrong_type(&self, field: &str, expected: &'static str, found: &Value) -> LockError {
        self.error(
            field,
            Problem::WrongType {
                expected,
                found: found.type_str().to_owned(),
            },
        )
    }

    fn optional_string(
        &self,
        table: &mut Table,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, LockError> {
        match table.remove(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(field, "a string", &other)),
        }
    }

    fn string(&self, table: &mut Table, key: &str, field: &str) -> Result<String, LockError> {
        self.optional_string(table, key, field)?
            .ok_or_else(|| self.error(field, Problem::Missing))
    }

    /// A TOML date-time, or (leniently) a string holding one; validation checks the form.
    fn optional_datetime(
        &self,
        table: &mut Table,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, LockError> {
        match table.remove(key) {
            None => Ok(None),
            Some(Value::Datetime(datetime)) => Ok(Some(datetime.to_string())),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(field, "a date-time", &other)),
        }
    }

    fn unsigned(&self, table: &mut Table, key: &str, field: &str) -> Result<u64, LockError> {
        match table.remove(key) {
            None => Err(self.error(field, Problem::Missing)),
            Some(Value::Integer(number)) => {
                u64::try_from(number).map_err(|_| self.error(field, Problem::OutOfRange))
            }
            Some(other) => Err(self.wrong_type(field, "an integer", &other)),
        }
    }

    fn boolean(&self, table: &mut Table, key: &str, field: &str) -> Result<bool, LockError> {
        match table.remove(key) {
            None => Err(self.error(field, Problem::Missing)),
            Some(Value::Boolean(flag)) => Ok(flag),
            Some(other) => Err(self.wrong_type(field, "true or false", &other)),
        }
    }

    fn optional_table(
        &self,
        table: &mut Table,
        key: &str,
        field: &str,
    ) -> Result<Option<Table>, LockError> {
        match table.remove(key) {
            None => Ok(None),
            Some(Value::Table(inner)) => Ok(Some(inner)),
            Some(other) => Err(self.wrong_type(field, "a table", &other)),
        }
    }

    fn string_array(
        &self,
        table: &mut Table,
        key: &str,
        field: &str,
    ) -> Result<Option<Vec<String>>, LockError> {
        let items = match table.remove(key) {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.wrong_type(field, "an array of strings", &other)),
        };
        items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                other => Err(self.wrong_type(field, "an array of strings", &other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Refuses leftover keys in a table we own: dropping them silently would lose data.
    fn no_leftovers(&self, table: &Table, prefix: &str) -> Result<(), LockError> {
        match table.keys().next() {
            Some(key) => Err(self.error(&format!("{prefix}{key}"), Problem::UnknownKey)),
            None => Ok(()),
        }
    }
}

/// Parses and validates `text`, read from `path` (used in messages only).
pub(crate) fn parse(text: &str, path: &Path) -> Result<(Lock, Vec<LockWarning>), LockError> {
    let document: Table = text.parse().map_err(|source: toml::de::Error| {
        let (line, column) = source
            .span()
            .map(|span| line_and_column(text, span.start))
            .unwrap_or((1, 1));
        LockError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            source: Box::new(source),
        }
    })?;
    let (lock, warnings) = from_table(document, Some(path))?;
    lock.validate().map_err(|error| error.in_file(path))?;
    Ok((lock, warnings))
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn from_table(
    mut document: Table,
    path: Option<&Path>,
) -> Result<(Lock, Vec<LockWarning>), LockError> {
    let context = Context {
        path,
        package: None,
    };
    let mut warnings = Vec::new();

    let lock_version = context.string(&mut document, "lock-version", "lock-version")?;
    match lock_version.split_once('.') {
        Some(("1", "0")) => {}
        Some(("1", minor)) if !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()) => {
            warnings.push(LockWarning::NewerMinorVersion {
                found: lock_version.clone(),
            });
        }
        _ => {
            return Err(context.error(
                "lock-version",
                Problem::UnsupportedLockVersion {
                    found: lock_version,
                },
            ));
        }
    }
    // Required by PEP 751; any producer is fine, we rewrite it as ours.
    context.string(&mut document, "created-by", "created-by")?;
    let requires_python =
        context.optional_string(&mut document, "requires-python", "requires-python")?;
    // Always rewritten by us: the build group and no default groups.
    context.string_array(&mut document, "dependency-groups", "dependency-groups")?;
    context.string_array(&mut document, "default-groups", "default-groups")?;

    let package_values = match document.remove("packages") {
        None => return Err(context.error("packages", Problem::Missing)),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(context.wrong_type("packages", "an array of tables", &other)),
    };
    let mut packages = Vec::with_capacity(package_values.len());
    for (index, value) in package_values.into_iter().enumerate() {
        match value {
            Value::Table(table) => packages.push(package(table, index, path)?),
            other => {
                return Err(context.wrong_type(&format!("packages[{index}]"), "a table", &other));
            }
        }
    }

    let mut tools = context
        .optional_table(&mut document, "tool", "tool")?
        .unwrap_or_default();
    let mut ours = match tools.remove(TOOL_NAME) {
        Some(Value::Table(table)) => table,
        Some(other) => {
            return Err(context.wrong_type("tool.offline-build", "a table", &other));
        }
        None => return Err(context.error("tool.offline-build", Problem::Missing)),
    };
    let tool = lock_tool(&context, &mut ours)?;
    if !tools.is_empty() {
        document.insert("tool".to_owned(), Value::Table(tools));
    }

    let lock = Lock {
        requires_python,
        packages,
        tool,
        foreign: Foreign::from_table(document),
    };
    Ok((lock, warnings))
}

fn lock_tool(context: &Context<'_>, table: &mut Table) -> Result<LockTool, LockError> {
    let field = |key: &str| format!("tool.offline-build.{key}");
    let tool = LockTool {
        image: context.string(table, "image", &field("image"))?,
        image_digest: context.string(table, "image-digest", &field("image-digest"))?,
        python_version: context.string(table, "python-version", &field("python-version"))?,
        platform: context.string(table, "platform", &field("platform"))?,
        index_url: context.string(table, "index-url", &field("index-url"))?,
        exclude_newer: context.optional_datetime(
            table,
            "exclude-newer",
            &field("exclude-newer"),
        )?,
        build_verified: context.boolean(table, "build-verified", &field("build-verified"))?,
        source_date_epoch: context.unsigned(
            table,
            "source-date-epoch",
            &field("source-date-epoch"),
        )?,
        requirements: context
            .string_array(table, "requirements", &field("requirements"))?
            .unwrap_or_default(),
        build_order: context
            .string_array(table, "build-order", &field("build-order"))?
            .ok_or_else(|| context.error(&field("build-order"), Problem::Missing))?
            .into_iter()
            .map(|entry| {
                Pin::parse(&entry).map(|_| split_pin(&entry)).map_err(|_| {
                    context.error(&field("build-order"), Problem::BadPin { found: entry })
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        cargo_default_registry: context.optional_string(
            table,
            "cargo-default-registry",
            &field("cargo-default-registry"),
        )?,
        crates: crates(context, table)?,
        allow_binary: context
            .string_array(table, "allow-binary", &field("allow-binary"))?
            .unwrap_or_default()
            .into_iter()
            .map(|entry| {
                Pin::parse(&entry).map(|_| split_pin(&entry)).map_err(|_| {
                    context.error(&field("allow-binary"), Problem::BadPin { found: entry })
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    context.no_leftovers(table, "tool.offline-build.")?;
    Ok(tool)
}

/// `[[tool.offline-build.crates]]`, absent when no package has Rust.
fn crates(context: &Context<'_>, table: &mut Table) -> Result<Vec<Crate>, LockError> {
    let field = "tool.offline-build.crates";
    let items = match table.remove("crates") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(context.wrong_type(field, "an array of tables", &other)),
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Table(mut entry) = item else {
                return Err(context.wrong_type(field, "an array of tables", &item));
            };
            let field = |key: &str| format!("tool.offline-build.crates.{key}");
            let name = context.string(&mut entry, "name", &field("name"))?;
            let version = context.string(&mut entry, "version", &field("version"))?;
            let source = context.string(&mut entry, "source", &field("source"))?;
            let url = context.string(&mut entry, "url", &field("url"))?;
            let size = context.unsigned(&mut entry, "size", &field("size"))?;
            let mut hashes = context
                .optional_table(&mut entry, "hashes", &field("hashes"))?
                .ok_or_else(|| context.error(&field("hashes.sha256"), Problem::MissingSha256))?;
            let sha256 = context
                .optional_string(&mut hashes, "sha256", &field("hashes.sha256"))?
                .ok_or_else(|| context.error(&field("hashes.sha256"), Problem::MissingSha256))?;
            context.no_leftovers(&entry, "tool.offline-build.crates.")?;
            Ok(Crate {
                name,
                version,
                source,
                url,
                size,
                sha256,
            })
        })
        .collect()
}

fn package(mut table: Table, index: usize, path: Option<&Path>) -> Result<Package, LockError> {
    // Name the package by its name when it has one, else by its position.
    let package_label = match table.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => format!("packages[{index}]"),
    };
    let context = Context {
        path,
        package: Some(package_label),
    };
    let name = context.string(&mut table, "name", "name")?;
    let version = context.string(&mut table, "version", "version")?;

    for kind in ["vcs", "directory", "archive"] {
        if table.contains_key(kind) {
            return Err(context.error(
                kind,
                Problem::UnsupportedSource {
                    kind: kind.to_owned(),
                },
            ));
        }
    }

    let build_only = match context.optional_string(&mut table, "marker", "marker")? {
        None => false,
        Some(marker) if is_build_marker(&marker) => true,
        Some(marker) => return Err(context.error("marker", Problem::UnsupportedMarker { marker })),
    };
    let requires_python =
        context.optional_string(&mut table, "requires-python", "requires-python")?;
    let dependencies = match table.remove("dependencies") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                // PEP 751 allows more keys (marker, ...) to disambiguate; one environment makes
                // name and, where a name is locked at several versions, version enough for us.
                Value::Table(mut dependency) => Ok(Dependency {
                    name: context.string(&mut dependency, "name", "dependencies.name")?,
                    version: context.optional_string(
                        &mut dependency,
                        "version",
                        "dependencies.version",
                    )?,
                }),
                other => Err(context.wrong_type("dependencies", "an array of tables", &other)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(context.wrong_type("dependencies", "an array of tables", &other));
        }
    };
    let wheel = wheel(&context, &mut table)?;
    let sdist = match (
        context.optional_table(&mut table, "sdist", "sdist")?,
        &wheel,
    ) {
        (Some(_), Some(_)) => return Err(context.error("wheels", Problem::SdistAndWheel)),
        (Some(sdist_table), None) => sdist(&context, sdist_table, "sdist")?,
        (None, Some(_)) => Sdist::default(),
        (None, None) => return Err(context.error("sdist", Problem::NoSdist)),
    };

    let mut build_requires = Vec::new();
    let mut crates = Vec::new();
    let mut settings = BuildSettings::default();
    let mut image_tool = None;
    if let Some(mut tools) = context.optional_table(&mut table, "tool", "tool")? {
        match tools.remove(TOOL_NAME) {
            None => {}
            Some(Value::Table(mut ours)) => {
                let field = "tool.offline-build.build-requires";
                for entry in context
                    .string_array(&mut ours, "build-requires", field)?
                    .unwrap_or_default()
                {
                    // Kept exactly as written (not normalized), so validation can refuse a
                    // spelling we would not have written.
                    let pin = Pin::parse(&entry)
                        .map(|_| split_pin(&entry))
                        .map_err(|_| context.error(field, Problem::BadPin { found: entry }))?;
                    build_requires.push(pin);
                }
                let field = "tool.offline-build.crates";
                for entry in context
                    .string_array(&mut ours, "crates", field)?
                    .unwrap_or_default()
                {
                    let key = CrateKey::parse(&entry).ok_or_else(|| {
                        context.error(field, Problem::BadCrateKey { found: entry })
                    })?;
                    crates.push(key);
                }
                settings = build_settings(&context, &mut ours)?;
                image_tool = context.optional_string(
                    &mut ours,
                    "image-tool",
                    "tool.offline-build.image-tool",
                )?;
                context.no_leftovers(&ours, "tool.offline-build.")?;
            }
            Some(other) => {
                return Err(context.wrong_type("tool.offline-build", "a table", &other));
            }
        }
        if !tools.is_empty() {
            table.insert("tool".to_owned(), Value::Table(tools));
        }
    }

    Ok(Package {
        name,
        version,
        requires_python,
        build_only,
        dependencies,
        sdist,
        wheel,
        build_requires,
        crates,
        settings,
        image_tool,
        foreign: Foreign::from_table(table),
    })
}

/// The build settings keys of `[packages.tool.offline-build]`, each absent when not set. Types
/// are checked here; names, paths, digests and values in validation.
fn build_settings(context: &Context<'_>, table: &mut Table) -> Result<BuildSettings, LockError> {
    let prefix = "tool.offline-build";
    let extra_build_requires = context
        .string_array(
            table,
            "extra-build-requires",
            &format!("{prefix}.extra-build-requires"),
        )?
        .unwrap_or_default();

    let field = format!("{prefix}.env");
    let env = context
        .optional_table(table, "env", &field)?
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(text) => Ok((name, text)),
            other => Err(context.wrong_type(&dotted(&field, &name), "a string", &other)),
        })
        .collect::<Result<_, _>>()?;

    let field = format!("{prefix}.config-settings");
    let expected = "a string or an array of strings";
    let config_settings = context
        .optional_table(table, "config-settings", &field)?
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let field = dotted(&field, &key);
            let setting = match value {
                Value::String(text) => ConfigSetting::One(text),
                Value::Array(items) => ConfigSetting::Many(
                    items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(text) => Ok(text),
                            other => Err(context.wrong_type(&field, expected, &other)),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => return Err(context.wrong_type(&field, expected, &other)),
            };
            Ok((key, setting))
        })
        .collect::<Result<_, _>>()?;

    let field = format!("{prefix}.patches");
    let patches = match table.remove("patches") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let Value::Table(mut entry) = item else {
                    return Err(context.wrong_type(&field, "an array of tables", &item));
                };
                let entry_field = |key: &str| format!("{field}[{index}].{key}");
                let path = context.string(&mut entry, "path", &entry_field("path"))?;
                let sha256 = context
                    .optional_string(&mut entry, "sha256", &entry_field("sha256"))?
                    .ok_or_else(|| context.error(&entry_field("sha256"), Problem::MissingSha256))?;
                context.no_leftovers(&entry, &entry_field(""))?;
                Ok(Patch { path, sha256 })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(context.wrong_type(&field, "an array of tables", &other)),
    };

    Ok(BuildSettings {
        env,
        config_settings,
        extra_build_requires,
        patches,
    })
}

/// `prefix.key`, the key quoted as TOML would when it is not a bare key, so that a message
/// names e.g. `env."A B"` unambiguously.
pub(crate) fn dotted(prefix: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if bare {
        format!("{prefix}.{key}")
    } else {
        format!("{prefix}.\"{}\"", key.escape_debug())
    }
}

/// `name==version` split without normalizing (the caller has checked the form).
fn split_pin(entry: &str) -> Pin {
    let (name, version) = entry.split_once("==").unwrap_or((entry, ""));
    Pin {
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

/// Our marker, allowing the quoting and spacing other writers may use.
fn is_build_marker(marker: &str) -> bool {
    let canonical: String = marker
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    let ours: String = BUILD_MARKER
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    canonical == ours
}

/// `wheels`: absent for every package built from its sdist; else exactly one entry, from a URL.
fn wheel(context: &Context<'_>, table: &mut Table) -> Result<Option<Wheel>, LockError> {
    let items = match table.remove("wheels") {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(context.wrong_type("wheels", "an array of tables", &other)),
    };
    let [item] = <[Value; 1]>::try_from(items)
        .map_err(|items| context.error("wheels", Problem::SeveralWheels { count: items.len() }))?;
    let Value::Table(entry) = item else {
        return Err(context.wrong_type("wheels", "an array of tables", &item));
    };
    let file = sdist(context, entry, "wheels")?;
    if file.path.is_some() {
        return Err(context.error(
            "wheels.path",
            Problem::UnsupportedSource {
                kind: "wheel file path".to_owned(),
            },
        ));
    }
    let url = file
        .url
        .ok_or_else(|| context.error("wheels.url", Problem::Missing))?;
    Ok(Some(Wheel {
        filename: file.filename,
        url,
        upload_time: file.upload_time,
        size: file.size,
        sha256: file.sha256,
    }))
}

/// The file table `[packages.sdist]` (or one of `wheels`, whose keys are the same): `field` is
/// its name in errors.
fn sdist(context: &Context<'_>, mut table: Table, field: &str) -> Result<Sdist, LockError> {
    let key = |name: &str| format!("{field}.{name}");
    let name = context.optional_string(&mut table, "name", &key("name"))?;
    let url = context.optional_string(&mut table, "url", &key("url"))?;
    let path = context.optional_string(&mut table, "path", &key("path"))?;
    let upload_time = context.optional_datetime(&mut table, "upload-time", &key("upload-time"))?;
    let size = context.unsigned(&mut table, "size", &key("size"))?;
    let mut hashes = context
        .optional_table(&mut table, "hashes", &key("hashes"))?
        .ok_or_else(|| context.error(&key("hashes.sha256"), Problem::MissingSha256))?;
    let sha256 = context
        .optional_string(&mut hashes, "sha256", &key("hashes.sha256"))?
        .ok_or_else(|| context.error(&key("hashes.sha256"), Problem::MissingSha256))?;
    // Other algorithms (PEP 751 allows several) are not kept: sha256 is what every stage checks.
    context.no_leftovers(&table, &key(""))?;

    // PEP 751 lets `name` be omitted when the URL or path ends in it.
    let filename = match name {
        Some(name) => name,
        None => url
            .as_deref()
            .and_then(|url| url::Url::parse(url).ok())
            .and_then(|url| {
                url.path_segments()
                    .and_then(|mut segments| segments.next_back().map(str::to_owned))
            })
            .or_else(|| {
                path.as_deref()
                    .and_then(|path| path.rsplit('/').next().map(str::to_owned))
            })
            .filter(|name| !name.is_empty())
            .ok_or_else(|| context.error(&key("name"), Problem::Missing))?,
    };

    Ok(Sdist {
        filename,
        url,
        path,
        upload_time,
        size,
        sha256,
    })
}
