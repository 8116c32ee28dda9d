"""pip's configuration as uv's flags (pipkit/env/installer.py), one option at a time."""

from __future__ import annotations

from pathlib import Path

from pipkit.env.installer import uv_environment, uv_index_args
from pipkit.env.pipconfig import DEFAULT_TIMEOUT, PipConfig


def test_each_pip_option_becomes_a_uv_flag_or_is_named(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    assert uv_index_args(PipConfig()) == (["--index-url", "https://pypi.org/simple"], [])
    args, warnings = uv_index_args(
        PipConfig(
            index_url="https://mirror.example/simple",
            extra_index_urls=("https://extra.example/simple",),
            find_links=(str(links), "https://links.example/", str(tmp_path / "missing")),
            trusted_hosts=("mirror.example",),
            proxy="proxy.example:3128",
        )
    )
    assert args == [
        "--index-url", "https://mirror.example/simple",
        "--extra-index-url", "https://extra.example/simple",
        "--find-links", str(links),
        "--find-links", "https://links.example/",
        "--allow-insecure-host", "mirror.example",
    ]  # fmt: skip
    assert any("missing" in w and "does not exist" in w for w in warnings)
    assert any("proxy.example:3128" in w for w in warnings)
    args, _ = uv_index_args(PipConfig(no_index=True, find_links=(str(links),)))
    assert args == ["--no-index", "--find-links", str(links)]


def test_cert_and_timeout_go_through_uv_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("UV_HTTP_TIMEOUT", raising=False)
    assert uv_environment(PipConfig()) == {}
    assert uv_environment(PipConfig(cert="/ca.pem", timeout=60.0)) == {
        "SSL_CERT_FILE": "/ca.pem",
        "UV_HTTP_TIMEOUT": "60",
    }
    monkeypatch.setenv("SSL_CERT_FILE", "/mine.pem")  # the user's own setting for uv wins
    assert uv_environment(PipConfig(cert="/ca.pem", timeout=DEFAULT_TIMEOUT)) == {}
