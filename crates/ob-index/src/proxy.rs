//! The recording index proxy: the only service the resolve container can reach, over TCP or a
//! unix socket bind-mounted into it. It answers filtered project pages (sdists only, each with a
//! published sha256, none uploaded after `exclude-newer`; for a release the user allowed as a
//! binary, its wheels only), their files or only their PEP 658 metadata, nothing else; every
//! file it touches is verified into a content-addressed store.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
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

/// What a request for an archive is told when archives are not served.
const ARCHIVES_REFUSED: &str = "the resolver container is given metadata only, never an sdist";

/// Where the proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address (port 0 picks one), e.g. the gateway of an internal Docker network.
    Tcp(SocketAddr),
    /// A unix socket at this path, for a container with no network that has it bind-mounted.
    /// The socket is made mode 0666; who can reach it is up to the directory around it.
    Unix(PathBuf),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(address) => write!(f, "{address}"),
            Listen::Unix(path) => write!(f, "unix socket `{}`", path.display()),
        }
    }
}

/// Gives the core metadata (PEP 658) of an sdist, so that the resolver can do without the sdist.
pub trait MetadataSource: Send + Sync + 'static {
    /// The `METADATA` bytes for `file`, whose verified bytes are at `sdist` (in the store). An
    /// `Err` holds the text the resolver is answered with (HTTP 502). Runs on a blocking thread.
    fn metadata(&self, file: &ServedFile, sdist: &Path) -> Result<Vec<u8>, String>;
}

/// What the proxy lets through, and where it keeps what it downloaded.
#[derive(Clone)]
pub struct ProxyConfig {
    /// Hide files uploaded after this instant (and files without an upload time).
    pub exclude_newer: Option<jiff::Timestamp>,
    /// Every verified sdist is kept here as `<sha256>`, between runs too (created if missing).
    pub sdist_store: PathBuf,
    /// Whether `/files/<project>/<file>` answers with the archive. The resolver container is
    /// refused archives (HTTP 403) so that nothing in it can build one; the host still gets
    /// them through [`IndexProxy::sdist`].
    pub serve_archives: bool,
    /// Where `<file>.metadata` answers come from. With `None`, pages advertise no metadata and
    /// such requests are 404.
    pub metadata: Option<Arc<dyn MetadataSource>>,
    /// Projects answered from here instead of the index, by normalized name, each with its
    /// one file: the image-tool sdists ([`crate::image_tools`]). The index is never asked
    /// about them.
    pub local_projects: BTreeMap<String, LocalFile>,
    /// Releases the user allowed as upstream wheels (`allow-binary`): normalized project name
    /// to its one version. Such a project's page lists that version's wheels and nothing else
    /// (no sdist, no other version); every other page lists no wheel at all.
    pub allow_binary: BTreeMap<String, String>,
}

/// The one file of a project the proxy answers itself.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Its file name.
    pub filename: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// What a local file's URL says: it is never downloaded (`obtain` serves it from memory).
const LOCAL_FILES_URL: &str = "http://localhost/.offline-build/local/";

impl ProxyConfig {
    /// No cutoff, sdists kept in `sdist_store`, and the resolver's setting: no archives and no
    /// metadata source yet.
    pub fn new(sdist_store: impl Into<PathBuf>) -> ProxyConfig {
        ProxyConfig {
            exclude_newer: None,
            sdist_store: sdist_store.into(),
            serve_archives: false,
            metadata: None,
            local_projects: BTreeMap::new(),
            allow_binary: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("exclude_newer", &self.exclude_newer)
            .field("sdist_store", &self.sdist_store)
            .field("serve_archives", &self.serve_archives)
            .field(
                "metadata",
                &self.metadata.as_ref().map(|_| "MetadataSource"),
            )
            .field("local_projects", &self.local_projects.keys())
            .field("allow_binary", &self.allow_binary)
            .finish()
    }
}

/// A file the proxy served, to the resolver or to the host, with facts we computed ourselves.
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
    /// One gate per store entry (by sha256), so that concurrent requests for one sdist download
    /// it once: the second finds it in the store.
    downloads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    served: Mutex<BTreeMap<String, ServedFile>>,
    refused: Mutex<Vec<Refusal>>,
    /// Projects the index said it does not have (404), by normalized name.
    missing: Mutex<std::collections::BTreeSet<String>>,
}

/// The unix socket file a proxy created, with its identity, so that stopping removes that
/// socket and never whatever has taken its path since.
struct SocketFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl SocketFile {
    fn remove(self) {
        if let Ok(metadata) = fs_err::symlink_metadata(&self.path)
            && metadata.file_type().is_socket()
            && metadata.dev() == self.device
            && metadata.ino() == self.inode
        {
            // Nothing to report to: the proxy is going away, and a leftover socket is replaced
            // by the next start.
            let _ = fs_err::remove_file(&self.path);
        }
    }
}

/// A running proxy; stop it with [`IndexProxy::stop`] (dropping it stops it too).
pub struct IndexProxy {
    local: Listen,
    socket: Option<SocketFile>,
    state: Arc<State>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for IndexProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexProxy")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl IndexProxy {
    /// Listens on `listen` and serves until stopped. A unix socket path may hold a stale
    /// socket (replaced) but nothing else (refused); the store directory is created here so that
    /// a store that cannot be written fails now, not at the first download.
    pub async fn start(
        client: IndexClient,
        listen: Listen,
        config: ProxyConfig,
    ) -> Result<IndexProxy, IndexError> {
        fs_err::create_dir_all(&config.sdist_store).map_err(|source| IndexError::Store {
            path: config.sdist_store.clone(),
            source,
        })?;
        let (listener, local, socket) = match listen {
            Listen::Tcp(bind) => {
                let bind_error = |source| IndexError::Bind {
                    address: bind,
                    source,
                };
                let listener = TcpListener::bind(bind).await.map_err(bind_error)?;
                let address = listener.local_addr().map_err(bind_error)?;
                (Listener::Tcp(listener), Listen::Tcp(address), None)
            }
            Listen::Unix(path) => {
                let (listener, socket) = bind_unix(&path).await?;
                (Listener::Unix(listener), Listen::Unix(path), Some(socket))
            }
        };
        let state = Arc::new(State {
            client,
            config,
            pages: Mutex::new(HashMap::new()),
            downloads: Mutex::new(HashMap::new()),
            served: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(Vec::new()),
            missing: Mutex::new(std::collections::BTreeSet::new()),
        });
        let server = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(IndexProxy {
            local,
            socket,
            state,
            server: Some(server),
        })
    }

    /// Where it listens (for TCP, with the port that was picked).
    pub fn local(&self) -> &Listen {
        &self.local
    }

    /// The TCP address it listens on; `None` on a unix socket.
    pub fn address(&self) -> Option<SocketAddr> {
        match &self.local {
            Listen::Tcp(address) => Some(*address),
            Listen::Unix(_) => None,
        }
    }

    /// The Simple API base URL to give pip: `http://<address>/simple/`, or on a unix socket
    /// `http://localhost/simple/` (the host part means nothing there; the relay in the
    /// container decides it).
    pub fn simple_url(&self) -> String {
        match &self.local {
            Listen::Tcp(address) => format!("http://{address}/simple/"),
            Listen::Unix(_) => "http://localhost/simple/".to_string(),
        }
    }

    /// The sdist `filename` of `project`, for the host: it must be listed on the filtered page
    /// (as pip sees it), it is downloaded and verified into the store unless a verified copy is
    /// there, and it is recorded in [`IndexProxy::served`]. Returns its path in the store.
    pub async fn sdist(
        &self,
        project: &str,
        filename: &str,
    ) -> Result<(PathBuf, ServedFile), IndexError> {
        let obtained = obtain(&self.state, project, filename).await?;
        Ok((obtained.path, obtained.served))
    }

    /// Every file served so far, to the resolver or through [`IndexProxy::sdist`], by file name.
    pub fn served(&self) -> BTreeMap<String, ServedFile> {
        lock(&self.state.served).clone()
    }

    /// Every request refused so far, in order.
    pub fn refused(&self) -> Vec<Refusal> {
        lock(&self.state.refused).clone()
    }

    /// Projects that were asked for and that the index does not have at all (it answered 404),
    /// by normalized name: "no such project", as opposed to a project without sdists.
    pub fn missing_projects(&self) -> std::collections::BTreeSet<String> {
        lock(&self.state.missing).clone()
    }

    /// Stops listening, drops open connections and removes its unix socket.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        if let Some(socket) = self.socket.take() {
            socket.remove();
        }
    }
}

impl Drop for IndexProxy {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(socket) = self.socket.take() {
            socket.remove();
        }
    }
}

/// Binds a unix socket at `path`, replacing a stale socket but nothing else, and opens it to
/// every uid: the container's user is not ours.
async fn bind_unix(path: &Path) -> Result<(UnixListener, SocketFile), IndexError> {
    let bind_error = |source| IndexError::BindSocket {
        path: path.to_path_buf(),
        source,
    };
    // symlink_metadata: a symlink is not a socket, whatever it points at.
    match fs_err::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            // A socket that still accepts connections belongs to a live listener (another
            // resolve); taking its path would cut that one off.
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(IndexError::SocketInUse {
                    path: path.to_path_buf(),
                });
            }
            fs_err::remove_file(path).map_err(bind_error)?;
        }
        Ok(_) => {
            return Err(IndexError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(bind_error(err)),
    }
    let listener = UnixListener::bind(path).map_err(bind_error)?;
    let opened = fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .and_then(|()| fs_err::symlink_metadata(path));
    match opened {
        Ok(metadata) => Ok((
            listener,
            SocketFile {
                path: path.to_path_buf(),
                device: metadata.dev(),
                inode: metadata.ino(),
            },
        )),
        Err(err) => {
            // Ours, just made: do not leave a socket behind that nobody will stop.
            let _ = fs_err::remove_file(path);
            Err(bind_error(err))
        }
    }
}

async fn accept_loop(listener: Listener, state: Arc<State>) {
    // Connections live in this set so that aborting the server aborts them too.
    let mut connections = JoinSet::new();
    loop {
        match &listener {
            Listener::Tcp(listener) => {
                if let Ok((stream, _peer)) = listener.accept().await {
                    serve_connection(&mut connections, state.clone(), stream);
                }
            }
            Listener::Unix(listener) => {
                if let Ok((stream, _peer)) = listener.accept().await {
                    serve_connection(&mut connections, state.clone(), stream);
                }
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

fn serve_connection<S>(connections: &mut JoinSet<()>, state: Arc<State>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    connections.spawn(async move {
        let service = hyper::service::service_fn(move |request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, request).await) }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
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

/// The answer to a file that could not be had: 404 for what is not listed, 502 for what the
/// index or the store failed at.
fn refuse_unobtained(state: &State, path: &str, err: &IndexError) -> Response<Full<Bytes>> {
    let status = match err {
        IndexError::NotListed { .. }
        | IndexError::ProjectNotFound { .. }
        | IndexError::InvalidProjectName { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    };
    refuse(state, path, status, with_causes(err))
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
            // Decoded first, so that an encoded suffix (`%2emetadata`) means the same.
            let filename = percent_decode_str(filename)
                .decode_utf8_lossy()
                .into_owned();
            match filename.strip_suffix(".metadata") {
                Some(sdist) => serve_metadata(state, &path, project, sdist).await,
                None => serve_file(state, &path, project, &filename).await,
            }
        }
        _ => refuse(
            state,
            &path,
            StatusCode::NOT_FOUND,
            "the index proxy answers only project pages, the sdists they list and their metadata"
                .into(),
        ),
    }
}

/// Whether `hash` is a sha256 in lowercase hex: it names a file in the store, so anything else
/// (a `/`, a `..`) from the index must never get that far.
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The filtered page for `project`, fetched from the index once per run.
async fn filtered_page(state: &State, project: &str) -> Result<Arc<ProjectPage>, IndexError> {
    let name = normalize_name(project);
    if let Some(page) = lock(&state.pages).get(&name) {
        return Ok(page.clone());
    }
    if let Some(local) = state.config.local_projects.get(&name) {
        return Ok(local_page(state, &name, local));
    }
    let mut page = state.client.project(&name).await?;
    let allowed_wheel = state.config.allow_binary.get(&name);
    page.files.retain(|file| {
        let wanted = match allowed_wheel {
            // Of this project (by normalized name) and this version: the index may list any
            // file on any page.
            Some(version) => file.wheel_release().is_some_and(|(project, release)| {
                normalize_name(project) == name && release == version.as_str()
            }),
            None => file.is_sdist(),
        };
        wanted
            && file.sha256.as_deref().is_some_and(is_sha256_hex)
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

/// The page of a project answered from here: its one file, its bytes put into the store
/// (content-addressed, like every verified download), so that nothing is ever downloaded for it.
fn local_page(state: &State, name: &str, local: &LocalFile) -> Arc<ProjectPage> {
    let sha256 = hex::encode(Sha256::digest(&local.bytes));
    let stored = state.config.sdist_store.join(&sha256);
    if fs_err::read(&stored).map(|bytes| bytes == local.bytes).ok() != Some(true) {
        // Best effort: a copy that is missing later is written again from memory (`obtain`).
        let _ = write_atomically_blocking(&stored, &local.bytes);
    }
    // The base is a constant URL and the names are normalized project names and their
    // percent-encoded file names: joining them always parses.
    let base = url::Url::parse(LOCAL_FILES_URL).expect("LOCAL_FILES_URL is a URL");
    let page_url = base
        .join(&format!("{name}/"))
        .unwrap_or_else(|_| base.clone());
    let file_url = page_url
        .join(&utf8_percent_encode(&local.filename, SEGMENT).to_string())
        .unwrap_or_else(|_| page_url.clone());
    let page = Arc::new(ProjectPage {
        name: name.to_owned(),
        url: page_url,
        files: vec![IndexFile {
            filename: local.filename.clone(),
            url: file_url,
            sha256: Some(sha256),
            size: Some(local.bytes.len() as u64),
            upload_time: None,
            yanked: None,
            requires_python: None,
        }],
    });
    lock(&state.pages)
        .entry(name.to_owned())
        .or_insert_with(|| page.clone())
        .clone()
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
            lock(&state.missing).insert(normalize_name(project));
            return respond(StatusCode::NOT_FOUND, "text/plain", "no such project\n");
        }
        Err(err) => return refuse(state, path, StatusCode::BAD_GATEWAY, with_causes(&err)),
    };
    let advertise_metadata = state.config.metadata.is_some();
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
                if advertise_metadata {
                    // PEP 714's name, and PEP 658's original one that older pips still read.
                    entry["core-metadata"] = true.into();
                    entry["data-dist-info-metadata"] = true.into();
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
            if advertise_metadata {
                attributes
                    .push_str(" data-core-metadata=\"true\" data-dist-info-metadata=\"true\"");
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
    if !state.config.serve_archives {
        return refuse(
            state,
            path,
            StatusCode::FORBIDDEN,
            ARCHIVES_REFUSED.to_string(),
        );
    }
    match obtain(state, project, filename).await {
        Ok(obtained) => respond(StatusCode::OK, "application/octet-stream", obtained.bytes),
        Err(err) => refuse_unobtained(state, path, &err),
    }
}

/// Why a metadata answer could not be given.
enum MetadataFailure {
    Sdist(IndexError),
    Source(String),
}

async fn serve_metadata(
    state: &State,
    path: &str,
    project: &str,
    filename: &str,
) -> Response<Full<Bytes>> {
    let Some(source) = state.config.metadata.clone() else {
        return refuse(
            state,
            path,
            StatusCode::NOT_FOUND,
            "this index proxy serves no metadata files".to_string(),
        );
    };
    // Checked before anything is kept for it, so that made-up names cost nothing.
    let page = match filtered_page(state, project).await {
        Ok(page) => page,
        Err(err) => return refuse_unobtained(state, path, &err),
    };
    if !page.files.iter().any(|file| file.filename == filename) {
        let err = IndexError::NotListed {
            project: page.name.clone(),
            filename: filename.to_string(),
        };
        return refuse_unobtained(state, path, &err);
    }
    // Asked every time: the source may have learnt better since (resolve replaces what an
    // sdist's PKG-INFO said with what its build said); it keeps its own cache.
    let answer = async {
        let obtained = obtain(state, project, filename)
            .await
            .map_err(MetadataFailure::Sdist)?;
        let Obtained { path, served, .. } = obtained;
        match tokio::task::spawn_blocking(move || source.metadata(&served, &path)).await {
            Ok(Ok(bytes)) => Ok(Bytes::from(bytes)),
            Ok(Err(text)) => Err(MetadataFailure::Source(text)),
            Err(join) => Err(MetadataFailure::Source(format!(
                "the metadata source failed for `{filename}`: {join}"
            ))),
        }
    }
    .await;
    match answer {
        Ok(bytes) => respond(StatusCode::OK, "application/octet-stream", bytes),
        Err(MetadataFailure::Sdist(err)) => refuse_unobtained(state, path, &err),
        Err(MetadataFailure::Source(text)) => refuse(state, path, StatusCode::BAD_GATEWAY, text),
    }
}

/// A verified sdist: where it is in the store, what was recorded, and its bytes.
struct Obtained {
    path: PathBuf,
    served: ServedFile,
    bytes: Bytes,
}

/// The one way to an sdist, for pip's requests and the host's alike: listed on the filtered
/// page, taken from the store when a copy there still has its sha256, else downloaded, checked
/// against the published sha256 and stored; then recorded as served.
async fn obtain(state: &State, project: &str, filename: &str) -> Result<Obtained, IndexError> {
    let page = filtered_page(state, project).await?;
    let file = page
        .files
        .iter()
        .find(|file| file.filename == filename)
        .ok_or_else(|| IndexError::NotListed {
            project: page.name.clone(),
            filename: filename.to_string(),
        })?;
    // The filtered page lists only files with a well-formed sha256; checked again because the
    // hash becomes a path.
    let expected = match file.sha256.as_deref() {
        Some(hash) if is_sha256_hex(hash) => hash.to_string(),
        _ => {
            return Err(IndexError::NoHash {
                filename: file.filename.clone(),
                url: file.url.to_string(),
            });
        }
    };
    let path = state.config.sdist_store.join(&expected);
    let gate = lock(&state.downloads)
        .entry(expected.clone())
        .or_default()
        .clone();
    let _only_download = gate.lock().await;
    let bytes = match read_verified(&path, &expected).await {
        Some(bytes) => bytes,
        // A project answered from here is never downloaded, even when the store lost its copy:
        // its page was made from these very bytes (so they have the sha256 it lists).
        None => match state.config.local_projects.get(&page.name) {
            Some(local) => {
                let bytes = Bytes::from(local.bytes.clone());
                write_atomically(&path, bytes.clone()).await?;
                bytes
            }
            None => {
                let (bytes, _) = state.client.download(file).await?;
                write_atomically(&path, bytes.clone()).await?;
                bytes
            }
        },
    };
    let served = ServedFile {
        project: page.name.clone(),
        filename: file.filename.clone(),
        url: file.url.to_string(),
        // Both ways above compared the bytes' sha256 with this one.
        sha256: expected,
        size: bytes.len() as u64,
        upload_time: file.upload_time,
    };
    lock(&state.served).insert(file.filename.clone(), served.clone());
    Ok(Obtained {
        path,
        served,
        bytes,
    })
}

/// The store's copy, if there is one and it still has the sha256 it is named by.
async fn read_verified(path: &Path, expected: &str) -> Option<Bytes> {
    let (path, expected) = (path.to_path_buf(), expected.to_string());
    tokio::task::spawn_blocking(move || {
        let bytes = fs_err::read(&path).ok()?;
        (hex::encode(Sha256::digest(&bytes)) == expected).then(|| Bytes::from(bytes))
    })
    .await
    .ok()
    .flatten()
}

/// Writes `bytes` to `path` so that a reader sees the whole file or none: a temporary file in
/// the same directory, synced, then renamed over `path`.
async fn write_atomically(path: &Path, bytes: Bytes) -> Result<(), IndexError> {
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || write_atomically_blocking(&target, &bytes))
        .await
        .unwrap_or_else(|join| {
            Err(IndexError::Store {
                path: path.to_path_buf(),
                source: std::io::Error::other(join.to_string()),
            })
        })
}

fn write_atomically_blocking(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let store_error = |source| IndexError::Store {
        path: path.to_path_buf(),
        source,
    };
    // Store paths are `<store>/<sha256>`, so there is a parent; `.` only keeps this total.
    let dir = path.parent().unwrap_or(Path::new("."));
    // Made at start, but the store may have been removed since; a new one costs nothing.
    fs_err::create_dir_all(dir).map_err(store_error)?;
    // The prefix keeps a leftover from a crash from ever looking like a `<sha256>`.
    let mut temporary = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(store_error)?;
    std::io::Write::write_all(&mut temporary, bytes).map_err(store_error)?;
    // sdists are public; a container that reads one through a read-only mount runs as another
    // uid than ours, and the temporary file starts as 0600.
    temporary
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(store_error)?;
    temporary.as_file().sync_all().map_err(store_error)?;
    temporary
        .persist(path)
        .map_err(|err| store_error(err.error))?;
    // The rename itself is durable only once the directory is synced; a failure here loses no
    // data that is not also still at the index, so it is not an error.
    if let Ok(directory) = fs_err::File::open(dir) {
        let _ = directory.sync_all();
    }
    Ok(())
}
