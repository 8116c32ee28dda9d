"""``pipkit lock``: resolution through pip-tools or uv, the header, --check, pylock output,
--save.

Hermetic: one session-wide PEP 503 ``simple/`` tree of wheels built in memory, served from
``file://``; every lock input names it with ``--index-url``. pip-compile costs about a second a
run, so the staleness rules are tested against one lock per test, edited in place, and the
pyproject text edits are tested without resolving at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from pipkit.core.inputs import read_inputs
from pipkit.core.staleness import staleness
from pipkit.errors import TargetError
from pipkit.ops import lock as locking
from tests.conftest import venv_python
from tests.core.helpers import PYPROJECT
from tests.wheelmaker import make_wheel

# Names of their own: pip-tools caches dependencies by name and version, session-wide.
PACKAGES: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "apple": [("1.0", [], []), ("2.0", [], [])],
    "banana": [("1.0", ["apple>=1.0"], []), ("2.0", ["apple>=1.0"], [])],
    "cherry": [("1.0", ["banana", "date ; extra == 'fast'"], ["fast"])],
    "date": [("1.0", [], [])],
    # A package that needs setuptools: a hashed lock must pin it too (--allow-unsafe).
    "eggplant": [("1.0", ["setuptools"], [])],
    "setuptools": [("99.0", [], [])],
    # A wheel with a file outside site-packages: it resolves, and pip refuses to install it.
    "rotten": [("1.0", ["apple>=1.0"], [])],
}
ROTTEN = {"../../../../escaped.py": "x = 1\n"}


@pytest.fixture(scope="session")
def index_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PEP 503 simple index (file://) of small wheels, with sha256 fragments."""
    root = tmp_path_factory.mktemp("lock-index")
    files = root / "files"
    simple = root / "simple"
    for name, versions in PACKAGES.items():
        links = []
        for version, requires, extras in versions:
            wheel = make_wheel(
                files,
                name,
                version,
                requires=requires,
                extras=extras,
                files=ROTTEN if name == "rotten" else None,
            )
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            links.append(f'<a href="{wheel.as_uri()}#sha256={digest}">{wheel.name}</a><br>')
        (simple / name).mkdir(parents=True)
        (simple / name / "index.html").write_text(
            "<html><body>" + "".join(links) + "</body></html>"
        )
    (simple / "index.html").write_text(
        "".join(f'<a href="{name}/">{name}</a>' for name in PACKAGES)
    )
    return simple.as_uri()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(params=["pip-tools", "uv"])
def resolver(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[str]:
    """The main lock tests run once per resolver: the ``lock`` arguments that choose it."""
    # uv's own cache, per session (never the user's).
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
    return [] if request.param == "pip-tools" else ["--resolver", "uv"]


def recorded(resolver: list[str]) -> str:
    """What the header's regenerate command adds for the resolver."""
    return "".join(f" {word}" for word in resolver)


def write_in(folder: Path, index_url: str, *lines: str) -> Path:
    path = folder / "requirements.in"
    path.write_text(f"--index-url {index_url}\n" + "".join(line + "\n" for line in lines))
    return path


def pins(path: Path) -> dict[str, str]:
    from pipkit.core.lockfile import read_lock

    return {e.name: e.pinned_version or "" for e in read_lock(path).entries}


def pip_reads(lock: Path, python: str = sys.executable) -> dict[str, str]:
    """The pins pip itself reads from ``lock`` (the oracle for what ``pipkit lock`` wrote):
    ``pip install --dry-run --report - --no-deps --ignore-installed -r LOCK``, name -> version.

    The default pip is the test runner's (recent enough to read pylock.toml with ``-r``).
    """
    proc = subprocess.run(
        [
            *(python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-"),
            *("--no-deps", "--ignore-installed", "-r", str(lock)),
        ],
        capture_output=True,
        text=True,
        cwd=lock.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{") :])
    from packaging.utils import canonicalize_name

    return {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in report["install"]
    }


def run_ok(run_pipkit: Any, *args: str) -> Any:
    result = run_pipkit(*args)
    assert result.exit_code == 0, result.output
    return result


# -- locking ------------------------------------------------------------------------------------


def test_fresh_lock_is_hashed_headed_clean_and_installs_with_require_hashes(
    project: Path,
    index_url: str,
    run_pipkit: Any,
    template_venv: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    resolver: list[str],
) -> None:
    # The machine's own index settings: used or not, they must not land in the lock.
    extra = tmp_path / "machine-extra" / "simple"
    extra.mkdir(parents=True)
    links = tmp_path / "machine-links"
    links.mkdir()
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = {extra.as_uri()}\nfind-links = {links}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", (tmp_path / "machine-extra2").as_uri())
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_TRUSTED_HOST", "machine.example")
    write_in(project, index_url, "# the app", "banana", "cherry[fast]", "eggplant")

    run_ok(run_pipkit, "lock", *resolver)

    text = (project / "requirements.txt").read_text()
    assert "machine-extra" not in text and "machine-links" not in text
    assert "machine.example" not in text and "--find-links" not in text
    assert f"--index-url {index_url}\n" in text
    assert f"#    pipkit lock requirements.in -o requirements.txt{recorded(resolver)}\n" in text
    assert "# pipkit: fingerprint=sha256:" in text and " python=3." in text
    expected = {
        "apple": "2.0",
        "banana": "2.0",
        "cherry": "1.0",
        "date": "1.0",
        "eggplant": "1.0",
        "setuptools": "99.0",
    }
    assert pins(project / "requirements.txt") == expected
    # Read back by pip, the target's (23.2) and a recent one: the same pins.
    assert pip_reads(project / "requirements.txt", venv_python(template_venv)) == expected
    assert pip_reads(project / "requirements.txt") == expected
    assert "cherry[fast]==1.0" in text
    assert "\nsetuptools==99.0 \\\n    --hash=sha256:" in text
    assert text.count("--hash=sha256:") == 6
    from pipkit.core.reqfile import read_requirements

    header = read_requirements(project / "requirements.txt").header
    assert (
        header.fingerprint
        and header.python_version == f"{sys.version_info[0]}.{sys.version_info[1]}"
    )
    assert header.command == f"pipkit lock requirements.in -o requirements.txt{recorded(resolver)}"
    assert not list(project.glob(".pipkit-lock-*"))  # no scratch files left behind

    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    clean["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run(
        [
            venv_python(template_venv),
            "-m",
            "pip",
            "install",
            "-q",
            "--require-hashes",
            "--target",
            str(tmp_path / "site"),
            "-r",
            "requirements.txt",
        ],
        check=True,
        env=clean,
    )
    assert {"apple.py", "banana.py", "cherry.py", "date.py"} <= {
        p.name for p in (tmp_path / "site").iterdir()
    }
    assert staleness(project / "requirements.txt") == []
    result = run_pipkit("lock", "--check")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_relock_keeps_pins_and_upgrades_on_request(
    project: Path, index_url: str, run_pipkit: Any, resolver: list[str]
) -> None:
    write_in(project, index_url, "apple<2", "banana<2")
    run_ok(run_pipkit, "lock", "--no-hashes", *resolver)
    assert pins(project / "requirements.txt") == {"apple": "1.0", "banana": "1.0"}

    write_in(project, index_url, "apple", "banana")
    run_ok(run_pipkit, "lock", "--no-hashes", *resolver)
    assert pins(project / "requirements.txt") == {"apple": "1.0", "banana": "1.0"}

    run_ok(run_pipkit, "lock", "--no-hashes", "-P", "apple", *resolver)
    assert pins(project / "requirements.txt") == {"apple": "2.0", "banana": "1.0"}

    run_ok(run_pipkit, "lock", "--no-hashes", "--upgrade", *resolver)
    assert pins(project / "requirements.txt") == {"apple": "2.0", "banana": "2.0"}
    assert pip_reads(project / "requirements.txt") == {"apple": "2.0", "banana": "2.0"}
    text = (project / "requirements.txt").read_text()
    assert "--hash" not in text and "--no-hashes" in text


def test_failed_resolution_exits_1_and_keeps_the_old_lock(
    project: Path, index_url: str, run_pipkit: Any, resolver: list[str]
) -> None:
    write_in(project, index_url, "apple")
    (project / "requirements.txt").write_text("old\n")
    write_in(project, index_url, "apple>=9")
    result = run_pipkit("lock", *resolver)
    assert result.exit_code == 1
    assert "apple>=9" in result.output and "Traceback" not in result.output
    assert (project / "requirements.txt").read_text() == "old\n"
    assert not list(project.glob(".pipkit-lock-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "yaml"], "--format yaml"),
        (["-o", "lock.toml", "--format", "requirements"], "cannot be a .toml"),
        (["-o", "locked.txt", "--format", "pylock"], "pylock.toml or pylock.NAME.toml"),
        (["missing.in"], "missing.in: no such input file"),
        (["--extra", "dev"], "pyproject.toml"),
        (["--check", "--upgrade"], "--check"),
        (["--resolver", "poetry"], "--resolver poetry: choose one of pip-tools, uv"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    project: Path, index_url: str, run_pipkit: Any, args: list[str], message: str
) -> None:
    write_in(project, index_url, "apple")
    result = run_pipkit("lock", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_input_line_names_file_and_line(project: Path, index_url: str, run_pipkit: Any) -> None:
    write_in(project, index_url, "apple", "banana >>= 1")
    result = run_pipkit("lock")
    assert result.exit_code == 2
    assert "requirements.in:3" in result.output


def test_target_on_another_python_without_pip_tools_is_refused(template_venv: Path) -> None:
    from pipkit.env.target import resolve_target

    target = resolve_target(str(template_venv))
    other = dataclasses.replace(target, version=(3, 99, 0))
    with pytest.raises(TargetError, match=r"Python 3\.99.*pip-tools"):
        locking._compile_python(other)
    assert locking._compile_python(target) == sys.executable
    # Another Python that has pip-tools: pip-compile runs under it.
    with_tools = dataclasses.replace(other, python=sys.executable)
    assert locking._compile_python(with_tools) == sys.executable


# -- staleness ------------------------------------------------------------------------------


@pytest.fixture
def locked(
    project: Path, index_url: str, monkeypatch: pytest.MonkeyPatch, resolver: list[str]
) -> Path:
    """A fresh hashed lock of apple<2, banana, cherry[fast] (apple 1.0, banana 2.0...), made by
    each resolver."""
    write_in(project, index_url, "apple<2", "banana", "cherry[fast]")
    locking.lock(None, locking.LockSpec(resolver=(resolver or [None])[-1]), progress=False)

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("--check must not start a process (it is offline)")

    # From here on nothing may run: staleness is decided from the files alone.
    monkeypatch.setattr("pipkit.env.proc.run", no_process)
    return project / "requirements.txt"


def reasons_after(project: Path, index_url: str, *lines: str) -> list[str]:
    write_in(project, index_url, *lines)
    return staleness(project / "requirements.txt")


def test_check_ignores_order_comments_and_spelling(locked: Path, index_url: str) -> None:
    project = locked.parent
    assert reasons_after(project, index_url, "# fruit", "Cherry[FAST]", "BANANA", "apple <2") == []


def test_check_names_each_reason(locked: Path, index_url: str, run_pipkit: Any) -> None:
    project = locked.parent

    reasons = reasons_after(project, index_url, "apple>=2", "banana", "cherry[fast]")
    assert any("fingerprint" in r for r in reasons)
    assert any(
        "requirements.in:2: apple>=2 is not satisfied by the lock's apple==1.0" in r
        for r in reasons
    )

    reasons = reasons_after(project, index_url, "apple<2", "banana", "cherry[fast]", "fig")
    assert any("requirements.in:5: fig is not in the lock" in r for r in reasons)

    reasons = reasons_after(project, index_url, "apple<2", "banana", "cherry[fast,slow]")
    assert any("extra(s) slow" in r for r in reasons)

    reasons = reasons_after(project, index_url, "apple<2", "banana")
    assert any("cherry is reached by no input" in r for r in reasons)
    assert any("date is reached by no input" in r for r in reasons)
    assert not any("banana is reached" in r or "apple is reached" in r for r in reasons)

    # banana is still needed by cherry: dropping it from the inputs leaves it reachable.
    reasons = reasons_after(project, index_url, "apple<2", "cherry[fast]")
    assert [r for r in reasons if "reached by no input" in r] == []

    write_in(project, index_url, "apple>=2", "banana", "cherry[fast]")
    result = run_pipkit("lock", "--check")
    assert result.exit_code == 1
    assert "is stale" in result.output and "apple>=2" in result.output


def test_check_marker_change(project: Path, index_url: str) -> None:
    write_in(project, index_url, 'apple ; python_version >= "3"')
    locking.lock(None, locking.LockSpec(hashes=False), progress=False)
    assert staleness(project / "requirements.txt") == []
    write_in(project, index_url, "apple")
    reasons = staleness(project / "requirements.txt")
    assert any("different marker" in r for r in reasons)


def test_check_lock_without_fingerprint_uses_satisfaction_rules(project: Path) -> None:
    # What plain pip-compile writes: no pipkit fingerprint.
    (project / "requirements.in").write_text("apple\nbanana>=1\n")
    (project / "requirements.txt").write_text(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n"
        "# by the following command:\n#\n#    pip-compile\n#\n"
        "apple==1.0\n    # via\n    #   -r requirements.in\n    #   banana\n"
        "banana==1.0\n    # via -r requirements.in\n"
        "old==1.0\n    # via -r requirements.in\n"
    )
    reasons = staleness("requirements.txt")
    assert len(reasons) == 1 and "old is reached by no input" in reasons[0]

    (project / "requirements.in").write_text("apple\nbanana>=2\n")
    reasons = staleness("requirements.txt")
    assert any("banana>=2 is not satisfied" in r for r in reasons)
    assert not any("fingerprint" in r for r in reasons)


def test_check_stripped_extras_and_uv_locks_are_not_held_to_extras(project: Path) -> None:
    (project / "requirements.in").write_text("cherry[fast]\n")
    body = "cherry==1.0\n    # via -r requirements.in\ndate==1.0\n    # via cherry\n"
    (project / "requirements.txt").write_text("#    pip-compile --strip-extras\n" + body)
    assert staleness("requirements.txt") == []
    (project / "requirements.txt").write_text("#    uv pip compile requirements.in\n" + body)
    assert staleness("requirements.txt") == []


def test_check_without_inputs_is_a_usage_error(project: Path, run_pipkit: Any) -> None:
    (project / "requirements.txt").write_text("apple==1.0\n")
    result = run_pipkit("lock", "--check")
    assert result.exit_code == 2 and "no lock inputs found" in result.output
    result = run_pipkit("lock", "--check", "-o", "nothere.txt")
    assert result.exit_code == 2 and "nothere.txt: no such lock" in result.output


# -- pyproject.toml -------------------------------------------------------------------------


def test_lock_all_extras_takes_every_optional_group(
    project: Path, index_url: str, run_pipkit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    run_ok(run_pipkit, "lock", "--no-hashes")
    assert set(pins(project / "requirements.txt")) == {"apple", "banana"}
    run_ok(run_pipkit, "lock", "--all-extras", "--no-hashes")
    assert set(pins(project / "requirements.txt")) == {"apple", "banana", "cherry", "date"}


def test_pyproject_lock_with_extras_and_check(
    project: Path,
    index_url: str,
    run_pipkit: Any,
    monkeypatch: pytest.MonkeyPatch,
    resolver: list[str],
) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    # pyproject.toml has no index option: the test index comes from pip's own config (which uv
    # does not read: pipkit hands it on as flags).
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    run_ok(run_pipkit, "lock", "--extra", "all", "--no-hashes", *resolver)
    lock_path = project / "requirements.txt"
    text = lock_path.read_text()
    assert (
        "#    pipkit lock pyproject.toml -o requirements.txt --no-hashes --extra all"
        f"{recorded(resolver)}\n" in text
    )
    assert index_url not in text  # pip's configuration, not the inputs'
    assert "# via demo-app (pyproject.toml)" in text
    assert set(pins(lock_path)) == {"apple", "banana", "cherry", "date"}
    assert staleness(lock_path) == []
    result = run_pipkit("lock", "--check")
    assert result.exit_code == 0, result.output

    (project / "pyproject.toml").write_text(PYPROJECT.replace('"banana",', '"banana<2",'))
    reasons = staleness(lock_path)
    assert any("fingerprint" in r for r in reasons)
    assert any("banana<2 is not satisfied" in r and "pyproject.toml:9" in r for r in reasons)


def test_pyproject_unknown_extra_and_dynamic_dependencies(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT)
    with pytest.raises(Exception, match="no optional dependency group 'dev'"):
        read_inputs(["pyproject.toml"], extras=["dev"])
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndynamic = ["dependencies"]\n'
    )
    with pytest.raises(Exception, match="dynamic"):
        read_inputs(["pyproject.toml"])


# -- pylock.toml ----------------------------------------------------------------------------


def _pip_install_target(lock: Path, dest: Path) -> None:
    """Install from a pylock.toml with pipkit's own pip (pip >= 25.1 reads PEP 751 files)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    clean["PIP_CONFIG_FILE"] = os.devnull
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--target",
            str(dest),
            "-r",
            str(lock),
        ],
        check=True,
        env=clean,
    )


def test_pylock_from_the_index_for_an_old_pip_target(
    project: Path,
    index_url: str,
    run_pipkit: Any,
    template_venv: Path,
    tmp_path: Path,
    resolver: list[str],
) -> None:
    write_in(project, index_url, "banana", "cherry[fast]")
    result = run_ok(
        run_pipkit, "--python", str(template_venv), "lock", "--format", "pylock", *resolver
    )
    made_by = "uv pip compile" if resolver else "pip-compile"
    assert f"{made_by} + index" in result.output  # the venv's pip predates `pip lock`
    lock_path = project / "pylock.toml"
    data = tomllib.loads(lock_path.read_text())
    pylock = Pylock.from_dict(data)
    expected = {"apple": "2.0", "banana": "2.0", "cherry": "1.0", "date": "1.0"}
    assert {p.name: str(p.version) for p in pylock.packages} == expected
    assert pip_reads(lock_path) == expected  # pip >= 26 reads pylock.toml with -r
    assert data["tool"]["pipkit"]["fingerprint"].startswith("sha256:")
    assert (
        data["tool"]["pipkit"]["command"]
        == f"pipkit lock requirements.in -o pylock.toml --format pylock{recorded(resolver)}"
    )
    assert staleness(lock_path) == []
    _pip_install_target(lock_path, tmp_path / "site")
    assert (tmp_path / "site" / "cherry.py").is_file()

    write_in(project, index_url, "banana<2", "cherry[fast]")
    reasons = staleness(lock_path)
    assert any("banana<2 is not satisfied" in r for r in reasons)


def test_pylock_through_pip_lock(
    project: Path, index_url: str, run_pipkit: Any, resolver: list[str]
) -> None:
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "lock", "-o", "pylock.app.toml", *resolver)
    write_in(project, index_url, "banana")  # apple 1.0 stays: its pin is kept
    # No --python: the target is pipkit's own interpreter, whose pip has `pip lock`.
    result = run_ok(run_pipkit, "lock", "-o", "pylock.app.toml", *resolver)
    made_by = "uv pip compile" if resolver else "pip-compile"
    assert f"{made_by} + pip lock" in result.output
    data = tomllib.loads((project / "pylock.app.toml").read_text())
    Pylock.from_dict(data)
    assert data["created-by"] == "pipkit"
    assert {p["name"]: p["version"] for p in data["packages"]} == {"apple": "1.0", "banana": "2.0"}
    assert pip_reads(project / "pylock.app.toml") == {"apple": "1.0", "banana": "2.0"}
    assert staleness(project / "pylock.app.toml") == []


# -- install --save / uninstall --save ------------------------------------------------------


def _installed(venv: Path) -> set[str]:
    from pipkit.env.dists import installed
    from pipkit.env.target import resolve_target

    return set(installed(resolve_target(str(venv)).sys_path))


def test_install_and_uninstall_save_keep_inputs_lock_and_env_in_step(
    project: Path, index_url: str, run_pipkit: Any, venv: Path
) -> None:
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "--python", str(venv), "lock")

    run_ok(run_pipkit, "--python", str(venv), "install", "banana<2", "--save", "--yes")
    assert (project / "requirements.in").read_text().endswith("apple<2\nbanana<2\n")
    assert pins(project / "requirements.txt") == {"apple": "1.0", "banana": "1.0"}
    assert {"apple", "banana"} <= _installed(venv)
    assert staleness(project / "requirements.txt") == []

    run_ok(run_pipkit, "--python", str(venv), "uninstall", "banana", "--save", "--yes")
    assert (project / "requirements.in").read_text().endswith("apple<2\n")
    assert pins(project / "requirements.txt") == {"apple": "1.0"}
    assert "banana" not in _installed(venv)

    result = run_pipkit("--python", str(venv), "uninstall", "fig", "--save", "--yes")
    assert result.exit_code == 2 and "fig is not listed" in result.output


def test_install_save_into_pyproject_keeps_its_comments(
    project: Path, index_url: str, run_pipkit: Any, venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    (project / "pyproject.toml").write_text(PYPROJECT)
    run_ok(run_pipkit, "--python", str(venv), "install", "date", "--save", "--yes")
    text = (project / "pyproject.toml").read_text()
    assert '    "banana",  # the main one\n    "date",\n    # apple comes with banana\n' in text
    assert set(pins(project / "requirements.txt")) == {"apple", "banana", "date"}
    assert {"apple", "banana", "date"} <= _installed(venv)


def test_save_is_all_or_nothing(project: Path, index_url: str, run_pipkit: Any, venv: Path) -> None:
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "--python", str(venv), "lock")
    before_in = (project / "requirements.in").read_bytes()
    before_lock = (project / "requirements.txt").read_bytes()

    # The relock fails: nothing on the index satisfies it.
    result = run_pipkit("--python", str(venv), "install", "banana>=9", "--save", "--yes")
    assert result.exit_code == 1 and "banana>=9" in result.output
    assert (project / "requirements.in").read_bytes() == before_in
    assert (project / "requirements.txt").read_bytes() == before_lock

    # The relock works but the sync fails for real: pip refuses rotten's wheel.
    env_before = _installed(venv)
    result = run_pipkit("--python", str(venv), "install", "rotten", "--save", "--yes")
    assert result.exit_code == 1, result.output
    assert "rotten" in result.output
    assert (project / "requirements.in").read_bytes() == before_in
    assert (project / "requirements.txt").read_bytes() == before_lock
    assert _installed(venv) == env_before and "rotten" not in env_before


def test_save_keeps_what_was_installed_outside_the_lock_and_names_what_changed(
    project: Path, index_url: str, run_pipkit: Any, venv: Path
) -> None:
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "--python", str(venv), "lock")
    run_ok(run_pipkit, "--python", str(venv), "sync", "--yes")
    # date comes from plain pip, outside the lock.
    subprocess.run(
        [venv_python(venv), "-m", "pip", "install", "-q", "--index-url", index_url, "date"],
        check=True,
    )
    result = run_ok(run_pipkit, "--python", str(venv), "install", "banana<2", "--save", "--yes")
    assert "date" in _installed(venv) and "banana" in _installed(venv)
    lines = result.stderr.splitlines()
    assert "+ banana 1.0" in lines
    assert not any(line.startswith("- ") for line in lines)
    assert "kept (not in the lock): date 1.0" in result.stderr
    assert lines[-1] == "Installed 1 package"
    # --exact asks for the lock and nothing else: now date goes, and is named.
    result = run_ok(
        run_pipkit, "--python", str(venv), "uninstall", "banana", "--save", "--exact", "--yes"
    )
    lines = result.stderr.splitlines()
    assert "- banana 1.0" in lines and "- date 1.0" in lines
    assert lines[-1] == "Removed 2 packages"
    assert _installed(venv) & {"banana", "date"} == set()


def test_save_keeps_the_configured_keep_list_even_when_exact(
    project: Path,
    index_url: str,
    run_pipkit: Any,
    venv: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # keep = [...] in the user file (issue 11, item 18): --save's sync keeps it as sync does.
    config = tmp_path / "xdg-config" / "pipkit" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('keep = ["date"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config.parent.parent))
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "--python", str(venv), "lock")
    run_ok(run_pipkit, "--python", str(venv), "sync", "--yes")
    subprocess.run(
        [venv_python(venv), "-m", "pip", "install", "-q", "--index-url", index_url, "date"],
        check=True,
    )
    result = run_ok(
        run_pipkit, "--python", str(venv), "install", "banana<2", "--save", "--exact", "--yes"
    )
    assert "date" in _installed(venv) and "banana" in _installed(venv)
    assert not any(line.startswith("- ") for line in result.stderr.splitlines())


def test_save_answered_no_puts_the_files_back(
    project: Path, index_url: str, run_pipkit: Any, venv: Path, terminal: None
) -> None:
    write_in(project, index_url, "apple<2")
    run_ok(run_pipkit, "--python", str(venv), "lock")
    before_in = (project / "requirements.in").read_bytes()
    before_lock = (project / "requirements.txt").read_bytes()
    result = run_pipkit("--python", str(venv), "install", "banana<2", "--save", input="n\n")
    assert result.exit_code == 1
    assert "+ banana 1.0" in result.stderr
    assert result.stderr.endswith("Apply these changes? [Y/n]: pipkit: nothing changed\n")
    assert (project / "requirements.in").read_bytes() == before_in
    assert (project / "requirements.txt").read_bytes() == before_lock
    assert "banana" not in _installed(venv)


# -- the examples -----------------------------------------------------------------------------


def test_examples_are_consistent() -> None:
    examples = Path(__file__).resolve().parent.parent / "examples"
    assert staleness(examples / "requirements.txt") == []
    assert staleness(examples / "pylock.toml") == []
    Pylock.from_dict(tomllib.loads((examples / "pylock.toml").read_text()))
