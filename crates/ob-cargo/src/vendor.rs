//! Vendoring: unpacking verified `.crate` files into a cargo directory source, and the cargo
//! configuration that makes cargo build from it offline. The `.crate` file is treated as hostile
//! even though its sha256 matched: a registry can serve a valid hash of a malicious archive.

use std::collections::BTreeMap;
use std::io::{BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use fs_err::os::unix::fs::OpenOptionsExt as _;

use crate::CargoError;
use crate::names::check_crate;

/// Most bytes of file content unpacked from one `.crate`: the largest crates published are
/// around 10 MiB packed, and the registry caps uploads well below this.
pub const MAX_UNPACKED_BYTES: u64 = 512 << 20;

/// Most members of one `.crate`.
pub const MAX_MEMBERS: usize = 100_000;

/// Largest GNU long-name or PAX header: the tar crate reads these into memory, and a real one
/// is a path of a few hundred bytes.
const MAX_EXTENSION_HEADER_BYTES: u64 = 64 << 10;

/// The file cargo's directory source reads to check a vendored crate against Cargo.lock.
const CHECKSUM_FILE: &str = ".cargo-checksum.json";

/// The name of the directory source in the configuration [`cargo_config`] writes.
const VENDORED_SOURCE: &str = "ob-vendored";

/// Limits of one unpacking; the public function uses the constants, the tests smaller ones.
#[derive(Debug, Clone, Copy)]
struct Limits {
    bytes: u64,
    members: usize,
}

/// Unpacks `crate_file` (a gzip'd tar whose members all lie under `{name}-{version}/`) into
/// `vendor_dir/{name}-{version}/`, and writes its `.cargo-checksum.json` with `checksum` as the
/// package checksum, which cargo compares with Cargo.lock's.
///
/// The caller has verified the sha256 of the whole `.crate` file, so the checksum file lists no
/// files (cargo then checks none of them one by one). Only regular files (written 0644) and
/// directories (0755) are accepted, every member must lie inside the crate's directory, and
/// the content is capped at [`MAX_UNPACKED_BYTES`] in [`MAX_MEMBERS`] members. The crate is
/// unpacked under a hidden name in `vendor_dir` (cargo skips hidden directories) and renamed
/// into place only when complete; on any error nothing is left behind. An existing
/// `vendor_dir/{name}-{version}` is an error.
pub fn unpack_crate(
    crate_file: &Path,
    name: &str,
    version: &str,
    checksum: &str,
    vendor_dir: &Path,
) -> Result<(), CargoError> {
    let limits = Limits {
        bytes: MAX_UNPACKED_BYTES,
        members: MAX_MEMBERS,
    };
    unpack_with_limits(crate_file, name, version, checksum, vendor_dir, limits)
}

fn unpack_with_limits(
    crate_file: &Path,
    name: &str,
    version: &str,
    checksum: &str,
    vendor_dir: &Path,
    limits: Limits,
) -> Result<(), CargoError> {
    check_crate(name, version, checksum)?;
    let unpack = Unpacker {
        crate_file,
        name,
        version,
        top: format!("{name}-{version}"),
        limits,
    };
    let final_dir = vendor_dir.join(&unpack.top);
    fs_err::create_dir_all(vendor_dir).map_err(|cause| unpack.io(cause))?;
    if fs_err::symlink_metadata(&final_dir).is_ok() {
        return Err(CargoError::VendorDirExists { path: final_dir });
    }

    unpack.check_extension_headers()?;
    // Dropping `partial` removes it with everything in it, so every error path cleans up.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{}.partial-", unpack.top))
        .tempdir_in(vendor_dir)
        .map_err(|cause| unpack.io(cause))?;
    set_mode(partial.path(), 0o755).map_err(|cause| unpack.io(cause))?;
    unpack.extract(partial.path())?;

    let checksum_file = serde_json::json!({ "files": {}, "package": checksum }).to_string();
    write_new_file(
        &partial.path().join(CHECKSUM_FILE),
        &mut checksum_file.as_bytes(),
        u64::MAX,
    )
    .map_err(|cause| unpack.io(cause))?;

    match fs_err::rename(partial.path(), &final_dir) {
        Ok(()) => {
            // The directory now lives under its final name; nothing is left to remove.
            let _ = partial.keep();
            Ok(())
        }
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::DirectoryNotEmpty
            ) =>
        {
            Err(CargoError::VendorDirExists { path: final_dir })
        }
        Err(cause) => Err(unpack.io(cause)),
    }
}

/// One `.crate` being unpacked, for its error messages.
struct Unpacker<'a> {
    crate_file: &'a Path,
    name: &'a str,
    version: &'a str,
    /// `{name}-{version}`: the one top-level directory of the archive.
    top: String,
    limits: Limits,
}

impl Unpacker<'_> {
    fn io(&self, cause: std::io::Error) -> CargoError {
        CargoError::Unpack {
            file: self.crate_file.to_owned(),
            crate_name: self.name.to_owned(),
            version: self.version.to_owned(),
            cause,
        }
    }

    fn refuse(&self, reason: String) -> CargoError {
        CargoError::CrateArchive {
            file: self.crate_file.to_owned(),
            crate_name: self.name.to_owned(),
            version: self.version.to_owned(),
            reason,
        }
    }

    /// The decompressed tar stream, capped: headers and padding come on top of the content, and
    /// a directory entry's declared data is skipped by reading it, so the cap leaves room for
    /// both but stops a gzip bomb hidden in entries that write nothing.
    fn open(&self) -> Result<tar::Archive<impl std::io::Read>, CargoError> {
        let file = fs_err::File::open(self.crate_file).map_err(|cause| self.io(cause))?;
        let decoder = flate2::read::GzDecoder::new(BufReader::new(file));
        let stream_cap = self.limits.bytes * 2 + (self.limits.members as u64 + 1) * 2048;
        Ok(tar::Archive::new(decoder.take(stream_cap)))
    }

    /// A first pass over the raw headers, because the tar crate reads a long name or PAX header
    /// into memory whole before yielding the member it describes.
    fn check_extension_headers(&self) -> Result<(), CargoError> {
        let mut archive = self.open()?;
        let entries = archive.entries().map_err(|cause| self.io(cause))?;
        let entries = entries.raw(true);
        for (index, entry) in entries.enumerate() {
            // Extension headers are members too in raw mode; twice the cap leaves room for them.
            if index > self.limits.members * 2 {
                return Err(
                    self.refuse(format!("it has more than {} members", self.limits.members))
                );
            }
            let entry = entry.map_err(|cause| self.io(cause))?;
            let kind = entry.header().entry_type();
            let extension = kind.is_gnu_longname()
                || kind.is_gnu_longlink()
                || kind.is_pax_local_extensions()
                || kind.is_pax_global_extensions();
            let size = entry.header().entry_size().unwrap_or(u64::MAX);
            if extension && size > MAX_EXTENSION_HEADER_BYTES {
                return Err(self.refuse(format!(
                    "it holds an extension header (a long name or PAX header) of {size} bytes, \
                     more than the {} KiB a real one needs",
                    MAX_EXTENSION_HEADER_BYTES >> 10
                )));
            }
        }
        Ok(())
    }

    fn extract(&self, into: &Path) -> Result<(), CargoError> {
        let mut archive = self.open()?;
        let entries = archive.entries().map_err(|cause| self.io(cause))?;
        let mut members = 0usize;
        let mut unpacked = 0u64;
        for entry in entries {
            let mut entry = entry.map_err(|cause| self.io(cause))?;
            members += 1;
            if members > self.limits.members {
                return Err(
                    self.refuse(format!("it has more than {} members", self.limits.members))
                );
            }
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                // Archive-wide metadata (`git archive` writes the commit here); it names no file.
                continue;
            }
            let path_bytes = entry.path_bytes().into_owned();
            let Ok(member) = std::str::from_utf8(&path_bytes) else {
                return Err(self.refuse(format!(
                    "member {:?} has a name that is not UTF-8",
                    String::from_utf8_lossy(&path_bytes)
                )));
            };
            let is_dir = match kind {
                tar::EntryType::Regular => false,
                tar::EntryType::Directory => true,
                other => {
                    return Err(self.refuse(format!(
                        "member `{member}` is {}; only regular files and directories are accepted",
                        describe(other)
                    )));
                }
            };
            let relative = self.member_path(member, is_dir)?;
            if is_dir {
                make_dirs(into, &relative).map_err(|cause| self.io(cause))?;
                continue;
            }
            let Some((file_name, parents)) = relative.split_last() else {
                return Err(self.refuse(format!(
                    "member `{member}` is a file where the crate's directory should be"
                )));
            };
            let remaining = self.limits.bytes - unpacked;
            let too_big = || {
                self.refuse(format!(
                    "its content is more than {} bytes (at member `{member}`)",
                    self.limits.bytes
                ))
            };
            if entry.size() > remaining {
                return Err(too_big());
            }
            let parent = make_dirs(into, parents).map_err(|cause| self.io(cause))?;
            let target = parent.join(file_name);
            let written = match write_new_file(&target, &mut entry, remaining) {
                Ok(written) => written,
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                    return Err(self.refuse(format!("member `{member}` appears twice")));
                }
                Err(cause) => return Err(self.io(cause)),
            };
            if written > remaining {
                return Err(too_big());
            }
            unpacked += written;
        }
        Ok(())
    }

    /// The components of `member` below the crate's directory, refusing anything that could
    /// land outside it or is not plainly spelt: an absolute path, another top directory, empty
    /// components, `.` and `..`, and a `.cargo-checksum.json` of the archive's own.
    fn member_path<'m>(&self, member: &'m str, is_dir: bool) -> Result<Vec<&'m str>, CargoError> {
        let refuse = |why: &str| Err(self.refuse(format!("member `{member}` {why}")));
        if member.starts_with('/') {
            return refuse("is an absolute path");
        }
        // Directories are often stored as `dir/`.
        let trimmed = if is_dir {
            member.strip_suffix('/').unwrap_or(member)
        } else {
            member
        };
        let mut components = trimmed.split('/');
        if components.next() != Some(self.top.as_str()) {
            return refuse(&format!("does not lie under `{}/`", self.top));
        }
        let relative: Vec<&str> = components.collect();
        for component in &relative {
            match *component {
                "" => return refuse("has an empty path component"),
                "." | ".." => return refuse(&format!("has a `{component}` path component")),
                _ => {}
            }
        }
        if relative == [CHECKSUM_FILE] {
            return refuse("would replace the checksum file cargo checks the crate with");
        }
        Ok(relative)
    }
}

fn describe(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "a symbolic link".to_owned(),
        tar::EntryType::Link => "a hard link".to_owned(),
        tar::EntryType::Char | tar::EntryType::Block => "a device".to_owned(),
        tar::EntryType::Fifo => "a fifo".to_owned(),
        tar::EntryType::GNUSparse => "a sparse file".to_owned(),
        tar::EntryType::Continuous => "a contiguous file".to_owned(),
        other => format!("an entry of tar type {:?}", char::from(other.as_byte())),
    }
}

/// Creates `root/components...` one directory at a time (0755), accepting directories that
/// exist already only if they are real directories, never symlinks. Returns the deepest one.
fn make_dirs(root: &Path, components: &[&str]) -> std::io::Result<PathBuf> {
    let mut path = root.to_owned();
    for component in components {
        path.push(component);
        match fs_err::create_dir(&path) {
            Ok(()) => set_mode(&path, 0o755)?,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                if !fs_err::symlink_metadata(&path)?.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!("`{}` is a file where a directory should be", path.display()),
                    ));
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(path)
}

/// Writes at most `limit + 1` bytes of `content` to a file that must not exist yet (so a
/// symlink in its place is not followed), mode 0644. Returns the bytes written; more than
/// `limit` means the content was cut.
fn write_new_file(
    path: &Path,
    content: &mut dyn std::io::Read,
    limit: u64,
) -> std::io::Result<u64> {
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    let written = std::io::copy(&mut content.take(limit.saturating_add(1)), &mut file)?;
    // The umask may have taken bits away from 0644.
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    Ok(written)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The text of a cargo `config.toml` that makes cargo take every crate of `sources` (Cargo.lock
/// source strings, as [`crate::lockfile::LockedCrate::source`] holds them) and of `crates-io`
/// from the directory source at `vendor_dir_in_container`, and never touch the network.
///
/// Cargo matches a replaced source by its registry URL, not by the Cargo.lock spelling, so each
/// source becomes a `[source.ob-N]` table whose `registry` is the URL (`registry+` dropped,
/// `sparse+` kept, as cargo's configuration spells a sparse registry), replaced with
/// `ob-vendored`; cargo's built-in default registry is covered by `[source.crates-io]` alone,
/// since cargo refuses a second table for it. Other strings are written as given.
///
/// ```
/// let text = ob_cargo::vendor::cargo_config(
///     "/vendor",
///     &["sparse+https://registry.example/index/".to_owned()],
///     None,
/// );
/// assert!(text.contains("[source.ob-1]"));
/// assert!(text.contains(r#"registry = "sparse+https://registry.example/index/""#));
/// assert!(text.contains(r#"directory = "/vendor""#));
/// ```
pub fn cargo_config(
    vendor_dir_in_container: &str,
    sources: &[String],
    default_registry: Option<&str>,
) -> String {
    let is_default = |url: &str| {
        default_registry
            .and_then(|default| default.strip_prefix("registry+"))
            .is_some_and(|default| crate::registry::same_git_registry(url, default))
    };
    let replaced = |registry: Option<&str>| {
        let mut table = toml::Table::new();
        if let Some(registry) = registry {
            table.insert("registry".into(), registry.into());
        }
        table.insert("replace-with".into(), VENDORED_SOURCE.into());
        toml::Value::Table(table)
    };

    let mut source = toml::Table::new();
    source.insert("crates-io".into(), replaced(None));
    // Cargo refuses two tables for one registry (compared without a trailing `/`), and a table
    // for the built-in default registry under any name but `crates-io`, which is replaced above.
    let mut distinct: BTreeMap<&str, &str> = BTreeMap::new();
    for lock_source in sources {
        let registry = match lock_source.strip_prefix("registry+") {
            Some(url) if is_default(url) => continue,
            Some(url) => url,
            None => lock_source,
        };
        distinct
            .entry(registry.trim_end_matches('/'))
            .or_insert(registry);
    }
    for (number, registry) in distinct.into_values().enumerate() {
        source.insert(format!("ob-{}", number + 1), replaced(Some(registry)));
    }
    let mut vendored = toml::Table::new();
    vendored.insert("directory".into(), vendor_dir_in_container.into());
    source.insert(VENDORED_SOURCE.into(), toml::Value::Table(vendored));

    let mut net = toml::Table::new();
    net.insert("offline".into(), true.into());
    let mut config = toml::Table::new();
    config.insert("source".into(), toml::Value::Table(source));
    config.insert("net".into(), toml::Value::Table(net));

    // Invariant: a table holding only strings, booleans and tables always serialises; toml
    // fails only on values TOML cannot hold (None, a map with non-string keys).
    let body = toml::to_string(&config).expect("a table of strings, booleans and tables");
    format!(
        "# Written by offline-build: every registry crate comes from the vendored directory.\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const CHECKSUM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// What a test archive member is.
    enum Member<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        HardLink(&'a str, &'a str),
        Fifo(&'a str),
    }

    /// Packs `members` into `dir/test.crate`. Names are written into the header raw, so that
    /// the hostile ones (`..`, absolute) the tar crate would refuse to write get through.
    fn pack(dir: &Path, members: &[Member<'_>]) -> PathBuf {
        let path = dir.join("test.crate");
        let file = std::fs::File::create(&path).unwrap();
        let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for member in members {
            let mut header = tar::Header::new_gnu();
            let (name, kind, data, link): (&str, _, &[u8], Option<&str>) = match member {
                Member::File(name, data) => (name, tar::EntryType::Regular, data, None),
                Member::Dir(name) => (name, tar::EntryType::Directory, b"", None),
                Member::Symlink(name, target) => (name, tar::EntryType::Symlink, b"", Some(target)),
                Member::HardLink(name, target) => (name, tar::EntryType::Link, b"", Some(target)),
                Member::Fifo(name) => (name, tar::EntryType::Fifo, b"", None),
            };
            let raw_name = &mut header.as_old_mut().name;
            raw_name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_entry_type(kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o777);
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder
            .into_inner()
            .unwrap()
            .finish()
            .unwrap()
            .flush()
            .unwrap();
        path
    }

    fn unpack(crate_file: &Path, vendor: &Path) -> Result<(), CargoError> {
        unpack_crate(crate_file, "dep", "0.1.0", CHECKSUM, vendor)
    }

    /// Nothing but the archive's own directory may be left in `vendor` after a refusal.
    fn assert_nothing_left(vendor: &Path) {
        let left: Vec<_> = std::fs::read_dir(vendor)
            .map(|entries| entries.map(|entry| entry.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn a_plain_crate_is_unpacked_with_its_checksum_file() {
        let dir = tempfile::tempdir().unwrap();
        let crate_file = pack(
            dir.path(),
            &[
                Member::Dir("dep-0.1.0/"),
                Member::File("dep-0.1.0/Cargo.toml", b"[package]\n"),
                Member::File("dep-0.1.0/src/lib.rs", b"pub fn answer() {}\n"),
                Member::Dir("dep-0.1.0/src/empty"),
            ],
        );
        let vendor = dir.path().join("vendor");
        unpack(&crate_file, &vendor).unwrap();

        let crate_dir = vendor.join("dep-0.1.0");
        assert_eq!(
            std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap(),
            "pub fn answer() {}\n"
        );
        assert_eq!(
            std::fs::read_to_string(crate_dir.join(".cargo-checksum.json")).unwrap(),
            format!(r#"{{"files":{{}},"package":"{CHECKSUM}"}}"#)
        );
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&crate_dir.join("Cargo.toml")), 0o644);
        assert_eq!(mode(&crate_dir.join("src")), 0o755);
        assert_eq!(mode(&crate_dir.join("src/empty")), 0o755);
        assert_eq!(mode(&crate_dir), 0o755);
        // Only the crate's directory: the partial one was renamed, not copied.
        let names: Vec<_> = std::fs::read_dir(&vendor)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dep-0.1.0")]);

        let err = unpack(&crate_file, &vendor).unwrap_err();
        assert!(matches!(err, CargoError::VendorDirExists { .. }), "{err}");
    }

    #[test]
    fn hostile_members_are_refused_by_name_and_nothing_is_left() {
        let cases: Vec<(Vec<Member<'_>>, &str)> = vec![
            (
                vec![Member::Symlink("dep-0.1.0/link", "/etc/passwd")],
                "symbolic link",
            ),
            (
                vec![Member::HardLink("dep-0.1.0/link", "/etc/passwd")],
                "hard link",
            ),
            (vec![Member::Fifo("dep-0.1.0/fifo")], "fifo"),
            (vec![Member::File("dep-0.1.0/../../escape", b"x")], "`..`"),
            (vec![Member::File("/dep-0.1.0/abs", b"x")], "absolute"),
            (
                vec![Member::File("other-1.0/file", b"x")],
                "does not lie under `dep-0.1.0/`",
            ),
            (
                vec![Member::File("dep-0.1.0//file", b"x")],
                "empty path component",
            ),
            (vec![Member::File("dep-0.1.0/./file", b"x")], "`.`"),
            (vec![Member::File("dep-0.1.0", b"x")], "is a file where"),
            (
                vec![Member::File("dep-0.1.0/.cargo-checksum.json", b"{}")],
                "checksum file",
            ),
            (
                vec![
                    Member::File("dep-0.1.0/a", b"1"),
                    Member::File("dep-0.1.0/a", b"2"),
                ],
                "appears twice",
            ),
        ];
        for (members, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            // A good member first, so a partial directory exists when the bad one comes.
            let mut all = vec![Member::File("dep-0.1.0/Cargo.toml", b"[package]\n")];
            all.extend(members);
            let crate_file = pack(dir.path(), &all);
            let vendor = dir.path().join("vendor");
            let err = unpack(&crate_file, &vendor).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{expected}: {message}");
            assert!(message.contains("`dep` 0.1.0"), "{message}");
            assert_nothing_left(&vendor);
            assert!(!dir.path().join("escape").exists());
        }
    }

    #[test]
    fn too_many_bytes_or_members_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let crate_file = pack(
            dir.path(),
            &[
                Member::File("dep-0.1.0/a", &[b'a'; 600]),
                Member::File("dep-0.1.0/b", &[b'b'; 600]),
            ],
        );
        let vendor = dir.path().join("vendor");
        let limits = Limits {
            bytes: 1000,
            members: 10,
        };
        let err =
            unpack_with_limits(&crate_file, "dep", "0.1.0", CHECKSUM, &vendor, limits).unwrap_err();
        assert!(err.to_string().contains("more than 1000 bytes"), "{err}");
        assert_nothing_left(&vendor);

        let limits = Limits {
            bytes: 10_000,
            members: 1,
        };
        let err =
            unpack_with_limits(&crate_file, "dep", "0.1.0", CHECKSUM, &vendor, limits).unwrap_err();
        assert!(err.to_string().contains("more than 1 members"), "{err}");
        assert_nothing_left(&vendor);
    }

    #[test]
    fn a_huge_long_name_header_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.crate");
        let file = std::fs::File::create(&path).unwrap();
        let encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(tar::EntryType::GNULongName);
        let long = vec![b'a'; 1 << 20];
        header.set_size(long.len() as u64);
        header.set_cksum();
        builder.append(&header, &long[..]).unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let err = unpack(&path, &dir.path().join("vendor")).unwrap_err();
        assert!(err.to_string().contains("extension header"), "{err}");
    }

    #[test]
    fn not_a_gzip_is_an_unpack_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.crate");
        std::fs::write(&path, b"not gzip at all").unwrap();
        let vendor = dir.path().join("vendor");
        let err = unpack(&path, &vendor).unwrap_err();
        assert!(matches!(err, CargoError::Unpack { .. }), "{err}");
        assert!(err.to_string().contains("bad.crate"), "{err}");
        assert_nothing_left(&vendor);
    }

    #[test]
    fn odd_crate_names_never_reach_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let crate_file = pack(dir.path(), &[Member::File("x/y", b"")]);
        let err = unpack_crate(&crate_file, "..", "1", CHECKSUM, dir.path()).unwrap_err();
        assert!(matches!(err, CargoError::InvalidName { .. }), "{err}");
    }

    /// Regression: real cargo refused the first version of this configuration ("source `ob-1`
    /// defines source registry `crates-io`, but that source is already defined by `crates-io`").
    #[test]
    fn config_leaves_the_default_registry_to_crates_io_and_merges_slash_spellings() {
        let default = crate::registry::default_registry_source_for_tests();
        let text = cargo_config(
            "/vendor",
            &[
                default.clone(),
                "sparse+https://registry.example/index/".to_owned(),
                "sparse+https://registry.example/index".to_owned(),
            ],
            Some(&default),
        );
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let names: Vec<&String> = parsed["source"].as_table().unwrap().keys().collect();
        assert_eq!(names, ["crates-io", "ob-1", "ob-vendored"], "{text}");
    }

    #[test]
    fn config_quotes_strings_and_replaces_every_source() {
        let text = cargo_config(
            "/vendor \"quoted\"",
            &[
                "sparse+http://127.0.0.1:9/index/".to_owned(),
                "registry+https://registry.example/index".to_owned(),
                "sparse+http://127.0.0.1:9/index/".to_owned(),
            ],
            None,
        );
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let source = parsed["source"].as_table().unwrap();
        assert_eq!(source.len(), 4, "{text}");
        assert_eq!(
            source["crates-io"]["replace-with"].as_str(),
            Some("ob-vendored")
        );
        let registries: BTreeSet<&str> = ["ob-1", "ob-2"]
            .iter()
            .map(|name| {
                assert_eq!(source[*name]["replace-with"].as_str(), Some("ob-vendored"));
                source[*name]["registry"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            registries,
            BTreeSet::from([
                "https://registry.example/index",
                "sparse+http://127.0.0.1:9/index/"
            ])
        );
        assert_eq!(
            source["ob-vendored"]["directory"].as_str(),
            Some("/vendor \"quoted\"")
        );
        assert_eq!(parsed["net"]["offline"].as_bool(), Some(true));
    }
}
