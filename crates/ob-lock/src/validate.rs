//! Semantic checks of a [`Lock`]: names, hashes, file names, URLs and paths, build requirements
//! and build order. Everything a later stage relies on is checked here once, so `fetch` and
//! `build` can trust what they read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{LockError, Problem};
use crate::model::{
    ConfigSetting, Dependency, Lock, Package, Pin, Sdist, Wheel, check_build_env_name,
    is_valid_name, is_valid_version, normalize_name,
};
use crate::read::dotted;

fn top(field: &str, problem: Problem) -> LockError {
    LockError::Invalid {
        path: None,
        package: None,
        field: field.to_owned(),
        problem: Box::new(problem),
    }
}

fn in_package(package: &Package, field: &str, problem: Problem) -> LockError {
    LockError::Invalid {
        path: None,
        package: Some(package.name.clone()),
        field: field.to_owned(),
        problem: Box::new(problem),
    }
}

pub(crate) fn lock(lock: &Lock) -> Result<(), LockError> {
    if lock.requires_python.as_deref() == Some("") {
        return Err(top("requires-python", Problem::Empty));
    }
    tool(lock)?;

    // name -> its locked versions; a name may be locked at several (one per build environment
    // that needs another version), but only once at each, and only once outside the build group.
    let mut versions: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut runtime: HashMap<&str, &str> = HashMap::new();
    for package in &lock.packages {
        package_alone(package)?;
        let entry = versions.entry(package.name.as_str()).or_default();
        if entry.contains(&package.version.as_str()) {
            return Err(in_package(package, "name", Problem::DuplicatePackage));
        }
        entry.push(package.version.as_str());
        if !package.build_only
            && let Some(other) = runtime.insert(package.name.as_str(), package.version.as_str())
        {
            return Err(in_package(
                package,
                "marker",
                Problem::SeveralRuntimeVersions {
                    versions: vec![other.to_owned(), package.version.clone()],
                },
            ));
        }
    }
    crates(lock)?;
    allowed_binaries(lock)?;
    for package in &lock.packages {
        references(package, &versions)?;
    }
    let by_pin: HashMap<(&str, &str), &Package> = lock
        .packages
        .iter()
        .map(|package| ((package.name.as_str(), package.version.as_str()), package))
        .collect();
    for package in &lock.packages {
        closures(package, &by_pin, &versions)?;
    }
    build_order(lock)
}

/// The crate pins: each once, with a registry source, an https (or loopback http) URL, a size
/// and a sha256; and every package's references among them.
fn crates(lock: &Lock) -> Result<(), LockError> {
    if let Some(source) = &lock.tool.cargo_default_registry
        && source
            .strip_prefix("registry+")
            .is_none_or(|url| url::Url::parse(url).is_err())
    {
        return Err(top(
            "tool.offline-build.cargo-default-registry",
            Problem::BadCrateSource {
                found: source.clone(),
            },
        ));
    }
    let mut seen = HashSet::new();
    for entry in &lock.tool.crates {
        let key = entry.key();
        let field = |name: &str| format!("tool.offline-build.crates[{key}].{name}");
        if !crate::model::is_valid_crate_name(&entry.name)
            || !crate::model::is_valid_crate_version(&entry.version)
        {
            return Err(top(
                &field("name"),
                Problem::BadCrateKey {
                    found: key.to_string(),
                },
            ));
        }
        if !seen.insert(key.clone()) {
            return Err(top(
                &field("name"),
                Problem::DuplicateCrate {
                    entry: key.to_string(),
                },
            ));
        }
        let registry = entry
            .source
            .strip_prefix("sparse+")
            .or_else(|| entry.source.strip_prefix("registry+"));
        if registry.is_none_or(|url| url::Url::parse(url).is_err()) {
            return Err(top(
                &field("source"),
                Problem::BadCrateSource {
                    found: entry.source.clone(),
                },
            ));
        }
        url(&entry.url).map_err(|problem| top(&field("url"), problem))?;
        if entry.size == 0 {
            return Err(top(&field("size"), Problem::ZeroSize));
        }
        if i64::try_from(entry.size).is_err() {
            return Err(top(&field("size"), Problem::OutOfRange));
        }
        if !is_sha256(&entry.sha256) {
            return Err(top(
                &field("hashes.sha256"),
                Problem::BadSha256 {
                    found: entry.sha256.clone(),
                },
            ));
        }
    }
    for package in &lock.packages {
        let mut listed = HashSet::new();
        for key in &package.crates {
            let field = "tool.offline-build.crates";
            if !seen.contains(key) {
                return Err(in_package(
                    package,
                    field,
                    Problem::CrateNotLocked {
                        entry: key.to_string(),
                    },
                ));
            }
            if !listed.insert(key) {
                return Err(in_package(
                    package,
                    field,
                    Problem::DuplicateEntry {
                        entry: key.to_string(),
                    },
                ));
            }
        }
    }
    Ok(())
}

/// The entry a dependency refers to: at its version, or the name's only entry. References were
/// checked before, so this finds one for every dependency of a valid lock.
fn dependency_target<'a>(
    dependency: &Dependency,
    by_pin: &HashMap<(&str, &str), &'a Package>,
    versions: &HashMap<&str, Vec<&str>>,
) -> Option<&'a Package> {
    let version = match &dependency.version {
        Some(version) => version.as_str(),
        None => match versions.get(dependency.name.as_str())?.as_slice() {
            [only] => only,
            _ => return None,
        },
    };
    by_pin.get(&(dependency.name.as_str(), version)).copied()
}

/// What a plain install or a build environment gets must be complete: a runtime package's
/// dependencies are installed by default too (not build-only), and a build environment holds
/// the run-time dependencies of every build requirement (build installs exactly that set).
///
/// A package's `dependencies` lists, per name, every version it was resolved with; one name may
/// have a runtime version and build-only ones (each build environment is resolved on its own).
/// So a runtime package needs some runtime entry of each name it lists, and an environment some
/// version of each name its requirements list: the versions themselves are the resolver's.
fn closures(
    package: &Package,
    by_pin: &HashMap<(&str, &str), &Package>,
    versions: &HashMap<&str, Vec<&str>>,
) -> Result<(), LockError> {
    if !package.build_only {
        let mut names: Vec<&str> = package
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        names.dedup();
        for name in names {
            let runtime = package
                .dependencies
                .iter()
                .filter(|dependency| dependency.name == name)
                .filter_map(|dependency| dependency_target(dependency, by_pin, versions))
                .any(|target| !target.build_only);
            if !runtime {
                return Err(in_package(
                    package,
                    "dependencies",
                    Problem::RuntimeNeedsBuildOnly {
                        dependency: name.to_owned(),
                    },
                ));
            }
        }
    }
    let environment: HashSet<&str> = package
        .build_requires
        .iter()
        .map(|pin| pin.name.as_str())
        .collect();
    for pin in &package.build_requires {
        // References were checked before: every pin names a package of the lock.
        let Some(requirement) = by_pin.get(&(pin.name.as_str(), pin.version.as_str())) else {
            continue;
        };
        if let Some(missing) = requirement
            .dependencies
            .iter()
            .find(|dependency| !environment.contains(dependency.name.as_str()))
        {
            return Err(in_package(
                package,
                "tool.offline-build.build-requires",
                Problem::IncompleteBuildEnvironment {
                    requirement: pin.to_string(),
                    missing: missing.name.clone(),
                },
            ));
        }
    }
    Ok(())
}

fn tool(lock: &Lock) -> Result<(), LockError> {
    let tool = &lock.tool;
    for (field, value) in [
        ("tool.offline-build.image", &tool.image),
        ("tool.offline-build.python-version", &tool.python_version),
        ("tool.offline-build.platform", &tool.platform),
    ] {
        if value.trim().is_empty() {
            return Err(top(field, Problem::Empty));
        }
    }
    let digest_ok = tool
        .image_digest
        .strip_prefix("sha256:")
        .is_some_and(is_sha256);
    if !digest_ok {
        return Err(top(
            "tool.offline-build.image-digest",
            Problem::BadDigest {
                found: tool.image_digest.clone(),
            },
        ));
    }
    url(&tool.index_url).map_err(|problem| top("tool.offline-build.index-url", problem))?;
    if let Some(exclude_newer) = &tool.exclude_newer {
        datetime(exclude_newer)
            .map_err(|problem| top("tool.offline-build.exclude-newer", problem))?;
    }
    if i64::try_from(tool.source_date_epoch).is_err() {
        return Err(top(
            "tool.offline-build.source-date-epoch",
            Problem::OutOfRange,
        ));
    }
    if tool.requirements.iter().any(|line| line.trim().is_empty()) {
        return Err(top("tool.offline-build.requirements", Problem::Empty));
    }
    Ok(())
}

/// A name as we write it: valid and PEP 503 normalized.
fn normalized_name(name: &str) -> Result<(), Problem> {
    if !is_valid_name(name) {
        return Err(Problem::BadName {
            found: name.to_owned(),
        });
    }
    let normalized = normalize_name(name);
    if normalized != name {
        return Err(Problem::NotNormalized {
            found: name.to_owned(),
            normalized,
        });
    }
    Ok(())
}

/// Checks of one package that need no other package.
fn package_alone(package: &Package) -> Result<(), LockError> {
    normalized_name(&package.name).map_err(|problem| in_package(package, "name", problem))?;
    if !is_valid_version(&package.version) {
        return Err(in_package(
            package,
            "version",
            Problem::BadVersion {
                found: package.version.clone(),
            },
        ));
    }
    if package.requires_python.as_deref() == Some("") {
        return Err(in_package(package, "requires-python", Problem::Empty));
    }
    match &package.wheel {
        None => sdist(package, &package.sdist)?,
        Some(wheel) => prebuilt(package, wheel)?,
    }
    image_tool(package)?;
    settings(package)
}

/// `allow-binary` names exactly the packages locked as wheels, each once.
fn allowed_binaries(lock: &Lock) -> Result<(), LockError> {
    let field = "tool.offline-build.allow-binary";
    let mut allowed = BTreeSet::new();
    for pin in &lock.tool.allow_binary {
        let entry = pin.to_string();
        if normalized_name(&pin.name).is_err() || !is_valid_version(&pin.version) {
            return Err(top(field, Problem::BadPin { found: entry }));
        }
        if !allowed.insert((pin.name.as_str(), pin.version.as_str())) {
            return Err(top(field, Problem::DuplicateEntry { entry }));
        }
    }
    for package in &lock.packages {
        let key = (package.name.as_str(), package.version.as_str());
        if package.wheel.is_some() && !allowed.remove(&key) {
            return Err(in_package(package, "wheels", Problem::HasWheels));
        }
    }
    match allowed.into_iter().next() {
        Some((name, version)) => Err(top(
            field,
            Problem::AllowedWithoutWheel {
                pin: format!("{name}=={version}"),
            },
        )),
        None => Ok(()),
    }
}

/// A package taken as an upstream wheel: one wheel of exactly this release, from a URL,
/// pinned, and nothing that only a build would use.
fn prebuilt(package: &Package, wheel: &Wheel) -> Result<(), LockError> {
    wheel_filename(&wheel.filename, &package.name, &package.version)
        .map_err(|problem| in_package(package, "wheels.name", problem))?;
    url(&wheel.url).map_err(|problem| in_package(package, "wheels.url", problem))?;
    pinned_file(
        package,
        "wheels",
        wheel.upload_time.as_deref(),
        wheel.size,
        &wheel.sha256,
    )?;
    if package.sdist != Sdist::default() {
        return Err(in_package(package, "wheels", Problem::SdistAndWheel));
    }
    let unbuilt = |field: &str, found: String| {
        Err(in_package(
            package,
            field,
            Problem::BadSettingValue {
                found,
                reason: "is given for a package taken as a wheel, which is never built",
            },
        ))
    };
    if let Some(pin) = package.build_requires.first() {
        return unbuilt("tool.offline-build.build-requires", pin.to_string());
    }
    if let Some(key) = package.crates.first() {
        return unbuilt("tool.offline-build.crates", key.to_string());
    }
    if let Some(tool) = &package.image_tool {
        return unbuilt("tool.offline-build.image-tool", tool.clone());
    }
    if !package.settings.is_empty() {
        return unbuilt("tool.offline-build", "build settings".to_owned());
    }
    Ok(())
}

/// A wheel file name (PEP 427) of `name` at `version`: `{distribution}-{version}(-{build})?
/// -{python}-{abi}-{platform}.whl`, no path separators.
pub(crate) fn wheel_filename(filename: &str, name: &str, version: &str) -> Result<(), Problem> {
    let refuse = |reason: &'static str| Problem::BadFilename {
        filename: filename.to_owned(),
        reason,
    };
    if filename.contains(['/', '\\', '\0']) {
        return Err(refuse("contains a path separator"));
    }
    if filename.starts_with('.') {
        return Err(refuse("starts with a dot"));
    }
    if !filename.ends_with(".whl") {
        return Err(refuse("does not end in .whl"));
    }
    let (project, file_version) = crate::model::wheel_release(filename)
        .ok_or_else(|| refuse("is not `name-version-python-abi-platform.whl`"))?;
    if !is_valid_name(project)
        || normalize_name(project) != normalize_name(name)
        || !file_version.eq_ignore_ascii_case(version)
    {
        return Err(Problem::FilenameMismatch {
            filename: filename.to_owned(),
            name: name.to_owned(),
            version: version.to_owned(),
        });
    }
    Ok(())
}

/// `image-tool`: `debian-package=version`, plain characters only, and only on a package whose
/// sdist is a `path` (fetch makes it; there is nothing to download).
fn image_tool(package: &Package) -> Result<(), LockError> {
    let Some(text) = &package.image_tool else {
        return Ok(());
    };
    let field = "tool.offline-build.image-tool";
    let plain = |part: &str| {
        !part.is_empty()
            && part.len() <= 100
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+-~:".contains(&b))
    };
    match text.split_once('=') {
        Some((name, version)) if plain(name) && plain(version) => {}
        _ => {
            return Err(in_package(
                package,
                field,
                Problem::BadSettingValue {
                    found: text.clone(),
                    reason: "is not `debian-package=version`",
                },
            ));
        }
    }
    if package.sdist.url.is_some() {
        return Err(in_package(
            package,
            "sdist.url",
            Problem::BadSettingValue {
                found: package.sdist.url.clone().unwrap_or_default(),
                reason: "is given for an image tool, whose sdist fetch makes itself",
            },
        ));
    }
    Ok(())
}

/// The package's build settings: what a build step is given must be exactly what the lock
/// says, so no NUL bytes (which an environment or argument list would cut short), no variable
/// the build sets itself, patches inside the lock's directory and pinned by their digest.
fn settings(package: &Package) -> Result<(), LockError> {
    let settings = &package.settings;
    let nul = |found: &str| Problem::BadSettingValue {
        found: found.to_owned(),
        reason: "contains a NUL byte",
    };

    let field = "tool.offline-build.env";
    for (name, value) in &settings.env {
        check_build_env_name(name).map_err(|problem| in_package(package, field, problem))?;
        if value.contains('\0') {
            return Err(in_package(package, &dotted(field, name), nul(value)));
        }
    }

    let field = "tool.offline-build.config-settings";
    for (key, setting) in &settings.config_settings {
        if key.is_empty() {
            return Err(in_package(package, field, Problem::Empty));
        }
        if key.contains('\0') {
            return Err(in_package(package, field, nul(key)));
        }
        let values = match setting {
            ConfigSetting::One(value) => std::slice::from_ref(value),
            ConfigSetting::Many(values) => values.as_slice(),
        };
        if let Some(value) = values.iter().find(|value| value.contains('\0')) {
            return Err(in_package(package, &dotted(field, key), nul(value)));
        }
    }

    let field = "tool.offline-build.extra-build-requires";
    let mut seen = HashSet::new();
    for requirement in &settings.extra_build_requires {
        if requirement.trim().is_empty() {
            return Err(in_package(package, field, Problem::Empty));
        }
        if requirement.contains('\0') {
            return Err(in_package(package, field, nul(requirement)));
        }
        if requirement.contains(['\n', '\r']) {
            return Err(in_package(
                package,
                field,
                Problem::BadSettingValue {
                    found: requirement.clone(),
                    reason: "contains a line break",
                },
            ));
        }
        if !seen.insert(requirement) {
            return Err(in_package(
                package,
                field,
                Problem::DuplicateEntry {
                    entry: requirement.clone(),
                },
            ));
        }
    }

    for (index, patch) in settings.patches.iter().enumerate() {
        let field = |key: &str| format!("tool.offline-build.patches[{index}].{key}");
        relative_path(&patch.path)
            .map_err(|problem| in_package(package, &field("path"), problem))?;
        if !is_sha256(&patch.sha256) {
            return Err(in_package(
                package,
                &field("sha256"),
                Problem::BadSha256 {
                    found: patch.sha256.clone(),
                },
            ));
        }
    }
    Ok(())
}

fn sdist(package: &Package, sdist: &Sdist) -> Result<(), LockError> {
    sdist_filename(&sdist.filename, &package.name, &package.version)
        .map_err(|problem| in_package(package, "sdist.name", problem))?;
    if sdist.url.is_none() && sdist.path.is_none() {
        return Err(in_package(package, "sdist", Problem::NoLocation));
    }
    if let Some(sdist_url) = &sdist.url {
        url(sdist_url).map_err(|problem| in_package(package, "sdist.url", problem))?;
    }
    if let Some(path) = &sdist.path {
        relative_path(path).map_err(|problem| in_package(package, "sdist.path", problem))?;
    }
    pinned_file(
        package,
        "sdist",
        sdist.upload_time.as_deref(),
        sdist.size,
        &sdist.sha256,
    )
}

/// The fields every file of the lock shares (`sdist`, one of `wheels`): an RFC 3339 upload
/// time if any, a size that is not zero and fits TOML's integer, a sha256.
fn pinned_file(
    package: &Package,
    table: &str,
    upload_time: Option<&str>,
    size: u64,
    sha256: &str,
) -> Result<(), LockError> {
    let field = |key: &str| format!("{table}.{key}");
    if let Some(upload_time) = upload_time {
        datetime(upload_time)
            .map_err(|problem| in_package(package, &field("upload-time"), problem))?;
    }
    if size == 0 {
        return Err(in_package(package, &field("size"), Problem::ZeroSize));
    }
    if i64::try_from(size).is_err() {
        return Err(in_package(package, &field("size"), Problem::OutOfRange));
    }
    if sha256.is_empty() {
        return Err(in_package(
            package,
            &field("hashes.sha256"),
            Problem::MissingSha256,
        ));
    }
    if !is_sha256(sha256) {
        return Err(in_package(
            package,
            &field("hashes.sha256"),
            Problem::BadSha256 {
                found: sha256.to_owned(),
            },
        ));
    }
    Ok(())
}

/// Build requirements and dependencies must name packages of this lock, at a locked version.
fn references(package: &Package, versions: &HashMap<&str, Vec<&str>>) -> Result<(), LockError> {
    let field = "tool.offline-build.build-requires";
    let locked_at = |name: &str, version: &str, field: &str, entry: String| match versions.get(name)
    {
        None => Err(in_package(package, field, Problem::NotLocked { entry })),
        Some(locked) if !locked.contains(&version) => Err(in_package(
            package,
            field,
            Problem::PinVersionMismatch {
                pin: entry,
                locked: locked.join(", "),
            },
        )),
        Some(_) => Ok(()),
    };
    let mut seen = HashSet::new();
    for pin in &package.build_requires {
        let entry = format!("{}=={}", pin.name, pin.version);
        if !is_valid_name(&pin.name) || !is_valid_version(&pin.version) {
            return Err(in_package(package, field, Problem::BadPin { found: entry }));
        }
        normalized_name(&pin.name).map_err(|problem| in_package(package, field, problem))?;
        if pin.name == package.name && pin.version == package.version {
            return Err(in_package(package, field, Problem::BuildRequiresItself));
        }
        // One environment holds one version of each name.
        if !seen.insert(pin.name.as_str()) {
            return Err(in_package(
                package,
                field,
                Problem::DuplicateEntry { entry },
            ));
        }
        locked_at(&pin.name, &pin.version, field, entry)?;
    }
    let mut seen = HashSet::new();
    for dependency in &package.dependencies {
        let field = "dependencies";
        normalized_name(&dependency.name).map_err(|problem| in_package(package, field, problem))?;
        let entry = dependency.to_string();
        if !seen.insert(dependency) {
            return Err(in_package(
                package,
                field,
                Problem::DuplicateEntry { entry },
            ));
        }
        match &dependency.version {
            Some(version) => locked_at(&dependency.name, version, field, entry)?,
            None => match versions.get(dependency.name.as_str()) {
                None => return Err(in_package(package, field, Problem::NotLocked { entry })),
                Some(locked) if locked.len() > 1 => {
                    return Err(in_package(
                        package,
                        field,
                        Problem::AmbiguousDependency {
                            name: dependency.name.clone(),
                            versions: locked.iter().map(|v| (*v).to_owned()).collect(),
                        },
                    ));
                }
                Some(_) => {}
            },
        }
    }
    Ok(())
}

fn build_order(lock: &Lock) -> Result<(), LockError> {
    let field = "tool.offline-build.build-order";
    let bad = |detail: String| top(field, Problem::BadBuildOrder { detail });
    let mut position: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, pin) in lock.tool.build_order.iter().enumerate() {
        if lock.package_at(&pin.name, &pin.version).is_none() || !is_valid_name(&pin.name) {
            return Err(bad(format!("`{pin}` is not a package of the lock")));
        }
        if position
            .insert((pin.name.as_str(), pin.version.as_str()), index)
            .is_some()
        {
            return Err(bad(format!("`{pin}` is listed more than once")));
        }
    }
    for package in &lock.packages {
        let Some(&own) = position.get(&(package.name.as_str(), package.version.as_str())) else {
            return Err(bad(format!("package `{}` is missing", package.pin())));
        };
        for pin in &package.build_requires {
            // References were checked before: every pin names a package of the lock.
            if position
                .get(&(pin.name.as_str(), pin.version.as_str()))
                .is_some_and(|&other| other > own)
            {
                return Err(bad(format!(
                    "`{}` comes before its build requirement `{pin}`",
                    package.pin()
                )));
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm over build requirements, the smallest ready `(name, version)` first.
pub(crate) fn canonical_build_order(lock: &Lock) -> Result<Vec<Pin>, LockError> {
    type Node<'a> = (&'a str, &'a str);
    let nodes: BTreeSet<Node<'_>> = lock
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let mut waiting_on: BTreeMap<Node<'_>, usize> = BTreeMap::new();
    let mut needed_by: HashMap<Node<'_>, Vec<Node<'_>>> = HashMap::new();
    for package in &lock.packages {
        let node = (package.name.as_str(), package.version.as_str());
        let requirements: BTreeSet<Node<'_>> = package
            .build_requires
            .iter()
            .map(|pin| (pin.name.as_str(), pin.version.as_str()))
            .collect();
        *waiting_on.entry(node).or_default() += requirements.len();
        for requirement in requirements {
            needed_by.entry(requirement).or_default().push(node);
        }
    }
    let mut ready: BTreeSet<Node<'_>> = waiting_on
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(node, _)| *node)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(node) = ready.pop_first() {
        order.push(Pin {
            name: node.0.to_owned(),
            version: node.1.to_owned(),
        });
        waiting_on.remove(&node);
        if !nodes.contains(&node) {
            continue;
        }
        for dependent in needed_by.get(&node).map(Vec::as_slice).unwrap_or_default() {
            if let Some(count) = waiting_on.get_mut(dependent) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(*dependent);
                }
            }
        }
    }
    if waiting_on.is_empty() {
        Ok(order)
    } else {
        Err(top(
            "tool.offline-build.build-order",
            Problem::BuildCycle {
                packages: waiting_on
                    .keys()
                    .map(|(name, version)| format!("{name}=={version}"))
                    .collect(),
            },
        ))
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Safe as a file name, an sdist, and `name` at `version` (by normalized name).
pub(crate) fn sdist_filename(filename: &str, name: &str, version: &str) -> Result<(), Problem> {
    let refuse = |reason: &'static str| Problem::BadFilename {
        filename: filename.to_owned(),
        reason,
    };
    if filename.is_empty() {
        return Err(refuse("is empty"));
    }
    if filename.contains(['/', '\\', '\0']) {
        return Err(refuse("contains a path separator"));
    }
    if filename.starts_with('.') {
        return Err(refuse("starts with a dot"));
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
        .ok_or_else(|| refuse("does not end in .tar.gz or .zip"))?;
    let mismatch = || Problem::FilenameMismatch {
        filename: filename.to_owned(),
        name: name.to_owned(),
        version: version.to_owned(),
    };
    // The version has no `-` in normalized form, but the project part may (`python-dateutil`);
    // so split at the last `-` whose right side is the version.
    let (project, file_version) = stem.rsplit_once('-').ok_or_else(mismatch)?;
    if !file_version.eq_ignore_ascii_case(version)
        || !is_valid_name(project)
        || normalize_name(project) != normalize_name(name)
    {
        return Err(mismatch());
    }
    Ok(())
}

/// https anywhere; plain http only to loopback; no credentials; nothing else.
pub(crate) fn url(text: &str) -> Result<(), Problem> {
    let bad = |reason: &'static str| Problem::BadUrl {
        url: text.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(text).map_err(|_| bad("is not a valid URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("carries credentials"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(address)) => address.is_loopback(),
                Some(url::Host::Ipv6(address)) => address.is_loopback(),
                Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(Problem::InsecureUrl {
                    url: text.to_owned(),
                })
            }
        }
        _ => Err(bad("is neither https nor http")),
    }
}

/// Relative, inside the lock's directory, `/`-separated.
fn relative_path(path: &str) -> Result<(), Problem> {
    let unsafe_path = || Problem::UnsafePath {
        path: path.to_owned(),
    };
    if path.is_empty()
        || path.starts_with('/')
        || path.contains(['\\', '\0'])
        // A Windows drive (`C:`) is absolute there.
        || path.split('/').next().is_some_and(|first| first.contains(':'))
        || path.split('/').any(|component| component == "..")
    {
        return Err(unsafe_path());
    }
    Ok(())
}

/// A TOML offset date-time: PEP 751 writes times as TOML date-times, and a time without an
/// offset would mean different instants on different machines.
fn datetime(text: &str) -> Result<(), Problem> {
    match text.parse::<toml::value::Datetime>() {
        Ok(parsed) if parsed.date.is_some() && parsed.time.is_some() && parsed.offset.is_some() => {
            Ok(())
        }
        _ => Err(Problem::BadDatetime {
            found: text.to_owned(),
        }),
    }
}
