"""The installer engine (pipkit.env.installer): choosing it, finding uv, and pip's settings
(configuration, command line, a lock's per-file options) translated to uv's flags.

The unit tests read pip's configuration the way pip does (``pip_settings`` over a real
pip.conf and ``PIP_*`` variables in a dict), then check the exact uv command line. The end
to end test syncs from a ``file://`` index that only pip.conf names, with each engine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipkit.core.model import LockOptions
from pipkit.env import installer
from pipkit.env.installer import choose, uv_install
from pipkit.env.pipconfig import pip_settings
from pipkit.errors import TargetError, UsageError
from tests.conftest import venv_python
from tests.wheelmaker import make_wheel

PY = "/env/bin/python"
HEAD = ("pip", "install", "--python", PY, "--no-config")


@pytest.fixture(autouse=True)
def _no_machine_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The machine's /etc/pip.conf is a global file pip always reads: not in these tests.
    monkeypatch.setattr("pipkit.env.pipconfig._SYSTEM_CONFIG_DIR", str(tmp_path / "etc"))


def settings(tmp_path: Path, conf: str = "", **env: str) -> list[tuple[str, str, str]]:
    """pip's settings from a pip.conf holding ``conf`` plus ``PIP_*`` variables ``env``."""
    path = tmp_path / "pip.conf"
    path.write_text(conf)
    environ = {
        "PIP_CONFIG_FILE": str(path),
        "HOME": str(tmp_path),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        **env,
    }
    found, _files = pip_settings("install", site_prefix=None, environ=environ)
    return found


# -- choosing and finding ---------------------------------------------------------------------


def test_choose_option_then_environment_then_pip() -> None:
    assert choose(None, {}) == "pip"
    assert choose(None, {"PIPKIT_INSTALLER": "uv"}) == "uv"
    assert choose("pip", {"PIPKIT_INSTALLER": "uv"}) == "pip"
    assert choose("UV", {}) == "uv"
    with pytest.raises(UsageError, match=r"^--installer 'poetry': unknown installer"):
        choose("poetry", {})
    with pytest.raises(UsageError, match=r"^PIPKIT_INSTALLER 'pipx': unknown installer"):
        choose(None, {"PIPKIT_INSTALLER": "pipx"})


def test_uv_absent_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_uv(name: str, *args: object, **kwargs: object) -> object:
        if name == "uv":
            raise ImportError("no uv here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_uv)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(TargetError) as caught:
        installer.resolve("uv")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "uv is not installed: pip install 'pipkit[uv]' (or put uv on PATH), "
        "or use the default pip-tools/pip"
    )


def test_uv_found_from_the_uv_package() -> None:
    import uv

    assert installer.resolve("uv").binary == uv.find_uv_bin()


def test_unknown_installer_on_the_command_line_exits_2(run_pipkit) -> None:  # type: ignore[no-untyped-def]
    result = run_pipkit("--installer", "conda", "list")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "pipkit: error: --installer 'conda': unknown installer (choose pip or uv)"
    )


# -- pip's configuration ----------------------------------------------------------------------


def test_each_configured_index_setting(tmp_path: Path) -> None:
    conf = (
        "[global]\n"
        "index-url = https://mirror.example/simple\n"
        "extra-index-url = https://extra.example/simple\n    https://more.example/simple\n"
        "find-links = /wheels\n"
        "trusted-host = mirror.example\n"
        "cert = ~/ca.pem\n"
        "timeout = 40\n"
        "proxy = proxy.example:3128\n"
        "[install]\n"
        "pre = true\n"
    )
    call = uv_install(
        ["install", "--no-deps", "-r", "req.txt"], python=PY, settings=settings(tmp_path, conf)
    )
    assert call.args == (
        *HEAD,
        "--index-url", "https://mirror.example/simple",
        "--extra-index-url", "https://extra.example/simple",
        "--extra-index-url", "https://more.example/simple",
        "--index-strategy", "unsafe-best-match",
        "--find-links", "/wheels",
        "--allow-insecure-host", "mirror.example",
        "--prerelease", "allow",
        "--no-deps", "-r", "req.txt",
    )  # fmt: skip
    assert call.env == {
        "SSL_CERT_FILE": "~/ca.pem",
        "UV_HTTP_TIMEOUT": "40",
        "HTTP_PROXY": "http://proxy.example:3128",
        "HTTPS_PROXY": "http://proxy.example:3128",
    }
    assert call.warnings == ()


def test_environment_variables_override_files(tmp_path: Path) -> None:
    found = settings(
        tmp_path,
        "[global]\nindex-url = https://file.example/simple\n",
        PIP_INDEX_URL="https://env.example/simple",
        PIP_NO_INDEX="yes",
        PIP_FIND_LINKS="/a /b",
        PIP_PRE="0",
        PIP_NO_CACHE_DIR="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
    )
    call = uv_install(["install", "x==1"], python=PY, settings=found)
    # no-index wins over every index; find-links stay; pre=0 is off; the rest are honoured.
    assert call.args == (
        *HEAD, "--no-index", "--find-links", "/a", "--find-links", "/b", "--no-cache", "x==1",
    )  # fmt: skip
    assert call.warnings == ()


def test_command_line_over_configuration(tmp_path: Path) -> None:
    conf = "[global]\nindex-url = https://conf.example/simple\nfind-links = /conf\n"
    args = ["install", "-i", "https://cli.example/simple", "-f", "/cli", "a"]
    call = uv_install(args, python=PY, settings=settings(tmp_path, conf))
    # A value replaces, a list adds (pip's rules).
    assert call.args == (
        *HEAD,
        "--index-url", "https://cli.example/simple",
        "--find-links", "/conf", "--find-links", "/cli",
        "a",
    )  # fmt: skip
    isolated = uv_install(
        ["install", "--isolated", "a"], python=PY, settings=settings(tmp_path, conf)
    )
    assert isolated.args == (*HEAD, "a")


def test_a_setting_uv_cannot_honour_is_named(tmp_path: Path) -> None:
    conf = "[install]\nprefer-binary = yes\nuse-feature = truststore\nsomething-new = 1\n"
    call = uv_install(["install", "a"], python=PY, settings=settings(tmp_path, conf))
    origin = str(tmp_path / "pip.conf")
    assert call.warnings == (
        f"uv cannot honour pip's --prefer-binary ({origin}): uv ignores it",
        f"uv cannot honour pip's --use-feature truststore ({origin}): uv ignores it",
        f"pip setting something-new ({origin}) has no uv equivalent pipkit knows: uv ignores it",
    )


def test_the_warnings_reach_the_user(run_pipkit, tmp_path, venv, monkeypatch):  # type: ignore[no-untyped-def]
    make_wheel(tmp_path / "wheels", "alpha", "1.0")
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {tmp_path / 'wheels'}\nalpha==1.0\n")
    monkeypatch.setenv("PIP_PREFER_BINARY", "1")
    result = run_pipkit("--installer", "uv", "--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    assert (
        "pipkit: warning: uv cannot honour pip's --prefer-binary "
        "(environment variable PIP_PREFER_BINARY): uv ignores it"
    ) in result.stderr


# -- the command line and the lock's options ----------------------------------------------------


def test_lock_options_translate() -> None:
    options = LockOptions(
        index_url="https://lock.example/simple",
        extra_index_urls=("https://x.example/simple",),
        find_links=("/lock-wheels",),
        trusted_hosts=("lock.example",),
        no_binary=(":all:",),
        only_binary=("numpy",),
        pre=True,
        require_hashes=True,
        no_require_hashes=False,
        prefer_binary=True,
        all_releases=("foo",),
        use_features=("fast-deps",),
    )
    call = uv_install(
        ["install", "--no-deps", "--no-input", *options.pip_args(), "-r", "r.txt"], python=PY
    )
    assert call.args == (
        *HEAD,
        "--index-url", "https://lock.example/simple",
        "--extra-index-url", "https://x.example/simple",
        "--index-strategy", "unsafe-best-match",
        "--find-links", "/lock-wheels",
        "--allow-insecure-host", "lock.example",
        "--prerelease", "allow",
        "--no-deps", "--no-binary", ":all:", "--only-binary", "numpy",
        "--require-hashes", "-r", "r.txt",
    )  # fmt: skip
    assert call.warnings == (
        "uv cannot honour pip's --prefer-binary (command line): uv ignores it",
        "uv cannot honour pip's --all-releases foo (command line): uv ignores it",
        "uv cannot honour pip's --use-feature fast-deps (command line): uv ignores it",
    )


def test_command_line_forms() -> None:
    call = uv_install(
        ["install", "-qq", "-rreq.txt", "--find-links=/w", "-U", "--force-reinstall", "-e", "."],
        python=PY,
    )
    assert call.args == (
        *HEAD, "--find-links", "/w", "-q", "-q", "-r", "req.txt", "--upgrade", "--reinstall",
        "-e", ".",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "/t"], "uv cannot honour pip's --target /t: use --installer pip"),
        (["--user"], "uv cannot honour pip's --user: use --installer pip"),
        (["--frobnicate"], "pip option --frobnicate has no uv equivalent pipkit knows"),
        (["-r"], "pip option -r needs a value"),
    ],
)
def test_command_line_options_uv_refuses(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match="^" + message):
        uv_install(["install", "a", *args], python=PY)


def test_refused_before_anything_changes(run_pipkit, venv, tmp_path):  # type: ignore[no-untyped-def]
    make_wheel(tmp_path / "wheels", "alpha", "1.0")
    links = ["--no-index", "--find-links", str(tmp_path / "wheels")]
    args = ["--installer", "uv", "--python", str(venv), "install", "alpha", "--", *links]
    result = run_pipkit(*args, "--target", str(tmp_path / "t"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"pipkit: error: uv cannot honour pip's --target {tmp_path / 't'}: "
        "use --installer pip for this command"
    )
    assert not list(venv.glob("lib/python*/site-packages/alpha*"))
    assert not (venv / "pipkit" / "transaction").exists()


# -- end to end: an index only pip's configuration names ------------------------------------


def _simple_index(root: Path, wheels: list[Path]) -> Path:
    """A PEP 503 index as files: root/NAME/index.html linking the project's wheels."""
    for wheel in wheels:
        project = root / wheel.name.split("-")[0]
        project.mkdir(parents=True, exist_ok=True)
        (project / wheel.name).write_bytes(wheel.read_bytes())
        links = "".join(f'<a href="{w.name}">{w.name}</a>\n' for w in sorted(project.glob("*.whl")))
        (project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return root


def test_sync_from_an_index_only_pip_config_names(engine, run_pipkit, venv, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    built = tmp_path / "built"
    wheels = [
        make_wheel(built, "alpha", "1.0"),
        make_wheel(built, "beta", "2.0", requires=["alpha"]),
        make_wheel(built, "gamma", "3.0rc1"),
    ]
    index = _simple_index(tmp_path / "simple", wheels)
    # pip's configuration only (no option in the lock): uv must be handed it.
    monkeypatch.setenv("PIP_INDEX_URL", index.as_uri())
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nbeta==2.0\ngamma==3.0rc1\n")
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    # After either engine, freeze and check read the same (uv writes INSTALLER=uv).
    freeze = run_pipkit("--python", str(venv), "freeze")
    assert freeze.stdout == "alpha==1.0\nbeta==2.0\ngamma==3.0rc1\n"
    pip_freeze = subprocess.run(
        [venv_python(venv), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    )
    assert pip_freeze.stdout == freeze.stdout
    check = run_pipkit("--python", str(venv), "check", str(lock))
    assert check.exit_code == 0, check.output
    installer_file = next(venv.glob("lib/python*/site-packages/alpha-1.0.dist-info/INSTALLER"))
    assert installer_file.read_text().strip() == engine
    assert os.environ["PIPKIT_INSTALLER"] == engine
