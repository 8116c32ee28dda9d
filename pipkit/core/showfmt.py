"""``pip show``'s text, as the target's own pip version prints it. Pure.

pipkit's ``show`` must be byte-identical to the target's ``pip show``; pip changed the
layout over time (every pip since 18 prints ``Author-email:``): since pip 24.1 Home-page is
filled from a "homepage" Project-URL and Requires has no duplicates, since pip 25.0 a
``License-Expression:`` line replaces ``License:`` for Metadata-Version 2.4. ``-v`` adds
Metadata-Version, Installer, Classifiers, Entry-points and Project-URLs; ``--files`` the
sorted RECORD entries. tests/test_show.py compares the bytes with a real pip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# pip 24.1: Home-page from a "homepage" Project-URL, and Requires without duplicates (a
# requirement listed twice under different markers); pip 23.2 has neither, 24.2 both.
HOMEPAGE_FROM_URLS = (24, 1)
# pip 25.0: License-Expression (PEP 639) for Metadata-Version 2.4 (present in 25.0.1).
LICENSE_EXPRESSION = (25, 0)


@dataclass(frozen=True)
class ShowFields:
    """One installed distribution's metadata, raw, as pip reads it."""

    name: str
    version: str
    summary: str
    home_page: str
    author: str
    author_email: str
    license: str
    license_expression: str
    location: str
    editable_location: str | None
    requires: Sequence[str]  # sorted (case-insensitively), duplicates kept as old pips keep them
    required_by: Sequence[str]
    metadata_version: str
    installer: str
    classifiers: Sequence[str]
    entry_points: Sequence[str]
    project_urls: Sequence[str]
    files: Sequence[str] | None


def pip_version_tuple(version: str | None) -> tuple[int, ...]:
    """``"23.2.1"`` -> ``(23, 2, 1)``; no pip (or an odd version): the newest layout."""
    numbers = re.findall(r"\d+", (version or "").split("+")[0])[:3]
    return tuple(int(n) for n in numbers) if numbers else (999,)


def homepage(fields: ShowFields, pip: tuple[int, ...]) -> str:
    """Home-page, or (pip >= 24.1) the first Project-URL labelled homepage."""
    if fields.home_page or pip < HOMEPAGE_FROM_URLS:
        return fields.home_page
    for entry in fields.project_urls:
        label, _, url = entry.partition(",")
        # pip's normalize_project_url_label: punctuation and whitespace gone, lower case.
        if re.sub(r"[^a-z0-9]", "", label.lower()) == "homepage":
            return url.strip()
    return ""


def show_text(
    items: Sequence[ShowFields], pip_version: str | None, *, verbose: bool, files: bool
) -> str:
    """The text ``pip show [-v] [-f]`` prints for ``items`` under that pip version."""
    pip = pip_version_tuple(pip_version)
    lines: list[str] = []
    for index, item in enumerate(items):
        if index:
            lines.append("---")
        lines += [
            f"Name: {item.name}",
            f"Version: {item.version}",
            f"Summary: {item.summary}",
            f"Home-page: {homepage(item, pip)}",
            f"Author: {item.author}",
            f"Author-email: {item.author_email}",
        ]
        metadata = pip_version_tuple(item.metadata_version) if item.metadata_version else ()
        if pip >= LICENSE_EXPRESSION and metadata >= (2, 4) and item.license_expression:
            lines.append(f"License-Expression: {item.license_expression}")
        else:
            lines.append(f"License: {item.license}")
        lines.append(f"Location: {item.location}")
        if item.editable_location is not None:
            lines.append(f"Editable project location: {item.editable_location}")
        requires = item.requires
        if pip >= HOMEPAGE_FROM_URLS:
            requires = sorted(set(requires), key=str.lower)
        lines += [
            f"Requires: {', '.join(requires)}",
            f"Required-by: {', '.join(item.required_by)}",
        ]
        if verbose:
            lines += [f"Metadata-Version: {item.metadata_version}", f"Installer: {item.installer}"]
            lines += ["Classifiers:", *(f"  {c}" for c in item.classifiers)]
            lines += ["Entry-points:", *(f"  {e.strip()}" for e in item.entry_points)]
            lines += ["Project-URLs:", *(f"  {u}" for u in item.project_urls)]
        if files:
            lines.append("Files:")
            if item.files is None:
                lines.append("Cannot locate RECORD or installed-files.txt")
            else:
                lines += [f"  {path.strip()}" for path in item.files]
    return "".join(line + "\n" for line in lines)
