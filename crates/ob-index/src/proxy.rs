//! The recording index proxy: the only service the resolve container can reach. It answers
//! project pages (sdists only, each with a published sha256, none uploaded after
//! `exclude-newer`) and the files those pages list, nothing else, and records every file it
//! served with the sha256, size and upload time that we computed and checked.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::IndexError;
use crate::client::{IndexClient, IndexFile, ProjectPage, is_valid_project_name, normalize_name};

/// Characters that stay as they are in a file name inside a URL path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+')
    .remove(b'!');

/// What the proxy lets through.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Hide files uploaded after this instant (and files without an upload time).
    pub exclude_newer: Option<jiff::Timestamp>,
    /// Keep verified sdists here, named by sha256, so a second resolve does not download again.
    pub cache_dir: Option<PathBuf>,
}

/// A file the proxy served, with facts we computed ourselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedFile {
    /// Normalized project name.
    pub project: String,
    /// File name.
    pub filename: String,
    /// Where the index serves it (no credentials).
    pub url: String,
    /// sha256 of the bytes served (equal to the index's published one, or it was not served).
    pub sha256: String,
    /// Size in bytes of what was served.
    pub size: u64,
    /// The index's upload time, if it published one.
    pub upload_time: Option<jiff::Timestamp>,
}

/// Something the proxy would not or could not answer, kept for the error report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request path.
    pub path: String,
    /// Why it was refused (an upstream error is rendered with its causes).
    pub reason: String,
}

struct State {
    client: IndexClient,
    config: ProxyConfig,
    /// Filtered project pages, fetched once per run so every answer in a run agrees.
    pages: Mutex<HashMap<String, Arc<ProjectPage>>>,
    served: Mutex<BTreeMap<String, ServedFile>>,
    refused: Mutex<Vec<Refusal>>,
}

/// A running proxy; stop it with [`IndexProxy::stop`] (dropping it stops it too).
pub struct IndexProxy {
    address: SocketAddr,
    state: Arc<State>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for IndexProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexProxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl IndexProxy {
    /// Listens on `bind` (port 0 picks one) and serves until stopped.
    pub async fn start(
        client: IndexClient,
        bind: SocketAddr,
        config: ProxyConfig,
    ) -> Result<IndexProxy, IndexError> {
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| IndexError::Bind {
                address: bind,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| IndexError::Bind {
            address: bind,
            source,
        })?;
        let state = Arc::new(State {
            client,
            config,
            pages: Mutex::new(HashMap::new()),
            served: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(Vec::new()),
        });
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            // Connections live in this set so that aborting the server aborts them too.
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _peer)) = listener.accept().await else {
                    continue;
                };
                let state = server_state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(IndexProxy {
            address,
            state,
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The Simple API base URL to give pip: `http://<address>/simple/`.
    pub fn simple_url(&self) -> String {
        format!("http://{}/simple/", self.address)
    }

    /// Every file served so far, by file name.
    pub fn served(&self) -> BTreeMap<String, ServedFile> {
        lock(&self.state.served).clone()
    }

    /// Every request refused so far, in order.
    pub fn refused(&self) -> Vec<Refusal> {
        lock(&self.state.refused).clone()
    }

    /// Stops listening and drops open connections.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for IndexProxy {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn refuse(state: &State, path: &str, status: StatusCode, reason: String) -> Response<Full<Bytes>> {
    lock(&state.refused).push(Refusal {
        path: path.to_string(),
        reason: reason.clone(),
    });
    respond(status, "text/plain; charset=utf-8", format!("{reason}\n"))
}

/// Renders an error with its causes on one line, for refusals and the plain-text answer pip logs.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    if request.method() != hyper::Method::GET && request.method() != hyper::Method::HEAD {
        return refuse(
            state,
            &path,
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET".into(),
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // The name goes into a URL on the index: anything but a valid project name (an encoded
    // `..`, a scheme) could make it another path or another host.
    if let ["simple" | "files", project, ..] = segments.as_slice()
        && !is_valid_project_name(project)
    {
        return refuse(
            state,
            &path,
            StatusCode::NOT_FOUND,
            format!("`{project}` is not a valid project name"),
        );
    }
    match segments.as_slice() {
        ["simple", project] => {
            let wants_json = request
                .headers()
                .get(hyper::header::ACCEPT)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|accept| accept.contains("application/vnd.pypi.simple.v1+json"));
            project_page(state, &path, project, wants_json).await
        }
        ["files", project, filename] => {
            let filename = percent_decode_str(filename)
                .decode_utf8_lossy()
                .into_owned();
            serve_file(state, &path, project, &filename).await
        }
        _ => refuse(
            state,
            &path,
            StatusCode::NOT_FOUND,
            "the index proxy answers only project pages and the sdists they list".into(),
        ),
    }
}

/// The filtered page for `project`, fetched from the index once per run.
async fn filtered_page(state: &State, project: &str) -> Result<Arc<ProjectPage>, IndexError> {
    let name = normalize_name(project);
    if let Some(page) = lock(&state.pages).get(&name) {
        return Ok(page.clone());
    }
    let mut page = state.client.project(&name).await?;
    page.files.retain(|file| {
        file.is_sdist()
            && file.sha256.is_some()
            && match state.config.exclude_newer {
                Some(cutoff) => file.upload_time.is_some_and(|uploaded| uploaded <= cutoff),
                None => true,
            }
    });
    let page = Arc::new(page);
    lock(&state.pages)
        .entry(name)
        .or_insert_with(|| page.clone());
    Ok(page)
}

async fn project_page(
    state: &State,
    path: &str,
    project: &str,
    wants_json: bool,
) -> Response<Full<Bytes>> {
    let page = match filtered_page(state, project).await {
        Ok(page) => page,
        Err(IndexError::ProjectNotFound { .. } | IndexError::InvalidProjectName { .. }) => {
            return respond(StatusCode::NOT_FOUND, "text/plain", "no such project\n");
        }
        Err(err) => return refuse(state, path, StatusCode::BAD_GATEWAY, with_causes(&err)),
    };
    let file_url = |file: &IndexFile| {
        format!(
            "/files/{}/{}",
            page.name,
            utf8_percent_encode(&file.filename, SEGMENT)
        )
    };
    if wants_json {
        let files: Vec<serde_json::Value> = page
            .files
            .iter()
            .map(|file| {
                let mut entry = serde_json::json!({
                    "filename": file.filename,
                    "url": file_url(file),
                    "hashes": {"sha256": file.sha256},
                    "yanked": match &file.yanked {
                        None => serde_json::Value::Bool(false),
                        Some(reason) if reason.is_empty() => serde_json::Value::Bool(true),
                        Some(reason) => serde_json::Value::String(reason.clone()),
                    },
                });
                if let Some(requires_python) = &file.requires_python {
                    entry["requires-python"] = requires_python.clone().into();
                }
                if let Some(size) = file.size {
                    entry["size"] = size.into();
                }
                if let Some(uploaded) = file.upload_time {
                    entry["upload-time"] = uploaded.to_string().into();
                }
                entry
            })
            .collect();
        let body = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": page.name,
            "files": files,
        });
        respond(
            StatusCode::OK,
            "application/vnd.pypi.simple.v1+json",
            body.to_string(),
        )
    } else {
        let mut body = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {0}</title></head><body><h1>Links for {0}</h1>\n",
            page.name
        );
        for file in &page.files {
            let mut attributes = String::new();
            if let Some(requires_python) = &file.requires_python {
                attributes.push_str(&format!(
                    " data-requires-python=\"{}\"",
                    html_escape(requires_python)
                ));
            }
            if let Some(reason) = &file.yanked {
                attributes.push_str(&format!(" data-yanked=\"{}\"", html_escape(reason)));
            }
            body.push_str(&format!(
                "<a href=\"{}#sha256={}\"{attributes}>{}</a><br/>\n",
                file_url(file),
                file.sha256.as_deref().unwrap_or_default(),
                html_escape(&file.filename)
            ));
        }
        body.push_str("</body></html>\n");
        respond(StatusCode::OK, "text/html; charset=utf-8", body)
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn serve_file(
    state: &State,
    path: &str,
    project: &str,
    filename: &str,
) -> Response<Full<Bytes>> {
    let page = match filtered_page(state, project).await {
        Ok(page) => page,
        Err(err) => return refuse(state, path, StatusCode::BAD_GATEWAY, with_causes(&err)),
    };
    let Some(file) = page.files.iter().find(|file| file.filename == filename) else {
        return refuse(
            state,
            path,
            StatusCode::NOT_FOUND,
            format!("`{filename}` is not an sdist listed for `{}`", page.name),
        );
    };
    let bytes = match fetch_verified(state, file).await {
        Ok(bytes) => bytes,
        Err(err) => return refuse(state, path, StatusCode::BAD_GATEWAY, with_causes(&err)),
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    lock(&state.served).insert(
        file.filename.clone(),
        ServedFile {
            project: page.name.clone(),
            filename: file.filename.clone(),
            url: file.url.to_string(),
            sha256,
            size: bytes.len() as u64,
            upload_time: file.upload_time,
        },
    );
    respond(StatusCode::OK, "application/octet-stream", bytes)
}

/// The file's bytes, from the cache when a copy with the published sha256 is there, else from
/// the index (checked against the published sha256 and then cached).
async fn fetch_verified(state: &State, file: &IndexFile) -> Result<Bytes, IndexError> {
    let expected = file.sha256.clone().ok_or_else(|| IndexError::NoHash {
        filename: file.filename.clone(),
        url: file.url.to_string(),
    })?;
    let cached = state
        .config
        .cache_dir
        .as_ref()
        .map(|dir| dir.join(&expected));
    if let Some(cached) = &cached
        && let Ok(bytes) = fs_err::tokio::read(cached).await
        && hex::encode(Sha256::digest(&bytes)) == expected
    {
        return Ok(Bytes::from(bytes));
    }
    let (bytes, _) = state.client.download(file).await?;
    if let Some(cached) = cached {
        // The cache only saves time: failing to fill it must not fail the resolve.
        let _ = write_atomically(&cached, &bytes);
    }
    Ok(bytes)
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), IndexError> {
    let cache_error = |source| IndexError::Cache {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    fs_err::create_dir_all(dir).map_err(cache_error)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(cache_error)?;
    std::io::Write::write_all(&mut temporary, bytes).map_err(cache_error)?;
    temporary
        .persist(path)
        .map_err(|err| cache_error(err.error))?;
    Ok(())
}
