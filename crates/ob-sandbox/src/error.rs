//! The one error type of this crate. Every variant names the thing it is about (the Docker host,
//! the image, the path, the command) and keeps the underlying cause in `#[source]`.

use std::path::PathBuf;

/// Everything that can go wrong while talking to Docker or making the builder image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The Docker daemon did not answer at `host` (from `DOCKER_HOST`, else the default socket).
    #[error(
        "cannot reach the Docker daemon at `{host}`\n\n\
         hint: is dockerd running, does DOCKER_HOST point at it, and may this user use it (root \
         or the docker group)? `docker version` checks all three"
    )]
    Unreachable {
        /// Where we looked for the daemon.
        host: String,
        /// What the client reported.
        #[source]
        source: bollard::errors::Error,
    },

    /// A Docker API call failed; `action` says which one and on what.
    #[error("Docker could not {action}")]
    Docker {
        /// What we asked Docker to do, e.g. "create a container from `offline-build/builder:trixie`".
        action: String,
        /// The daemon's answer.
        #[source]
        source: bollard::errors::Error,
    },

    /// Docker answered, but not as its API promises.
    #[error("Docker could not {action}: {detail}")]
    Unexpected {
        /// What we asked Docker to do.
        action: String,
        /// What was wrong with the answer.
        detail: String,
    },

    /// The image a command needs is not in the local Docker image store.
    #[error("the image `{reference}` does not exist in Docker\n\nhint: {hint}")]
    ImageMissing {
        /// The image reference that was looked up.
        reference: String,
        /// What to do next: `offline-build image create` for the default builder image.
        hint: String,
    },

    /// The image exists but cannot serve as a builder (no python3, or it printed nonsense).
    #[error(
        "the image `{reference}` cannot be used to build: {detail}\n\n\
         hint: use an image that has python3 and a C compiler, or omit --image to use the default \
         builder image"
    )]
    ImageUnusable {
        /// The image reference.
        reference: String,
        /// What went wrong, including what python3 printed.
        detail: String,
    },

    /// A bind-mount source is unusable (missing, not absolute, or not a directory).
    #[error("cannot mount `{}` at `{target}` in the container: {problem}", source_path.display())]
    Mount {
        /// The host path.
        source_path: PathBuf,
        /// Where it was to appear in the container.
        target: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A file-system operation on the host failed (the message names the file).
    #[error("{context}")]
    Io {
        /// What we were doing, naming the path.
        context: String,
        /// The cause, from `fs-err` (which names the path again).
        #[source]
        source: std::io::Error,
    },

    /// A host program needed to make the image is missing.
    #[error("`{program}` is not installed\n\nhint: {hint}")]
    ProgramMissing {
        /// The program, e.g. `debootstrap`.
        program: String,
        /// The exact command that installs it, and what to run afterwards.
        hint: String,
    },

    /// Making the builder image needs root (debootstrap and chroot do).
    #[error(
        "`offline-build image create` must run as root (debootstrap needs it)\n\n\
         hint: run `sudo offline-build image create`"
    )]
    NotRoot,

    /// A name given to `image create --with` that cannot be a Debian package.
    #[error(
        "`{name}` is not a Debian package name\n\n\
         hint: name packages as `apt-cache search` shows them, e.g. `--with libgdal-dev`"
    )]
    BadPackageName {
        /// What was given.
        name: String,
    },

    /// No Debian mirror was given and none was found in the host's apt sources.
    #[error(
        "no Debian mirror found in the host's apt sources ({searched})\n\n\
         hint: pass one with `offline-build image create --mirror URL`"
    )]
    NoMirror {
        /// The files that were read.
        searched: String,
    },

    /// A host command (debootstrap, chroot, apt-get) failed.
    #[error(
        "`{command}` failed ({status}); its last lines of output:\n{output_tail}\nhint: {hint}"
    )]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed.
        output_tail: String,
        /// What to check next.
        hint: String,
    },

    /// `--runtime NAME` names a runtime the daemon does not know.
    #[error(
        "the Docker daemon has no runtime `{name}` (it has {known})\n\n\
         hint: for gVisor, `apt-get install runsc`, add to /etc/docker/daemon.json \
         `\"runtimes\": {{\"runsc\": {{\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": \
         [\"--platform=ptrace\", \"--network=none\"]}}}}` and send dockerd SIGHUP"
    )]
    UnknownRuntime {
        /// What was asked for.
        name: String,
        /// The runtimes the daemon lists.
        known: String,
    },

    /// The user pressed Ctrl-C (SIGINT) or the process got SIGTERM; see
    /// [`crate::until_interrupted`]. Running containers are being removed.
    #[error("interrupted by {signal}; the containers of this run are removed")]
    Interrupted {
        /// `SIGINT` or `SIGTERM`.
        signal: &'static str,
    },

    /// The layer Docker recorded is not the tar we streamed: the import was altered or truncated.
    #[error(
        "Docker recorded layer `{recorded}` for `{reference}`, but the rootfs we sent hashes to \
         `{sent}`\n\nhint: run `offline-build image create --force` again"
    )]
    LayerMismatch {
        /// The image reference.
        reference: String,
        /// sha256 of the tar stream we sent.
        sent: String,
        /// What `RootFS.Layers[0]` says.
        recorded: String,
    },
}

impl SandboxError {
    pub(crate) fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        SandboxError::Docker {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Whether a bollard error is Docker's "404 no such thing".
pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether a bollard error is Docker refusing because of the object's state (in use, being
/// removed already).
pub(crate) fn is_conflict(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 403 | 409,
            ..
        }
    )
}
