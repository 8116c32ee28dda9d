"""What pipkit needs of the target's pip, and the one line that says a pip is too old. Pure.

pipkit plans every ``install`` and ``upgrade`` with pip's own resolver, ``pip install
--dry-run --report`` (both options are pip 22.2's), so a target whose pip is older cannot be
changed that way; ``sync`` and ``uninstall`` use nothing newer than ``--no-deps`` and
``--require-hashes``. The rule is checked before pip runs, so the user reads one pipkit line,
not pip's ``no such option: --report``. Standard library only.
"""

from __future__ import annotations

import re

__all__ = ["DRY_RUN_REPORT", "too_old"]

# pip install --dry-run and --report: both arrived in pip 22.2.
DRY_RUN_REPORT = (22, 2)


def _numbers(version: str) -> tuple[int, ...] | None:
    found = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    return tuple(int(n) for n in found.group(1).split(".")) if found else None


def too_old(
    have: str | None, need: tuple[int, ...], *, prefix: str, python: str, doing: str
) -> str | None:
    """The refusal when ``have`` (the target's pip version, None: no pip) is older than
    ``need``, else None. An unreadable version is let through: pip then says what it can do.

    ``TARGET has pip 20.3; pipkit install needs pip >= 22.2 (upgrade it: PYTHON -m pip install
    -U pip)``
    """
    wanted = ".".join(map(str, need))
    if have is None:
        return (
            f"{prefix} has no pip; {doing} needs pip >= {wanted} "
            f"(install it: {python} -m ensurepip --upgrade)"
        )
    numbers = _numbers(have)
    if numbers is None or numbers >= need:
        return None
    return (
        f"{prefix} has pip {have}; {doing} needs pip >= {wanted} "
        f"(upgrade it: {python} -m pip install -U pip)"
    )
