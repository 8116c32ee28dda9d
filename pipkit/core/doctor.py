"""What ``pipkit doctor`` judges, and the fix it names for each finding.

Each rule takes what the environment scan found (:mod:`pipkit.env.scan`) and returns
:class:`Finding` values: **problems** (``doctor`` exits 1) that break installs, uninstalls or
imports, and **notes** (exit 0) worth knowing.

Problems: unmet requirements (``pip check``'s lines, :func:`pipkit.core.health.conflicts`),
several metadata folders for one project in one folder, a ``.dist-info`` without ``RECORD``
(pip cannot uninstall it), a console script whose file is gone, a pending pipkit journal.
Notes: ``.pth`` files that run code (other than setuptools' ``distutils-precedence.pth`` and
editable-install finders), a package shadowed by the user site or ``PYTHONPATH``, an
externally managed target, a pip older than pipkit needs.

Pure: no I/O. Imports only the standard library, ``packaging`` and pipkit.core.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pipkit.core.health import Conflict
from pipkit.core.model import InstalledDist

__all__ = [
    "MIN_PIP",
    "Finding",
    "code_lines",
    "console_scripts",
    "duplicates",
    "from_conflicts",
    "missing_scripts",
    "old_pip",
    "pth_notes",
    "shadowed",
]

Severity = Literal["problem", "note"]

# What pipkit hands pip: per-requirement --config-settings in a requirements file (23.1) and
# --break-system-packages (23.0.1).
MIN_PIP = "23.1"

# .pth files that run code on every start for a reason everybody has: setuptools' distutils
# hook and the finders PEP 660 editable installs leave (setuptools, hatchling, pdm, scikit-build).
WELL_KNOWN_PTH = ("distutils-precedence.pth", "__editable__*.pth", "_virtualenv.pth")


@dataclass(frozen=True)
class Finding:
    """One thing ``doctor`` found: what, about which package or file, and the fix."""

    kind: str  # "conflict", "duplicate", "no-record", "missing-script", "pending", ...
    severity: Severity
    subject: str  # the package (normalized) or the file it is about
    message: str
    fix: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
        }


def _reinstall(dist: InstalledDist) -> str:
    return f"pip install --force-reinstall --no-deps {dist.raw_name}=={dist.version}"


def from_conflicts(
    conflicts: Sequence[Conflict], dists: Mapping[NormalizedName, InstalledDist]
) -> list[Finding]:
    """``pip check``'s lines, each with the install that meets it."""
    from pipkit.core.health import _requirement

    found: list[Finding] = []
    # pip check's order: every missing requirement, then every version conflict.
    ordered = sorted(conflicts, key=lambda c: (c.problem != "missing", c.name, str(c)))
    for conflict in ordered:
        requirement = _requirement(conflict.requires)
        wanted = conflict.requires.split(";", 1)[0].strip()
        if requirement is not None:
            wanted = requirement.name + str(requirement.specifier)
        found.append(
            Finding(
                "conflict",
                "problem",
                conflict.name,
                str(conflict),
                f"pipkit install '{wanted}'",
            )
        )
    return found


def duplicates(folders: Mapping[str, Sequence[str]]) -> list[Finding]:
    """Several metadata folders of one project in one site folder (a half-done upgrade or
    uninstall): *folders* maps each site folder to the metadata folder names in it."""
    found: list[Finding] = []
    for location, names in folders.items():
        by_project: dict[NormalizedName, list[str]] = {}
        for name in names:
            stem = name.rpartition(".")[0]
            project = canonicalize_name(stem.partition("-")[0])
            by_project.setdefault(project, []).append(name)
        for project, infos in sorted(by_project.items()):
            if len(infos) < 2:
                continue
            listed = ", ".join(sorted(infos))
            found.append(
                Finding(
                    "duplicate",
                    "problem",
                    project,
                    f"{project} has {len(infos)} metadata folders in {location}: {listed}",
                    f"delete the stale ones, then `pip install --force-reinstall --no-deps "
                    f"{project}==VERSION` for the version you want",
                )
            )
    return found


def no_record(dists: Iterable[InstalledDist], with_record: Mapping[str, bool]) -> list[Finding]:
    """``.dist-info`` folders without ``RECORD``: pip refuses to uninstall them."""
    return [
        Finding(
            "no-record",
            "problem",
            dist.name,
            f"{dist.raw_name} {dist.version} has no RECORD in {dist.metadata_dir}: "
            "pip cannot uninstall or upgrade it",
            # --force-reinstall would uninstall first, and fails the same way; installing over
            # it writes its files and a RECORD into the same folder.
            f"pip install --ignore-installed --no-deps {dist.raw_name}=={dist.version}",
        )
        for dist in dists
        if dist.kind == "dist-info" and not with_record.get(dist.metadata_dir, True)
    ]


_SECTION_RE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")


def console_scripts(entry_points: str) -> list[str]:
    """The script names in an ``entry_points.txt``'s ``[console_scripts]`` section."""
    names: list[str] = []
    section = ""
    for raw in entry_points.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _SECTION_RE.match(line)
        if match:
            section = match.group("name").strip()
            continue
        if section == "console_scripts" and "=" in line:
            names.append(line.split("=", 1)[0].strip())
    return names


def missing_scripts(
    dist: InstalledDist, scripts: Sequence[str], present: Iterable[str], scripts_dir: str
) -> list[Finding]:
    """Console scripts *dist* declares whose file is not in the scripts folder."""
    have = set(present)
    return [
        Finding(
            "missing-script",
            "problem",
            dist.name,
            f"{dist.raw_name} {dist.version} declares the console script {name}, but "
            f"{scripts_dir}/{name} is gone",
            _reinstall(dist),
        )
        for name in scripts
        if name not in have
    ]


def code_lines(text: str) -> list[str]:
    """The lines of a ``.pth`` file that Python runs (``import ...``), not path entries."""
    return [line.strip() for line in text.splitlines() if line.startswith(("import ", "import\t"))]


def pth_notes(files: Mapping[str, str]) -> list[Finding]:
    """``.pth`` files (path -> text) that run code on every start, but the well-known ones."""
    found: list[Finding] = []
    for path, text in sorted(files.items()):
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatch(name, pattern) for pattern in WELL_KNOWN_PTH):
            continue
        code = code_lines(text)
        if not code:
            continue
        first = code[0] if len(code[0]) <= 80 else code[0][:77] + "..."
        found.append(
            Finding(
                "pth",
                "note",
                path,
                f"{path} runs code at every interpreter start ({len(code)} line(s): {first})",
                "remove the file if nothing you installed needs it",
            )
        )
    return found


def shadowed(
    shadows: Iterable[tuple[InstalledDist, InstalledDist, str]],
) -> list[Finding]:
    """Packages imported from the user site or PYTHONPATH while the target has its own copy:
    (the copy that wins, the target's copy, where the winner comes from)."""
    return [
        Finding(
            "shadowed",
            "note",
            winner.name,
            f"{winner.raw_name} {winner.version} from {origin} ({winner.location}) shadows "
            f"the target's {hidden.raw_name} {hidden.version}",
            f"remove it from {origin} (`pip uninstall` with that interpreter) or unset "
            f"{'PYTHONPATH' if origin == 'PYTHONPATH' else 'the user site (PYTHONNOUSERSITE=1)'}",
        )
        for winner, hidden, origin in shadows
    ]


def old_pip(pip: InstalledDist | None) -> list[Finding]:
    """A note when the target's pip is missing or older than :data:`MIN_PIP`."""
    fix = "python -m ensurepip --upgrade, then python -m pip install -U pip"
    if pip is None:
        return [
            Finding(
                "old-pip",
                "note",
                "pip",
                "pip is not installed: pipkit install, sync and rollback run the target's pip",
                fix,
            )
        ]
    try:
        old = Version(pip.version) < Version(MIN_PIP)
    except InvalidVersion:
        old = False
    if not old:
        return []
    return [
        Finding(
            "old-pip",
            "note",
            "pip",
            f"pip {pip.version} is older than pipkit needs (pip >= {MIN_PIP})",
            "python -m pip install -U pip",
        )
    ]
