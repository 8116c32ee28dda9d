"""Read pip requirements files into a :class:`~pipkit.core.model.Lock`, the way pip reads them.

The grammar is pip's (``pip/_internal/req/req_file.py`` and ``req/constructors.py``), rebuilt
here from the standard library and ``packaging`` so that pipkit can read a lock without
importing pip (pip's internals are not an API, and pip may not even be the interpreter's):

* A file is decoded as pip decodes it (BOM, else a PEP 263 ``coding:`` comment in the first two
  lines, else UTF-8, else the locale's encoding) and split with ``str.splitlines``.
* A line ending in ``\\`` is joined with the next one, unless it is a comment line; a comment
  line ends a continuation (``foo \\`` then ``# note`` is just ``foo``). The joined line keeps
  the number of its first physical line: that is the ``LINE`` in every ``FILE:LINE``.
* ``#`` starts a comment at the start of a line or after whitespace (``url#egg=x`` is not one).
* ``${NAME}`` (``NAME`` of ``[A-Z0-9_]``) is replaced from the *environ* mapping handed in,
  after comments are stripped; an unset or empty variable is left as written (pip does this).
* A line is split into requirement text and options at the first space-separated token that
  starts with ``-``; the options are split with :func:`shlex.split` and parsed with
  :mod:`optparse`, as pip does, so ``--opt=value``, ``--opt value``, ``-ovalue`` and unique
  prefixes of long options (``--extra-index``) all work, and anything else is an error.
* ``-r``/``-c`` paths are relative to the including file; ``file:`` URLs are read, other URLs are
  rejected (pipkit does no network I/O here). A file that includes one of its own includers is
  a cycle and an error; including the same file twice from different places is not (pip allows
  it). As in pip, ``-r`` inside a constraints file includes *requirements*, not constraints.
* Index options follow pip's rule in reading order (includes read where they stand):
  ``--index-url`` replaces the index list read so far, ``--extra-index-url`` appends to it,
  ``--no-index`` empties it and makes later index options no-ops; only the first
  ``--find-links`` of a line counts.
* Relative *paths in requirements* (``./pkg``, ``-e ../lib``, ``dist/x.whl``) are resolved
  against the working directory, as pip resolves them (not against the file); pass ``cwd``.

Deliberate differences from pip, all of them errors where pip would silently drop something:
global options on a requirement line (``foo==1 --pre``: pip ignores the ``--pre``), more than one
``-r``/``-c``/``-e`` on a line, ``--hash`` on a line without a requirement or with ``-e``, extra
positional words after the options, a local archive that does not exist, and a requirement whose
project name cannot be known without building it (pipkit never builds: give ``#egg=NAME``,
``NAME @ URL``, or a directory with a static ``[project] name``).

This module also defines the header pipkit's ``lock`` writes (see :func:`parse_header`) and
reads pip-compile's ``# via`` annotations (:func:`read_via`).

Pure: reads files, never spawns a process or touches the network. Imports only the standard
library, ``packaging``, ``pipkit.core.model`` and ``pipkit.errors`` (never pip).
"""

from __future__ import annotations

import codecs
import configparser
import locale
import optparse
import os
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from pipkit.core.model import (
    Lock,
    LockEntry,
    LockHeader,
    LockOptions,
    format_extras,
    with_marker,
)
from pipkit.errors import InputError
from pipkit.fsutil import read_input_file

__all__ = [
    "format_header",
    "local_project_name",
    "parse_header",
    "read_requirements",
    "read_via",
]

StrPath = str | os.PathLike[str]

# A comment: "#" at the start of a line or after whitespace, to the end of the line.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
# pip's (POSIX) variable rule: only ${NAME}, NAME of upper-case letters, digits and "_".
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_PEP263_RE = re.compile(rb"coding[:=]\s*([-\w.]+)")
# Longer BOMs first: UTF-16-LE's BOM is a prefix of UTF-32-LE's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_VCS = ("git", "hg", "svn", "bzr")
_VCS_SCHEMES = frozenset(
    {"ssh", "git", "hg", "bzr", "sftp", "svn"}
    | {f"{vcs}+{proto}" for vcs in _VCS for proto in ("http", "https", "ssh", "file")}
    | {"git+git", "hg+static-http", "svn+svn", "bzr+sftp", "bzr+ftp", "bzr+lp"}
)
# What pip takes for a URL rather than a path or a PEP 508 string.
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp"}) | _VCS_SCHEMES
_ARCHIVE_EXTENSIONS = (
    ".zip", ".whl", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma",
    ".tar.gz", ".tgz", ".tar",
)  # fmt: skip
_EGG_RE = re.compile(r"[#&]egg=([^&]*)")
_PROJECT_NAME_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_HASH_ALGORITHMS = ("sha256", "sha384", "sha512")  # what pip's --hash accepts
_PIP_OPERATORS = ("~=", "==", "!=", "<=", ">=", "<", ">", "===")


# --------------------------------------------------------------------------------------------
# Lines


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    for line in data.split(b"\n")[:2]:
        if line[:1] == b"#":
            match = _PEP263_RE.search(line)
            if match is not None:
                return data.decode(match.group(1).decode("ascii"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # pip falls back to the locale's encoding (with a warning); so do we.
        return data.decode(locale.getpreferredencoding(False), errors="replace")


def _joined_lines(content: str) -> Iterator[tuple[int, str]]:
    """Physical lines joined at trailing backslashes, each with its first line's number."""
    start = 0
    parts: list[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        is_comment = _COMMENT_RE.match(line) is not None
        if line.endswith("\\") and not is_comment:
            if not parts:
                start = number
            # pip strips backslashes at both ends of a continued line; keep that quirk.
            parts.append(line.strip("\\"))
            continue
        if is_comment:
            # A leading space keeps a comment a comment once glued to the previous part.
            line = " " + line
        if parts:
            parts.append(line)
            yield start, "".join(parts)
            parts = []
        else:
            yield number, line
    if parts:  # the file ended in a backslash
        yield start, "".join(parts)


def _logical_lines(content: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """Joined lines without comments and blanks, with ``${VAR}`` expanded."""
    for number, raw in _joined_lines(content):
        line = _COMMENT_RE.sub("", raw).strip()
        if not line:
            continue

        def expand(match: re.Match[str]) -> str:
            value = environ.get(match.group(1))
            return value if value else match.group(0)

        yield number, _ENV_VAR_RE.sub(expand, line)


def _split_args_options(line: str) -> tuple[str, str]:
    """Requirement text and options: split at the first space-separated token starting "-".

    Only the options go through shlex: markers in the requirement text would not survive it.
    """
    tokens = line.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return line, ""


# --------------------------------------------------------------------------------------------
# Options


class _OptionError(Exception):
    pass


class _OptionParser(optparse.OptionParser):
    """optparse, raising instead of printing and exiting."""

    def error(self, msg: str) -> NoReturn:
        raise _OptionError(msg)

    def exit(self, status: int = 0, msg: str | None = None) -> NoReturn:
        raise _OptionError(msg or "invalid options")


def _build_parser() -> _OptionParser:
    # The options pip accepts in a requirements file (req_file.SUPPORTED_OPTIONS and
    # SUPPORTED_OPTIONS_REQ), with pip's spellings, so abbreviations resolve the same way.
    parser = _OptionParser(add_help_option=False, usage=optparse.SUPPRESS_USAGE)
    add = parser.add_option
    add("-i", "--index-url", "--pypi-url", dest="index_url")
    add("--extra-index-url", dest="extra_index_urls", action="append", default=[])
    add("--no-index", dest="no_index", action="store_true", default=False)
    add("-c", "--constraint", dest="constraints", action="append", default=[])
    add("-r", "--requirement", dest="requirements", action="append", default=[])
    add("-e", "--editable", dest="editables", action="append", default=[])
    add("-f", "--find-links", dest="find_links", action="append", default=[])
    add("--no-binary", dest="no_binary", action="append", default=[])
    add("--only-binary", dest="only_binary", action="append", default=[])
    add("--prefer-binary", dest="prefer_binary", action="store_true", default=False)
    add("--require-hashes", dest="require_hashes", action="store_true", default=False)
    add("--no-require-hashes", dest="no_require_hashes", action="store_true", default=False)
    add("--pre", dest="pre", action="store_true", default=False)
    add("--all-releases", dest="all_releases", action="append", default=[])
    add("--only-final", dest="only_final", action="append", default=[])
    add("--trusted-host", dest="trusted_hosts", action="append", default=[])
    add("--use-feature", dest="use_features", action="append", default=[])
    add("--hash", dest="hashes", action="append", default=[])
    add("-C", "--config-settings", dest="config_settings", action="append", default=[])
    return parser


# Options that only mean something on a requirement line (pip: SUPPORTED_OPTIONS_REQ).
_REQUIREMENT_OPTIONS = ("hashes", "config_settings")
# The others, by dest, with the spelling used in messages.
_GLOBAL_OPTIONS = {
    "index_url": "--index-url", "extra_index_urls": "--extra-index-url",
    "no_index": "--no-index", "find_links": "--find-links", "no_binary": "--no-binary",
    "only_binary": "--only-binary", "prefer_binary": "--prefer-binary",
    "require_hashes": "--require-hashes", "no_require_hashes": "--no-require-hashes",
    "pre": "--pre", "all_releases": "--all-releases", "only_final": "--only-final",
    "trusted_hosts": "--trusted-host", "use_features": "--use-feature",
    "requirements": "--requirement", "constraints": "--constraint",
}  # fmt: skip


@dataclass(frozen=True)
class _ParsedOptions:
    values: dict[str, Any]

    def get(self, dest: str) -> Any:
        return self.values.get(dest)

    def given(self, dests: Sequence[str]) -> list[str]:
        """The dests among *dests* that the line set (non-default)."""
        return [dest for dest in dests if self.values.get(dest)]


_PARSER: _OptionParser | None = None


def _parser_and_defaults() -> tuple[_OptionParser, optparse.Values]:
    """One parser for every line (building it costs ~0.4 ms, a 2,000-line lock 0.8 s) and
    fresh defaults per line: optparse copies its defaults shallowly and "append" would grow
    the shared lists."""
    global _PARSER
    if _PARSER is None:
        _PARSER = _build_parser()
    defaults = {
        key: list(value) if isinstance(value, list) else value
        for key, value in _PARSER.defaults.items()
    }
    return _PARSER, optparse.Values(defaults)


def _parse_options(options: str, location: str) -> _ParsedOptions:
    if not options:
        return _ParsedOptions(vars(_parser_and_defaults()[1]))
    try:
        tokens = shlex.split(options)
    except ValueError as exc:
        raise InputError(f"cannot split options {options!r}: {exc}", location=location) from None
    parser, defaults = _parser_and_defaults()
    try:
        values, leftover = parser.parse_args(tokens, values=defaults)
    except _OptionError as exc:
        raise InputError(str(exc), location=location) from None
    if leftover:
        # pip ignores these silently; a stray word in a lock is a mistake worth reporting.
        raise InputError(f"unexpected argument {leftover[0]!r} after options", location=location)
    parsed = _ParsedOptions(vars(values))
    for value in parsed.get("hashes"):
        algorithm, sep, digest = value.partition(":")
        if not sep or not digest:
            raise InputError(
                f"--hash {value!r} must be a hash name followed by a value, "
                "like --hash=sha256:abcde...",
                location=location,
            )
        if algorithm not in _HASH_ALGORITHMS:
            raise InputError(
                f"--hash {value!r}: allowed hash algorithms are {', '.join(_HASH_ALGORITHMS)}",
                location=location,
            )
    for value in parsed.get("config_settings"):
        if "=" not in value:
            raise InputError(
                f"-C/--config-settings {value!r} must be of the form KEY=VAL", location=location
            )
    for dest in ("no_binary", "only_binary", "all_releases", "only_final"):
        for value in parsed.get(dest):
            if value.startswith("-"):
                raise InputError(
                    f"--{dest.replace('_', '-')} needs a value (:all:, :none: or names)",
                    location=location,
                )
    return parsed


# --------------------------------------------------------------------------------------------
# Paths, URLs and project names


def _is_url(text: str) -> bool:
    scheme = urlsplit(text).scheme
    return bool(scheme) and scheme.lower() in _URL_SCHEMES


def _is_vcs_url(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return "+" in scheme and scheme.split("+", 1)[0] in _VCS


def _path_to_url(path: str) -> str:
    return Path(path).as_uri()


def _file_url_path(url: str) -> str | None:
    """The local path a ``file:`` URL names (relative ones kept relative), or None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def _normalize_file_url(url: str, cwd: str) -> str:
    """An absolute, normalized ``file://`` URL (fragment kept), as pip resolves ``file:../x``."""
    path = _file_url_path(url)
    if path is None:
        return url
    fragment = urlsplit(url).fragment
    absolute = os.path.normpath(os.path.join(cwd, path))
    return _path_to_url(absolute) + (f"#{fragment}" if fragment else "")


def _strip_extras(text: str) -> tuple[str, frozenset[str]]:
    """``path[extra1,extra2]`` -> (path, extras), as pip splits a path with extras."""
    match = re.match(r"^(.+)(\[[^\]]+\])$", text)
    if not match:
        return text, frozenset()
    try:
        extras = Requirement(f"placeholder{match.group(2)}").extras
    except InvalidRequirement:
        return text, frozenset()
    return match.group(1).rstrip(), frozenset(canonicalize_name(e) for e in extras)


def _looks_like_path(text: str) -> bool:
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith(".")


def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_EXTENSIONS)


def _egg_fragment(url: str, location: str) -> str | None:
    match = _EGG_RE.search(url)
    if not match or not match.group(1):
        return None
    name = match.group(1)
    if not _PROJECT_NAME_RE.match(name):
        raise InputError(f"#egg={name} is not a valid project name", location=location)
    return name


def local_project_name(directory: str) -> str | None:
    """The static project name of a source tree: ``[project] name``, else setup.cfg's, else None.

    Enough for pipkit's purposes: a name that only ``setup.py`` knows would need a build.
    """
    pyproject = os.path.join(directory, "pyproject.toml")
    if os.path.isfile(pyproject):
        try:
            with open(pyproject, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        project = data.get("project")
        if isinstance(project, dict) and isinstance(project.get("name"), str):
            name: str = project["name"]
            return name
    setup_cfg = os.path.join(directory, "setup.cfg")
    if os.path.isfile(setup_cfg):
        config = configparser.ConfigParser(interpolation=None)
        try:
            config.read(setup_cfg, encoding="utf-8")
        except (OSError, configparser.Error):
            return None
        name_value = config.get("metadata", "name", fallback=None)
        if name_value and _PROJECT_NAME_RE.match(name_value.strip()):
            return name_value.strip()
    # `setup.py develop` leaves NAME.egg-info beside setup.py: its PKG-INFO names the project
    # (so `freeze -o` of such an env reads back without a build).
    try:
        eggs = sorted(e for e in os.listdir(directory) if e.endswith(".egg-info"))
    except OSError:
        eggs = []
    if len(eggs) == 1:
        try:
            with open(os.path.join(directory, eggs[0], "PKG-INFO"), encoding="utf-8") as f:
                for header in f:
                    if header.startswith("Name:"):
                        value = header.partition(":")[2].strip()
                        return value if _PROJECT_NAME_RE.match(value) else None
        except (OSError, UnicodeDecodeError):
            return None
    return None


def _is_installable_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyproject.toml")) or os.path.isfile(
        os.path.join(path, "setup.py")
    )


def _url_filename(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _name_from_url(url: str, location: str, what: str) -> tuple[str, SpecifierSet]:
    """The project name (and ``==version`` for a wheel) a URL/path requirement names.

    Order: a wheel's filename; ``#egg=``; a local directory's static metadata; an sdist's
    filename. Anything else would need a build, which pipkit never does.
    """
    filename = _url_filename(url)
    if filename.lower().endswith(".whl"):
        try:
            wheel_name, version, _, _ = parse_wheel_filename(filename)
        except InvalidWheelFilename as exc:
            raise InputError(
                f"invalid wheel filename {filename!r}: {exc}", location=location
            ) from None
        # The filename's own spelling for messages and pip; it is a valid name by now.
        return filename.split("-", 1)[0] or wheel_name, SpecifierSet(f"=={version}")
    egg = _egg_fragment(url, location)
    if egg:
        return egg, SpecifierSet()
    local = _file_url_path(url)
    if local is not None and os.path.isdir(local):
        subdirectory = re.search(r"[#&]subdirectory=([^&]*)", url)
        project_dir = os.path.join(local, subdirectory.group(1)) if subdirectory else local
        project_name = local_project_name(project_dir)
        if project_name:
            return project_name, SpecifierSet()
    elif not _is_vcs_url(url) and _is_archive(filename) and not filename.endswith(".zip"):
        try:
            sdist_name, _ = parse_sdist_filename(filename)
        except InvalidSdistFilename:
            pass
        else:
            return sdist_name, SpecifierSet()
    raise InputError(
        f"cannot tell the project name of {what} without building it; "
        f"write it as NAME @ URL (or add #egg=NAME)",
        location=location,
    )


# --------------------------------------------------------------------------------------------
# Requirement lines


def _first_line(exc: Exception) -> str:
    """packaging's message without its caret diagram: errors are one line."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _parse_marker(text: str, location: str) -> Marker | None:
    text = text.strip()
    if not text:
        return None
    try:
        return Marker(text)
    except InvalidMarker as exc:
        raise InputError(
            f"invalid marker {text!r}: {_first_line(exc)}", location=location
        ) from None


def _parse_pep508(text: str, location: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        hint = ""
        if os.sep in text:
            hint = " (it looks like a path: does it exist?)"
        elif "=" in text and not any(op in text for op in _PIP_OPERATORS):
            hint = " (= is not a valid operator: did you mean ==?)"
        raise InputError(
            f"invalid requirement {text!r}: {_first_line(exc)}{hint}", location=location
        ) from None


def _requirement_entry(
    text: str, location: str, cwd: str, hashes: tuple[str, ...], config: tuple[str, ...]
) -> LockEntry:
    """One requirement line (pip's ``parse_req_from_line``), as a LockEntry."""
    marker_sep = "; " if _is_url(text) else ";"
    marker: Marker | None = None
    if marker_sep in text:
        text, marker_text = text.split(marker_sep, 1)
        marker = _parse_marker(marker_text, location)
    text = text.strip()

    url: str | None = None
    extras: frozenset[str] = frozenset()
    if _is_url(text):
        url = _normalize_file_url(text, cwd)
    else:
        path = os.path.normpath(os.path.join(cwd, text))
        bare, extras = _strip_extras(path)
        url = _url_from_path(bare, text, location)

    if url is not None:
        name, specifier = _name_from_url(url, location, repr(text))
        requirement = _parse_pep508(f"{name}{format_extras(extras)} @ {url}", location)
        return LockEntry(
            name=canonicalize_name(name),
            raw_name=name,
            source=location,
            specifier=specifier,
            extras=extras,
            marker=marker,
            url=url,
            hashes=hashes,
            line=with_marker(str(requirement), marker),
            config_settings=config,
        )

    requirement = _parse_pep508(text, location)
    if requirement.marker is not None:  # only reachable through a URL split at "; "
        marker = requirement.marker if marker is None else marker
        requirement.marker = None
    req_url = requirement.url
    specifier = requirement.specifier
    if req_url is not None:
        req_url = _normalize_file_url(req_url, cwd)
        requirement.url = req_url
        if _url_filename(req_url).lower().endswith(".whl"):
            # A wheel names its version: keep it, so the plan can compare it.
            wheel_name, specifier = _name_from_url(req_url, location, repr(req_url))
            if canonicalize_name(wheel_name) != canonicalize_name(requirement.name):
                raise InputError(
                    f"{requirement.name} @ ... points at a wheel of {wheel_name}",
                    location=location,
                )
    return LockEntry(
        name=canonicalize_name(requirement.name),
        raw_name=requirement.name,
        source=location,
        specifier=specifier,
        extras=frozenset(canonicalize_name(e) for e in requirement.extras),
        marker=marker,
        url=req_url,
        hashes=hashes,
        line=with_marker(str(requirement), marker),
        config_settings=config,
    )


def _url_from_path(path: str, text: str, location: str) -> str | None:
    """The file URL a path-like requirement stands for, or None for a PEP 508 string."""
    if _looks_like_path(text) and os.path.isdir(path):
        if _is_installable_dir(path):
            return _path_to_url(path)
        raise InputError(
            f"directory {text!r} is not installable: neither setup.py nor pyproject.toml found",
            location=location,
        )
    if not _is_archive(path):
        return None
    if os.path.isfile(path):
        return _path_to_url(path)
    before_at = text.split("@", 1)
    if len(before_at) == 2 and not _looks_like_path(before_at[0]):
        return None  # "name @ https://.../x.whl": a PEP 508 URL requirement
    raise InputError(
        f"{text!r} looks like a file name, but the file does not exist", location=location
    )


def _editable_entry(target: str, location: str, cwd: str, config: tuple[str, ...]) -> LockEntry:
    """One ``-e`` target (pip's ``parse_editable``): a local project or a VCS URL."""
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None
    name: str | None = None
    line: str
    try:
        requirement: Requirement | None = Requirement(target)
    except InvalidRequirement:
        requirement = None
    if requirement is not None and requirement.url:
        # "-e name[extra] @ url ; marker": the PEP 508 form.
        name = requirement.name
        url = _normalize_file_url(requirement.url, cwd)
        extras = frozenset(canonicalize_name(e) for e in requirement.extras)
        marker = requirement.marker
        line = f"{name}{format_extras(extras)} @ {url}"
    else:
        bare, extras = _strip_extras(target)
        local = os.path.normpath(os.path.join(cwd, bare))
        if os.path.isdir(local):
            url = _path_to_url(local)
        elif bare.lower().startswith("file:"):
            url = _normalize_file_url(bare, cwd)
        else:
            extras = frozenset()
            url = target
            for vcs in _VCS:
                if target.lower().startswith(f"{vcs}:"):
                    url = f"{vcs}+{target}"
                    break
        name = _egg_fragment(url, location)
        line = ""
    local_path = _file_url_path(url.split("#", 1)[0])
    subdirectory = re.search(r"[#&]subdirectory=([^&]*)", url)
    if local_path is not None and subdirectory:
        # pip installs (and records in direct_url.json) the subdirectory itself.
        local_path = os.path.normpath(os.path.join(local_path, subdirectory.group(1)))
        url = _path_to_url(local_path) + (f"#egg={name}" if name else "")
    if local_path is None and not _is_vcs_url(url):
        raise InputError(
            f"{target!r} is not a valid editable requirement: it should be a path to a local "
            "project or a VCS URL (git+https://..., hg+..., svn+..., bzr+...)",
            location=location,
        )
    if not name:
        if local_path is not None:
            name = local_project_name(local_path)
        if not name:
            raise InputError(
                f"cannot tell the project name of editable {target!r} without building it; "
                "add #egg=NAME or write it as NAME @ URL",
                location=location,
            )
    if not line:
        # What "-e" takes: the project directory (with extras), or the VCS URL as written.
        line = local_path + format_extras(extras) if local_path is not None else url
    return LockEntry(
        name=canonicalize_name(name),
        raw_name=name,
        source=location,
        extras=extras,
        marker=marker,
        url=url,
        editable=True,
        line=with_marker(line, marker),
        config_settings=config,
    )


# --------------------------------------------------------------------------------------------
# Files and includes


@dataclass
class _Collected:
    """What reading a set of files gathers, in file order."""

    entries: list[LockEntry] = field(default_factory=list)
    constraints: list[LockEntry] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    trusted_hosts: list[str] = field(default_factory=list)
    no_binary: list[str] = field(default_factory=list)
    only_binary: list[str] = field(default_factory=list)
    all_releases: list[str] = field(default_factory=list)
    only_final: list[str] = field(default_factory=list)
    use_features: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    prefer_binary: bool = False
    require_hashes: bool = False
    no_require_hashes: bool = False

    def options(self) -> LockOptions:
        def unique(values: list[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(values))

        return LockOptions(
            index_url=self.index_url,
            extra_index_urls=unique(self.extra_index_urls),
            find_links=unique(self.find_links),
            trusted_hosts=unique(self.trusted_hosts),
            no_binary=tuple(self.no_binary),
            only_binary=tuple(self.only_binary),
            no_index=self.no_index,
            pre=self.pre,
            prefer_binary=self.prefer_binary,
            require_hashes=self.require_hashes,
            no_require_hashes=self.no_require_hashes,
            all_releases=tuple(self.all_releases),
            only_final=tuple(self.only_final),
            use_features=unique(self.use_features),
        )


class _Reader:
    def __init__(self, environ: Mapping[str, str], cwd: str) -> None:
        self.environ = environ
        self.cwd = cwd
        self.out = _Collected()

    def read(
        self,
        display: str,
        real: str,
        *,
        constraint: bool,
        includers: dict[str, str],
        included_from: str | None,
    ) -> None:
        """Read one file; *includers* maps the real paths of the files including it to names."""
        try:
            data = read_input_file(real)
        except OSError as exc:
            kind = "constraints" if constraint else "requirements"
            reason = exc.strerror or str(exc)
            raise InputError(
                f"cannot open {kind} file {display}: {reason}", location=included_from or display
            ) from None
        content = _decode(data)
        includers = {**includers, real: display}
        for number, line in _logical_lines(content, self.environ):
            self.line(display, real, number, line, constraint=constraint, includers=includers)

    def line(
        self,
        display: str,
        real: str,
        number: int,
        line: str,
        *,
        constraint: bool,
        includers: dict[str, str],
    ) -> None:
        location = f"{display}:{number}"
        args, option_text = _split_args_options(line)
        opts = _parse_options(option_text, location)
        hashes = tuple(opts.get("hashes"))
        config = tuple(opts.get("config_settings"))
        editables: list[str] = opts.get("editables")

        if args or editables:
            misplaced = opts.given(list(_GLOBAL_OPTIONS))
            if misplaced:
                option = _GLOBAL_OPTIONS[misplaced[0]]
                raise InputError(
                    f"{option} cannot share a line with a requirement "
                    "(pip would ignore it): put it on a line of its own",
                    location=location,
                )
            if args and editables:
                raise InputError("-e takes the requirement as its argument", location=location)
            if len(editables) > 1:
                raise InputError("one -e per line", location=location)
            if editables:
                if hashes:
                    raise InputError("--hash cannot be used with -e", location=location)
                if constraint:
                    raise InputError(
                        "editable requirements are not allowed as constraints", location=location
                    )
                self.out.entries.append(_editable_entry(editables[0], location, self.cwd, config))
                return
            entry = _requirement_entry(args, location, self.cwd, hashes, config)
            if constraint:
                if entry.extras:
                    raise InputError("constraints cannot have extras", location=location)
                self.out.constraints.append(entry)
            else:
                self.out.entries.append(entry)
            return

        stray = opts.given(_REQUIREMENT_OPTIONS)
        if stray:
            option = "--hash" if stray[0] == "hashes" else "--config-settings"
            raise InputError(f"{option} without a requirement on the line", location=location)
        self.options(opts, real)
        includes = [(p, False) for p in opts.get("requirements")]
        includes += [(p, True) for p in opts.get("constraints")]
        if len(includes) > 1:
            raise InputError("one -r/-c per line", location=location)
        for target, nested_constraint in includes:
            self.include(target, display, real, location, nested_constraint, includers)

    def include(
        self,
        target: str,
        display: str,
        real: str,
        location: str,
        constraint: bool,
        includers: dict[str, str],
    ) -> None:
        scheme = urlsplit(target).scheme.lower()
        if scheme == "file":
            target = _file_url_path(target) or target
        elif scheme in ("http", "https", "ftp"):
            raise InputError(
                f"cannot include {target}: pipkit reads only local files (download it first)",
                location=location,
            )
        child_real = os.path.realpath(os.path.join(os.path.dirname(real), target))
        if os.path.isabs(target):
            child_display = target
        else:
            child_display = os.path.normpath(os.path.join(os.path.dirname(display), target))
        if child_real in includers:
            raise InputError(
                f"{child_display} includes itself (through {display})"
                if child_real == real
                else f"include cycle: {child_display} is already being read "
                f"(as {includers[child_real]}) and {display} includes it again",
                location=location,
            )
        self.read(
            child_display,
            child_real,
            constraint=constraint,
            includers=includers,
            included_from=location,
        )

    def options(self, opts: _ParsedOptions, real: str) -> None:
        out = self.out
        # pip's rule (its req_file.handle_option_line), line by line in reading order:
        # --no-index empties the index list and every later index option is ignored;
        # --index-url REPLACES the list (extra indexes named before it are dropped);
        # --extra-index-url appends to it.
        if opts.get("no_index"):
            out.no_index = True
            out.index_url = None
            out.extra_index_urls = []
        if not out.no_index:
            if opts.get("index_url"):
                out.index_url = opts.get("index_url")
                out.extra_index_urls = []
            out.extra_index_urls += opts.get("extra_index_urls")
        out.trusted_hosts += opts.get("trusted_hosts")
        out.no_binary += opts.get("no_binary")
        out.only_binary += opts.get("only_binary")
        out.all_releases += opts.get("all_releases")
        out.only_final += opts.get("only_final")
        out.use_features += opts.get("use_features")
        # pip takes only the first --find-links of a line; a path that exists relative to the
        # file is taken from there.
        for link in opts.get("find_links")[:1]:
            relative = os.path.join(os.path.dirname(real), link)
            out.find_links.append(os.path.normpath(relative) if os.path.exists(relative) else link)
        for flag in ("pre", "prefer_binary", "require_hashes", "no_require_hashes"):
            if opts.get(flag):
                setattr(out, flag, True)


def read_requirements(
    paths: StrPath | Sequence[StrPath],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
) -> Lock:
    """Read one or more requirements files (as ``pip install -r A -r B`` would) into a Lock.

    *environ* is what ``${VAR}`` expands from (default: ``os.environ``); *cwd* is what relative
    requirement paths resolve against (default: the working directory, as pip does).
    ``Lock.path`` is the first file as given, and the header is read from it.
    Raises InputError (``location`` = ``FILE:LINE``) for anything malformed.
    """
    if isinstance(paths, (str, os.PathLike)):
        files = [os.fspath(paths)]
    else:
        files = [os.fspath(path) for path in paths]
    if not files:
        raise InputError("no requirements file given")
    reader = _Reader(os.environ if environ is None else environ, os.fspath(cwd or os.getcwd()))
    for display in files:
        real = os.path.realpath(display)
        reader.read(display, real, constraint=False, includers={}, included_from=None)
    try:
        header = parse_header(_decode(read_input_file(files[0])))
    except OSError as exc:  # read a moment ago: only a file changing under us gets here
        raise InputError(f"cannot open {files[0]}: {exc.strerror or exc}") from None
    out = reader.out
    return Lock(
        path=files[0],
        format="requirements",
        entries=tuple(out.entries),
        constraints=tuple(out.constraints),
        options=out.options(),
        header=header,
    )


# --------------------------------------------------------------------------------------------
# Header

_PIPKIT_HEADER_RE = re.compile(r"^#\s*pipkit:\s*(?P<fields>.*)$")
_KEY_VALUE_RE = re.compile(r"^#\s*(?P<key>python|platform|fingerprint|command):\s*(?P<value>\S.*)$")
_PIP_COMPILE_PYTHON_RE = re.compile(r"autogenerated by pip-compile with Python (?P<v>\d+\.\d+)")
_COMMAND_RE = re.compile(r"^#\s{2,}(?P<cmd>(?:pipkit lock|pip-compile|uv pip compile)\b.*)$")
_HEADER_KEYS = {"python": "python_version", "platform": "platform", "fingerprint": "fingerprint"}


def parse_header(text: str) -> LockHeader:
    """Parse the header comment block of a requirements file into a LockHeader.

    Only the comments before the first requirement or option line count. The format pipkit's
    ``lock`` writes (see :func:`format_header`)::

        # This file is autogenerated by pipkit lock. To update, run:
        #
        #    pipkit lock requirements.in -o requirements.txt
        #
        # pipkit: fingerprint=sha256:abcd... python=3.11 platform=linux

    * ``# pipkit: k=v k=v ...`` holds ``fingerprint``, ``python`` and ``platform`` (other keys
      are ignored, values have no spaces);
    * the regenerate command is a comment indented by at least two spaces that starts with
      ``pipkit lock``, ``pip-compile`` or ``uv pip compile`` (pip-compile's and uv's headers
      read the same way);
    * ``# python: 3.11``, ``# platform: linux``, ``# fingerprint: sha256:...`` and
      ``# command: ...`` are accepted too, as is pip-compile's "with Python 3.11".

    Later values win over earlier ones.
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        if match := _PIPKIT_HEADER_RE.match(line):
            for item in match.group("fields").split():
                key, sep, value = item.partition("=")
                if sep and key in _HEADER_KEYS and value:
                    values[_HEADER_KEYS[key]] = value
        elif match := _KEY_VALUE_RE.match(line):
            key = match.group("key")
            values[_HEADER_KEYS.get(key, key)] = match.group("value").strip()
        elif match := _COMMAND_RE.match(raw.rstrip()):
            values["command"] = match.group("cmd").strip()
        elif match := _PIP_COMPILE_PYTHON_RE.search(line):
            values["python_version"] = match.group("v")
    return LockHeader(
        python_version=values.get("python_version"),
        platform=values.get("platform"),
        fingerprint=values.get("fingerprint"),
        command=values.get("command"),
    )


def format_header(header: LockHeader, *, tool: str = "pipkit lock") -> str:
    """The header comment block :func:`parse_header` reads back (ends with a newline)."""
    lines = [f"# This file is autogenerated by {tool}. To update, run:", "#"]
    if header.command:
        lines += [f"#    {header.command}", "#"]
    fields = [
        f"{key}={value}"
        for key, value in (
            ("fingerprint", header.fingerprint),
            ("python", header.python_version),
            ("platform", header.platform),
        )
        if value
    ]
    if fields:
        lines.append("# pipkit: " + " ".join(fields))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# pip-compile's "# via" annotations

_VIA_INLINE_RE = re.compile(r"#\s*via\s+(?P<items>\S.*)$")
_VIA_START_RE = re.compile(r"^\s+#\s*via\s*$")
_VIA_ITEM_RE = re.compile(r"^\s+#\s{2,}(?P<item>\S.*)$")
_NAME_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _annotated_name(line: str) -> str | None:
    """The project a requirement line of a pip-compile output names (best effort)."""
    text = line.split(" #", 1)[0].strip().rstrip("\\").strip()
    if text.startswith(("-e ", "--editable ", "--editable=")):
        egg = _EGG_RE.search(text)
        if egg:
            return egg.group(1)
        text = text.split(None, 1)[1] if " " in text else text.split("=", 1)[1]
        return text.split(" @ ", 1)[0] if " @ " in text else None
    if text.startswith("-"):
        return None
    match = _NAME_RE.match(text)
    return match.group(1) if match else None


def read_via(path: StrPath) -> dict[NormalizedName, tuple[str, ...]]:
    """pip-compile's ``# via`` annotations: for each package, why it is in the file.

    Both forms: ``    # via -r requirements.in`` (items separated by ", ") and::

        click==8.1.7
            # via
            #   -r requirements.in
            #   black

    plus the older inline ``name==1.0  # via x, y``. A file without annotations gives {}.
    """
    display = os.fspath(path)
    try:
        content = _decode(read_input_file(display))
    except OSError as exc:
        raise InputError(f"cannot open {display}: {exc.strerror or exc}") from None
    via: dict[NormalizedName, list[str]] = {}
    current: NormalizedName | None = None
    in_list = False
    for raw in content.splitlines():
        if not raw.strip():
            in_list = False
            continue
        if not raw[0].isspace() and not raw.startswith("#"):
            name = _annotated_name(raw)
            current = canonicalize_name(name) if name else None
            in_list = False
            inline = _VIA_INLINE_RE.search(raw)
            if current is not None and inline:
                via.setdefault(current, []).extend(_split_via(inline.group("items")))
            continue
        if current is None:
            continue
        if _VIA_START_RE.match(raw):
            in_list = True
            via.setdefault(current, [])
        elif in_list and (item := _VIA_ITEM_RE.match(raw)):
            via[current].append(item.group("item").strip())
        elif raw.lstrip().startswith("#") and (inline := _VIA_INLINE_RE.search(raw)):
            via.setdefault(current, []).extend(_split_via(inline.group("items")))
            in_list = False
        elif raw.lstrip().startswith("#"):
            in_list = False
    return {name: tuple(items) for name, items in via.items()}


def _split_via(items: str) -> list[str]:
    return [item.strip() for item in items.split(", ") if item.strip()]
