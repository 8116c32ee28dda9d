"""Small builders shared by the core tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from pipkit.core.model import DirectUrl, InstalledDist, Lock, LockEntry
from pipkit.core.reqfile import read_requirements

# A complete marker environment: CPython 3.11 on Linux x86_64 (what "the target" reports).
LINUX_311: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
}
WINDOWS_312: dict[str, str] = {
    **LINUX_311,
    "os_name": "nt",
    "platform_system": "Windows",
    "sys_platform": "win32",
    "python_full_version": "3.12.1",
    "python_version": "3.12",
    "implementation_version": "3.12.1",
}


def write(path: Path, text: str) -> Path:
    """Write dedented *text* to *path* (parents made) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def read(tmp_path: Path, text: str, *, name: str = "requirements.txt", **kw: Any) -> Lock:
    """Write *name* in *tmp_path* (the tests' working directory) and read it by that name."""
    write(tmp_path / name, text)
    kw.setdefault("environ", {})
    kw.setdefault("cwd", tmp_path)
    return read_requirements(name, **kw)


def dist(
    name: str,
    version: str,
    *,
    requires: tuple[str, ...] = (),
    direct_url: DirectUrl | None = None,
    editable_location: str | None = None,
) -> InstalledDist:
    return InstalledDist(
        name=canonicalize_name(name),
        raw_name=name,
        version=version,
        location="/site",
        metadata_dir=f"/site/{name}-{version}.dist-info",
        requires=requires,
        direct_url=direct_url,
        editable_location=editable_location,
    )


def entry(text: str, source: str = "lock.txt:1", **kw: Any) -> LockEntry:
    """A LockEntry from requirement text (``foo==1.0 ; marker``, ``foo @ url``)."""
    from packaging.requirements import Requirement

    req = Requirement(text)
    return LockEntry(
        name=canonicalize_name(req.name),
        raw_name=req.name,
        source=source,
        specifier=req.specifier,
        extras=frozenset(req.extras),
        marker=req.marker,
        url=req.url,
        line=text,
        **kw,
    )


# A pyproject.toml with comments, extras and a section of another tool: what the text edits
# must keep, and what the lock tests resolve (tests/test_lock.py).
PYPROJECT = """\
[build-system]
requires = ["setuptools"]

[project]
name = "demo-app"
version = "1.0"
# the runtime needs
dependencies = [
    "banana",  # the main one
    # apple comes with banana
]

[project.optional-dependencies]
fast = ["cherry[fast]"]
all = ["demo-app[fast]"]

[tool.other]
x = 1
"""
