"""pip's failure as one pipkit line: the package, the cause, and where pip's full output is.

When pip refuses an install (a name no index has, a version that does not exist, two
requirements that clash), pipkit raises one :class:`OperationError` whose message names the
package and the cause: the closest names the configured indexes list ("did you mean
requests?"), the nearest versions that exist (at most five), or the two requirements that
clash. pip's whole output is written to a log file in pipkit's cache folder, named in the line,
and carried as the error's ``detail`` for ``-v``. The reading of pip's text is pure
(:mod:`pipkit.core.pipoutput`); this module adds what needs the outside world: the index
listing for suggestions and the log file. May import env, core and errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pipkit.core.pipoutput import PipFailure, map_internal, nearest_versions, parse
from pipkit.errors import OperationError

if TYPE_CHECKING:
    from pathlib import Path

    from pipkit.env.pipconfig import PipConfig
    from pipkit.env.target import Target


def pip_failure(
    target: Target,
    output: str,
    *,
    returncode: int,
    pip_args: Sequence[str] = (),
    outcome: str = "nothing was changed",
    internal: str | None = None,
    sources: Mapping[int, str] | None = None,
    requirement_sources: Mapping[str, str] | None = None,
) -> OperationError:
    """The one-line error for a failed pip run whose (captured) ``output`` is given.

    ``pip_args``: the arguments pip ran with (their index options count for suggestions).
    ``internal``/``sources``: pipkit's internal requirements file and, per line, the user's
    ``FILE:LINE`` it came from; ``requirement_sources``: the same by requirement, for pip's
    messages that do not name the file. ``outcome``: what became of the environment.
    """
    if internal and sources:
        output = map_internal(output, internal, sources)
    log = write_log(output)
    failure = parse(output)
    cause = describe(failure, _config(target, pip_args)) if failure else None
    message = cause or f"pip failed (exit code {returncode})"
    location = failure.origin if failure and failure.origin and ":" in failure.origin else None
    if failure and location is None:
        location = (requirement_sources or {}).get(failure.requirement)
    error = OperationError(f"{message}; {outcome}, pip's output is in {log}", location=location)
    error.verbose_detail = output  # shown under -v, before the line
    return error


def after_change(
    exc: OperationError,
    target: Target,
    *,
    captured: bool,
    pip_args: Sequence[str],
    internal: str | None = None,
    sources: Mapping[int, str] | None = None,
    requirement_sources: Mapping[str, str] | None = None,
) -> OperationError | None:
    """The one line for a change whose pip run failed inside the transaction (which has
    already put the environment back), or None when ``exc`` is some other failure (or pip's
    output was not captured) and is to be raised as it is. ``install`` and ``sync`` both
    end their transaction through this; the arguments are :func:`pip_failure`'s.
    """
    if not (captured and exc.detail and "pip failed" in exc.message):
        return None
    return pip_failure(
        target,
        exc.detail,
        returncode=1,
        pip_args=pip_args,
        outcome="the environment was left as it was",
        internal=internal,
        sources=sources,
        requirement_sources=requirement_sources,
    )


def describe(failure: PipFailure, config: PipConfig | None) -> str:
    """The cause in words, for one failure pip explained."""
    if failure.kind == "not-found":
        where = ", ".join(config.index_urls + config.find_links) if config else ""
        line = f"{failure.requirement}: not found" + (f" on {where}" if where else "")
        guess = _closest_name(failure.project, config) if config else None
        return f"{line} (did you mean {guess}?)" if guess else line
    if failure.kind == "no-version":
        nearest = ", ".join(nearest_versions(failure.requirement, failure.versions))
        return f"{failure.requirement}: no such version (nearest: {nearest})"
    if failure.kind == "conflict":
        first, second = (*failure.clash, "?", "?")[:2]
        return f"conflicting requirements: {first} and {second}"
    return f"invalid requirement {failure.requirement!r}"


def _closest_name(name: str, config: PipConfig) -> str | None:
    from packaging.utils import canonicalize_name

    from pipkit.core.suggest import closest
    from pipkit.env.index import project_names

    return closest(canonicalize_name(name), sorted(project_names(config)))


def _config(target: Target, pip_args: Sequence[str]) -> PipConfig | None:
    """pip's index settings for this run: its configuration, then the run's own options."""
    import dataclasses

    from pipkit.env.pipconfig import load_pip_config

    try:
        config = load_pip_config("install", site_prefix=target.prefix, environ=os.environ)
    except Exception:  # a broken pip.conf must not hide pip's own error
        return None
    extra: list[str] = []
    links: list[str] = []
    it = iter(pip_args)
    for arg in it:
        option, has_value, value = arg.partition("=")
        if option in ("-i", "--index-url"):
            config = dataclasses.replace(config, index_url=value if has_value else next(it, ""))
        elif option == "--extra-index-url":
            extra.append(value if has_value else next(it, ""))
        elif option in ("-f", "--find-links"):
            links.append(value if has_value else next(it, ""))
        elif option == "--no-index":
            config = dataclasses.replace(config, no_index=True)
    return dataclasses.replace(
        config,
        extra_index_urls=(*config.extra_index_urls, *extra),
        find_links=(*config.find_links, *links),
    )


def write_log(output: str) -> Path:
    """pip's output in ``<cache>/logs/pip-<time>-<pid>.log``; the path."""
    import time

    from pipkit.env.target import cache_dir
    from pipkit.fsutil import atomic_write_text

    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pip-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    atomic_write_text(path, output)
    return path
