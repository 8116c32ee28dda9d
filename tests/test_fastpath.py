"""The stdlib-only fast path (pipkit/fastpath.py): the same answer as the full CLI, byte for
byte, and answered before typer, click, rich or packaging are imported.

Each form runs as a subprocess twice: through the console script's first module, and with
``PIPKIT_NO_FASTPATH=1`` (the full typer CLI); stdout, stderr and the exit code must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fake_editable, pip_install, site_packages

ENTRY = (
    "import sys\nfrom pipkit.fastpath import main\nsys.argv = ['pipkit', *sys.argv[1:]]\nmain()\n"
)

# Runs only the fast path, then says whether it answered and which heavy modules it imported.
PROBE = (
    "import json, sys\n"
    "from pipkit.fastpath import answer\n"
    "code = answer(sys.argv[1:])\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
    "{'typer', 'click', 'rich', 'packaging'})\n"
    "sys.stderr.write('\\nPROBE ' + json.dumps([code, heavy]))\n"
)

HEAVY_FREE_FORMS = [["freeze"], ["freeze", "--all"], ["list"], ["list", "--json"]]


def run(
    code: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(venv: Path, wheelhouse: Path) -> Path:
    pip_install(venv, "alpha==1.0", "beta==1.0", "Odd.Name_pkg", "localv", wheelhouse=wheelhouse)
    return venv


def test_fast_freeze_and_list_are_byte_identical_to_the_full_cli(
    env: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    # The unusual cases too: an epoch (packaging is then imported, lazily), a local version,
    # an editable (its own column in list, a comment in freeze).
    pip_install(env, "epoch", wheelhouse=wheelhouse)
    fake_editable(site_packages(env), "Edit_Me", "0.1", (tmp_path / "proj").as_uri())
    py = ["--python", str(env)]
    forms = [*HEAVY_FREE_FORMS, ["freeze", "--exclude-editable"], ["freeze", "--all", "--all"]]
    for form in forms:
        fast = run(ENTRY, *py, *form, cwd=tmp_path)
        full = run(ENTRY, *py, *form, cwd=tmp_path, env={"PIPKIT_NO_FASTPATH": "1"})
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), form
        assert fast.returncode == 0 and fast.stdout, form
    listed = json.loads(run(ENTRY, *py, "list", "--json", cwd=tmp_path).stdout)
    assert {row["name"]: row["version"] for row in listed}.items() >= {
        "alpha": "1.0",
        "epoch": "1!2.0",
        "localv": "1.0+local.7",
        "Edit_Me": "0.1",
    }.items()


def test_fast_answers_import_no_typer_click_rich_or_packaging(env: Path, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nbeta==1.0\nlocalv==1.0+local.7\nodd-name-pkg==1.0\n")
    py = ["--python", str(env)]
    cached = [["check"], ["check", "--json"], ["sync", "--yes"], ["sync", "-y", "--json"]]
    for form in cached:  # a full run fills the no-op cache
        assert run(ENTRY, *py, *form, cwd=tmp_path).returncode == 0, form
    for form in [*cached, *HEAVY_FREE_FORMS]:
        probe = run(PROBE, *py, *form, cwd=tmp_path)
        code, heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
        assert (code, heavy) == (0, []), (form, probe.stderr)
    # The installer engine changes nothing a no-op, freeze or list says: still answered fast,
    # and the same as the full CLI with that option.
    for engine in (["--installer", "uv"], ["--installer=pip"]):
        for form in [["check"], ["sync", "--yes"], ["freeze"]]:
            probe = run(PROBE, *engine, *py, *form, cwd=tmp_path)
            code, heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
            assert (code, heavy) == (0, []), (engine, form, probe.stderr)
            fast = run(ENTRY, *engine, *py, *form, cwd=tmp_path)
            full = run(ENTRY, *engine, *py, *form, cwd=tmp_path, env={"PIPKIT_NO_FASTPATH": "1"})
            assert (fast.returncode, fast.stdout, fast.stderr) == (
                full.returncode,
                full.stdout,
                full.stderr,
            ), (engine, form)
    bogus = run(PROBE, "--installer", "conda", *py, "check", cwd=tmp_path)
    assert json.loads(bogus.stderr.rpartition("PROBE ")[2])[0] is None  # the full CLI says why


@pytest.mark.parametrize(
    "form", [["list", "--outdated"], ["freeze", "-o", "out.txt"], ["list", "--not-required"]]
)
def test_other_forms_fall_through_to_the_full_cli(
    env: Path, tmp_path: Path, form: list[str]
) -> None:
    probe = run(PROBE, "--python", str(env), *form, cwd=tmp_path)
    code, _heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
    assert code is None


def test_a_target_that_cannot_be_resolved_falls_through(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    probe = run(PROBE, "--python", missing, "freeze", cwd=tmp_path)
    code, _heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
    assert code is None
    full = run(ENTRY, "--python", missing, "freeze", cwd=tmp_path)
    assert full.returncode == 2 and full.stderr.startswith("pipkit: error: ")


def test_a_configured_lock_and_keep_are_answered_fast_and_the_same(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [tool.pipkit] in the project's pyproject.toml, run from a folder below it: the lock it
    # names and the package it keeps give the full CLI's answer, still without typer & co.
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\n\n'
        '[tool.pipkit]\nlock = "locks/dev.txt"\nkeep = ["Odd.Name_pkg"]\n'
    )
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "dev.txt").write_text("alpha==1.0\nbeta==1.0\nlocalv==1.0+local.7\n")
    below = tmp_path / "src"
    below.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    py = ["--python", str(env)]
    forms = [["check"], ["check", "--json"], ["sync", "--yes"], ["freeze"]]
    for form in forms:
        full = run(ENTRY, *py, *form, cwd=below, env={"PIPKIT_NO_FASTPATH": "1"})
        assert full.returncode == 0, (form, full.stderr)
        probe = run(PROBE, *py, *form, cwd=below)
        code, heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
        assert (code, heavy) == (0, []), (form, probe.stderr)
        fast = run(ENTRY, *py, *form, cwd=below)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), form
    assert run(ENTRY, *py, "check", cwd=below).stdout.startswith(
        f"{tmp_path / 'locks' / 'dev.txt'} vs "
    )
    # A user file the full CLI warns about (an unknown key) or refuses (a wrong value): the
    # fast path leaves it to the full CLI, so both say the same.
    user = tmp_path / "xdg-config" / "pipkit" / "config.toml"
    user.parent.mkdir(parents=True)
    for text, code in (('colour = "blue"\n', 0), ('installer = "conda"\n', 2)):
        user.write_text(text)
        for form in (["check"], ["freeze"]):
            probe = run(PROBE, *py, *form, cwd=below)
            assert json.loads(probe.stderr.rpartition("PROBE ")[2])[0] is None, (text, form)
            fast = run(ENTRY, *py, *form, cwd=below)
            full = run(ENTRY, *py, *form, cwd=below, env={"PIPKIT_NO_FASTPATH": "1"})
            assert (fast.returncode, fast.stdout, fast.stderr) == (
                full.returncode,
                full.stdout,
                full.stderr,
            )
            assert fast.returncode == code and str(user) in fast.stderr, (text, form)


def test_quiet_forms_are_answered_fast_and_say_the_same(env: Path, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nbeta==1.0\nlocalv==1.0+local.7\nodd-name-pkg==1.0\n")
    py = ["--python", str(env)]
    forms = [["-q", "check"], ["--quiet", "check", "--json"], ["-q", "sync", "--yes"]]
    for form in [*forms, ["-q", "freeze"], ["-q", "list"]]:
        full = run(ENTRY, *py, *form, cwd=tmp_path, env={"PIPKIT_NO_FASTPATH": "1"})
        assert full.returncode == 0, (form, full.stderr)
        probe = run(PROBE, *py, *form, cwd=tmp_path)
        code, heavy = json.loads(probe.stderr.rpartition("PROBE ")[2])
        assert (code, heavy) == (0, []), (form, probe.stderr)
        fast = run(ENTRY, *py, *form, cwd=tmp_path)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), form
    # In sync, -q says nothing at all; on drift, only the differences (exit 1).
    quiet = run(ENTRY, *py, "-q", "check", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert run(ENTRY, *py, "-q", "sync", "--yes", cwd=tmp_path).stderr == ""
    lock.write_text("alpha==1.0\nbeta==2.0\nlocalv==1.0+local.7\nodd-name-pkg==1.0\n")
    drift = run(ENTRY, *py, "-q", "check", cwd=tmp_path)
    assert (drift.returncode, drift.stdout, drift.stderr) == (
        1,
        "changed   beta 1.0 (locked: 2.0)\n",
        "",
    )
