//! What a failed build's log says that the user can act on, beyond "read the log": causes
//! recognised by the exact words the tools print, each with what to do. Only what the tools
//! print is trusted here, and only to choose advice; nothing of it is shown unescaped.
//!
//! A missing system file (a header, a library to link, a pkg-config or CMake package, a
//! program) is named with the Debian package that ships it and the `image create --with`
//! command that adds it. The answer comes from the index of Debian's Contents file that
//! `offline-build image create` keeps in the cache ([`ob_sandbox::debian_contents`]): the
//! archive's own list of every file of every package, for the suite and architecture the image
//! is made from. A build never fetches it (it may run without network); without it, a short
//! table of the usual cases answers, and otherwise the hint names the `apt-file search` that
//! finds the package. When `image create` recorded the image's packages (by its layer digest,
//! which the log's first line names), a package the image has already is said to be there.

use std::path::Path;

use ob_sandbox::debian_contents::{self, ContentsEntry, ContentsIndex, RecordedImage};
use ob_sandbox::image::{DEBIAN_SUITE, DEFAULT_IMAGE, is_image_reference};

/// Most of a log read for a diagnosis: step logs are capped far below this anyway.
const MAX_LOG_BYTES: u64 = 16 << 20;
/// Missing files named in one hint: a build stops at its first few.
const MAX_MISSING: usize = 3;
/// A header that more packages than this ship under a subdirectory is too common a name
/// (`config.h`) to say which one is meant.
const MAX_HEADER_PACKAGES: usize = 3;

/// Advice for the failure whose log is at `log`, when it shows a cause we recognise.
pub fn diagnose_log(log: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = Vec::new();
    fs_err::File::open(log)
        .ok()?
        .take(MAX_LOG_BYTES)
        .read_to_end(&mut text)
        .ok()?;
    let text = String::from_utf8_lossy(&text);
    diagnose_with(&text, &Knowledge::cached(&text))
}

/// Advice for a failure whose log is `text`, when it shows a cause we recognise. Uses no
/// cache: missing system files are answered from the built-in table only.
pub fn diagnose(text: &str) -> Option<String> {
    diagnose_with(text, &Knowledge::default())
}

fn diagnose_with(text: &str, knowledge: &Knowledge) -> Option<String> {
    rustc_too_old(text).or_else(|| missing_system_files(text, knowledge))
}

/// cargo's "rustc 1.85.1 is not supported by the following packages: ... requires rustc 1.89".
fn rustc_too_old(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim);
    let image_rustc = lines.find_map(|line| {
        line.strip_prefix("error: rustc ")?
            .strip_suffix(" is not supported by the following packages:")
            .map(str::to_owned)
    })?;
    let mut needed: Option<(Vec<u64>, String, String)> = None;
    for line in lines {
        let Some((who, version)) = line.split_once(" requires rustc ") else {
            continue;
        };
        let parsed: Vec<u64> = version
            .split('.')
            .map_while(|part| part.parse().ok())
            .collect();
        if parsed.is_empty() {
            continue;
        }
        if needed.as_ref().is_none_or(|(most, _, _)| parsed > *most) {
            needed = Some((parsed, version.to_owned(), who.to_owned()));
        }
    }
    let (_, version, who) = needed?;
    let shown = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-@+".contains(*c))
            .take(80)
            .collect()
    };
    Some(format!(
        "cargo refused the image's rustc {}: the crates need up to rustc {} ({} does); build \
         with an image that has a newer Rust (`--image`), or pin an older version of the \
         package that needs it",
        shown(&image_rustc),
        shown(&version),
        shown(&who)
    ))
}

/// What the hints know beyond the log: the cached Contents index and the image's packages.
#[derive(Debug, Default)]
struct Knowledge {
    index: Option<ContentsIndex>,
    /// The multiarch directory of the index's architecture.
    triplet: &'static str,
    image: Option<RecordedImage>,
}

impl Knowledge {
    /// What the default cache holds for the image the log at `text` names.
    fn cached(text: &str) -> Knowledge {
        let (Some(cache), Some(arch)) = (
            debian_contents::default_cache_dir(),
            debian_contents::host_architecture(),
        ) else {
            return Knowledge::default();
        };
        Knowledge {
            index: ContentsIndex::open(&debian_contents::index_path(&cache, DEBIAN_SUITE, &arch)),
            triplet: arch.triplet,
            image: image_digest(text)
                .and_then(|digest| debian_contents::recorded_image(&cache, &digest)),
        }
    }
}

/// The image's layer digest from a step log's first line, which the orchestrator writes before
/// the container runs (`# offline-build: NAME VERSION (build) from SDIST (sha256 HEX) in IMAGE
/// (sha256:HEX), with ...`): nothing a build prints can stand in for it.
fn image_digest(text: &str) -> Option<String> {
    let first = text.lines().next()?.strip_prefix("# offline-build: ")?;
    let (_, rest) = first.split_once(" (sha256:")?;
    let hex = rest.split(')').next()?;
    (hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| format!("sha256:{hex}"))
}

/// A system file the build looked for and did not find, as the tool named it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Missing {
    /// An `#include` name, e.g. `zstd.h` or `libxml/xmlversion.h`.
    Header(String),
    /// A library to link, as in `-lzstd`.
    Library(String),
    /// A pkg-config module, e.g. `libzstd`.
    PkgConfig(String),
    /// A CMake package, e.g. `ZSTD`; `program` when what it missed is an `_EXECUTABLE`.
    CMake { name: String, program: bool },
    /// A program, e.g. `swig`.
    Program(String),
}

/// What kind of file a [`Missing`] thing is, for the built-in table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Header,
    Library,
    PkgConfig,
    Program,
}

/// The usual cases, for when no Contents index is cached: what the most downloaded sdists
/// that need a library the default image lacks ask for, with trixie's package names (checked
/// against trixie's Contents file; the index gives the same answers).
const USUAL: &[(Kind, &str, &str)] = &[
    // mysqlclient (the MySQL driver Django documents) asks pkg-config; older releases and
    // other drivers run mysql_config.
    (Kind::PkgConfig, "mysqlclient", "libmariadb-dev-compat"),
    (Kind::Program, "mysql_config", "libmariadb-dev-compat"),
    // pyodbc.
    (Kind::Header, "sql.h", "unixodbc-dev"),
    // python-ldap.
    (Kind::Header, "lber.h", "libldap-dev"),
    (Kind::Header, "ldap.h", "libldap-dev"),
    (Kind::Header, "sasl/sasl.h", "libsasl2-dev"),
    // gssapi and pykerberos (Kerberos for requests and pyspnego), against MIT Kerberos as
    // Debian builds them.
    (Kind::Program, "krb5-config", "libkrb5-dev"),
    // pycurl, with OpenSSL like Debian's own python3-pycurl.
    (Kind::Program, "curl-config", "libcurl4-openssl-dev"),
    // pycairo (its meson build asks for `dependency('cairo')`).
    (Kind::PkgConfig, "cairo", "libcairo2-dev"),
    // dbus-python.
    (Kind::PkgConfig, "dbus-1", "libdbus-1-dev"),
    // systemd-python.
    (Kind::PkgConfig, "libsystemd", "libsystemd-dev"),
    // xmlsec (SAML signatures, for python3-saml).
    (Kind::PkgConfig, "xmlsec1", "libxmlsec1-dev"),
    // GDAL's bindings, and fiona and rasterio built from source.
    (Kind::Program, "gdal-config", "libgdal-dev"),
    // shapely and cartopy built from source.
    (Kind::Program, "geos-config", "libgeos-dev"),
    (Kind::Header, "geos_c.h", "libgeos-dev"),
    // gmpy2 (it needs all three, and fails on them one at a time).
    (Kind::Header, "gmp.h", "libgmp-dev"),
    (Kind::Header, "mpfr.h", "libmpfr-dev"),
    (Kind::Header, "mpc.h", "libmpc-dev"),
    // PyAudio.
    (Kind::Header, "portaudio.h", "portaudio19-dev"),
    // M2Crypto and other SWIG bindings.
    (Kind::Program, "swig", "swig"),
];

/// Every missing system file the log names, in the order it names them, each once; the last
/// [`MAX_MISSING`] when there are more (the build stopped at the last).
fn missing_files(text: &str) -> Vec<Missing> {
    let mut found: Vec<Missing> = Vec::new();
    // Whether the line is inside a `CMake Error at ...:` message (not a warning or a status
    // line: optional packages print `-- Could NOT find X` and the build goes on).
    let mut in_cmake_error = false;
    let mut recent: std::collections::VecDeque<&str> = std::collections::VecDeque::new();
    for raw in text.lines() {
        let line = raw.trim();
        if raw.starts_with("CMake Error") {
            in_cmake_error = true;
        } else if !raw.is_empty() && !raw.starts_with(' ') {
            in_cmake_error = false;
        }
        let after_subprocess = recent
            .iter()
            .any(|before| before.contains("_execute_child") || before.contains("child_exception"));
        let missing = header(line)
            .map(Missing::Header)
            .or_else(|| library(line).map(Missing::Library))
            .or_else(|| pkg_config(line).map(Missing::PkgConfig))
            .or_else(|| in_cmake_error.then(|| cmake(line)).flatten())
            .or_else(|| program(line, after_subprocess).map(Missing::Program));
        if let Some(missing) = missing
            && !found.contains(&missing)
        {
            found.push(missing);
        }
        if recent.len() == 3 {
            recent.pop_front();
        }
        recent.push_back(line);
    }
    let skip = found.len().saturating_sub(MAX_MISSING);
    found.drain(..skip);
    found
}

/// gcc's `a.c:1:10: fatal error: zstd.h: No such file or directory` (clang's `fatal error:
/// 'zstd.h' file not found`).
fn header(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("fatal error: ")?;
    let name = rest
        .strip_suffix(": No such file or directory")
        .or_else(|| {
            rest.strip_suffix(" file not found")?
                .strip_prefix('\'')?
                .strip_suffix('\'')
        })?;
    let valid = name.len() <= 128
        && plain(name, "._+-/")
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.split('/').any(|part| part.is_empty() || part == "..");
    valid.then(|| name.to_owned())
}

/// GNU ld's `/usr/bin/ld: cannot find -lzstd: No such file or directory` (older: without the
/// reason), lld's `unable to find library -lzstd`, meson's `ERROR: C shared or static library
/// 'zstd' not found`.
fn library(line: &str) -> Option<String> {
    let name = if let Some((_, rest)) = line
        .split_once("cannot find -l")
        .or_else(|| line.split_once("unable to find library -l"))
    {
        rest.split([':', ' ']).next()?
    } else {
        let (_, rest) = line.split_once(" shared or static library '")?;
        rest.strip_suffix("' not found")?
    };
    name_like(name, 64).then(|| name.to_owned())
}

/// pkgconf's `Package 'libzstd', required by 'virtual:world', not found` and `Package libzstd
/// was not found in the pkg-config search path.`, pkg-config 0.29's `No package 'libzstd'
/// found`, meson's `ERROR: Dependency "libzstd" not found, tried pkgconfig and cmake`.
fn pkg_config(line: &str) -> Option<String> {
    let name = if let Some((_, rest)) = line.split_once("Package '")
        && line.ends_with("', not found")
    {
        rest.split_once("', required by '")?.0
    } else if let Some((_, rest)) = line.split_once("No package '") {
        rest.strip_suffix("' found")?
    } else if let Some((_, rest)) = line.split_once("Package ")
        && let Some((name, _)) = rest.split_once(" was not found in the pkg-config search path")
    {
        name
    } else {
        let (_, rest) = line.split_once("ERROR: Dependency \"")?;
        rest.split_once("\" not found")?.0
    };
    name_like(name, 64).then(|| name.to_owned())
}

/// Inside a `CMake Error` message: `Could NOT find ZSTD (missing: ZSTD_LIBRARY ...)` (a Find
/// module) and `Could not find a package configuration file provided by "zstd"` (config mode).
fn cmake(line: &str) -> Option<Missing> {
    let (name, program) = if let Some(rest) = line.strip_prefix("Could NOT find ") {
        let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        // `Could NOT find X: Found unsuitable version`: there, but too old.
        if name.ends_with(':') {
            return None;
        }
        (name, detail.contains("_EXECUTABLE"))
    } else {
        let rest =
            line.strip_prefix("Could not find a package configuration file provided by \"")?;
        (rest.split('"').next()?, false)
    };
    name_like(name, 64).then(|| Missing::CMake {
        name: name.to_owned(),
        program,
    })
}

/// dash's `sh: 1: swig: not found`, bash's `bash: line 1: swig: command not found`, make's
/// `make: swig: No such file or directory`, setuptools' `error: command 'swig' failed: No such
/// file or directory`, meson's `ERROR: Program 'swig' not found or not executable`, and
/// Python's `FileNotFoundError: [Errno 2] No such file or directory: 'swig'` when the lines
/// before it are subprocess starting a program (`after_subprocess`).
fn program(line: &str, after_subprocess: bool) -> Option<String> {
    let name = if let Some(rest) = line.strip_suffix(": not found") {
        // `<shell>: <line>: <name>`
        let (before, name) = rest.rsplit_once(": ")?;
        let (shell, number) = before.rsplit_once(": ")?;
        (shell.ends_with("sh") && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
            .then_some(name)?
    } else if let Some(rest) = line.strip_suffix(": command not found") {
        rest.rsplit_once(": ").map_or(rest, |(_, name)| name)
    } else if let Some(rest) = line.strip_suffix(": No such file or directory")
        && let Some((make, name)) = rest.split_once(": ")
        && (make == "make" || make.starts_with("make["))
    {
        name
    } else if let Some((_, rest)) = line.split_once("command '")
        && let Some(name) = rest.strip_suffix("' failed: No such file or directory")
    {
        name
    } else if let Some((_, rest)) = line.split_once("ERROR: Program '") {
        rest.strip_suffix("' not found or not executable")?
    } else if after_subprocess {
        line.strip_prefix("FileNotFoundError: [Errno 2] No such file or directory: '")?
            .strip_suffix('\'')?
    } else {
        return None;
    };
    // An absolute path names the program by its last part.
    let name = match name.strip_prefix('/') {
        Some(path) => path.rsplit('/').next()?,
        None => name,
    };
    name_like(name, 64).then(|| name.to_owned())
}

/// A library, module, package or program name: letters, digits and `._+-`, not an option.
fn name_like(name: &str, most: usize) -> bool {
    name.len() <= most && plain(name, "._+-") && !name.starts_with(['-', '.'])
}

/// Non-empty, and only ASCII letters, digits and `extra`.
fn plain(text: &str, extra: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Which package provides a missing file, as far as is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// `package` ships it (as `path`, when the index says; `others` ship it too);
    /// `on_default_path` is false for a header under a subdirectory of `usr/include`.
    Ships {
        package: String,
        others: Vec<String>,
        path: Option<String>,
        on_default_path: bool,
    },
    /// The index knows no package with this file.
    Nowhere { path: String },
    /// No index, and not a usual case.
    Unknown,
}

/// The files in the index that could be `missing`, most likely first.
fn candidates(missing: &Missing, index: &ContentsIndex, triplet: &str) -> Answer {
    let find = |name: &str| index.find(name).unwrap_or_default();
    let ships = |entries: Vec<ContentsEntry>, on_default_path: bool| {
        let mut packages: Vec<String> = Vec::new();
        for entry in &entries {
            for package in &entry.packages {
                if !packages.contains(package) {
                    packages.push(package.clone());
                }
            }
        }
        // Development packages first, a library's before others (libkrb5-dev before
        // heimdal-dev): what builds link against.
        packages.sort_by_key(
            |name| match (name.starts_with("lib"), name.ends_with("-dev")) {
                (true, true) => 0,
                (false, true) => 1,
                _ => 2,
            },
        );
        let mut packages = packages.into_iter();
        let package = packages.next()?;
        Some(Answer::Ships {
            package,
            others: packages.take(2).collect(),
            path: entries.first().map(|entry| entry.path.clone()),
            on_default_path,
        })
    };
    let in_dirs = |name: &str, dirs: &[String]| -> Vec<ContentsEntry> {
        find(name)
            .into_iter()
            .filter(|entry| {
                dirs.iter()
                    .any(|dir| entry.path.strip_prefix(dir.as_str()) == Some(name))
            })
            .collect()
    };
    let lib_dirs = [format!("usr/lib/{triplet}/"), "usr/lib/".to_owned()];
    let pc_dirs = [
        format!("usr/lib/{triplet}/pkgconfig/"),
        "usr/lib/pkgconfig/".to_owned(),
        "usr/share/pkgconfig/".to_owned(),
    ];
    let bin_dirs = ["usr/bin/".to_owned(), "usr/sbin/".to_owned()];
    match missing {
        Missing::Header(name) => {
            let base = name.rsplit('/').next().unwrap_or(name);
            let entries = find(base);
            let exact: Vec<ContentsEntry> = entries
                .iter()
                .filter(|entry| {
                    entry.path == format!("usr/include/{name}")
                        || entry.path == format!("usr/include/{triplet}/{name}")
                })
                .cloned()
                .collect();
            if let Some(answer) = ships(exact, true) {
                return answer;
            }
            let suffix = format!("/{name}");
            let nested: Vec<ContentsEntry> = entries
                .into_iter()
                .filter(|entry| entry.path.ends_with(&suffix))
                .collect();
            let packages: std::collections::BTreeSet<&String> =
                nested.iter().flat_map(|entry| &entry.packages).collect();
            if packages.len() > MAX_HEADER_PACKAGES {
                return Answer::Unknown;
            }
            ships(nested, false).unwrap_or(Answer::Nowhere {
                path: format!("usr/include/{name}"),
            })
        }
        Missing::Library(name) => {
            let shared = in_dirs(&format!("lib{name}.so"), &lib_dirs);
            let entries = if shared.is_empty() {
                in_dirs(&format!("lib{name}.a"), &lib_dirs)
            } else {
                shared
            };
            ships(entries, true).unwrap_or(Answer::Nowhere {
                path: format!("usr/lib/{triplet}/lib{name}.so"),
            })
        }
        Missing::PkgConfig(name) => ships(in_dirs(&format!("{name}.pc"), &pc_dirs), true)
            .unwrap_or(Answer::Nowhere {
                path: format!("usr/lib/{triplet}/pkgconfig/{name}.pc"),
            }),
        Missing::Program(name) => {
            ships(in_dirs(name, &bin_dirs), true).unwrap_or(Answer::Nowhere {
                path: format!("usr/bin/{name}"),
            })
        }
        Missing::CMake { name, program } => {
            // A guess from the package's name: its config file, else the files it is usually
            // made of.
            let lower = name.to_ascii_lowercase();
            let mut tries: Vec<Missing> = Vec::new();
            if *program {
                tries.push(Missing::Program(lower.clone()));
            }
            let configs: Vec<ContentsEntry> = [
                format!("{name}Config.cmake"),
                format!("{lower}-config.cmake"),
            ]
            .iter()
            .flat_map(|file| find(file))
            .filter(|entry| entry.path.contains("/cmake/"))
            .collect();
            if !*program && let Some(answer) = ships(configs, true) {
                return answer;
            }
            tries.push(Missing::PkgConfig(lower.clone()));
            if !lower.starts_with("lib") {
                tries.push(Missing::PkgConfig(format!("lib{lower}")));
            }
            tries.push(Missing::Header(format!("{lower}.h")));
            tries.push(Missing::Library(lower.trim_start_matches("lib").to_owned()));
            tries
                .iter()
                .map(|guess| candidates(guess, index, triplet))
                .find(|answer| matches!(answer, Answer::Ships { .. }))
                .unwrap_or(Answer::Unknown)
        }
    }
}

/// The package for `missing` from [`USUAL`].
fn usual(missing: &Missing) -> Answer {
    let lookup = |kind: Kind, name: &str| {
        USUAL
            .iter()
            .find(|(usual_kind, usual_name, _)| *usual_kind == kind && *usual_name == name)
            .map(|(_, _, package)| Answer::Ships {
                package: (*package).to_owned(),
                others: Vec::new(),
                path: None,
                on_default_path: true,
            })
    };
    let found = match missing {
        Missing::Header(name) => lookup(Kind::Header, name),
        Missing::Library(name) => lookup(Kind::Library, name),
        Missing::PkgConfig(name) => lookup(Kind::PkgConfig, name),
        Missing::Program(name) => lookup(Kind::Program, name),
        Missing::CMake { name, program } => {
            let lower = name.to_ascii_lowercase();
            program
                .then(|| lookup(Kind::Program, &lower))
                .flatten()
                .or_else(|| lookup(Kind::PkgConfig, &lower))
                .or_else(|| lookup(Kind::Header, &format!("{lower}.h")))
        }
    };
    found.unwrap_or(Answer::Unknown)
}

/// What the log says was missing, in words.
fn described(missing: &Missing) -> String {
    match missing {
        Missing::Header(name) => format!("the compiler found no `{name}`"),
        Missing::Library(name) => format!("the linker found no `-l{name}`"),
        Missing::PkgConfig(name) => format!("pkg-config found no `{name}`"),
        Missing::CMake { name, .. } => format!("CMake could not find `{name}`"),
        Missing::Program(name) => format!("the build could not run `{name}`"),
    }
}

/// The `apt-file search` that finds the package shipping `missing`.
fn apt_file_search(missing: &Missing) -> String {
    match missing {
        Missing::Header(name) => format!("apt-file search /{name}"),
        Missing::Library(name) => format!("apt-file search /lib{name}.so"),
        Missing::PkgConfig(name) => format!("apt-file search /{name}.pc"),
        Missing::CMake { name, .. } => {
            format!(
                "apt-file search -i /{}config.cmake",
                name.to_ascii_lowercase()
            )
        }
        Missing::Program(name) => format!("apt-file search bin/{name}"),
    }
}

/// Advice naming the Debian package of every missing system file the log names.
fn missing_system_files(text: &str, knowledge: &Knowledge) -> Option<String> {
    let missing = missing_files(text);
    if missing.is_empty() {
        return None;
    }
    let installed = |package: &str| {
        knowledge
            .image
            .as_ref()
            .is_some_and(|image| image.debian_packages.iter().any(|name| name == package))
    };
    let mut clauses = Vec::new();
    let mut to_add: Vec<String> = Vec::new();
    let mut unknown = false;
    for item in &missing {
        let answer = match &knowledge.index {
            Some(index) => candidates(item, index, knowledge.triplet),
            None => usual(item),
        };
        let what = described(item);
        clauses.push(match answer {
            Answer::Ships {
                package,
                path,
                on_default_path,
                ..
            } if installed(&package) => {
                let path = path.unwrap_or_default();
                let mut clause = format!("{what}, though the image has `{package}`");
                if !path.is_empty() {
                    clause.push_str(&format!(", which ships `/{path}`"));
                }
                match (&item, on_default_path) {
                    (Missing::Header(name), false) => {
                        let dir = path.strip_suffix(&format!("/{name}")).unwrap_or_default();
                        clause.push_str(&format!(
                            ": the build needs `-I/{dir}` (what `pkg-config --cflags` gives)"
                        ));
                    }
                    _ => clause.push_str(": the build looked elsewhere"),
                }
                clause
            }
            Answer::Ships {
                package,
                others,
                path,
                ..
            } => {
                let mut clause = format!("{what}; Debian's `{package}` ships it");
                if let Some(path) = path {
                    clause.push_str(&format!(" as `/{path}`"));
                }
                if !others.is_empty() {
                    let others: Vec<String> =
                        others.iter().map(|name| format!("`{name}`")).collect();
                    clause.push_str(&format!(" (so does {})", others.join(", ")));
                }
                if !to_add.contains(&package) {
                    to_add.push(package);
                }
                clause
            }
            Answer::Nowhere { path } => {
                format!("{what}, and no package of Debian {DEBIAN_SUITE} ships `/{path}`")
            }
            Answer::Unknown => {
                unknown = true;
                format!(
                    "{what}; `{}` names the Debian package that ships it",
                    apt_file_search(item)
                )
            }
        });
    }
    let mut advice = clauses.join("; ");
    if !to_add.is_empty() || unknown {
        // The image is made again with exactly the `--with` packages given: keep its others.
        let image = knowledge.image.as_ref();
        let mut packages: Vec<String> = image
            .map(|image| image.extra_packages.clone())
            .unwrap_or_default();
        for package in &to_add {
            if !packages.contains(package) {
                packages.push(package.clone());
            }
        }
        if to_add.is_empty() {
            packages.push("PACKAGE".to_owned());
        }
        let mut command = "offline-build image create".to_owned();
        if let Some(image) = image
            && image.reference != DEFAULT_IMAGE
            && is_image_reference(&image.reference)
        {
            command.push_str(&format!(" --image {}", image.reference));
        }
        for package in &packages {
            command.push_str(&format!(" --with {package}"));
        }
        let them = if to_add.len() > 1 { "them" } else { "it" };
        advice.push_str(&format!(
            "; add {them} to the builder image with `{command}` and build again"
        ));
    }
    if unknown && knowledge.index.is_none() {
        advice.push_str(
            " (running `offline-build image create` once keeps Debian's file list, and these \
             hints then name the package)",
        );
    }
    Some(advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustc_too_old_for_the_crates_is_named_with_the_newest_need() {
        let log = "   Compiling x\n\
                   error: rustc 1.85.1 is not supported by the following packages:\n  \
                   cargo-platform@0.3.2 requires rustc 1.88\n  \
                   maturin@1.16.0 requires rustc 1.89\n  \
                   time@0.3.47 requires rustc 1.88.0\n\
                   Either upgrade rustc or select compatible dependency versions\n";
        let advice = diagnose(log).unwrap();
        assert!(advice.contains("rustc 1.85.1"), "{advice}");
        assert!(
            advice.contains("up to rustc 1.89 (maturin@1.16.0 does)"),
            "{advice}"
        );
        assert_eq!(diagnose("error: something else\n"), None);
        // Versions compare as numbers, not text.
        let log = "error: rustc 1.9.0 is not supported by the following packages:\n\
                   a@1 requires rustc 1.10\nb@1 requires rustc 1.9.5\n";
        assert!(diagnose(log).unwrap().contains("up to rustc 1.10 (a@1"));
    }

    #[test]
    fn what_the_log_says_is_shown_only_as_plain_words() {
        let log = "error: rustc 1.85 is not supported by the following packages:\n\
                   \x1b]0;owned\x07evil@1 requires rustc 9.9\n";
        let advice = diagnose(log).unwrap();
        assert!(
            !advice.contains('\x1b') && !advice.contains('\x07'),
            "{advice:?}"
        );
        // A name that is not plain is no name at all: nothing of it is quoted.
        for log in [
            "a.c:1:10: fatal error: \x1b[31mx.h: No such file or directory\n",
            "a.c:1:10: fatal error: ../../etc/passwd: No such file or directory\n",
            "a.c:1:10: fatal error: /usr/include/x.h: No such file or directory\n",
            "/usr/bin/ld: cannot find -l`reboot`: No such file or directory\n",
            "sh: 1: $(reboot): not found\n",
            "Package 'a b', required by 'virtual:world', not found\n",
        ] {
            assert_eq!(diagnose(log), None, "{log:?}");
        }
        let long = format!("sh: 1: {}: not found\n", "a".repeat(65));
        assert_eq!(diagnose(&long), None);
    }

    /// Output exactly as trixie's tools print it (gcc 14.2, GNU ld 2.44, pkgconf 1.8.1, meson
    /// 1.7.0, CMake 3.31.6, dash, bash, make 4.4, setuptools and Python 3.13), captured in the
    /// builder image.
    #[test]
    fn each_tool_s_own_words_are_recognised() {
        let cases: &[(&str, Missing)] = &[
            (
                "a.c:1:10: fatal error: lz4.h: No such file or directory\n    1 | #include <lz4.h>\n      |          ^~~~~~~\ncompilation terminated.\n",
                Missing::Header("lz4.h".into()),
            ),
            (
                "c.c:1:10: fatal error: libxml/nothere.h: No such file or directory\n",
                Missing::Header("libxml/nothere.h".into()),
            ),
            (
                "x.c:1:10: fatal error: 'lz4.h' file not found\n",
                Missing::Header("lz4.h".into()),
            ),
            (
                "/usr/bin/ld: cannot find -llz4: No such file or directory\ncollect2: error: ld returned 1 exit status\n",
                Missing::Library("lz4".into()),
            ),
            (
                "/usr/bin/ld: cannot find -llz4\n",
                Missing::Library("lz4".into()),
            ),
            (
                "meson.build:2:24: ERROR: C shared or static library 'lz4' not found\n",
                Missing::Library("lz4".into()),
            ),
            (
                "Package liblz4 was not found in the pkg-config search path.\nPerhaps you should add the directory containing `liblz4.pc'\nto the PKG_CONFIG_PATH environment variable\nPackage 'liblz4', required by 'virtual:world', not found\n",
                Missing::PkgConfig("liblz4".into()),
            ),
            (
                "--   Package 'liblz4', required by 'virtual:world', not found\n",
                Missing::PkgConfig("liblz4".into()),
            ),
            (
                "No package 'liblz4' found\n",
                Missing::PkgConfig("liblz4".into()),
            ),
            (
                "Run-time dependency liblz4 found: NO (tried pkgconfig and cmake)\n\nmeson.build:2:0: ERROR: Dependency \"liblz4\" not found, tried pkgconfig and cmake\n",
                Missing::PkgConfig("liblz4".into()),
            ),
            (
                "CMake Error at /usr/share/cmake-3.31/Modules/FindPackageHandleStandardArgs.cmake:233 (message):\n  Could NOT find SWIG (missing: SWIG_EXECUTABLE SWIG_DIR)\nCall Stack (most recent call first):\n",
                Missing::CMake {
                    name: "SWIG".into(),
                    program: true,
                },
            ),
            (
                "CMake Error at /usr/share/cmake-3.31/Modules/FindPackageHandleStandardArgs.cmake:233 (message):\n  Could NOT find ZSTD (missing: ZSTD_LIBRARY ZSTD_INCLUDE_DIR)\n",
                Missing::CMake {
                    name: "ZSTD".into(),
                    program: false,
                },
            ),
            (
                "CMake Error at CMakeLists.txt:3 (find_package):\n  By not providing \"Findlz4.cmake\" in CMAKE_MODULE_PATH this project has\n  asked CMake to find a package configuration file provided by \"lz4\", but\n  CMake did not find one.\n\n  Could not find a package configuration file provided by \"lz4\" with any of\n  the following names:\n\n    lz4Config.cmake\n    lz4-config.cmake\n",
                Missing::CMake {
                    name: "lz4".into(),
                    program: false,
                },
            ),
            ("sh: 1: swig: not found\n", Missing::Program("swig".into())),
            (
                "/bin/sh: 1: swig: not found\n",
                Missing::Program("swig".into()),
            ),
            (
                "bash: line 1: swig: command not found\n",
                Missing::Program("swig".into()),
            ),
            (
                "swig -python x.i\nmake: swig: No such file or directory\nmake: *** [Makefile:2: all] Error 127\n",
                Missing::Program("swig".into()),
            ),
            (
                "error: command 'swig' failed: No such file or directory\n",
                Missing::Program("swig".into()),
            ),
            (
                "setuptools._distutils.errors.DistutilsExecError: command '/usr/bin/swig' failed: No such file or directory\n",
                Missing::Program("swig".into()),
            ),
            (
                "meson.build:2:0: ERROR: Program 'swig' not found or not executable\n",
                Missing::Program("swig".into()),
            ),
            (
                "  File \"/usr/lib/python3.13/subprocess.py\", line 1972, in _execute_child\n    raise child_exception_type(errno_num, err_msg, err_filename)\nFileNotFoundError: [Errno 2] No such file or directory: 'swig'\n",
                Missing::Program("swig".into()),
            ),
        ];
        for (log, expected) in cases {
            assert_eq!(missing_files(log), std::slice::from_ref(expected), "{log}");
        }
    }

    #[test]
    fn look_alikes_that_are_no_missing_system_file_are_not_taken() {
        for log in [
            // An optional package: CMake goes on.
            "-- Could NOT find SWIG (missing: SWIG_EXECUTABLE SWIG_DIR) \n-- Configuring done (0.4s)\n",
            // A warning, not an error.
            "CMake Warning at CMakeLists.txt:3 (find_package):\n  Could not find a package configuration file provided by \"ZLIBX\" with any of\n",
            // There, but too old.
            "CMake Error at x.cmake:1 (message):\n  Could NOT find ZSTD: Found unsuitable version \"1.4\", but required is at least \"1.5\"\n",
            // A data file, not a program: nothing started a subprocess.
            "  File \"setup.py\", line 3, in <module>\nFileNotFoundError: [Errno 2] No such file or directory: 'README.md'\n",
            // An optional dependency meson did without.
            "Run-time dependency liblz4 found: NO (tried pkgconfig and cmake)\n",
            "make: *** No rule to make target 'all'.  Stop.\n",
        ] {
            assert_eq!(missing_files(log), [], "{log}");
        }
    }

    #[test]
    fn a_log_s_last_few_missing_files_are_named_each_once() {
        let mut log = String::new();
        for name in ["a", "b", "c", "d"] {
            log.push_str(&format!("No package 'lib{name}' found\n"));
        }
        log.push_str("Package libd was not found in the pkg-config search path.\n");
        assert_eq!(
            missing_files(&log),
            [
                Missing::PkgConfig("libb".into()),
                Missing::PkgConfig("libc".into()),
                Missing::PkgConfig("libd".into()),
            ]
        );
    }

    #[test]
    fn without_a_cached_index_the_usual_cases_are_named_and_others_searched() {
        let advice =
            diagnose("src/_ldap.c:1:10: fatal error: lber.h: No such file or directory\n").unwrap();
        assert_eq!(
            advice,
            "the compiler found no `lber.h`; Debian's `libldap-dev` ships it; add it to the \
             builder image with `offline-build image create --with libldap-dev` and build again"
        );
        let advice = diagnose(
            "CMake Error at /usr/share/cmake-3.31/Modules/FindPackageHandleStandardArgs.cmake:233 (message):\n  Could NOT find SWIG (missing: SWIG_EXECUTABLE SWIG_DIR)\n",
        )
        .unwrap();
        assert!(
            advice.contains("`offline-build image create --with swig`"),
            "{advice}"
        );
        let advice = diagnose("a.c:1:10: fatal error: lz4.h: No such file or directory\n").unwrap();
        assert!(advice.contains("`apt-file search /lz4.h`"), "{advice}");
        assert!(
            advice.contains("`offline-build image create --with PACKAGE`"),
            "{advice}"
        );
        assert!(
            advice.contains("running `offline-build image create` once keeps Debian's file list"),
            "{advice}"
        );
    }

    const AMD64: debian_contents::Architecture = debian_contents::Architecture {
        debian: "amd64",
        triplet: "x86_64-linux-gnu",
    };

    /// Lines as trixie's Contents-amd64 has them.
    const CONTENTS: &str = "\
usr/bin/curl-config                                     libdevel/libcurl4-gnutls-dev,libdevel/libcurl4-openssl-dev
usr/bin/krb5-config                                     devel/heimdal-dev,libdevel/libkrb5-dev
usr/bin/swig                                            interpreters/swig
usr/bin/zstd                                            utils/zstd
usr/include/CGAL/config.h                               libdevel/libcgal-dev
usr/include/NTL/config.h                                libdevel/libntl-dev
usr/include/ace/config.h                                libdevel/libace-dev
usr/include/zsh/config.h                                libdevel/zsh-dev
usr/include/hdf5/serial/hdf5.h                          libdevel/libhdf5-dev
usr/include/libxml2/libxml/xmlversion.h                 libdevel/libxml2-dev
usr/include/lz4.h                                       libdevel/liblz4-dev
usr/include/x86_64-linux-gnu/gmp.h                      libdevel/libgmp-dev
usr/include/zstd.h                                      libdevel/libzstd-dev
usr/lib/x86_64-linux-gnu/cmake/zstd/zstdConfig.cmake    libdevel/libzstd-dev
usr/lib/x86_64-linux-gnu/liblz4.a                       libdevel/liblz4-dev
usr/lib/x86_64-linux-gnu/liblz4.so                      libdevel/liblz4-dev
usr/lib/x86_64-linux-gnu/libzstd.so                     libdevel/libzstd-dev
usr/lib/x86_64-linux-gnu/pkgconfig/liblz4.pc            libdevel/liblz4-dev
usr/lib/x86_64-linux-gnu/pkgconfig/libzstd.pc           libdevel/libzstd-dev
";

    /// Knowledge from an index of [`CONTENTS`], and `image` as the image's record.
    fn knowing(image: Option<RecordedImage>) -> (tempfile::TempDir, Knowledge) {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let path = debian_contents::index_path(dir.path(), "trixie", &AMD64);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(CONTENTS.as_bytes()).unwrap();
        let bytes = gzip.finish().unwrap();
        debian_contents::write_index(
            bytes.as_slice(),
            "offline-build-contents 1 trixie amd64",
            AMD64.triplet,
            &path,
            "test",
        )
        .unwrap();
        let knowledge = Knowledge {
            index: ContentsIndex::open(&path),
            triplet: AMD64.triplet,
            image,
        };
        (dir, knowledge)
    }

    fn image(packages: &[&str], extra: &[&str]) -> RecordedImage {
        RecordedImage {
            reference: DEFAULT_IMAGE.into(),
            debian_packages: packages.iter().map(|name| (*name).to_owned()).collect(),
            extra_packages: extra.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    #[test]
    fn the_contents_index_names_the_development_package_of_each_kind_of_file() {
        let (_dir, knowledge) = knowing(None);
        let advise = |log: &str| diagnose_with(log, &knowledge).unwrap();
        let advice = advise("a.c:1:10: fatal error: lz4.h: No such file or directory\n");
        assert_eq!(
            advice,
            "the compiler found no `lz4.h`; Debian's `liblz4-dev` ships it as \
             `/usr/include/lz4.h`; add it to the builder image with `offline-build image create \
             --with liblz4-dev` and build again"
        );
        for log in [
            "/usr/bin/ld: cannot find -llz4: No such file or directory\n",
            "Package 'liblz4', required by 'virtual:world', not found\n",
            "CMake Error at CMakeLists.txt:3 (find_package):\n  Could not find a package configuration file provided by \"LZ4\" with any of\n",
        ] {
            let advice = advise(log);
            assert!(
                advice.contains("`offline-build image create --with liblz4-dev`"),
                "{log}: {advice}"
            );
        }
        // A static library only.
        let index = knowledge.index.as_ref().unwrap();
        assert!(matches!(
            candidates(&Missing::Library("lz4".into()), index, AMD64.triplet),
            Answer::Ships { package, .. } if package == "liblz4-dev"
        ));
        // The header in the multiarch directory.
        assert!(advise("fatal error: gmp.h: No such file or directory\n").contains("`libgmp-dev`"));
        // A CMake config file, found ignoring case.
        let advice = advise(
            "CMake Error at x:1 (message):\n  Could NOT find ZSTD (missing: ZSTD_LIBRARY ZSTD_INCLUDE_DIR)\n",
        );
        assert!(
            advice.contains("`/usr/lib/x86_64-linux-gnu/cmake/zstd/zstdConfig.cmake`"),
            "{advice}"
        );
        // A program; several packages ship it.
        let advice = advise("sh: 1: curl-config: not found\n");
        assert!(
            advice.contains("`libcurl4-gnutls-dev` ships it as `/usr/bin/curl-config` (so does `libcurl4-openssl-dev`)"),
            "{advice}"
        );
        // A library's development package before another's.
        assert!(advise("sh: 1: krb5-config: not found\n").contains("`libkrb5-dev` ships it"));
        assert!(
            advise("fatal error: krb5.h: No such file or directory\nsh: 1: swig: not found\n")
                .contains("`offline-build image create --with swig`")
        );
        // Two packages at once: one command.
        let advice = advise(
            "sh: 1: swig: not found\na.c:1:10: fatal error: lz4.h: No such file or directory\n",
        );
        assert!(
            advice.contains("add them to the builder image with `offline-build image create --with swig --with liblz4-dev`"),
            "{advice}"
        );
    }

    #[test]
    fn what_debian_does_not_ship_is_said_and_a_common_name_is_left_alone() {
        let (_dir, knowledge) = knowing(None);
        let advice = diagnose_with(
            "src/x.c:3:10: fatal error: myproject_version.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert_eq!(
            advice,
            "the compiler found no `myproject_version.h`, and no package of Debian trixie ships \
             `/usr/include/myproject_version.h`"
        );
        // Four packages ship a `config.h` of their own: which one is meant is anyone's guess.
        let advice = diagnose_with(
            "x.c:1:10: fatal error: config.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert!(advice.contains("`apt-file search /config.h`"), "{advice}");
        assert!(!advice.contains("libcgal"), "{advice}");
        // With the index there, no advice to make it.
        assert!(!advice.contains("keeps Debian's file list"), "{advice}");
    }

    #[test]
    fn a_package_the_image_has_is_said_to_be_there() {
        let (_dir, knowledge) = knowing(Some(image(
            &["libzstd-dev", "libxml2-dev", "python3"],
            &["libgdal-dev"],
        )));
        let advice = diagnose_with(
            "a.c:1:10: fatal error: zstd.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert_eq!(
            advice,
            "the compiler found no `zstd.h`, though the image has `libzstd-dev`, which ships \
             `/usr/include/zstd.h`: the build looked elsewhere"
        );
        let advice = diagnose_with(
            "a.c:1:10: fatal error: libxml/xmlversion.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert!(
            advice.contains(
                "the build needs `-I/usr/include/libxml2` (what `pkg-config --cflags` gives)"
            ),
            "{advice}"
        );
        // The packages the image was made with are kept in the command.
        let advice = diagnose_with(
            "a.c:1:10: fatal error: lz4.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert!(
            advice.contains("`offline-build image create --with libgdal-dev --with liblz4-dev`"),
            "{advice}"
        );
        // An image of another name is made again under its name.
        let mut other = image(&[], &[]);
        other.reference = "team/builder:gdal".into();
        let (_dir, knowledge) = knowing(Some(other));
        let advice = diagnose_with(
            "a.c:1:10: fatal error: lz4.h: No such file or directory\n",
            &knowledge,
        )
        .unwrap();
        assert!(
            advice.contains(
                "`offline-build image create --image team/builder:gdal --with liblz4-dev`"
            ),
            "{advice}"
        );
    }

    #[test]
    fn the_image_digest_comes_from_the_orchestrator_s_first_line_only() {
        let digest = "ab".repeat(32);
        let first = format!(
            "# offline-build: lz4demo 1.0 (build) from lz4demo-1.0.tar.gz (sha256 {}) in \
             offline-build/builder:trixie (sha256:{digest}), with minibackend-1.0-py3-none-any.whl\n",
            "cd".repeat(32)
        );
        assert_eq!(image_digest(&first), Some(format!("sha256:{digest}")));
        let forged = format!("building\n{first}");
        assert_eq!(image_digest(&forged), None);
        assert_eq!(image_digest("# offline-build: x (sha256:12)\n"), None);
    }
}
