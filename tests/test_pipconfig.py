"""pipkit.env.pipconfig: pip's configuration files and PIP_* variables, read as pip reads them.

Every test builds its own HOME / XDG directories under tmp_path and passes an explicit environ,
so the developer's real pip configuration (and PIP_* variables) never leak in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipkit.env.pipconfig import (
    DEFAULT_INDEX_URL,
    DEFAULT_TIMEOUT,
    PipConfig,
    config_files,
    load_pip_config,
)
from pipkit.errors import InputError


@pytest.fixture(autouse=True)
def no_system_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point pip's hard-wired /etc/pip.conf into tmp_path: the machine's own must not count."""
    etc = tmp_path / "etc"
    monkeypatch.setattr("pipkit.env.pipconfig._SYSTEM_CONFIG_DIR", str(etc))
    return etc


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environ: HOME and XDG dirs in tmp_path, global XDG dir in tmp_path too."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-home"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg-dirs"),
    }


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_any_config(env: dict[str, str], tmp_path: Path) -> None:
    config = load_pip_config(site_prefix=str(tmp_path / "venv"), environ=env)
    assert config == PipConfig()
    assert config.index_url == DEFAULT_INDEX_URL == "https://pypi.org/simple"
    assert config.timeout == DEFAULT_TIMEOUT == 15.0
    assert config.index_urls == ("https://pypi.org/simple",)


def test_file_order_matches_pip(env: dict[str, str], tmp_path: Path) -> None:
    site = tmp_path / "venv"
    files = config_files(site_prefix=str(site), environ=env)
    assert [(f.kind, f.path) for f in files] == [
        ("global", str(tmp_path / "xdg-dirs" / "pip" / "pip.conf")),
        ("global", str(tmp_path / "etc" / "pip.conf")),
        ("user", str(tmp_path / "home" / ".pip" / "pip.conf")),
        ("user", str(tmp_path / "xdg-home" / "pip" / "pip.conf")),
        ("site", str(site / "pip.conf")),
    ]


def test_default_xdg_locations(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "relative/ignored"}
    paths = [f.path for f in config_files(site_prefix=None, environ=environ)]
    assert paths == [
        "/etc/xdg/pip/pip.conf",
        str(tmp_path / "etc" / "pip.conf"),
        str(tmp_path / ".pip" / "pip.conf"),
        str(tmp_path / ".config" / "pip" / "pip.conf"),
    ]


def test_later_files_override_earlier(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["HOME"])
    write(tmp_path / "etc" / "pip.conf", "[global]\ncert = /ca.pem\nindex-url = http://etc/\n")
    write(Path(env["XDG_CONFIG_DIRS"]) / "pip" / "pip.conf", "[global]\nindex-url = http://g/\n")
    legacy = write(home / ".pip" / "pip.conf", "[global]\nindex-url = http://legacy/\ntimeout=3\n")
    new = write(
        Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "[global]\nindex-url = http://u/\n"
    )
    config = load_pip_config(site_prefix=str(tmp_path / "none"), environ=env)
    assert config.index_url == "http://u/"
    assert config.timeout == 3.0
    assert config.cert == "/ca.pem"
    assert config.files[-2:] == (legacy, new)

    site = write(tmp_path / "venv" / "pip.conf", "[global]\nindex-url = http://site/\n")
    config = load_pip_config(site_prefix=str(tmp_path / "venv"), environ=env)
    assert config.index_url == "http://site/"
    assert config.files[-1] == site


def test_command_section_beats_global_in_any_file(env: dict[str, str], tmp_path: Path) -> None:
    # pip orders by section first: [install] in the global file still beats [global] in the
    # site file, because sections, not files, decide.
    write(
        Path(env["XDG_CONFIG_DIRS"]) / "pip" / "pip.conf", "[install]\nindex-url = http://inst/\n"
    )
    write(tmp_path / "venv" / "pip.conf", "[global]\nindex-url = http://site/\n")
    site = str(tmp_path / "venv")
    assert load_pip_config("install", site_prefix=site, environ=env).index_url == "http://inst/"
    assert load_pip_config("download", site_prefix=site, environ=env).index_url == "http://site/"


def test_env_vars_override_files_and_lists_split(env: dict[str, str], tmp_path: Path) -> None:
    write(
        Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf",
        "[global]\n"
        "index-url = http://file/\n"
        "extra-index-url =\n    http://a/simple\n    http://b/simple\n"
        "trusted-host = a b:8080\n"
        "no-index = yes\n",
    )
    environ = {
        **env,
        "PIP_INDEX_URL": "http://env/simple",
        "PIP_FIND_LINKS": " /wheels  file:///more\n/third ",
        "PIP_NO_INDEX": "false",
        "PIP_DEFAULT_TIMEOUT": "60",  # an alias of --timeout
        "PIP_CERT": "~/ca.pem",
        "PIP_VERSION": "ignored",
        "NOT_PIP_INDEX_URL": "http://nope/",
    }
    config = load_pip_config(site_prefix=None, environ=environ)
    assert config.index_url == "http://env/simple"
    assert config.extra_index_urls == ("http://a/simple", "http://b/simple")
    assert config.find_links == ("/wheels", "file:///more", "/third")
    assert config.trusted_hosts == ("a", "b:8080")
    assert config.no_index is False
    assert config.timeout == 60.0
    assert config.cert == env["HOME"] + "/ca.pem"
    assert config.index_urls == ("http://env/simple", "http://a/simple", "http://b/simple")


def test_key_spelling_is_normalized(env: dict[str, str]) -> None:
    write(
        Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf",
        "[global]\nIndex_URL = http://x/\n--no-index = on\n",
    )
    config = load_pip_config(site_prefix=None, environ=env)
    assert config.index_url == "http://x/"
    assert config.no_index is True
    assert config.index_urls == ()


def test_empty_values_are_ignored(env: dict[str, str]) -> None:
    write(Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "[global]\nindex-url = http://x/\n")
    config = load_pip_config(site_prefix=None, environ={**env, "PIP_INDEX_URL": ""})
    assert config.index_url == "http://x/"


def test_pip_config_file_devnull_disables_all_files(env: dict[str, str], tmp_path: Path) -> None:
    write(Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "[global]\nindex-url = http://u/\n")
    write(tmp_path / "venv" / "pip.conf", "[global]\nindex-url = http://site/\n")
    environ = {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_TIMEOUT": "5"}
    assert config_files(site_prefix=str(tmp_path / "venv"), environ=environ) == []
    config = load_pip_config(site_prefix=str(tmp_path / "venv"), environ=environ)
    # Files are skipped, variables still apply.
    assert config.index_url == DEFAULT_INDEX_URL
    assert config.timeout == 5.0
    assert config.files == ()


def test_pip_config_file_replaces_user_files(env: dict[str, str], tmp_path: Path) -> None:
    write(Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "[global]\nfind-links = /user\n")
    write(tmp_path / "venv" / "pip.conf", "[global]\nindex-url = http://site/\n")
    custom = write(tmp_path / "custom.conf", "[global]\nextra-index-url = http://custom/\n")
    environ = {**env, "PIP_CONFIG_FILE": custom}
    kinds = [f.kind for f in config_files(site_prefix=str(tmp_path / "venv"), environ=environ)]
    assert kinds == ["global", "global", "site", "env"]
    config = load_pip_config(site_prefix=str(tmp_path / "venv"), environ=environ)
    assert config.find_links == ()  # user file skipped
    assert config.index_url == "http://site/"
    assert config.extra_index_urls == ("http://custom/",)
    assert config.files[-1] == custom

    # A PIP_CONFIG_FILE that does not exist does not hide the user files.
    environ = {**env, "PIP_CONFIG_FILE": str(tmp_path / "missing.conf")}
    assert load_pip_config(site_prefix=None, environ=environ).find_links == ("/user",)


def test_bad_values_raise_input_error(env: dict[str, str]) -> None:
    with pytest.raises(InputError, match="no-index") as info:
        load_pip_config(site_prefix=None, environ={**env, "PIP_NO_INDEX": "maybe"})
    assert info.value.location == "environment variable PIP_NO_INDEX"
    path = write(Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "[global]\ntimeout = soon\n")
    with pytest.raises(InputError, match="timeout") as info:
        load_pip_config(site_prefix=None, environ=env)
    assert info.value.location == path


def test_malformed_file_raises_input_error(env: dict[str, str]) -> None:
    path = write(Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf", "index-url = no-section\n")
    with pytest.raises(InputError, match="malformed") as info:
        load_pip_config(site_prefix=None, environ=env)
    assert info.value.location == path


def test_unrelated_sections_and_options_ignored(env: dict[str, str]) -> None:
    write(
        Path(env["XDG_CONFIG_HOME"]) / "pip" / "pip.conf",
        "[freeze]\nindex-url = http://freeze/\n[global]\nno-cache-dir = true\nproxy = p:3128\n",
    )
    config = load_pip_config(site_prefix=None, environ=env)
    assert config.index_url == DEFAULT_INDEX_URL
    assert config.proxy == "p:3128"
