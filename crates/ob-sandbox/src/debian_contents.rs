//! Which Debian package ships a file, for the hints of a failed build: an index of the
//! archive's Contents file for the builder image's suite and architecture, and what each image
//! made here holds. `offline-build image create` (which has the network) writes both into the
//! cache; a build (which may have none) only ever reads them, and does without when they are
//! missing.
//!
//! Why the Contents file: it is the archive's own list of every file of every package in a
//! suite (`dists/trixie/main/Contents-amd64.gz`, what `apt-file` reads), so the answer is the
//! one `apt-file search usr/include/zstd.h` gives, for exactly the suite the image is made from,
//! and it comes from the mirror `image create` already uses. Measured for trixie/main/amd64
//! (Dec 2026): 12.7 MB compressed, 170 MB and 1.85 million lines uncompressed, fetched in about
//! a second here. Only the files a hint can ask about are kept: headers under `usr/include/`,
//! `lib*.so`/`lib*.a` and pkg-config and CMake package files in the library directories, and
//! programs in `usr/bin/` and `usr/sbin/`: 316,540 lines (25 MB), written in 1.9 s by a release
//! build, sorted by lower-cased file name so that a lookup is a binary search over the file
//! (0.04 ms) instead of a scan of the archive's list. The Contents file is read as a stream
//! and never kept; only the lines kept are held, to sort them. The example `contents_index`
//! repeats these measurements.
//!
//! The file is taken as the mirror serves it: gzip's checksum guards against a truncated
//! download, but the Release file's hashes are not checked (mirrors and caching proxies serve
//! Contents files newer or older than their Release file, measured here), and its signature
//! would need a keyring. What it says only chooses advice text, and every package name in it is
//! checked to be one before it is written or read back.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::image::{ImageInfo, is_debian_package_name};

/// The first line of an index file: its format, then suite and architecture.
const INDEX_FORMAT: &str = "offline-build-contents 1";
/// More than any Contents file of the archive (trixie/main/amd64: 12.7 MB): a mirror that
/// sends more is refused.
const MAX_DOWNLOAD_BYTES: u64 = 512 << 20;
/// More than the uncompressed Contents file (trixie/main/amd64: 170 MB), against a gzip bomb.
const MAX_UNCOMPRESSED_BYTES: u64 = 4 << 30;
/// Longer lines are no path a hint asks about; they are skipped.
const MAX_LINE_BYTES: usize = 4096;
/// Most of the index kept in memory while it is sorted: trixie's is 25 MB; a mirror that
/// inflates a few MB of gzip into gigabytes of made-up entries stops here.
const MAX_KEPT_BYTES: u64 = 256 << 20;

/// A Debian architecture and its multiarch triplet (the directory under `usr/lib/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    /// Debian's name, e.g. `amd64`: the suffix of the Contents file.
    pub debian: &'static str,
    /// The multiarch triplet, e.g. `x86_64-linux-gnu`.
    pub triplet: &'static str,
}

/// The architecture of images made on this host: debootstrap makes the host's own, and Docker
/// runs it natively. `None` on a machine Debian has no port for.
pub fn host_architecture() -> Option<Architecture> {
    let (debian, triplet) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", "x86_64-linux-gnu"),
        "aarch64" => ("arm64", "aarch64-linux-gnu"),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64el", "powerpc64le-linux-gnu"),
        "s390x" => ("s390x", "s390x-linux-gnu"),
        "riscv64" => ("riscv64", "riscv64-linux-gnu"),
        _ => return None,
    };
    Some(Architecture { debian, triplet })
}

/// `$XDG_CACHE_HOME/offline-build/debian`, else `~/.cache/offline-build/debian`: beside the
/// wheel cache.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("offline-build").join("debian"))
}

/// Where the Contents file of `suite`'s main component for `arch` is on `mirror`.
pub fn contents_url(mirror: &str, suite: &str, arch: &Architecture) -> String {
    format!(
        "{}/dists/{suite}/main/Contents-{}.gz",
        mirror.trim_end_matches('/'),
        arch.debian
    )
}

/// Where the index of `suite` for `arch` is kept under `cache_dir`.
pub fn index_path(cache_dir: &Path, suite: &str, arch: &Architecture) -> PathBuf {
    cache_dir.join(format!("{suite}-{}.contents-index", arch.debian))
}

/// Everything that can go wrong while fetching or indexing a Contents file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentsError {
    /// The request failed, or the mirror answered with an error status.
    #[error("could not download `{url}`")]
    Download {
        /// What was asked for.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The mirror sent more than any Contents file is.
    #[error("`{url}` is larger than {limit} bytes, more than any Contents file; refused")]
    TooLarge {
        /// What was asked for.
        url: String,
        /// The limit it passed.
        limit: u64,
    },
    /// What was downloaded is not a gzip-compressed Contents file.
    #[error("`{url}` is not a gzip-compressed Contents file")]
    NotContents {
        /// Where it came from.
        url: String,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a file of the cache failed (the message names it).
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What [`download`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOutcome {
    /// The index written.
    pub index: PathBuf,
    /// Bytes downloaded (compressed).
    pub downloaded_bytes: u64,
    /// Lines of the index.
    pub entries: usize,
}

/// Downloads the Contents file of `suite`/main for `arch` from `mirror` and writes its index
/// under `cache_dir`, replacing any earlier one only once the new one is complete. Honours the
/// usual proxy variables, except for a mirror on this machine.
pub async fn download(
    mirror: &str,
    suite: &str,
    arch: &Architecture,
    cache_dir: &Path,
) -> Result<DownloadOutcome, ContentsError> {
    let url = contents_url(mirror, suite, arch);
    let download_error = |source| ContentsError::Download {
        url: url.clone(),
        source,
    };
    let loopback = reqwest::Url::parse(&url)
        .ok()
        .and_then(|parsed| parsed.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // Between reads, not in total: a slow link is fine, a stalled one is not.
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("offline-build/", env!("CARGO_PKG_VERSION")));
    if loopback {
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(download_error)?;
    let mut response = client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(download_error)?;

    fs_err::create_dir_all(cache_dir).map_err(|source| ContentsError::Io {
        action: "create",
        path: cache_dir.to_owned(),
        source,
    })?;
    let io_error = |action: &'static str| {
        let path = cache_dir.to_owned();
        move |source| ContentsError::Io {
            action,
            path,
            source,
        }
    };
    let mut compressed = tempfile::Builder::new()
        .prefix(".contents-download-")
        .tempfile_in(cache_dir)
        .map_err(io_error("create a temporary file in"))?;
    let mut downloaded_bytes = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(download_error)? {
        downloaded_bytes += chunk.len() as u64;
        if downloaded_bytes > MAX_DOWNLOAD_BYTES {
            return Err(ContentsError::TooLarge {
                url,
                limit: MAX_DOWNLOAD_BYTES,
            });
        }
        // A local file, written in the chunks the network delivers: short blocking writes.
        compressed
            .write_all(&chunk)
            .map_err(io_error("write a temporary file in"))?;
    }
    compressed
        .flush()
        .map_err(io_error("write a temporary file in"))?;

    let index = index_path(cache_dir, suite, arch);
    let header = format!("{INDEX_FORMAT} {suite} {}", arch.debian);
    let triplet = arch.triplet;
    let (task_index, task_url) = (index.clone(), url.clone());
    let entries = tokio::task::spawn_blocking(move || {
        let file = compressed.reopen().map_err(|source| ContentsError::Io {
            action: "read",
            path: compressed.path().to_owned(),
            source,
        })?;
        write_index(
            BufReader::new(file),
            &header,
            triplet,
            &task_index,
            &task_url,
        )
    })
    .await
    .map_err(|join| ContentsError::Io {
        action: "index",
        path: index.clone(),
        source: std::io::Error::other(join),
    })??;
    Ok(DownloadOutcome {
        index,
        downloaded_bytes,
        entries,
    })
}

/// Reads the gzip-compressed Contents file `contents` as a stream and writes the index of the
/// files a hint can ask about to `out` (atomically: a temporary file beside it, then a rename);
/// returns its number of entries. `url` names the input in errors.
pub fn write_index(
    contents: impl BufRead,
    header: &str,
    triplet: &str,
    out: &Path,
    url: &str,
) -> Result<usize, ContentsError> {
    let not_contents = |source| ContentsError::NotContents {
        url: url.to_owned(),
        source,
    };
    let mut decoder =
        BufReader::new(flate2::bufread::GzDecoder::new(contents).take(MAX_UNCOMPRESSED_BYTES));
    // One string per kept file, `key\tpath\tpackages`: sorting the lines sorts by key, since
    // the tab sorts below every character a key has.
    let mut lines: Vec<String> = Vec::new();
    let mut kept_bytes = 0u64;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let read = (&mut decoder)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(not_contents)?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && line.len() > MAX_LINE_BYTES {
            // The rest of an over-long line.
            loop {
                line.clear();
                let more = (&mut decoder)
                    .take(MAX_LINE_BYTES as u64)
                    .read_until(b'\n', &mut line)
                    .map_err(not_contents)?;
                if more == 0 || line.last() == Some(&b'\n') {
                    break;
                }
            }
            continue;
        }
        if let Some(entry) = std::str::from_utf8(&line)
            .ok()
            .and_then(|text| index_line(text, triplet))
        {
            kept_bytes += entry.len() as u64;
            if kept_bytes > MAX_KEPT_BYTES {
                return Err(not_contents(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "it lists more of the files looked for than any Debian suite does (over \
                         {MAX_KEPT_BYTES} bytes)"
                    ),
                )));
            }
            lines.push(entry);
        }
    }
    if lines.is_empty() {
        return Err(not_contents(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it lists none of the files looked for",
        )));
    }
    lines.sort_unstable();
    lines.dedup();

    let dir = out.parent().unwrap_or(Path::new("."));
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ContentsError::Io {
            action,
            path,
            source,
        }
    };
    let temp = tempfile::Builder::new()
        .prefix(".contents-index-")
        .tempfile_in(dir)
        .map_err(io_error("create a temporary file in", dir))?;
    let mut writer = std::io::BufWriter::new(temp);
    writeln!(writer, "{header}").map_err(io_error("write", out))?;
    for entry in &lines {
        writeln!(writer, "{entry}").map_err(io_error("write", out))?;
    }
    let temp = writer
        .into_inner()
        .map_err(|err| io_error("write", out)(err.into_error()))?;
    temp.persist(out)
        .map_err(|err| io_error("replace", out)(err.error))?;
    Ok(lines.len())
}

/// The index line for one line of a Contents file (`path   section/package,...`), when the
/// path is one a hint can ask about and at least one package name is valid.
fn index_line(line: &str, triplet: &str) -> Option<String> {
    let line = line.trim_end();
    let (path, location) = line.rsplit_once([' ', '\t'])?;
    let path = path.trim_end();
    // Only the characters real paths of kept files have: a hint quotes the path, and a hostile
    // mirror must not put shell syntax or invisible characters into it.
    if !kept(path, triplet)
        || !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-/".contains(&b))
    {
        return None;
    }
    // `[[area/]section/]name`, several separated by commas.
    let packages: Vec<&str> = location
        .split(',')
        .filter_map(|qualified| qualified.rsplit('/').next())
        .filter(|name| is_debian_package_name(name))
        .collect();
    if packages.is_empty() {
        return None;
    }
    let name = path.rsplit('/').next()?;
    Some(format!(
        "{}\t{path}\t{}",
        name.to_ascii_lowercase(),
        packages.join(",")
    ))
}

/// Whether a hint can ask about `path`: a header, a library to link, a pkg-config or CMake
/// package file, or a program. Called for each of the archive's two million lines: prefixes
/// only, no allocation.
fn kept(path: &str, triplet: &str) -> bool {
    let Some(rest) = path.strip_prefix("usr/") else {
        return false;
    };
    if let Some(header) = rest.strip_prefix("include/") {
        return !header.is_empty() && !header.ends_with('/');
    }
    if name_in(rest, "bin").is_some() || name_in(rest, "sbin").is_some() {
        return true;
    }
    if let Some(share) = rest.strip_prefix("share/") {
        return name_in(share, "pkgconfig").is_some_and(|name| name.ends_with(".pc"))
            || cmake_config(share);
    }
    let Some(lib) = rest.strip_prefix("lib/") else {
        return false;
    };
    // `usr/lib/<triplet>/` first, then `usr/lib/` itself.
    let lib = lib
        .strip_prefix(triplet)
        .and_then(|in_triplet| in_triplet.strip_prefix('/'))
        .unwrap_or(lib);
    if !lib.contains('/') {
        return lib.starts_with("lib") && (lib.ends_with(".so") || lib.ends_with(".a"));
    }
    name_in(lib, "pkgconfig").is_some_and(|name| name.ends_with(".pc")) || cmake_config(lib)
}

/// The file name of `path` when it is directly in `dir`.
fn name_in<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    path.strip_prefix(dir)?
        .strip_prefix('/')
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

/// `cmake/<Package>/<Package>Config.cmake` or `.../<package>-config.cmake` (under a library or
/// share directory): what CMake's `find_package` looks for in config mode.
fn cmake_config(path: &str) -> bool {
    path.strip_prefix("cmake/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(package, file)| {
            !package.is_empty()
                && !file.contains('/')
                && (file.ends_with("Config.cmake") || file.ends_with("-config.cmake"))
        })
}

/// A file of the archive and the packages that ship it, from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentsEntry {
    /// The path without its leading `/`, e.g. `usr/include/zstd.h`.
    pub path: String,
    /// The packages that ship it, as the Contents file orders them.
    pub packages: Vec<String>,
}

/// An index written by [`download`], for lookups by file name.
#[derive(Debug, Clone)]
pub struct ContentsIndex {
    path: PathBuf,
    /// Where the first entry starts (after the header line).
    entries_start: u64,
}

impl ContentsIndex {
    /// The index at `path`, when it is there and in a format this version reads.
    pub fn open(path: &Path) -> Option<ContentsIndex> {
        let mut header = Vec::new();
        BufReader::new(fs_err::File::open(path).ok()?)
            .take(256)
            .read_until(b'\n', &mut header)
            .ok()?;
        let text = std::str::from_utf8(&header).ok()?;
        let format = text.strip_prefix(INDEX_FORMAT)?;
        (format.starts_with(' ') && text.ends_with('\n')).then(|| ContentsIndex {
            path: path.to_owned(),
            entries_start: header.len() as u64,
        })
    }

    /// The index of `suite` for this host's architecture in the default cache, if any.
    pub fn cached(suite: &str) -> Option<ContentsIndex> {
        let arch = host_architecture()?;
        ContentsIndex::open(&index_path(&default_cache_dir()?, suite, &arch))
    }

    /// Every file named `name` (compared ignoring ASCII case, as CMake package names are), in
    /// the index's order: by path.
    pub fn find(&self, name: &str) -> std::io::Result<Vec<ContentsEntry>> {
        let key = name.to_ascii_lowercase();
        let key = key.as_bytes();
        let mut file = BufReader::new(fs_err::File::open(&self.path)?);
        let end = file.get_ref().metadata()?.len();
        // Every line that starts before `low` has a smaller key; the first line whose key is
        // not smaller starts at or before `high`.
        let (mut low, mut high) = (self.entries_start, end);
        let mut line = Vec::new();
        while low < high {
            let middle = low + (high - low) / 2;
            file.seek(SeekFrom::Start(middle))?;
            line.clear();
            let skipped = file.read_until(b'\n', &mut line)? as u64;
            let start = middle + skipped;
            if start >= high {
                break;
            }
            line.clear();
            let length = file.read_until(b'\n', &mut line)? as u64;
            if key_of(trim_newline(&line)) < key {
                low = start + length;
            } else {
                high = start;
            }
        }
        file.seek(SeekFrom::Start(low))?;
        let mut found = Vec::new();
        loop {
            line.clear();
            if file.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            let text = trim_newline(&line);
            let line_key = key_of(text);
            if line_key > key {
                break;
            }
            if line_key < key {
                continue;
            }
            let Ok(text) = std::str::from_utf8(text) else {
                continue;
            };
            let mut fields = text.split('\t').skip(1);
            let (Some(path), Some(packages)) = (fields.next(), fields.next()) else {
                continue;
            };
            let packages: Vec<String> = packages
                .split(',')
                .filter(|name| is_debian_package_name(name))
                .map(str::to_owned)
                .collect();
            if !packages.is_empty() {
                found.push(ContentsEntry {
                    path: path.to_owned(),
                    packages,
                });
            }
        }
        Ok(found)
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// The key of an index line: the lower-cased file name before the first tab.
fn key_of(line: &[u8]) -> &[u8] {
    line.split(|byte| *byte == b'\t').next().unwrap_or_default()
}

/// The Debian packages of an image made by `image create`, kept by its layer digest so that a
/// hint can say a package is there already without asking Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordedImage {
    /// The reference it was made as.
    pub reference: String,
    /// Every installed package's name, without architecture or version.
    pub debian_packages: Vec<String>,
    /// The packages it was asked to have with `image create --with`.
    pub extra_packages: Vec<String>,
}

/// `images/sha256-<hex>.json` under `cache_dir`, or `None` for a digest that is not a sha256.
fn record_path(cache_dir: &Path, digest: &str) -> Option<PathBuf> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| cache_dir.join("images").join(format!("sha256-{hex}.json")))
}

/// Keeps what `info` says about its Debian packages under `cache_dir`, by its digest.
pub fn record_image(cache_dir: &Path, info: &ImageInfo) -> Result<(), ContentsError> {
    let Some(path) = record_path(cache_dir, &info.digest) else {
        return Ok(());
    };
    let name_of = |entry: &String| -> String {
        entry
            .split(['=', ':'])
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let record = RecordedImage {
        reference: info.reference.clone(),
        debian_packages: info.debian_packages.iter().map(name_of).collect(),
        extra_packages: info.extra_packages.clone(),
    };
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ContentsError::Io {
            action,
            path,
            source,
        }
    };
    let dir = cache_dir.join("images");
    fs_err::create_dir_all(&dir).map_err(io_error("create", &dir))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".image-")
        .tempfile_in(&dir)
        .map_err(io_error("create a temporary file in", &dir))?;
    serde_json::to_writer_pretty(&mut temp, &record)
        .map_err(|err| io_error("write", &path)(err.into()))?;
    temp.persist(&path)
        .map_err(|err| io_error("replace", &path)(err.error))?;
    Ok(())
}

/// What [`record_image`] kept about the image with layer digest `digest`, if it did.
pub fn recorded_image(cache_dir: &Path, digest: &str) -> Option<RecordedImage> {
    let path = record_path(cache_dir, digest)?;
    let mut text = String::new();
    fs_err::File::open(path)
        .ok()?
        .take(4 << 20)
        .read_to_string(&mut text)
        .ok()?;
    let mut record: RecordedImage = serde_json::from_str(&text).ok()?;
    record
        .debian_packages
        .retain(|name| is_debian_package_name(name));
    record
        .extra_packages
        .retain(|name| is_debian_package_name(name));
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD64: Architecture = Architecture {
        debian: "amd64",
        triplet: "x86_64-linux-gnu",
    };

    /// Lines as trixie's Contents-amd64 has them (column padding, `section/name`, several
    /// packages, a path with spaces), and some that are no file a hint asks about.
    pub(crate) const CONTENTS: &str = "\
bin                                                     admin/base-files
etc/shellinabox/options-available/00+Black on White.css web/shellinabox
usr/bin/curl-config                                     libdevel/libcurl4-gnutls-dev,libdevel/libcurl4-openssl-dev
usr/bin/zstd                                            utils/zstd
usr/include/hdf5/serial/hdf5.h                          libdevel/libhdf5-dev
usr/include/libxml2/libxml/xmlversion.h                 libdevel/libxml2-dev
usr/include/lz4.h                                       libdevel/liblz4-dev
usr/include/zstd.h                                      libdevel/libzstd-dev
usr/lib/i386-linux-gnu/libzstd.so                       libdevel/lib32zstd-dev
usr/lib/x86_64-linux-gnu/cmake/zstd/zstdConfig.cmake    libdevel/libzstd-dev
usr/lib/x86_64-linux-gnu/libzstd.so                     libdevel/libzstd-dev
usr/lib/x86_64-linux-gnu/libzstd.so.1                   libs/libzstd1
usr/lib/x86_64-linux-gnu/pkgconfig/libzstd.pc           libdevel/libzstd-dev
usr/share/doc/libzstd-dev/copyright                     libdevel/libzstd-dev
usr/share/pkgconfig/bash-completion.pc                  shells/bash-completion
usr/include/evil.h                                      libdevel/Bad;Name
";

    pub(crate) fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    fn index_of(text: &str) -> (tempfile::TempDir, ContentsIndex) {
        let dir = tempfile::tempdir().unwrap();
        let path = index_path(dir.path(), "trixie", &AMD64);
        let bytes = gzip(text);
        write_index(
            bytes.as_slice(),
            "offline-build-contents 1 trixie amd64",
            AMD64.triplet,
            &path,
            "test",
        )
        .unwrap();
        let index = ContentsIndex::open(&path).unwrap();
        (dir, index)
    }

    fn paths(entries: &[ContentsEntry]) -> Vec<&str> {
        entries.iter().map(|entry| entry.path.as_str()).collect()
    }

    /// Regression (attacker's review): a hostile mirror could put shell syntax or invisible
    /// characters into a path that a hint quotes.
    #[test]
    fn paths_with_characters_no_real_path_has_are_not_kept() {
        let triplet = "x86_64-linux-gnu";
        assert!(index_line("usr/include/zstd.h     libdevel/libzstd-dev", triplet).is_some());
        for hostile in [
            "usr/include/`reboot`.h   libdevel/evil-dev",
            "usr/include/$(id).h   libdevel/evil-dev",
            "usr/include/a|b.h   libdevel/evil-dev",
            "usr/include/zs\u{200b}td.h   libdevel/evil-dev",
        ] {
            assert!(index_line(hostile, triplet).is_none(), "{hostile}");
        }
    }

    #[test]
    fn the_index_keeps_headers_libraries_package_files_and_programs() {
        let (_dir, index) = index_of(CONTENTS);
        let found = index.find("zstd.h").unwrap();
        assert_eq!(
            found,
            [ContentsEntry {
                path: "usr/include/zstd.h".into(),
                packages: vec!["libzstd-dev".into()]
            }]
        );
        // Another architecture's library directory is not this image's.
        assert_eq!(
            paths(&index.find("libzstd.so").unwrap()),
            ["usr/lib/x86_64-linux-gnu/libzstd.so"]
        );
        assert_eq!(
            index.find("curl-config").unwrap()[0].packages,
            ["libcurl4-gnutls-dev", "libcurl4-openssl-dev"]
        );
        // CMake package names are matched ignoring case.
        assert_eq!(
            paths(&index.find("ZSTDConfig.cmake").unwrap()),
            ["usr/lib/x86_64-linux-gnu/cmake/zstd/zstdConfig.cmake"]
        );
        assert_eq!(index.find("libzstd.pc").unwrap().len(), 1);
        assert_eq!(index.find("bash-completion.pc").unwrap().len(), 1);
        assert_eq!(index.find("zstd").unwrap().len(), 1);
        assert_eq!(index.find("xmlversion.h").unwrap().len(), 1);
        // Runtime libraries, documentation and bad package names are left out.
        for absent in [
            "libzstd.so.1",
            "copyright",
            "evil.h",
            "bin",
            "nothere.h",
            "",
        ] {
            assert_eq!(index.find(absent).unwrap(), [], "{absent}");
        }
        // Every key around the edges of the file is found by the binary search.
        for name in ["bash-completion.pc", "zstdconfig.cmake", "curl-config"] {
            assert_eq!(index.find(name).unwrap().len(), 1, "{name}");
        }
    }

    #[test]
    fn a_large_index_is_searched_exactly() {
        let mut text = String::new();
        for number in 0..5000 {
            text.push_str(&format!(
                "usr/include/h{number:05}.h    libdevel/libh{number}-dev\n"
            ));
        }
        let (_dir, index) = index_of(&text);
        for number in [0, 1, 2, 2499, 2500, 4998, 4999] {
            let found = index.find(&format!("h{number:05}.h")).unwrap();
            assert_eq!(found.len(), 1, "{number}");
            assert_eq!(found[0].packages, [format!("libh{number}-dev")]);
        }
        assert_eq!(index.find("h5000.h").unwrap(), []);
        assert_eq!(index.find("a.h").unwrap(), []);
        assert_eq!(index.find("zzz.h").unwrap(), []);
    }

    #[test]
    fn what_is_not_a_contents_file_is_refused_and_leaves_no_index() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("index");
        let err = write_index(&b"not gzip"[..], "h", "t", &out, "u").unwrap_err();
        assert!(matches!(err, ContentsError::NotContents { .. }), "{err}");
        let err = write_index(gzip("hello\n").as_slice(), "h", "t", &out, "u").unwrap_err();
        assert!(matches!(err, ContentsError::NotContents { .. }), "{err}");
        assert!(!out.exists());
        // A truncated download fails gzip's own check.
        let mut bytes = gzip(CONTENTS);
        bytes.truncate(bytes.len() - 6);
        assert!(write_index(bytes.as_slice(), "h", "t", &out, "u").is_err());
        assert!(!out.exists());
        // An index of another format is not read.
        fs_err::write(&out, "offline-build-contents 2 trixie amd64\n").unwrap();
        assert!(ContentsIndex::open(&out).is_none());
    }

    #[test]
    fn an_over_long_line_is_skipped_not_kept() {
        let text = format!(
            "usr/include/{}.h libdevel/libx-dev\nusr/include/lz4.h libdevel/liblz4-dev\n",
            "a".repeat(10_000)
        );
        let (_dir, index) = index_of(&text);
        assert_eq!(index.find("lz4.h").unwrap().len(), 1);
    }

    #[test]
    fn an_image_record_is_found_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let info = ImageInfo {
            reference: "offline-build/builder:trixie".into(),
            id: "sha256:1".into(),
            digest: digest.clone(),
            python_version: "3.13.5".into(),
            platform: "linux_x86_64".into(),
            debian_packages: vec![
                "libzstd-dev:amd64=1.5.7+dfsg-1".into(),
                "python3=3.13.5-1".into(),
            ],
            extra_packages: vec!["libgdal-dev".into()],
        };
        record_image(dir.path(), &info).unwrap();
        let record = recorded_image(dir.path(), &digest).unwrap();
        assert_eq!(record.debian_packages, ["libzstd-dev", "python3"]);
        assert_eq!(record.extra_packages, ["libgdal-dev"]);
        assert!(recorded_image(dir.path(), &format!("sha256:{}", "cd".repeat(32))).is_none());
        assert!(recorded_image(dir.path(), "sha256:../../etc/passwd").is_none());
    }

    /// Serves `body` at every path on 127.0.0.1 until `count` requests were answered.
    fn serve(body: Vec<u8>, count: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut requested = Vec::new();
            for stream in listener.incoming().take(count) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap() > 2 {
                    header.clear();
                }
                requested.push(request_line.trim().to_owned());
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .unwrap();
                stream.write_all(&body).unwrap();
            }
            requested
        });
        (format!("http://{address}/debian/"), thread)
    }

    #[tokio::test]
    async fn a_downloaded_index_is_cached_and_read_with_the_server_gone() {
        let cache = tempfile::tempdir().unwrap();
        let (mirror, server) = serve(gzip(CONTENTS), 1);
        let outcome = download(&mirror, "trixie", &AMD64, cache.path())
            .await
            .unwrap();
        let requested = server.join().unwrap();
        assert_eq!(
            requested,
            ["GET /debian/dists/trixie/main/Contents-amd64.gz HTTP/1.1"]
        );
        assert_eq!(outcome.index, index_path(cache.path(), "trixie", &AMD64));
        assert_eq!(outcome.entries, 10);
        assert_eq!(outcome.downloaded_bytes, gzip(CONTENTS).len() as u64);
        // The server is gone: the lookup needs only the cache.
        let index = ContentsIndex::open(&outcome.index).unwrap();
        assert_eq!(index.find("lz4.h").unwrap()[0].packages, ["liblz4-dev"]);
        // Nothing but the index is left in the cache.
        let names: Vec<String> = fs_err::read_dir(cache.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["trixie-amd64.contents-index"]);
        // A failed download keeps the index that was there.
        let err = download(&mirror, "trixie", &AMD64, cache.path())
            .await
            .unwrap_err();
        assert!(matches!(err, ContentsError::Download { .. }), "{err}");
        assert!(ContentsIndex::open(&outcome.index).is_some());
    }
}
