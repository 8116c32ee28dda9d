"""Project names and versions in their canonical spelling, with the standard library alone.

``freeze`` and ``list`` are answered before ``packaging`` is imported (:mod:`pipkit.fastpath`),
so the two spellings they need are made here: :func:`canonicalize_name` is
``packaging.utils.canonicalize_name`` (PEP 503), and :func:`canonical_version` is
``str(packaging.version.Version(v))`` for a version already in its canonical form (nearly every
installed version), falling back to packaging itself (imported then) for anything else, so
the text is always the same as packaging's.

Pure; imports the standard library (and packaging lazily, for the uncommon versions).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

__all__ = ["canonical_version", "canonicalize_name"]

_SEPARATORS = re.compile(r"[-_.]+")

# A PEP 440 version in exactly the form packaging prints it: release numbers without leading
# zeros, then aN/bN/rcN, .postN, .devN, and a +local of lowercase alphanumerics (numeric
# segments without leading zeros). No epoch: those go through packaging.
_NUMBER = r"(?:0|[1-9][0-9]*)"
_LOCAL_PART = r"(?:0|[1-9][0-9]*|[a-z0-9]*[a-z][a-z0-9]*)"
_CANONICAL = re.compile(
    rf"{_NUMBER}(?:\.{_NUMBER})*(?:(?:a|b|rc){_NUMBER})?(?:\.post{_NUMBER})?"
    rf"(?:\.dev{_NUMBER})?(?:\+{_LOCAL_PART}(?:\.{_LOCAL_PART})*)?"
)


def canonicalize_name(name: str) -> NormalizedName:
    """PEP 503 normalized: runs of ``-_.`` become ``-``, lowercase (packaging's rule)."""
    return cast("NormalizedName", _SEPARATORS.sub("-", name).lower())


def canonical_version(version: str) -> str | None:
    """``str(Version(version))``, or None when PEP 440 rejects *version*."""
    if _CANONICAL.fullmatch(version):
        return version
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except InvalidVersion:
        return None
