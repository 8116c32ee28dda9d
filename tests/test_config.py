"""Configuration (issue 11, item 18): ``[tool.pipkit]`` in the project's pyproject.toml and the
user file ``$XDG_CONFIG_HOME/pipkit/config.toml``; options over ``PIPKIT_*`` variables over the
project file over the user file over the built-in defaults.

Each key is checked by what a user sees: the lock ``check`` compares, the engine recorded in
the installed dist's INSTALLER, what ``sync`` would remove, the cap ``history prune`` reports,
the wait a blocked change reports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pipkit.core.config import ConfigFile, merge
from pipkit.env.config import load, project_file
from pipkit.errors import UsageError
from tests.conftest import pip_install


def user_config(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "pipkit" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def project(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\nversion = "0"\n\n' + text)
    return path


# -- the pure checks and the merge -------------------------------------------------------------


def test_each_key_is_read_from_a_table(tmp_path: Path) -> None:
    table = {
        "lock": "locks/dev.txt",
        "installer": "uv",
        "keep": ["ipython", "black"],
        "store-max-mb": 12,
        "lock-timeout": 2.5,
    }
    got = ConfigFile("pyproject.toml", table, base=str(tmp_path), prefix="[tool.pipkit] ")
    assert got.lock == str(tmp_path / "locks" / "dev.txt")
    assert (got.installer, got.keep, got.store_max_mb, got.lock_timeout) == (
        "uv",
        ("ipython", "black"),
        12.0,
        2.5,
    )
    assert got.warnings == ()


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("installer", "conda", 'installer: expected "pip" or "uv", got "conda"'),
        ("lock", 3, "lock: expected a file name, got 3"),
        ("lock", "", 'lock: expected a file name, got ""'),
        ("keep", "ipython", 'keep: expected an array of package names, got "ipython"'),
        ("keep", ["a", 1], "keep: expected an array of package names, got an array"),
        ("store-max-mb", -1, "store-max-mb: expected a number of megabytes >= 0, got -1"),
        ("lock-timeout", "10", 'lock-timeout: expected a number of seconds >= 0, got "10"'),
        ("lock-timeout", True, "lock-timeout: expected a number of seconds >= 0, got true"),
    ],
)
def test_a_wrong_value_names_the_file_and_the_key(key: str, value: Any, line: str) -> None:
    with pytest.raises(UsageError) as caught:
        ConfigFile("pyproject.toml", {key: value}, base=".", prefix="[tool.pipkit] ")
    assert str(caught.value) == f"pyproject.toml: [tool.pipkit] {line}"
    assert caught.value.exit_code == 2


def test_an_unknown_key_is_a_warning_with_a_suggestion() -> None:
    got = ConfigFile("/u/config.toml", {"instaler": "uv", "colour": 1}, base=".")
    assert got.warnings == (
        '/u/config.toml: unknown key "instaler" (ignored; did you mean installer?)',
        '/u/config.toml: unknown key "colour" (ignored; known: installer, keep, lock, '
        "lock-timeout, store-max-mb)",
    )
    assert got.installer is None


def test_the_project_file_wins_over_the_user_file_and_keep_lists_add_up() -> None:
    proj = ConfigFile("pyproject.toml", {"installer": "uv", "keep": ["a", "b"]}, base="/p")
    user = ConfigFile(
        "config.toml", {"installer": "pip", "lock-timeout": 3, "keep": ["b", "c"]}, base="/w"
    )
    got = merge(proj, user)
    assert (got.installer, got.lock_timeout, got.keep) == ("uv", 3.0, ("a", "b", "c"))
    assert got.origins["installer"] == "pyproject.toml"
    assert got.origins["lock_timeout"] == "config.toml"
    assert merge(None, None).empty


# -- finding the files -----------------------------------------------------------------------------


def test_the_nearest_pyproject_with_a_pipkit_table_is_the_project_file(tmp_path: Path) -> None:
    # Like uv's [tool.uv]: a pyproject.toml without the table is passed over.
    outer = project(tmp_path / "outer", '[tool.pipkit]\nlock = "outer.txt"\n')
    inner = project(tmp_path / "outer" / "inner", "[tool.black]\nline-length = 99\n")
    deep = inner.parent / "src" / "pkg"
    deep.mkdir(parents=True)
    found = project_file(str(deep))
    assert found is not None and found[0] == outer
    got = load(str(deep))
    assert got.lock == str(outer.parent / "outer.txt")  # relative to the project's folder
    assert got.files == (str(outer),)
    assert load(str(deep), {**os.environ, "PIPKIT_NO_CONFIG": "1"}).empty


def test_bad_toml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    project(tmp_path, "[tool.pipkit]\nlock = \n")
    with pytest.raises(UsageError, match=r"^pyproject.toml: not valid TOML: "):
        load(str(tmp_path))


# -- through the CLI: each key, each source, the precedence ----------------------------------------


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    # The session's XDG folders are shared by every test: a user file of this test's own.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return folder


def test_a_wrong_value_is_one_line_and_exit_2_before_any_command(
    here: Path, venv: Path, run_pipkit: Any
) -> None:
    project(here, '[tool.pipkit]\ninstaller = "conda"\n')
    for args in (["check"], ["freeze"], ["sync", "--yes"]):
        result = run_pipkit("--python", str(venv), *args)
        assert result.exit_code == 2, args
        assert result.stderr == (
            'pipkit: error: pyproject.toml: [tool.pipkit] installer: expected "pip" or "uv", '
            'got "conda"\n'
        )
        assert result.stdout == ""


def test_an_unknown_key_warns_once_and_the_command_runs(
    here: Path, venv: Path, run_pipkit: Any
) -> None:
    path = user_config('lockfile = "x.txt"\n')
    result = run_pipkit("--python", str(venv), "freeze")
    assert result.exit_code == 0
    assert result.stderr == (
        f'pipkit: warning: {path}: unknown key "lockfile" (ignored; known: installer, keep, '
        "lock, lock-timeout, store-max-mb)\n"
    )


def test_lock_from_each_file_and_the_argument_wins(here: Path, venv: Path, run_pipkit: Any) -> None:
    for name in ("requirements.txt", "from-user.txt", "from-project.txt", "named.txt"):
        (here / name).write_text("")
    py = ["--python", str(venv)]
    assert run_pipkit(*py, "check").stdout.startswith("requirements.txt vs ")  # built-in
    user_config('lock = "from-user.txt"\n')
    assert run_pipkit(*py, "check").stdout.startswith("from-user.txt vs ")
    project(here, '[tool.pipkit]\nlock = "from-project.txt"\n')
    assert run_pipkit(*py, "check").stdout.startswith("from-project.txt vs ")
    assert run_pipkit(*py, "check", "named.txt").stdout.startswith("named.txt vs ")


def test_keep_from_the_files_adds_to_keep_options(
    here: Path, venv: Path, wheelhouse: Path, run_pipkit: Any
) -> None:
    pip_install(venv, "alpha==1.0", "beta==1.0", "Odd.Name_pkg", wheelhouse=wheelhouse)
    (here / "requirements.txt").write_text("alpha==1.0\n")

    def removed(*extra: str) -> list[str]:
        result = run_pipkit("--python", str(venv), "sync", "--dry-run", "--json", *extra)
        assert result.exit_code in (0, 1), result.stderr
        return sorted(item["name"] for item in json.loads(result.stdout)["remove"])

    assert removed() == ["beta", "odd-name-pkg"]
    user_config('keep = ["beta"]\n')
    assert removed() == ["odd-name-pkg"]
    assert removed("--keep", "Odd.Name_pkg") == []  # the option adds to the file's list
    project(here, '[tool.pipkit]\nkeep = ["odd-name-pkg"]\n')
    assert removed() == []  # both files' lists


def test_store_cap_precedence(here: Path, venv: Path, run_pipkit: Any) -> None:
    def cap(env: dict[str, str] | None = None) -> str:
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            result = run_pipkit("--python", str(venv), "history", "prune")
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert result.exit_code == 0, result.stderr
        return result.stderr.strip().rsplit(" of ", 1)[1]

    assert cap() == "500.0 MB)"
    user_config("store-max-mb = 40\n")
    assert cap() == "40.0 MB)"
    project(here, "[tool.pipkit]\nstore-max-mb = 3\n")
    assert cap() == "3.0 MB)"
    assert cap({"PIPKIT_STORE_MAX_MB": "7"}) == "7.0 MB)"


def test_lock_timeout_precedence(
    here: Path, venv: Path, monkeypatch: pytest.MonkeyPatch, run_pipkit: Any
) -> None:
    from pipkit.env.mutex import hold
    from pipkit.env.target import resolve_target

    def refusal() -> str:
        result = run_pipkit("--python", str(venv), "uninstall", "pip", "--force", "--yes")
        assert result.exit_code == 1
        return result.stderr.strip().splitlines()[-1]

    with hold(resolve_target(str(venv)), timeout=0):  # another pipkit changing the env
        user_config("lock-timeout = 0.2\n")
        assert "; waited 0.2 s (" in refusal()
        project(here, "[tool.pipkit]\nlock-timeout = 0\n")
        assert "; waited 0 s (" in refusal()
        monkeypatch.setenv("PIPKIT_LOCK_TIMEOUT", "0.1")
        assert "; waited 0.1 s (" in refusal()


def test_installer_precedence(
    here: Path,
    venv: Path,
    wheelhouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_pipkit: Any,
) -> None:
    def installed_by(package: str) -> str:
        result = run_pipkit(
            "--python",
            str(venv),
            *extra,
            "install",
            package,
            "--",
            "--no-index",
            "--find-links",
            str(wheelhouse),
        )
        assert result.exit_code == 0, result.stderr
        rows = json.loads(run_pipkit("--python", str(venv), "list", "--json").stdout)
        return next(row["installer"] for row in rows if row["name"] == package)

    extra: list[str] = []
    user_config('installer = "uv"\n')
    assert installed_by("alpha") == "uv"
    project(here, '[tool.pipkit]\ninstaller = "pip"\n')
    assert installed_by("epoch") == "pip"
    monkeypatch.setenv("PIPKIT_INSTALLER", "uv")
    assert installed_by("localv") == "uv"
    extra = ["--installer", "pip"]
    assert installed_by("Odd.Name_pkg") == "pip"


def test_the_dashboard_takes_the_configured_lock(here: Path) -> None:
    from pipkit.ops.ui import default_lock

    (here / "requirements.txt").write_text("")
    assert default_lock(str(here)) == str(here / "requirements.txt")
    project(here, '[tool.pipkit]\nlock = "dev.txt"\n')
    assert default_lock(str(here)) == str(here / "dev.txt")
