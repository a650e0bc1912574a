//! Pins the Rust crates an sdist's Cargo.lock names: finds where cargo on this host would
//! download each one (cargo's configuration, and the registry's `config.json`), downloads it
//! once into the resolve's store with the Cargo.lock's checksum checked while it streams, and
//! hands the verified files to the package's steps. Nothing here runs cargo.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use ob_cargo::config::{CargoConfig, RegistryIndex};
use ob_cargo::lockfile::LockedCrate;
use ob_cargo::registry::RegistryConfig;
use ob_cargo::token::Token;
use reqwest::header::HeaderValue;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// Most bytes of one `.crate`: far above any published crate (registries cap uploads at a few
/// MiB by default), and a bound on what a lying registry can make us write.
const MAX_CRATE_BYTES: u64 = 256 << 20;
/// Crates downloaded at once for one sdist (fetch's default for the same reason: downloads wait
/// on the network, not on the cores).
const PARALLEL_DOWNLOADS: usize = 8;

/// One crate, downloaded and verified.
#[derive(Debug, Clone)]
pub struct PinnedCrate {
    /// Its lock entry.
    pub entry: ob_lock::Crate,
    /// The verified file in the store.
    pub path: PathBuf,
    /// Whether it comes from cargo's built-in default registry.
    pub default_registry: bool,
}

impl PinnedCrate {
    /// The step input that vendors it.
    pub fn input(&self) -> ob_build::CrateInput {
        ob_build::CrateInput {
            name: self.entry.name.clone(),
            version: self.entry.version.clone(),
            sha256: self.entry.sha256.clone(),
            source: self.entry.source.clone(),
            path: self.path.clone(),
            default_registry: self.default_registry,
        }
    }
}

type Shared<T> = Arc<OnceCell<Result<T, String>>>;

/// The crates of one resolve.
pub struct CrateStore {
    dir: PathBuf,
    client: reqwest::Client,
    /// cargo's configuration, read once on first need (most resolves have no Rust at all).
    config: OnceCell<Result<CargoConfig, String>>,
    /// By index URL: the registry's `config.json`.
    registries: Mutex<HashMap<String, Shared<RegistryConfig>>>,
    /// By `name@version`: the one download of it.
    downloads: Mutex<HashMap<String, Shared<PinnedCrate>>>,
    /// By sdist file name: what it pins.
    by_sdist: Mutex<HashMap<String, Vec<PinnedCrate>>>,
}

impl CrateStore {
    /// A store whose crates live in `dir` (created on first download).
    pub fn new(dir: PathBuf) -> Result<CrateStore, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("offline-build/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|err| format!("could not make an HTTP client: {err}"))?;
        Ok(CrateStore {
            dir,
            client,
            config: OnceCell::new(),
            registries: Mutex::default(),
            downloads: Mutex::default(),
            by_sdist: Mutex::default(),
        })
    }

    /// Downloads and verifies every crate of `crates` (what the sdist `filename` pins) and
    /// records them for its steps and its lock entry. The message of an `Err` names the crate.
    pub async fn pin(&self, filename: &str, crates: &[LockedCrate]) -> Result<(), String> {
        // A real Cargo.lock pins a hundred crates or more: several downloads at once, as fetch
        // does; the first failure is reported (the others were not needed any more).
        let downloads: Vec<_> = crates.iter().map(|locked| self.download(locked)).collect();
        let pinned: Vec<PinnedCrate> = futures_util::stream::iter(downloads)
            .buffered(PARALLEL_DOWNLOADS)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        self.by_sdist
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(filename.to_owned(), pinned);
        Ok(())
    }

    /// The crates the sdist `filename` pins, as its lock entry needs them.
    pub fn pinned(&self, filename: &str) -> Vec<PinnedCrate> {
        self.by_sdist
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(filename)
            .cloned()
            .unwrap_or_default()
    }

    /// The Cargo.lock source of cargo's built-in default registry, when some pinned crate
    /// comes from it (for the lock, whose builds replace it as `[source.crates-io]`).
    pub fn default_registry_in_use(&self) -> Option<String> {
        let by_sdist = self.by_sdist.lock().unwrap_or_else(PoisonError::into_inner);
        by_sdist
            .values()
            .flatten()
            .find(|pinned| pinned.default_registry)
            .map(|pinned| pinned.entry.source.clone())
    }

    async fn config(&self) -> Result<&CargoConfig, String> {
        self.config
            .get_or_init(|| async {
                tokio::task::spawn_blocking(CargoConfig::from_host)
                    .await
                    .map_err(|join| join.to_string())?
                    .map_err(|err| describe(&err))
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn registry(
        &self,
        index: &RegistryIndex,
        config: &CargoConfig,
    ) -> Result<RegistryConfig, String> {
        let cell = self
            .registries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(index.url.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            ob_cargo::registry::fetch_config(&self.client, index, config.token_for(index))
                .await
                .map_err(|err| describe(&err))
        })
        .await
        .clone()
    }

    async fn download(&self, locked: &LockedCrate) -> Result<PinnedCrate, String> {
        let key = format!("{}@{}", locked.name, locked.version);
        let cell = self
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let pinned = cell
            .get_or_init(|| async { self.download_once(locked).await })
            .await
            .clone()?;
        if pinned.entry.sha256 != locked.checksum || pinned.entry.source != locked.source {
            return Err(format!(
                "the crate `{}` {} is pinned by two Cargo.lock files with different sources or checksums (`{}` {} and `{}` {})",
                locked.name,
                locked.version,
                pinned.entry.source,
                pinned.entry.sha256,
                locked.source,
                locked.checksum
            ));
        }
        Ok(pinned)
    }

    async fn download_once(&self, locked: &LockedCrate) -> Result<PinnedCrate, String> {
        let named = |problem: String| {
            format!(
                "the crate `{}` {} (from `{}`): {problem}",
                locked.name, locked.version, locked.source
            )
        };
        let config = self.config().await?;
        let default_registry = config.is_default_registry(&locked.source);
        let index = config
            .index_for(&locked.source)
            .map_err(|err| named(describe(&err)))?;
        let registry = self.registry(&index, config).await.map_err(named)?;
        // As cargo does: the token goes with downloads only to a registry that wants it for
        // everything, and only in the Authorization header.
        let token = if registry.auth_required {
            let Some(token) = config.token_for(&index).and_then(Token::header_value) else {
                return Err(named(describe(&ob_cargo::CargoError::TokenRequired {
                    registry: ob_cargo::registry::shown_index(&index.url),
                    variable: index.name.as_deref().map(ob_cargo::token::token_variable),
                })));
            };
            Some(token)
        } else {
            None
        };
        let url = ob_cargo::registry::download_url(
            &registry.dl,
            &locked.name,
            &locked.version,
            &locked.checksum,
        )
        .map_err(|err| named(describe(&err)))?;
        let filename = format!("{}-{}.crate", locked.name, locked.version);
        let path = self.dir.join(&filename);
        let size = match verified_size(&path, &locked.checksum).await {
            Some(size) => size,
            None => self
                .fetch(&url, &path, &locked.checksum, token)
                .await
                .map_err(named)?,
        };
        Ok(PinnedCrate {
            entry: ob_lock::Crate {
                name: locked.name.clone(),
                version: locked.version.clone(),
                source: locked.source.clone(),
                url: url.to_string(),
                size,
                sha256: locked.checksum.clone(),
            },
            path,
            default_registry,
        })
    }

    /// Streams `url` into a hidden file beside `path`, hashing as it goes, and gives it its
    /// final name only when the sha256 is `checksum`. Returns the size.
    async fn fetch(
        &self,
        url: &url::Url,
        path: &Path,
        checksum: &str,
        token: Option<HeaderValue>,
    ) -> Result<u64, String> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|err| format!("could not create `{}`: {err}", self.dir.display()))?;
        let mut request = self.client.get(url.clone());
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let response = request
            .send()
            .await
            .map_err(|err| format!("could not download {url}: {err}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let partial = tempfile::Builder::new()
            .prefix(".crate-")
            .suffix(".partial")
            .tempfile_in(&self.dir)
            .map_err(|err| format!("could not create a file in `{}`: {err}", self.dir.display()))?;
        let mut file = tokio::fs::File::from_std(
            partial
                .reopen()
                .map_err(|err| format!("could not open `{}`: {err}", partial.path().display()))?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|err| format!("the download of {url} failed: {err}"))?;
            size += chunk.len() as u64;
            if size > MAX_CRATE_BYTES {
                return Err(format!(
                    "{url} sent more than {MAX_CRATE_BYTES} bytes, more than any crate"
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|err| format!("could not write `{}`: {err}", partial.path().display()))?;
        }
        file.flush()
            .await
            .map_err(|err| format!("could not write `{}`: {err}", partial.path().display()))?;
        let actual = hex::encode(hasher.finalize());
        if actual != checksum {
            return Err(format!(
                "{url} sent a file with sha256 {actual}, but the Cargo.lock pins {checksum}"
            ));
        }
        if size == 0 {
            return Err(format!("{url} sent an empty file"));
        }
        partial
            .persist(path)
            .map_err(|err| format!("could not keep `{}`: {}", path.display(), err.error))?;
        Ok(size)
    }
}

/// The size of the file at `path` when it is there with sha256 `checksum` (a crate the store
/// kept from an earlier resolve); `None` otherwise.
async fn verified_size(path: &Path, checksum: &str) -> Option<u64> {
    let path = path.to_owned();
    let checksum = checksum.to_owned();
    tokio::task::spawn_blocking(move || {
        let metadata = std::fs::symlink_metadata(&path).ok()?;
        if !metadata.file_type().is_file() {
            return None;
        }
        let sha256 = ob_build::sha256_file(&path).ok()?;
        (sha256 == checksum && metadata.len() > 0).then_some(metadata.len())
    })
    .await
    .ok()
    .flatten()
}

/// An error of ob-cargo with its hint, on one line.
fn describe(error: &ob_cargo::CargoError) -> String {
    match error.hint() {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    }
}
