//! Command-line interface. Doc comments on these structs are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Resolve, fetch and build Python dependencies from source, offline, in locked-down containers.
///
/// Exit codes: 0 success; 1 the input is wrong or a verification failed; 2 an internal or
/// environment error (for example Docker unreachable).
#[derive(Debug, Parser)]
#[command(name = "offline-build", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Never draw progress bars (they are also hidden when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover the complete dependency set, build requirements included, and write the lock.
    Resolve(ResolveArgs),
    /// Download every sdist named in the lock into the wheelhouse, verifying each sha256.
    Fetch(FetchArgs),
    /// Build every package of the lock from its sdist, offline, one container per package.
    Build(BuildArgs),
    /// Run a program in the built environment: no network, read-only data, snapshotted results.
    Run(RunArgs),
    /// List or restore the snapshots that `run` takes of a results directory.
    #[command(subcommand)]
    Snapshots(SnapshotsCommand),
    /// Create, show or assemble container images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Check Docker, the builder image, the index configuration and the trust store.
    Doctor(DoctorArgs),
}

/// The lock file every stage reads or writes.
#[derive(Debug, Args, Clone)]
pub struct LockArg {
    /// The lock file.
    #[arg(long, default_value = "pylock.toml", value_name = "FILE")]
    pub lock: PathBuf,
}

/// Which OCI runtime runs the containers that run third-party code.
#[derive(Debug, Args, Clone)]
pub struct RuntimeArg {
    /// Run every container that runs a package's code under this runtime of the Docker daemon,
    /// e.g. `runsc` (gVisor: a user-space kernel between the package and the host's). Default:
    /// the daemon's own (runc)
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
}

/// Which image runs the containers.
#[derive(Debug, Args, Clone)]
pub struct ImageArg {
    /// Image to build in; any image with python3 and a compiler. Defaults to the builder image
    /// made by `offline-build image create`.
    #[arg(long, value_name = "REFERENCE")]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Requirement specifiers, e.g. `flask==3.0.3` `attrs>=24`.
    #[arg(value_name = "SPEC")]
    pub specs: Vec<String>,
    /// Read requirements from a requirements file (repeatable).
    #[arg(long = "requirement", short = 'r', value_name = "FILE")]
    pub requirements: Vec<PathBuf>,
    /// Read `[project.dependencies]` from a pyproject.toml.
    #[arg(long, value_name = "FILE")]
    pub project: Option<PathBuf>,
    /// With --project: include this optional-dependency extra (repeatable).
    #[arg(long, value_name = "NAME", requires = "project")]
    pub extra: Vec<String>,
    /// With --project: include this PEP 735 dependency group (repeatable).
    #[arg(long, value_name = "NAME", requires = "project")]
    pub group: Vec<String>,
    #[command(flatten)]
    pub lock: LockArg,
    #[command(flatten)]
    pub image: ImageArg,
    #[command(flatten)]
    pub runtime: RuntimeArg,
    /// Package index (Simple API). Defaults to where pip would look.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Ignore files uploaded after this instant (RFC 3339), so a resolve can be repeated.
    #[arg(long, value_name = "TIMESTAMP")]
    pub exclude_newer: Option<String>,
    /// Parallel hook runs and verification builds (default: the number of cores).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Skip building every package to prove its build requirements complete (recorded in the lock).
    #[arg(long)]
    pub no_verify_build: bool,
    /// Wall-clock limit for one package's hooks or verification build, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    /// Write nothing: exit 1, listing the differences, unless the lock already holds exactly
    /// what this resolve gives (for CI, with --exclude-newer).
    #[arg(long)]
    pub locked: bool,
    /// Go on after a package fails (its hooks, metadata, verification build or build
    /// environment) with everything that does not need it, then list every failure and what
    /// it blocked, and exit 1 without writing the lock.
    #[arg(long)]
    pub keep_going: bool,
    /// Neither take wheels from the wheel cache nor store the verification builds' wheels in it
    /// (then `build` compiles everything again).
    #[arg(long)]
    pub no_cache: bool,
    /// Let PACKAGE's wheel install a top-level `.pth` file (or `sitecustomize.py`), which Python
    /// runs at every interpreter start; refused otherwise, except setuptools' own (repeatable).
    #[arg(long = "allow-pth", value_name = "PACKAGE")]
    pub allow_pth: Vec<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub lock: LockArg,
    /// Directory that receives the verified sdists.
    #[arg(long, default_value = "wheelhouse", value_name = "DIR")]
    pub wheelhouse: PathBuf,
    /// Parallel downloads (default 8: downloads wait on the network, not on the cores).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Seconds without any data before a download counts as stalled and is retried.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// Use no network: check the wheelhouse against the lock and list what is missing, wrong or
    /// extra; exit 1 if anything is missing or wrong.
    #[arg(long)]
    pub offline: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub lock: LockArg,
    /// Directory holding the verified sdists (from `fetch`).
    #[arg(long, default_value = "wheelhouse", value_name = "DIR")]
    pub wheelhouse: PathBuf,
    /// Directory that receives the wheels, build-report.json and logs/.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub image: ImageArg,
    #[command(flatten)]
    pub runtime: RuntimeArg,
    /// Parallel builds (default: the number of cores).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Wall-clock limit for one package's build, in seconds.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    /// Build everything a second time in fresh containers and report wheels that differ.
    #[arg(long)]
    pub check_reproducible: bool,
    /// Install the runtime set from the output into a fresh network-less container and import it.
    #[arg(long)]
    pub verify_install: bool,
    /// Build every package, taking nothing from the wheel cache and storing nothing in it.
    #[arg(long)]
    pub no_cache: bool,
    /// Exit 1 when a wheel is degraded: its sdist ships native sources but the wheel holds no
    /// extension module (built without them, usually for a missing system library).
    #[arg(long)]
    pub strict: bool,
    /// Let PACKAGE's wheel install a top-level `.pth` file (or `sitecustomize.py`), which Python
    /// runs at every interpreter start; refused otherwise, except setuptools' own (repeatable).
    #[arg(long = "allow-pth", value_name = "PACKAGE")]
    pub allow_pth: Vec<String>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

// CMD runs in the runtime image, assembled from the lock and the built wheels on first use.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub lock: LockArg,
    /// Directory holding the built wheels and build-report.json.
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub out: PathBuf,
    /// Mount HOST read-only at CONTAINER (repeatable).
    #[arg(long, value_name = "HOST:CONTAINER")]
    pub data: Vec<String>,
    /// The one writable mount (created if missing); snapshotted before each run. Also the
    /// working directory.
    #[arg(long, value_name = "HOST:CONTAINER")]
    pub results: Option<String>,
    /// Docker network to attach; the default is no network at all.
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    #[command(flatten)]
    pub runtime: RuntimeArg,
    /// Snapshots of the results directory to keep (oldest dropped after each run); 0 takes none.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub keep: usize,
    /// Wall-clock limit in seconds; the program is killed when it is reached.
    #[arg(long, default_value_t = 86400, value_name = "SECONDS")]
    pub timeout: u64,
    /// The program and its arguments. Its stdout and stderr pass through line by line and its
    /// exit code becomes ours; before it starts, our own failures exit 1 or 2 as usual.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// List the snapshots of a results directory, oldest first.
    List {
        /// The results directory.
        #[arg(long, value_name = "DIR")]
        results: PathBuf,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Restore a results directory from a snapshot (default: the newest): contents, modes,
    /// additions and deletions.
    Restore {
        /// The results directory.
        #[arg(long, value_name = "DIR")]
        results: PathBuf,
        /// Snapshot to restore.
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Make the default builder image from Debian packages (debootstrap) and import it into Docker.
    Create(ImageCreateArgs),
    /// Print an image's reference, layer digest, Python version and platform tag.
    Show(ImageShowArgs),
    /// Assemble the runtime image: the builder image plus the built wheels.
    Assemble {
        #[command(flatten)]
        lock: LockArg,
        /// Directory holding the built wheels and build-report.json.
        #[arg(long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// Name the assembled image (default `offline-build/runtime:<12 hex of its inputs>`).
        #[arg(long, value_name = "REFERENCE")]
        tag: Option<String>,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ImageCreateArgs {
    /// Debian mirror to bootstrap from. Defaults to the first Debian mirror in the host's apt sources.
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// Re-create the image even if it exists.
    #[arg(long)]
    pub force: bool,
    /// Install this Debian package too (repeatable), e.g. `--with libgdal-dev`; the image is
    /// made again when it exists without them.
    #[arg(long = "with", value_name = "PACKAGE")]
    pub with: Vec<String>,
    /// Make the image under this reference instead of the default builder image, e.g. to try
    /// `--with` packages without replacing it; build with it by passing the same `--image`.
    #[arg(long, value_name = "REF", default_value = ob_sandbox::image::DEFAULT_IMAGE)]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ImageShowArgs {
    #[command(flatten)]
    pub image: ImageArg,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub image: ImageArg,
    /// Package index to check. Defaults to where pip would look.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
