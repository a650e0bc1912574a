//! Rust crates for builds that need one from a registry (owned by the build work): `.crate` files
//! packed from `fixtures/crates/`, a sparse registry served on loopback from a thread of its own
//! (like [`crate::index`], it records every request and can be made to serve other bytes),
//! `Cargo.lock` text naming it, and the `rustdemo` sdist locked to it.
//!
//! A `Cargo.lock` cannot simply name another registry for a plain `obadd = "0.1"` dependency:
//! cargo locks such a dependency to its default registry, and `--locked` refuses the lock. So
//! [`rustdemo_sdist`] also writes `.cargo/config.toml` at the sdist's top with a `[patch]` that
//! points `obadd` at [`CrateRegistry::source`]; cargo reads it because the backend runs cargo
//! from there. A builder then needs only source replacement by URL (`ob_cargo::vendor::cargo_config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::http::{LoopbackServer, respond};

/// Packs the files under `dir` (leaving out `target/`) into a `.crate`: a gzip'd tar whose
/// members are `{name}-{version}/…`, sorted, with mtime 0, owner 0:0, and mode 0755 for files
/// that were executable and 0644 for the rest, so the same tree always gives the same bytes.
pub fn pack_crate(dir: &Path, name: &str, version: &str) -> Vec<u8> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)
        .unwrap_or_else(|err| panic!("reading the crate tree `{}`: {err}", dir.display()));
    files.sort();
    let prefix = format!("{name}-{version}");
    let mut archive = Vec::new();
    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(&mut archive, flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for relative in &files {
        let path = dir.join(relative);
        let data = fs_err::read(&path).unwrap_or_else(|err| panic!("{err}"));
        let mode = if is_executable(&path) { 0o755 } else { 0o644 };
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, format!("{prefix}/{relative}"), data.as_slice())
            .unwrap_or_else(|err| panic!("packing `{}`: {err}", path.display()));
    }
    builder
        .into_inner()
        .and_then(|encoder| encoder.finish())
        .unwrap_or_else(|err| panic!("packing `{}`: {err}", dir.display()));
    archive
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// Relative paths (with `/`) of every regular file under `dir`, `target/` directories left out.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() != "target" {
                collect(root, &entry.path(), files)?;
            }
        } else if kind.is_file() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .map_err(|err| std::io::Error::other(err.to_string()))?;
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}

/// `[package]` name and version of the `Cargo.toml` at `manifest`.
fn package_of(manifest: &Path) -> (String, String) {
    let text = fs_err::read_to_string(manifest).unwrap_or_else(|err| panic!("{err}"));
    let table: toml::Table = toml::from_str(&text)
        .unwrap_or_else(|err| panic!("`{}` is not TOML: {err}", manifest.display()));
    let field = |key: &str| {
        table
            .get("package")
            .and_then(|package| package.get(key))
            .and_then(|value| value.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("`{}` has no [package].{key}", manifest.display()))
    };
    (field("name"), field("version"))
}

/// The crate `fixtures/crates/<dir_name>` packed with [`pack_crate`]: (name, version, bytes),
/// name and version from its `Cargo.toml`.
pub fn pack_fixture_crate(dir_name: &str) -> (String, String, Vec<u8>) {
    let dir = crate::repo_root().join("fixtures/crates").join(dir_name);
    let (name, version) = package_of(&dir.join("Cargo.toml"));
    let bytes = pack_crate(&dir, &name, &version);
    (name, version, bytes)
}

/// `obadd` 0.1.0 from `fixtures/crates/obadd`, which `fixtures/build/rustdemo` depends on.
pub fn obadd_crate() -> (String, String, Vec<u8>) {
    pack_fixture_crate("obadd")
}

/// Lowercase hex sha256, the form of `Cargo.lock` checksums and of the index's `cksum`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a crate's entry lives under a sparse index: `1/a`, `2/ab`, `3/a/abc`, `ob/ad/obadd`
/// (cargo asks for names in lowercase).
pub fn index_path(name: &str) -> String {
    let name = name.to_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// One crate version the registry serves.
#[derive(Debug, Clone)]
struct ServedCrate {
    name: String,
    version: String,
    bytes: Vec<u8>,
}

struct Shared {
    /// The server's address, for `config.json`'s `dl`.
    address: std::sync::OnceLock<SocketAddr>,
    crates: Mutex<Vec<ServedCrate>>,
    requests: Mutex<Vec<String>>,
    /// When set, the registry is `auth-required`: every request without exactly this
    /// `Authorization` value is answered 401 (and recorded as `401 <path>`).
    token: Mutex<Option<String>>,
}

/// A sparse cargo registry on 127.0.0.1: `GET /index/config.json`, the index entries
/// `/index/<`[`index_path`]`>`, and downloads `/api/v1/crates/{name}/{version}/download`; 404 for
/// anything else. Stops when dropped.
pub struct CrateRegistry {
    shared: Arc<Shared>,
    server: LoopbackServer,
}

impl CrateRegistry {
    /// Serves `crates`, each (name, version, `.crate` bytes), at a free port.
    pub fn start(crates: Vec<(String, String, Vec<u8>)>) -> CrateRegistry {
        let shared = Arc::new(Shared {
            address: std::sync::OnceLock::new(),
            crates: Mutex::new(
                crates
                    .into_iter()
                    .map(|(name, version, bytes)| ServedCrate {
                        name,
                        version,
                        bytes,
                    })
                    .collect(),
            ),
            requests: Mutex::new(Vec::new()),
            token: Mutex::new(None),
        });
        let handler_shared = shared.clone();
        let server =
            LoopbackServer::start(Arc::new(move |request| answer(&handler_shared, request)));
        // Set before any request can be answered: nobody knows the port yet.
        let _ = shared.address.set(server.address);
        CrateRegistry { shared, server }
    }

    /// The index URL: `http://127.0.0.1:<port>/index/`.
    pub fn index_url(&self) -> String {
        format!("http://{}/index/", self.server.address)
    }

    /// The index as cargo names the source, in `Cargo.lock` and in `[source.*] registry`:
    /// `sparse+http://127.0.0.1:<port>/index/`.
    pub fn source(&self) -> String {
        format!("sparse+{}", self.index_url())
    }

    /// Where `name` `version` is downloaded from.
    pub fn download_url(&self, name: &str, version: &str) -> String {
        format!(
            "http://{}/api/v1/crates/{name}/{version}/download",
            self.server.address
        )
    }

    /// Lowercase hex sha256 of what is served now for `name` `version`, if it is served.
    pub fn checksum(&self, name: &str, version: &str) -> Option<String> {
        lock(&self.shared.crates)
            .iter()
            .find(|served| served.name == name && served.version == version)
            .map(|served| sha256_hex(&served.bytes))
    }

    /// Serves `bytes` for `name` `version` from now on (added if it was not served). The index
    /// entry's `cksum` follows the new bytes: the registry lies consistently, so only a lock's
    /// checksum can tell.
    pub fn replace(&self, name: &str, version: &str, bytes: Vec<u8>) {
        let mut crates = lock(&self.shared.crates);
        match crates
            .iter_mut()
            .find(|served| served.name == name && served.version == version)
        {
            Some(served) => served.bytes = bytes,
            None => crates.push(ServedCrate {
                name: name.to_owned(),
                version: version.to_owned(),
                bytes,
            }),
        }
    }

    /// From now on, wants `token` in the `Authorization` header of every request, as a
    /// private registry with `auth-required` does.
    pub fn require_token(&self, token: &str) {
        *lock(&self.shared.token) = Some(token.to_owned());
    }

    /// Every request path so far, in order (`401 <path>` for one refused for want of the token).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }
}

/// The registry's own address (set right after the server started, before it was known to
/// anyone who could ask).
fn address(shared: &Shared) -> String {
    shared
        .address
        .get()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A test that panicked while holding a lock leaves data that is still whole.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found() -> Response<Full<Bytes>> {
    respond(StatusCode::NOT_FOUND, "text/plain", "not found\n")
}

fn answer<B>(shared: &Shared, request: &Request<B>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let token = lock(&shared.token).clone();
    if let Some(token) = &token {
        let sent = request.headers().get(hyper::header::AUTHORIZATION);
        if sent.and_then(|value| value.to_str().ok()) != Some(token.as_str()) {
            lock(&shared.requests).push(format!("401 {path}"));
            return respond(StatusCode::UNAUTHORIZED, "text/plain", "token required\n");
        }
    }
    lock(&shared.requests).push(path.clone());
    if request.method() != hyper::Method::GET {
        return not_found();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["index", "config.json"] => {
            let mut body = serde_json::json!({
                "dl": format!("http://{}/api/v1/crates", address(shared)),
            });
            if token.is_some() {
                body["auth-required"] = serde_json::Value::Bool(true);
            }
            respond(StatusCode::OK, "application/json", body.to_string())
        }
        ["index", entry @ ..] => {
            let Some(name) = entry.last() else {
                return not_found();
            };
            if entry.join("/") != index_path(name) {
                return not_found();
            }
            let lines: Vec<String> = lock(&shared.crates)
                .iter()
                .filter(|served| served.name.to_lowercase() == *name)
                .map(|served| {
                    serde_json::json!({
                        "name": served.name,
                        "vers": served.version,
                        "deps": [],
                        "cksum": sha256_hex(&served.bytes),
                        "features": {},
                        "yanked": false,
                    })
                    .to_string()
                })
                .collect();
            if lines.is_empty() {
                return not_found();
            }
            respond(StatusCode::OK, "text/plain", lines.join("\n") + "\n")
        }
        ["api", "v1", "crates", name, version, "download"] => {
            let crates = lock(&shared.crates);
            let Some(served) = crates
                .iter()
                .find(|served| served.name == *name && served.version == *version)
            else {
                return not_found();
            };
            respond(StatusCode::OK, "application/gzip", served.bytes.clone())
        }
        _ => not_found(),
    }
}

/// `Cargo.lock` (version 4, which cargo reads since 1.78) for the package `root` `root_version`
/// depending on `deps`, each (name, version, source as in [`CrateRegistry::source`], lowercase
/// hex sha256 of the `.crate`): the text cargo itself writes, so `--locked` accepts it.
pub fn cargo_lock(root: &str, root_version: &str, deps: &[(&str, &str, &str, &str)]) -> String {
    // Cargo names a dependency by name alone unless two locked packages share it.
    let dependency_name = |name: &str, version: &str| {
        if deps.iter().filter(|dep| dep.0 == name).count() > 1 {
            format!("{name} {version}")
        } else {
            name.to_owned()
        }
    };
    let mut packages: Vec<(String, String, String)> = Vec::new();
    for &(name, version, source, checksum) in deps {
        packages.push((
            name.to_owned(),
            version.to_owned(),
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = \"{source}\"\n\
                 checksum = \"{checksum}\"\n"
            ),
        ));
    }
    let mut root_text = format!("[[package]]\nname = \"{root}\"\nversion = \"{root_version}\"\n");
    if !deps.is_empty() {
        let mut names: Vec<String> = deps
            .iter()
            .map(|&(name, version, _, _)| dependency_name(name, version))
            .collect();
        names.sort();
        root_text.push_str("dependencies = [\n");
        for name in names {
            root_text.push_str(&format!(" \"{name}\",\n"));
        }
        root_text.push_str("]\n");
    }
    packages.push((root.to_owned(), root_version.to_owned(), root_text));
    // Cargo's order: by name, then version (the fixtures' versions compare alike as text).
    packages.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut text = String::from(
        "# This file is automatically @generated by Cargo.\n\
         # It is not intended for manual editing.\n\
         version = 4\n",
    );
    for (_, _, package) in packages {
        text.push('\n');
        text.push_str(&package);
    }
    text
}

/// `.cargo/config.toml` that makes cargo take each `crates` dependency (name, version
/// requirement) of a plain `name = "version"` kind from the registry `source` instead of the
/// default one, so that a `Cargo.lock` naming `source` is accepted with `--locked`.
pub fn patch_config(source: &str, crates: &[(&str, &str)]) -> String {
    let mut text = String::from(
        "# Written by the test (ob_testkit::crates): the crates below come from the test's own\n\
         # registry on loopback, which rust/Cargo.lock names.\n\
         [patch.crates-io]\n",
    );
    for (name, requirement) in crates {
        text.push_str(&format!(
            "{name} = {{ version = \"{requirement}\", registry-index = \"{source}\" }}\n"
        ));
    }
    text
}

/// Copies the tree `from` to `to`, leaving out `target/` and `Cargo.lock`, which a developer's
/// own cargo run may have left in the fixture.
fn copy_sources(from: &Path, to: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let target = to.join(&file_name);
        if entry.file_type()?.is_dir() {
            if file_name != "target" && file_name != "__pycache__" {
                copy_sources(&entry.path(), &target)?;
            }
        } else if file_name != "Cargo.lock" {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Packs `fixtures/build/rustdemo` into `out_dir/rustdemo-1.0.tar.gz`, locked to `registry`:
/// `rust/Cargo.lock` names `obadd` 0.1.0 from [`CrateRegistry::source`] with the checksum of what
/// the registry serves for it now, and `.cargo/config.toml` patches `obadd` to come from there
/// (see the module docs). Panics if the registry does not serve `obadd` 0.1.0.
pub fn rustdemo_sdist(out_dir: &Path, registry: &CrateRegistry) -> PathBuf {
    let checksum = registry
        .checksum("obadd", "0.1.0")
        .unwrap_or_else(|| panic!("the test registry does not serve `obadd` 0.1.0"));
    let source = registry.source();
    rustdemo_sdist_locked(
        out_dir,
        Some(&source),
        &[("obadd", "0.1.0", &source, &checksum)],
    )
}

/// Packs `fixtures/build/rustdemo` into `out_dir/rustdemo-1.0.tar.gz` with a `rust/Cargo.lock`
/// that pins `deps` (name, version, source, sha256; see [`cargo_lock`]) and, given a
/// `registry_source`, a `.cargo/config.toml` that patches `obadd` to come from there (without
/// one, `obadd` is a plain default-registry dependency, as in most real sdists).
pub fn rustdemo_sdist_locked(
    out_dir: &Path,
    registry_source: Option<&str>,
    deps: &[(&str, &str, &str, &str)],
) -> PathBuf {
    let staging = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
    let tree = staging.path().join("rustdemo");
    copy_sources(&crate::sdist::fixture_dir("rustdemo"), &tree)
        .unwrap_or_else(|err| panic!("copying the rustdemo fixture: {err}"));
    let (root, root_version) = package_of(&tree.join("rust/Cargo.toml"));
    let lockfile = cargo_lock(&root, &root_version, deps);
    fs_err::write(tree.join("rust/Cargo.lock"), lockfile).unwrap_or_else(|err| panic!("{err}"));
    if let Some(registry_source) = registry_source {
        fs_err::create_dir_all(tree.join(".cargo")).unwrap_or_else(|err| panic!("{err}"));
        fs_err::write(
            tree.join(".cargo/config.toml"),
            patch_config(registry_source, &[("obadd", "0.1")]),
        )
        .unwrap_or_else(|err| panic!("{err}"));
    }
    let packed = crate::sdist::pack(&tree, out_dir)
        .unwrap_or_else(|err| panic!("packing the rustdemo sdist: {err}"));
    packed.path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain HTTP/1.1 GET: (status, body).
    fn get(url: &str) -> (u16, Vec<u8>) {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").expect("an http URL");
        let (host, path) = rest.split_at(rest.find('/').expect("a path"));
        let mut stream = std::net::TcpStream::connect(host).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("receive");
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("a header");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status");
        (status, response[split + 4..].to_vec())
    }

    fn index_entries(registry: &CrateRegistry, name: &str) -> Vec<serde_json::Value> {
        let (status, body) = get(&format!("{}{}", registry.index_url(), index_path(name)));
        assert_eq!(status, 200);
        String::from_utf8(body)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    #[test]
    fn index_paths_follow_the_sparse_layout() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("obadd"), "ob/ad/obadd");
        assert_eq!(index_path("Serde_JSON"), "se/rd/serde_json");
    }

    #[test]
    fn packing_a_crate_twice_gives_the_same_bytes() {
        let (name, version, first) = obadd_crate();
        let (_, _, second) = obadd_crate();
        assert_eq!((name.as_str(), version.as_str()), ("obadd", "0.1.0"));
        assert_eq!(first, second);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(first.as_slice()));
        let mut members = Vec::new();
        for entry in archive.entries().expect("a tar") {
            let entry = entry.expect("an entry");
            let header = entry.header();
            assert_eq!(header.mtime().expect("mtime"), 0);
            assert_eq!(header.uid().expect("uid"), 0);
            assert_eq!(header.mode().expect("mode"), 0o644);
            members.push(entry.path().expect("a path").display().to_string());
        }
        assert_eq!(
            members,
            ["obadd-0.1.0/Cargo.toml", "obadd-0.1.0/src/lib.rs"]
        );
    }

    #[test]
    fn the_registry_serves_config_index_entries_and_downloads() {
        let (name, version, bytes) = obadd_crate();
        let registry = CrateRegistry::start(vec![(name, version, bytes.clone())]);
        let port = registry
            .index_url()
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/index/")
            .to_owned();
        assert!(port.parse::<u16>().is_ok(), "{}", registry.index_url());
        assert_eq!(
            registry.source(),
            format!("sparse+http://127.0.0.1:{port}/index/")
        );

        let (status, body) = get(&format!("{}config.json", registry.index_url()));
        assert_eq!(status, 200);
        let config: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            config,
            serde_json::json!({"dl": format!("http://127.0.0.1:{port}/api/v1/crates")})
        );

        let entries = index_entries(&registry, "obadd");
        assert_eq!(
            entries,
            [serde_json::json!({
                "name": "obadd", "vers": "0.1.0", "deps": [], "cksum": sha256_hex(&bytes),
                "features": {}, "yanked": false,
            })]
        );

        let (status, downloaded) = get(&registry.download_url("obadd", "0.1.0"));
        assert_eq!(status, 200);
        assert_eq!(sha256_hex(&downloaded), sha256_hex(&bytes));
        assert_eq!(
            registry.checksum("obadd", "0.1.0"),
            Some(sha256_hex(&bytes))
        );

        assert_eq!(get(&registry.download_url("obadd", "0.2.0")).0, 404);
        assert_eq!(
            get(&format!("{}ob/ad/nothere", registry.index_url())).0,
            404
        );
        assert_eq!(get(&format!("{}obadd", registry.index_url())).0, 404);
        assert_eq!(
            registry.requests(),
            [
                "/index/config.json",
                "/index/ob/ad/obadd",
                "/api/v1/crates/obadd/0.1.0/download",
                "/api/v1/crates/obadd/0.2.0/download",
                "/index/ob/ad/nothere",
                "/index/obadd",
            ]
        );
    }

    #[test]
    fn replace_changes_the_download_and_the_index_checksum() {
        let (name, version, bytes) = obadd_crate();
        let registry = CrateRegistry::start(vec![(name, version, bytes.clone())]);
        let mut tampered = bytes.clone();
        tampered.extend_from_slice(b"tampered");
        registry.replace("obadd", "0.1.0", tampered.clone());

        let (status, downloaded) = get(&registry.download_url("obadd", "0.1.0"));
        assert_eq!(status, 200);
        assert_eq!(downloaded, tampered);
        let entries = index_entries(&registry, "obadd");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["cksum"], sha256_hex(&tampered));

        registry.replace("obadd", "0.2.0", bytes.clone());
        let versions: Vec<_> = index_entries(&registry, "obadd")
            .iter()
            .map(|entry| entry["vers"].clone())
            .collect();
        assert_eq!(versions, ["0.1.0", "0.2.0"]);
    }

    #[test]
    fn cargo_lock_reads_like_cargo_wrote_it() {
        let lockfile = cargo_lock(
            "rustdemo",
            "1.0.0",
            &[("obadd", "0.1.0", "sparse+http://127.0.0.1:9/index/", "ab12")],
        );
        assert_eq!(
            lockfile,
            "# This file is automatically @generated by Cargo.\n\
             # It is not intended for manual editing.\n\
             version = 4\n\
             \n\
             [[package]]\n\
             name = \"obadd\"\n\
             version = \"0.1.0\"\n\
             source = \"sparse+http://127.0.0.1:9/index/\"\n\
             checksum = \"ab12\"\n\
             \n\
             [[package]]\n\
             name = \"rustdemo\"\n\
             version = \"1.0.0\"\n\
             dependencies = [\n \"obadd\",\n]\n"
        );
        let lonely = cargo_lock("alone", "0.1.0", &[]);
        assert!(lonely.ends_with("[[package]]\nname = \"alone\"\nversion = \"0.1.0\"\n"));
    }

    #[test]
    fn the_rustdemo_sdist_holds_the_lock_and_no_build_output() {
        let registry = CrateRegistry::start(vec![obadd_crate()]);
        let out = tempfile::tempdir().expect("a temp dir");
        let sdist = rustdemo_sdist(out.path(), &registry);
        assert_eq!(sdist, out.path().join("rustdemo-1.0.tar.gz"));
        let bytes = fs_err::read(&sdist).expect("the sdist");
        let mut members = std::collections::BTreeMap::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        for entry in archive.entries().expect("a tar") {
            let mut entry = entry.expect("an entry");
            let path = entry.path().expect("a path").display().to_string();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("text");
            members.insert(path, text);
        }
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "rustdemo-1.0/.cargo/config.toml",
                "rustdemo-1.0/PKG-INFO",
                "rustdemo-1.0/_build/rustdemo_backend.py",
                "rustdemo-1.0/pyproject.toml",
                "rustdemo-1.0/rust/Cargo.lock",
                "rustdemo-1.0/rust/Cargo.toml",
                "rustdemo-1.0/rust/src/lib.rs",
                "rustdemo-1.0/rustdemo/__init__.py",
            ]
        );
        let checksum = registry.checksum("obadd", "0.1.0").expect("served");
        let lockfile = &members["rustdemo-1.0/rust/Cargo.lock"];
        assert!(lockfile.contains(&format!("source = \"{}\"", registry.source())));
        assert!(lockfile.contains(&format!("checksum = \"{checksum}\"")));
    }

    /// The whole fixture on the host: the crate fetched from the registry and vendored, the
    /// backend's `build_wheel` run by the host's python3 with the host's cargo, offline and
    /// locked, and the wheel's library giving 42. Then the same with a tampered crate vendored
    /// under its own checksum: cargo must refuse it, and the backend must say so and fail.
    #[test]
    fn rustdemo_builds_offline_from_the_vendored_crate_and_refuses_a_tampered_one() {
        let registry = CrateRegistry::start(vec![obadd_crate()]);
        let work = tempfile::tempdir().expect("a temp dir");
        let sdist = rustdemo_sdist(work.path(), &registry);
        let sources = work.path().join("src");
        tar::Archive::new(flate2::read::GzDecoder::new(
            fs_err::read(&sdist).expect("the sdist").as_slice(),
        ))
        .unpack(&sources)
        .expect("unpack the sdist");
        let tree = sources.join("rustdemo-1.0");

        let build = |tag: &str, crate_bytes: &[u8]| {
            // Vendored the way a build step vendors: ob-cargo's unpacking and configuration.
            let vendor = work.path().join(tag).join("vendor");
            fs_err::create_dir_all(&vendor).expect("the vendor directory");
            let crate_file = work.path().join(tag).join("obadd-0.1.0.crate");
            fs_err::write(&crate_file, crate_bytes).expect("the crate file");
            ob_cargo::vendor::unpack_crate(
                &crate_file,
                "obadd",
                "0.1.0",
                &sha256_hex(crate_bytes),
                &vendor,
            )
            .expect("vendor obadd");
            let cargo_home = work.path().join(tag).join("cargo-home");
            fs_err::create_dir_all(&cargo_home).expect("CARGO_HOME");
            fs_err::write(
                cargo_home.join("config.toml"),
                ob_cargo::vendor::cargo_config(
                    &vendor.display().to_string(),
                    &[registry.source()],
                    None,
                ),
            )
            .expect("the cargo config");
            let wheels = work.path().join(tag).join("wheels");
            fs_err::create_dir_all(&wheels).expect("the wheel directory");
            let cargo = PathBuf::from(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            let mut path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .collect::<Vec<_>>();
            if let Some(dir) = cargo.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                path.insert(0, dir.to_path_buf());
            }
            let minibackend = crate::sdist::fixture_dir("minibackend");
            std::process::Command::new("python3")
                .current_dir(&tree)
                .env("PATH", std::env::join_paths(path).expect("PATH"))
                .env("CARGO_HOME", &cargo_home)
                .env("CARGO_TARGET_DIR", work.path().join(tag).join("target"))
                .env(
                    "PYTHONPATH",
                    std::env::join_paths([tree.join("_build"), minibackend]).expect("PYTHONPATH"),
                )
                .env("SOURCE_DATE_EPOCH", "1577836800")
                .args([
                    "-c",
                    "import sys, rustdemo_backend; print(rustdemo_backend.build_wheel(sys.argv[1]))",
                ])
                .arg(&wheels)
                .output()
                .expect("run python3")
        };

        let built = build("good", &obadd_crate().2);
        let log = String::from_utf8_lossy(&built.stdout).into_owned()
            + &String::from_utf8_lossy(&built.stderr);
        assert!(built.status.success(), "{log}");
        let wheel = work
            .path()
            .join("good/wheels/rustdemo-1.0-py3-none-any.whl");
        assert!(wheel.is_file(), "{log}");
        let installed = work.path().join("good/installed");
        fs_err::create_dir_all(&installed).expect("the install directory");
        let answer = std::process::Command::new("python3")
            .env("PYTHONPATH", &installed)
            .args([
                "-c",
                "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2]); \
                 import importlib; importlib.invalidate_caches(); import rustdemo; print(rustdemo.answer())",
            ])
            .arg(&wheel)
            .arg(&installed)
            .output()
            .expect("run python3");
        assert_eq!(
            String::from_utf8_lossy(&answer.stdout).trim(),
            "42",
            "{}",
            String::from_utf8_lossy(&answer.stderr)
        );

        // Another `obadd` 0.1.0, as a registry that was tampered with would serve it.
        let tampered_tree = work.path().join("obadd-tampered");
        crate::sdist::copy_tree(
            &crate::repo_root().join("fixtures/crates/obadd"),
            &tampered_tree,
        )
        .expect("copy obadd");
        fs_err::write(
            tampered_tree.join("src/lib.rs"),
            "pub fn add(a: i32, b: i32) -> i32 { a - b }\n",
        )
        .expect("tamper with obadd");
        let tampered = pack_crate(&tampered_tree, "obadd", "0.1.0");
        let refused = build("tampered", &tampered);
        let log = String::from_utf8_lossy(&refused.stdout).into_owned()
            + &String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{log}");
        assert!(log.contains("checksum for `obadd v0.1.0"), "{log}");
        assert!(log.contains("changed between lock files"), "{log}");
        assert!(log.contains("rustdemo: cargo build failed"), "{log}");
    }
}
