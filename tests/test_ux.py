"""What a user sees when typing pipkit: one-line usage errors, help examples, small wording.

Run as real subprocesses where the exact stderr line matters, so what is checked is what a
terminal shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pip_freeze


def _pipkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipkit", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["install", "requests", "--no-cache-dir"],
            "pipkit: error: no such option --no-cache-dir for install (pip's options go after "
            "--: pipkit install requests -- --no-cache-dir)",
        ),
        (["instal", "requests"], "pipkit: error: no such command instal (did you mean install?)"),
        (["zzzz"], "pipkit: error: no such command zzzz (see pipkit --help)"),
        (["history", "shw"], "pipkit: error: no such command shw (did you mean show?)"),
        (
            ["history", "show", "x"],
            "pipkit: error: history show: invalid value for 'ID': 'x' is not a valid int",
        ),
        (["history", "show"], "pipkit: error: history show: missing argument 'ID'"),
        (
            ["sync", "--dry-rn"],
            "pipkit: error: no such option --dry-rn for sync (did you mean --dry-run?)",
        ),
        (
            ["--pyton", "x", "list"],
            "pipkit: error: no such option --pyton (did you mean --python?)",
        ),
        (["uninstall"], "pipkit: error: uninstall: missing argument 'packages'"),
    ],
)
def test_usage_error_is_one_line_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    result = _pipkit(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_empty_package_name_is_a_usage_error(tmp_path: Path, venv: Path) -> None:
    before = pip_freeze(venv, "--all")
    result = _pipkit("--python", str(venv), "install", "", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "pipkit: error: empty package name: name a package, as in pipkit install requests\n"
    )
    assert pip_freeze(venv, "--all") == before


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from pipkit.cli import app

    root = get_command(app)
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if path:
            found.append(path)
        for name, sub in (subcommands or {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    found.insert(0, [])  # pipkit --help itself
    return found


def test_every_command_help_has_an_example(run_pipkit) -> None:  # type: ignore[no-untyped-def]
    commands = _commands()
    assert ["install"] in commands and ["history", "prune"] in commands
    for path in commands:
        result = run_pipkit(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"pipkit {' '.join(path)} --help has no example"


def test_plural_words() -> None:
    from pipkit.core.words import plural

    assert [plural(n, "package") for n in (0, 1, 2)] == ["0 packages", "1 package", "2 packages"]


def test_lock_line_says_1_package(capsys: pytest.CaptureFixture[str]) -> None:
    from pipkit import render
    from pipkit.ops.lock import LockResult

    result = LockResult(
        path=Path("requirements.txt"),
        format="requirements",
        packages=1,
        fingerprint="0" * 64,
        python_version="3.11",
        platform="linux",
        method="pip-compile",
    )
    render.lock_written(result)
    assert capsys.readouterr().err == (
        "Wrote requirements.txt (1 package, requirements format, for Python 3.11 on linux; "
        "pip-compile)\n"
    )


def test_search_shows_the_ten_newest_versions(run_pipkit, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for minor in range(14):
        (wheels / f"zeta-1.{minor}-py3-none-any.whl").write_bytes(b"")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    result = run_pipkit("--python", sys.executable, "search", "zeta")
    assert result.exit_code == 0, result.output
    newest = ", ".join(f"1.{minor}" for minor in range(13, 3, -1))
    assert f"  versions:  {newest}, and 4 older (--json lists all)\n" in result.stdout


def test_piped_table_does_not_wrap(tmp_path: Path, venv: Path, wheelhouse: Path) -> None:
    """A history row piped to a file stays one line, however long its command."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    run = [sys.executable, "-m", "pipkit", "--python", str(venv)]
    pip_options = ["--no-index", "--find-links", str(wheelhouse), "--progress-bar", "off"]
    install = subprocess.run(
        [*run, "install", "alpha==1.0", "--", *pip_options, "--no-warn-script-location"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert install.returncode == 0, install.stderr
    result = subprocess.run(
        [*run, "history"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "--no-warn-script-location" in line]
    assert len(rows) == 1 and len(rows[0]) > 80, result.stdout


def _complete(words: str, tmp_path: Path) -> list[str]:
    import os

    env = {
        **os.environ,
        "_PIPKIT_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pipkit"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_shell_completion(tmp_path: Path, venv: Path, wheelhouse: Path) -> None:
    from tests.conftest import pip_install

    pip_install(venv, "alpha==1.0", "Odd.Name_pkg", wheelhouse=wheelhouse)
    assert _complete("pipkit unin", tmp_path) == ["uninstall"]
    assert _complete("pipkit sync --dry", tmp_path) == ["--dry-run"]
    assert _complete(f"pipkit --python {venv} show al", tmp_path) == ["alpha"]
    assert _complete(f"pipkit --python {venv} uninstall Odd", tmp_path) == ["Odd.Name_pkg"]
    assert _complete(f"pipkit --python {venv} upgrade odd", tmp_path) == ["odd-name-pkg"]
    script = subprocess.run(
        [sys.executable, "-m", "pipkit", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "_pipkit_completion" in script.stdout


def test_list_outdated_honours_requires_python_as_pip(tmp_path: Path, venv: Path) -> None:
    """A release the target's Python cannot install is not "latest"; the Type column is pip's.
    The oracle is the target's own `pip list --outdated`."""
    import os

    from tests.conftest import pip_install, venv_python
    from tests.wheelmaker import make_wheel

    links = tmp_path / "links"
    make_wheel(links, "alpha", "1.0")
    make_wheel(links, "alpha", "2.0")
    make_wheel(links, "alpha", "3.0", requires_python=">=4")  # no Python 3 may have it
    make_wheel(links, "delta", "1.0")
    pip_install(venv, "alpha==1.0", "delta==1.0", wheelhouse=links)
    (links / "delta-1.5.tar.gz").write_bytes(b"")  # a newer release, as an sdist only
    # A Simple API index: Requires-Python reaches pip (and pipkit) as data-requires-python.
    index = tmp_path / "simple"
    for project in ("alpha", "delta"):
        anchors = []
        for file in sorted(links.glob(f"{project}-*")):
            marker = ' data-requires-python="&gt;=4"' if "3.0" in file.name else ""
            anchors.append(f'<a href="{file.as_uri()}"{marker}>{file.name}</a>')
        (index / project).mkdir(parents=True)
        (index / project / "index.html").write_text("<html><body>" + "".join(anchors))
    env = {**os.environ, "PIP_INDEX_URL": index.as_uri()}
    pip = subprocess.run(
        [venv_python(venv), "-m", "pip", "list", "--outdated"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    ours = subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "list", "--outdated"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == pip.stdout
    assert ours.stdout.splitlines()[2:] == [
        "alpha   1.0     2.0    wheel",
        "delta   1.0     1.5    sdist",
    ]


def test_version_is_the_installed_distributions(run_pipkit):  # type: ignore[no-untyped-def]
    from importlib.metadata import version

    result = run_pipkit("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"pipkit {version('pipkit')}\n"
