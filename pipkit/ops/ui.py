"""``pipkit ui``: a live dashboard of the target environment, read-only, on loopback.

pipkit launches its bundled *threaded* server (:mod:`pipkit.env.serverproc`, by path, under
the **target's** interpreter, so the server's own ``/api/env`` and ``/api/packages`` describe
the same environment) with ``--data-dir`` and ``--read-only``, and keeps that folder up to
date itself: every :data:`POLL` seconds :func:`stamp` takes a cheap reading (the lock's
inode, mtime and size; each site dir's metadata entries with their mtimes, as
:mod:`pipkit.ops.noop` does; the history database's and store's mtimes). Only when it
changes are the documents recomputed (:func:`documents`) and written atomically, each
document first, then ``index.json`` listing every document with a hash of its content. The
page (``pipkit/servers/static/dashboard.js``) polls ``index.json`` every 2 s and fetches and
redraws only the documents whose hash changed.

Documents: ``env.json`` (the target, the installer), ``drift.json`` (:func:`pipkit.ops.sync
.check` against the lock, each row with the command that fixes it), ``graph.json`` and
``graph.svg`` (:mod:`pipkit.core.graphsvg`, drawn here), ``history.json`` (the ledger,
newest first, each entry with its diff; reading it records outside changes first, as
``pipkit history`` does) and, from ``pipkit demo --serve``, ``demo.json`` and
``latency.svg``.

Nothing here installs or changes the environment. Never prints: ``on_ready`` gets the URL.
Imports pipkit.ops (sync, history), pipkit.env, pipkit.core, pipkit.fsutil, pipkit.errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipkit.env import serverproc
from pipkit.env.target import Target
from pipkit.errors import OperationError, PipkitError
from pipkit.fsutil import atomic_write_text

POLL = 1.0  # seconds between two readings of the stamp: a change shows within ~1 s + the page's 2 s
HISTORY_LIMIT = 100  # timeline entries sent to the page
INSTALLER = "pip"  # the default engine of every install step (pipkit --installer pip|uv)


@dataclass(frozen=True)
class UiResult:
    """How ``pipkit ui`` ended: the URL it served and how many times it refreshed."""

    url: str
    refreshes: int

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "refreshes": self.refreshes}


# ------------------------------------------------------------------- what changed ---


def _file_key(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def stamp(target: Target, lock_path: str | None) -> list[Any]:
    """A cheap reading that changes whenever a document would: stat calls only."""
    from pipkit.env.ledger import history_path

    found: list[Any] = [_file_key(lock_path) if lock_path else None]
    for entry in target.sys_path:
        found.append(_file_key(entry))
    for site in target.site_dirs():
        try:
            with os.scandir(site) as entries:
                for item in entries:
                    if item.name.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")):
                        found.append((item.name, item.stat().st_mtime_ns))
        except OSError:
            found.append((site, None))
    history = str(history_path(target))
    found += [_file_key(history), _file_key(history + "-wal")]
    found.append(_file_key(target.state_dir / "store"))
    return found


# ---------------------------------------------------------------------- documents ---


def _fix_command(kind: str, name: str, version: str | None, lock_path: str) -> str:
    if kind == "extra":
        return f"pipkit uninstall {shlex.quote(name)}"
    if version:
        return f"pipkit install {shlex.quote(f'{name}=={version}')}"
    return f"pipkit sync {shlex.quote(lock_path)}"


def env_document(
    target: Target, installed: Mapping[str, str], installer: str = INSTALLER
) -> dict[str, Any]:
    env = target.marker_env
    return {
        "python": target.python,
        "python_version": ".".join(map(str, target.version)),
        "implementation": env.get("platform_python_implementation", ""),
        "prefix": target.prefix,
        "venv": target.in_venv,
        "externally_managed": target.externally_managed,
        "platform": f"{env.get('platform_system', '')} {env.get('platform_machine', '')}".strip(),
        "platform_tag": target.platform_tag,
        "pip": installed.get("pip"),
        "installer": installer,
        "packages": len(installed),
    }


def drift_document(target: Target, lock_path: str | None, cwd: str) -> dict[str, Any]:
    """The check against the lock as rows: kind, name, locked, installed, fix."""
    if lock_path is None:
        return {"lock": None, "state": "no lock", "summary": "no lock file found", "rows": []}
    from pipkit.core.plan import describe_entry, describe_installed
    from pipkit.ops.sync import check, load_lock

    try:
        report = check(target, load_lock([lock_path], cwd=cwd))
    except PipkitError as exc:
        return {"lock": lock_path, "state": "unknown", "summary": str(exc), "rows": []}
    result = report.result
    # Commands as the user would type them here: the lock relative to the folder.
    relative = os.path.relpath(lock_path, cwd)
    shown = lock_path if relative.startswith("..") else relative
    rows: list[dict[str, Any]] = []
    for entry in sorted(result.missing, key=lambda e: e.name):
        rows.append(
            {
                "kind": "missing",
                "name": entry.raw_name,
                "locked": describe_entry(entry),
                "installed": None,
                "fix": _fix_command("missing", entry.raw_name, entry.pinned_version, shown),
            }
        )
    for dist in sorted(result.extra, key=lambda d: d.name):
        rows.append(
            {
                "kind": "extra",
                "name": dist.raw_name,
                "locked": None,
                "installed": describe_installed(dist),
                "fix": _fix_command("extra", dist.raw_name, None, shown),
            }
        )
    for change in sorted(result.changed, key=lambda c: c.name):
        rows.append(
            {
                "kind": "changed",
                "name": change.entry.raw_name,
                "locked": describe_entry(change.entry),
                "installed": describe_installed(change.installed),
                "fix": _fix_command(
                    "changed", change.entry.raw_name, change.entry.pinned_version, shown
                ),
            }
        )
    for conflict in result.conflicts:
        data = conflict.to_json()
        rows.append(
            {
                "kind": "conflict",
                "name": str(data.get("name", "")),
                "locked": None,
                "installed": str(data.get("version", "")),
                "detail": f"requires {data.get('requires', '')}",
                "fix": f"pipkit sync {shlex.quote(shown)}",
            }
        )
    counts = {k: sum(1 for r in rows if r["kind"] == k) for k in ("missing", "extra", "changed")}
    counts["conflict"] = len(result.conflicts)
    drift = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    return {
        "lock": lock_path,
        "state": "in sync" if result.in_sync else "out of sync",
        "summary": "matches the lock" if result.in_sync else f"differs from the lock: {drift}",
        "counts": counts,
        "fix_all": None if result.in_sync else f"pipkit sync {shlex.quote(shown)} --yes",
        "warnings": list(report.notes) + [str(issue) for issue in report.lint],
        "rows": rows,
    }


def history_document(target: Target) -> dict[str, Any]:
    from pipkit.env.ledger import store_for
    from pipkit.ops.history import entries

    error: str | None = None
    try:
        items = entries(target)
    except PipkitError as exc:
        items, error = [], str(exc)
    rows = []
    for item in reversed(items[-HISTORY_LIMIT:]):
        row = item.summary_json()
        changes = item.diff
        row["diff"] = (
            [f"+ {p.name} {p.describe()}" for p in changes.added]
            + [f"~ {a.name} {a.describe()} -> {b.describe()}" for a, b in changes.changed]
            + [f"- {p.name} {p.describe()}" for p in changes.removed]
        )
        rows.append(row)
    try:
        store = store_for(target)
        store_bytes, wheels = store.total_bytes(), len(store.wheels())
    except OSError:
        store_bytes, wheels = 0, 0
    return {
        "entries": rows,
        "total": len(items),
        "error": error,
        "store": {"bytes": store_bytes, "wheels": wheels},
    }


def documents(
    target: Target, lock_path: str | None, cwd: str, installer: str = INSTALLER
) -> dict[str, str]:
    """Every document's text, by file name."""
    from pipkit.core.graphsvg import graph_of, render_svg
    from pipkit.env.dists import iter_distributions, summary

    dists = list(iter_distributions(target.sys_path))
    installed: dict[str, str] = {}
    for dist in dists:
        installed.setdefault(str(dist.name), dist.version)
    drift = drift_document(target, lock_path, cwd)
    states: dict[str, str] = {}
    if drift["state"] in ("in sync", "out of sync"):
        from packaging.utils import canonicalize_name

        for row in drift["rows"]:
            if row["kind"] in ("extra", "changed"):
                states[str(canonicalize_name(row["name"]))] = row["kind"]
    summaries = {str(d.name): summary(d) for d in dists}
    nodes, edges = graph_of(dists, target.marker_env, states, summaries)
    graph = {
        "nodes": [
            {"key": n.key, "name": n.name, "version": n.version, "state": n.state} for n in nodes
        ],
        "edges": [{"from": e.source, "to": e.target, "label": e.label} for e in edges],
        "summaries": {n.key: n.summary for n in nodes},
    }
    return {
        "env.json": json.dumps(env_document(target, installed, installer)),
        "drift.json": json.dumps(drift),
        "graph.json": json.dumps(graph),
        "graph.svg": render_svg(nodes, edges),
        "history.json": json.dumps(history_document(target)),
    }


class DataFolder:
    """The folder the server serves under ``/data/``; documents replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hashes: dict[str, str] = {}
        self.version = 0

    def write(self, docs: Mapping[str, str]) -> bool:
        """Write the documents that changed, then the index; True when any changed."""
        changed = False
        for name, text in docs.items():
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
            if self.hashes.get(name) == digest:
                continue
            atomic_write_text(self.path / name, text)
            self.hashes[name] = digest
            changed = True
        if changed or self.version == 0:
            self.version += 1
            index = {"version": self.version, "time": time.time(), "docs": self.hashes}
            atomic_write_text(self.path / "index.json", json.dumps(index))
        return changed


# ----------------------------------------------------------------------- serving ---


def default_lock(cwd: str) -> str | None:
    """The lock ``pipkit check`` takes with none named: the configured one, else the first
    default name in ``cwd``."""
    from pipkit.core.defaults import DEFAULT_LOCK_NAMES
    from pipkit.env.config import active

    configured = active().lock
    if configured:
        return configured

    for name in DEFAULT_LOCK_NAMES:
        path = os.path.join(cwd, name)
        if os.path.isfile(path):
            return path
    return None


def serve(
    target: Target,
    *,
    lock: str | None = None,
    port: int = 0,
    cwd: str | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
    poll: float = POLL,
    extra: Callable[[], Mapping[str, str]] | None = None,
    installer: str = INSTALLER,
) -> UiResult:
    """Serve the dashboard until Ctrl-C or SIGTERM (a normal end: the result), or until the
    server exits on its own (OperationError). ``lock``: the lock file (default: the one
    ``pipkit check`` would use in ``cwd``); ``extra``: more documents (the demo's)."""
    from pipkit.errors import UsageError

    here = cwd or os.getcwd()
    lock_path: str | None
    if lock is not None:
        lock_path = lock if os.path.isabs(lock) else os.path.join(here, lock)
        if not os.path.isfile(lock_path):
            raise UsageError(f"--lock {lock}: no such lock file")
    else:
        lock_path = default_lock(here)
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be 0 to 65535")
    folder = Path(tempfile.mkdtemp(prefix="pipkit-ui-"))
    data = DataFolder(folder)
    refreshes = 0
    server: serverproc.ServerProcess | None = None

    def refresh() -> list[Any]:
        nonlocal refreshes
        reading = stamp(
            target, lock_path
        )  # before the documents: a change during them shows next time
        docs = dict(documents(target, lock_path, here, installer))
        if extra is not None:
            docs.update(extra())
        data.write(docs)
        refreshes += 1
        return reading

    with serverproc.signals_interrupt():
        try:
            last = refresh()
            server = serverproc.ServerProcess.launch(
                "threaded", target.python, port, None, here, data_dir=folder, read_only=True
            )
            problem = server.wait_ready(time.monotonic() + serverproc.READY_TIMEOUT)
            if problem is not None or server.url is None:
                raise OperationError(f"ui: the dashboard server did not start: {problem}")
            url = server.url
            on_ready(url)
            while server.alive():
                time.sleep(poll)  # bounded: one cheap reading per `poll` seconds
                reading = stamp(target, lock_path)
                if reading != last:
                    last = refresh()
            code = server.exit_code()
            raise OperationError(
                f"ui: the dashboard server exited with code {code}:\n{server.tail()}"
            )
        except KeyboardInterrupt:
            if server is None or server.url is None:
                raise
            return UiResult(server.url, refreshes)
        finally:
            with serverproc.signals_hurry():
                if server is not None:
                    serverproc.stop_servers([server])
                shutil.rmtree(folder, ignore_errors=True)


def demo_documents(
    report_json: Mapping[str, Any],
    latencies: Mapping[str, Sequence[float]],
    rates: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """``demo.json`` and ``latency.svg`` from the demo's report, per-server latencies
    (seconds) and rates (req/s)."""
    from pipkit.core.graphsvg import histogram_svg

    stats: dict[str, Any] = {}
    for name, values in latencies.items():
        ordered = sorted(values)
        if not ordered:
            continue
        stats[name] = {
            "requests": len(ordered),
            "rps": round((rates or {}).get(name, 0.0), 1) or None,
            "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        }
    doc = {**report_json, "stats": stats}
    series = {name: [v * 1000 for v in values] for name, values in latencies.items()}
    return {"demo.json": json.dumps(doc), "latency.svg": histogram_svg(series)}
