"""The probe: a tiny stdlib-only script run under the target interpreter.

It prints, as one JSON object, what pipkit cannot know without asking the interpreter: its
paths, its sys.path (where distributions are found), its PEP 508 marker environment and
whether it may be modified. ``pipkit.env.target`` runs it once and caches the answer.
This file must stay runnable by any Python >= 3.6 with nothing but the stdlib: no
``from __future__ import annotations`` (3.7+), so its annotations are strings that 3.6 never
evaluates; tests/test_probe.py compiles it with ``feature_version=(3, 6)`` and runs it under an
old Python when the machine has one.
"""

import json
import os
import platform
import sys
import sysconfig
from typing import Any


def _full_version(info: Any) -> str:
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment() -> "dict[str, str]":
    """The same keys and values as ``packaging.markers.default_environment()``."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _headers_dir(paths: "dict[str, str]") -> str:
    """pip's headers folder (without the project's name): its venv scheme differs from
    sysconfig's ``include``, which points into the base interpreter."""
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        return os.path.join(
            sys.prefix, "include", "site", "python{}.{}".format(*sys.version_info[:2])
        )
    return paths.get("include", "")


def probe() -> "dict[str, Any]":
    paths = sysconfig.get_paths()
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    stdlib = paths.get("stdlib", "")
    # sys.path[0] is '' for `python -c`: the cwd is not part of the environment.
    search_path = [os.path.abspath(p) for p in sys.path if p]
    try:
        import site

        user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    except Exception:
        user_site = None
    return {
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "version": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "in_venv": in_venv,
        "externally_managed": (not in_venv)
        and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED")),
        "purelib": paths.get("purelib"),
        "platlib": paths.get("platlib"),
        "scripts": paths.get("scripts"),
        # The rest of pip's install scheme: where a wheel's .data/data and .data/headers go.
        "data": paths.get("data"),
        "headers": _headers_dir(paths),
        "stdlib": stdlib,
        "user_site": user_site,
        "sys_path": search_path,
        "platform_tag": sysconfig.get_platform(),
        "marker_env": marker_environment(),
    }


if __name__ == "__main__":  # run as `python -c SOURCE`, where __name__ is __main__
    sys.stdout.write(json.dumps(probe()))
