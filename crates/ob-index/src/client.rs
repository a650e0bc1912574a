//! A Simple API client: project pages as PEP 691 JSON with PEP 503 HTML as the fallback, and
//! downloads whose sha256 is checked against what the index published. Uses the host's trust
//! store (SSL_CERT_FILE honoured) and proxy settings; credentials go only to the index's host.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::IndexError;
use crate::config::IndexUrl;

/// The `Accept` header: JSON first, HTML as the fallback every index speaks.
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// Whether `name` is a valid PEP 508 project name: ASCII letters and digits, with `-`, `_` and
/// `.` allowed inside. Nothing else may reach a URL built from a name.
pub fn is_valid_project_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// PEP 503 name normalization (lowercase, runs of `-`, `_` and `.` become one `-`) of a name
/// that may carry surrounding white space: the lock's rule, so names match across crates.
pub fn normalize_name(name: &str) -> String {
    ob_lock::normalize_name(name.trim())
}

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// File name, e.g. `idna-3.10.tar.gz`.
    pub filename: String,
    /// Absolute download URL (no fragment).
    pub url: Url,
    /// Published sha256 (lowercase hex), if the index gave one.
    pub sha256: Option<String>,
    /// Published size in bytes (PEP 700), if given.
    pub size: Option<u64>,
    /// Published upload time (PEP 700), if given.
    pub upload_time: Option<jiff::Timestamp>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// `requires-python` of the file, if given.
    pub requires_python: Option<String>,
}

impl IndexFile {
    /// Whether this is a source distribution (`.tar.gz`, or the legacy `.zip`).
    pub fn is_sdist(&self) -> bool {
        let lower = self.filename.to_ascii_lowercase();
        lower.ends_with(".tar.gz") || lower.ends_with(".zip")
    }

    /// The version part of an sdist file name (`name-version.tar.gz`), if it has one.
    pub fn sdist_version(&self) -> Option<&str> {
        let stem = self
            .filename
            .strip_suffix(".tar.gz")
            .or_else(|| self.filename.strip_suffix(".zip"))?;
        let (_, version) = stem.rsplit_once('-')?;
        (!version.is_empty()).then_some(version)
    }

    /// The name and version parts of a wheel file name, if this is one
    /// ([`ob_lock::wheel_release`]).
    pub fn wheel_release(&self) -> Option<(&str, &str)> {
        ob_lock::wheel_release(&self.filename)
    }
}

/// A project page: every file the index lists for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// Normalized project name.
    pub name: String,
    /// The page's URL.
    pub url: Url,
    /// Files in the order the index listed them.
    pub files: Vec<IndexFile>,
}

/// Talks to one package index.
#[derive(Debug, Clone)]
pub struct IndexClient {
    http: reqwest::Client,
    index: IndexUrl,
}

impl IndexClient {
    /// A client for `index`, with the host's trust store and proxy settings.
    pub fn new(index: IndexUrl) -> Result<IndexClient, IndexError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("offline-build/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| IndexError::Client { source })?;
        Ok(IndexClient { http, index })
    }

    /// The index this client talks to.
    pub fn index(&self) -> &IndexUrl {
        &self.index
    }

    /// Adds credentials, but only for the index's own host: a file hosted elsewhere never sees them.
    fn request(&self, url: &Url) -> reqwest::RequestBuilder {
        let request = self.http.get(url.clone());
        match self.index.credentials() {
            Some(credentials)
                if url.host_str() == self.index.url().host_str()
                    && url.port_or_known_default() == self.index.url().port_or_known_default() =>
            {
                request.basic_auth(&credentials.username, credentials.password.as_ref())
            }
            _ => request,
        }
    }

    /// Fetches the project page of `name` (normalized here).
    pub async fn project(&self, name: &str) -> Result<ProjectPage, IndexError> {
        if !is_valid_project_name(name.trim()) {
            return Err(IndexError::InvalidProjectName {
                project: name.to_string(),
            });
        }
        let name = normalize_name(name);
        let url = self.index.project_url(&name);
        let response = self
            .request(&url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(|source| IndexError::Request {
                url: url.to_string(),
                source,
            })?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(IndexError::ProjectNotFound {
                project: name,
                url: url.to_string(),
            });
        }
        if !response.status().is_success() {
            return Err(IndexError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        // Relative file URLs resolve against the final URL, after redirects.
        let base = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let body = response.text().await.map_err(|source| IndexError::Body {
            url: url.to_string(),
            source,
        })?;
        let files = if content_type.contains("json") {
            parse_json_page(&body, &base)
        } else {
            parse_html_page(&body, &base)
        }
        .map_err(|reason| IndexError::BadPage {
            url: url.to_string(),
            reason,
        })?;
        Ok(ProjectPage { name, url, files })
    }

    /// Downloads `file` whole and checks its sha256 against the published one. Refuses files
    /// listed without a sha256. Returns the bytes and their sha256.
    pub async fn download(&self, file: &IndexFile) -> Result<(Bytes, String), IndexError> {
        let expected = file.sha256.clone().ok_or_else(|| IndexError::NoHash {
            filename: file.filename.clone(),
            url: file.url.to_string(),
        })?;
        let response =
            self.request(&file.url)
                .send()
                .await
                .map_err(|source| IndexError::Request {
                    url: file.url.to_string(),
                    source,
                })?;
        if !response.status().is_success() {
            return Err(IndexError::Status {
                url: file.url.to_string(),
                status: response.status().as_u16(),
            });
        }
        // Hash while the body streams in; the bytes are kept because sdists are small and the
        // proxy serves them right after.
        let mut hasher = Sha256::new();
        let mut body = Vec::with_capacity(file.size.unwrap_or(0).min(64 << 20) as usize);
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| IndexError::Body {
                url: file.url.to_string(),
                source,
            })?;
            hasher.update(&chunk);
            body.extend_from_slice(&chunk);
        }
        let computed = hex::encode(hasher.finalize());
        if computed != expected {
            return Err(IndexError::HashMismatch {
                filename: file.filename.clone(),
                url: file.url.to_string(),
                expected,
                computed,
            });
        }
        Ok((Bytes::from(body), computed))
    }
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
}

/// PEP 691 JSON.
pub(crate) fn parse_json_page(body: &str, base: &Url) -> Result<Vec<IndexFile>, String> {
    let page: JsonPage = serde_json::from_str(body).map_err(|err| err.to_string())?;
    page.files
        .into_iter()
        .map(|file| {
            let url = base
                .join(&file.url)
                .map_err(|err| format!("bad URL for `{}`: {err}", file.filename))?;
            let upload_time = match file.upload_time {
                Some(text) => Some(text.parse::<jiff::Timestamp>().map_err(|err| {
                    format!("bad upload-time `{text}` for `{}`: {err}", file.filename)
                })?),
                None => None,
            };
            let yanked = match file.yanked {
                Some(serde_json::Value::Bool(true)) => Some(String::new()),
                Some(serde_json::Value::String(reason)) => Some(reason),
                _ => None,
            };
            Ok(IndexFile {
                filename: file.filename,
                url: strip_fragment(url),
                sha256: file
                    .hashes
                    .get("sha256")
                    .map(|hash| hash.to_ascii_lowercase()),
                size: file.size,
                upload_time,
                yanked,
                requires_python: file.requires_python,
            })
        })
        .collect()
}

fn strip_fragment(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// PEP 503 HTML: one `<a href="…#sha256=…">filename</a>` per file.
pub(crate) fn parse_html_page(body: &str, base: &Url) -> Result<Vec<IndexFile>, String> {
    let mut files = Vec::new();
    let mut rest = body;
    while let Some(start) = find_ignore_case(rest, "<a ") {
        let after = &rest[start + 3..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let attributes = &after[..tag_end];
        let Some(close) = find_ignore_case(&after[tag_end..], "</a>") else {
            break;
        };
        let text = unescape(after[tag_end + 1..tag_end + close].trim());
        rest = &after[tag_end + close..];
        let Some(href) = attribute(attributes, "href") else {
            continue;
        };
        let href = unescape(&href);
        let url = base
            .join(&href)
            .map_err(|err| format!("bad link `{href}`: {err}"))?;
        let sha256 = url.fragment().and_then(|fragment| {
            fragment
                .strip_prefix("sha256=")
                .map(|hash| hash.to_ascii_lowercase())
        });
        files.push(IndexFile {
            filename: text,
            url: strip_fragment(url),
            sha256,
            size: None,
            upload_time: None,
            yanked: attribute(attributes, "data-yanked").map(|reason| unescape(&reason)),
            requires_python: attribute(attributes, "data-requires-python")
                .map(|value| unescape(&value)),
        });
    }
    Ok(files)
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

/// The value of `name="…"` (or `'…'`, or a bare `name` with no value, which reads as empty).
fn attribute(attributes: &str, name: &str) -> Option<String> {
    let lower = attributes.to_ascii_lowercase();
    let mut search_from = 0;
    while let Some(found) = lower[search_from..].find(name) {
        let start = search_from + found;
        search_from = start + name.len();
        let preceded_ok = start == 0
            || lower[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
        let after = &attributes[start + name.len()..];
        let trimmed = after.trim_start();
        if !preceded_ok {
            continue;
        }
        if let Some(value) = trimmed.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let inner = &value[1..];
                return inner.find(quote).map(|end| inner[..end].to_string());
            }
            let end = value.find(char::is_whitespace).unwrap_or(value.len());
            return Some(value[..end].to_string());
        }
        if after.is_empty() || after.starts_with(char::is_whitespace) {
            return Some(String::new());
        }
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_like_pep_503() {
        assert_eq!(normalize_name("Flit_Core"), "flit-core");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a-_.b"), "a-b");
    }

    #[test]
    fn json_page_with_relative_urls_and_pep_700_fields() {
        let base = Url::parse("http://127.0.0.1:1/simple/demo/").unwrap();
        let body = r#"{"meta":{"api-version":"1.1"},"name":"demo","files":[
            {"filename":"demo-1.0.tar.gz","url":"../../files/demo-1.0.tar.gz#sha256=AB",
             "hashes":{"sha256":"AB"},"size":10,"upload-time":"2024-01-02T03:04:05.123456Z",
             "requires-python":">=3.8","yanked":false},
            {"filename":"demo-1.0-py3-none-any.whl","url":"http://127.0.0.1:1/w.whl","hashes":{},"yanked":"broken"}]}"#;
        let files = parse_json_page(body, &base).unwrap();
        assert_eq!(
            files[0].url.as_str(),
            "http://127.0.0.1:1/files/demo-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        assert_eq!(files[0].size, Some(10));
        assert_eq!(
            files[0].upload_time.unwrap().to_string(),
            "2024-01-02T03:04:05.123456Z"
        );
        assert!(files[0].is_sdist());
        assert_eq!(files[0].sdist_version(), Some("1.0"));
        assert_eq!(files[1].yanked.as_deref(), Some("broken"));
        assert!(!files[1].is_sdist());
    }

    #[test]
    fn html_page_with_hash_fragment_and_data_attributes() {
        let base = Url::parse("http://127.0.0.1:1/simple/demo/").unwrap();
        let body = r#"<!DOCTYPE html><html><body>
            <a href="/f/demo-1.0.tar.gz#sha256=cd" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a><br/>
            <A HREF='/f/demo-0.9.zip' data-yanked>demo-0.9.zip</A>
            </body></html>"#;
        let files = parse_html_page(body, &base).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].url.as_str(),
            "http://127.0.0.1:1/f/demo-1.0.tar.gz"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("cd"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[1].filename, "demo-0.9.zip");
        assert_eq!(files[1].sha256, None);
        assert_eq!(files[1].yanked.as_deref(), Some(""));
    }
}
