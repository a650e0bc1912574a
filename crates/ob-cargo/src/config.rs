//! Cargo's configuration as cargo itself reads it on this host, as far as registries go: which
//! sparse index cargo would download a Cargo.lock source from, after source replacement.
//! Only the user's `$CARGO_HOME` file and `CARGO_REGISTRIES_<NAME>_INDEX` count: there is no
//! project on the host, so no project-local `.cargo/config.toml` is read.
//!
//! Cargo's built-in `crates-io` source is recognised (as cargo itself names it, asked of cargo,
//! so that no registry host is spelt here), and `[source.crates-io] replace-with` applies to it
//! as in cargo. When nothing replaces it, it is read through the sparse index cargo itself reads
//! it through, asked of cargo too ([`crate::probe::default_index`]). Any other unreplaced
//! git-protocol `registry+` source is refused with [`CargoError::GitIndex`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::CargoError;
use crate::registry::{check_url, same_git_registry};
use crate::token::Token;

/// Cargo's name for its built-in default registry's source.
const CRATES_IO: &str = "crates-io";

/// The index cargo would read for a Cargo.lock source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryIndex {
    /// The sparse index, without the `sparse+` prefix, always ending in `/`.
    pub url: url::Url,
    /// Cargo's name for this registry (a `[registries.NAME]` whose index this is), kept so that
    /// a token can later be looked up as `CARGO_REGISTRIES_<NAME>_TOKEN`.
    pub name: Option<String>,
}

/// The registry parts of cargo's configuration: `[source.*]` and `[registries.*]`, with
/// `CARGO_REGISTRIES_<NAME>_INDEX` from the environment.
#[derive(Debug, Clone, Default)]
pub struct CargoConfig {
    sources: BTreeMap<String, SourceTable>,
    /// From configuration files, by cargo name.
    registries: BTreeMap<String, Setting>,
    /// From `CARGO_REGISTRIES_<NAME>_INDEX`, by `<NAME>` as spelt in the variable.
    env_registries: BTreeMap<String, Setting>,
    /// The Cargo.lock source of cargo's built-in default registry (`registry+URL`), which
    /// `[source.crates-io]` replaces; asked of cargo ([`crate::probe`]), never written here.
    default_registry: Option<String>,
    /// The sparse index cargo reads its built-in default registry through when nothing
    /// replaces it, or why that is not known; asked of cargo ([`crate::probe::default_index`]).
    default_index: Option<Result<url::Url, String>>,
    /// Tokens from configuration and credentials files, by cargo name (`crates-io` for
    /// `[registry] token`); later files win.
    tokens: BTreeMap<String, Token>,
    /// Tokens from `CARGO_REGISTRIES_<NAME>_TOKEN` (by `<NAME>`) and `CARGO_REGISTRY_TOKEN`
    /// (as `CRATES_IO`), which win over files, as in cargo.
    env_tokens: BTreeMap<String, Token>,
}

/// A string value and the file or variable that set it, for error messages.
#[derive(Debug, Clone)]
struct Setting {
    value: String,
    origin: String,
}

/// One `[source.NAME]` table; each key remembers where it was set, since files merge key by key.
#[derive(Debug, Clone, Default)]
struct SourceTable {
    registry: Option<Setting>,
    replace_with: Option<Setting>,
    /// `directory`, `local-registry` or `git`: kinds of source we do not read.
    other_kind: Option<&'static str>,
}

/// A registry as cargo identifies it: protocol and URL. Cargo compares registry URLs without a
/// trailing slash, and so does this.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RegistryKey {
    Sparse(String),
    Git(String),
}

impl RegistryKey {
    /// A Cargo.lock source: `sparse+URL` or `registry+URL`.
    fn from_lock(lock_source: &str) -> Option<RegistryKey> {
        if let Some(url) = lock_source.strip_prefix("sparse+") {
            Some(RegistryKey::Sparse(url.to_owned()))
        } else {
            lock_source
                .strip_prefix("registry+")
                .map(|url| RegistryKey::Git(url.to_owned()))
        }
    }

    /// A `registry` or `index` value in cargo's configuration: `sparse+URL` is sparse, a bare
    /// URL is git; `registry+URL`, the Cargo.lock spelling, is accepted too.
    fn from_config(value: &str) -> RegistryKey {
        RegistryKey::from_lock(value).unwrap_or_else(|| RegistryKey::Git(value.to_owned()))
    }

    fn same_registry(&self, other: &RegistryKey) -> bool {
        match (self, other) {
            (RegistryKey::Sparse(a), RegistryKey::Sparse(b))
            | (RegistryKey::Git(a), RegistryKey::Git(b)) => {
                a.trim_end_matches('/') == b.trim_end_matches('/')
            }
            _ => false,
        }
    }
}

impl CargoConfig {
    /// Cargo's configuration on this host: `$CARGO_HOME/config` or `$CARGO_HOME/config.toml`
    /// (`CARGO_HOME` defaulting to `$HOME/.cargo`), and the process environment.
    ///
    /// Like cargo, the legacy name `config` wins when both files exist. No file at all is an
    /// empty configuration.
    pub fn from_host() -> Result<CargoConfig, CargoError> {
        let (config, file) = CargoConfig::from_host_files()?;
        Ok(config.with_host_probes(file.as_ref()))
    }

    /// [`CargoConfig::from_host`] without asking cargo anything: the files and the environment
    /// only (cheap, offline), with the configuration file that was read, for
    /// [`CargoConfig::with_host_probes`].
    pub fn from_host_files() -> Result<(CargoConfig, Option<(PathBuf, String)>), CargoError> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        let cargo_home = std::env::var_os("CARGO_HOME")
            .filter(|home| !home.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| Path::new(&home).join(".cargo"))
            });
        let mut files = Vec::new();
        if let Some(cargo_home) = &cargo_home {
            for name in ["config", "config.toml"] {
                let path = cargo_home.join(name);
                match fs_err::read_to_string(&path) {
                    Ok(text) => {
                        files.push((path, text));
                        break;
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(cause) => return Err(CargoError::ConfigRead { cause }),
                }
            }
        }
        let mut config = CargoConfig::from_parts(&files, &env)?;
        if let Some(cargo_home) = &cargo_home {
            // `credentials` is the legacy name, read first like `config`.
            for name in ["credentials", "credentials.toml"] {
                let path = cargo_home.join(name);
                match fs_err::read_to_string(&path) {
                    Ok(text) => {
                        config.add_credentials(&path, &text)?;
                        break;
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(cause) => return Err(CargoError::ConfigRead { cause }),
                }
            }
        }
        let file = files.pop();
        Ok((config, file))
    }

    /// The same configuration, with what only the host's cargo can say: which source is its
    /// built-in default registry, and (when nothing replaces it) the sparse index it reads it
    /// through; `file` is the configuration file in force.
    pub fn with_host_probes(mut self, file: Option<&(PathBuf, String)>) -> CargoConfig {
        // Without a cargo on this host, `[source.crates-io]` applies to nothing: a Cargo.lock
        // source of the default registry is then refused by `index_for`, naming it.
        self = self.with_default_registry(crate::probe::default_registry_source().ok());
        if self.default_registry.is_some() && !self.replaces_default_registry() {
            let file = file.map(|(path, text)| (path.as_path(), text.as_str()));
            let index = crate::probe::default_index(file).map_err(|err| err.to_string());
            self = self.with_default_index(index);
        }
        self
    }

    /// The same configuration, knowing the sparse index cargo reads its built-in default
    /// registry through when nothing replaces it (or why that is not known).
    pub fn with_default_index(mut self, index: Result<url::Url, String>) -> CargoConfig {
        self.default_index = Some(index);
        self
    }

    /// Whether `[source.crates-io] replace-with` sends the built-in default registry elsewhere.
    fn replaces_default_registry(&self) -> bool {
        self.sources
            .get(CRATES_IO)
            .is_some_and(|table| table.replace_with.is_some())
    }

    /// The same configuration, knowing `source` (`registry+URL`, as cargo writes it in a
    /// Cargo.lock) as cargo's built-in default registry.
    pub fn with_default_registry(mut self, source: Option<String>) -> CargoConfig {
        self.default_registry = source;
        self
    }

    /// The Cargo.lock source of cargo's built-in default registry, when it is known.
    pub fn default_registry(&self) -> Option<&str> {
        self.default_registry.as_deref()
    }

    /// Whether `lock_source` is cargo's built-in default registry.
    pub fn is_default_registry(&self, lock_source: &str) -> bool {
        let (Some(url), Some(default)) = (
            lock_source.strip_prefix("registry+"),
            self.default_registry
                .as_deref()
                .and_then(|default| default.strip_prefix("registry+")),
        ) else {
            return false;
        };
        same_git_registry(url, default)
    }

    /// A configuration from the text of configuration files, lowest precedence first (later
    /// files override earlier ones key by key, as cargo merges them), and environment variables.
    /// Only `CARGO_REGISTRIES_<NAME>_INDEX` variables are read from `env`.
    pub fn from_parts(
        config_files_text: &[(PathBuf, String)],
        env: &BTreeMap<String, String>,
    ) -> Result<CargoConfig, CargoError> {
        let mut config = CargoConfig::default();
        for (path, text) in config_files_text {
            config.add_file(path, text)?;
        }
        for (key, value) in env {
            if key == "CARGO_REGISTRY_TOKEN" {
                config
                    .env_tokens
                    .insert("CRATES_IO".to_owned(), Token::new(value));
                continue;
            }
            if let Some(name) = key
                .strip_prefix("CARGO_REGISTRIES_")
                .and_then(|rest| rest.strip_suffix("_TOKEN"))
                .filter(|name| !name.is_empty())
            {
                config.env_tokens.insert(name.to_owned(), Token::new(value));
                continue;
            }
            let Some(name) = key
                .strip_prefix("CARGO_REGISTRIES_")
                .and_then(|rest| rest.strip_suffix("_INDEX"))
                .filter(|name| !name.is_empty())
            else {
                continue;
            };
            config.env_registries.insert(
                name.to_owned(),
                Setting {
                    value: value.clone(),
                    origin: key.clone(),
                },
            );
        }
        Ok(config)
    }

    fn add_file(&mut self, path: &Path, text: &str) -> Result<(), CargoError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|cause| CargoError::ConfigSyntax {
                path: path.to_owned(),
                cause,
            })?;
        let origin = path.display().to_string();
        let wrong = |key: String, problem: &str| CargoError::ConfigValue {
            origin: origin.clone(),
            key,
            problem: problem.to_owned(),
        };
        let string = |key: String, value: &toml::Value| match value.as_str() {
            Some(text) => Ok(Setting {
                value: text.to_owned(),
                origin: origin.clone(),
            }),
            None => Err(wrong(key, "is not a string")),
        };

        if let Some(sources) = table.get("source") {
            let sources = sources
                .as_table()
                .ok_or_else(|| wrong("source".into(), "is not a table"))?;
            for (name, entry) in sources {
                let entry = entry
                    .as_table()
                    .ok_or_else(|| wrong(format!("source.{name}"), "is not a table"))?;
                let merged = self.sources.entry(name.clone()).or_default();
                for (key, value) in entry {
                    let full_key = format!("source.{name}.{key}");
                    match key.as_str() {
                        "registry" => merged.registry = Some(string(full_key, value)?),
                        "replace-with" => merged.replace_with = Some(string(full_key, value)?),
                        "directory" => merged.other_kind = Some("directory"),
                        "local-registry" => merged.other_kind = Some("local-registry"),
                        "git" => merged.other_kind = Some("git"),
                        // `branch`, `tag`, `rev` and future keys do not change the registry.
                        _ => {}
                    }
                }
            }
        }

        if let Some(registries) = table.get("registries") {
            let registries = registries
                .as_table()
                .ok_or_else(|| wrong("registries".into(), "is not a table"))?;
            for (name, entry) in registries {
                let entry = entry
                    .as_table()
                    .ok_or_else(|| wrong(format!("registries.{name}"), "is not a table"))?;
                // A registry table may hold only a token or a credential provider.
                if let Some(index) = entry.get("index") {
                    let setting = string(format!("registries.{name}.index"), index)?;
                    self.registries.insert(name.clone(), setting);
                }
            }
        }
        self.add_tokens(path, &table)
    }

    /// Adds the tokens of a credentials file (`$CARGO_HOME/credentials.toml`): the same
    /// `[registries.NAME] token` and `[registry] token` keys as a configuration file.
    pub fn add_credentials(&mut self, path: &Path, text: &str) -> Result<(), CargoError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|cause| CargoError::ConfigSyntax {
                path: path.to_owned(),
                cause,
            })?;
        self.add_tokens(path, &table)
    }

    fn add_tokens(&mut self, path: &Path, table: &toml::Table) -> Result<(), CargoError> {
        let token = |key: String, value: &toml::Value| match value.as_str() {
            Some(text) => Ok(Token::new(text)),
            None => Err(CargoError::ConfigValue {
                origin: path.display().to_string(),
                key,
                problem: "is not a string".to_owned(),
            }),
        };
        if let Some(value) = table
            .get("registry")
            .and_then(toml::Value::as_table)
            .and_then(|registry| registry.get("token"))
        {
            let value = token("registry.token".to_owned(), value)?;
            self.tokens.insert(CRATES_IO.to_owned(), value);
        }
        let registries = table.get("registries").and_then(toml::Value::as_table);
        for (name, entry) in registries.into_iter().flatten() {
            if let Some(value) = entry.as_table().and_then(|entry| entry.get("token")) {
                let value = token(format!("registries.{name}.token"), value)?;
                self.tokens.insert(name.clone(), value);
            }
        }
        Ok(())
    }

    /// The token cargo would send to the registry of `index`, found by the registry's cargo
    /// name: `CARGO_REGISTRIES_<NAME>_TOKEN` (`CARGO_REGISTRY_TOKEN` for `crates-io`) first,
    /// then the credentials and configuration files.
    pub fn token_for(&self, index: &RegistryIndex) -> Option<&Token> {
        let name = index.name.as_deref()?;
        let env_name = name.to_ascii_uppercase().replace('-', "_");
        self.env_tokens
            .get(&env_name)
            .or_else(|| self.tokens.get(name))
    }

    /// Whether any registry token is configured at all.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty() || !self.env_tokens.is_empty()
    }

    /// The index of registry `name`: `CARGO_REGISTRIES_<NAME>_INDEX` first (the environment
    /// overrides files, as in cargo), then `[registries.NAME] index`.
    fn registry_index(&self, name: &str) -> Option<&Setting> {
        let env_name = name.to_ascii_uppercase().replace('-', "_");
        self.env_registries
            .get(&env_name)
            .or_else(|| self.registries.get(name))
    }

    /// Cargo's name for the registry with this index, if it has one.
    fn registry_name(&self, key: &RegistryKey) -> Option<String> {
        let from_files = self.registries.keys().find(|name| {
            self.registry_index(name)
                .is_some_and(|index| RegistryKey::from_config(&index.value).same_registry(key))
        });
        if let Some(name) = from_files {
            return Some(name.clone());
        }
        // A registry defined by the environment alone has only its upper-case spelling; the
        // lower-case one maps back to the same variable names.
        self.env_registries
            .iter()
            .find(|(_, index)| RegistryKey::from_config(&index.value).same_registry(key))
            .map(|(name, _)| name.to_ascii_lowercase())
    }

    /// The sparse index cargo would download the crates of `lock_source` (a Cargo.lock
    /// `source`) from, after source replacement.
    ///
    /// A `[source.NAME]` table whose `registry` is this source's registry and which has
    /// `replace-with` is followed, through further `[source]` tables or a `[registries]` entry,
    /// to the registry that serves its crates. Refused: a replacement that ends in a
    /// `directory`, `local-registry` or `git` source, a cycle, a name defined nowhere, an index
    /// with credentials in its URL, an index that is not https (or http to a loopback address),
    /// and a git-protocol index ([`CargoError::GitIndex`]).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// let file = (
    ///     "config.toml".into(),
    ///     r#"
    ///     [source.upstream]
    ///     registry = "https://registry.example/git-index"
    ///     replace-with = "mirror"
    ///
    ///     [registries.mirror]
    ///     index = "sparse+https://mirror.example/index/"
    ///     "#
    ///     .to_owned(),
    /// );
    /// let config = ob_cargo::config::CargoConfig::from_parts(&[file], &BTreeMap::new())?;
    /// let index = config.index_for("registry+https://registry.example/git-index")?;
    /// assert_eq!(index.url.as_str(), "https://mirror.example/index/");
    /// assert_eq!(index.name.as_deref(), Some("mirror"));
    /// # Ok::<(), ob_cargo::CargoError>(())
    /// ```
    pub fn index_for(&self, lock_source: &str) -> Result<RegistryIndex, CargoError> {
        let Some(key) = RegistryKey::from_lock(lock_source) else {
            return Err(CargoError::NotARegistry {
                lock_source: lock_source.to_owned(),
            });
        };

        let mut defining = self.sources.iter().filter(|(_, table)| {
            table.registry.as_ref().is_some_and(|registry| {
                RegistryKey::from_config(&registry.value).same_registry(&key)
            })
        });
        let mut start = defining.next().map(|(name, _)| name.clone());
        let second = defining.next().map(|(name, _)| name.clone());
        // The built-in source needs no `registry` key: its name alone defines it.
        let default_table = match &key {
            RegistryKey::Git(_)
                if self.is_default_registry(lock_source)
                    && self.sources.contains_key(CRATES_IO) =>
            {
                Some(CRATES_IO.to_owned())
            }
            _ => None,
        };
        let second = match (&start, default_table) {
            (None, default_table) => {
                start = default_table;
                second
            }
            (Some(_), Some(default_table)) => Some(default_table),
            (Some(_), None) => second,
        };
        if let (Some(first), Some(second)) = (&start, second) {
            return Err(CargoError::AmbiguousSource {
                registry: lock_source.to_owned(),
                first: first.clone(),
                second,
            });
        }

        let (terminal, origin) = match start {
            None => (key, lock_source.to_owned()),
            Some(start) => self.follow_replacements(lock_source, &key, start)?,
        };
        self.to_index(lock_source, terminal, &origin)
    }

    /// Follows `replace-with` from the `[source]` table that defines the lock source's registry
    /// to the registry that is finally read, with the file or variable naming it.
    fn follow_replacements(
        &self,
        lock_source: &str,
        key: &RegistryKey,
        start: String,
    ) -> Result<(RegistryKey, String), CargoError> {
        let mut chain = vec![start.clone()];
        let mut name = start.clone();
        loop {
            let Some(table) = self.sources.get(&name) else {
                // Cargo takes a `replace-with` name that is no [source] as a registry's name.
                let Some(index) = self.registry_index(&name) else {
                    let replaced = chain
                        .iter()
                        .rev()
                        .nth(1)
                        .map_or_else(|| start.clone(), String::clone);
                    return Err(CargoError::UnknownReplacement {
                        replaced,
                        missing: name,
                    });
                };
                return Ok((RegistryKey::from_config(&index.value), index.origin.clone()));
            };
            if let Some(next) = &table.replace_with {
                if chain.contains(&next.value) {
                    chain.push(next.value.clone());
                    return Err(CargoError::ReplacementCycle { chain });
                }
                chain.push(next.value.clone());
                name = next.value.clone();
                continue;
            }
            if name == start {
                // The table only names the registry; nothing replaces it.
                return Ok((key.clone(), lock_source.to_owned()));
            }
            if let Some(kind) = table.other_kind {
                return Err(CargoError::UnsupportedReplacement {
                    lock_source: lock_source.to_owned(),
                    name,
                    kind: kind.to_owned(),
                });
            }
            let Some(registry) = &table.registry else {
                return Err(CargoError::ConfigValue {
                    origin: "cargo's configuration".to_owned(),
                    key: format!("source.{name}"),
                    problem: "names no registry, directory or git repository".to_owned(),
                });
            };
            return Ok((
                RegistryKey::from_config(&registry.value),
                registry.origin.clone(),
            ));
        }
    }

    fn to_index(
        &self,
        lock_source: &str,
        terminal: RegistryKey,
        origin: &str,
    ) -> Result<RegistryIndex, CargoError> {
        let text = match &terminal {
            RegistryKey::Sparse(url) => url,
            RegistryKey::Git(url) => {
                let default = self
                    .default_registry
                    .as_deref()
                    .and_then(|default| default.strip_prefix("registry+"));
                if default.is_some_and(|default| same_git_registry(url, default)) {
                    match &self.default_index {
                        Some(Ok(index)) => {
                            return Ok(RegistryIndex {
                                url: index.clone(),
                                name: Some(CRATES_IO.to_owned()),
                            });
                        }
                        Some(Err(why)) => {
                            return Err(CargoError::DefaultIndex {
                                lock_source: lock_source.to_owned(),
                                why: why.clone(),
                            });
                        }
                        None => {}
                    }
                }
                return Err(CargoError::GitIndex {
                    lock_source: lock_source.to_owned(),
                    index: url.clone(),
                });
            }
        };
        let mut url = url::Url::parse(text).map_err(|cause| CargoError::InvalidUrl {
            what: "registry index",
            url: format!("{text} (from {origin})"),
            cause,
        })?;
        check_url("registry index", &url)?;
        if !url.path().ends_with('/') {
            // `{index}config.json` must stay inside the index, not replace its last segment.
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let name = self.registry_name(&terminal);
        Ok(RegistryIndex { url, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> CargoConfig {
        config_env(text, &[])
    }

    fn config_env(text: &str, env: &[(&str, &str)]) -> CargoConfig {
        let env = env
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        CargoConfig::from_parts(&[("home/config.toml".into(), text.to_owned())], &env).unwrap()
    }

    #[test]
    fn unreplaced_sparse_source_is_its_own_index() {
        let index = config("")
            .index_for("sparse+http://127.0.0.1:9/index/")
            .unwrap();
        assert_eq!(index.url.as_str(), "http://127.0.0.1:9/index/");
        assert_eq!(index.name, None);
    }

    #[test]
    fn unreplaced_git_source_is_refused() {
        let err = config("")
            .index_for("registry+https://registry.example/index")
            .unwrap_err();
        assert!(matches!(err, CargoError::GitIndex { .. }), "{err}");
        assert!(err.to_string().contains("sparse indexes only"), "{err}");
        assert!(err.hint().unwrap().contains("replace-with"));
    }

    #[test]
    fn git_source_replaced_through_a_chain_by_a_sparse_source() {
        let config = config(
            r#"
[source.upstream]
registry = "registry+https://registry.example/index/"
replace-with = "middle"

[source.middle]
replace-with = "mirror"

[source.mirror]
registry = "sparse+https://mirror.example/index"
"#,
        );
        // Trailing slashes do not matter when matching, and the index gains one.
        let index = config
            .index_for("registry+https://registry.example/index")
            .unwrap();
        assert_eq!(index.url.as_str(), "https://mirror.example/index/");
        assert_eq!(index.name, None);
    }

    #[test]
    fn sparse_source_matches_only_its_sparse_spelling() {
        let config = config(
            r#"
[source.upstream]
registry = "https://registry.example/index/"
replace-with = "mirror"

[registries.mirror]
index = "sparse+https://mirror.example/index/"
"#,
        );
        // The git spelling is replaced; the sparse one is a different registry, read as is.
        let unreplaced = config
            .index_for("sparse+https://registry.example/index/")
            .unwrap();
        assert_eq!(unreplaced.url.as_str(), "https://registry.example/index/");
        let replaced = config
            .index_for("registry+https://registry.example/index/")
            .unwrap();
        assert_eq!(replaced.url.as_str(), "https://mirror.example/index/");
        assert_eq!(replaced.name.as_deref(), Some("mirror"));
    }

    #[test]
    fn environment_defines_and_overrides_registries() {
        let config = config_env(
            r#"
[source.upstream]
registry = "sparse+https://registry.example/index/"
replace-with = "my-mirror"

[registries.my-mirror]
index = "sparse+https://old.example/index/"
"#,
            &[(
                "CARGO_REGISTRIES_MY_MIRROR_INDEX",
                "sparse+https://new.example/index/",
            )],
        );
        let index = config
            .index_for("sparse+https://registry.example/index/")
            .unwrap();
        assert_eq!(index.url.as_str(), "https://new.example/index/");
        assert_eq!(index.name.as_deref(), Some("my-mirror"));

        let env_only = config_env(
            "",
            &[(
                "CARGO_REGISTRIES_LOCAL_INDEX",
                "sparse+http://127.0.0.1:9/index/",
            )],
        );
        let index = env_only
            .index_for("sparse+http://127.0.0.1:9/index/")
            .unwrap();
        assert_eq!(index.name.as_deref(), Some("local"));
    }

    /// Tokens are found by the registry's cargo name: the environment over credentials over
    /// configuration, `[registry] token` and `CARGO_REGISTRY_TOKEN` for `crates-io`.
    #[test]
    fn tokens_are_found_where_cargo_finds_them() {
        let text = "[registries.corp]\nindex = \"sparse+https://corp.example/index/\"\ntoken = \"from-config\"\n\n[registries.other]\nindex = \"sparse+https://other.example/\"\n";
        let index = |config: &CargoConfig| {
            config
                .index_for("sparse+https://corp.example/index/")
                .unwrap()
        };
        let mut config = config(text);
        assert!(config.has_tokens());
        assert_eq!(
            config.token_for(&index(&config)),
            Some(&Token::new("from-config"))
        );
        config
            .add_credentials(
                Path::new("home/credentials.toml"),
                "[registries.corp]\ntoken = \"from-credentials\"\n\n[registry]\ntoken = \"io\"\n",
            )
            .unwrap();
        assert_eq!(
            config.token_for(&index(&config)),
            Some(&Token::new("from-credentials"))
        );
        let other = config.index_for("sparse+https://other.example/").unwrap();
        assert_eq!(config.token_for(&other), None);
        let crates_io = RegistryIndex {
            url: url::Url::parse("https://index.example/").unwrap(),
            name: Some("crates-io".to_owned()),
        };
        assert_eq!(config.token_for(&crates_io), Some(&Token::new("io")));

        let env = config_env(
            text,
            &[
                ("CARGO_REGISTRIES_CORP_TOKEN", "from-env"),
                ("CARGO_REGISTRY_TOKEN", "io-env"),
            ],
        );
        assert_eq!(env.token_for(&index(&env)), Some(&Token::new("from-env")));
        assert_eq!(env.token_for(&crates_io), Some(&Token::new("io-env")));
        // A registry without a cargo name has no token.
        let unnamed = env.index_for("sparse+https://unnamed.example/").unwrap();
        assert_eq!(env.token_for(&unnamed), None);
        assert!(!config_env("", &[]).has_tokens());
        assert!(
            CargoConfig::from_parts(
                &[("c.toml".into(), "[registry]\ntoken = 1\n".into())],
                &BTreeMap::new()
            )
            .is_err()
        );
    }

    /// Not replaced, the default registry is read through the index cargo named; when cargo
    /// could not name one, the refusal says why. A replacement wins over the probed index.
    #[test]
    fn the_unreplaced_default_registry_is_read_through_cargos_index() {
        let default = crate::registry::default_registry_source_for_tests();
        let probed = url::Url::parse("https://index.example/").unwrap();
        let index = config("")
            .with_default_registry(Some(default.clone()))
            .with_default_index(Ok(probed.clone()))
            .index_for(&default)
            .unwrap();
        assert_eq!(index.url, probed);
        assert_eq!(index.name.as_deref(), Some("crates-io"));

        let err = config("")
            .with_default_registry(Some(default.clone()))
            .with_default_index(Err("no cargo".to_owned()))
            .index_for(&default)
            .unwrap_err();
        assert!(matches!(err, CargoError::DefaultIndex { .. }), "{err}");
        assert!(err.to_string().contains("no cargo"), "{err}");

        // Another git registry is not read through the default's index.
        let err = config("")
            .with_default_registry(Some(default.clone()))
            .with_default_index(Ok(probed.clone()))
            .index_for("registry+https://registry.example/index")
            .unwrap_err();
        assert!(matches!(err, CargoError::GitIndex { .. }), "{err}");

        let index = config(
            "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"sparse+https://mirror.example/index/\"\n",
        )
        .with_default_registry(Some(default.clone()))
        .with_default_index(Ok(probed))
        .index_for(&default)
        .unwrap();
        assert_eq!(index.url.as_str(), "https://mirror.example/index/");
    }

    #[test]
    fn crates_io_replacement_applies_to_the_default_registry() {
        let default = crate::registry::default_registry_source_for_tests();
        let replaced = config(
            r#"
[source.crates-io]
replace-with = "mirror"

[source.mirror]
registry = "sparse+https://mirror.example/index/"
"#,
        )
        .with_default_registry(Some(default.clone()));
        let index = replaced.index_for(&default).unwrap();
        assert_eq!(index.url.as_str(), "https://mirror.example/index/");
        // Other git registries are not crates-io.
        let err = replaced
            .index_for("registry+https://registry.example/index")
            .unwrap_err();
        assert!(matches!(err, CargoError::GitIndex { .. }), "{err}");

        let err = config("")
            .with_default_registry(Some(default.clone()))
            .index_for(&default)
            .unwrap_err();
        assert!(matches!(err, CargoError::GitIndex { .. }), "{err}");
        // Not knowing which registry is the default, the replacement applies to none.
        let unknown = config(
            "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"sparse+https://mirror.example/index/\"\n",
        );
        let err = unknown.index_for(&default).unwrap_err();
        assert!(matches!(err, CargoError::GitIndex { .. }), "{err}");
    }

    #[test]
    fn cycles_unknown_names_and_directory_sources_are_refused() {
        let cycle = config(
            r#"
[source.a]
registry = "sparse+https://registry.example/index/"
replace-with = "b"
[source.b]
replace-with = "c"
[source.c]
replace-with = "b"
"#,
        );
        let err = cycle
            .index_for("sparse+https://registry.example/index/")
            .unwrap_err();
        assert!(matches!(err, CargoError::ReplacementCycle { .. }), "{err}");
        assert!(err.to_string().contains("a -> b -> c -> b"), "{err}");

        let unknown = config(
            r#"
[source.a]
registry = "sparse+https://registry.example/index/"
replace-with = "nowhere"
"#,
        );
        let err = unknown
            .index_for("sparse+https://registry.example/index/")
            .unwrap_err();
        assert!(
            matches!(err, CargoError::UnknownReplacement { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`nowhere`"), "{err}");

        let vendored = config(
            r#"
[source.a]
registry = "sparse+https://registry.example/index/"
replace-with = "vendored"
[source.vendored]
directory = "vendor"
"#,
        );
        let err = vendored
            .index_for("sparse+https://registry.example/index/")
            .unwrap_err();
        assert!(
            matches!(err, CargoError::UnsupportedReplacement { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn credentials_and_plain_http_are_refused() {
        let err = config("")
            .index_for("sparse+https://user:secret@registry.example/index/")
            .unwrap_err();
        assert!(matches!(err, CargoError::UnsafeUrl { .. }), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");

        let err = config("")
            .index_for("sparse+http://registry.example/index/")
            .unwrap_err();
        assert!(matches!(err, CargoError::UnsafeUrl { .. }), "{err}");
    }

    #[test]
    fn two_tables_for_one_registry_are_ambiguous() {
        let config = config(
            r#"
[source.a]
registry = "sparse+https://registry.example/index/"
[source.b]
registry = "sparse+https://registry.example/index"
"#,
        );
        let err = config
            .index_for("sparse+https://registry.example/index/")
            .unwrap_err();
        assert!(matches!(err, CargoError::AmbiguousSource { .. }), "{err}");
    }

    #[test]
    fn later_files_override_earlier_ones_key_by_key() {
        let files = [
            (
                PathBuf::from("low.toml"),
                "[source.a]\nregistry = \"sparse+https://registry.example/index/\"\nreplace-with = \"x\"\n".to_owned(),
            ),
            (
                PathBuf::from("high.toml"),
                "[source.a]\nreplace-with = \"y\"\n[registries.y]\nindex = \"sparse+https://y.example/\"\n".to_owned(),
            ),
        ];
        let config = CargoConfig::from_parts(&files, &BTreeMap::new()).unwrap();
        let index = config
            .index_for("sparse+https://registry.example/index/")
            .unwrap();
        assert_eq!(index.url.as_str(), "https://y.example/");
    }

    #[test]
    fn bad_toml_names_its_file() {
        let err = CargoConfig::from_parts(
            &[("home/config.toml".into(), "[source\n".to_owned())],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("home/config.toml"), "{err}");
        let err = CargoConfig::from_parts(
            &[(
                "home/config.toml".into(),
                "[source.a]\nregistry = 3\n".to_owned(),
            )],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("source.a.registry"), "{err}");
    }
}
