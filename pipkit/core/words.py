"""Small wording rules shared by every message: counts with the right plural. Pure."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 package``, ``2 packages``, ``0 packages`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
