"""pipkit's reading of pip's configuration, judged by the target's own pip.

Each case writes pip configuration (the venv's site ``pip.conf``, a ``PIP_CONFIG_FILE``,
``PIP_*`` variables, a global XDG file and a user file) and asks the venv's pip what it makes
of it:

* ``pip config list`` (the merged ``section.key=value`` view) must equal
  :func:`pipkit.env.pipconfig.config_items`;
* ``pip config debug`` (which files pip looks at, by kind) must equal
  :func:`pipkit.env.pipconfig.config_files`;
* ``pip install --dry-run --report - -v probe`` shows the indexes and links pip really looks
  in, and the version it picks (a pre-release only under ``pre``): pipkit's
  :func:`~pipkit.env.pipconfig.load_pip_config` must name the same indexes and links, and the
  uv engine's translation must allow pre-releases exactly when pip took one.

``/etc/pip.conf`` cannot be hidden from pip (it is hard-wired); these tests point pipkit back
at the real ``/etc`` too, so both read whatever the machine has there and must still agree.
Everything else pip could read (HOME, the XDG folders) points into the test's own folders.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from pipkit.env import pipconfig
from pipkit.env.installer import uv_install
from tests.conftest import copy_venv, venv_python
from tests.wheelmaker import make_wheel


@pytest.fixture(scope="module")
def oracle_venv(template_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the session venv for the module (pip only reads it here)."""
    return copy_venv(template_venv, tmp_path_factory.mktemp("oracle-config") / "venv")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A links folder with probe 1.0 and 2.0rc1; two file:// indexes serving nothing."""
    root = tmp_path_factory.mktemp("config-sources")
    make_wheel(root / "links", "probe", "1.0")
    make_wheel(root / "links", "probe", "2.0rc1")
    for name in ("index", "extra1", "extra2"):
        (root / name).mkdir()
    return {
        "links": str(root / "links"),
        "index": (root / "index").as_uri(),
        "extra1": (root / "extra1").as_uri(),
        "extra2": (root / "extra2").as_uri(),
        "other": str(root / "index"),  # a second find-links folder (empty)
    }


@pytest.fixture
def where(oracle_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """This test's config places; the site file is removed again afterwards."""
    monkeypatch.setattr(pipconfig, "_SYSTEM_CONFIG_DIR", "/etc")
    places = {
        "site": oracle_venv / "pip.conf",
        "env": tmp_path / "env" / "pip.conf",
        "xdg_global": tmp_path / "xdg-dirs" / "pip" / "pip.conf",
        "user": tmp_path / "home" / ".config" / "pip" / "pip.conf",
        "legacy_user": tmp_path / "home" / ".pip" / "pip.conf",
    }
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg-dirs"))
    monkeypatch.delenv("PIP_CONFIG_FILE")
    yield places
    places["site"].unlink(missing_ok=True)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_python(venv), "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def pip_config_list(venv: Path) -> dict[str, str]:
    proc = pip(venv, "config", "list")
    assert proc.returncode == 0, proc.stderr
    items: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        items[key] = ast.literal_eval(value)
    return items


def pip_config_debug(venv: Path) -> dict[str, list[tuple[str, bool]]]:
    """pip's files by kind (env, global, user, site), each with whether it exists."""
    proc = pip(venv, "config", "debug")
    assert proc.returncode == 0, proc.stderr
    kinds: dict[str, list[tuple[str, bool]]] = {}
    kind = ""
    for line in proc.stdout.splitlines():
        if not line.startswith(" "):
            kind = line.rstrip(":")
            kinds[kind] = []
        elif kind != "env_var" and line.startswith("  ") and not line.startswith("    "):
            path, _, exists = line.strip().rpartition(", exists: ")
            kinds[kind].append((path, exists == "True"))
    kinds.pop("env_var", None)
    return {kind: files for kind, files in kinds.items() if files}


def pip_dry_run(venv: Path) -> tuple[list[str], list[str], str | None]:
    """The indexes and links pip looks in for ``install probe``, and the version it picks."""
    proc = pip(venv, "install", "--dry-run", "--report", "-", "-v", "--quiet", "--no-deps", "probe")
    seen = proc.stdout + proc.stderr
    indexes: list[str] = []
    links: list[str] = []
    for line in seen.splitlines():
        if line.startswith("Looking in indexes: "):
            indexes = line.removeprefix("Looking in indexes: ").split(", ")
        if line.startswith("Looking in links: "):
            links = line.removeprefix("Looking in links: ").split(", ")
    if proc.returncode != 0:
        assert "No matching distribution found for probe" in seen, seen
        return indexes, links, None
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{") :])
    (item,) = report["install"]
    return indexes, links, str(item["metadata"]["version"])


def judge(venv: Path) -> None:
    environ = dict(os.environ)
    prefix = str(venv)

    assert pipconfig.config_items(site_prefix=prefix, environ=environ) == pip_config_list(venv)

    files: dict[str, list[tuple[str, bool]]] = {}
    for config_file in pipconfig.config_files(site_prefix=prefix, environ=environ):
        files.setdefault(config_file.kind, []).append(
            (config_file.path, os.path.exists(config_file.path))
        )
    assert files == pip_config_debug(venv)

    config = pipconfig.load_pip_config("install", site_prefix=prefix, environ=environ)
    indexes, links, version = pip_dry_run(venv)
    # pip -v names the indexes unless there are none or only PyPI's.
    ours = list(config.index_urls) if config.index_urls != (pipconfig.DEFAULT_INDEX_URL,) else []
    assert ours == indexes
    assert list(config.find_links) == links
    # The uv engine's translation of the same configuration: the same places, and
    # pre-releases allowed exactly when pip took one.
    settings, _read = pipconfig.pip_settings("install", site_prefix=prefix, environ=environ)
    uv_args = uv_install(["install", "probe"], python=venv_python(venv), settings=settings).args
    uv_values = {"--index-url": [], "--extra-index-url": [], "--find-links": []}
    for flag, value in itertools.pairwise(uv_args):
        if flag in uv_values:
            uv_values[flag].append(value)
    if "--no-index" in uv_args:
        uv_indexes = []
    else:
        uv_indexes = [*(uv_values["--index-url"] or [pipconfig.DEFAULT_INDEX_URL])]
        uv_indexes += uv_values["--extra-index-url"]
    assert (uv_indexes if uv_indexes != [pipconfig.DEFAULT_INDEX_URL] else []) == indexes
    assert uv_values["--find-links"] == links
    assert version in ("1.0", "2.0rc1"), version  # the links folder is always configured here
    uv_pre = ("--prerelease", "allow") in itertools.pairwise(uv_args)
    assert uv_pre == (version == "2.0rc1")


def test_site_file(where: dict[str, Path], oracle_venv: Path, sources: dict[str, str]) -> None:
    write(
        where["site"],
        f"[global]\nindex-url = {sources['index']}\n"
        f"extra-index-url =\n    {sources['extra1']}\n    {sources['extra2']}\n"
        f"find-links = {sources['links']}\ncert = /nonexistent/ca.pem\n"
        "[install]\npre = true\ntrusted-host = example.invalid  other.invalid\n"
        "[freeze]\nall = yes\n",
    )
    judge(oracle_venv)


def test_pip_config_file_over_site_file(
    where: dict[str, Path],
    oracle_venv: Path,
    sources: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(where["site"], f"[global]\nindex-url = {sources['extra2']}\npre = yes\n")
    write(
        where["env"],
        f"[global]\nindex-url = {sources['index']}\nfind-links = {sources['links']}\n"
        f"[install]\nextra-index-url = {sources['extra1']}\npre = no\ncert = ~/ca.pem\n"
        "trusted-host = example.invalid\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(where["env"]))
    judge(oracle_venv)


def test_pip_config_file_with_no_index(
    where: dict[str, Path],
    oracle_venv: Path,
    sources: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(
        where["env"],
        f"[global]\nno-index = yes\nindex-url = {sources['index']}\n"
        f"find-links = {sources['other']} {sources['links']}\n[install]\nPRE = 1\n",
    )
    monkeypatch.setenv("PIP_CONFIG_FILE", str(where["env"]))
    judge(oracle_venv)


def test_environment_variables_over_files(
    where: dict[str, Path],
    oracle_venv: Path,
    sources: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(
        where["site"],
        f"[global]\nindex-url = {sources['extra2']}\nno-index = true\n"
        f"extra-index-url = {sources['extra2']}\n[install]\npre = false\n",
    )
    monkeypatch.setenv("PIP_INDEX_URL", sources["index"])
    # Replaces the file's list (pip does not add the two up).
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", sources["extra1"])
    monkeypatch.setenv("PIP_FIND_LINKS", sources["links"])
    monkeypatch.setenv("PIP_NO_INDEX", "0")
    monkeypatch.setenv("PIP_TRUSTED_HOST", "example.invalid")
    monkeypatch.setenv("PIP_CERT", "/nonexistent/ca.pem")
    monkeypatch.setenv("PIP_PRE", "yes")
    judge(oracle_venv)


@pytest.mark.parametrize("env_file", ["exists", "missing", "devnull"])
def test_global_and_user_files_with_pip_config_file(
    env_file: str,
    where: dict[str, Path],
    oracle_venv: Path,
    sources: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Global files load beside an existing PIP_CONFIG_FILE; user files only without one;
    os.devnull loads nothing (pip still lists the files it skips, as pipkit does not)."""
    write(where["xdg_global"], f"[global]\nfind-links = {sources['links']}\n")
    write(where["legacy_user"], f"[global]\nindex-url = {sources['extra1']}\n")
    write(where["user"], f"[install]\nextra-index-url = {sources['extra2']}\npre = on\n")
    if env_file == "exists":
        write(where["env"], f"[install]\nindex-url = {sources['index']}\n")
        monkeypatch.setenv("PIP_CONFIG_FILE", str(where["env"]))
    elif env_file == "missing":
        monkeypatch.setenv("PIP_CONFIG_FILE", str(where["env"]))
    else:
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
        environ = dict(os.environ)
        # Nothing is read (pip agrees: its config list has only the PIP_* variables).
        assert pipconfig.config_files(site_prefix=str(oracle_venv), environ=environ) == []
        items = pipconfig.config_items(site_prefix=str(oracle_venv), environ=environ)
        assert items == pip_config_list(oracle_venv)
        assert all(key.startswith(":env:.") for key in items)
        return
    judge(oracle_venv)
