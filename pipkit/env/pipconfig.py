"""pip's own configuration, read the way pip reads it, without running pip.

pipkit talks to package indexes itself (``pipkit search``, ``pipkit list --outdated``), and must
consult the same indexes pip would: the index URL, extra index URLs, find-links, trusted hosts,
``no-index``, timeout, CA bundle and proxy that pip.conf files and ``PIP_*`` variables set.
This module reproduces pip's rules (``pip/_internal/configuration.py`` and
``pip/_internal/cli/parser.py``):

* files, later overriding earlier: global (``$XDG_CONFIG_DIRS/pip/pip.conf``, default
  ``/etc/xdg/pip/pip.conf``, then ``/etc/pip.conf``), user (``~/.pip/pip.conf``, then
  ``$XDG_CONFIG_HOME/pip/pip.conf``, default ``~/.config/pip/pip.conf``; skipped when
  ``PIP_CONFIG_FILE`` names an existing file), site (``<target sys.prefix>/pip.conf``), then
  ``PIP_CONFIG_FILE``; ``PIP_CONFIG_FILE=os.devnull`` means no files at all;
* sections, later overriding earlier whatever file they are in: ``[global]``, the command's
  section (``[install]``...), then the ``PIP_*`` environment variables;
* list options (extra-index-url, find-links, trusted-host) are whitespace-separated lists.

Must not import pip (pip may not even be installed where pipkit runs, and pip._internal is not
an API), must not run subprocesses, and must import nothing from pipkit but ``pipkit.errors``.
``configparser`` is imported lazily: this module is imported by commands, not at CLI startup.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipkit.errors import InputError

DEFAULT_INDEX_URL = "https://pypi.org/simple"
DEFAULT_TIMEOUT = 15.0  # pip's default --timeout, in seconds

_WINDOWS = sys.platform == "win32"
_CONFIG_BASENAME = "pip.ini" if _WINDOWS else "pip.conf"

# Environment variables pip never treats as options (pip's ENV_NAMES_IGNORED).
_ENV_NAMES_IGNORED = ("version", "help")

# The options pipkit cares about, by every long name pip accepts for them (pip looks config keys
# up as "--" + key, so aliases such as ``default-timeout`` work in files and variables alike).
_DEST_BY_KEY: dict[str, str] = {
    "index-url": "index_url",
    "pypi-url": "index_url",
    "extra-index-url": "extra_index_urls",
    "find-links": "find_links",
    "trusted-host": "trusted_hosts",
    "no-index": "no_index",
    "timeout": "timeout",
    "default-timeout": "timeout",
    "cert": "cert",
    "proxy": "proxy",
}
_LIST_DESTS = frozenset({"extra_index_urls", "find_links", "trusted_hosts"})

# pip always reads <this>/pip.conf as a global file on Unix-like systems (tests point it elsewhere).
_SYSTEM_CONFIG_DIR = "/etc"

_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})


@dataclass(frozen=True)
class PipConfig:
    """The index-related settings pip would use for one command."""

    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    no_index: bool = False
    timeout: float = DEFAULT_TIMEOUT
    cert: str | None = None  # CA bundle path
    proxy: str | None = None  # pip's --proxy ("[user:passwd@]proxy.server:port")
    files: tuple[str, ...] = ()  # the config files that existed and were read, in order

    @property
    def index_urls(self) -> tuple[str, ...]:
        """The indexes pip would consult: none under ``no-index``, else index then extras."""
        if self.no_index:
            return ()
        return (self.index_url, *self.extra_index_urls)


@dataclass(frozen=True)
class ConfigFile:
    """One place pip looks for a config file: its kind (global/user/site/env) and path."""

    kind: str
    path: str


def config_files(*, site_prefix: str | None, environ: Mapping[str, str]) -> list[ConfigFile]:
    """Every config file pip would try, in load order (later overrides earlier).

    Empty when ``PIP_CONFIG_FILE`` is ``os.devnull``. Files need not exist. ``site_prefix`` is
    the target interpreter's ``sys.prefix`` (None: no site file, e.g. no target known).
    """
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    files = [ConfigFile("global", path) for path in _global_files(environ)]
    # pip skips the user files when PIP_CONFIG_FILE names a file that exists.
    if not (env_file and os.path.exists(env_file)):
        files += [ConfigFile("user", path) for path in _user_files(environ)]
    if site_prefix is not None:
        files.append(ConfigFile("site", os.path.join(site_prefix, _CONFIG_BASENAME)))
    if env_file is not None:
        files.append(ConfigFile("env", env_file))
    return files


def pip_settings(
    command: str = "install",
    *,
    site_prefix: str | None,
    environ: Mapping[str, str],
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Every raw setting pip would apply to ``pip COMMAND`` as (normalized key, value, origin),
    in the order pip applies them (a later one overrides an earlier one of the same option:
    sections ``[global]``, ``[COMMAND]``, then ``PIP_*``), and the config files read. Empty
    values are left out, as pip drops them. Not interpreted: what each key means is the
    caller's (:func:`load_pip_config`, ``pipkit.env.installer``).
    """
    sections, read = _sections(site_prefix=site_prefix, environ=environ)
    ordered = [
        (key, value, origin)
        for section in ("global", command, ":env:")
        for key, (value, origin) in sections.get(section, {}).items()
        if value
    ]
    return ordered, read


def config_items(*, site_prefix: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """pip's merged configuration as ``pip config list`` shows it: ``"section.key" -> value``
    for every section of every file read (a later file's value wins), and ``":env:.key"`` for
    each ``PIP_*`` variable. Raw values, empty ones included, as pip keeps them.
    """
    sections, _read = _sections(site_prefix=site_prefix, environ=environ)
    return {
        f"{section}.{key}": value
        for section, items in sections.items()
        for key, (value, _origin) in items.items()
    }


def _sections(
    *, site_prefix: str | None, environ: Mapping[str, str]
) -> tuple[dict[str, dict[str, tuple[str, str]]], list[str]]:
    """Every section's ``key -> (value, origin)`` (``":env:"`` for the ``PIP_*`` variables),
    and the config files read, in pip's load order."""
    # A later file's value replaces an earlier one's but, as in pip, a key keeps the position
    # it first appeared at.
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    read: list[str] = []
    for config_file in config_files(site_prefix=site_prefix, environ=environ):
        items = _read_file(config_file.path)
        if items is None:
            continue
        read.append(config_file.path)
        for section, key, value in items:
            sections.setdefault(section, {})[key] = (value, config_file.path)
    env: dict[str, tuple[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith("PIP_"):
            continue
        key = name[4:].lower()
        if key in _ENV_NAMES_IGNORED:
            continue
        env[_normalize_key(key)] = (value, f"environment variable {name}")
    sections[":env:"] = env
    return sections, read


def load_pip_config(
    command: str = "install",
    *,
    site_prefix: str | None,
    environ: Mapping[str, str],
) -> PipConfig:
    """pip's index settings for ``pip COMMAND``, from its config files and ``PIP_*`` variables.

    ``site_prefix`` is the target's ``sys.prefix`` (its ``pip.conf`` is the "site" file);
    ``environ`` is the environment pip would run with (pass ``os.environ`` normally; tests pass
    their own so they never read the developer's real configuration).
    Raises :class:`InputError` for an unreadable file or a bad value, as pip would refuse it.
    """
    settings, read = pip_settings(command, site_prefix=site_prefix, environ=environ)
    values: dict[str, object] = {}
    for key, value, origin in settings:
        dest = _DEST_BY_KEY.get(key)
        # pip ignores keys that are not options of the command.
        if dest is None:
            continue
        values[dest] = _convert(dest, key, value, origin, environ)

    def get_tuple(dest: str) -> tuple[str, ...]:
        value = values.get(dest, ())
        assert isinstance(value, tuple)
        return value

    index_url = values.get("index_url", DEFAULT_INDEX_URL)
    no_index = values.get("no_index", False)
    timeout = values.get("timeout", DEFAULT_TIMEOUT)
    cert = values.get("cert")
    proxy = values.get("proxy")
    assert isinstance(index_url, str) and isinstance(no_index, bool)
    assert isinstance(timeout, float)
    assert cert is None or isinstance(cert, str)
    assert proxy is None or isinstance(proxy, str)
    return PipConfig(
        index_url=index_url,
        extra_index_urls=get_tuple("extra_index_urls"),
        find_links=get_tuple("find_links"),
        trusted_hosts=get_tuple("trusted_hosts"),
        no_index=no_index,
        timeout=timeout,
        cert=cert,
        proxy=proxy,
        files=tuple(read),
    )


def _normalize_key(name: str) -> str:
    """pip's key normalization: case-insensitive, ``_`` same as ``-``, no leading ``--``."""
    return name.lower().replace("_", "-").removeprefix("--")


def _convert(dest: str, key: str, value: str, origin: str, environ: Mapping[str, str]) -> object:
    """One raw config value as the option's type, as pip's option parser converts it."""
    if dest in _LIST_DESTS:
        return tuple(value.split())
    if dest == "no_index":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InputError(
            f"{value!r} is not a valid value for {key}: use a boolean like yes/no, true/false, 1/0",
            location=origin,
        )
    if dest == "timeout":
        try:
            return float(value)
        except ValueError:
            raise InputError(
                f"{value!r} is not a valid value for {key}: a number of seconds is expected",
                location=origin,
            ) from None
    if dest == "cert":
        # pip's "path" option type expands "~".
        return _expand_user(value.strip(), environ)
    return value.strip()


def _read_file(path: str) -> list[tuple[str, str, str]] | None:
    """(section, normalized key, value) of an ini file, or None when it does not exist."""
    if not os.path.exists(path):
        return None
    import configparser
    import locale

    class _Parser(configparser.RawConfigParser):
        def optionxform(self, optionstr: str) -> str:
            return _normalize_key(optionstr)

    parser = _Parser()
    # pip reads config files in the locale's encoding (UTF-8 under -X utf8).
    encoding = "utf-8" if sys.flags.utf8_mode else locale.getpreferredencoding(False)
    try:
        parser.read(path, encoding=encoding)
    except UnicodeDecodeError:
        raise InputError(
            f"pip configuration file contains invalid {encoding} characters", location=path
        ) from None
    except configparser.Error as exc:
        raise InputError(f"malformed pip configuration file: {exc}", location=path) from None
    return [
        (section, key, value)
        for section in parser.sections()
        for key, value in parser.items(section)
    ]


def _home(environ: Mapping[str, str]) -> str:
    """The user's home directory according to ``environ`` (an empty HOME counts as unset)."""
    home = environ.get("USERPROFILE" if _WINDOWS else "HOME")
    if home:
        return home
    return os.path.expanduser("~")


def _expand_user(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith(("~/", "~" + os.sep)):
        return _home(environ) + path[1:]
    return path


def _absolute_dirs(value: str | None) -> list[str]:
    """An XDG path list: entries that are absolute paths (platformdirs drops the others)."""
    stripped = (part.strip() for part in (value or "").split(os.pathsep))
    return [part for part in stripped if os.path.isabs(part)]


def _global_files(environ: Mapping[str, str]) -> Iterable[str]:
    if _WINDOWS:
        program_data = (
            environ.get("ALLUSERSPROFILE") or environ.get("PROGRAMDATA") or r"C:\ProgramData"
        )
        return [os.path.join(program_data, "pip", _CONFIG_BASENAME)]
    if sys.platform == "darwin":
        dirs = ["/Library/Application Support/pip"]
    else:
        dirs = [os.path.join(d, "pip") for d in _absolute_dirs(environ.get("XDG_CONFIG_DIRS"))]
        dirs = dirs or ["/etc/xdg/pip"]
    # pip adds /etc on every Unix-like system, last (so it overrides the XDG ones).
    return [os.path.join(d, _CONFIG_BASENAME) for d in [*dirs, _SYSTEM_CONFIG_DIR]]


def _user_files(environ: Mapping[str, str]) -> list[str]:
    home = _home(environ)
    legacy = os.path.join(home, "pip" if _WINDOWS else ".pip", _CONFIG_BASENAME)
    if _WINDOWS:
        appdata = environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        config_dir = os.path.join(appdata, "pip")
    elif sys.platform == "darwin":
        # pip prefers ~/Library/Application Support/pip when that directory exists.
        config_dir = os.path.join(home, "Library", "Application Support", "pip")
        if not os.path.isdir(config_dir):
            config_dir = os.path.join(home, ".config", "pip")
    else:
        # A relative (or empty) XDG_CONFIG_HOME is ignored, as platformdirs ignores it.
        xdg_home = environ.get("XDG_CONFIG_HOME", "").strip()
        base = xdg_home if os.path.isabs(xdg_home) else os.path.join(home, ".config")
        config_dir = os.path.join(base, "pip")
    return [legacy, os.path.join(config_dir, _CONFIG_BASENAME)]


def as_bool(value: str) -> bool | None:
    """A config value as pip reads a boolean (yes/no, true/false, 1/0...); None if neither."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None
