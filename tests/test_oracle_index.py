"""Index options in requirements files, judged by pip itself.

Each source serves a different version of one package ``probe``: the command line's index
2.0, ``--index-url`` 3.0, ``--extra-index-url`` 4.0 and ``--find-links`` 1.0. pip (the
session venv's, run with ``install --dry-run --report - -v -r FILE``) says which indexes it
looks in and which version it picks; pipkit's parsed options must name the same indexes and
links, so the highest version they serve is the one pip chose.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from pipkit.core.reqfile import read_requirements
from tests.conftest import venv_python
from tests.wheelmaker import make_wheel

VERSIONS = {"links": "1.0", "base": "2.0", "index": "3.0", "extra": "4.0"}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sources")
    out: dict[str, str] = {}
    for name, version in VERSIONS.items():
        if name == "links":
            make_wheel(root / "links", "probe", version)
            out[name] = str(root / "links")
            continue
        project = root / name / "probe"
        wheel = make_wheel(project, "probe", version)
        (project / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
        out[name] = (root / name).as_uri()
    return out


def option_lines(sources: dict[str, str]) -> dict[str, str]:
    return {
        "I": f"--index-url {sources['index']}",
        "X": f"--extra-index-url {sources['extra']}",
        "N": "--no-index",
        "F": f"--find-links {sources['links']}",
    }


def pip_says(python: str, base: str, req: Path) -> tuple[list[str], str | None]:
    """The indexes pip looks in (from ``-v``) and the version of probe it picks (or None)."""
    pip = [python, "-m", "pip", "install", "--dry-run", "--report", "-", "-v", "--quiet"]
    proc = subprocess.run(
        [*pip, "--index-url", base, "-r", str(req)],
        capture_output=True,
        text=True,
    )
    seen = proc.stdout + proc.stderr
    indexes: list[str] = []
    for line in seen.splitlines():
        if line.startswith("Looking in indexes: "):
            indexes = line.removeprefix("Looking in indexes: ").split(", ")
    if proc.returncode != 0:
        assert "No matching distribution found for probe" in seen, seen
        return indexes, None
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{") :])
    (item,) = report["install"]
    return indexes, str(item["metadata"]["version"])


def pipkit_says(req: Path, base: str) -> tuple[list[str], list[str]]:
    options = read_requirements(req, environ={}).options
    if options.no_index:
        return [], list(options.find_links)
    return [options.index_url or base, *options.extra_index_urls], list(options.find_links)


def judge(python: str, sources: dict[str, str], req: Path) -> None:
    base = sources["base"]
    indexes, links = pipkit_says(req, base)
    pip_indexes, pip_version = pip_says(python, base, req)
    by_url = {url: name for name, url in sources.items()}
    served = [VERSIONS[by_url[url]] for url in (*indexes, *links) if url in by_url]
    expected = max(served, key=lambda v: float(v)) if served else None
    assert pip_version == expected, (req.read_text(), indexes, links)
    if indexes:  # pip -v names them; with none it prints no such line
        assert pip_indexes == indexes, req.read_text()


ALL_ORDERS = list(itertools.permutations("IXNF"))


@pytest.mark.parametrize("order", ALL_ORDERS, ids=["".join(o) for o in ALL_ORDERS])
def test_one_file_every_order(
    order: tuple[str, ...], sources: dict[str, str], template_venv: Path, tmp_path: Path
) -> None:
    lines = option_lines(sources)
    req = tmp_path / "requirements.txt"
    req.write_text("".join(lines[key] + "\n" for key in order) + "probe\n")
    judge(venv_python(template_venv), sources, req)


INCLUDE_CASES = [
    (perm, layout) for perm in itertools.permutations("IXN") for layout in ("tail", "middle")
]


@pytest.mark.parametrize(
    ("order", "layout"), INCLUDE_CASES, ids=["".join(o) + "-" + lay for o, lay in INCLUDE_CASES]
)
def test_across_includes(
    order: tuple[str, ...],
    layout: str,
    sources: dict[str, str],
    template_venv: Path,
    tmp_path: Path,
) -> None:
    """The included file's options count where its -r line stands."""
    lines = option_lines(sources)
    first, second, third = (lines[key] for key in order)
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "more.txt"
    req = tmp_path / "requirements.txt"
    if layout == "tail":  # A, -r (B, C)
        child.write_text(f"{second}\n{third}\n")
        req.write_text(f"{first}\n-r sub/more.txt\nprobe\n")
    else:  # A, -r (B), C
        child.write_text(f"{second}\n")
        req.write_text(f"{first}\n-r sub/more.txt\n{third}\nprobe\n")
    judge(venv_python(template_venv), sources, req)


def test_find_links_only_first_of_a_line(
    sources: dict[str, str], template_venv: Path, tmp_path: Path
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(f"--no-index\n--find-links {tmp_path} --find-links {sources['links']}\nprobe\n")
    judge(venv_python(template_venv), sources, req)
