"""Tiny wheels built in memory with zipfile, for hermetic tests and benchmarks.

``make_wheel(folder, "Foo", "1.0", requires=["bar>=1"])`` writes a valid, installable
``foo-1.0-py3-none-any.whl`` with one module (``foo.py``, or the ``module`` given) whose
``__version__`` is the wheel's version, so a test can import it and see which one is there.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    module: str | None = None,
    files: Mapping[str, str | bytes] | None = None,
    extras: Sequence[str] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
    corrupt: bool = False,
    metadata: Sequence[str] = (),
) -> Path:
    """Write a wheel into ``folder`` and return its path.

    ``corrupt`` writes a RECORD whose hash for the module does not match the module's bytes.
    It does NOT make an install fail: pip (23.2 and later) does not check RECORD hashes when
    it installs a wheel, so such a wheel installs without a word, and the installed RECORD
    then disagrees with the file on disk (what a tool that verifies RECORDs would notice).
    To make pip refuse a wheel part-way, give it a file outside site-packages instead.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    module = module or dist
    info = f"{dist}-{version}.dist-info"
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: test package {name}",
    ]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Provides-Extra: {extra}" for extra in extras]
    meta += [f"Requires-Dist: {req}" for req in requires]
    for line in metadata:  # more METADATA headers; a Metadata-Version replaces the default
        if line.startswith("Metadata-Version:"):
            meta[0] = line
        else:
            meta.append(line)
    contents: dict[str, bytes] = {
        f"{module}.py": f'__version__ = "{version}"\n'.encode(),
    }
    for path, data in (files or {}).items():
        contents[path] = data.encode() if isinstance(data, str) else data
    contents[f"{info}/METADATA"] = ("\n".join(meta) + "\n\n").encode()
    contents[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: pipkit-tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
    ).encode()
    record_lines = []
    for path, data in contents.items():
        digest = _record_hash(data)
        if corrupt and path == f"{module}.py":
            digest = _record_hash(b"something else")
        record_lines.append(f"{path},{digest},{len(data)}")
    record_lines.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    wheel = folder / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel
