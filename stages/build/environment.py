"""The environment the PEP 517 hooks run in: built from nothing, so that nothing of the driver's
own environment (or the host's) leaks into a build, and fixed where reproducibility needs it.
"""

import sysconfig

# cargo's home and target directory for a package with Rust crates: fresh, in the container's
# scratch space (cargo writes its package-cache lock into its home).
CARGO_HOME = "/tmp/cargo-home"
CARGO_TARGET_DIR = "/tmp/cargo-target"
# Flag variables where the user's value is added to ours rather than replacing it, so that the
# flags that rewrite the temporary paths out of binaries stay.
APPENDED_FLAGS = ("CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "RUSTFLAGS")


def build_environment(job, venv_dir, python_cflags=None):
    """The hook runner's environment variables for `job` (a job.Job) in the venv at `venv_dir`.
    `python_cflags` defaults to the CFLAGS this Python was built with."""
    if python_cflags is None:
        python_cflags = sysconfig.get_config_var("CFLAGS") or ""
    prefix_map = f"-ffile-prefix-map={job.source_dir}={job.prefix_map_to}"
    # setuptools >= 84 lets CFLAGS replace Python's own flags, so carry those (optimisation
    # included) and add the prefix map that keeps the temporary source path out of binaries.
    compiler_flags = f"{python_cflags} {prefix_map}".strip()
    # HOME stays unset on purpose: nothing of a home directory belongs in a build.
    environment = {
        "PATH": f"{venv_dir}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "SOURCE_DATE_EPOCH": str(job.source_date_epoch),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        # stdout and stderr share one pipe (see driver.main): unbuffered, a traceback lands after
        # the output printed before it, not ahead of a buffer that is flushed only at exit.
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": venv_dir,
        "CFLAGS": compiler_flags,
        "CXXFLAGS": compiler_flags,
        # Anything that still tries pip fails at once instead of retrying an unreachable index.
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    environment.update(cargo_environment(job))
    return with_user_environment(environment, job.env or {})


def with_user_environment(environment, user):
    """`environment` with the user's variables applied after it: a variable of APPENDED_FLAGS
    that we set gets theirs after ours, separated by a space; any other variable is set as
    given. job.py has refused the names the build's isolation depends on."""
    merged = dict(environment)
    for name, value in user.items():
        ours = merged.get(name)
        if name in APPENDED_FLAGS and ours:
            merged[name] = f"{ours} {value}" if value else ours
        else:
            merged[name] = value
    return merged


def cargo_environment(job):
    """cargo's variables: offline (so that a crate nobody vendored is named as missing, not
    looked for on a network that is not there), not incremental, and with the temporary paths
    rewritten out of the binaries. Set for every build: a Rust package without a Cargo.lock's
    crates fails the same clear way."""
    remaps = [
        f"--remap-path-prefix={job.source_dir}={job.prefix_map_to}",
        f"--remap-path-prefix={CARGO_HOME}=/usr/src/cargo-home",
    ]
    if job.cargo is not None:
        remaps.insert(1, f"--remap-path-prefix={job.cargo}/vendor=/usr/src/crates")
    return {
        "CARGO_HOME": CARGO_HOME,
        "CARGO_TARGET_DIR": CARGO_TARGET_DIR,
        "CARGO_NET_OFFLINE": "true",
        "CARGO_INCREMENTAL": "0",
        "CARGO_TERM_COLOR": "never",
        "CARGO_TERM_PROGRESS_WHEN": "never",
        "RUSTFLAGS": " ".join(remaps),
    }
