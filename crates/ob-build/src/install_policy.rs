//! What a wheel may install, beyond being a sound archive: a wheel is a list of files pip
//! writes into an environment, and some files there are code that runs without being imported,
//! or replace what the environment runs.
//!
//! - A top-level `.pth` file is run by Python's `site` at every interpreter start, and so are
//!   top-level `sitecustomize.py` and `usercustomize.py`: refused, except the ones a package is
//!   known to need (setuptools' `distutils-precedence.pth`) and those of packages the user
//!   allows (`--allow-pth NAME`).
//! - Scripts (`.data/scripts/`, console and GUI scripts of `entry_points.txt`) go to the
//!   environment's `bin/`: a name must be a plain file name, and not one of the interpreter's,
//!   pip's, the venv's activation scripts or a shell's, which a script would replace or shadow.
//! - `.data/data/` is installed relative to the environment's root: nothing under `bin/`,
//!   `lib/`, `lib64/` or `include/` of it, nor `pyvenv.cfg`.
//! - Nothing in another distribution's `.dist-info` or `.data` directory.

use std::collections::BTreeSet;

/// `.pth` files (and other start-up files) a package is known to ship for a reason, allowed
/// without asking.
const KNOWN_STARTUP_FILES: &[(&str, &str)] = &[("setuptools", "distutils-precedence.pth")];

/// What the user allows beyond the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallPolicy {
    /// Packages (normalized names) whose top-level `.pth` and start-up files are allowed.
    pub allow_pth: BTreeSet<String>,
}

impl InstallPolicy {
    /// A policy allowing the start-up files of `packages` (any spelling of their names).
    pub fn allowing_pth<'a>(packages: impl IntoIterator<Item = &'a str>) -> InstallPolicy {
        InstallPolicy {
            allow_pth: packages.into_iter().map(ob_lock::normalize_name).collect(),
        }
    }

    /// The policy as a stable string, for the wheel cache key: a wheel accepted under one
    /// policy is not taken from the cache under another.
    pub fn digest_input(&self) -> String {
        let allowed: Vec<&str> = self.allow_pth.iter().map(String::as_str).collect();
        format!("allow-pth={}", allowed.join(","))
    }
}

/// A file the policy refuses, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The wheel entry (or `entry_points.txt` with the script's name).
    pub entry: String,
    /// Why, and what the user can do.
    pub why: String,
}

/// Names a script of `package` may not take: the environment's own executables (pip's are
/// pip's own to install) and the shells a program finds on `PATH`.
fn reserved_script(name: &str, package: &str) -> bool {
    let versioned = |stem: &str| {
        name == stem
            || name.strip_prefix(stem).is_some_and(|rest| {
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
            })
    };
    versioned("python")
        || versioned("pythonw")
        || (versioned("pip") && package != "pip")
        || name.starts_with("activate")
        || name == "deactivate"
        || ["sh", "bash", "dash", "zsh", "env"].contains(&name)
}

/// A plain file name for `bin/`: letters, digits, `.`, `_`, `+`, `-`, not starting with `.` or
/// `-`.
fn plain_script_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}

fn script_refusal(name: &str, package: &str) -> Option<String> {
    if !plain_script_name(name) {
        return Some(format!(
            "a script must have a plain file name; `{name}` could be written outside `bin/`"
        ));
    }
    if reserved_script(name, package) {
        return Some(format!(
            "a script named `{name}` would replace or shadow the environment's own `{name}`"
        ));
    }
    None
}

/// Where a wheel entry is installed, by the scheme of its `.data` directory (`data`), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// In `site-packages` (the wheel's root, `purelib` or `platlib`), at this path.
    Site(&'a str),
    /// In the environment's `bin/`.
    Scripts(&'a str),
    /// In the environment's headers directory.
    Headers(&'a str),
    /// Relative to the environment's root.
    Data(&'a str),
    /// A `.data` scheme that does not exist, named.
    Unknown(&'a str),
}

/// Where `entry` of a wheel whose `.data` directory is `data` is installed.
pub(crate) fn place<'a>(entry: &'a str, data: &str) -> Place<'a> {
    let Some(rest) = entry
        .strip_prefix(data)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return Place::Site(entry);
    };
    let (scheme, path) = rest.split_once('/').unwrap_or((rest, ""));
    match scheme {
        "purelib" | "platlib" => Place::Site(path),
        "scripts" => Place::Scripts(path),
        "headers" => Place::Headers(path),
        "data" => Place::Data(path),
        _ => Place::Unknown(scheme),
    }
}

/// Checks the files of the wheel of `name` (normalized) whose `.dist-info` and `.data`
/// directories are `dist_info` and `data` against `policy`. `entry_points` is its
/// `entry_points.txt`, if it has one.
pub fn check<'a>(
    name: &str,
    dist_info: &str,
    data: &str,
    files: impl IntoIterator<Item = &'a str>,
    entry_points: Option<&str>,
    policy: &InstallPolicy,
) -> Result<(), Refusal> {
    let refuse = |entry: &str, why: String| {
        Err(Refusal {
            entry: entry.to_owned(),
            why,
        })
    };
    for entry in files {
        let installed = match place(entry, data) {
            Place::Site(path) => path,
            Place::Headers(_) => continue,
            Place::Scripts(path) => {
                if let Some(why) = script_refusal(path, name) {
                    return refuse(entry, why);
                }
                continue;
            }
            Place::Data(path) => {
                let first = path.split('/').next().unwrap_or_default();
                if ["bin", "lib", "lib64", "include", "pyvenv.cfg"].contains(&first) {
                    return refuse(
                        entry,
                        format!(
                            "it would be installed as `{path}` of the environment, over its \
                             interpreter, libraries or configuration"
                        ),
                    );
                }
                continue;
            }
            Place::Unknown(scheme) => {
                return refuse(entry, format!("`{scheme}` is not an install scheme"));
            }
        };
        let first = installed.split('/').next().unwrap_or_default();
        if (first.ends_with(".dist-info") && first != dist_info) || first.ends_with(".data") {
            return refuse(entry, format!("`{first}` belongs to another distribution"));
        }
        let startup = !installed.contains('/')
            && (installed.ends_with(".pth")
                || installed == "sitecustomize.py"
                || installed == "usercustomize.py");
        let known = KNOWN_STARTUP_FILES.contains(&(name, installed));
        if startup && !known && !policy.allow_pth.contains(name) {
            return refuse(
                entry,
                format!(
                    "Python runs `{installed}` at every interpreter start; if you trust `{name}` \
                     to do that, allow it with `--allow-pth {name}`"
                ),
            );
        }
    }
    if let Some(text) = entry_points {
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') && line.ends_with(']') {
                section = line[1..line.len() - 1].trim().to_owned();
                continue;
            }
            if section != "console_scripts" && section != "gui_scripts" {
                continue;
            }
            let Some((script, _)) = line.split_once('=') else {
                continue;
            };
            let script = script.trim();
            if let Some(why) = script_refusal(script, name) {
                return refuse(&format!("{dist_info}/entry_points.txt ({script})"), why);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(name: &str, files: &[&str], entry_points: Option<&str>) -> Result<(), Refusal> {
        let dist_info = format!("{name}-1.0.dist-info");
        let data = format!("{name}-1.0.data");
        check(
            name,
            &dist_info,
            &data,
            files.iter().copied(),
            entry_points,
            &InstallPolicy::default(),
        )
    }

    #[test]
    fn ordinary_wheels_pass() {
        let files = [
            "greet/__init__.py",
            "greet/_speed.cpython-313-x86_64-linux-gnu.so",
            "greet-1.0.dist-info/METADATA",
            "greet-1.0.data/scripts/greet-tool",
            "greet-1.0.data/headers/greet.h",
            "greet-1.0.data/data/share/man/man1/greet.1",
            "greet-1.0.data/purelib/greet_extra.py",
        ];
        let entry_points = "[console_scripts]\ngreet = greet:main\n[pytest11]\nx = y\n";
        assert_eq!(checked("greet", &files, Some(entry_points)), Ok(()));
        assert_eq!(
            checked("setuptools", &["distutils-precedence.pth"], None),
            Ok(())
        );
    }

    /// Each of the review's ways for a wheel to run code at start-up or replace the
    /// environment's executables, refused by name.
    #[test]
    fn what_runs_at_start_up_or_replaces_the_environment_is_refused() {
        let refused = [
            ("evil.pth", "every interpreter start"),
            ("sitecustomize.py", "every interpreter start"),
            ("greet-1.0.data/purelib/evil.pth", "every interpreter start"),
            (
                "greet-1.0.data/scripts/python3",
                "shadow the environment's own `python3`",
            ),
            ("greet-1.0.data/scripts/sh", "shadow"),
            ("greet-1.0.data/scripts/../x", "plain file name"),
            ("greet-1.0.data/data/bin/python3", "over its interpreter"),
            ("greet-1.0.data/data/pyvenv.cfg", "over its interpreter"),
            ("greet-1.0.data/elsewhere/x", "not an install scheme"),
            ("other-2.0.dist-info/RECORD", "another distribution"),
        ];
        for (entry, why) in refused {
            let refusal = checked("greet", &["greet/__init__.py", entry], None).unwrap_err();
            assert_eq!(refusal.entry, entry);
            assert!(refusal.why.contains(why), "{entry}: {}", refusal.why);
        }
        for script in ["python", "pip3.13", "activate", "../../etc/x", "a/b"] {
            let text = format!("[console_scripts]\n{script} = greet:main\n");
            let refusal = checked("greet", &["greet/__init__.py"], Some(&text)).unwrap_err();
            assert!(
                refusal.entry.ends_with(&format!("({script})")),
                "{refusal:?}"
            );
        }
        // pip installs its own pip scripts; nobody else does.
        let pip = "[console_scripts]\npip = pip._internal.cli.main:main\npip3.13 = x:y\n";
        assert_eq!(checked("pip", &["pip/__init__.py"], Some(pip)), Ok(()));
        // setuptools' own file is known; another package's file of that name is not.
        assert!(checked("greet", &["distutils-precedence.pth"], None).is_err());
    }

    #[test]
    fn the_user_can_allow_a_package_its_pth() {
        let policy = InstallPolicy::allowing_pth(["Greet"]);
        let check = |policy: &InstallPolicy| {
            check(
                "greet",
                "greet-1.0.dist-info",
                "greet-1.0.data",
                ["greet.pth"],
                None,
                policy,
            )
        };
        assert_eq!(check(&policy), Ok(()));
        assert!(check(&InstallPolicy::allowing_pth(["other"])).is_err());
    }
}
