//! A PEP 503 / PEP 691 package index served on loopback from fixture files (owned by the resolve
//! work). It runs on a thread of its own, so plain tests, tokio tests and tests that start the
//! `offline-build` binary can all use it; it records every request, and can be told to lie.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::http::{LoopbackServer, respond};

/// Upload time given to fixture files unless a test says otherwise.
pub const DEFAULT_UPLOAD_TIME: &str = "2024-01-01T00:00:00Z";

/// One file the test index lists.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// Project name as listed (normalized when served).
    pub project: String,
    /// File name.
    pub filename: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// RFC 3339 upload time, or none (the page then has no `upload-time`).
    pub upload_time: Option<String>,
    /// `requires-python`, if any.
    pub requires_python: Option<String>,
}

impl IndexEntry {
    /// An entry for a file on disk, with [`DEFAULT_UPLOAD_TIME`].
    pub fn from_file(project: &str, path: &Path) -> IndexEntry {
        let bytes = fs_err::read(path).unwrap_or_else(|err| panic!("{err}"));
        let filename = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| panic!("`{}` has no file name", path.display()));
        IndexEntry {
            project: project.to_string(),
            filename,
            bytes,
            upload_time: Some(DEFAULT_UPLOAD_TIME.to_string()),
            requires_python: None,
        }
    }

    /// The same entry with another upload time.
    pub fn uploaded(mut self, upload_time: &str) -> IndexEntry {
        self.upload_time = Some(upload_time.to_string());
        self
    }

    /// Lowercase hex sha256 of the content.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// How the test index misbehaves, for the tests of what we do when an index cannot be trusted.
#[derive(Debug, Clone, Default)]
pub struct Misbehaviour {
    /// Serve these file names with one byte changed (the page keeps the true hash).
    pub corrupt: Vec<String>,
    /// Answer project pages as PEP 503 HTML only, never JSON.
    pub html_only: bool,
}

struct Shared {
    entries: Vec<IndexEntry>,
    misbehaviour: Misbehaviour,
    requests: Mutex<Vec<String>>,
}

/// A running test index; stops when dropped.
pub struct TestIndex {
    shared: Arc<Shared>,
    server: LoopbackServer,
}

fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut separator = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            if !separator {
                out.push('-');
            }
            separator = true;
        } else {
            out.push(character.to_ascii_lowercase());
            separator = false;
        }
    }
    out
}

impl TestIndex {
    /// Serves `entries` on 127.0.0.1 at a free port.
    pub fn serve(entries: Vec<IndexEntry>) -> TestIndex {
        TestIndex::serve_with(entries, Misbehaviour::default())
    }

    /// Serves `entries`, misbehaving as told.
    pub fn serve_with(entries: Vec<IndexEntry>, misbehaviour: Misbehaviour) -> TestIndex {
        let shared = Arc::new(Shared {
            entries,
            misbehaviour,
            requests: Mutex::new(Vec::new()),
        });
        let handler_shared = shared.clone();
        let server =
            LoopbackServer::start(Arc::new(move |request| answer(&handler_shared, request)));
        TestIndex { shared, server }
    }

    /// The Simple API base URL: `http://127.0.0.1:<port>/simple/`.
    pub fn url(&self) -> String {
        format!("http://{}/simple/", self.server.address)
    }

    /// Every request path so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

fn answer<B>(shared: &Shared, request: &Request<B>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    shared
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(path.clone());
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["simple", project] => {
            let project = normalize(project);
            let files: Vec<&IndexEntry> = shared
                .entries
                .iter()
                .filter(|entry| normalize(&entry.project) == project)
                .collect();
            if files.is_empty() {
                return respond(StatusCode::NOT_FOUND, "text/plain", "not found\n");
            }
            let wants_json = !shared.misbehaviour.html_only
                && request
                    .headers()
                    .get("accept")
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|accept| accept.contains("application/vnd.pypi.simple.v1+json"));
            // Relative URLs, as real indexes use them, so that clients must resolve them.
            let file_url = |entry: &IndexEntry| format!("../../files/{}", entry.filename);
            if wants_json {
                let files: Vec<serde_json::Value> = files
                    .iter()
                    .map(|entry| {
                        let mut value = serde_json::json!({
                            "filename": entry.filename,
                            "url": file_url(entry),
                            "hashes": {"sha256": entry.sha256()},
                            "size": entry.bytes.len(),
                            "yanked": false,
                        });
                        if let Some(time) = &entry.upload_time {
                            value["upload-time"] = time.clone().into();
                        }
                        if let Some(requires_python) = &entry.requires_python {
                            value["requires-python"] = requires_python.clone().into();
                        }
                        value
                    })
                    .collect();
                let body = serde_json::json!({
                    "meta": {"api-version": "1.1"},
                    "name": project,
                    "files": files,
                });
                respond(
                    StatusCode::OK,
                    "application/vnd.pypi.simple.v1+json",
                    body.to_string(),
                )
            } else {
                let mut body = String::from("<!DOCTYPE html><html><body>\n");
                for entry in files {
                    body.push_str(&format!(
                        "<a href=\"{}#sha256={}\">{}</a><br/>\n",
                        file_url(entry),
                        entry.sha256(),
                        entry.filename
                    ));
                }
                body.push_str("</body></html>\n");
                respond(StatusCode::OK, "text/html", body)
            }
        }
        ["files", filename] => {
            let Some(entry) = shared
                .entries
                .iter()
                .find(|entry| entry.filename == *filename)
            else {
                return respond(StatusCode::NOT_FOUND, "text/plain", "not found\n");
            };
            let mut bytes = entry.bytes.clone();
            if shared.misbehaviour.corrupt.contains(&entry.filename)
                && let Some(first) = bytes.first_mut()
            {
                *first ^= 0xff;
            }
            respond(StatusCode::OK, "application/octet-stream", bytes)
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Packs every directory under `fixtures/resolve/<case>/` that holds a `pyproject.toml` into
/// `out_dir`, and returns index entries for them (project name from the packed sdist).
pub fn pack_resolve_fixtures(case: &str, out_dir: &Path) -> Vec<IndexEntry> {
    let root = crate::repo_root().join("fixtures/resolve").join(case);
    let mut trees: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap_or_else(|err| panic!("{err}"))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.join("pyproject.toml").is_file())
        .collect();
    trees.sort();
    let mut entries: BTreeMap<String, IndexEntry> = BTreeMap::new();
    for tree in trees {
        let packed = crate::sdist::pack(&tree, out_dir)
            .unwrap_or_else(|err| panic!("packing `{}`: {err}", tree.display()));
        let entry = IndexEntry::from_file(&packed.name, &packed.path);
        entries.insert(packed.filename.clone(), entry);
    }
    entries.into_values().collect()
}
