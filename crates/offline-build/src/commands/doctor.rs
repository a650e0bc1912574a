//! `offline-build doctor`: checks what the stages need from this machine and says, for each
//! failing check, what to do. Exit 0 only when nothing failed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::exit::Exit;
use crate::printer::Printer;

/// Oldest Docker Engine API we support (Docker 20.10).
const MIN_API_VERSION: (u32, u32) = (1, 41);

#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// One line of the report; also the `--json` format (a list of these).
#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl Check {
    fn ok(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
        }
    }
    fn warn(check: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
    fn fail(check: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

pub async fn exec(args: DoctorArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let mut checks = Vec::new();
    checks.extend(check_docker_and_image(args.image.image.as_deref()).await);
    checks.push(check_debootstrap());
    checks.push(check_index(args.index_url.as_deref()));
    checks.push(check_trust_store());
    checks.push(check_proxies());

    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for check in &checks {
            let status = match check.status {
                Status::Ok => console::style("ok  ").green(),
                Status::Warn => console::style("warn").yellow(),
                Status::Fail => console::style("FAIL").red().bold(),
            };
            printer.info(format!("{status}  {:<12} {}", check.check, check.detail));
            if let Some(hint) = &check.hint {
                printer.info(format!("      {:<12} hint: {hint}", ""));
            }
        }
    }
    if checks.iter().any(|check| check.status == Status::Fail) {
        Ok(Exit::Failure)
    } else {
        Ok(Exit::Success)
    }
}

async fn check_docker_and_image(image: Option<&str>) -> Vec<Check> {
    let sandbox = match ob_sandbox::Sandbox::connect().await {
        Ok(sandbox) => sandbox,
        Err(err) => {
            return vec![
                Check::fail(
                    "docker",
                    format!("{err:#}")
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    "start dockerd (or point DOCKER_HOST at a running daemon); `docker version` checks it",
                ),
                Check::fail(
                    "image",
                    "not checked: Docker is unreachable",
                    "fix Docker first",
                ),
            ];
        }
    };
    let mut checks = Vec::new();
    match sandbox.docker().version().await {
        Ok(version) => {
            let api = version.api_version.clone().unwrap_or_default();
            let engine = version.version.clone().unwrap_or_default();
            if parse_api_version(&api).is_some_and(|api| api >= MIN_API_VERSION) {
                checks.push(Check::ok(
                    "docker",
                    format!("Docker Engine {engine}, API {api}"),
                ));
            } else {
                checks.push(Check::fail(
                    "docker",
                    format!("Docker Engine {engine} speaks API {api}, older than 1.41"),
                    "upgrade to Docker Engine 20.10 or newer",
                ));
            }
        }
        Err(err) => checks.push(Check::fail(
            "docker",
            format!("the daemon answered a ping but not a version request: {err}"),
            "check `docker version`",
        )),
    }
    // gVisor is optional: without it, containers run under the daemon's default runtime.
    match sandbox.runtimes().await {
        Ok(runtimes) if runtimes.iter().any(|name| name == "runsc") => checks.push(Check::ok(
            "runtimes",
            format!(
                "{}; gVisor is available with `--runtime runsc`",
                runtimes.join(", ")
            ),
        )),
        Ok(runtimes) => checks.push(Check::warn(
            "runtimes",
            format!("{}; gVisor's runsc is not registered", runtimes.join(", ")),
            "optional: `apt-get install runsc` and register it in /etc/docker/daemon.json \
             (docs/security.md, gVisor) to run packages' code on a user-space kernel",
        )),
        Err(err) => checks.push(Check::warn(
            "runtimes",
            format!("the daemon did not list its runtimes: {err}"),
            "check `docker info`",
        )),
    }
    let reference = image.unwrap_or(ob_sandbox::image::DEFAULT_IMAGE);
    match ob_sandbox::image::inspect(&sandbox, reference).await {
        Ok(Some(info)) => checks.push(Check::ok(
            "image",
            format!(
                "{} {} (Python {}, {})",
                info.reference, info.digest, info.python_version, info.platform
            ),
        )),
        Ok(None) if image.is_none() => checks.push(Check::fail(
            "image",
            format!("the builder image `{reference}` does not exist"),
            "run `offline-build image create` (about two minutes)",
        )),
        Ok(None) => checks.push(Check::fail(
            "image",
            format!("the image `{reference}` does not exist"),
            "load it into Docker, or omit --image to use the default builder image",
        )),
        Err(err) => checks.push(Check::fail(
            "image",
            format!("{err}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            "check that the image has python3 and a C compiler",
        )),
    }
    checks
}

fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// debootstrap is needed only to make the default builder image.
fn check_debootstrap() -> Check {
    match find_program("debootstrap") {
        Some(path) => Check::ok("debootstrap", format!("{}", path.display())),
        None => Check::warn(
            "debootstrap",
            "not installed (needed only by `offline-build image create`)",
            "`image create` installs it with apt when run as root; or `apt-get install debootstrap`",
        ),
    }
}

fn check_index(cli_value: Option<&str>) -> Check {
    let index = match cli_value {
        Some(value) => ob_index::IndexUrl::parse(value, ob_index::IndexSource::CommandLine),
        None => ob_index::default_index_url(),
    };
    match index {
        Ok(index) => Check::ok("index", format!("{index} (from {})", index.source())),
        Err(err) => Check::fail(
            "index",
            format!("{err}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            "set PIP_INDEX_URL or `index-url` in pip's configuration, or pass --index-url",
        ),
    }
}

/// The host's HTTPS clients use the system trust store, or `SSL_CERT_FILE` when set.
fn check_trust_store() -> Check {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|value| !value.is_empty()) {
        let file = PathBuf::from(file);
        return match count_certificates(&file) {
            Some(count) if count > 0 => Check::ok(
                "trust store",
                format!("SSL_CERT_FILE={} ({count} certificates)", file.display()),
            ),
            _ => Check::fail(
                "trust store",
                format!(
                    "SSL_CERT_FILE={} holds no readable certificate",
                    file.display()
                ),
                "point SSL_CERT_FILE at a PEM bundle, or unset it to use the system store",
            ),
        };
    }
    let system = Path::new("/etc/ssl/certs/ca-certificates.crt");
    match count_certificates(system) {
        Some(count) if count > 0 => Check::ok(
            "trust store",
            format!("system store {} ({count} certificates)", system.display()),
        ),
        _ => Check::warn(
            "trust store",
            format!("no system bundle at {}", system.display()),
            "install ca-certificates, or set SSL_CERT_FILE to a PEM bundle",
        ),
    }
}

fn count_certificates(path: &Path) -> Option<usize> {
    let text = fs_err::read_to_string(path).ok()?;
    Some(text.matches("-----BEGIN CERTIFICATE-----").count())
}

/// Proxies are honoured for fetch and for the resolve proxy's upstream; say which are set, without
/// any credentials they carry.
fn check_proxies() -> Check {
    let set: Vec<String> = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ]
    .iter()
    .filter_map(|name| {
        let value = std::env::var(name).ok().filter(|value| !value.is_empty())?;
        Some(format!("{name}={}", redact_userinfo(&value)))
    })
    .collect();
    if set.is_empty() {
        Check::ok("proxy", "none set (direct connections)")
    } else {
        Check::ok("proxy", set.join(" "))
    }
}

fn redact_userinfo(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_string();
    };
    match rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority)
        .rsplit_once('@')
    {
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => value.to_string(),
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}
