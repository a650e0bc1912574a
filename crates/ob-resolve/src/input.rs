//! What to resolve: requirement specs, requirements files (comments, continuations, nested
//! `-r`, `-c` constraints, environment markers, `--hash`) and a pyproject.toml's dependencies,
//! extras and PEP 735 groups, gathered into one list. Markers stay in the text: pip evaluates them
//! inside the container, against the image's Python.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::ResolveError;

/// Everything the resolve starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// Requirement strings (PEP 508), `--hash` options removed, in the order given.
    pub requirements: Vec<String>,
    /// Constraint strings from `-c` files.
    pub constraints: Vec<String>,
    /// Allowed sha256 values per normalized name, from `--hash=sha256:` options.
    pub hashes: BTreeMap<String, BTreeSet<String>>,
}

/// Where requirements come from (the `resolve` command's inputs).
#[derive(Debug, Clone, Default)]
pub struct RequirementSources {
    /// Specs given as arguments.
    pub specs: Vec<String>,
    /// `-r` files.
    pub requirement_files: Vec<PathBuf>,
    /// `--project` pyproject.toml.
    pub project: Option<PathBuf>,
    /// `--extra` names.
    pub extras: Vec<String>,
    /// `--group` names.
    pub groups: Vec<String>,
}

/// The normalized project name at the start of a requirement string.
pub fn requirement_name(requirement: &str) -> String {
    let end = requirement
        .find(|character: char| !(character.is_ascii_alphanumeric() || "-_.".contains(character)))
        .unwrap_or(requirement.len());
    ob_index::normalize_name(&requirement[..end])
}

impl RequirementSources {
    /// Reads every source into one [`Requirements`].
    pub fn read(&self) -> Result<Requirements, ResolveError> {
        let mut out = Requirements::default();
        for spec in &self.specs {
            add_requirement(&mut out, spec, "command line")?;
        }
        for file in &self.requirement_files {
            read_requirements_file(&mut out, file, false, &mut Vec::new())?;
        }
        if let Some(project) = &self.project {
            read_project(&mut out, project, &self.extras, &self.groups)?;
        }
        if out.requirements.is_empty() {
            return Err(ResolveError::NoRequirements);
        }
        Ok(out)
    }
}

fn add_requirement(out: &mut Requirements, line: &str, location: &str) -> Result<(), ResolveError> {
    let mut requirement = Vec::new();
    let mut hashes = Vec::new();
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if let Some(value) = word.strip_prefix("--hash=") {
            hashes.push(value.to_string());
        } else if word == "--hash" {
            match words.next() {
                Some(value) => hashes.push(value.to_string()),
                None => {
                    return Err(bad(
                        location,
                        "`--hash` without a value",
                        "write `--hash=sha256:<hex>`",
                    ));
                }
            }
        } else if word.starts_with("--") {
            return Err(bad(
                location,
                &format!("the per-requirement option `{word}` is not supported"),
                "remove it; only `--hash` is understood on a requirement line",
            ));
        } else {
            requirement.push(word);
        }
    }
    let requirement = requirement.join(" ");
    if requirement.is_empty() || requirement_name(&requirement).is_empty() {
        return Err(bad(
            location,
            &format!("`{line}` is not a requirement"),
            "write a PEP 508 requirement such as `idna==3.10`",
        ));
    }
    // Parsed here, on the host, before anything starts: a typo is the user's to fix (exit 1),
    // shown with a caret under the fault, not a failure of pip deep inside a container.
    let parsed = ob_build::metadata::parse_requirement(&requirement)
        .map_err(|err| {
            bad(
                location,
                &format!("`{requirement}` is not a PEP 508 requirement:\n{err}"),
                "write it as `name`, `name==1.0`, `name>=1,<2` or `name[extra]; python_version >= \"3.10\"`",
            )
        })?;
    let is_url = matches!(parsed.version_or_url, Some(pep508_rs::VersionOrUrl::Url(_)));
    if is_url
        || requirement.contains("://")
        || requirement.starts_with('.')
        || requirement.starts_with('/')
    {
        return Err(bad(
            location,
            &format!("`{requirement}` is a URL or path, not a requirement on the index"),
            "offline-build resolves against the package index only; name the project and version",
        ));
    }
    // What the resolver session refuses from any package, it refuses from the user too.
    if let Some(why) = crate::requirement::refusal(&requirement) {
        return Err(bad(
            location,
            &format!(
                "`{}` {why}, which resolve refuses",
                crate::requirement::shown(&requirement)
            ),
            "pin versions with `==` and keep a requirement under a thousand characters",
        ));
    }
    if !hashes.is_empty() {
        let name = requirement_name(&requirement);
        let set = out.hashes.entry(name).or_default();
        for hash in hashes {
            let Some(hex) = hash.strip_prefix("sha256:") else {
                return Err(bad(
                    location,
                    &format!("`--hash={hash}` is not a sha256 hash"),
                    "use `--hash=sha256:<64 hex digits>`",
                ));
            };
            set.insert(hex.to_ascii_lowercase());
        }
    }
    out.requirements.push(requirement);
    Ok(())
}

fn bad(location: &str, problem: &str, hint: &str) -> ResolveError {
    ResolveError::BadInput {
        location: location.to_string(),
        problem: problem.to_string(),
        hint: hint.to_string(),
    }
}

/// Logical lines: comments removed, `\` continuations joined; with their first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = index + 1;
        }
        // A comment starts at `#` at the line start or after whitespace (pip's rule).
        let without_comment = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(position) => &raw[..position],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        if let Some(continued) = without_comment.trim_end().strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(without_comment);
        let line = current.trim().to_string();
        current.clear();
        if !line.is_empty() {
            lines.push((start, line));
        }
    }
    if !current.trim().is_empty() {
        lines.push((start, current.trim().to_string()));
    }
    lines
}

fn read_requirements_file(
    out: &mut Requirements,
    path: &Path,
    as_constraints: bool,
    stack: &mut Vec<PathBuf>,
) -> Result<(), ResolveError> {
    if stack.iter().any(|seen| seen == path) {
        return Err(bad(
            &path.display().to_string(),
            "the file includes itself (through -r or -c)",
            "remove the circular include",
        ));
    }
    let text = fs_err::read_to_string(path).map_err(|source| ResolveError::ReadInput {
        path: path.to_path_buf(),
        source: std::io::Error::new(source.kind(), source),
    })?;
    stack.push(path.to_path_buf());
    let directory = path.parent().unwrap_or(Path::new("."));
    for (number, line) in logical_lines(&text) {
        let location = format!("{}:{number}", path.display());
        let (option, rest) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((option, rest)) if option.starts_with('-') => (option, rest.trim()),
            _ if line.starts_with('-') => (line.as_str(), ""),
            _ => ("", line.as_str()),
        };
        match option {
            "" => {
                if as_constraints {
                    let mut constraint = Requirements::default();
                    add_requirement(&mut constraint, rest, &location)?;
                    out.constraints.extend(constraint.requirements);
                } else {
                    add_requirement(out, rest, &location)?;
                }
            }
            "-r" | "--requirement" | "-c" | "--constraint" => {
                if rest.is_empty() {
                    return Err(bad(
                        &location,
                        &format!("`{option}` without a file"),
                        "name the file",
                    ));
                }
                let nested = directory.join(rest);
                let constraints = as_constraints || option == "-c" || option == "--constraint";
                read_requirements_file(out, &nested, constraints, stack)?;
            }
            _ => {
                return Err(bad(
                    &location,
                    &format!("the option `{option}` is not supported in requirements files"),
                    "remove it: the index is chosen with `--index-url`, and only sdists are ever used",
                ));
            }
        }
    }
    stack.pop();
    Ok(())
}

fn read_project(
    out: &mut Requirements,
    path: &Path,
    extras: &[String],
    groups: &[String],
) -> Result<(), ResolveError> {
    let text = fs_err::read_to_string(path).map_err(|source| ResolveError::ReadInput {
        path: path.to_path_buf(),
        source: std::io::Error::new(source.kind(), source),
    })?;
    let location = path.display().to_string();
    let document: toml::Table = toml::from_str(&text).map_err(|err| {
        bad(
            &location,
            &format!("not valid TOML: {}", err.message()),
            "fix the file's syntax",
        )
    })?;
    let project = document.get("project").and_then(toml::Value::as_table);
    let strings = |value: Option<&toml::Value>, what: &str| -> Result<Vec<String>, ResolveError> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        value
            .as_array()
            .ok_or_else(|| {
                bad(
                    &location,
                    &format!("{what} is not an array"),
                    "make it a list of requirement strings",
                )
            })?
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    bad(
                        &location,
                        &format!("{what} holds a non-string"),
                        "make it a list of requirement strings",
                    )
                })
            })
            .collect()
    };
    for requirement in strings(
        project.and_then(|project| project.get("dependencies")),
        "[project].dependencies",
    )? {
        add_requirement(
            out,
            &requirement,
            &format!("{location} [project].dependencies"),
        )?;
    }
    let optional = project
        .and_then(|project| project.get("optional-dependencies"))
        .and_then(toml::Value::as_table);
    for extra in extras {
        let wanted = ob_index::normalize_name(extra);
        let found = optional.and_then(|table| {
            table
                .iter()
                .find(|(name, _)| ob_index::normalize_name(name) == wanted)
                .map(|(_, value)| value)
        });
        let Some(found) = found else {
            return Err(bad(
                &location,
                &format!("there is no extra `{extra}` in [project.optional-dependencies]"),
                "check the name given to --extra",
            ));
        };
        for requirement in strings(Some(found), &format!("extra `{extra}`"))? {
            add_requirement(out, &requirement, &format!("{location} extra `{extra}`"))?;
        }
    }
    let dependency_groups = document
        .get("dependency-groups")
        .and_then(toml::Value::as_table);
    for group in groups {
        for requirement in group_requirements(dependency_groups, group, &location, &mut Vec::new())?
        {
            add_requirement(out, &requirement, &format!("{location} group `{group}`"))?;
        }
    }
    Ok(())
}

/// PEP 735: a group is a list of requirement strings and `{include-group = "name"}` tables.
fn group_requirements(
    groups: Option<&toml::Table>,
    group: &str,
    location: &str,
    stack: &mut Vec<String>,
) -> Result<Vec<String>, ResolveError> {
    let wanted = ob_index::normalize_name(group);
    if stack.contains(&wanted) {
        return Err(bad(
            location,
            &format!("dependency group `{group}` includes itself"),
            "remove the circular include-group",
        ));
    }
    let Some(items) = groups.and_then(|groups| {
        groups
            .iter()
            .find(|(name, _)| ob_index::normalize_name(name) == wanted)
            .and_then(|(_, value)| value.as_array())
    }) else {
        return Err(bad(
            location,
            &format!("there is no dependency group `{group}` in [dependency-groups]"),
            "check the name given to --group",
        ));
    };
    stack.push(wanted);
    let mut requirements = Vec::new();
    for item in items {
        if let Some(requirement) = item.as_str() {
            requirements.push(requirement.to_string());
        } else if let Some(included) = item
            .as_table()
            .and_then(|table| table.get("include-group"))
            .and_then(toml::Value::as_str)
        {
            requirements.extend(group_requirements(groups, included, location, stack)?);
        } else {
            return Err(bad(
                location,
                &format!(
                    "dependency group `{group}` holds an entry that is neither a string nor an include-group"
                ),
                "see PEP 735 for the format",
            ));
        }
    }
    stack.pop();
    Ok(requirements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs_err::write(&path, text).unwrap();
        path
    }

    #[test]
    fn requirements_file_with_comments_continuations_nesting_constraints_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "constraints.txt", "urllib3<3 # keep\n");
        write(
            dir.path(),
            "base.txt",
            "-c constraints.txt\nidna==3.10 \\\n    --hash=sha256:ABCD\n",
        );
        let main = write(
            dir.path(),
            "requirements.txt",
            "# top\n-r base.txt\nrequests>=2; python_version >= \"3.8\"  # why\n\nattrs\n",
        );
        let sources = RequirementSources {
            specs: vec!["flask==3.0.3".into()],
            requirement_files: vec![main],
            ..RequirementSources::default()
        };
        let read = sources.read().unwrap();
        assert_eq!(
            read.requirements,
            [
                "flask==3.0.3",
                "idna==3.10",
                "requests>=2; python_version >= \"3.8\"",
                "attrs"
            ]
        );
        assert_eq!(read.constraints, ["urllib3<3"]);
        assert_eq!(read.hashes["idna"], BTreeSet::from(["abcd".to_string()]));
    }

    /// The message with which reading a requirements file holding `text` fails, and the file.
    fn refusal_of(text: &str) -> (PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "r.txt", text);
        let err = RequirementSources {
            requirement_files: vec![file.clone()],
            ..RequirementSources::default()
        }
        .read()
        .unwrap_err();
        (file, err.to_string())
    }

    #[test]
    fn unsupported_option_names_file_and_line() {
        let (file, message) = refusal_of("idna\n--extra-index-url http://127.0.0.1:1/simple\n");
        assert!(
            message.contains(&format!("{}:2", file.display())),
            "{message}"
        );
        assert!(message.contains("hint:"), "{message}");
    }

    /// Regression (found by the requirements fuzzer): pep508_rs's own error display panicked
    /// on a byte order mark before the fault.
    #[test]
    fn a_multi_byte_character_before_the_fault_is_shown_not_a_panic() {
        let (_, message) = refusal_of("requests >= 2.0 \u{feff}\u{e9}\u{202e}\n");
        assert!(
            message.contains("is not a PEP 508 requirement"),
            "{message}"
        );
        assert!(message.contains('^'), "{message}");
    }

    #[test]
    fn arbitrary_equality_is_refused_on_the_host() {
        let (file, message) = refusal_of("idna\nfoo===1.0\n");
        assert!(
            message.contains(&format!("{}:2", file.display())),
            "{message}"
        );
        assert!(message.contains("uses `===`"), "{message}");
    }

    #[test]
    fn project_dependencies_extras_and_groups() {
        let dir = tempfile::tempdir().unwrap();
        let project = write(
            dir.path(),
            "pyproject.toml",
            r#"
[project]
name = "app"
version = "1"
dependencies = ["idna>=3"]
[project.optional-dependencies]
Socks = ["pysocks"]
[dependency-groups]
test = ["pytest", {include-group = "lint"}]
lint = ["ruff"]
"#,
        );
        let read = RequirementSources {
            project: Some(project.clone()),
            extras: vec!["socks".into()],
            groups: vec!["test".into()],
            ..RequirementSources::default()
        }
        .read()
        .unwrap();
        assert_eq!(read.requirements, ["idna>=3", "pysocks", "pytest", "ruff"]);
        let err = RequirementSources {
            project: Some(project),
            groups: vec!["docs".into()],
            ..RequirementSources::default()
        }
        .read()
        .unwrap_err();
        assert!(
            err.to_string().contains("no dependency group `docs`"),
            "{err}"
        );
    }

    #[test]
    fn nothing_to_resolve_is_an_error() {
        let err = RequirementSources::default().read().unwrap_err();
        assert!(matches!(err, ResolveError::NoRequirements));
    }
}
