"""pipkit: keep Python environments exactly in line with their lock files."""

from __future__ import annotations

__version__ = "0.1.0"
