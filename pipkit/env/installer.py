"""The installer engine: what runs the one install step of a transaction, pip or uv.

pipkit changes an environment in one transaction (:mod:`pipkit.env.transaction`); inside it,
ONE program installs what is new. That program is the *engine*: ``pip`` (the default, the
reference for exactness: ``<target> -m pip install --no-deps ...``) or ``uv``
(``uv pip install --python TARGET --no-deps ...``, much faster). Everything around the step
(the env mutex, journal, stash, verification, undo, history and wheel store) is the same for
both.

* :func:`choose` decides the engine from the ``--installer`` option and ``$PIPKIT_INSTALLER``
  (the one place that rule lives; the configuration files' ``installer`` is its last layer).
* :func:`find_uv` finds uv: ``uv.find_uv_bin()`` of the ``uv`` package (``pipkit[uv]``), else
  ``uv`` on PATH; asked for and absent is one clear TargetError before anything changes.
* :func:`uv_install` translates a pip install command line, plus pip's own configuration
  (pip.conf files and ``PIP_*`` variables, read by :func:`pipkit.env.pipconfig.pip_settings`:
  uv reads neither), into uv's flags, so both engines see the same indexes and files. uv's own
  config files are not read (``--no-config``) and its index variables are scrubbed
  (``pipkit.env.proc.UV_SCRUBBED``): pip's configuration is the one source for both. Where pip
  merges every index, uv is told to as well (``--index-strategy unsafe-best-match``). A
  setting uv cannot honour is named: a logged warning when it comes from the configuration or
  the lock's options, an error when it was given on the command line and changes where or
  what is installed.

Only ``install`` steps go to uv; pip's other commands (the legacy uninstall of a
distribution without a RECORD) stay pip's. :func:`uv_index_args` and :func:`uv_environment`
give ``uv pip compile`` (``lock --resolver uv``) pip's index settings the same way.
Effectful (finds programs, runs them through :mod:`pipkit.env.proc`). Imports the standard
library, ``pipkit.errors``, ``pipkit.env.pipconfig`` and, lazily, ``pipkit.env.proc``; never
prints (warnings go through ``logging``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipkit.env.pipconfig import DEFAULT_INDEX_URL, DEFAULT_TIMEOUT, PipConfig
from pipkit.errors import TargetError, UsageError

if TYPE_CHECKING:
    import subprocess

    from pipkit.env.target import Target

__all__ = [
    "DEFAULT",
    "ENGINES",
    "ENV_VAR",
    "Installer",
    "UvCall",
    "choose",
    "find_uv",
    "resolve",
    "uv_environment",
    "uv_index_args",
    "uv_install",
]

_log = logging.getLogger(__name__)

ENGINES = ("pip", "uv")
DEFAULT = "pip"
ENV_VAR = "PIPKIT_INSTALLER"


def choose(option: str | None, environ: Mapping[str, str], configured: str | None = None) -> str:
    """The engine: ``--installer`` (``option``), else ``$PIPKIT_INSTALLER``, else the
    configuration's ``installer`` (``configured``, already checked), else ``pip``.

    An unknown name is a UsageError naming where it came from.
    """
    sources = ((option, "--installer"), (environ.get(ENV_VAR), ENV_VAR), (configured, "config"))
    for value, origin in sources:
        if not value:
            continue
        name = value.strip().lower()
        if name not in ENGINES:
            raise UsageError(f"{origin} {value!r}: unknown installer (choose pip or uv)")
        return name
    return DEFAULT


def find_uv() -> str:
    """uv's binary: the ``uv`` package's (``pip install 'pipkit[uv]'``), else ``uv`` on PATH.

    Asked for and absent: one TargetError (exit 2) saying how to get it.
    """
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


@dataclass(frozen=True)
class Installer:
    """A resolved engine: ``pip``, or ``uv`` with its executable."""

    name: str = DEFAULT
    binary: str | None = None

    def runs(self, pip_args: Sequence[str]) -> str:
        """The program that runs ``pip_args`` (for messages): "uv" for an install under uv."""
        return "uv" if self._via_uv(pip_args) else "pip"

    def _via_uv(self, pip_args: Sequence[str]) -> bool:
        return self.name == "uv" and bool(pip_args) and pip_args[0] == "install"

    def refuse_early(self, target: Target, pip_args: Sequence[str]) -> None:
        """Raise now (UsageError) what :meth:`run` would refuse, before anything is changed."""
        if self._via_uv(pip_args):
            self._uv_call(target, pip_args, os.environ)

    def _uv_call(
        self, target: Target, pip_args: Sequence[str], environ: Mapping[str, str]
    ) -> UvCall:
        from pipkit.env.pipconfig import pip_settings

        settings, _files = pip_settings("install", site_prefix=target.prefix, environ=environ)
        return uv_install(pip_args, python=target.python, settings=settings)

    def run(
        self,
        target: Target,
        pip_args: Sequence[str],
        *,
        capture: bool = False,
        pass_fds: Sequence[int] = (),
        environ: Mapping[str, str] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pip_args`` (a pip command line, ``install ...``) on ``target`` with this engine;
        ``on_line`` gets each line of its captured output as it comes."""
        from pipkit.env import proc

        if not self._via_uv(pip_args):
            return proc.pip(
                target.python, pip_args, capture=capture, pass_fds=pass_fds, on_line=on_line
            )
        call = self._uv_call(target, pip_args, os.environ if environ is None else environ)
        for warning in call.warnings:
            _log.warning("%s", warning)
        assert self.binary is not None
        return proc.uv(
            self.binary,
            call.args,
            capture=capture,
            env=call.env,
            pass_fds=pass_fds,
            on_line=on_line,
        )

    def kept_runnable(self, target: Target, leaving: Collection[str], scratch: Path) -> Installer:
        """This engine, still runnable once ``leaving`` (project names) are stashed.

        When the change replaces or removes the very uv that runs it (uv installed in the
        target), its executable is copied into ``scratch`` (the transaction folder) first.
        """
        if self.name != "uv" or self.binary is None or "uv" not in leaving:
            return self
        real = os.path.realpath(self.binary)
        prefix = os.path.realpath(target.prefix).rstrip(os.sep) + os.sep
        if not real.startswith(prefix):
            return self
        scratch.mkdir(parents=True, exist_ok=True)
        copy = scratch / "uv"
        shutil.copy2(real, copy)
        return dataclasses.replace(self, binary=str(copy))


def resolve(name: str) -> Installer:
    """The engine ``name`` ready to run (uv found), or an error saying why not."""
    if name == "uv":
        return Installer("uv", find_uv())
    if name == "pip":
        return Installer("pip")
    raise UsageError(f"unknown installer {name!r} (choose pip or uv)")


# -- pip's options, as uv's ----------------------------------------------------------------------

# pip's short and alternative names, by pip's long name.
_ALIASES = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "--pypi-url": "--index-url",
    "-f": "--find-links",
    "-U": "--upgrade",
    "-q": "--quiet",
    "-v": "--verbose",
    "-C": "--config-settings",
    "-I": "--ignore-installed",
    "--default-timeout": "--timeout",
    "--no-cache": "--no-cache-dir",
}
# pip options taking a value, handed to uv under its own name.
_VALUE_AS = {
    "--requirement": "-r",
    "--constraint": "-c",
    "--editable": "-e",
    "--no-binary": "--no-binary",
    "--only-binary": "--only-binary",
    "--config-settings": "-C",
    "--cache-dir": "--cache-dir",
}
# pip flags, handed to uv under its own name.
_FLAG_AS = {
    "--no-deps": ("--no-deps",),
    "--upgrade": ("--upgrade",),
    "--force-reinstall": ("--reinstall",),
    "--require-hashes": ("--require-hashes",),
    "--no-build-isolation": ("--no-build-isolation",),
    "--no-cache-dir": ("--no-cache",),
    "--quiet": ("-q",),
    "--verbose": ("-v",),
    "--break-system-packages": ("--break-system-packages",),
    "--compile": ("--compile-bytecode",),
    "--no-color": ("--color", "never"),
}
# pip flags (and valued options, below) uv already behaves as: nothing to hand on. uv never
# prompts, never checks its own version, does not compile byte-code unless asked, verifies
# the hashes a requirement has without requiring them everywhere.
_HONOURED_FLAGS = frozenset(
    {
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--no-warn-conflicts",
        "--no-compile",
        "--no-python-version-warning",
        "--no-require-hashes",
        "--no-clean",
        "--require-virtualenv",  # pipkit checks the target itself (venv / PEP 668)
        "--isolated",  # handled: the configuration is not read
    }
)
_HONOURED_VALUES = frozenset({"--exists-action", "--root-user-action", "--progress-bar"})
# Settings pipkit translates itself (merged from the configuration and the command line).
_SETTING_VALUES = frozenset(
    {
        "--index-url",
        "--extra-index-url",
        "--find-links",
        "--trusted-host",
        "--cert",
        "--proxy",
        "--timeout",
        "--retries",
        "--keyring-provider",
    }
)
_SETTING_FLAGS = frozenset({"--no-index", "--pre"})
# What uv cannot honour. On the command line, those that change where or what is installed are
# refused; the others (and everything from the configuration or the lock) are warnings.
_REFUSED = frozenset(
    {
        "--target",
        "--prefix",
        "--root",
        "--user",
        "--src",
        "--ignore-installed",
        "--python",
        "--report",
        "--dry-run",
        "--global-option",
        "--build-option",
    }
)
_UNHONOURED_FLAGS = frozenset(
    {
        "--prefer-binary",
        "--ignore-requires-python",
        "--use-pep517",
        "--no-use-pep517",
        "--check-build-dependencies",
        "--user",
        "--ignore-installed",
        "--dry-run",
    }
)
_UNHONOURED_VALUES = frozenset(
    {
        "--use-feature",
        "--all-releases",
        "--only-final",
        "--upgrade-strategy",
        "--target",
        "--prefix",
        "--root",
        "--src",
        "--python",
        "--report",
        "--global-option",
        "--build-option",
        "--client-cert",
        "--log",
        "--uploaded-prior-to",
    }
)
_FLAGS = frozenset({*_FLAG_AS, *_HONOURED_FLAGS, *_SETTING_FLAGS, *_UNHONOURED_FLAGS})
_VALUES = frozenset({*_VALUE_AS, *_HONOURED_VALUES, *_SETTING_VALUES, *_UNHONOURED_VALUES})
_LIST_SETTINGS = frozenset({"--extra-index-url", "--find-links", "--trusted-host"})
# Keys of pip's configuration that are not options (pip reads them itself).
_NOT_OPTIONS = frozenset({"config-file"})


@dataclass(frozen=True)
class UvCall:
    """``uv ARGS`` with ``env`` added to its (scrubbed) environment, and what uv cannot honour."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass
class _Translation:
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    trusted_hosts: list[str] = field(default_factory=list)
    no_index: bool = False
    pre: bool = False
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def setting(self, option: str, value: str | None, origin: str) -> None:
        if option == "--no-index":
            self.no_index = True
        elif option == "--pre":
            self.pre = True
        elif option == "--index-url":
            self.index_url = value
        elif option in _LIST_SETTINGS:
            assert value is not None
            {
                "--extra-index-url": self.extra_index_urls,
                "--find-links": self.find_links,
                "--trusted-host": self.trusted_hosts,
            }[option].append(value)
        elif option == "--cert":
            self.env["SSL_CERT_FILE"] = value or ""
        elif option == "--proxy":
            proxy = value or ""
            proxy = proxy if "://" in proxy else f"http://{proxy}"
            self.env["HTTP_PROXY"] = self.env["HTTPS_PROXY"] = proxy
        elif option == "--timeout":
            try:
                seconds = max(1, round(float(value or "")))
            except ValueError:
                raise UsageError(f"{origin}: {value!r} is not a number of seconds") from None
            self.env["UV_HTTP_TIMEOUT"] = str(seconds)
        elif option == "--retries":
            self.env["UV_HTTP_RETRIES"] = value or ""
        elif option == "--keyring-provider":
            if value in ("disabled", "subprocess"):
                self.args += ["--keyring-provider", value]
            else:
                self.warnings.append(
                    f"uv cannot honour pip's --keyring-provider {value} ({origin}): "
                    "uv knows only disabled and subprocess"
                )

    def apply(self, option: str, value: str | None, origin: str, *, strict: bool) -> None:
        """One pip option (long name, value or None for a flag) from ``origin``."""
        if option in _SETTING_FLAGS or option in _SETTING_VALUES:
            self.setting(option, value, origin)
        elif option in _FLAG_AS:
            self.args += _FLAG_AS[option]
        elif option in _VALUE_AS:
            assert value is not None
            self.args += [_VALUE_AS[option], value]
        elif option in _HONOURED_FLAGS or option in _HONOURED_VALUES:
            if option == "--progress-bar" and value == "off":
                self.args.append("--no-progress")
        else:
            shown = f"{option} {value}" if value is not None else option
            if strict and option in _REFUSED:
                raise UsageError(
                    f"uv cannot honour pip's {shown}: use --installer pip for this command"
                )
            self.warnings.append(f"uv cannot honour pip's {shown} ({origin}): uv ignores it")

    def result(self, python: str) -> UvCall:
        args = ["pip", "install", "--python", python, "--no-config"]
        if self.no_index:
            args.append("--no-index")
        else:
            if self.index_url:
                args += ["--index-url", self.index_url]
            for url in dict.fromkeys(self.extra_index_urls):
                args += ["--extra-index-url", url]
            if self.extra_index_urls:
                # pip takes the best candidate over every index; uv's default stops at the first
                # index that has the project.
                args += ["--index-strategy", "unsafe-best-match"]
        for link in dict.fromkeys(self.find_links):
            args += ["--find-links", link]
        for host in dict.fromkeys(self.trusted_hosts):
            args += ["--allow-insecure-host", host]
        if self.pre:
            args += ["--prerelease", "allow"]
        return UvCall(tuple(args + self.args), dict(self.env), tuple(self.warnings))


def _effective(settings: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The setting pip applies for each option: the last one, whatever name it used.

    pip turns its configuration into the options' defaults one by one, so a later value
    REPLACES an earlier one (lists too: ``PIP_EXTRA_INDEX_URL`` replaces a file's
    ``extra-index-url``), and ``pre = no`` after ``pre = yes`` turns it off again.
    """
    last: dict[str, tuple[str, str, str]] = {}
    for key, value, origin in settings:
        option = _ALIASES.get(f"--{key}", f"--{key}")
        last.pop(option, None)
        last[option] = (key, value, origin)
    return list(last.values())


def _config_option(translation: _Translation, key: str, value: str, origin: str) -> None:
    from pipkit.env.pipconfig import as_bool

    option = _ALIASES.get(f"--{key}", f"--{key}")
    if key in _NOT_OPTIONS:
        return
    if option in _FLAGS:
        if option in ("--quiet", "--verbose") and value.strip().isdigit():
            for _ in range(int(value)):
                translation.apply(option, None, origin, strict=False)
            return
        truth = as_bool(value)
        if truth is None and option == "--no-cache-dir":
            truth = True  # pip takes any value of no-cache-dir as "on"
        if truth is None:
            translation.warnings.append(
                f"pip setting {key} = {value!r} ({origin}) is not a boolean: uv ignores it"
            )
        elif truth:
            translation.apply(option, None, origin, strict=False)
        return
    if option in _VALUES:
        values = value.split() if option in _LIST_SETTINGS else [value.strip()]
        for item in values:
            translation.apply(option, item, origin, strict=False)
        return
    translation.warnings.append(
        f"pip setting {key} ({origin}) has no uv equivalent pipkit knows: uv ignores it"
    )


def _split(pip_args: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """pip's command line as (option, value) pairs; (None, argument) for a positional one."""
    pairs: list[tuple[str | None, str | None]] = []
    index = 0
    while index < len(pip_args):
        arg = pip_args[index]
        index += 1
        if not arg.startswith("-") or arg == "-":
            pairs.append((None, arg))
            continue
        value: str | None = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        elif not arg.startswith("--") and len(arg) > 2:
            if arg[:2] in ("-q", "-v") and set(arg[1:]) == {arg[1]}:
                pairs += [(_ALIASES[arg[:2]], None)] * (len(arg) - 1)  # -qq, -vvv
                continue
            arg, value = arg[:2], arg[2:]  # -rFILE
        option = _ALIASES.get(arg, arg)
        if option in _VALUES and value is None:
            if index >= len(pip_args):
                raise UsageError(f"pip option {arg} needs a value")
            value = pip_args[index]
            index += 1
        elif option in _FLAGS and value is not None:
            raise UsageError(f"pip option {arg} takes no value")
        elif option not in _VALUES and option not in _FLAGS:
            raise UsageError(
                f"pip option {arg} has no uv equivalent pipkit knows: "
                "use --installer pip for this command"
            )
        pairs.append((option, value))
    return pairs


def uv_install(
    pip_args: Sequence[str],
    *,
    python: str,
    settings: Sequence[tuple[str, str, str]] = (),
) -> UvCall:
    """``pip install ARGS`` for ``python`` as a ``uv pip install`` call.

    ``settings`` are pip's configured options (:func:`pipkit.env.pipconfig.pip_settings`): they
    apply first, the command line over them (a value replaces, a list adds, as in pip; pip's
    ``--isolated`` leaves the configuration out). Raises UsageError for a command-line option
    uv cannot honour that changes where or what is installed, or one pipkit does not know.
    """
    if not pip_args or pip_args[0] != "install":
        raise UsageError("uv runs pip's install command only")
    pairs = _split(pip_args[1:])
    translation = _Translation()
    if ("--isolated", None) not in pairs:
        for key, value, origin in _effective(settings):
            _config_option(translation, key, value, origin)
    positional: list[str] = []
    for option, argument in pairs:
        if option is None:
            assert argument is not None
            positional.append(argument)
        else:
            translation.apply(option, argument, "command line", strict=True)
    call = translation.result(python)
    return dataclasses.replace(call, args=(*call.args, *positional))


# -- pip's index settings for uv pip compile (ops/lock.py) ---------------------------------------


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
