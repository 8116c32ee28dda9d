"""Where pipkit keeps its caches (probe answers, kept answers, no-op stamps, logs).

Layer: env. Standard library only, and only ``os`` at run time: the fast path's replay
(:mod:`pipkit.env.answers`) finds its files here before anything else is imported.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def cache_root(environ: Mapping[str, str] | None = None) -> str:
    """pipkit's cache folder: ``$PIPKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pipkit``."""
    env = os.environ if environ is None else environ
    if env.get("PIPKIT_CACHE_DIR"):
        return str(env["PIPKIT_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pipkit")
