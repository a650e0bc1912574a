"""Makes pip's `install --dry-run --report` answer from PEP 658 metadata alone.

pip (25.1, Debian trixie's) resolves from the index's `core-metadata`, then downloads and
prepares every sdist anyway, building its metadata in an isolated environment, even for
--dry-run. The answer is already known, so this skips that last step for whatever was resolved
from metadata and reports that metadata. The index proxy refuses sdist archives (403): with a
pip whose internals differ, nothing is patched, pip asks for an archive, and the resolution fails
as `archive-refused` instead of running anything.

It also refuses to prepare any link that is not a file of our index (a direct reference such as
`x @ file:///proc/self/cwd/...` from some package's metadata would make pip unpack and build
whatever that names, here in the session): the host never serves such metadata, and this is
the second wall.
"""

import os
from urllib.parse import urlsplit

# Printed in pip's error; pip_output.explain recognises it.
REFUSED = "offline-build: refusing to prepare"


def index_files_prefix(index_url):
    """Where our index's files are: `<scheme>://<host:port>/files/`."""
    parts = urlsplit(index_url)
    return f"{parts.scheme}://{parts.netloc}/files/"


def allowed_link(url, prefix):
    return url.startswith(prefix) and ".." not in url[len(prefix) :].split("/")


def apply():
    """Patches pip in this process. Returns (applied, detail) for the log."""
    try:
        import pip
        from pip._internal.exceptions import InstallationError
        from pip._internal.operations.prepare import RequirementPreparer
        from pip._internal.req.req_install import InstallRequirement
        from pip._internal.utils.direct_url_helpers import direct_url_from_link

        prepare_linked = RequirementPreparer.prepare_linked_requirement
        fetch_metadata_only = RequirementPreparer._fetch_metadata_only
        prepare_more = RequirementPreparer.prepare_linked_requirements_more
        get_dist = InstallRequirement.get_dist
    except (ImportError, AttributeError) as error:
        return False, f"not applied ({type(error).__name__}: {error})"

    prefix = index_files_prefix(os.environ.get("PIP_INDEX_URL", ""))

    def _prepare_linked(self, req, *args, **kwargs):
        url = req.link.url if req.link is not None else ""
        if not allowed_link(url, prefix):
            raise InstallationError(f"{REFUSED} {req.name or url}: `{url}` is not a file of the index")
        return prepare_linked(self, req, *args, **kwargs)

    def _fetch_metadata_only(self, req):
        dist = fetch_metadata_only(self, req)
        if dist is not None:
            req._offline_build_metadata = dist
        return dist

    def _prepare_more(self, reqs, parallel_builds=False):
        rest = []
        for req in reqs:
            if req.needs_more_preparation and getattr(req, "_offline_build_metadata", None) is not None:
                if req.download_info is None:
                    req.download_info = direct_url_from_link(req.link, req.source_dir)
                req.needs_more_preparation = False
            else:
                rest.append(req)
        prepare_more(self, rest, parallel_builds)

    def _get_dist(self):
        dist = getattr(self, "_offline_build_metadata", None)
        return dist if dist is not None else get_dist(self)

    RequirementPreparer.prepare_linked_requirement = _prepare_linked
    RequirementPreparer._fetch_metadata_only = _fetch_metadata_only
    RequirementPreparer.prepare_linked_requirements_more = _prepare_more
    InstallRequirement.get_dist = _get_dist
    return True, f"applied to pip {pip.__version__}"
