//! The runtime image: the locked builder image plus the runtime set installed from the build's
//! own wheels (pip `--no-index --require-hashes`, in a locked-down container with no network),
//! the lock and the build report inside it and as labels, tagged and cached by an inputs digest.
//!
//! How, without a registry and without a writable-rootfs sandbox: pip installs into a venv on a
//! host directory mounted at [`VENV_DIR`] (the container itself keeps the read-only rootfs);
//! that directory is then copied, as root-owned files, onto the builder image by Docker's
//! classic builder (`FROM <builder id>`, `COPY` only: nothing runs in that step).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use ob_build::BuildReport;
use ob_lock::Lock;
use ob_sandbox::bollard::query_parameters::{
    BuildImageOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use ob_sandbox::{Mount, OutputLine, RunSpec, Sandbox};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::RunError;

/// Where the runtime set is installed in the image; its `bin/` comes first on `PATH`.
pub const VENV_DIR: &str = "/opt/venv";
/// Where the lock and the build report are copied in the image.
pub const METADATA_DIR: &str = "/opt/offline-build";
/// Repository of the default tag, `offline-build/runtime:<first 12 hex of the inputs digest>`.
pub const DEFAULT_REPOSITORY: &str = "offline-build/runtime";
/// Label: sha256 over everything the image is made from; what the cache looks up.
pub const LABEL_INPUTS_DIGEST: &str = "org.offline-build.runtime.inputs-digest";
/// Label: sha256 of the lock file's bytes.
pub const LABEL_LOCK_SHA256: &str = "org.offline-build.runtime.lock-sha256";
/// Label: sha256 of build-report.json's bytes.
pub const LABEL_REPORT_SHA256: &str = "org.offline-build.runtime.build-report-sha256";
/// Label: layer digest of the builder image it was assembled on.
pub const LABEL_BUILDER_DIGEST: &str = "org.offline-build.runtime.builder-digest";
/// Label: absolute path of the lock it was assembled for; how a newer image of the same lock
/// finds the ones it replaces.
pub const LABEL_LOCK_PATH: &str = "org.offline-build.runtime.lock-path";

/// Installs the runtime set; `/in/req/requirements.txt` pins each wheel by sha256, so pip
/// refuses any other file and any dependency that is not pinned. `--without-pip`: the image's
/// own pip drives the install, and no pip lands in the venv.
const INSTALL_SCRIPT: &str = "set -e
python3 -m venv --without-pip /opt/venv
exec python3 -m pip --python /opt/venv/bin/python install --no-index --find-links /in/dist \
 --only-binary :all: --require-hashes --no-cache-dir --disable-pip-version-check \
 -r /in/req/requirements.txt";

/// `PATH` inside the runtime image and every run.
pub fn runtime_path() -> String {
    format!("{VENV_DIR}/bin:{}", ob_sandbox::DEFAULT_PATH)
}

/// What to assemble from.
#[derive(Debug, Clone)]
pub struct AssembleOptions {
    /// The lock file.
    pub lock: PathBuf,
    /// The build's output directory (wheels and build-report.json).
    pub out: PathBuf,
    /// Tag to give the image; default `offline-build/runtime:<12 hex>`.
    pub tag: Option<String>,
}

/// The assembled (or reused) runtime image. Serialised by `image assemble --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuntimeImage {
    /// The tag it carries (the one asked for, or the default).
    pub reference: String,
    /// Docker's image ID.
    pub id: String,
    /// sha256 over the lock, the report, the builder digest, the wheels and the install script.
    pub inputs_digest: String,
    /// sha256 of the lock file.
    pub lock_sha256: String,
    /// sha256 of build-report.json.
    pub report_sha256: String,
    /// Layer digest of the builder image underneath.
    pub builder_digest: String,
    /// `name==version` of every package installed.
    pub packages: Vec<String>,
    /// `true` when an image with this inputs digest existed and was used as it is.
    pub reused: bool,
    /// Default tags (`offline-build/runtime:…`) of earlier runtime images of the same lock
    /// that were removed because this one replaces them.
    pub evicted: Vec<String>,
}

/// Assembles the runtime image for `options.lock` and the wheels in `options.out`, or reuses
/// the one already made from exactly these inputs. Every wheel is checked against the build
/// report's sha256 first, and the builder image against the lock's and the report's digest.
pub async fn assemble(
    sandbox: &Sandbox,
    options: &AssembleOptions,
) -> Result<RuntimeImage, RunError> {
    let out = std::path::absolute(&options.out)
        .map_err(RunError::io("find the absolute path of", &options.out))?;
    let lock = Lock::read(&options.lock).map_err(|source| RunError::Lock {
        path: options.lock.clone(),
        source,
    })?;
    let lock_bytes = fs_err::read(&options.lock).map_err(RunError::io("read", &options.lock))?;
    let lock_path = fs_err::canonicalize(&options.lock)
        .map_err(RunError::io("find the absolute path of", &options.lock))?;
    let lock_path = lock_path.to_string_lossy().into_owned();
    let report_path = out.join(ob_build::REPORT_FILE);
    let report_bytes =
        fs_err::read(&report_path).map_err(|_| RunError::NoBuildReport { out: out.clone() })?;
    let report =
        BuildReport::read(&out).ok_or_else(|| RunError::NoBuildReport { out: out.clone() })?;

    // The runtime set with each wheel's verified digest, in the lock's (sorted) order.
    let mut wheels = Vec::new();
    for package in lock.runtime_packages() {
        let entry = report
            .packages
            .iter()
            .find(|entry| entry.name == package.name && entry.version == package.version);
        let (Some(wheel), Some(sha256)) = (
            entry
                .filter(|entry| entry.status.has_wheel())
                .and_then(|entry| entry.wheel.clone()),
            entry.and_then(|entry| entry.wheel_sha256.clone()),
        ) else {
            return Err(RunError::NotBuilt {
                package: package.name.clone(),
                version: package.version.clone(),
                out: out.clone(),
            });
        };
        let path = out.join(&wheel);
        let actual = sha256_file(&path).unwrap_or_else(|_| "missing".to_string());
        if actual != sha256 {
            return Err(RunError::WheelMismatch {
                path,
                expected: sha256,
                actual,
            });
        }
        wheels.push((package.name.clone(), package.version.clone(), wheel, sha256));
    }

    let builder_reference = Some(lock.tool.image.clone())
        .filter(|image| !image.is_empty())
        .unwrap_or_else(|| ob_sandbox::image::DEFAULT_IMAGE.to_string());
    let builder = ob_sandbox::image::require(sandbox, Some(&builder_reference))
        .await
        .map_err(RunError::sandbox(format!(
            "could not look up the builder image `{builder_reference}`"
        )))?;
    for (what, expected) in [
        ("the lock", &lock.tool.image_digest),
        ("build-report.json", &report.image_digest),
    ] {
        if !expected.is_empty() && *expected != builder.digest {
            return Err(RunError::ImageMismatch {
                image: builder_reference.clone(),
                what,
                expected: expected.clone(),
                actual: builder.digest.clone(),
            });
        }
    }

    let lock_sha256 = hex::encode(Sha256::digest(&lock_bytes));
    let report_sha256 = hex::encode(Sha256::digest(&report_bytes));
    let mut hasher = Sha256::new();
    hasher.update(b"offline-build runtime image 1\0");
    hasher.update(INSTALL_SCRIPT.as_bytes());
    for part in [&lock_sha256, &report_sha256, &builder.digest] {
        hasher.update(b"\0");
        hasher.update(part.as_bytes());
    }
    for (name, version, wheel, sha256) in &wheels {
        hasher.update(format!("\0{name}\0{version}\0{wheel}\0{sha256}").as_bytes());
    }
    let inputs_digest = hex::encode(hasher.finalize());
    let reference = options
        .tag
        .clone()
        .unwrap_or_else(|| format!("{DEFAULT_REPOSITORY}:{}", &inputs_digest[..12]));
    let packages: Vec<String> = wheels
        .iter()
        .map(|(name, version, _, _)| format!("{name}=={version}"))
        .collect();
    let mut image = RuntimeImage {
        reference: reference.clone(),
        id: String::new(),
        inputs_digest: inputs_digest.clone(),
        lock_sha256: lock_sha256.clone(),
        report_sha256: report_sha256.clone(),
        builder_digest: builder.digest.clone(),
        packages,
        reused: false,
        evicted: Vec::new(),
    };

    if let Some(existing) = find_cached(sandbox, &inputs_digest, &lock_path).await? {
        if !existing.repo_tags.contains(&reference) {
            tag(sandbox, &existing.id, &reference).await?;
        }
        image.id = existing.id;
        image.reused = true;
        image.evicted = evict_replaced(sandbox, &lock_path, &image.id).await;
        return Ok(image);
    }

    let work = tempfile::Builder::new()
        .prefix("offline-build-assemble-")
        .tempdir()
        .map_err(RunError::io(
            "create a temporary directory in",
            std::env::temp_dir(),
        ))?;
    let venv = work.path().join("venv");
    let requirements = work.path().join("req");
    for dir in [&venv, &requirements] {
        fs_err::create_dir(dir).map_err(RunError::io("create", dir))?;
    }
    let pins: String = wheels
        .iter()
        .map(|(name, version, _, sha256)| format!("{name}=={version} --hash=sha256:{sha256}\n"))
        .collect();
    let requirements_file = requirements.join("requirements.txt");
    fs_err::write(&requirements_file, pins).map_err(RunError::io("write", &requirements_file))?;
    // The mount directory (not the files) must be readable for the sandbox user.
    set_mode(&requirements, 0o755)?;

    let mut spec = RunSpec::new(
        builder.id.clone(),
        vec![
            "sh".to_string(),
            "-c".to_string(),
            INSTALL_SCRIPT.to_string(),
        ],
        "run:assemble",
    );
    spec.inputs = vec![
        Mount::new(&out, "/in/dist"),
        Mount::new(&requirements, "/in/req"),
    ];
    spec.output = Some(Mount::new(&venv, VENV_DIR));
    spec.timeout = std::time::Duration::from_secs(1800);
    let mut log = Vec::new();
    let outcome = sandbox
        .run(&spec, |line| match line {
            OutputLine::Stdout(line) | OutputLine::Stderr(line) => log.push(line),
        })
        .await
        .map_err(RunError::sandbox("could not install the runtime set"))?;
    if !outcome.success() {
        let tail = log.len().saturating_sub(20);
        return Err(RunError::InstallFailed {
            exit_code: outcome.exit_code,
            log_tail: log[tail..].join("\n"),
        });
    }

    let archive = image_archive(&dockerfile(&builder.id), &venv, &lock_bytes, &report_bytes)?;
    let mut labels: HashMap<String, String> = HashMap::from([
        (LABEL_INPUTS_DIGEST.to_string(), inputs_digest.clone()),
        (LABEL_LOCK_SHA256.to_string(), lock_sha256),
        (LABEL_REPORT_SHA256.to_string(), report_sha256),
        (LABEL_BUILDER_DIGEST.to_string(), builder.digest.clone()),
        (LABEL_LOCK_PATH.to_string(), lock_path.clone()),
    ]);
    labels.insert(
        ob_sandbox::image::LABEL_PYTHON_VERSION.to_string(),
        builder.python_version.clone(),
    );
    labels.insert(
        ob_sandbox::image::LABEL_PLATFORM.to_string(),
        builder.platform.clone(),
    );
    image.id = build_image(sandbox, archive, labels, &reference).await?;
    image.evicted = evict_replaced(sandbox, &lock_path, &image.id).await;
    Ok(image)
}

/// One line for the user on what [`RuntimeImage::evicted`] holds.
pub fn evicted_message(evicted: &[String]) -> String {
    let references: Vec<String> = evicted
        .iter()
        .map(|reference| format!("`{reference}`"))
        .collect();
    format!(
        "Removed the runtime image(s) this one replaces: {}",
        references.join(", ")
    )
}

/// Removes the default tag of the other runtime images assembled for the lock at `lock_path`:
/// each change to a lock, its build or the builder image makes a new image, and without this
/// they would pile up. Only the tag `assemble` gave it (`offline-build/runtime:<its inputs>`)
/// is removed, so an image keeps whatever the user tagged it with (`--tag`); one that a
/// container still uses is left alone; Docker deletes an image when its last tag goes.
/// Housekeeping, never a reason to fail the run: what cannot be done is left as it is.
async fn evict_replaced(sandbox: &Sandbox, lock_path: &str, current_id: &str) -> Vec<String> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{LABEL_LOCK_PATH}={lock_path}")],
    )]);
    let Ok(images) = sandbox
        .docker()
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
    else {
        return Vec::new();
    };
    let mut evicted = Vec::new();
    for image in images.into_iter().filter(|image| image.id != current_id) {
        let Some(inputs_digest) = image.labels.get(LABEL_INPUTS_DIGEST) else {
            continue;
        };
        let Some(short) = inputs_digest.get(..12) else {
            continue;
        };
        let reference = format!("{DEFAULT_REPOSITORY}:{short}");
        if !image.repo_tags.contains(&reference) {
            continue;
        }
        // Refused (409) while a container uses the image; gone (404) when another process
        // evicted it first.
        let removed = sandbox
            .docker()
            .remove_image(&reference, None::<RemoveImageOptions>, None)
            .await;
        if removed.is_ok() {
            evicted.push(reference);
        }
    }
    evicted.sort();
    evicted
}

/// An image made from these inputs for this lock file before, if Docker still has one. Only
/// this lock's: an image of another lock file with the same inputs (a second checkout) would
/// be evicted when that other lock changes.
async fn find_cached(
    sandbox: &Sandbox,
    inputs_digest: &str,
    lock_path: &str,
) -> Result<Option<ob_sandbox::bollard::models::ImageSummary>, RunError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_INPUTS_DIGEST}={inputs_digest}"),
            format!("{LABEL_LOCK_PATH}={lock_path}"),
        ],
    )]);
    let images = sandbox
        .docker()
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(RunError::docker("list the runtime images"))?;
    Ok(images.into_iter().next())
}

/// `repo:tag` split at the tag's colon (not a registry port's), tag `latest` when absent.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

async fn tag(sandbox: &Sandbox, id: &str, reference: &str) -> Result<(), RunError> {
    let (repo, tag) = split_reference(reference);
    sandbox
        .docker()
        .tag_image(
            id,
            Some(TagImageOptions {
                repo: Some(repo.to_string()),
                tag: Some(tag.to_string()),
            }),
        )
        .await
        .map_err(RunError::docker(format!(
            "tag the runtime image as `{reference}`"
        )))
}

/// Builds `reference` from `context` (a Dockerfile on top of the builder image ID that only
/// copies `/opt` in and sets the environment) with Docker's classic builder: it reaches no
/// registry (`FROM` names a local image ID), runs nothing (`COPY` only), uses no network, and
/// the daemon itself removes its intermediate containers, also when we are killed.
async fn build_image(
    sandbox: &Sandbox,
    context: Vec<u8>,
    labels: HashMap<String, String>,
    reference: &str,
) -> Result<String, RunError> {
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(reference.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        networkmode: Some("none".to_string()),
        ..Default::default()
    };
    let mut progress = sandbox.docker().build_image(
        options,
        None,
        Some(ob_sandbox::bollard::body_full(bytes::Bytes::from(context))),
    );
    let action = || format!("build the runtime image `{reference}`");
    while let Some(step) = progress.next().await {
        let step = step.map_err(RunError::docker(action()))?;
        if let Some(detail) = step.error_detail {
            return Err(RunError::CommandFailed {
                command: action(),
                detail: detail.message.unwrap_or_default(),
            });
        }
    }
    let inspected = sandbox
        .docker()
        .inspect_image(reference)
        .await
        .map_err(RunError::docker(format!(
            "inspect the runtime image `{reference}`"
        )))?;
    inspected.id.ok_or_else(|| RunError::CommandFailed {
        command: action(),
        detail: "Docker reports no image ID".to_string(),
    })
}

/// The Dockerfile of the runtime image. Few instructions: the classic builder commits a
/// layer for each (`run` always names the command, so no `CMD`).
fn dockerfile(builder_id: &str) -> String {
    format!(
        "FROM {builder_id}\nCOPY opt/ /opt/\nENV PATH={path} VIRTUAL_ENV={VENV_DIR}\n",
        path = runtime_path()
    )
}

/// The build context: the Dockerfile, the venv and the metadata directory, every entry owned by
/// root so the program (uid 65534) cannot change what it runs even where the rootfs were
/// writable.
fn image_archive(
    dockerfile: &str,
    venv: &Path,
    lock: &[u8],
    report: &[u8],
) -> Result<Vec<u8>, RunError> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(dockerfile.len() as u64);
    append(
        &mut builder,
        &mut header,
        "Dockerfile",
        dockerfile.as_bytes(),
    )?;
    let mut opt = tar::Header::new_gnu();
    opt.set_entry_type(tar::EntryType::Directory);
    opt.set_mode(0o755);
    opt.set_size(0);
    append(&mut builder, &mut opt, "opt", &[][..])?;
    let relative_venv = VENV_DIR.trim_start_matches('/');
    append_tree(&mut builder, venv, Path::new(relative_venv))?;
    let metadata = METADATA_DIR.trim_start_matches('/');
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    append(&mut builder, &mut dir, metadata, &[][..])?;
    for (name, bytes) in [("pylock.toml", lock), (ob_build::REPORT_FILE, report)] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        append(
            &mut builder,
            &mut header,
            &format!("{metadata}/{name}"),
            bytes,
        )?;
    }
    builder.into_inner().map_err(RunError::io("pack", venv))
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    header: &mut tar::Header,
    path: &str,
    data: impl Read,
) -> Result<(), RunError> {
    header.set_uid(0);
    header.set_gid(0);
    builder
        .append_data(header, path, data)
        .map_err(RunError::io("pack", path))
}

fn append_tree(
    builder: &mut tar::Builder<Vec<u8>>,
    dir: &Path,
    name: &Path,
) -> Result<(), RunError> {
    let meta = fs_err::symlink_metadata(dir).map_err(RunError::io("inspect", dir))?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    // The mount point was made 0777 for the sandbox user; the image's venv is not writable.
    header.set_mode(0o755);
    append(builder, &mut header, &name.to_string_lossy(), &[][..])?;
    let mut entries: Vec<_> = fs_err::read_dir(dir)
        .map_err(RunError::io("list", dir))?
        .collect::<Result<_, _>>()
        .map_err(RunError::io("list", dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let below = name.join(entry.file_name());
        let meta = fs_err::symlink_metadata(&path).map_err(RunError::io("inspect", &path))?;
        if meta.is_dir() {
            append_tree(builder, &path, &below)?;
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(&path).map_err(RunError::io("read the link", &path))?;
            builder
                .append_link(&mut header, &below, &target)
                .map_err(RunError::io("pack", &path))?;
        } else if meta.is_file() {
            let file = fs_err::File::open(&path).map_err(RunError::io("open", &path))?;
            builder
                .append_data(&mut header, &below, file)
                .map_err(RunError::io("pack", &path))?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), RunError> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(RunError::io("set the mode of", path))
}

/// sha256 of a file, streamed.
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_a_registry_port() {
        assert_eq!(
            split_reference("offline-build/runtime:abc"),
            ("offline-build/runtime", "abc")
        );
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(split_reference("app"), ("app", "latest"));
    }
}
