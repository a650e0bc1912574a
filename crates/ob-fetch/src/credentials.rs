//! Credentials for private indexes: from the index URLs of pip's configuration (`PIP_INDEX_URL`,
//! `PIP_EXTRA_INDEX_URL`, pip's config files) and from netrc (`$NETRC` or `~/.netrc`). They are
//! matched by host and port, sent only as a basic `Authorization` header, and never printed.

use std::fmt;
use std::path::PathBuf;

use url::Url;

/// A user name and optional password for one host.
#[derive(Clone, PartialEq, Eq)]
struct HostCredential {
    /// Lowercase host; `None` is netrc's `default`.
    host: Option<String>,
    /// Port, when the source named one (index URLs do; netrc does not).
    port: Option<u16>,
    username: String,
    password: Option<String>,
}

/// Credentials by host. `Debug` shows hosts only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Index URL credentials first: they are the most specific.
    entries: Vec<HostCredential>,
    /// The one host netrc's `default` entry is sent to: the lock's index. Without it, never:
    /// a `default` entry is meant for "the" server, not for wherever a lock's URL points.
    default_host: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|entry| entry.host.as_deref().unwrap_or("default")),
            )
            .finish()
    }
}

impl Credentials {
    /// No credentials at all.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Credentials from the environment: index URLs with user info from `PIP_INDEX_URL`,
    /// `PIP_EXTRA_INDEX_URL` and pip's config files, then netrc (`$NETRC`, else `~/.netrc`).
    /// Unreadable files are skipped: credentials are optional.
    pub fn from_environment() -> Credentials {
        let mut credentials = Credentials::none();
        for variable in ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"] {
            if let Ok(value) = std::env::var(variable) {
                for url in value.split_whitespace() {
                    credentials.add_index_url(url);
                }
            }
        }
        for path in ob_index::config::default_pip_config_files() {
            if let Ok(text) = fs_err::read_to_string(&path) {
                for url in index_urls_in_pip_config(&text) {
                    credentials.add_index_url(&url);
                }
            }
        }
        let netrc = std::env::var_os("NETRC")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".netrc")));
        if let Some(text) = netrc.and_then(|path| fs_err::read_to_string(path).ok()) {
            credentials.add_netrc(&text);
        }
        credentials
    }

    /// Adds the user info of an index URL (`https://user:secret@host/simple`), if it has any.
    pub fn add_index_url(&mut self, url: &str) {
        let Ok(url) = Url::parse(url) else {
            return;
        };
        if url.username().is_empty() {
            return;
        }
        let Some(host) = url.host_str() else {
            return;
        };
        self.entries.push(HostCredential {
            host: Some(host.to_ascii_lowercase()),
            port: url.port_or_known_default(),
            username: percent_decode(url.username()),
            password: url.password().map(percent_decode),
        });
    }

    /// Adds the entries of a netrc file (`machine`, `login`, `password`, `default`; `macdef`
    /// bodies are skipped).
    pub fn add_netrc(&mut self, text: &str) {
        let mut tokens = Vec::new();
        let mut in_macro = false;
        for line in text.lines() {
            if in_macro {
                // A macro definition runs to the first empty line.
                in_macro = !line.trim().is_empty();
                continue;
            }
            if line.trim_start().starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                if word == "macdef" {
                    in_macro = true;
                    break;
                }
                tokens.push(word.to_owned());
            }
        }
        let mut current: Option<HostCredential> = None;
        let mut tokens = tokens.into_iter();
        while let Some(token) = tokens.next() {
            match token.as_str() {
                "machine" | "default" => {
                    if let Some(done) = current.take() {
                        self.push_netrc(done);
                    }
                    let host = if token == "machine" {
                        tokens.next().map(|host| host.to_ascii_lowercase())
                    } else {
                        None
                    };
                    current = Some(HostCredential {
                        host,
                        port: None,
                        username: String::new(),
                        password: None,
                    });
                }
                "login" => {
                    if let (Some(entry), Some(value)) = (current.as_mut(), tokens.next()) {
                        entry.username = value;
                    }
                }
                "password" => {
                    if let (Some(entry), Some(value)) = (current.as_mut(), tokens.next()) {
                        entry.password = Some(value);
                    }
                }
                "account" => {
                    let _ = tokens.next();
                }
                _ => {}
            }
        }
        if let Some(done) = current {
            self.push_netrc(done);
        }
    }

    fn push_netrc(&mut self, entry: HostCredential) {
        if !entry.username.is_empty() || entry.password.is_some() {
            self.entries.push(entry);
        }
    }

    /// Lets netrc's `default` entry go to the host of `index_url` (the lock's index) only.
    pub fn default_for_index(mut self, index_url: &str) -> Credentials {
        self.default_host = Url::parse(index_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
        self
    }

    /// The user name and password to send to `url`'s host, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<(&str, Option<&str>)> {
        let host = url.host_str()?.to_ascii_lowercase();
        let port = url.port_or_known_default();
        let specific = self.entries.iter().find(|entry| {
            entry.host.as_deref() == Some(host.as_str())
                && entry.port.is_none_or(|wanted| Some(wanted) == port)
        });
        let default = || {
            (self.default_host.as_deref() == Some(host.as_str()))
                .then(|| self.entries.iter().find(|entry| entry.host.is_none()))
                .flatten()
        };
        let chosen = specific.or_else(default)?;
        Some((chosen.username.as_str(), chosen.password.as_deref()))
    }
}

/// The values of `index-url` and `extra-index-url` in a pip config file (INI; values may
/// continue on indented lines).
fn index_urls_in_pip_config(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut continuing = false;
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if continuing && indented {
            urls.extend(trimmed.split_whitespace().map(str::to_owned));
            continue;
        }
        continuing = false;
        let Some((key, value)) = trimmed.split_once(['=', ':']) else {
            continue;
        };
        let key = key.trim().replace('_', "-");
        if key == "index-url" || key == "extra-index-url" {
            urls.extend(value.split_whitespace().map(str::to_owned));
            continuing = true;
        }
    }
    urls
}

/// Decodes `%XX` escapes of URL user info.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn index_url_credentials_match_host_and_port() {
        let mut credentials = Credentials::none();
        credentials.add_index_url("https://me:s%40cret@private.example:8443/simple");
        assert_eq!(
            credentials.for_url(&url("https://private.example:8443/files/a.tar.gz")),
            Some(("me", Some("s@cret")))
        );
        assert_eq!(
            credentials.for_url(&url("https://private.example/files/a.tar.gz")),
            None
        );
    }

    #[test]
    fn netrc_machine_then_default() {
        let mut credentials = Credentials::none();
        credentials.add_netrc(
            "machine files.example login alice password one\n\
             macdef init\nlogin mallory password nope\n\n\
             default login bob password two\n",
        );
        assert_eq!(
            credentials.for_url(&url("https://FILES.example/x")),
            Some(("alice", Some("one")))
        );
        // netrc's `default` goes to the lock's index only, never to any host a URL names.
        assert_eq!(credentials.for_url(&url("https://other.example/x")), None);
        let credentials = credentials.default_for_index("https://index.example/simple/");
        assert_eq!(
            credentials.for_url(&url("https://index.example/files/x")),
            Some(("bob", Some("two")))
        );
        assert_eq!(credentials.for_url(&url("https://other.example/x")), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut credentials = Credentials::none();
        credentials.add_index_url("https://me:hunter2@private.example/simple");
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("me"),
            "{shown}"
        );
    }

    #[test]
    fn pip_config_index_urls_with_continuations() {
        let urls = index_urls_in_pip_config(
            "[global]\nindex-url = https://a.example/simple\nextra-index-url =\n    https://b.example/simple\n    https://c.example/simple\ntimeout = 3\n",
        );
        assert_eq!(
            urls,
            [
                "https://a.example/simple",
                "https://b.example/simple",
                "https://c.example/simple"
            ]
        );
    }
}
