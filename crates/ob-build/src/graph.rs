//! The build graph: which packages must be built before which, from each package's
//! `build-requires` in the lock alone. Owns cycle detection, the ready set, and the priority
//! that starts the longest chains first.

use std::collections::{BTreeMap, BTreeSet};

use ob_lock::Lock;

use crate::error::BuildError;

/// A package of the lock being built: its index in `Lock::packages`. A name alone is not enough
/// once build environments lock one name at several versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId(usize);

impl PackageId {
    /// The package at `index` in `Lock::packages`.
    pub(crate) fn at(index: usize) -> PackageId {
        PackageId(index)
    }

    /// Its position in `Lock::packages`.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The lock's packages with their build-requirement edges, by `(name, version)`.
#[derive(Debug, Clone)]
pub struct BuildGraph {
    /// `requires[i]`: the packages whose wheels package `i` needs to build.
    requires: Vec<Vec<PackageId>>,
    /// `dependants[i]`: the packages that need package `i` to build.
    dependants: Vec<Vec<PackageId>>,
    /// Length of the longest chain of dependants after each package: start those first.
    priority: Vec<usize>,
}

impl BuildGraph {
    /// Builds the graph, failing on a build requirement that the lock does not pin (at that
    /// version) and on cycles, which are printed and never broken silently.
    pub fn from_lock(lock: &Lock) -> Result<BuildGraph, BuildError> {
        let index: BTreeMap<(&str, &str), PackageId> = lock
            .packages
            .iter()
            .enumerate()
            .map(|(i, package)| {
                (
                    (package.name.as_str(), package.version.as_str()),
                    PackageId(i),
                )
            })
            .collect();
        let mut requires = vec![Vec::new(); lock.packages.len()];
        let mut dependants = vec![Vec::new(); lock.packages.len()];
        for (i, package) in lock.packages.iter().enumerate() {
            for pin in &package.build_requires {
                let name = ob_lock::normalize_name(&pin.name);
                let Some(&j) = index.get(&(name.as_str(), pin.version.as_str())) else {
                    return Err(BuildError::UnknownBuildRequirement {
                        package: package.pin().to_string(),
                        requirement: pin.to_string(),
                    });
                };
                if !requires[i].contains(&j) {
                    requires[i].push(j);
                    dependants[j.0].push(PackageId(i));
                }
            }
        }
        let labels: Vec<String> = lock.packages.iter().map(|p| p.pin().to_string()).collect();
        let order = topological_order(&requires, &labels)?;
        // Walk from the last in order back, so every dependant's priority is known first.
        let mut priority = vec![0; lock.packages.len()];
        for &i in order.iter().rev() {
            priority[i.0] = dependants[i.0]
                .iter()
                .map(|d| priority[d.0] + 1)
                .max()
                .unwrap_or(0);
        }
        Ok(BuildGraph {
            requires,
            dependants,
            priority,
        })
    }

    /// Number of packages.
    pub fn len(&self) -> usize {
        self.requires.len()
    }

    /// True for an empty lock.
    pub fn is_empty(&self) -> bool {
        self.requires.is_empty()
    }

    /// Every package, in lock order.
    pub fn ids(&self) -> impl Iterator<Item = PackageId> + use<> {
        (0..self.requires.len()).map(PackageId)
    }

    /// The packages `id` needs built first.
    pub fn requires(&self, id: PackageId) -> &[PackageId] {
        &self.requires[id.0]
    }

    /// Every package that needs `id`, directly or through others, to build.
    pub fn transitive_dependants(&self, id: PackageId) -> BTreeSet<PackageId> {
        let mut seen = BTreeSet::new();
        let mut stack = self.dependants[id.0].clone();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(&self.dependants[next.0]);
            }
        }
        seen
    }

    /// Longest chain of dependants after `id`; higher starts first.
    pub fn priority(&self, id: PackageId) -> usize {
        self.priority[id.0]
    }
}

/// Kahn's algorithm; on a cycle, finds one and names its packages.
fn topological_order(
    requires: &[Vec<PackageId>],
    labels: &[String],
) -> Result<Vec<PackageId>, BuildError> {
    let mut remaining: Vec<usize> = requires.iter().map(Vec::len).collect();
    let mut dependants = vec![Vec::new(); requires.len()];
    for (i, needs) in requires.iter().enumerate() {
        for j in needs {
            dependants[j.0].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..requires.len()).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(requires.len());
    while let Some(i) = ready.pop() {
        order.push(PackageId(i));
        for &d in &dependants[i] {
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(d);
            }
        }
    }
    if order.len() == requires.len() {
        return Ok(order);
    }
    // Every package left waits on another one left: follow requirements until one repeats.
    let Some(start) = (0..requires.len()).find(|&i| remaining[i] > 0) else {
        return Ok(order);
    };
    let mut path = vec![start];
    let mut current = start;
    while let Some(next) = requires[current]
        .iter()
        .map(|j| j.0)
        .find(|&j| remaining[j] > 0)
    {
        if let Some(position) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[position..]
                .iter()
                .map(|&p| labels[p].clone())
                .collect();
            cycle.push(labels[next].clone());
            return Err(BuildError::Cycle { cycle });
        }
        path.push(next);
        current = next;
    }
    Err(BuildError::Cycle {
        cycle: path.iter().map(|&p| labels[p].clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ob_lock::{Package, Pin};

    fn package(name: &str, build_requires: &[&str]) -> Package {
        Package {
            name: name.to_owned(),
            version: "1.0".to_owned(),
            build_requires: build_requires
                .iter()
                .map(|r| Pin {
                    name: (*r).to_owned(),
                    version: "1.0".to_owned(),
                })
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
    fn chains_start_first_and_failures_reach_all_dependants() {
        let graph = BuildGraph::from_lock(&lock(vec![
            package("app", &["greet", "minibackend"]),
            package("greet", &["minibackend"]),
            package("minibackend", &[]),
            package("other", &[]),
        ]))
        .unwrap();
        let id = PackageId;
        assert_eq!(graph.priority(id(2)), 2);
        assert_eq!(graph.priority(id(1)), 1);
        assert_eq!(graph.priority(id(3)), 0);
        assert_eq!(
            graph.transitive_dependants(id(2)),
            BTreeSet::from([id(0), id(1)])
        );
        assert_eq!(graph.requires(id(0)), &[id(1), id(2)]);
    }

    #[test]
    fn a_cycle_is_named() {
        let err = BuildGraph::from_lock(&lock(vec![
            package("flit-core", &["tomli"]),
            package("tomli", &["flit-core"]),
        ]))
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("flit-core==1.0 -> tomli==1.0 -> flit-core==1.0")
                || message.contains("tomli==1.0 -> flit-core==1.0 -> tomli==1.0"),
            "{message}"
        );
    }

    #[test]
    fn an_unlocked_build_requirement_is_refused() {
        let err =
            BuildGraph::from_lock(&lock(vec![package("greet", &["minibackend"])])).unwrap_err();
        assert!(
            err.to_string()
                .contains("`greet==1.0` needs `minibackend==1.0`"),
            "{err}"
        );
    }
}
