"""Names and defaults that several parts of pipkit share, each spelled once.

Standard library only, nothing else: the stdlib-only fast path (:mod:`pipkit.fastpath`) and the
no-op cache read these before anything heavier is imported.
"""

from __future__ import annotations

# The lock files `check` and `sync` use when none is named, in this order.
DEFAULT_LOCK_NAMES = ("requirements.txt", "pylock.toml")
# The lock inputs `lock` uses when none is named, in this order.
INPUT_NAMES = ("requirements.in", "pyproject.toml")

# Inside a target's state folder: the wheel store for offline rollback, and in it the stashes a
# change parked there (moved as they were, repacked into wheels when the store is next read).
STORE_DIR = "store"
PARKED_DIR = "parked"
# Inside a target's state folder: a change's transaction folder and, in it, its journal.
TRANSACTION_DIR = "transaction"
JOURNAL_FILE = "journal.json"
