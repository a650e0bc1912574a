//! Locked-down containers on the Docker Engine (API 1.41 and newer, through bollard), and the
//! default builder image they run in. This is the only crate that talks to Docker; the resolve
//! and build stages describe what to run with a [`RunSpec`] and get lines and an exit code back.
//!
//! Every container gets the same profile, whatever the caller asks: no network (or one named
//! network, for resolve), a read-only root file system, a size-limited tmpfs `/tmp`, uid
//! [`SANDBOX_USER`], all capabilities dropped, `no-new-privileges`, memory/pids/CPU limits,
//! read-only input mounts and one writable output mount, no environment from the host, and
//! labels that mark it as ours. It is removed however the run ends.
//!
//! ```no_run
//! use ob_sandbox::{image, Mount, OutputLine, RunSpec, Sandbox};
//!
//! # async fn example() -> Result<(), ob_sandbox::SandboxError> {
//! let sandbox = Sandbox::connect().await?;
//! sandbox.remove_leftovers().await?; // containers of an earlier, killed run
//! let builder = image::require(&sandbox, None).await?; // fails with "run `offline-build image create`"
//! let mut spec = RunSpec::new(
//!     builder.reference.as_str(),
//!     vec!["python3".into(), "-c".into(), "print('hello')".into()],
//!     "example",
//! );
//! spec.inputs.push(Mount::new("/srv/wheelhouse", "/wheelhouse"));
//! spec.output = Some(Mount::new("/srv/out/idna", "/out"));
//! let outcome = sandbox
//!     .run(&spec, |line| match line {
//!         OutputLine::Stdout(line) => println!("{line}"),
//!         OutputLine::Stderr(line) => eprintln!("{line}"),
//!     })
//!     .await?;
//! assert!(outcome.success());
//! # Ok(())
//! # }
//! ```
//!
//! Podman: only `DOCKER_HOST` is honoured (e.g. `unix:///run/podman/podman.sock`); nothing else
//! was verified, Podman is not installed on the development machines.

#![forbid(unsafe_code)]

mod apt;
pub mod debian_contents;
mod error;
mod executor;
pub mod image;
mod output;
mod rootfs;
mod run;
mod sandbox;

pub use error::SandboxError;
pub use executor::{Executor, RunFuture};
pub use output::OutputDir;
pub use run::{
    DEFAULT_PATH, Limits, Mount, Network, OutputLine, RunOutcome, RunSpec, SANDBOX_USER,
};
pub use sandbox::{
    EXPIRY_GRACE, InternalNetwork, LABEL_EXPIRES, LABEL_OWNER_BOOT, LABEL_OWNER_PID,
    LABEL_OWNER_PIDNS, LABEL_RUN, Sandbox, settle_cleanups, until_interrupted,
};

/// Re-exported so callers can reach [`Sandbox::docker`]'s type without depending on bollard.
pub use bollard;
