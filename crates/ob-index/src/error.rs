//! The one error type of this crate. Every variant names the URL, file or project it is about;
//! the underlying cause sits in `#[source]`, never in the message text.

use std::path::PathBuf;

use crate::config::IndexSource;

/// Everything that can go wrong while configuring, querying or proxying a package index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// An index URL that is not an http(s) URL with a host.
    #[error(
        "invalid index URL `{url}` (from {origin}): {reason}\n\nhint: pass an http(s) Simple API URL such as `https://<host>/simple/`"
    )]
    InvalidUrl {
        /// The URL, with any credentials replaced by `***`.
        url: String,
        /// Where the URL came from.
        origin: IndexSource,
        /// What is wrong with it.
        reason: String,
    },
    /// A pip configuration file exists but could not be read.
    #[error("could not read pip configuration file `{}`", path.display())]
    ConfigRead {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No index was configured and the host's pip could not tell its built-in default.
    #[error(
        "could not ask `{python}` for pip's default index: {reason}\n\nhint: pass `--index-url` or set PIP_INDEX_URL"
    )]
    PipDefault {
        /// The interpreter that was asked.
        python: String,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client could not be set up (trust store, proxy settings).
    #[error("could not set up the HTTP client for the package index")]
    Client {
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// A request to the index failed before an answer arrived.
    #[error(
        "request to `{url}` failed\n\nhint: check the network, the index URL and the trust store (SSL_CERT_FILE)"
    )]
    Request {
        /// The URL asked for (without credentials).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The index answered with an unexpected HTTP status.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL asked for (without credentials).
        url: String,
        /// The status code.
        status: u16,
    },
    /// A requested project name that is not a valid PEP 508 name: refused before any request,
    /// so that a name can never turn into another path or another host on the index.
    #[error(
        "`{project}` is not a valid project name\n\nhint: project names are letters, digits, `-`, `_` and `.`"
    )]
    InvalidProjectName {
        /// The name as requested.
        project: String,
    },
    /// The index has no project of this name.
    #[error(
        "the index has no project `{project}` (`{url}` answered 404)\n\nhint: check the spelling of the requirement"
    )]
    ProjectNotFound {
        /// Normalized project name.
        project: String,
        /// The project page URL.
        url: String,
    },
    /// A project page that is neither valid PEP 691 JSON nor PEP 503 HTML.
    #[error("could not understand the project page `{url}`: {reason}")]
    BadPage {
        /// The page URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A downloaded file's sha256 differs from what the index published.
    #[error(
        "hash mismatch for `{filename}` from `{url}`\n  expected sha256: {expected}\n  computed sha256: {computed}\n\nhint: the index or something between it and us served different bytes; do not use this file"
    )]
    HashMismatch {
        /// The file name.
        filename: String,
        /// Where it was downloaded from.
        url: String,
        /// The sha256 the index published.
        expected: String,
        /// The sha256 of the bytes received.
        computed: String,
    },
    /// A file that the index lists without a sha256: we refuse to pin what we cannot check.
    #[error(
        "the index lists `{filename}` without a sha256 hash (`{url}`)\n\nhint: use an index that publishes sha256 hashes"
    )]
    NoHash {
        /// The file name.
        filename: String,
        /// The page that listed it.
        url: String,
    },
    /// Reading the body of a response failed part-way.
    #[error("download of `{url}` broke off")]
    Body {
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The sdist store could not be created, read or written.
    #[error("could not write to the sdist store at `{}`", path.display())]
    Store {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file asked for by name that the filtered page of its project does not list: not an
    /// sdist, no published sha256, uploaded after `exclude-newer`, or not there at all.
    #[error(
        "`{filename}` is not an sdist listed for `{project}`\n\nhint: the proxy lists only sdists with a published sha256, uploaded before `exclude-newer`"
    )]
    NotListed {
        /// Normalized project name.
        project: String,
        /// The file name as asked for.
        filename: String,
    },
    /// The proxy could not listen on the given address.
    #[error("the index proxy could not listen on {address}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy could not create, or open up, its unix socket.
    #[error("the index proxy could not listen on the unix socket `{}`", path.display())]
    BindSocket {
        /// The socket's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Something other than a socket sits where the proxy's unix socket should go; it is never
    /// replaced, since that path may be a file someone needs.
    #[error(
        "`{}` exists and is not a socket; the index proxy will not replace it\n\nhint: choose a socket path in a directory of its own", path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A live listener answers on the proxy's unix socket path: it is not stale, so it is left alone.
    #[error(
        "something already listens on the unix socket `{}`\n\nhint: is another resolve running? choose another socket path", path.display()
    )]
    SocketInUse {
        /// The socket's path.
        path: PathBuf,
    },
}
