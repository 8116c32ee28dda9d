"""``pipkit doctor``: the environment's health, without a lock.

Scans the target (:mod:`pipkit.env.scan`, :mod:`pipkit.env.dists`) and judges what it found
with the rules of :mod:`pipkit.core.doctor`: problems (unmet requirements as ``pip check``
says them, several metadata folders for one project, a ``.dist-info`` without ``RECORD``, a
console script whose file is gone, a pending pipkit journal) and notes (``.pth`` files that
run code, packages shadowed by the user site or ``PYTHONPATH``, an externally managed target,
an old pip). Each finding names its fix. Reads only, never changes anything.

Never prints. Imports pipkit.core, pipkit.env and the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName

from pipkit.core import doctor as rules
from pipkit.core.doctor import Finding
from pipkit.core.health import conflicts
from pipkit.core.model import InstalledDist
from pipkit.env import scan
from pipkit.env.dists import installed, iter_distributions
from pipkit.env.target import Target

__all__ = ["DoctorResult", "doctor"]


@dataclass(frozen=True)
class DoctorResult:
    """What ``doctor`` found: problems first, then notes."""

    prefix: str
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "problem")

    @property
    def notes(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "note")

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "healthy": self.healthy,
            "problems": [f.to_json() for f in self.problems],
            "notes": [f.to_json() for f in self.notes],
        }


def _shadows(
    target: Target,
    site: Mapping[NormalizedName, InstalledDist],
    environ: Mapping[str, str],
) -> list[tuple[InstalledDist, InstalledDist, str]]:
    found: list[tuple[InstalledDist, InstalledDist, str]] = []
    sources: list[tuple[str, str]] = []
    # The probe runs with -E, so its sys.path never has PYTHONPATH; the target's programs
    # started from this shell do.
    for entry in (environ.get("PYTHONPATH") or "").split(os.pathsep):
        if entry:
            sources.append((os.path.abspath(entry), "PYTHONPATH"))
    if target.user_site and target.user_site in target.sys_path:
        sources.append((target.user_site, "the user site"))
    seen: set[str] = set()
    for folder, origin in sources:
        if folder in target.site_dirs():
            continue
        for dist in iter_distributions([folder]):
            hidden = site.get(dist.name)
            if hidden is not None and dist.name not in seen:
                seen.add(dist.name)
                found.append((dist, hidden, origin))
    return found


def doctor(target: Target, *, environ: Mapping[str, str] | None = None) -> DoctorResult:
    """Every finding about *target*, problems first (each kind in a fixed order)."""
    from pipkit.env.transaction import pending_notice, transaction_dir

    env = os.environ if environ is None else environ
    dists = list(iter_distributions(target.sys_path))
    by_name = {d.name: d for d in dists}
    site = installed(target.site_dirs())
    findings: list[Finding] = []

    findings += rules.from_conflicts(conflicts(dists, target.marker_env), by_name)
    findings += rules.duplicates({d: scan.metadata_folders(d) for d in target.site_dirs()})
    findings += rules.no_record(
        site.values(), {d.metadata_dir: scan.has_record(d) for d in site.values()}
    )
    present = scan.listdir(target.scripts)
    for dist in site.values():
        names = rules.console_scripts(scan.entry_points(dist))
        if names:
            findings += rules.missing_scripts(dist, names, present, target.scripts)
    pending = pending_notice(target)
    if pending:
        findings.append(
            Finding("pending", "problem", str(transaction_dir(target)), pending, "pipkit recover")
        )

    pth: dict[str, str] = {}
    for folder in target.site_dirs():
        pth.update(scan.pth_files(folder))
    findings += rules.pth_notes(pth)
    findings += rules.shadowed(_shadows(target, site, env))
    if target.externally_managed:
        findings.append(
            Finding(
                "externally-managed",
                "note",
                target.python,
                f"{target.python} is externally managed (PEP 668): pipkit changes it only "
                "with --break-system-packages",
                "work in a venv: python -m venv .venv",
            )
        )
    findings += rules.old_pip(site.get(NormalizedName("pip")))
    return DoctorResult(target.prefix, tuple(findings))
