//! How two locks differ in the packages they pin: what `resolve --locked` reports when a
//! committed lock is not what a resolve gives.

use std::collections::BTreeMap;
use std::fmt;

use crate::Lock;

/// One package that two locks pin differently.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PackageChange {
    /// Only the newer lock has it.
    Added { name: String, version: String },
    /// Only the older lock has it.
    Removed { name: String, version: String },
    /// Both have it, at other versions.
    Changed {
        name: String,
        from: String,
        to: String,
    },
    /// The same version in both, but other facts differ (its sdist, its build environment,
    /// its dependencies, `requires-python`, whether it is build-only, its build settings, keys
    /// we carry through).
    Details { name: String, version: String },
}

impl fmt::Display for PackageChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageChange::Added { name, version } => write!(f, "+ {name} {version}"),
            PackageChange::Removed { name, version } => write!(f, "- {name} {version}"),
            PackageChange::Changed { name, from, to } => write!(f, "~ {name} {from} -> {to}"),
            PackageChange::Details { name, version } => {
                write!(f, "~ {name} {version} (same version, other details)")
            }
        }
    }
}

impl Lock {
    /// The packages that `newer` pins differently from `self`, by name. Locks that differ only
    /// outside their packages (`[tool.offline-build]`, say) give an empty list.
    pub fn package_changes(&self, newer: &Lock) -> Vec<PackageChange> {
        // A name may carry several entries (PEP 751 allows it); compare them as one.
        let versions = |packages: &[&crate::Package]| {
            let mut versions: Vec<&str> = packages.iter().map(|p| p.version.as_str()).collect();
            versions.sort_unstable();
            versions.join(", ")
        };
        let (old, new) = (by_name(self), by_name(newer));
        let mut changes = Vec::new();
        for (name, old_packages) in &old {
            let from = versions(old_packages);
            match new.get(name) {
                None => changes.push(PackageChange::Removed {
                    name: name.to_string(),
                    version: from,
                }),
                Some(new_packages) => {
                    let to = versions(new_packages);
                    if from != to {
                        changes.push(PackageChange::Changed {
                            name: name.to_string(),
                            from,
                            to,
                        });
                    } else if normalized(old_packages) != normalized(new_packages) {
                        changes.push(PackageChange::Details {
                            name: name.to_string(),
                            version: from,
                        });
                    }
                }
            }
        }
        for (name, new_packages) in &new {
            if !old.contains_key(name) {
                changes.push(PackageChange::Added {
                    name: name.to_string(),
                    version: versions(new_packages),
                });
            }
        }
        changes.sort_by(|a, b| change_name(a).cmp(change_name(b)));
        changes
    }
}

/// The entries with their lists in the order the lock file writes them, so that only what a
/// written lock would show counts as a difference.
fn normalized(packages: &[&crate::Package]) -> Vec<crate::Package> {
    let mut packages: Vec<crate::Package> = packages
        .iter()
        .map(|package| {
            let mut package = (*package).clone();
            package.dependencies.sort_unstable();
            package.build_requires.sort_unstable();
            package.settings.extra_build_requires.sort_unstable();
            package
        })
        .collect();
    packages.sort_by(|a, b| (&a.version, &a.sdist.filename).cmp(&(&b.version, &b.sdist.filename)));
    packages
}

fn by_name(lock: &Lock) -> BTreeMap<&str, Vec<&crate::Package>> {
    let mut packages: BTreeMap<&str, Vec<&crate::Package>> = BTreeMap::new();
    for package in &lock.packages {
        packages.entry(&package.name).or_default().push(package);
    }
    packages
}

fn change_name(change: &PackageChange) -> &str {
    match change {
        PackageChange::Added { name, .. }
        | PackageChange::Removed { name, .. }
        | PackageChange::Changed { name, .. }
        | PackageChange::Details { name, .. } => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Package, Pin};

    fn package(name: &str, version: &str, dependencies: &[&str]) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            dependencies: dependencies
                .iter()
                .map(|d| crate::Dependency::named(*d))
                .collect(),
            ..Package::default()
        }
    }

    fn lock(packages: Vec<Package>) -> Lock {
        Lock {
            packages,
            ..Lock::default()
        }
    }

    #[test]
    fn added_removed_changed_and_changed_in_detail_are_told_apart() {
        let mut pinned = package("pinned", "1.0", &[]);
        let old = lock(vec![
            package("gone", "1.0", &[]),
            package("moved", "1.0", &[]),
            pinned.clone(),
            package("same", "1.0", &["b", "a"]),
        ]);
        pinned.build_requires = vec![Pin {
            name: "setuptools".into(),
            version: "80.0".into(),
        }];
        let new = lock(vec![
            package("same", "1.0", &["a", "b"]),
            pinned,
            package("new", "2.0", &[]),
            package("moved", "1.1", &[]),
        ]);
        let changes: Vec<String> = old
            .package_changes(&new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [
                "- gone 1.0",
                "~ moved 1.0 -> 1.1",
                "+ new 2.0",
                "~ pinned 1.0 (same version, other details)",
            ]
        );
        assert!(new.package_changes(&new).is_empty());
    }
}
