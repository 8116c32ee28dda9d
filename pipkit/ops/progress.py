"""Progress of an install step, as events for whoever shows it (the CLI's bar).

A use case that installs (``sync``, ``rollback`` through it, ``install``, ``upgrade``) takes a
``progress`` callback (:data:`Reporter`): it is handed a "start" event with the number of
packages to go, then one "package" event per package as pip (or uv) reaches it, read from the
installer's output line by line (:func:`pipkit.core.pipoutput.progress_event`), and a "done"
event when the step ends, whatever its outcome. Nothing here prints. Imports the standard
library and :mod:`pipkit.core.pipoutput`.
"""

from __future__ import annotations

from collections.abc import Callable

from pipkit.core.pipoutput import ProgressEvent, progress_event

__all__ = ["ProgressEvent", "Reporter", "lines_to"]

# What a use case is handed: called with each event, in order, in pipkit's main thread.
Reporter = Callable[[ProgressEvent], None]


def lines_to(progress: Reporter, total: int, what: str = "installing") -> Callable[[str], None]:
    """Say "start" now, and return the ``on_line`` that turns the installer's lines into
    events: each package once (pip may name one twice, as a requirement and as its file)."""
    progress(ProgressEvent("start", total=total, what=what))
    seen: set[str] = set()

    def on_line(line: str) -> None:
        event = progress_event(line)
        if event is None:
            return
        if event.kind == "package":
            key = event.name.lower().replace("_", "-").replace(".", "-")
            if key in seen:
                return
            seen.add(key)
        if event.kind != "done":  # the use case says "done" once the step has ended
            progress(event)

    return on_line
