"""``pipkit convert LOCK -o OUT``: a requirements lock to a pylock.toml, or a pylock.toml to a
requirements lock, without resolving.

The direction comes from the two names (a ``.toml`` / ``pylock.*.toml`` name is a pylock). For
requirements -> pylock, each index pin's files are looked up on the configured indexes (pip's
configuration for the target, then the lock's own index options; one request per project, in
parallel): the lock's hashes say which files, the index says their names and URLs. What the
mapping is, and what is refused, is :mod:`pipkit.core.convert`. The pylock made is validated
with ``packaging.pylock`` before it is written; every output is written atomically.

Never prints. Imports pipkit.core, pipkit.env, pipkit.ops and pipkit.errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipkit.core.convert import IndexFile, to_pylock, to_requirements
from pipkit.core.lockfile import is_pylock, read_lock
from pipkit.core.model import Lock
from pipkit.env.target import Target
from pipkit.errors import OperationError, UsageError
from pipkit.fsutil import atomic_write_text

__all__ = ["ConvertResult", "convert"]


@dataclass(frozen=True)
class ConvertResult:
    """What ``convert`` wrote: from where, to where, in which format, how many packages."""

    source: str
    output: str
    format: str  # the output's: "pylock" or "requirements"
    packages: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "format": self.format,
            "packages": self.packages,
        }


def _index_files(target: Target | None, lock: Lock) -> dict[str, list[IndexFile]]:
    from packaging.version import Version

    from pipkit.env import index
    from pipkit.env.dists import url_to_path
    from pipkit.ops.lock import _file_sha256, _index_config

    pins = [e for e in lock.entries if not e.url and not e.editable and e.pinned_version]
    if not pins:
        return {}
    found = index.lookup_projects([e.raw_name for e in pins], _index_config(target, lock.options))
    files: dict[str, list[IndexFile]] = {}
    for entry in pins:
        info = found[entry.raw_name]
        version = Version(entry.pinned_version or "")
        for project_version in info.versions:
            if project_version.version != version:
                continue
            for dist_file in project_version.files:
                hashes = dist_file.hash_map
                wanted = {h.partition(":")[0] for h in entry.hashes}
                if dist_file.url.startswith("file:") and not wanted <= hashes.keys():
                    # a find-links folder lists no digests: the file itself says
                    digest = _file_sha256(url_to_path(dist_file.url))
                    if digest:
                        hashes = {**hashes, "sha256": digest}
                files.setdefault(entry.name, []).append(
                    IndexFile(dist_file.filename, dist_file.url, dist_file.kind, hashes)
                )
    return files


def _validate(text: str, output: str) -> None:
    import tomllib

    from packaging.pylock import Pylock, PylockValidationError

    try:
        Pylock.from_dict(tomllib.loads(text))
    except (PylockValidationError, tomllib.TOMLDecodeError) as exc:
        raise OperationError(f"{output}: the pylock.toml made is not valid ({exc})") from None


def convert(
    target: Target | None, source: str, output: str, *, cwd: str | None = None
) -> ConvertResult:
    """Write *source* (a lock) to *output* in the other format; see the module docstring."""
    here = cwd or os.getcwd()
    src = Path(here, source)
    out = Path(here, output)
    if not src.is_file():
        raise UsageError(f"{source}: no such lock file")
    if out.resolve() == src.resolve():
        raise UsageError(f"-o {output}: the output would overwrite the lock it is made from")
    from_pylock, to_pylock_ = is_pylock(src), is_pylock(out)
    if from_pylock == to_pylock_:
        kind = "a pylock.toml" if from_pylock else "a requirements lock"
        other = "requirements.txt" if from_pylock else "pylock.toml"
        raise UsageError(
            f"{source} is {kind} and so is -o {output}: name the other format ({other})"
        )
    if to_pylock_:
        from packaging.pylock import is_valid_pylock_path

        if not is_valid_pylock_path(out):
            raise UsageError(
                f"-o {output}: a PEP 751 lock is named pylock.toml or pylock.NAME.toml"
            )
    lock = read_lock(source if cwd is None else str(src), cwd=str(src.parent))
    if to_pylock_:
        from pipkit.core.tomlwrite import dump_toml

        document = to_pylock(lock, _index_files(target, lock), base=str(out.parent))
        text = dump_toml(document)
        _validate(text, output)
        atomic_write_text(out, text)
        return ConvertResult(source, output, "pylock", len(document["packages"]))
    text = to_requirements(lock, base=str(out.parent))
    atomic_write_text(out, text)
    return ConvertResult(source, output, "requirements", len(lock.entries))
