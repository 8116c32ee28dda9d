"""``pip freeze`` output, made from pipkit's own view of the environment.

Byte for byte what the target's ``pip freeze`` prints: the same names (as the metadata
spells them), the same normalized versions (``===`` for versions PEP 440 rejects), PEP 610
direct references, editable comments, the same order and the same packages left out.
Pure: the one fact it needs from outside (an editable's VCS checkout) is handed in.
Imports stdlib and pipkit.core (stdlib-only at import: freeze runs on the fast path).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pipkit.core.model import DirectUrl, InstalledDist
from pipkit.core.names import canonical_version, canonicalize_name

_ENV_VAR_AUTH = re.compile(r"^\$\{[A-Za-z0-9-_]+\}(:\$\{[A-Za-z0-9-_]+\})?$")


@dataclass(frozen=True)
class VcsCheckout:
    """What pip's VCS backend reports for an editable's project folder."""

    vcs: str  # "git"
    remote_url: str | None  # already in pip's form ("https://..", "ssh://..", "file://..")
    revision: str | None
    subdirectory: str | None  # the project's folder relative to the repository root
    invalid_remote: str | None = None  # a remote pip cannot use (a deleted local path...)

    @property
    def display_name(self) -> str:
        """pip names the backend by its class: Git, Mercurial, Subversion, Bazaar."""
        return {"hg": "Mercurial", "svn": "Subversion", "bzr": "Bazaar"}.get(
            self.vcs, self.vcs.capitalize()
        )


VcsLookup = Callable[[str], "VcsCheckout | None"]


def dev_packages(python_version: tuple[int, int]) -> frozenset[str]:
    """What plain ``pip freeze`` leaves out: pip, plus the build backends before 3.12."""
    if python_version < (3, 12):
        return frozenset({"pip", "setuptools", "distribute", "wheel"})
    return frozenset({"pip"})


def name_version(dist: InstalledDist) -> str:
    version = canonical_version(dist.version)
    if version is None:
        return f"{dist.raw_name}==={dist.version}"
    return f"{dist.raw_name}=={version}"


def _redact(url: str, direct_url: DirectUrl) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    user_pass, host = parts.netloc.split("@", 1)
    if (direct_url.vcs == "git" and user_pass == "git") or _ENV_VAR_AUTH.match(user_pass):
        return url
    return urlunsplit(parts._replace(netloc=host))


def direct_reference(dist: InstalledDist, direct_url: DirectUrl) -> str:
    """A PEP 440 direct reference, as pip's ``direct_url_as_pep440_direct_reference``."""
    url = _redact(direct_url.url, direct_url)
    fragments: list[str] = []
    if direct_url.vcs:
        requirement = f"{dist.raw_name} @ {direct_url.vcs}+{url}@{direct_url.commit_id}"
    else:
        requirement = f"{dist.raw_name} @ {url}"
        if direct_url.archive_hash:
            fragments.append(direct_url.archive_hash)
    if direct_url.subdirectory:
        fragments.append("subdirectory=" + direct_url.subdirectory)
    if fragments:
        requirement += "#" + "&".join(fragments)
    return requirement


def _editable(dist: InstalledDist, vcs_lookup: VcsLookup) -> tuple[str, list[str]]:
    assert dist.editable_location is not None
    location = os.path.normcase(os.path.abspath(dist.editable_location))
    display = name_version(dist)
    checkout = vcs_lookup(location)
    if checkout is None:
        return location, [f"# Editable install with no version control ({display})"]
    if checkout.invalid_remote is not None:
        return location, [
            f"# Editable {checkout.display_name} install ({display}) with either a deleted "
            "local remote or invalid URI:",
            f"# '{checkout.invalid_remote}'",
        ]
    if checkout.remote_url is None:
        return location, [f"# Editable {checkout.display_name} install with no remote ({display})"]
    if checkout.revision is None:
        return location, ["## !! Could not determine repository location"]
    url = checkout.remote_url
    if not url.lower().startswith(f"{checkout.vcs}:"):
        url = f"{checkout.vcs}+{url}"
    requirement = f"{url}@{checkout.revision}#egg={dist.raw_name.replace('-', '_')}"
    if checkout.subdirectory:
        requirement += f"&subdirectory={checkout.subdirectory}"
    return requirement, []


def frozen_requirement(dist: InstalledDist, vcs_lookup: VcsLookup) -> str:
    """One distribution's freeze entry (comment lines included, no trailing newline)."""
    if dist.editable:
        requirement, comments = _editable(dist, vcs_lookup)
        requirement = f"-e {requirement}"
    else:
        comments = []
        if dist.direct_url is not None:
            requirement = direct_reference(dist, dist.direct_url)
        else:
            requirement = name_version(dist)
    return "\n".join([*comments, requirement])


def freeze(
    dists: Iterable[InstalledDist],
    *,
    python_version: tuple[int, int],
    vcs_lookup: VcsLookup,
    exclude_editable: bool = False,
    include_all: bool = False,
) -> str:
    """The whole ``pip freeze`` output for ``dists`` (in the order they were found)."""
    skip = frozenset() if include_all else dev_packages(python_version)
    chosen: dict[str, tuple[str, str]] = {}
    for dist in dists:
        if exclude_editable and dist.editable:
            continue
        chosen[dist.name] = (dist.raw_name, frozen_requirement(dist, vcs_lookup))
    # pip's rule exactly: sorted by the metadata name, skipped by its normalized form.
    lines = [
        text
        for raw_name, text in sorted(chosen.values(), key=lambda item: item[0].lower())
        if canonicalize_name(raw_name) not in skip
    ]
    return "".join(line + "\n" for line in lines)
