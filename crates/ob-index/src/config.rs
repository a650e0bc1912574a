//! Where the package index is: the same place pip would look (`PIP_INDEX_URL`, then pip's
//! configuration files, then pip's built-in default asked of the host's pip at run time), with
//! any credentials split off so that they never reach the lock, a log or a container.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use url::Url;

use crate::IndexError;

/// Environment variable pip reads the index URL from; it wins over every configuration file.
pub const INDEX_URL_ENV: &str = "PIP_INDEX_URL";

/// Where an index URL came from, for `doctor` and for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexSource {
    /// Given on the command line (`--index-url`).
    CommandLine,
    /// Read from an environment variable (`PIP_INDEX_URL`).
    Environment(String),
    /// `index-url` in this pip configuration file, in the named section (`global` or `install`).
    ConfigFile {
        /// The configuration file.
        path: PathBuf,
        /// The section that set it.
        section: String,
    },
    /// pip's built-in default, asked of this Python interpreter's pip.
    PipDefault {
        /// The interpreter that was asked (e.g. `python3`).
        python: String,
    },
}

impl fmt::Display for IndexSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexSource::CommandLine => write!(f, "--index-url"),
            IndexSource::Environment(var) => write!(f, "environment variable {var}"),
            IndexSource::ConfigFile { path, section } => {
                write!(f, "[{section}] index-url in {}", path.display())
            }
            IndexSource::PipDefault { python } => write!(f, "pip's default (asked `{python}`)"),
        }
    }
}

/// User name and password taken out of an index URL. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (percent-decoded).
    pub username: String,
    /// The password or token (percent-decoded), if one was given.
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A Simple API base URL (e.g. `https://host/simple/`) without credentials, plus the credentials
/// to send and where the URL came from. `Display` shows the URL without credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrl {
    url: Url,
    credentials: Option<Credentials>,
    source: IndexSource,
}

impl IndexUrl {
    /// Parses `raw`, splits off any `user:password@`, and makes sure the path ends in `/` so that
    /// project pages join under it.
    pub fn parse(raw: &str, source: IndexSource) -> Result<IndexUrl, IndexError> {
        let mut url = Url::parse(raw.trim()).map_err(|err| IndexError::InvalidUrl {
            url: redact(raw),
            origin: source.clone(),
            reason: err.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(IndexError::InvalidUrl {
                url: redact(raw),
                origin: source,
                reason: "an index URL must be http or https and name a host".to_string(),
            });
        }
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(text)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some(Credentials {
                username: decode(url.username()),
                password: url.password().map(decode),
            })
        };
        // Neither can fail on an http(s) URL that has a host, which was checked above.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_fragment(None);
        url.set_query(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(IndexUrl {
            url,
            credentials,
            source,
        })
    }

    /// The URL without credentials: safe to log and to write into the lock.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The credentials to send with every request, if the configured URL carried any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Where the URL came from.
    pub fn source(&self) -> &IndexSource {
        &self.source
    }

    /// The project page URL for a normalized project name: `<base>/<name>/`.
    pub fn project_url(&self, normalized_name: &str) -> Url {
        // Pushed as one path segment, never joined: `Url::join` would read `..` or a scheme in
        // the name as a path or a host of its own.
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(normalized_name).push("");
        }
        url
    }
}

impl fmt::Display for IndexUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

/// Replaces the user-info part of a URL-ish string so that an error message can quote it safely.
pub(crate) fn redact(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &raw[..scheme_end], &raw[at + 1..])
        }
        _ => raw.to_string(),
    }
}

/// Where pip would look for packages on this host: `PIP_INDEX_URL`, then `index-url` in pip's
/// configuration files (the last file that sets it wins, `[install]` over `[global]`), then pip's
/// built-in default asked of `python3`'s pip.
pub fn default_index_url() -> Result<IndexUrl, IndexError> {
    let value = std::env::var(INDEX_URL_ENV)
        .ok()
        .filter(|value| !value.is_empty());
    resolve_index_url(value.as_deref(), &default_pip_config_files(), "python3")
}

/// pip's configuration files for this process's environment, in pip's load order (see
/// [`pip_config_files`]). Fetch reads credentials from the same files.
pub fn default_pip_config_files() -> Vec<PathBuf> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    pip_config_files(
        env("PIP_CONFIG_FILE").map(PathBuf::from),
        env("XDG_CONFIG_DIRS"),
        env("XDG_CONFIG_HOME").map(PathBuf::from),
        env("HOME").map(PathBuf::from),
    )
}

/// The pure part of [`default_index_url`], with every input passed in (tests use this).
pub fn resolve_index_url(
    env_value: Option<&str>,
    config_files: &[PathBuf],
    python: &str,
) -> Result<IndexUrl, IndexError> {
    if let Some(value) = env_value {
        return IndexUrl::parse(value, IndexSource::Environment(INDEX_URL_ENV.to_string()));
    }
    let mut found = None;
    for path in config_files {
        if let Some((value, section)) = index_url_in_config(path)? {
            found = Some((value, path.clone(), section));
        }
    }
    if let Some((value, path, section)) = found {
        return IndexUrl::parse(&value, IndexSource::ConfigFile { path, section });
    }
    let value = pip_builtin_default(python)?;
    IndexUrl::parse(
        &value,
        IndexSource::PipDefault {
            python: python.to_string(),
        },
    )
}

/// pip's configuration files in pip's load order (later ones override earlier ones): global
/// (`$XDG_CONFIG_DIRS/pip/pip.conf`, `/etc/pip.conf`), then `PIP_CONFIG_FILE` (which, when it
/// exists, makes pip skip the user files), else the user files (`~/.pip/pip.conf`,
/// `$XDG_CONFIG_HOME/pip/pip.conf`). Missing files are kept in the list and skipped when read.
pub fn pip_config_files(
    pip_config_file: Option<PathBuf>,
    xdg_config_dirs: Option<String>,
    xdg_config_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let dirs = xdg_config_dirs.unwrap_or_else(|| "/etc/xdg".to_string());
    for dir in dirs.split(':').filter(|dir| !dir.is_empty()) {
        files.push(Path::new(dir).join("pip").join("pip.conf"));
    }
    files.push(PathBuf::from("/etc/pip.conf"));
    // pip treats PIP_CONFIG_FILE=/dev/null as "no configuration file".
    let env_file = pip_config_file.filter(|path| path != Path::new("/dev/null"));
    match env_file {
        Some(path) if path.exists() => files.push(path),
        other => {
            if let Some(home) = &home {
                files.push(home.join(".pip").join("pip.conf"));
            }
            let config_home = xdg_config_home.or_else(|| home.map(|home| home.join(".config")));
            if let Some(config_home) = config_home {
                files.push(config_home.join("pip").join("pip.conf"));
            }
            files.extend(other);
        }
    }
    files
}

/// `index-url` from one pip configuration file: `[install]` wins over `[global]`. A missing file
/// is not an error (pip skips it too).
fn index_url_in_config(path: &Path) -> Result<Option<(String, String)>, IndexError> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(IndexError::ConfigRead {
                path: path.to_path_buf(),
                source: err,
            });
        }
    };
    let mut section = String::new();
    let mut global = None;
    let mut install = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        // pip normalises `index_url` to `index-url`.
        if !key
            .trim()
            .replace('_', "-")
            .eq_ignore_ascii_case("index-url")
        {
            continue;
        }
        let value = value.trim().to_string();
        match section.as_str() {
            "global" => global = Some(value),
            "install" => install = Some(value),
            _ => {}
        }
    }
    Ok(install
        .map(|value| (value, "install".to_string()))
        .or_else(|| global.map(|value| (value, "global".to_string()))))
}

/// Asks the host's pip for its built-in default index, so that no index host is written into
/// this project: first pip's own constant, then the `(default …)` in `pip install --help`.
fn pip_builtin_default(python: &str) -> Result<String, IndexError> {
    let clean = |command: &mut Command| {
        // Only the answer to our question matters: keep the host's pip settings out of it.
        command
            .env_remove(INDEX_URL_ENV)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .stdin(std::process::Stdio::null());
    };
    let mut constant = Command::new(python);
    constant.args([
        "-c",
        "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
    ]);
    clean(&mut constant);
    let first_error = match constant.output() {
        Ok(output) if output.status.success() => {
            let value = String::from_utf8_lossy(&output.stdout).trim().to_string();
            if !value.is_empty() {
                return Ok(value);
            }
            "it printed nothing".to_string()
        }
        Ok(output) => last_line(&output.stderr),
        Err(err) => {
            return Err(IndexError::PipDefault {
                python: python.to_string(),
                reason: format!("could not run it: {err}"),
            });
        }
    };
    let mut help = Command::new(python);
    help.args(["-m", "pip", "install", "--help"]);
    clean(&mut help);
    if let Ok(output) = help.output() {
        let text = String::from_utf8_lossy(&output.stdout);
        if let Some(value) = default_in_help(&text) {
            return Ok(value);
        }
    }
    Err(IndexError::PipDefault {
        python: python.to_string(),
        reason: first_error,
    })
}

/// The URL in the `--index-url` help text's `(default <url>)`; help text wraps, so join lines.
fn default_in_help(help: &str) -> Option<String> {
    let joined = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = joined.find("--index-url")?;
    let rest = &joined[start..];
    let default = rest.find("(default ")?;
    let after = &rest[default + "(default ".len()..];
    let end = after.find(')')?;
    let value = after[..end].trim();
    value.contains("://").then(|| value.to_string())
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("it failed without a message")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs_err::write(&path, text).unwrap();
        path
    }

    #[test]
    fn environment_wins_and_credentials_are_split_off() {
        let url = resolve_index_url(
            Some("https://alice:s%40cret@index.example.test/simple"),
            &[],
            "python-that-does-not-exist",
        )
        .unwrap();
        assert_eq!(url.to_string(), "https://index.example.test/simple/");
        assert_eq!(
            url.source(),
            &IndexSource::Environment("PIP_INDEX_URL".into())
        );
        let credentials = url.credentials().unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.password.as_deref(), Some("s@cret"));
        assert!(!format!("{url:?}").contains("s@cret"));
        assert_eq!(
            url.project_url("idna").as_str(),
            "https://index.example.test/simple/idna/"
        );
    }

    #[test]
    fn last_config_file_wins_and_install_section_beats_global() {
        let dir = tempfile::tempdir().unwrap();
        let first = write(
            dir.path(),
            "a.conf",
            "[global]\nindex-url = http://127.0.0.1:1/first\n",
        );
        let second = write(
            dir.path(),
            "b.conf",
            "# comment\n[install]\nindex_url=http://127.0.0.1:1/install\n[global]\nindex-url = http://127.0.0.1:1/global\ncert = /x\n",
        );
        let missing = dir.path().join("missing.conf");
        let url = resolve_index_url(None, &[first, second.clone(), missing], "nope").unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:1/install/");
        assert_eq!(
            url.source(),
            &IndexSource::ConfigFile {
                path: second,
                section: "install".into()
            }
        );
    }

    #[test]
    fn config_file_without_index_url_falls_through_to_pip() {
        let dir = tempfile::tempdir().unwrap();
        let conf = write(dir.path(), "pip.conf", "[global]\ncert = /etc/ssl/x\n");
        // The host's pip answers with its built-in default; we only check its shape.
        let url = resolve_index_url(None, &[conf], "python3").unwrap();
        assert!(matches!(url.source(), IndexSource::PipDefault { .. }));
        assert!(url.url().scheme() == "https" || url.url().scheme() == "http");
        assert!(url.url().path().ends_with('/'));
    }

    #[test]
    fn missing_python_is_a_clear_error() {
        let err = resolve_index_url(None, &[], "python-that-does-not-exist").unwrap_err();
        assert!(
            err.to_string().contains("python-that-does-not-exist"),
            "{err}"
        );
    }

    #[test]
    fn pip_config_file_replaces_user_files_only_when_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let env_file = write(dir.path(), "env.conf", "");
        let home = PathBuf::from("/home/u");
        let with = pip_config_files(Some(env_file.clone()), None, None, Some(home.clone()));
        assert_eq!(
            with,
            vec![
                PathBuf::from("/etc/xdg/pip/pip.conf"),
                PathBuf::from("/etc/pip.conf"),
                env_file
            ]
        );
        let without = pip_config_files(None, None, None, Some(home));
        assert_eq!(
            without,
            vec![
                PathBuf::from("/etc/xdg/pip/pip.conf"),
                PathBuf::from("/etc/pip.conf"),
                PathBuf::from("/home/u/.pip/pip.conf"),
                PathBuf::from("/home/u/.config/pip/pip.conf"),
            ]
        );
    }

    #[test]
    fn help_text_default_is_found_across_line_wraps() {
        let help = "  -i, --index-url <url>  Base URL of the Python Package Index (default\n                     http://127.0.0.1:9/simple). This should point\n";
        assert_eq!(
            default_in_help(help).as_deref(),
            Some("http://127.0.0.1:9/simple")
        );
    }

    #[test]
    fn invalid_url_names_the_source_and_hides_the_password() {
        let err = IndexUrl::parse("ftp://bob:pw@host/x", IndexSource::CommandLine).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("pw"), "{message}");
        assert!(message.contains("--index-url"), "{message}");
    }
}
