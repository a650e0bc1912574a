"""How pip is run for one resolution: its environment and its arguments."""


def environment(index_url):
    """Everything pip's process sees: only our index, only sdists, no configuration but ours."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/home",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_INDEX_URL": index_url,
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_NO_BINARY": ":all:",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_BREAK_SYSTEM_PACKAGES": "1",
        "PIP_PROGRESS_BAR": "off",
        "PIP_RETRIES": "0",
        # The host may compute an sdist's metadata while pip waits for it.
        "PIP_DEFAULT_TIMEOUT": "600",
    }


def arguments(report, requirements_file, constraints_file=None, only_binary=()):
    """`pip install` arguments for a dry run that writes its report to `report`. The projects
    in `only_binary` (the releases the user allowed as wheels) are taken as wheels: on the
    command line, pip applies it after `PIP_NO_BINARY=:all:` from the environment, and our
    index lists nothing else for them."""
    argv = ["install", "--dry-run", "--ignore-installed", "--report", report, "-r", requirements_file]
    if constraints_file is not None:
        argv += ["-c", constraints_file]
    if only_binary:
        argv += ["--only-binary", ",".join(only_binary)]
    return argv
