//! Semantic checks of a [`Lock`]: names, hashes, file names, URLs and paths, build requirements
//! and build order. Everything a later stage relies on is checked here once, so `fetch` and
//! `build` can trust what they read.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::error::{LockError, Problem};
use crate::model::{Lock, Package, Sdist, is_valid_name, is_valid_version, normalize_name};

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

    let mut versions: HashMap<&str, &str> = HashMap::new();
    for package in &lock.packages {
        package_alone(package)?;
        if versions
            .insert(package.name.as_str(), package.version.as_str())
            .is_some()
        {
            return Err(in_package(package, "name", Problem::DuplicatePackage));
        }
    }
    for package in &lock.packages {
        references(package, &versions)?;
    }
    let by_name: HashMap<&str, &Package> = lock
        .packages
        .iter()
        .map(|package| (package.name.as_str(), package))
        .collect();
    for package in &lock.packages {
        closures(package, &by_name)?;
    }
    build_order(lock)
}

/// What a plain install or a build environment gets must be complete: a runtime package's
/// dependencies are installed by default too (not build-only), and a build environment holds
/// the run-time dependencies of every build requirement (build installs exactly that set).
fn closures(package: &Package, by_name: &HashMap<&str, &Package>) -> Result<(), LockError> {
    if !package.build_only {
        for dependency in &package.dependencies {
            if by_name
                .get(dependency.as_str())
                .is_some_and(|d| d.build_only)
            {
                return Err(in_package(
                    package,
                    "dependencies",
                    Problem::RuntimeNeedsBuildOnly {
                        dependency: dependency.clone(),
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
        let Some(requirement) = by_name.get(pin.name.as_str()) else {
            continue;
        };
        if let Some(missing) = requirement
            .dependencies
            .iter()
            .find(|dependency| !environment.contains(dependency.as_str()))
        {
            return Err(in_package(
                package,
                "tool.offline-build.build-requires",
                Problem::IncompleteBuildEnvironment {
                    requirement: pin.name.clone(),
                    missing: missing.clone(),
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
    sdist(package, &package.sdist)
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
    if let Some(upload_time) = &sdist.upload_time {
        datetime(upload_time)
            .map_err(|problem| in_package(package, "sdist.upload-time", problem))?;
    }
    if sdist.size == 0 {
        return Err(in_package(package, "sdist.size", Problem::ZeroSize));
    }
    if i64::try_from(sdist.size).is_err() {
        return Err(in_package(package, "sdist.size", Problem::OutOfRange));
    }
    if sdist.sha256.is_empty() {
        return Err(in_package(
            package,
            "sdist.hashes.sha256",
            Problem::MissingSha256,
        ));
    }
    if !is_sha256(&sdist.sha256) {
        return Err(in_package(
            package,
            "sdist.hashes.sha256",
            Problem::BadSha256 {
                found: sdist.sha256.clone(),
            },
        ));
    }
    Ok(())
}

/// Build requirements and dependencies must name packages of this lock, at the locked version.
fn references(package: &Package, versions: &HashMap<&str, &str>) -> Result<(), LockError> {
    let field = "tool.offline-build.build-requires";
    let mut seen = HashSet::new();
    for pin in &package.build_requires {
        let entry = format!("{}=={}", pin.name, pin.version);
        if !is_valid_name(&pin.name) || !is_valid_version(&pin.version) {
            return Err(in_package(package, field, Problem::BadPin { found: entry }));
        }
        normalized_name(&pin.name).map_err(|problem| in_package(package, field, problem))?;
        if pin.name == package.name {
            return Err(in_package(package, field, Problem::BuildRequiresItself));
        }
        if !seen.insert(pin.name.as_str()) {
            return Err(in_package(
                package,
                field,
                Problem::DuplicateEntry { entry },
            ));
        }
        match versions.get(pin.name.as_str()) {
            None => return Err(in_package(package, field, Problem::NotLocked { entry })),
            Some(locked) if *locked != pin.version => {
                return Err(in_package(
                    package,
                    field,
                    Problem::PinVersionMismatch {
                        pin: entry,
                        locked: (*locked).to_owned(),
                    },
                ));
            }
            Some(_) => {}
        }
    }
    let mut seen = HashSet::new();
    for dependency in &package.dependencies {
        normalized_name(dependency)
            .map_err(|problem| in_package(package, "dependencies", problem))?;
        if !seen.insert(dependency.as_str()) {
            return Err(in_package(
                package,
                "dependencies",
                Problem::DuplicateEntry {
                    entry: dependency.clone(),
                },
            ));
        }
        if !versions.contains_key(dependency.as_str()) {
            return Err(in_package(
                package,
                "dependencies",
                Problem::NotLocked {
                    entry: dependency.clone(),
                },
            ));
        }
    }
    Ok(())
}

fn build_order(lock: &Lock) -> Result<(), LockError> {
    let field = "tool.offline-build.build-order";
    let bad = |detail: String| top(field, Problem::BadBuildOrder { detail });
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, name) in lock.tool.build_order.iter().enumerate() {
        if lock
            .package(name)
            .is_none_or(|package| package.name != *name)
        {
            return Err(bad(format!("`{name}` is not a package of the lock")));
        }
        if position.insert(name.as_str(), index).is_some() {
            return Err(bad(format!("`{name}` is listed more than once")));
        }
    }
    for package in &lock.packages {
        let Some(&own) = position.get(package.name.as_str()) else {
            return Err(bad(format!("package `{}` is missing", package.name)));
        };
        for pin in &package.build_requires {
            // References were checked before: every pin names a package of the lock.
            if position
                .get(pin.name.as_str())
                .is_some_and(|&other| other > own)
            {
                return Err(bad(format!(
                    "`{}` comes before its build requirement `{}`",
                    package.name, pin.name
                )));
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm over build requirements, the smallest ready name first.
pub(crate) fn canonical_build_order(lock: &Lock) -> Result<Vec<String>, LockError> {
    let names: BTreeSet<&str> = lock.packages.iter().map(|p| p.name.as_str()).collect();
    let mut waiting_on: BTreeMap<&str, usize> = BTreeMap::new();
    let mut needed_by: HashMap<&str, Vec<&str>> = HashMap::new();
    for package in &lock.packages {
        let requirements: BTreeSet<&str> = package
            .build_requires
            .iter()
            .map(|pin| pin.name.as_str())
            .collect();
        *waiting_on.entry(package.name.as_str()).or_default() += requirements.len();
        for requirement in requirements {
            needed_by
                .entry(requirement)
                .or_default()
                .push(package.name.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = waiting_on
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order = Vec::with_capacity(names.len());
    while let Some(name) = ready.pop_first() {
        order.push(name.to_owned());
        waiting_on.remove(name);
        if !names.contains(name) {
            continue;
        }
        for dependent in needed_by.get(name).map(Vec::as_slice).unwrap_or_default() {
            if let Some(count) = waiting_on.get_mut(dependent) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(dependent);
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
                packages: waiting_on.keys().map(|name| (*name).to_owned()).collect(),
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
