"""``pipkit sync pylock.toml``: one request per package, for the one file that fits the target.

The lock's files are served by a loopback HTTP server that counts every request. Each package
lists several files (wheels for other platforms and Pythons, an sdist); a sync must fetch only
the wheel that fits, once, and ask no index or listing page: never files x packages lookups.
Runs once per installer engine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import pip_freeze, site_packages
from tests.loopback import FileServer
from tests.wheelmaker import make_wheel

# Files no target of these tests can install (another OS, Python 2 only).
FOREIGN_TAGS = ("cp27-cp27m-win32", "py2-none-any", "cp312-cp312-macosx_11_0_arm64")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pylock(files: Path, url: str, packages: dict[str, list[str]]) -> str:
    text = 'lock-version = "1.0"\ncreated-by = "tests"\n'
    for name, filenames in packages.items():
        text += f'\n[[packages]]\nname = "{name}"\nversion = "1.0"\nwheels = [\n'
        for filename in filenames:
            if filename.endswith(".whl"):
                digest = _sha256(files / filename)
                text += f'  {{ url = "{url}{filename}", hashes = {{ sha256 = "{digest}" }} }},\n'
        text += "]\n"
        sdists = [f for f in filenames if f.endswith(".tar.gz")]
        if sdists:
            digest = _sha256(files / sdists[0])
            text += f'sdist = {{ url = "{url}{sdists[0]}", hashes = {{ sha256 = "{digest}" }} }}\n'
    return text


def test_pylock_sync_fetches_one_file_per_package(engine, run_pipkit, venv, tmp_path):  # type: ignore[no-untyped-def]
    files = tmp_path / "files"
    packages: dict[str, list[str]] = {}
    for name in ("alpha", "beta", "gamma", "delta"):
        fitting = make_wheel(files, name, "1.0")
        listed = [fitting.name]
        for tag in FOREIGN_TAGS:
            other = make_wheel(tmp_path / "other", name, "1.0", tag=tag)
            (files / other.name).write_bytes(other.read_bytes())
            listed.append(other.name)
        sdist = files / f"{name}-1.0.tar.gz"
        sdist.write_bytes(b"never fetched: a wheel fits")
        listed.append(sdist.name)
        packages[name] = listed
    with FileServer(files) as server:
        lock = tmp_path / "pylock.toml"
        lock.write_text(_pylock(files, server.url, packages))
        result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
        requests = server.file_requests()
        listing = server.requests["/"]
    assert result.exit_code == 0, result.output
    # 4 packages x 5 files listed: exactly the 4 fitting wheels, each once, no listing page.
    assert requests == {f"/{name}-1.0-py3-none-any.whl": 1 for name in packages}
    assert listing == 0
    # Installed as from an index, as `pip install -r pylock.toml` records it: no direct URL,
    # so freeze (pipkit's and pip's) and check read the same after either engine.
    assert not list(site_packages(venv).glob("*.dist-info/direct_url.json"))
    freeze = run_pipkit("--python", str(venv), "freeze")
    assert freeze.stdout == "alpha==1.0\nbeta==1.0\ndelta==1.0\ngamma==1.0\n"
    assert pip_freeze(venv) == freeze.stdout
    check = run_pipkit("--python", str(venv), "check", str(lock))
    assert check.exit_code == 0, check.output


def test_a_package_no_file_fits_is_refused_first(engine, run_pipkit, venv, tmp_path):  # type: ignore[no-untyped-def]
    other = make_wheel(tmp_path / "files", "native", "1.0", tag="cp27-cp27m-win32")
    lock = tmp_path / "pylock.toml"
    lock.write_text(_pylock(tmp_path / "files", "http://127.0.0.1:9/", {"native": [other.name]}))
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"pipkit: error: native: no file in {lock}:packages[0] fits this environment "
        f"({other.name}); the lock was made for another platform or Python"
    )
    assert not list(site_packages(venv).glob("native*"))
