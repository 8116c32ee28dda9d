"""uv, as pipkit runs it: where its binary is, and pip's configuration as uv's flags.

uv reads neither ``pip.conf`` nor ``PIP_*``, so whatever pipkit hands to uv first goes through
:func:`uv_index_args`: the indexes, find-links, trusted hosts and CA bundle pip would use
become uv's command-line flags, and a setting uv cannot take as a flag is named (returned as
a warning), never silently dropped.

Imports pipkit.env.pipconfig and pipkit.errors; runs nothing itself (processes go through
:mod:`pipkit.env.proc`).
"""

from __future__ import annotations

import os
import shutil

from pipkit.env.pipconfig import DEFAULT_INDEX_URL, DEFAULT_TIMEOUT, PipConfig
from pipkit.errors import TargetError

__all__ = ["find_uv", "uv_environment", "uv_index_args"]


def find_uv() -> str:
    """uv's binary: the ``uv`` package's (``pip install 'pipkit[uv]'``), else ``uv`` on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        pass
    else:
        try:
            return str(find_uv_bin())
        except (FileNotFoundError, OSError):
            pass
    found = shutil.which("uv")
    if found is None:
        raise TargetError(
            "uv is not installed: pip install 'pipkit[uv]' (or put uv on PATH), "
            "or use the default pip-tools/pip"
        )
    return found


def uv_index_args(config: PipConfig) -> tuple[list[str], list[str]]:
    """(uv flags, warnings) that make uv see the indexes and files *config* (pip's) names.

    The CA bundle and timeout are not flags: :func:`uv_environment` sets them.
    """
    args: list[str] = []
    warnings: list[str] = []
    if config.no_index:
        args.append("--no-index")
    else:
        args += ["--index-url", config.index_url or DEFAULT_INDEX_URL]
        for url in config.extra_index_urls:
            args += ["--extra-index-url", url]
    for link in config.find_links:
        if "://" not in link and not os.path.exists(link):
            # pip skips a missing find-links folder with a warning; uv would fail on it.
            warnings.append(f"find-links {link} does not exist: not passed to uv")
            continue
        args += ["--find-links", link]
    for host in config.trusted_hosts:
        args += ["--allow-insecure-host", host]
    if config.proxy:
        warnings.append(
            f"pip's proxy setting ({config.proxy}) is not passed to uv: "
            "set HTTPS_PROXY / HTTP_PROXY for it"
        )
    return args, warnings


def uv_environment(config: PipConfig) -> dict[str, str]:
    """Variables to add to uv's environment: pip's CA bundle and timeout, in uv's names (a
    value the user set for uv itself wins)."""
    extra: dict[str, str] = {}
    if config.cert and "SSL_CERT_FILE" not in os.environ:
        extra["SSL_CERT_FILE"] = config.cert
    if config.timeout != DEFAULT_TIMEOUT and "UV_HTTP_TIMEOUT" not in os.environ:
        extra["UV_HTTP_TIMEOUT"] = str(max(1, round(config.timeout)))
    return extra
