//! The builder image: making the default one from Debian packages (debootstrap, then a Docker
//! import), describing any image (layer digest, Python version, platform tag), and the check
//! that stops a command when the image it needs is missing.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bollard::query_parameters::{CreateImageOptions, RemoveImageOptions};
use futures_util::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::{SandboxError, is_not_found};
use crate::run::{Limits, RunSpec};
use crate::sandbox::Sandbox;
use crate::{apt, rootfs};

/// The default builder image, made by [`create`] (`offline-build image create`).
pub const DEFAULT_IMAGE: &str = "offline-build/builder:trixie";
/// The Debian release the default image is bootstrapped from.
pub const DEBIAN_SUITE: &str = "trixie";
/// What the default image holds besides Debian's minimal base: Python with pip and venv, a C/C++
/// toolchain, and the headers that common extension modules build against.
pub const PACKAGES: &[&str] = &[
    "python3",
    "python3-pip",
    "python3-venv",
    // Python.h and the interpreter's build configuration: every C extension needs them.
    "python3-dev",
    "gcc",
    "g++",
    "make",
    // Applies the patches of a package's settings to its extracted sdist.
    "patch",
    "pkg-config",
    "libc6-dev",
    "libffi-dev",
    "zlib1g-dev",
    "libssl-dev",
];
/// Build tools that backends call (scikit-build-core and meson-python expect cmake, ninja and
/// meson; auditwheel-style steps patchelf; SciPy-style projects a Fortran compiler), and the
/// headers of the libraries the most downloaded native packages link: lxml (libxml2, libxslt),
/// pyyaml (libyaml), Pillow (jpeg, png, freetype, webp, tiff, lcms2, openjpeg), psycopg (libpq),
/// numpy and SciPy (OpenBLAS, LAPACK), and the standard library's optional parts.
pub const NATIVE_PACKAGES: &[&str] = &[
    "cmake",
    "ninja-build",
    "meson",
    "patchelf",
    "gfortran",
    "libyaml-dev",
    "libxml2-dev",
    "libxslt1-dev",
    "libjpeg-dev",
    "libpng-dev",
    "libfreetype-dev",
    "libwebp-dev",
    "libtiff-dev",
    "liblcms2-dev",
    "libopenjp2-7-dev",
    "libpq-dev",
    "libopenblas-dev",
    "liblapack-dev",
    "libsqlite3-dev",
    "libbz2-dev",
    "liblzma-dev",
    "libreadline-dev",
];
/// Rust's compiler and cargo, for maturin and setuptools-rust packages (cryptography,
/// pydantic-core, rpds-py, bcrypt, orjson, jiter), installed from Debian's
/// [`BACKPORTS_SUITE`] after the bootstrap: trixie itself ships 1.85, and maturin (a build
/// requirement of most of them, built from source like everything else) needs 1.89 since 1.10.
pub const RUST_PACKAGES: &[&str] = &["rustc", "cargo"];
/// The Debian suite [`RUST_PACKAGES`] come from, on the same mirror as the rest.
pub const BACKPORTS_SUITE: &str = "trixie-backports";
/// Image label holding every installed Debian package as `name=version`, sorted, comma
/// separated: what the image's layer digest pins, readable without running it.
pub const LABEL_DEBIAN_PACKAGES: &str = "org.offline-build.debian-packages";
/// Image label holding the packages asked for with `image create --with`, comma separated.
pub const LABEL_EXTRA_PACKAGES: &str = "org.offline-build.extra-packages";
/// Image label holding the Python version (e.g. `3.13.5`), set by [`create`].
pub const LABEL_PYTHON_VERSION: &str = "org.offline-build.python-version";
/// Image label holding the wheel platform tag (e.g. `linux_x86_64`), set by [`create`].
pub const LABEL_PLATFORM: &str = "org.offline-build.platform";

/// What identifies an image for the lock and the build report. Serialised as-is by
/// `offline-build image show --json` (a stable format: fields are only ever added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// The reference it was looked up by, e.g. `offline-build/builder:trixie`.
    pub reference: String,
    /// Docker's image ID. Changes on every import even when the content does not; do not pin it.
    pub id: String,
    /// `sha256:<hex>` identifying the image content: the layer digest (sha256 of the
    /// uncompressed rootfs tar) for a single-layer image such as ours, else the OCI chain ID of
    /// all its layers. Stable across re-imports of the same rootfs: pin this.
    pub digest: String,
    /// `python3`'s version, e.g. `3.13.5`.
    pub python_version: String,
    /// The platform tag of wheels built in it, e.g. `linux_x86_64`.
    pub platform: String,
    /// Every Debian package installed in it, `name=version`, sorted (made by [`create`]; empty
    /// for other images).
    #[serde(default)]
    pub debian_packages: Vec<String>,
    /// The packages added with `image create --with` (made by [`create`]).
    #[serde(default)]
    pub extra_packages: Vec<String>,
}

/// Options of [`create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Debian mirror URL; `None` takes the first Debian mirror of the host's apt sources.
    pub mirror: Option<String>,
    /// Make the image again even if it exists.
    pub force: bool,
    /// Debian packages to install beside [`PACKAGES`], [`NATIVE_PACKAGES`] and
    /// [`RUST_PACKAGES`] (`image create --with`).
    pub extra_packages: Vec<String>,
    /// The reference to make the image as; `None` is [`DEFAULT_IMAGE`] (`image create --image`).
    pub reference: Option<String>,
    /// Where to keep the index of Debian's Contents file and the image's package list, for
    /// the hints of failed builds ([`crate::debian_contents`]); `None` keeps neither.
    pub contents_cache: Option<PathBuf>,
}

/// Whether `reference` can name the image `create` makes: `repository[:tag]`, the repository
/// in lowercase path components, no digest. Anything else is refused before Docker sees it.
pub fn is_image_reference(reference: &str) -> bool {
    let (repository, tag) = match reference.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
        _ => (reference, None),
    };
    let component = |part: &str| {
        !part.is_empty()
            && part.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && part
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
    };
    let mut components: Vec<&str> = repository.split('/').collect();
    // A registry with a port: `localhost:5000/team/builder`.
    if components.len() > 1
        && let Some((host, port)) = components[0].split_once(':')
    {
        if !component(host) || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        components.remove(0);
    }
    reference.len() <= 255
        && components.into_iter().all(component)
        && tag.is_none_or(|tag| {
            (1..=128).contains(&tag.len())
                && tag.bytes().next().is_some_and(|b| b != b'.' && b != b'-')
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Whether `name` can be a Debian package name (policy 5.6.1): lowercase letters, digits and
/// `+-.`, at least two characters, starting with a letter or digit. Anything else is refused
/// before it reaches debootstrap's command line.
pub fn is_debian_package_name(name: &str) -> bool {
    name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

/// Every package the image is bootstrapped with: ours, then the extra ones, each once
/// ([`RUST_PACKAGES`] come afterwards, from [`BACKPORTS_SUITE`]).
pub fn image_packages(extra: &[String]) -> Vec<String> {
    let mut packages: Vec<String> = PACKAGES
        .iter()
        .chain(NATIVE_PACKAGES)
        .map(|name| (*name).to_owned())
        .collect();
    for name in extra {
        if !packages.contains(name) {
            packages.push(name.clone());
        }
    }
    packages
}

/// `name=version` of every package `dpkg` lists as installed in `status` (the text of
/// `var/lib/dpkg/status`), sorted.
pub fn installed_packages(status: &str) -> Vec<String> {
    let mut installed = Vec::new();
    for stanza in status.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(|value| value.trim().to_owned())
            })
        };
        if let (Some(name), Some(version), Some(state)) =
            (field("Package"), field("Version"), field("Status"))
            && state.ends_with(" installed")
        {
            let arch = field("Architecture").filter(|arch| arch != "all");
            let multi_arch = field("Multi-Arch").is_some_and(|value| value == "same");
            let name = match arch {
                Some(arch) if multi_arch => format!("{name}:{arch}"),
                _ => name,
            };
            installed.push(format!("{name}={version}"));
        }
    }
    installed.sort();
    installed
}

/// What [`create`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOutcome {
    /// The image as it now is.
    pub info: ImageInfo,
    /// `false` when the image already existed and nothing was done.
    pub created: bool,
}

/// Progress of [`create`], which takes minutes. The binary shows these; tests may ignore them.
pub trait CreateReporter: Send + Sync {
    /// A new step began, e.g. "Bootstrapping Debian trixie (about a minute)".
    fn on_step(&self, message: &str);
    /// A line of output from a long step (debootstrap's `I: Retrieving ...`).
    fn on_detail(&self, line: &str) {
        let _ = line;
    }
}

/// Reports nothing.
impl CreateReporter for () {
    fn on_step(&self, _message: &str) {}
}

/// What to do when `reference` is missing.
pub(crate) fn missing_hint(reference: &str) -> String {
    if reference == DEFAULT_IMAGE {
        "run `offline-build image create` to make it (about two minutes)".to_string()
    } else {
        format!(
            "load or build `{reference}` into Docker first, or omit --image to use the default \
             builder image"
        )
    }
}

/// Looks up the image `reference` (default: [`DEFAULT_IMAGE`]) and fails with
/// [`SandboxError::ImageMissing`] naming the exact command to run when it is absent. Commands
/// that need an image call this first.
pub async fn require(
    sandbox: &Sandbox,
    reference: Option<&str>,
) -> Result<ImageInfo, SandboxError> {
    let reference = reference.unwrap_or(DEFAULT_IMAGE);
    inspect(sandbox, reference)
        .await?
        .ok_or_else(|| SandboxError::ImageMissing {
            reference: reference.to_string(),
            hint: missing_hint(reference),
        })
}

/// Describes the image `reference`, or `None` if Docker does not have it. Python version and
/// platform come from the labels [`create`] sets; for any other image, python3 is run once in a
/// locked-down container to ask.
pub async fn inspect(
    sandbox: &Sandbox,
    reference: &str,
) -> Result<Option<ImageInfo>, SandboxError> {
    let inspected = match sandbox.docker.inspect_image(reference).await {
        Ok(inspected) => inspected,
        Err(err) if is_not_found(&err) => return Ok(None),
        Err(source) => {
            return Err(SandboxError::docker(
                format!("inspect the image `{reference}`"),
                source,
            ));
        }
    };
    let unusable = |detail: &str| SandboxError::ImageUnusable {
        reference: reference.to_string(),
        detail: detail.to_string(),
    };
    let id = inspected
        .id
        .clone()
        .ok_or_else(|| unusable("Docker reports no image ID"))?;
    let layers = inspected
        .root_fs
        .and_then(|root_fs| root_fs.layers)
        .unwrap_or_default();
    let digest = chain_id(&layers).ok_or_else(|| unusable("Docker reports no layers"))?;
    let labels = inspected
        .config
        .and_then(|config| config.labels)
        .unwrap_or_default();
    let (python_version, platform) =
        match (labels.get(LABEL_PYTHON_VERSION), labels.get(LABEL_PLATFORM)) {
            (Some(version), Some(platform)) => (version.clone(), platform.clone()),
            _ => ask_python(sandbox, reference).await?,
        };
    let list = |label: &str| -> Vec<String> {
        labels
            .get(label)
            .map(|text| {
                text.split(',')
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Some(ImageInfo {
        reference: reference.to_string(),
        id,
        digest,
        python_version,
        platform,
        debian_packages: list(LABEL_DEBIAN_PACKAGES),
        extra_packages: list(LABEL_EXTRA_PACKAGES),
    }))
}

/// The OCI chain ID of `layers` (DiffIDs, bottom first): the layer digest itself for one layer.
fn chain_id(layers: &[String]) -> Option<String> {
    let (first, rest) = layers.split_first()?;
    Some(rest.iter().fold(first.clone(), |chain, layer| {
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{chain} {layer}")))
        )
    }))
}

/// Prints the Python version and `sysconfig.get_platform()`, one per line.
const PYTHON_PROBE: &str =
    "import platform, sysconfig; print(platform.python_version()); print(sysconfig.get_platform())";

/// Runs python3 in the image, locked down like any build, to learn its version and platform.
async fn ask_python(sandbox: &Sandbox, reference: &str) -> Result<(String, String), SandboxError> {
    let mut spec = RunSpec::new(
        reference,
        vec![
            "python3".to_string(),
            "-c".to_string(),
            PYTHON_PROBE.to_string(),
        ],
        format!("inspect:{reference}"),
    );
    spec.timeout = Duration::from_secs(120);
    spec.limits = Limits {
        memory_bytes: 512 << 20,
        ..Limits::default()
    };
    let mut printed = Vec::new();
    let outcome = sandbox
        .run(&spec, |line| match line {
            crate::OutputLine::Stdout(line) | crate::OutputLine::Stderr(line) => printed.push(line),
        })
        .await;
    match outcome {
        Ok(outcome) => parse_python_probe(reference, outcome.success(), &printed),
        // Docker refuses to start a container whose program does not exist: no python3 there.
        Err(SandboxError::Docker { source, .. }) => Err(SandboxError::ImageUnusable {
            reference: reference.to_string(),
            detail: format!("python3 could not be started: {source}"),
        }),
        Err(err) => Err(err),
    }
}

fn parse_python_probe(
    reference: &str,
    success: bool,
    printed: &[String],
) -> Result<(String, String), SandboxError> {
    match (success, printed) {
        (true, [version, platform]) if !version.is_empty() && !platform.is_empty() => {
            Ok((version.trim().to_string(), platform_tag(platform)))
        }
        _ => Err(SandboxError::ImageUnusable {
            reference: reference.to_string(),
            detail: format!(
                "asking python3 for its version and platform printed: {:?}",
                printed.join("\n")
            ),
        }),
    }
}

/// `linux-x86_64` → `linux_x86_64`, as wheel tags spell it.
fn platform_tag(platform: &str) -> String {
    platform.trim().replace(['-', '.'], "_")
}

/// Makes [`DEFAULT_IMAGE`] (or `options.reference`): debootstraps Debian [`DEBIAN_SUITE`]
/// (minbase plus [`PACKAGES`]) into a temporary directory, tidies it, and streams it as one tar
/// layer into Docker's image import, with the Python version and platform as labels. Checks
/// that Docker's layer digest is the sha256 of what was sent.
///
/// Idempotent: when the image exists and `options.force` is false, nothing is done and
/// `created` is false. Needs root (debootstrap does); installs debootstrap with apt-get when it
/// is missing and apt-get is there. The temporary rootfs is always deleted.
///
/// With `options.contents_cache`, it also keeps the index of Debian's Contents file there
/// (downloaded when missing, and again whenever the image is made) and the image's package
/// list, for the hints of failed builds; failing at that is reported, not an error.
pub async fn create(
    sandbox: &Sandbox,
    options: &CreateOptions,
    reporter: &dyn CreateReporter,
) -> Result<CreateOutcome, SandboxError> {
    let reference = options.reference.as_deref().unwrap_or(DEFAULT_IMAGE);
    if !is_image_reference(reference) {
        return Err(SandboxError::ImageUnusable {
            reference: reference.to_owned(),
            detail: "it is no image reference (a lowercase `repository[:tag]`)".to_owned(),
        });
    }
    let existing = inspect(sandbox, reference).await?;
    // An image made without some of the packages asked for (by an older offline-build, or
    // without this `--with`) is made again.
    let wanted = image_packages(&options.extra_packages);
    let covers = |info: &ImageInfo| {
        // An image whose Rust is trixie's own (made before Rust came from backports) is old.
        let rust_from_backports = RUST_PACKAGES.iter().all(|name| {
            info.debian_packages.iter().any(|entry| {
                entry.split(['=', ':']).next() == Some(*name) && entry.contains("~bpo")
            })
        });
        let mut extra_now = info.extra_packages.clone();
        let mut extra_wanted = options.extra_packages.clone();
        extra_now.sort();
        extra_wanted.sort();
        extra_now == extra_wanted
            && rust_from_backports
            && wanted.iter().all(|name| {
                info.debian_packages
                    .iter()
                    .any(|entry| entry.split(['=', ':']).next() == Some(name.as_str()))
            })
    };
    if let Some(info) = &existing
        && !options.force
        && covers(info)
    {
        reporter.on_step(&format!(
            "`{reference}` already exists (layer {}); use --force to make it again",
            info.digest
        ));
        if let Some(cache) = &options.contents_cache {
            let index_missing =
                crate::debian_contents::host_architecture().is_some_and(|arch| {
                    crate::debian_contents::ContentsIndex::open(
                        &crate::debian_contents::index_path(cache, DEBIAN_SUITE, &arch),
                    )
                    .is_none()
                });
            if index_missing {
                let mirror = match &options.mirror {
                    Some(mirror) => Ok(mirror.clone()),
                    None => apt::debian_mirror(Path::new("/")),
                };
                cache_contents(mirror, cache, reporter).await;
            }
            keep_record(cache, info, reporter);
        }
        return Ok(CreateOutcome {
            info: info.clone(),
            created: false,
        });
    }
    if effective_uid() != Some(0) {
        return Err(SandboxError::NotRoot);
    }
    let debootstrap = ensure_debootstrap(reporter).await?;
    let mirror = match &options.mirror {
        Some(mirror) => mirror.clone(),
        None => apt::debian_mirror(Path::new("/"))?,
    };
    if let Some(cache) = &options.contents_cache {
        // The archive is what the new image is made from: its file list is fetched again.
        cache_contents(Ok(mirror.clone()), cache, reporter).await;
    }

    let abandoned = tokio::task::spawn_blocking(rootfs::remove_abandoned)
        .await
        .unwrap_or(0);
    if abandoned > 0 {
        reporter.on_step(&format!(
            "Removed {abandoned} temporary rootfs left by an interrupted `image create`"
        ));
    }
    if let Some(bad) = options
        .extra_packages
        .iter()
        .find(|name| !is_debian_package_name(name))
    {
        return Err(SandboxError::BadPackageName { name: bad.clone() });
    }
    let rootfs_dir = rootfs::RootfsDir::new()?;
    let result = build_and_import(
        sandbox,
        reference,
        &debootstrap,
        &mirror,
        &options.extra_packages,
        &rootfs_dir,
        reporter,
    )
    .await;
    reporter.on_step("Removing the temporary rootfs");
    rootfs_dir.remove().await;
    let info = result?;

    if let Some(old) = existing
        && old.id != info.id
    {
        // The old image lost its tag to the new one; a container may still use it, so this is
        // best effort.
        let removed = sandbox
            .docker
            .remove_image(&old.id, None::<RemoveImageOptions>, None)
            .await;
        if removed.is_err() {
            reporter.on_step(&format!(
                "The previous image `{}` is still in use and was kept; remove it later with \
                 `docker image rm {}`",
                old.id, old.id
            ));
        }
    }
    reporter.on_step(&format!("Created `{reference}` (layer {})", info.digest));
    if let Some(cache) = &options.contents_cache {
        keep_record(cache, &info, reporter);
    }
    Ok(CreateOutcome {
        info,
        created: true,
    })
}

/// Downloads and indexes the Contents file of [`DEBIAN_SUITE`] into `cache`; a failure is
/// reported and otherwise ignored: the image does not need it, only the hints do.
async fn cache_contents(
    mirror: Result<String, SandboxError>,
    cache: &Path,
    reporter: &dyn CreateReporter,
) {
    let Some(arch) = crate::debian_contents::host_architecture() else {
        return;
    };
    let mirror = match mirror {
        Ok(mirror) => mirror,
        Err(err) => {
            reporter.on_step(&format!(
                "Could not cache Debian's file list for build hints: {err}"
            ));
            return;
        }
    };
    reporter.on_step(&format!(
        "Caching Debian {DEBIAN_SUITE}'s file list (Contents-{}, about 13 MB) for build hints",
        arch.debian
    ));
    match crate::debian_contents::download(&mirror, DEBIAN_SUITE, &arch, cache).await {
        Ok(outcome) => reporter.on_step(&format!(
            "Cached the {} files build hints can name ({:.1} MB downloaded) at {}",
            outcome.entries,
            outcome.downloaded_bytes as f64 / f64::from(1 << 20),
            outcome.index.display()
        )),
        Err(err) => {
            let mut message = format!("Could not cache Debian's file list for build hints: {err}");
            let mut cause = std::error::Error::source(&err);
            while let Some(source) = cause {
                message.push_str(&format!(": {source}"));
                cause = source.source();
            }
            reporter.on_step(&message);
        }
    }
}

/// Keeps `info`'s package list in `cache` for the hints; a failure is reported only.
fn keep_record(cache: &Path, info: &ImageInfo, reporter: &dyn CreateReporter) {
    if let Err(err) = crate::debian_contents::record_image(cache, info) {
        reporter.on_step(&format!(
            "Could not record the image's packages for build hints: {err}"
        ));
    }
}

async fn build_and_import(
    sandbox: &Sandbox,
    reference: &str,
    debootstrap: &Path,
    mirror: &str,
    extra: &[String],
    rootfs_dir: &rootfs::RootfsDir,
    reporter: &dyn CreateReporter,
) -> Result<ImageInfo, SandboxError> {
    let root = rootfs_dir.root();
    let packages = image_packages(extra);
    reporter.on_step(&format!(
        "Bootstrapping Debian {DEBIAN_SUITE} from {mirror} with python3, C, C++, Fortran and Rust \
         compilers, build tools and {} library headers{} (a few minutes)",
        NATIVE_PACKAGES
            .iter()
            .filter(|name| name.ends_with("-dev"))
            .count(),
        if extra.is_empty() {
            String::new()
        } else {
            format!(", and {}", extra.join(", "))
        }
    ));
    // A minute of slack: package contents are older by far, and clock steps happen.
    let made_since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since_epoch| since_epoch.as_secs().saturating_sub(60))
        .unwrap_or(0);
    let mut command = tokio::process::Command::new(debootstrap);
    command
        .arg("--variant=minbase")
        .arg(format!("--include={}", packages.join(",")))
        .arg(DEBIAN_SUITE)
        .arg(&root)
        .arg(mirror);
    run_host_command(
        command,
        reporter,
        "check that the mirror is reachable and serves Debian trixie, or pass another with --mirror",
    )
    .await?;
    install_backports(&root, mirror, reporter).await?;

    reporter.on_step("Tidying the rootfs (apt lists, caches, logs)");
    let tidy_root = root.clone();
    tokio::task::spawn_blocking(move || rootfs::tidy(&tidy_root))
        .await
        .map_err(|join| {
            SandboxError::io("tidying the rootfs stopped", std::io::Error::other(join))
        })??;

    let (python_version, platform) = python_in_chroot(&root).await?;
    let status_path = root.join("var/lib/dpkg/status");
    let installed =
        installed_packages(&fs_err::read_to_string(&status_path).map_err(|source| {
            SandboxError::io("could not read the rootfs's dpkg status", source)
        })?);
    let missing: Vec<&str> = packages
        .iter()
        .map(String::as_str)
        .chain(RUST_PACKAGES.iter().copied())
        .filter(|name| {
            !installed
                .iter()
                .any(|entry| entry.split(['=', ':']).next() == Some(*name))
        })
        .collect();
    if !missing.is_empty() {
        return Err(SandboxError::Unexpected {
            action: "bootstrap the builder image".to_owned(),
            detail: format!(
                "debootstrap finished without installing {}",
                missing
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }

    reporter.on_step(&format!(
        "Importing the rootfs into Docker as `{reference}`"
    ));
    let (sender, mut receiver) = tokio::sync::mpsc::channel(8);
    let tar_root = root.clone();
    let producer =
        tokio::task::spawn_blocking(move || rootfs::stream_tar(&tar_root, made_since, sender));
    let body = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    let (repo, tag) = match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    };
    let import_options = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
        changes: vec![
            format!("ENV PATH={}", crate::run::DEFAULT_PATH),
            "ENV LANG=C.UTF-8".to_string(),
            format!(
                "LABEL {LABEL_PYTHON_VERSION}=\"{python_version}\" {LABEL_PLATFORM}=\"{platform}\" \
                 org.offline-build.debian-suite=\"{DEBIAN_SUITE}\" \
                 {LABEL_DEBIAN_PACKAGES}=\"{}\" {LABEL_EXTRA_PACKAGES}=\"{}\"",
                installed.join(","),
                extra.join(",")
            ),
            "CMD [\"python3\"]".to_string(),
        ],
        ..Default::default()
    };
    // An import of ~650 MB outlasts bollard's default two-minute request timeout.
    let docker = sandbox
        .docker
        .clone()
        .with_timeout(Duration::from_secs(3600));
    let mut progress = docker.create_image(
        Some(import_options),
        Some(bollard::body_try_stream(body)),
        None,
    );
    let mut import_error = None;
    while let Some(message) = progress.next().await {
        if let Err(source) = message {
            import_error = Some(source);
            break;
        }
    }
    drop(progress);
    let sent = producer.await.map_err(|join| {
        SandboxError::io(
            "writing the rootfs tar stopped",
            std::io::Error::other(join),
        )
    })?;
    if let Some(source) = import_error {
        return Err(SandboxError::docker(
            format!("import the rootfs as `{reference}`"),
            source,
        ));
    }
    let sent = sent?;

    let info = inspect(sandbox, reference).await?.ok_or_else(|| SandboxError::ImageMissing {
        reference: reference.to_string(),
        hint: "Docker accepted the import but does not list the image; run `offline-build image create --force`".to_string(),
    })?;
    if info.digest != sent.digest {
        return Err(SandboxError::LayerMismatch {
            reference: reference.to_string(),
            sent: sent.digest,
            recorded: info.digest,
        });
    }
    Ok(info)
}

/// Installs [`RUST_PACKAGES`] into the bootstrapped rootfs from [`BACKPORTS_SUITE`] on `mirror`,
/// with the rootfs's own apt (run by chroot, with the host's resolver for the download). The
/// sources entry is removed afterwards: the image records the versions it got, not where to
/// get more.
async fn install_backports(
    root: &Path,
    mirror: &str,
    reporter: &dyn CreateReporter,
) -> Result<(), SandboxError> {
    reporter.on_step(&format!(
        "Installing {} from {BACKPORTS_SUITE}",
        RUST_PACKAGES.join(" and ")
    ));
    let list = root.join("etc/apt/sources.list.d/offline-build-backports.list");
    let resolv = root.join("etc/resolv.conf");
    let write = |path: &Path, text: &str| {
        // A symlink (resolv.conf often is one) would be followed out of the rootfs.
        match fs_err::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        fs_err::write(path, text)
    };
    let host_resolv = fs_err::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(&list, &format!("deb {mirror} {BACKPORTS_SUITE} main\n"))
        .and_then(|()| write(&resolv, &host_resolv))
        .map_err(|source| SandboxError::io("could not prepare the rootfs's apt", source))?;
    let apt = |args: &[&str]| {
        let mut command = tokio::process::Command::new("chroot");
        command
            .arg(root)
            .arg("apt-get")
            .args([
                "-o",
                "Acquire::Languages=none",
                "-o",
                "APT::Sandbox::User=root",
            ])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        command
    };
    let hint = "check that the mirror serves trixie-backports, or pass another with --mirror";
    run_host_command(apt(&["update"]), reporter, hint).await?;
    let mut install = vec![
        "install",
        "-y",
        "--no-install-recommends",
        "-t",
        BACKPORTS_SUITE,
    ];
    install.extend_from_slice(RUST_PACKAGES);
    run_host_command(apt(&install), reporter, hint).await?;
    fs_err::remove_file(&list)
        .map_err(|source| SandboxError::io("could not tidy the rootfs's apt sources", source))
}

/// Asks the bootstrapped python3 for its version and platform by chrooting into the rootfs
/// (faster than importing first and starting a container).
async fn python_in_chroot(root: &Path) -> Result<(String, String), SandboxError> {
    let output = tokio::process::Command::new("chroot")
        .arg(root)
        .args(["/usr/bin/python3", "-c", PYTHON_PROBE])
        .env_clear()
        .env("PATH", crate::run::DEFAULT_PATH)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| {
            SandboxError::io("could not run `chroot` to ask the rootfs's python3", source)
        })?;
    let printed: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    parse_python_probe(
        &root.display().to_string(),
        output.status.success(),
        &printed,
    )
}

/// Runs a host command, passing its output lines to `reporter` and keeping the last ones for
/// the error.
async fn run_host_command(
    mut command: tokio::process::Command,
    reporter: &dyn CreateReporter,
    hint: &str,
) -> Result<(), SandboxError> {
    let shown = format!("{:?}", command.as_std()).replace('"', "");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|source| SandboxError::io(format!("could not start `{shown}`"), source))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(SandboxError::io(
            format!("`{shown}` has no output pipes"),
            std::io::Error::from(std::io::ErrorKind::BrokenPipe),
        ));
    };
    let mut stdout = BufReader::new(stdout).lines();
    let mut stderr = BufReader::new(stderr).lines();
    let mut tail = VecDeque::new();
    let mut remember = |line: String| {
        reporter.on_detail(&line);
        if tail.len() == 30 {
            tail.pop_front();
        }
        tail.push_back(line);
    };
    let (mut stdout_open, mut stderr_open) = (true, true);
    while stdout_open || stderr_open {
        tokio::select! {
            line = stdout.next_line(), if stdout_open => match line {
                Ok(Some(line)) => remember(line),
                _ => stdout_open = false,
            },
            line = stderr.next_line(), if stderr_open => match line {
                Ok(Some(line)) => remember(line),
                _ => stderr_open = false,
            },
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|source| SandboxError::io(format!("could not wait for `{shown}`"), source))?;
    if status.success() {
        return Ok(());
    }
    Err(SandboxError::CommandFailed {
        command: shown,
        status: status.to_string(),
        output_tail: tail.into_iter().map(|line| format!("  {line}\n")).collect(),
        hint: hint.to_string(),
    })
}

/// Finds debootstrap, installing it with apt-get when it is missing and we can.
async fn ensure_debootstrap(reporter: &dyn CreateReporter) -> Result<PathBuf, SandboxError> {
    if let Some(found) = find_program("debootstrap") {
        return Ok(found);
    }
    let Some(apt_get) = find_program("apt-get") else {
        return Err(SandboxError::ProgramMissing {
            program: "debootstrap".to_string(),
            hint: "install debootstrap with your system's package manager, then run \
                   `offline-build image create` again"
                .to_string(),
        });
    };
    reporter.on_step("debootstrap is missing: installing it with `apt-get install debootstrap`");
    let install = || {
        let mut command = tokio::process::Command::new(&apt_get);
        command
            .args(["install", "-y", "--no-install-recommends", "debootstrap"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    let hint = "install it yourself with `apt-get update && apt-get install debootstrap`, then run \
                `offline-build image create` again";
    if run_host_command(install(), reporter, hint).await.is_err() {
        // The package lists may simply be missing or stale.
        let mut update = tokio::process::Command::new(&apt_get);
        update.arg("update");
        run_host_command(update, reporter, hint).await?;
        run_host_command(install(), reporter, hint).await?;
    }
    find_program("debootstrap").ok_or_else(|| SandboxError::ProgramMissing {
        program: "debootstrap".to_string(),
        hint: hint.to_string(),
    })
}

/// Looks in PATH and in the sbin directories, which a non-login root shell may not have.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// This process's effective uid, from /proc (no unsafe `geteuid` call needed).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_come_from_dpkg_status_sorted_with_multi_arch_names() {
        let status = "Package: zlib1g\nStatus: install ok installed\nMulti-Arch: same\nArchitecture: amd64\nVersion: 1:1.3\n\nPackage: cmake\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.31.6-2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        assert_eq!(
            installed_packages(status),
            ["cmake=3.31.6-2", "zlib1g:amd64=1:1.3"]
        );
        assert!(is_debian_package_name("libxml2-dev"));
        assert!(is_debian_package_name("g++"));
        for bad in ["", "a", "Lib", "x;rm", "-x", "a b", "pkg=1"] {
            assert!(!is_debian_package_name(bad), "{bad}");
        }
        let packages = image_packages(&["libgdal-dev".into(), "cmake".into()]);
        assert_eq!(packages.iter().filter(|p| *p == "cmake").count(), 1);
        assert_eq!(packages.last().map(String::as_str), Some("libgdal-dev"));
    }

    #[test]
    fn image_references_are_checked_before_docker_sees_them() {
        for good in [
            DEFAULT_IMAGE,
            "offline-build/builder:trixie-lz4",
            "localhost:5000/team/builder:1.0",
            "builder",
        ] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in [
            "",
            "Builder:x",
            "a b",
            "x:",
            "x:-tag",
            "x@sha256:00",
            "/x",
            "x//y",
            "x:y;z",
            "localhost:port/x",
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn one_layer_is_its_own_chain_id() {
        let layer = format!("sha256:{}", "a".repeat(64));
        assert_eq!(chain_id(std::slice::from_ref(&layer)), Some(layer.clone()));
        assert_eq!(chain_id(&[]), None);
        let two = chain_id(&[layer.clone(), layer.clone()]).unwrap();
        assert_ne!(two, layer);
        assert!(two.starts_with("sha256:") && two.len() == 71);
    }

    #[test]
    fn python_probe_output_is_checked() {
        let ok =
            parse_python_probe("img", true, &["3.13.5".into(), "linux-x86_64".into()]).unwrap();
        assert_eq!(ok, ("3.13.5".to_string(), "linux_x86_64".to_string()));
        let err = parse_python_probe("img", false, &["sh: python3: not found".into()]).unwrap_err();
        assert!(err.to_string().contains("`img`") && err.to_string().contains("not found"));
    }

    #[test]
    fn the_missing_default_image_names_the_command_to_run() {
        assert!(missing_hint(DEFAULT_IMAGE).contains("`offline-build image create`"));
        assert!(missing_hint("other:1").contains("--image"));
    }

    #[test]
    fn effective_uid_is_readable() {
        assert!(effective_uid().is_some());
    }
}
