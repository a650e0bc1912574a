//! The resolve engine: what to do next, and what the answers mean. It is pure state (no I/O):
//! [`Engine::plan`] says which resolutions, sdist reads and build steps to start, the driver
//! loop in resolve.rs runs them, and [`Engine::apply`] takes in what came back.
//!
//! The model. A node is one `(name, version)`. The top-level resolution pins the runtime set.
//! Every node's build environment is resolved on its own, as pip and uv do: first from its
//! static `[build-system].requires`; its hooks then run there and name their dynamic
//! requirements; when those change the environment, it is resolved again from static plus
//! dynamic, and the package is built in that. So one name may be locked at several versions.
//! A build step can only run once every package of its environment has its wheel, built in
//! that package's own final environment. A build's METADATA that differs from what pip was told
//! replaces it, and every resolution that used it is done again.
//!
//! With `keep_going`, a package's own failure (its sdist, a resolution of its build
//! environment, its hooks, its build, a cycle) is recorded instead of returned: the package is
//! failed, every package that waits for its wheel (directly or through others) is blocked, and
//! the rest goes on; [`Engine::failure`] gives the record at the end. Errors that are nobody's
//! package's (internal ones, the session's) are returned either way.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use ob_build::driver::Mode;
use ob_build::{
    BuildFailure, EnvWheel, ProducedWheel, SdistInput, StepOutcome, StepResult, UsedWheel,
};
use ob_index::ServedFile;
use ob_lock::{Dependency, Pin};

use crate::ResolveError;
use crate::book::MetadataBook;
use crate::error::{BlockedPackage, FailurePhase, PackageFailure};
use crate::sdist::SdistFacts;
use crate::session::{Answer, Resolution, SessionError};
use crate::settings::BuildConfig;

/// Corrections of metadata after which a resolve that still changes is going round in circles.
const MAX_CORRECTIONS: u64 = 1000;

/// What one resolution is asked: requirements (sorted, unique) and constraints.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvKey {
    /// PEP 508 strings.
    pub requirements: Vec<String>,
    /// Constraint strings (the top-level resolution's only: build environments are resolved
    /// from their own requirements, as pip resolves them).
    pub constraints: Vec<String>,
}

impl EnvKey {
    fn build_environment<'a>(parts: impl IntoIterator<Item = &'a String>) -> EnvKey {
        let mut requirements: Vec<String> = parts.into_iter().cloned().collect();
        requirements.sort();
        requirements.dedup();
        EnvKey {
            requirements,
            constraints: Vec::new(),
        }
    }
}

/// Something the driver loop is to start.
#[derive(Debug)]
pub enum Action {
    /// Resolve these requirements in the session.
    Resolve {
        /// What.
        key: EnvKey,
        /// The metadata epoch it starts at.
        epoch: u64,
    },
    /// Fetch (verified) and read this node's sdist.
    Inspect {
        /// The node.
        node: Pin,
        /// Its sdist's file name.
        filename: String,
    },
    /// Fetch (verified) and check this node's wheel: a release `allow-binary` names, taken as
    /// its upstream wheel and never built.
    Admit {
        /// The node.
        node: Pin,
        /// Its wheel's file name.
        filename: String,
    },
    /// Run a step of this node in this environment.
    Step {
        /// The node.
        node: Pin,
        /// Its environment's key.
        env: EnvKey,
        /// Requirements, metadata or a wheel.
        mode: Mode,
        /// Its verified sdist (boxed: it carries the package's settings, and the other
        /// actions are small).
        sdist: Box<SdistInput>,
        /// The environment's wheels.
        environment: Vec<EnvWheel>,
    },
}

/// What came back.
#[derive(Debug)]
pub enum Event {
    /// A resolution's answer.
    Resolved {
        /// What was asked.
        key: EnvKey,
        /// The epoch it started at.
        epoch: u64,
        /// The answer.
        answer: Answer,
    },
    /// A node's sdist, verified, and what it says.
    Inspected {
        /// The node.
        node: Pin,
        /// Where the sdist is, and what the proxy recorded, or why it could not be read.
        result: Result<(PathBuf, ServedFile, Arc<SdistFacts>), String>,
    },
    /// A node's wheel, verified and checked like a built one, or why it was not admitted.
    Admitted {
        /// The node.
        node: Pin,
        /// What the proxy recorded, and the wheel.
        result: Result<(ServedFile, Box<ProducedWheel>), String>,
    },
    /// A step's outcome.
    Stepped {
        /// The node.
        node: Pin,
        /// Its environment.
        env: EnvKey,
        /// What it was asked to do.
        mode: Mode,
        /// The outcome and the step's log.
        outcome: Box<StepOutcome>,
        /// The log on the host.
        log: PathBuf,
    },
}

/// Where the engine stands after [`Engine::plan`].
#[derive(Debug)]
pub struct Plan {
    /// What to start now.
    pub actions: Vec<Action>,
    /// Every node is complete: [`Engine::finish`] gives the result.
    pub done: bool,
}

/// One locked package of the result.
#[derive(Debug, Clone)]
pub struct Locked {
    /// Name and version.
    pub pin: Pin,
    /// The sdist as the proxy served and checked it (for a prebuilt package, its wheel).
    pub sdist: ServedFile,
    /// Taken as the upstream wheel `sdist` names (`allow-binary`), not built: it has no build
    /// environment.
    pub prebuilt: bool,
    /// `Requires-Python` of its file.
    pub requires_python: Option<String>,
    /// In the top-level resolution.
    pub runtime: bool,
    /// Its dependencies, with the versions they were resolved at.
    pub dependencies: Vec<(String, BTreeSet<String>)>,
    /// Its final build environment.
    pub build_requires: Vec<Pin>,
}

enum ResState {
    Requested,
    Done {
        epoch: u64,
        resolution: Arc<Resolution>,
    },
    /// With `keep_going`: it failed, and is not asked again; every package whose build
    /// environment it is fails with it.
    Failed(SessionError),
}

#[derive(Debug, Clone)]
enum Outcome {
    /// Requirements or metadata, reported.
    Done,
    /// Its hooks asked for what the environment lacked.
    Missing(Vec<String>),
    /// A wheel.
    Wheel(Box<ProducedWheel>),
}

#[derive(Debug, Clone)]
struct Record {
    mode: Mode,
    reported: Option<Vec<String>>,
    outcome: Outcome,
}

impl Record {
    fn satisfies(&self, goal: Mode) -> bool {
        match (&self.outcome, goal) {
            (Outcome::Missing(_), _) => false,
            (Outcome::Wheel(_), _) => true,
            (Outcome::Done, goal) => self.mode >= goal && goal != Mode::Build,
        }
    }
}

struct Node {
    filename: String,
    requires_python: Option<String>,
    inspecting: bool,
    sdist: Option<(PathBuf, ServedFile, Arc<SdistFacts>)>,
    /// A release taken as its upstream wheel (`allow-binary`), once admitted: its sdist,
    /// records and steps stay empty.
    prebuilt: Option<(ServedFile, Box<ProducedWheel>)>,
    records: HashMap<EnvKey, Record>,
    stepping: bool,
}

impl Node {
    /// The resolution pinned it to a wheel: only the proxy's pages for `allow-binary` releases
    /// list one.
    fn is_wheel(&self) -> bool {
        self.filename.ends_with(".whl")
    }
}

/// How a node stands.
enum Status {
    Complete,
    Waiting,
    /// With `keep_going`: it failed (see [`Engine::failure`]).
    Failed,
}

/// The engine of one resolve.
pub struct Engine {
    verify: bool,
    top: EnvKey,
    book: Arc<MetadataBook>,
    nodes: BTreeMap<Pin, Node>,
    resolutions: HashMap<EnvKey, ResState>,
    epoch: u64,
    /// By sdist file name: the epoch of its last correction.
    changed: HashMap<String, u64>,
    /// Nodes waiting for wheels, with what they wait on (for naming a cycle).
    waits: BTreeMap<Pin, Vec<Pin>>,
    reachable: BTreeSet<Pin>,
    /// The user's per-package build settings.
    config: Arc<BuildConfig>,
    /// Record a package's failure and go on, instead of returning it.
    keep_going: bool,
    /// With `keep_going`: every failure so far, in the order they came.
    failures: Vec<PackageFailure>,
    /// The nodes of `failures`.
    failed: BTreeSet<Pin>,
    /// Waiting nodes that can never go on, with the failed nodes behind them (names): as of
    /// the last plan.
    blocked: BTreeMap<Pin, BTreeSet<String>>,
    /// Complete nodes, as of the last plan.
    complete: BTreeSet<Pin>,
}

fn pin(name: &str, version: &str) -> Pin {
    Pin {
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

fn pins_of(resolution: &Resolution) -> BTreeSet<Pin> {
    resolution
        .pins
        .iter()
        .map(|p| pin(&p.name, &p.version))
        .collect()
}

impl Engine {
    /// An engine for `requirements` under `constraints`; `verify` builds every package.
    pub fn new(
        requirements: &[String],
        constraints: &[String],
        verify: bool,
        book: Arc<MetadataBook>,
    ) -> Engine {
        Engine {
            verify,
            top: EnvKey {
                requirements: requirements.to_vec(),
                constraints: constraints.to_vec(),
            },
            book,
            nodes: BTreeMap::new(),
            resolutions: HashMap::new(),
            epoch: 0,
            changed: HashMap::new(),
            waits: BTreeMap::new(),
            reachable: BTreeSet::new(),
            config: Arc::default(),
            keep_going: false,
            failures: Vec::new(),
            failed: BTreeSet::new(),
            blocked: BTreeMap::new(),
            complete: BTreeSet::new(),
        }
    }

    /// Goes on after a package fails, with everything that does not need it; the failures
    /// are [`Engine::failure`] at the end.
    pub fn keep_going(mut self, keep_going: bool) -> Engine {
        self.keep_going = keep_going;
        self
    }

    /// Failures recorded so far (with `keep_going`).
    pub fn failures(&self) -> usize {
        self.failures.len()
    }

    /// With `keep_going`, once [`Plan::done`]: every failure, what they blocked and what
    /// resolved, or `None` when nothing failed. Takes the failures out.
    pub fn failure(&mut self) -> Option<ResolveError> {
        if self.failures.is_empty() {
            return None;
        }
        let mut failures = std::mem::take(&mut self.failures);
        failures.sort_by(|a, b| {
            (&a.package, &a.version, a.phase).cmp(&(&b.package, &b.version, b.phase))
        });
        let blocked = self
            .blocked
            .iter()
            .map(|(node, because)| BlockedPackage::new(node, because.iter().cloned().collect()))
            .collect();
        Some(ResolveError::Several {
            failures,
            blocked,
            resolved: self.complete.iter().cloned().collect(),
        })
    }

    /// Fails `node` with `error`: returned without `keep_going`, recorded (once per node)
    /// with it.
    fn fail(
        &mut self,
        node: &Pin,
        phase: FailurePhase,
        error: ResolveError,
    ) -> Result<(), ResolveError> {
        if !self.keep_going {
            return Err(error);
        }
        let failure =
            PackageFailure::new(node.name.clone(), Some(node.version.clone()), phase, error);
        self.record(node, failure);
        Ok(())
    }

    /// Records the failure of `node`, the first one only.
    fn record(&mut self, node: &Pin, failure: PackageFailure) {
        if self.failed.insert(node.clone()) {
            self.failures.push(failure);
        }
    }

    /// Fails `node` because the resolution of its build environment `key` failed (only with
    /// `keep_going`: without it the resolution's answer was the error).
    fn fail_resolution(&mut self, node: &Pin, key: &EnvKey, error: SessionError) {
        let log = PathBuf::from(&error.log);
        let error = self.resolution_error(key, error, Some(node));
        let failure = PackageFailure::new(
            node.name.clone(),
            Some(node.version.clone()),
            FailurePhase::Resolution,
            error,
        )
        .or_log(log);
        self.record(node, failure);
    }

    /// Why the resolution of `key` failed, if it did (with `keep_going`).
    fn failed_resolution(&self, key: &EnvKey) -> Option<SessionError> {
        match self.resolutions.get(key)? {
            ResState::Failed(error) => Some(error.clone()),
            _ => None,
        }
    }

    /// Waiting nodes that lack a wheel of a failed node, or of a node that is itself blocked,
    /// with the failed nodes behind each: to a fixpoint over [`Engine::waits`].
    fn blocked_by_failures(&self) -> BTreeMap<Pin, BTreeSet<String>> {
        let mut blocked: BTreeMap<Pin, BTreeSet<String>> = BTreeMap::new();
        if self.failed.is_empty() {
            return blocked;
        }
        loop {
            let mut changed = false;
            for (node, lacking) in &self.waits {
                let mut because = BTreeSet::new();
                for member in lacking {
                    if self.failed.contains(member) {
                        because.insert(member.name.clone());
                    }
                    if let Some(theirs) = blocked.get(member) {
                        because.extend(theirs.iter().cloned());
                    }
                }
                // The causes only grow, so this ends.
                if !because.is_empty() && blocked.get(node) != Some(&because) {
                    blocked.insert(node.clone(), because);
                    changed = true;
                }
            }
            if !changed {
                return blocked;
            }
        }
    }

    /// Applies the user's per-package build settings: their `extra-build-requires` join a
    /// package's static build requirements, their variables, config settings and patches go
    /// to every step of it.
    pub fn with_config(mut self, config: Arc<BuildConfig>) -> Engine {
        self.config = config;
        self
    }

    /// Packages the current resolutions reach.
    pub fn reachable(&self) -> usize {
        self.reachable.len()
    }

    /// Packages that have their wheel in their final environment.
    pub fn built(&self) -> usize {
        self.reachable
            .iter()
            .filter(|node| self.final_wheel(node).is_some())
            .count()
    }

    /// The resolution of `key` if it is done and nothing it pinned was corrected since.
    fn fresh(&self, key: &EnvKey) -> Option<Arc<Resolution>> {
        match self.resolutions.get(key)? {
            ResState::Done { epoch, resolution } => {
                let stale = resolution.pins.iter().any(|pinned| {
                    self.changed
                        .get(&pinned.filename)
                        .is_some_and(|changed| changed > epoch)
                });
                (!stale).then(|| resolution.clone())
            }
            ResState::Requested | ResState::Failed(_) => None,
        }
    }

    /// [`Engine::fresh`], asking for it when it is neither fresh nor asked for.
    fn want(&mut self, key: &EnvKey, actions: &mut Vec<Action>) -> Option<Arc<Resolution>> {
        if let Some(resolution) = self.fresh(key) {
            return Some(resolution);
        }
        if !matches!(
            self.resolutions.get(key),
            Some(ResState::Requested | ResState::Failed(_))
        ) {
            self.resolutions.insert(key.clone(), ResState::Requested);
            actions.push(Action::Resolve {
                key: key.clone(),
                epoch: self.epoch,
            });
        }
        None
    }

    /// Adds the pins of `resolution` as nodes. A node already there takes the newest
    /// `Requires-Python`: the first resolutions were told what `PKG-INFO` claims, later ones what
    /// its verified build said.
    fn add_nodes(&mut self, resolution: &Resolution) {
        for pinned in &resolution.pins {
            self.nodes
                .entry(pin(&pinned.name, &pinned.version))
                .and_modify(|node| node.requires_python.clone_from(&pinned.requires_python))
                .or_insert_with(|| Node {
                    filename: pinned.filename.clone(),
                    requires_python: pinned.requires_python.clone(),
                    inspecting: false,
                    sdist: None,
                    prebuilt: None,
                    records: HashMap::new(),
                    stepping: false,
                });
        }
    }

    fn static_key(&self, node: &Pin) -> Option<EnvKey> {
        let facts = &self.nodes.get(node)?.sdist.as_ref()?.2;
        Some(EnvKey::build_environment(&facts.build_requires))
    }

    /// What its hooks named in its static environment, once a step ran there.
    fn reported(&self, node: &Pin, static_key: &EnvKey) -> Option<Vec<String>> {
        self.nodes
            .get(node)?
            .records
            .get(static_key)?
            .reported
            .clone()
    }

    /// The key of its final build environment, once it is known and fresh: the static one,
    /// unless its dynamic requirements make another.
    fn final_env(&self, node: &Pin) -> Option<(EnvKey, Arc<Resolution>)> {
        let static_key = self.static_key(node)?;
        let static_env = self.fresh(&static_key)?;
        let reported = self.reported(node, &static_key)?;
        if reported.is_empty() {
            return Some((static_key, static_env));
        }
        let facts = &self.nodes.get(node)?.sdist.as_ref()?.2;
        let full_key = EnvKey::build_environment(facts.build_requires.iter().chain(&reported));
        let full_env = self.fresh(&full_key)?;
        if pins_of(&full_env) == pins_of(&static_env) {
            Some((static_key, static_env))
        } else {
            Some((full_key, full_env))
        }
    }

    /// Its wheel, built in its final environment (or, for a prebuilt release, admitted).
    fn final_wheel(&self, node: &Pin) -> Option<&ProducedWheel> {
        if let Some((_, wheel)) = &self.nodes.get(node)?.prebuilt {
            return Some(&**wheel);
        }
        let (key, _) = self.final_env(node)?;
        match &self.nodes.get(node)?.records.get(&key)?.outcome {
            Outcome::Wheel(wheel) => Some(&**wheel),
            _ => None,
        }
    }

    fn goal(&self, node: &Pin, needed: &BTreeSet<Pin>) -> Mode {
        if self.verify || needed.contains(node) {
            return Mode::Build;
        }
        match self.nodes.get(node) {
            Some(state) if self.book.trusted(&state.filename) => Mode::Requires,
            _ => Mode::Metadata,
        }
    }

    /// What to start now, or that everything is done.
    pub fn plan(&mut self) -> Result<Plan, ResolveError> {
        let mut actions = Vec::new();
        if self.epoch > MAX_CORRECTIONS {
            return Err(ResolveError::Driver {
                message: format!(
                    "the resolution did not settle after {MAX_CORRECTIONS} corrections of metadata"
                ),
                log: None,
            });
        }
        let top_key = self.top.clone();
        let Some(top) = self.want(&top_key, &mut actions) else {
            // With `keep_going` a failed top-level resolution ends it: nothing else can go on.
            let failed = self.failed_resolution(&top_key).is_some();
            if failed {
                self.reachable.clear();
                self.blocked.clear();
                self.complete.clear();
            }
            return Ok(Plan {
                actions,
                done: failed,
            });
        };
        self.add_nodes(&top);

        // What the current resolutions reach, and which wheels build environments need: to a
        // fixpoint, since a package needed as a wheel must be built, which needs its own
        // environment.
        let mut reachable: BTreeSet<Pin> = pins_of(&top);
        let mut needed: BTreeSet<Pin> = BTreeSet::new();
        loop {
            let before = (reachable.len(), needed.len());
            for node in reachable.clone() {
                // A failed node needs nothing more; what it reached is reached through others
                // or not at all.
                if self.failed.contains(&node) {
                    continue;
                }
                let goal = self.goal(&node, &needed);
                let Some(static_key) = self.static_key(&node) else {
                    continue;
                };
                // Its hooks run in the static environment: those wheels are needed.
                let mut environments = vec![(static_key.clone(), true)];
                // The full one is locked in any case; its wheels are needed only where the
                // package's metadata or wheel is made in it.
                if let Some(reported) = self.reported(&node, &static_key)
                    && !reported.is_empty()
                    && let Some(facts) = self.nodes.get(&node).and_then(|n| n.sdist.as_ref())
                {
                    let facts = facts.2.clone();
                    environments.push((
                        EnvKey::build_environment(facts.build_requires.iter().chain(&reported)),
                        goal >= Mode::Metadata,
                    ));
                }
                for (key, wheels_needed) in environments {
                    if let Some(environment) = self.want(&key, &mut actions) {
                        self.add_nodes(&environment);
                        for member in pins_of(&environment) {
                            if wheels_needed {
                                needed.insert(member.clone());
                            }
                            reachable.insert(member);
                        }
                    }
                }
            }
            if (reachable.len(), needed.len()) == before {
                break;
            }
        }
        self.reachable = reachable.clone();

        self.waits.clear();
        let mut waiting = Vec::new();
        let mut complete_nodes = BTreeSet::new();
        for node in &reachable {
            let goal = self.goal(node, &needed);
            match self.advance(node, goal, &mut actions)? {
                Status::Complete => {
                    complete_nodes.insert(node.clone());
                }
                Status::Waiting => waiting.push(node.clone()),
                Status::Failed => {}
            }
        }
        self.complete = complete_nodes;
        self.blocked = self.blocked_by_failures();
        // Blocked nodes wait for ever: they do not hold the resolve up.
        let complete = waiting.iter().all(|node| self.blocked.contains_key(node));
        let done = complete && actions.is_empty();
        Ok(Plan { actions, done })
    }

    /// Moves one node on: its sdist, then a step in the environment it needs.
    fn advance(
        &mut self,
        node: &Pin,
        goal: Mode,
        actions: &mut Vec<Action>,
    ) -> Result<Status, ResolveError> {
        if self.failed.contains(node) {
            return Ok(Status::Failed);
        }
        let Some(state) = self.nodes.get_mut(node) else {
            return Ok(Status::Waiting);
        };
        if state.is_wheel() {
            if state.prebuilt.is_some() {
                return Ok(Status::Complete);
            }
            let filename = state.filename.clone();
            let start = !state.inspecting;
            state.inspecting = true;
            if !self.config.allows_binary(&node.name, &node.version) {
                // The proxy lists wheels only of the releases allow-binary names.
                let error = ResolveError::BuildFailed {
                    package: node.name.clone(),
                    via: self.why(node).into(),
                    message: format!(
                        "it was resolved to the wheel `{filename}`, and `allow-binary` does not \
                         name this release"
                    ),
                    tail: String::new(),
                    log: PathBuf::new(),
                };
                self.fail(node, FailurePhase::Sdist, error)?;
                return Ok(Status::Failed);
            }
            if start {
                actions.push(Action::Admit {
                    node: node.clone(),
                    filename,
                });
            }
            return Ok(Status::Waiting);
        }
        if state.sdist.is_none() {
            if !state.inspecting {
                state.inspecting = true;
                actions.push(Action::Inspect {
                    node: node.clone(),
                    filename: state.filename.clone(),
                });
            }
            return Ok(Status::Waiting);
        }
        let Some(static_key) = self.static_key(node) else {
            return Ok(Status::Waiting);
        };
        if let Some(error) = self.failed_resolution(&static_key) {
            self.fail_resolution(node, &static_key, error);
            return Ok(Status::Failed);
        }
        let Some(static_env) = self.fresh(&static_key) else {
            return Ok(Status::Waiting);
        };
        if pins_of(&static_env).contains(node) {
            let cycle = ResolveError::Cycle {
                cycle: vec![node.name.clone(), node.name.clone()],
            };
            self.fail(node, FailurePhase::Cycle, cycle)?;
            return Ok(Status::Failed);
        }
        // The environment to work in: the final one when known, else the static one, where
        // the first step learns what the hooks want.
        let (key, environment) = match self.reported(node, &static_key) {
            None => (static_key.clone(), static_env),
            Some(reported) => {
                let Some((key, environment)) = self.final_env(node) else {
                    if let Some((full_key, error)) = self.failed_full_env(node, &reported) {
                        self.fail_resolution(node, &full_key, error);
                        return Ok(Status::Failed);
                    }
                    // The full environment is being resolved.
                    return Ok(Status::Waiting);
                };
                // Knowing the environment is all a package needs whose PKG-INFO can be trusted
                // and whose wheel nothing needs.
                if goal == Mode::Requires {
                    return Ok(Status::Complete);
                }
                if let Some(error) = self.failed_step(node, &key, &static_key) {
                    self.fail(node, FailurePhase::Hooks, error)?;
                    return Ok(Status::Failed);
                }
                if self
                    .nodes
                    .get(node)
                    .and_then(|n| n.records.get(&key))
                    .is_some_and(|record| record.satisfies(goal))
                {
                    return Ok(Status::Complete);
                }
                (key, environment)
            }
        };
        let Some(state) = self.nodes.get(node) else {
            return Ok(Status::Waiting);
        };
        if state.stepping {
            return Ok(Status::Waiting);
        }
        let mut wheels = Vec::new();
        let mut lacking = Vec::new();
        for member in pins_of(&environment) {
            match self.final_wheel(&member) {
                Some(wheel) => wheels.push(EnvWheel {
                    wheel: UsedWheel {
                        name: member.name.clone(),
                        version: member.version.clone(),
                        wheel: wheel.filename.clone(),
                        sha256: wheel.sha256.clone(),
                    },
                    path: wheel.path.clone(),
                }),
                None => lacking.push(member),
            }
        }
        if !lacking.is_empty() {
            self.waits.insert(node.clone(), lacking);
            return Ok(Status::Waiting);
        }
        let Some(state) = self.nodes.get_mut(node) else {
            return Ok(Status::Waiting);
        };
        let Some((path, served, _)) = &state.sdist else {
            return Ok(Status::Waiting);
        };
        state.stepping = true;
        let settings = self.config.for_package(&node.name, &node.version);
        actions.push(Action::Step {
            node: node.clone(),
            env: key,
            mode: goal,
            sdist: Box::new(SdistInput {
                path: path.clone(),
                filename: served.filename.clone(),
                sha256: served.sha256.clone(),
                crates: self.book.crates(&served.filename),
                settings,
                patch_root: self.config.patch_root.clone(),
            }),
            environment: wheels,
        });
        Ok(Status::Waiting)
    }

    /// The resolution of the full build environment (static plus `reported`), when it failed.
    fn failed_full_env(&self, node: &Pin, reported: &[String]) -> Option<(EnvKey, SessionError)> {
        let facts = &self.nodes.get(node)?.sdist.as_ref()?.2;
        let key = EnvKey::build_environment(facts.build_requires.iter().chain(reported));
        let error = self.failed_resolution(&key)?;
        Some((key, error))
    }

    /// What is wrong with the step recorded in `key`, the final environment: hooks that name
    /// other requirements there than in the static one, or requirements it still lacks.
    fn failed_step(&self, node: &Pin, key: &EnvKey, static_key: &EnvKey) -> Option<ResolveError> {
        let record = self.nodes.get(node)?.records.get(key)?;
        if key != static_key
            && let Err(error) = self.check_consistent(node, key, record)
        {
            return Some(error);
        }
        match &record.outcome {
            Outcome::Missing(requirements) => Some(self.step_error(
                node,
                FailurePhase::Hooks,
                &BuildFailure::MissingBuildRequirements {
                    requirements: requirements.clone(),
                },
                String::new(),
                PathBuf::new(),
            )),
            _ => None,
        }
    }

    /// A step in the full environment must name the requirements that made it: hooks that
    /// name other ones in other environments cannot be locked.
    fn check_consistent(
        &self,
        node: &Pin,
        key: &EnvKey,
        record: &Record,
    ) -> Result<(), ResolveError> {
        let Some(reported) = &record.reported else {
            return Ok(());
        };
        let Some(facts) = self.nodes.get(node).and_then(|n| n.sdist.as_ref()) else {
            return Ok(());
        };
        let again = EnvKey::build_environment(facts.2.build_requires.iter().chain(reported));
        if &again == key {
            return Ok(());
        }
        Err(ResolveError::BuildFailed {
            package: node.name.clone(),
            via: self.why(node).into(),
            message: format!(
                "get_requires_for_build_wheel names other requirements in other build environments: {:?} here, {:?} before",
                reported, key.requirements
            ),
            tail: String::new(),
            log: PathBuf::new(),
        })
    }

    /// Only cycles are left when nothing runs and nothing can start: name one. Without
    /// `keep_going` that is the error; with it, every package of the cycle fails and the
    /// resolve goes on (so this returns `Ok`). A stall that is no cycle is an error either way.
    pub fn stuck(&mut self) -> Result<(), ResolveError> {
        // Blocked packages wait on failures, not on each other.
        let open = |node: &Pin| self.waits.contains_key(node) && !self.blocked.contains_key(node);
        let waits: BTreeMap<&Pin, Vec<&Pin>> = self
            .waits
            .iter()
            .filter(|(node, _)| open(node))
            .map(|(node, on)| (node, on.iter().filter(|o| open(o)).collect()))
            .collect();
        let mut found: Option<Vec<Pin>> = None;
        'search: for start in waits.keys() {
            let mut path = vec![*start];
            let mut current = *start;
            while let Some(next) = waits.get(current).and_then(|on| on.first()) {
                if let Some(position) = path.iter().position(|seen| seen == next) {
                    found = Some(path[position..].iter().map(|p| (*p).clone()).collect());
                    break 'search;
                }
                path.push(next);
                current = next;
            }
        }
        let Some(members) = found else {
            return Err(ResolveError::Driver {
                message: format!(
                    "the resolve stalled with {} package(s) waiting and none of them in a cycle",
                    waits.len()
                ),
                log: None,
            });
        };
        let mut cycle: Vec<String> = members.iter().map(|p| p.name.clone()).collect();
        cycle.extend(members.first().map(|first| first.name.clone()));
        for member in &members {
            self.fail(
                member,
                FailurePhase::Cycle,
                ResolveError::Cycle {
                    cycle: cycle.clone(),
                },
            )?;
        }
        Ok(())
    }

    /// Takes in what came back. Returns warnings for the user.
    pub fn apply(&mut self, event: Event) -> Result<Vec<String>, ResolveError> {
        match event {
            Event::Resolved { key, epoch, answer } => match answer {
                Ok(resolution) => {
                    self.resolutions.insert(
                        key,
                        ResState::Done {
                            epoch,
                            resolution: Arc::new(resolution),
                        },
                    );
                    Ok(Vec::new())
                }
                Err(error) if !self.keep_going => Err(self.resolution_error(&key, error, None)),
                Err(error) => {
                    let explained = self.resolution_error(&key, error.clone(), None);
                    // The session's own trouble is nobody's package's.
                    if let ResolveError::Driver { .. } = explained {
                        return Err(explained);
                    }
                    // A build environment fails each package that needs it (see `advance`);
                    // the top-level resolution fails the resolve.
                    if key == self.top {
                        let failure = PackageFailure::new(
                            error.package.clone(),
                            None,
                            FailurePhase::Resolution,
                            explained,
                        )
                        .or_log(PathBuf::from(&error.log));
                        self.failures.push(failure);
                    }
                    self.resolutions.insert(key, ResState::Failed(error));
                    Ok(Vec::new())
                }
            },
            Event::Inspected { node, result } => {
                let state = self.nodes.get_mut(&node).ok_or_else(|| unknown(&node))?;
                state.inspecting = false;
                let filename = state.filename.clone();
                match result {
                    Ok((path, served, facts)) => {
                        let settings = self.config.for_package(&node.name, &node.version);
                        // What the user added counts as the sdist's own static requirements:
                        // every environment of the package is resolved with them.
                        let facts = if settings.extra_build_requires.is_empty() {
                            facts
                        } else {
                            let mut more = (*facts).clone();
                            more.build_requires.extend(settings.extra_build_requires);
                            Arc::new(more)
                        };
                        state.sdist = Some((path, served, facts));
                        Ok(Vec::new())
                    }
                    Err(problem) => {
                        let message =
                            format!("its sdist `{filename}` could not be read: {problem}");
                        let error = ResolveError::BuildFailed {
                            package: node.name.clone(),
                            via: self.why(&node).into(),
                            message,
                            tail: String::new(),
                            log: PathBuf::new(),
                        };
                        self.fail(&node, FailurePhase::Sdist, error)?;
                        Ok(Vec::new())
                    }
                }
            }
            Event::Admitted { node, result } => {
                let state = self.nodes.get_mut(&node).ok_or_else(|| unknown(&node))?;
                state.inspecting = false;
                let filename = state.filename.clone();
                match result {
                    Ok(admitted) => {
                        state.prebuilt = Some(admitted);
                        Ok(vec![format!(
                            "`{}` {} is taken as the upstream wheel `{filename}`, not built from \
                             source: `allow-binary` names it",
                            node.name, node.version
                        )])
                    }
                    Err(problem) => {
                        let error = ResolveError::BuildFailed {
                            package: node.name.clone(),
                            via: self.why(&node).into(),
                            message: format!("its wheel `{filename}` was not admitted: {problem}"),
                            tail: String::new(),
                            log: PathBuf::new(),
                        };
                        self.fail(&node, FailurePhase::Sdist, error)?;
                        Ok(Vec::new())
                    }
                }
            }
            Event::Stepped {
                node,
                env,
                mode,
                outcome,
                log,
            } => {
                let warnings = outcome.warnings.clone();
                let filename = {
                    let state = self.nodes.get_mut(&node).ok_or_else(|| unknown(&node))?;
                    state.stepping = false;
                    state.filename.clone()
                };
                let reported = outcome.build_requirements.clone();
                if let Some((text, why)) =
                    crate::requirement::first_refused(reported.iter().flatten())
                {
                    let error = ResolveError::BuildFailed {
                        package: node.name.clone(),
                        via: self.why(&node).into(),
                        message: format!(
                            "its get_requires_for_build_wheel hook named `{}`, which {why}; \
                             offline-build takes every build requirement from the index",
                            crate::requirement::shown(text)
                        ),
                        tail: String::new(),
                        log,
                    };
                    self.fail(&node, FailurePhase::Hooks, error)?;
                    return Ok(warnings);
                }
                let (record_outcome, metadata) = match outcome.result {
                    StepResult::Wheel(wheel) => {
                        let metadata = wheel.metadata.clone();
                        (Outcome::Wheel(Box::new(wheel)), Some(metadata))
                    }
                    StepResult::Requirements => (Outcome::Done, None),
                    StepResult::Metadata(metadata) => (Outcome::Done, Some(metadata)),
                    StepResult::Failed(BuildFailure::MissingBuildRequirements { requirements })
                        if reported.is_some() =>
                    {
                        (Outcome::Missing(requirements), None)
                    }
                    StepResult::Failed(failure) => {
                        let phase = step_phase(mode, reported.is_some());
                        let error =
                            self.step_error(&node, phase, &failure, outcome.tail.join("\n"), log);
                        self.fail(&node, phase, error)?;
                        return Ok(warnings);
                    }
                };
                if let Some(metadata) = metadata
                    && self.book.correct(&filename, &metadata)
                {
                    self.epoch += 1;
                    self.changed.insert(filename, self.epoch);
                }
                let state = self.nodes.get_mut(&node).ok_or_else(|| unknown(&node))?;
                state.records.insert(
                    env,
                    Record {
                        mode,
                        reported,
                        outcome: record_outcome,
                    },
                );
                Ok(warnings)
            }
        }
    }

    fn step_error(
        &self,
        node: &Pin,
        phase: FailurePhase,
        failure: &BuildFailure,
        tail: String,
        log: PathBuf,
    ) -> ResolveError {
        let via: Box<str> = self.why(node).into();
        let package = node.name.clone();
        let building = phase == FailurePhase::VerificationBuild;
        let what = if building {
            "its build"
        } else {
            "running its hooks"
        };
        let message = match failure {
            BuildFailure::NeedsNetwork { addresses } => {
                return ResolveError::NeedsNetwork {
                    package,
                    via,
                    host: addresses.first().map(|address| host_of(address)),
                    tail,
                    log,
                };
            }
            BuildFailure::TimedOut { seconds } => {
                format!("{what} took longer than {seconds} s, and was stopped (--timeout)")
            }
            BuildFailure::MissingBuildRequirements { .. } => failure.to_string(),
            other if building => format!("its verification build {other}"),
            other => format!("its build hooks {other}"),
        };
        let message = match ob_build::diagnosis::diagnose_log(&log) {
            Some(advice) => format!("{message} ({advice})"),
            None => message,
        };
        ResolveError::BuildFailed {
            package,
            via,
            message,
            tail,
            log,
        }
    }

    /// The first package whose build environment `key` is; `None` for the top level.
    fn owner_of(&self, key: &EnvKey) -> Option<&Pin> {
        (key != &self.top)
            .then(|| {
                self.nodes.keys().find(|node| {
                    let Some(facts) = self.nodes.get(*node).and_then(|n| n.sdist.as_ref()) else {
                        return false;
                    };
                    let static_key = EnvKey::build_environment(&facts.2.build_requires);
                    &static_key == key
                        || self.reported(node, &static_key).is_some_and(|reported| {
                            &EnvKey::build_environment(
                                facts.2.build_requires.iter().chain(&reported),
                            ) == key
                        })
                })
            })
            .flatten()
    }

    /// The error of a failed resolution of `key`; `owner` is whose build environment it is
    /// (`None`: the first package it is the environment of).
    fn resolution_error(
        &self,
        key: &EnvKey,
        error: SessionError,
        owner: Option<&Pin>,
    ) -> ResolveError {
        // Whose environment it was, for saying how the requirements lead there.
        let owner = owner.or_else(|| self.owner_of(key));
        let via: String = match owner {
            None => String::new(),
            Some(owner) => {
                let to_owner = self.why(owner);
                let this = format!(
                    "{} needs {} to build",
                    owner.name,
                    key.requirements.join(", ")
                );
                if to_owner.is_empty() {
                    this
                } else {
                    format!("{to_owner}; {this}")
                }
            }
        };
        let log = PathBuf::from(&error.log);
        match error.kind.as_str() {
            "no-sdist" => ResolveError::NoSdist {
                package: error.package,
                requirement: error.requirement.unwrap_or_default(),
                newest_with_sdist: error
                    .sdist_versions
                    .and_then(|versions| versions.last().cloned()),
                via: via.into(),
            },
            "conflict" => ResolveError::Conflict {
                package: error.package,
                explanation: error.message,
                via: via.into(),
                log,
            },
            "bad-requirement" => ResolveError::BuildFailed {
                package: owner.map(|o| o.name.clone()).unwrap_or(error.package),
                via: via.into(),
                message: error.message,
                tail: String::new(),
                log,
            },
            _ => ResolveError::Driver {
                message: error.message,
                log: Some(log),
            },
        }
    }

    /// How what was asked for leads to `target`, through run-time and build requirements:
    /// "black needs mypy to build; mypy needs librt". Empty for a requested package.
    pub fn why(&self, target: &Pin) -> String {
        let Some(top) = self
            .fresh(&self.top)
            .or_else(|| match self.resolutions.get(&self.top) {
                Some(ResState::Done { resolution, .. }) => Some(resolution.clone()),
                _ => None,
            })
        else {
            return String::new();
        };
        let in_resolution = |resolution: &Resolution, name: &str| {
            resolution
                .pins
                .iter()
                .find(|p| p.name == name)
                .map(|p| pin(&p.name, &p.version))
        };
        let mut parent: BTreeMap<Pin, Option<(Pin, &'static str)>> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::new();
        for root in &top.roots {
            if let Some(node) = in_resolution(&top, root) {
                parent.entry(node.clone()).or_insert(None);
                queue.push_back((node, top.clone()));
            }
        }
        while let Some((node, resolution)) = queue.pop_front() {
            if &node == target {
                break;
            }
            let mut next: Vec<(Pin, Arc<Resolution>, &'static str)> = Vec::new();
            for dependency in resolution
                .dependencies
                .get(&node.name)
                .into_iter()
                .flatten()
            {
                if let Some(found) = in_resolution(&resolution, dependency) {
                    next.push((found, resolution.clone(), ""));
                }
            }
            if let Some(static_key) = self.static_key(&node) {
                let environment = self
                    .final_env(&node)
                    .map(|(_, e)| e)
                    .or_else(|| self.fresh(&static_key));
                if let Some(environment) = environment {
                    for root in &environment.roots {
                        if let Some(found) = in_resolution(&environment, root) {
                            next.push((found, environment.clone(), " to build"));
                        }
                    }
                }
            }
            for (found, resolution, how) in next {
                if !parent.contains_key(&found) {
                    parent.insert(found.clone(), Some((node.clone(), how)));
                    queue.push_back((found, resolution));
                }
            }
        }
        let mut links = Vec::new();
        let mut current = target.clone();
        while let Some(Some((from, how))) = parent.get(&current) {
            links.push(format!("{} needs {}{how}", from.name, current.name));
            current = from.clone();
        }
        links.reverse();
        links.join("; ")
    }

    /// The result, once [`Plan::done`]: every reachable package with its final environment.
    pub fn finish(&self) -> Result<Vec<Locked>, ResolveError> {
        let top = self
            .fresh(&self.top)
            .ok_or_else(|| internal("the top-level resolution is not done"))?;
        let runtime = pins_of(&top);
        // Where each package was resolved: the top level for runtime packages, and every final
        // build environment that holds it.
        let mut resolutions: BTreeMap<&Pin, Vec<Arc<Resolution>>> = BTreeMap::new();
        let mut finals: BTreeMap<&Pin, Arc<Resolution>> = BTreeMap::new();
        for node in &self.reachable {
            if self.nodes.get(node).is_some_and(|n| n.prebuilt.is_some()) {
                continue;
            }
            let (_, environment) = self
                .final_env(node)
                .ok_or_else(|| internal(&format!("`{node}` has no final build environment")))?;
            finals.insert(node, environment);
        }
        for node in &self.reachable {
            if runtime.contains(node) {
                resolutions.entry(node).or_default().push(top.clone());
            }
            for environment in finals.values() {
                if pins_of(environment).contains(node) {
                    resolutions
                        .entry(node)
                        .or_default()
                        .push(environment.clone());
                }
            }
        }
        let mut locked = Vec::new();
        for node in &self.reachable {
            let state = self.nodes.get(node).ok_or_else(|| unknown(node))?;
            let served = match (&state.sdist, &state.prebuilt) {
                (_, Some((served, _))) => served,
                (Some((_, served, _)), None) => served,
                (None, None) => {
                    return Err(internal(&format!("`{node}` has no verified sdist")));
                }
            };
            // Names it depends on in every resolution that holds it (extras asked for in one
            // environment add dependencies there only), with each version they had.
            let mut dependencies: Option<BTreeMap<String, BTreeSet<String>>> = None;
            for resolution in resolutions.get(node).into_iter().flatten() {
                let mut here: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for name in resolution
                    .dependencies
                    .get(&node.name)
                    .into_iter()
                    .flatten()
                {
                    if let Some(found) = resolution.pins.iter().find(|p| &p.name == name) {
                        here.entry(name.clone())
                            .or_default()
                            .insert(found.version.clone());
                    }
                }
                dependencies = Some(match dependencies {
                    None => here,
                    Some(mut so_far) => {
                        so_far.retain(|name, _| here.contains_key(name));
                        for (name, versions) in &mut so_far {
                            versions.extend(here[name].iter().cloned());
                        }
                        so_far
                    }
                });
            }
            let build_requires = match finals.get(node) {
                Some(environment) => pins_of(environment).into_iter().collect(),
                None => Vec::new(),
            };
            locked.push(Locked {
                pin: node.clone(),
                sdist: served.clone(),
                prebuilt: state.prebuilt.is_some(),
                requires_python: state.requires_python.clone(),
                runtime: runtime.contains(node),
                dependencies: dependencies.unwrap_or_default().into_iter().collect(),
                build_requires,
            });
        }
        Ok(locked)
    }
}

/// Where a failed step failed: in its hooks when it did not get past
/// `get_requires_for_build_wheel`, else in what its mode does after them.
fn step_phase(mode: Mode, reported: bool) -> FailurePhase {
    match mode {
        _ if !reported => FailurePhase::Hooks,
        Mode::Requires => FailurePhase::Hooks,
        Mode::Metadata => FailurePhase::Metadata,
        Mode::Build => FailurePhase::VerificationBuild,
    }
}

/// The host of a network attempt as the audit hook reported it: `'host'` or `('1.2.3.4', 443)`.
fn host_of(address: &str) -> String {
    let trimmed = address.trim().trim_start_matches('(');
    let first = trimmed.split(',').next().unwrap_or(trimmed);
    first.trim().trim_matches(['\'', '"']).to_owned()
}

fn unknown(node: &Pin) -> ResolveError {
    internal(&format!(
        "an answer came for `{node}`, which the resolve never asked about"
    ))
}

fn internal(message: &str) -> ResolveError {
    ResolveError::Driver {
        message: message.to_owned(),
        log: None,
    }
}

/// The lock's `dependencies` of one package: versions only where the lock holds the name at
/// several versions.
pub fn lock_dependencies(
    dependencies: &[(String, BTreeSet<String>)],
    several_versions: &BTreeSet<String>,
) -> Vec<Dependency> {
    let mut entries = Vec::new();
    for (name, versions) in dependencies {
        if several_versions.contains(name) {
            for version in versions {
                entries.push(Dependency {
                    name: name.clone(),
                    version: Some(version.clone()),
                });
            }
        } else {
            entries.push(Dependency::named(name.clone()));
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::session::ResolvedPin;

    /// A made-up world: `requirements -> pins` for every resolution, each package's static
    /// build requirements, and the packages whose step fails. Runs the engine as the driver
    /// loop does, answering each action at once, and returns the error it ended with.
    fn drive(keep_going: bool) -> Result<(), ResolveError> {
        // a builds with nothing, b needs a's wheel, c needs b's (so a's failure blocks both),
        // d needs nothing and resolves, e's build environment names a project with no sdist.
        let build_requires = |name: &str| -> Vec<String> {
            match name {
                "b" => vec!["a".into()],
                "c" => vec!["b".into()],
                "e" => vec!["nosdist".into()],
                _ => Vec::new(),
            }
        };
        let no_sdist = || SessionError {
            kind: "no-sdist".into(),
            package: "nosdist".into(),
            message: "the index has no sdist of `nosdist`".into(),
            log: "/out/logs/resolution-1.log".into(),
            requirement: Some("nosdist".into()),
            sdist_versions: Some(Vec::new()),
        };
        // `None`: the answer is `no_sdist`.
        let resolve = |requirements: &[String]| -> Option<Resolution> {
            if requirements == ["nosdist"] {
                return None;
            }
            let pins = requirements
                .iter()
                .map(|name| ResolvedPin {
                    name: name.clone(),
                    version: "1.0".into(),
                    filename: format!("{name}-1.0.tar.gz"),
                    url: String::new(),
                    requires_python: None,
                })
                .collect();
            Some(Resolution {
                pins,
                roots: requirements.to_vec(),
                dependencies: BTreeMap::new(),
            })
        };
        let top: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let mut engine = Engine::new(&top, &[], false, Arc::default()).keep_going(keep_going);
        let mut queue = std::collections::VecDeque::new();
        loop {
            let plan = engine.plan()?;
            queue.extend(plan.actions);
            if plan.done {
                return engine.failure().map_or(Ok(()), Err);
            }
            let event = match queue.pop_front() {
                None => {
                    engine.stuck()?;
                    continue;
                }
                Some(Action::Resolve { key, epoch }) => Event::Resolved {
                    answer: resolve(&key.requirements).ok_or_else(no_sdist),
                    key,
                    epoch,
                },
                Some(Action::Inspect { node, filename }) => {
                    let facts = SdistFacts {
                        build_requires: build_requires(&node.name),
                        ..SdistFacts::default()
                    };
                    let served = ServedFile {
                        project: node.name.clone(),
                        filename: filename.clone(),
                        url: String::new(),
                        sha256: "0".repeat(64),
                        size: 1,
                        upload_time: None,
                    };
                    Event::Inspected {
                        node,
                        result: Ok((PathBuf::from(filename), served, Arc::new(facts))),
                    }
                }
                Some(Action::Admit { node, .. }) => {
                    panic!("nothing here resolves to a wheel, yet `{node}` is to be admitted")
                }
                Some(Action::Step {
                    node, env, mode, ..
                }) => {
                    // a's hooks work; its build (once b needs its wheel) fails.
                    let result = match (node.name.as_str(), mode) {
                        ("a", Mode::Build) => StepResult::Failed(BuildFailure::Exited { code: 1 }),
                        _ => StepResult::Requirements,
                    };
                    Event::Stepped {
                        log: PathBuf::from(format!("/logs/build-{}.log", node.name)),
                        node,
                        env,
                        mode,
                        outcome: Box::new(StepOutcome {
                            key: String::new(),
                            build_requirements: Some(Vec::new()),
                            result,
                            duration: std::time::Duration::ZERO,
                            tail: Vec::new(),
                            dropped: Vec::new(),
                            warnings: Vec::new(),
                        }),
                    }
                }
            };
            engine.apply(event)?;
        }
    }

    #[test]
    fn going_on_lists_each_failure_once_and_what_it_blocked() {
        let text = drive(true).unwrap_err().to_string();
        assert!(
            text.starts_with(
                "2 package(s) failed, 2 more could not be resolved because of them; nothing was locked:\n  \
                 `a` 1.0 (verification build): its verification build failed to build (exit status 1)\n      \
                 log: /logs/build-a.log\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n  `c` 1.0: because of `a`\nresolved: 1 package(s) (d==1.0)\n"),
            "{text}"
        );
        let Err(ResolveError::Several {
            failures,
            blocked,
            resolved,
        }) = drive(true)
        else {
            panic!("expected the failures of a and e");
        };
        let failed: Vec<(String, Option<String>, FailurePhase)> = failures
            .iter()
            .map(|f| (f.package.clone(), f.version.clone(), f.phase))
            .collect();
        assert_eq!(
            failed,
            [
                (
                    "a".into(),
                    Some("1.0".into()),
                    FailurePhase::VerificationBuild
                ),
                ("e".into(), Some("1.0".into()), FailurePhase::Resolution),
            ]
        );
        assert_eq!(failures[0].log, Some(PathBuf::from("/logs/build-a.log")));
        assert_eq!(
            failures[1].log,
            Some(PathBuf::from("/out/logs/resolution-1.log"))
        );
        assert!(
            failures[1].message().contains("`nosdist`"),
            "{}",
            failures[1].message()
        );
        assert_eq!(failures[1].needed_because(), "e needs nosdist to build");
        // c waits for b, which waits for a: both are a's, neither a failure of its own.
        let blocked: Vec<(String, Vec<String>)> = blocked
            .iter()
            .map(|b| (b.package.clone(), b.because.clone()))
            .collect();
        assert_eq!(
            blocked,
            [
                ("b".to_string(), vec!["a".to_string()]),
                ("c".to_string(), vec!["a".to_string()])
            ]
        );
        assert_eq!(resolved, [pin("d", "1.0")]);
    }

    #[test]
    fn without_going_on_the_first_failure_is_the_error() {
        match drive(false) {
            Err(ResolveError::BuildFailed { package, .. }) => assert_eq!(package, "a"),
            Err(ResolveError::NoSdist { package, .. }) => assert_eq!(package, "nosdist"),
            other => panic!("expected the first failure, got {other:?}"),
        }
    }

    #[test]
    fn network_hosts_are_read_from_what_the_audit_hook_printed() {
        assert_eq!(host_of("'downloads.invalid'"), "downloads.invalid");
        assert_eq!(host_of("('203.0.113.7', 443)"), "203.0.113.7");
        assert_eq!(host_of("downloads.invalid"), "downloads.invalid");
    }
}
