"""``pipkit freeze`` is byte-identical to the target's own ``pip freeze``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import fake_editable, pip_freeze, pip_install, site_packages
from tests.wheelmaker import make_wheel


def _pipkit_freeze(run_pipkit, venv: Path, *args: str) -> str:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "freeze", *args)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_plain_epochs_local_and_odd_names(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    pip_install(venv, "gamma", "Odd.Name_pkg", "epoch", "localv", wheelhouse=wheelhouse)
    expected = pip_freeze(venv)
    assert "epoch==1!2.0" in expected and "localv==1.0+local.7" in expected
    assert _pipkit_freeze(run_pipkit, venv) == expected
    assert _pipkit_freeze(run_pipkit, venv, "--all") == pip_freeze(venv, "--all")


def test_empty_env(run_pipkit, venv):  # type: ignore[no-untyped-def]
    assert _pipkit_freeze(run_pipkit, venv) == pip_freeze(venv) == ""


def test_editable_direct_url_and_egg_info(run_pipkit, venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    # A direct-URL install from a wheel file (PEP 610 archive_info with a hash).
    direct = make_wheel(tmp_path / "direct", "directpkg", "3.1")
    pip_install(venv, f"directpkg @ {direct.as_uri()}")
    # An editable install, written by hand the way a PEP 660 backend leaves it.
    project = tmp_path / "proj"
    project.mkdir()
    site = site_packages(venv)
    info = fake_editable(site, "edpkg", "0.5", project.as_uri())
    (info / "INSTALLER").write_text("pip\n")
    # A legacy egg-info distribution (setup.py install) with a non-PEP 440 version.
    egg = site / "Legacy_Thing-0.1.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: Legacy-Thing\nVersion: 0.1\n")
    weird = site / "weirdver.egg-info"
    weird.write_text("Metadata-Version: 1.0\nName: weirdver\nVersion: 2.0-custom build\n")
    expected = pip_freeze(venv)
    assert "-e " in expected and "directpkg @ file://" in expected and "weirdver===" in expected
    assert _pipkit_freeze(run_pipkit, venv) == expected
    assert _pipkit_freeze(run_pipkit, venv, "--exclude-editable") == pip_freeze(
        venv, "--exclude-editable"
    )


def test_editable_in_git_checkout(run_pipkit, venv, tmp_path):  # type: ignore[no-untyped-def]
    project = tmp_path / "repo" / "sub"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname='gitpkg'\nversion='1.0'\n")
    git = ["git", "-C", str(tmp_path / "repo")]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "https://example.invalid/x/repo.git"], check=True
    )
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run(
        [*git, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"], check=True
    )
    site = site_packages(venv)
    fake_editable(site, "gitpkg", "1.0", project.as_uri(), record=False)
    expected = pip_freeze(venv)
    assert "-e git+https://example.invalid/x/repo.git@" in expected
    assert "subdirectory=sub" in expected
    assert _pipkit_freeze(run_pipkit, venv) == expected


def test_output_file_is_written(run_pipkit, venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    out = tmp_path / "req.txt"
    out.write_text("old content\n")
    result = run_pipkit("--python", str(venv), "freeze", "-o", str(out))
    assert result.exit_code == 0
    assert out.read_text() == "alpha==1.0\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".req.txt")] == []


def test_legacy_egg_link_editable(run_pipkit, venv, tmp_path):  # type: ignore[no-untyped-def]
    """`setup.py develop` leaves an .egg-link and an easy-install.pth entry."""
    project = tmp_path / "legacy_proj"
    info = project / "Legacy_Dev.egg-info"
    info.mkdir(parents=True)
    (info / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: Legacy-Dev\nVersion: 0.3\n")
    site = site_packages(venv)
    (site / "Legacy-Dev.egg-link").write_text(f"{project}\n.\n")
    (site / "easy-install.pth").write_text(f"{project}\n")
    expected = pip_freeze(venv)
    assert "# Editable install with no version control (Legacy-Dev==0.3)" in expected
    assert _pipkit_freeze(run_pipkit, venv) == expected


def _git(repo: Path, *args: str) -> None:
    config = ["-c", "user.email=t@t", "-c", "user.name=t", "-c", "protocol.file.allow=always"]
    subprocess.run(
        ["git", "-C", str(repo), *config, *args],
        check=True,
        capture_output=True,
    )


def _repo(path: Path, *, remote: str | None, sub: str = "sub") -> Path:
    """A git repo with a project in ``sub`` (or at its root when sub is ""), one commit."""
    project = path / sub if sub else path
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname='gitpkg'\nversion='1.0'\n")
    _git(path, "init", "-q", "-b", "main")
    if remote is not None:
        _git(path, "remote", "add", "origin", remote)
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "x")
    return project


def _checkout(kind: str, tmp: Path) -> Path:
    """An unusual checkout of kind; returns the editable project's folder."""
    remote = "https://example.invalid/x/repo.git"
    if kind == "worktree":
        _repo(tmp / "repo", remote=remote)
        _git(tmp / "repo", "worktree", "add", "-q", str(tmp / "wt"))
        return tmp / "wt" / "sub"
    if kind == "submodule":
        _repo(tmp / "lib", remote=None, sub="")
        _repo(tmp / "super", remote=remote)
        _git(tmp / "super", "submodule", "add", "-q", str(tmp / "lib"), "mod")
        _git(tmp / "super", "commit", "-qm", "mod")
        return tmp / "super" / "mod"
    if kind == "packed-refs":
        project = _repo(tmp / "repo", remote=remote)
        _git(tmp / "repo", "pack-refs", "--all")
        return project
    if kind == "detached":
        project = _repo(tmp / "repo", remote=remote)
        _git(tmp / "repo", "checkout", "-q", "--detach")
        return project
    if kind == "no-remote":
        return _repo(tmp / "repo", remote=None)
    if kind == "root-project":
        return _repo(tmp / "repo", remote=remote, sub="")
    if kind == "credentials":
        return _repo(tmp / "repo", remote="https://user:s3cret@example.invalid/x/repo.git")
    raise AssertionError(kind)


CHECKOUTS = [
    "worktree",
    "submodule",
    "packed-refs",
    "detached",
    "no-remote",
    "root-project",
    "credentials",
]


@pytest.mark.parametrize("kind", CHECKOUTS)
def test_editable_in_unusual_checkouts(run_pipkit, venv, tmp_path, kind):  # type: ignore[no-untyped-def]
    project = _checkout(kind, tmp_path)
    fake_editable(site_packages(venv), "gitpkg", "1.0", project.as_uri(), record=False)
    expected = pip_freeze(venv)
    assert "gitpkg" in expected
    assert _pipkit_freeze(run_pipkit, venv) == expected
