//! The build graph: which packages must be built before which, from each package's
//! `build-requires` in the lock alone. Owns cycle detection, the ready set, and the priority
//! that starts the longest chains first.

use std::collections::{BTreeMap, BTreeSet};

use ob_lock::Lock;

use crate::error::BuildError;

/// Packages by index into `Lock::packages`, with their build-requirement edges.
#[derive(Debug, Clone)]
pub struct BuildGraph {
    /// `requires[i]`: indices of the packages whose wheels package `i` needs to build.
    requires: Vec<Vec<usize>>,
    /// `dependants[i]`: indices of the packages that need package `i` to build.
    dependants: Vec<Vec<usize>>,
    /// Length of the longest chain of dependants after each package: start those first.
    priority: Vec<usize>,
}

impl BuildGraph {
    /// Builds the graph, failing on a build requirement that the lock does not pin (at that
    /// version) and on cycles, which are printed and never broken silently.
    pub fn from_lock(lock: &Lock) -> Result<BuildGraph, BuildError> {
        let index: BTreeMap<&str, usize> = lock
            .packages
            .iter()
            .enumerate()
            .map(|(i, package)| (package.name.as_str(), i))
            .collect();
        let mut requires = vec![Vec::new(); lock.packages.len()];
        let mut dependants = vec![Vec::new(); lock.packages.len()];
        for (i, package) in lock.packages.iter().enumerate() {
            for pin in &package.build_requires {
                let found = index
                    .get(ob_lock::normalize_name(&pin.name).as_str())
                    .copied()
                    .filter(|&j| lock.packages[j].version == pin.version);
                let Some(j) = found else {
                    return Err(BuildError::UnknownBuildRequirement {
                        package: package.name.clone(),
                        requirement: pin.to_string(),
                    });
                };
                if !requires[i].contains(&j) {
                    requires[i].push(j);
                    dependants[j].push(i);
                }
            }
        }
        let names: Vec<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
        let order = topological_order(&requires, &names)?;
        // Walk from the last in order back, so every dependant's priority is known first.
        let mut priority = vec![0; lock.packages.len()];
        for &i in order.iter().rev() {
            priority[i] = dependants[i]
                .iter()
                .map(|&d| priority[d] + 1)
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

    /// The packages package `i` needs built first.
    pub fn requires(&self, i: usize) -> &[usize] {
        &self.requires[i]
    }

    /// Every package that needs `i`, directly or through others, to build.
    pub fn transitive_dependants(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = self.dependants[i].clone();
        while let Some(next) = stack.pop() {
            if seen.insert(next) {
                stack.extend(&self.dependants[next]);
            }
        }
        seen
    }

    /// Longest chain of dependants after `i`; higher starts first.
    pub fn priority(&self, i: usize) -> usize {
        self.priority[i]
    }
}

/// Kahn's algorithm; on a cycle, finds one and names its packages.
fn topological_order(requires: &[Vec<usize>], names: &[&str]) -> Result<Vec<usize>, BuildError> {
    let mut remaining: Vec<usize> = requires.iter().map(Vec::len).collect();
    let mut dependants = vec![Vec::new(); requires.len()];
    for (i, needs) in requires.iter().enumerate() {
        for &j in needs {
            dependants[j].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..requires.len()).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(requires.len());
    while let Some(i) = ready.pop() {
        order.push(i);
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
    while let Some(&next) = requires[current].iter().find(|&&j| remaining[j] > 0) {
        if let Some(position) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[position..]
                .iter()
                .map(|&p| names[p].to_owned())
                .collect();
            cycle.push(names[next].to_owned());
            return Err(BuildError::Cycle { cycle });
        }
        path.push(next);
        current = next;
    }
    Err(BuildError::Cycle {
        cycle: path.iter().map(|&p| names[p].to_owned()).collect(),
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
        assert_eq!(graph.priority(2), 2);
        assert_eq!(graph.priority(1), 1);
        assert_eq!(graph.priority(3), 0);
        assert_eq!(graph.transitive_dependants(2), BTreeSet::from([0, 1]));
        assert_eq!(graph.requires(0), &[1, 2]);
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
            message.contains("flit-core -> tomli -> flit-core")
                || message.contains("tomli -> flit-core -> tomli"),
            "{message}"
        );
    }

    #[test]
    fn an_unlocked_build_requirement_is_refused() {
        let err =
            BuildGraph::from_lock(&lock(vec![package("greet", &["minibackend"])])).unwrap_err();
        assert!(
            err.to_string().contains("`greet` needs `minibackend==1.0`"),
            "{err}"
        );
    }
}
