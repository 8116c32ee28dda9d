"""``pipkit show`` is byte-identical to the target's own ``pip show`` (the oracle): the test
venv's pip (23.2) and the session's current pip, plain, ``-v`` and ``--files``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipkit.core.showfmt import ShowFields, show_text
from tests.conftest import pip_install, venv_python
from tests.wheelmaker import make_wheel

RICH_METADATA = [
    "Metadata-Version: 2.4",
    "Author: Ada",
    "Author-email: Ada <ada@example.org>",
    "License-Expression: MIT",
    "Project-URL: Homepage, https://example.org/rich",
    "Project-URL: Source, https://example.org/rich/src",
    "Classifier: Programming Language :: Python :: 3",
    "Classifier: License :: OSI Approved :: MIT License",
]
ENTRY_POINTS = "[console_scripts]\nrichtool = richmeta:main\n"


@pytest.fixture(scope="module")
def show_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("showwheels")
    make_wheel(
        folder,
        "richmeta",
        "1.0",
        requires=["plain", "plain>=1; python_version>'3'"],
        metadata=RICH_METADATA,
        files={"richmeta-1.0.dist-info/entry_points.txt": ENTRY_POINTS},
    )
    make_wheel(folder, "plain", "1.0", metadata=["Home-page: https://example.org/plain"])
    return folder


def _both(python: str, *args: str) -> tuple[bytes, bytes]:
    pip = subprocess.run([python, "-m", "pip", "show", *args], capture_output=True, check=False)
    ours = subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", python, "show", *args],
        capture_output=True,
        check=False,
    )
    assert ours.returncode == pip.returncode, ours.stderr
    return pip.stdout, ours.stdout


@pytest.mark.parametrize("options", [[], ["-v"], ["--files"], ["-v", "--files"]])
def test_show_matches_the_targets_pip(venv: Path, show_wheels: Path, options: list[str]) -> None:
    pip_install(venv, "richmeta", wheelhouse=show_wheels)
    python = venv_python(venv)
    theirs, ours = _both(python, *options, "richmeta", "plain", "pip")
    assert b"Author-email: Ada <ada@example.org>" in theirs
    assert ours == theirs


@pytest.mark.parametrize("options", [[], ["-v"]])
def test_show_matches_the_current_pip(options: list[str]) -> None:
    """The session's own interpreter has the newest pip pipkit is tested with."""
    theirs, ours = _both(sys.executable, *options, "pip", "packaging", "typer")
    assert ours == theirs


def _fields(**changes: object) -> ShowFields:
    base: dict[str, object] = dict(
        name="richmeta", version="1.0", summary="s", home_page="", author="Ada",
        author_email="ada@example.org", license="", license_expression="MIT", location="/site",
        editable_location=None, requires=[], required_by=[], metadata_version="2.4",
        installer="pip", classifiers=[], entry_points=[],
        project_urls=["Homepage, https://example.org/rich"], files=None,
    )  # fmt: skip
    base.update(changes)
    return ShowFields(**base)  # type: ignore[arg-type]


def test_layout_follows_the_pip_version() -> None:
    old = show_text([_fields()], "23.2.1", verbose=False, files=False)
    new = show_text([_fields()], "25.0.1", verbose=False, files=False)
    assert "Home-page: \n" in old and "License: \n" in old and "License-Expression" not in old
    assert "Home-page: https://example.org/rich\n" in new and "License-Expression: MIT\n" in new
    # Metadata-Version below 2.4: License:, whatever the pip.
    older_meta = show_text([_fields(metadata_version="2.1")], "26.0", verbose=False, files=False)
    assert "License: \n" in older_meta


def test_requires_duplicates_as_the_pip_version_prints_them() -> None:
    twice = _fields(requires=["plain", "plain"])
    assert "Requires: plain, plain\n" in show_text([twice], "23.2.1", verbose=False, files=False)
    assert "Requires: plain\n" in show_text([twice], "24.2", verbose=False, files=False)
