"""``python -m pipkit``."""

from __future__ import annotations

from pipkit.cli import main

if __name__ == "__main__":
    main()
