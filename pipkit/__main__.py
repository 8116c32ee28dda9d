"""``python -m pipkit``."""

from __future__ import annotations

from pipkit.fastpath import main

if __name__ == "__main__":
    main()
