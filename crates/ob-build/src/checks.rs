//! The optional checks after a successful build: every package built a second time in fresh
//! containers (never from the cache) and compared, and the runtime set installed offline from
//! the output directory in a fresh container and imported.

use std::path::Path;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ob_sandbox::{Mount, OutputLine, RunSpec};

use crate::driver::{DIST_DIR, Mode, STAGE_MOUNT, VERIFY_INSTALL_PATH};
use crate::error::BuildError;
use crate::report::{BuildReport, InstallCheck, PackageReport, Reproducibility};
use crate::schedule::{LOGS_DIR, Run};
use crate::step::{StepRequest, StepResult};

impl Run<'_> {
    /// Builds every package again in fresh containers and compares the wheels.
    pub async fn check_reproducible(&self, report: &mut BuildReport) -> Result<(), BuildError> {
        let jobs = self.jobs.max(1);
        // A prebuilt wheel was not built here: its bytes are pinned, there is nothing to redo.
        let mut pending: Vec<usize> = (0..report.packages.len())
            .filter(|&i| report.packages[i].status != crate::report::PackageStatus::Prebuilt)
            .collect();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < jobs {
                let Some(i) = pending.pop() else { break };
                let entry = report.packages[i].clone();
                running.push(async move {
                    let result = self.second_build(&entry).await;
                    (i, result)
                });
            }
            let Some((i, result)) = running.next().await else {
                break;
            };
            report.packages[i].reproducible = Some(result?);
        }
        Ok(())
    }

    async fn second_build(&self, first: &PackageReport) -> Result<Reproducibility, BuildError> {
        let log_name = format!("{LOGS_DIR}/{}-{}.check.log", first.name, first.version);
        let Some(id) = self.id_of(&first.name, &first.version) else {
            return Ok(Reproducibility {
                identical: false,
                second_sha256: None,
                differences: vec!["the package is not in the lock".to_owned()],
                log: log_name,
            });
        };
        let environment = self.environment(&first.build_requires);
        let sdist = self.sdist(id);
        let outcome = self
            .builder
            .step(StepRequest {
                name: &first.name,
                version: &first.version,
                sdist: &sdist,
                environment: &environment,
                mode: Mode::Build,
                log: &self.out.join(&log_name),
                use_cache: false,
            })
            .await?;
        Ok(match outcome.result {
            StepResult::Wheel(second) => {
                let identical = Some(&second.sha256) == first.wheel_sha256.as_ref()
                    && Some(&second.filename) == first.wheel.as_ref();
                let differences = if identical {
                    Vec::new()
                } else {
                    let first_path = self.out.join(first.wheel.clone().unwrap_or_default());
                    zip_differences(&first_path, &second.path)
                };
                Reproducibility {
                    identical,
                    second_sha256: Some(second.sha256),
                    differences,
                    log: log_name,
                }
            }
            StepResult::Failed(failure) => Reproducibility {
                identical: false,
                second_sha256: None,
                differences: vec![format!("the second build failed: {failure}")],
                log: log_name,
            },
            StepResult::Requirements | StepResult::Metadata(_) => Reproducibility {
                identical: false,
                second_sha256: None,
                differences: vec!["the second build left no wheel".to_owned()],
                log: log_name,
            },
        })
    }

    fn id_of(&self, name: &str, version: &str) -> Option<crate::graph::PackageId> {
        self.lock
            .packages
            .iter()
            .position(|package| package.name == name && package.version == version)
            .map(crate::graph::PackageId::at)
    }

    /// Installs the runtime set from the output directory into a fresh venv in a new
    /// network-less container (pip, `--no-index`), and imports every top-level module.
    pub async fn verify_install(&self, report: &BuildReport) -> Result<InstallCheck, BuildError> {
        let runtime: Vec<&PackageReport> =
            self.lock
                .runtime_packages()
                .filter_map(|package| {
                    report.packages.iter().find(|entry| {
                        entry.name == package.name && entry.version == package.version
                    })
                })
                .collect();
        let requirements: Vec<String> = runtime
            .iter()
            .map(|entry| format!("{}=={}", entry.name, entry.version))
            .collect();
        let mut modules: Vec<String> = runtime
            .iter()
            .flat_map(|entry| entry.top_level.iter().cloned())
            .collect();
        modules.sort();
        modules.dedup();
        let log_name = format!("{LOGS_DIR}/verify-install.log");
        let job = serde_json::json!({
            "dist": DIST_DIR,
            "requirements": requirements,
            "modules": modules,
        });
        // Each runtime wheel on its own, hashed as it is mounted (like a build environment's):
        // what is installed is exactly what was checked, whatever else lies in the directory.
        let mut inputs = vec![Mount::new(self.builder.stage_dir(), STAGE_MOUNT)];
        for entry in &runtime {
            let (Some(wheel), Some(expected)) = (&entry.wheel, &entry.wheel_sha256) else {
                continue;
            };
            let path = self.out.join(wheel);
            let found = crate::files::sha256_file(&path).map_err(BuildError::io("hash", &path))?;
            if &found != expected {
                return Err(BuildError::ChangedWheel {
                    path,
                    expected: expected.clone(),
                    found,
                });
            }
            let absolute = std::path::absolute(&path).map_err(BuildError::io("find", &path))?;
            inputs.push(Mount::new(absolute, format!("{DIST_DIR}/{wheel}")));
        }
        let mut spec = RunSpec::new(
            self.builder.image().to_owned(),
            vec![
                "python3".to_owned(),
                "-I".to_owned(),
                VERIFY_INSTALL_PATH.to_owned(),
                job.to_string(),
            ],
            "build:verify-install",
        );
        spec.runtime = self.builder.runtime().map(str::to_owned);
        spec.inputs = inputs;
        let log_path = self.out.join(&log_name);
        // Capped like a step's log: the modules imported here are third-party code.
        let mut log = crate::step::CappedLog::new(std::io::BufWriter::new(
            fs_err::File::create(&log_path).map_err(BuildError::io("create", &log_path))?,
        ));
        let mut log_error = None;
        let mut on_line = |line: OutputLine| {
            let text = match line {
                OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
            };
            if let Err(err) = log.line(&text) {
                log_error.get_or_insert(err);
            }
        };
        let outcome = self
            .builder
            .executor()
            .run(&spec, &mut on_line)
            .await
            .map_err(|source| BuildError::Sandbox {
                action: "verifying the install".to_owned(),
                source,
            })?;
        if let Some(err) = log_error.or_else(|| log.finish().err()) {
            return Err(BuildError::io("write", &log_path)(err));
        }
        Ok(InstallCheck {
            ok: outcome.success(),
            requirements,
            modules,
            log: log_name,
        })
    }
}

/// How two wheels differ: entries added, removed or changed, or, when every entry is the same,
/// that only the zip's own metadata (times, order, compression) differs.
fn zip_differences(first: &Path, second: &Path) -> Vec<String> {
    let entries = |path: &Path| -> Result<Vec<(String, u32, u64)>, String> {
        let file = fs_err::File::open(path).map_err(|err| err.to_string())?;
        let mut archive = zip::ZipArchive::new(file).map_err(|err| err.to_string())?;
        let mut list = Vec::new();
        for index in 0..archive.len() {
            let entry = archive.by_index_raw(index).map_err(|err| err.to_string())?;
            list.push((entry.name().to_owned(), entry.crc32(), entry.size()));
        }
        list.sort();
        Ok(list)
    };
    let (first, second) = match (entries(first), entries(second)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(err), _) | (_, Err(err)) => return vec![format!("could not compare: {err}")],
    };
    let mut differences = Vec::new();
    for (name, crc, size) in &first {
        match second.iter().find(|(other, _, _)| other == name) {
            None => differences.push(format!("removed {name}")),
            Some((_, other_crc, other_size)) if (other_crc, other_size) != (crc, size) => {
                differences.push(format!("changed {name}"));
            }
            Some(_) => {}
        }
    }
    for (name, _, _) in &second {
        if !first.iter().any(|(other, _, _)| other == name) {
            differences.push(format!("added {name}"));
        }
    }
    if differences.is_empty() {
        differences.push(
            "same entries and contents; the zip metadata (times, order or compression) differs"
                .to_owned(),
        );
    }
    differences
}
