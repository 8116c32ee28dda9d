"""pipkit.core.pylock and lockfile: PEP 751 locks as pipkit reads them."""

# The TOML test data keeps a pylock's one-line inline tables, as real locks write them.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import pytest

from pipkit.core.lockfile import default_lock_path, is_pylock, read_lock
from pipkit.core.model import LockHeader
from pipkit.core.pylock import choose_file, read_pylock
from pipkit.errors import InputError, UsageError
from tests.core.helpers import LINUX_311, WINDOWS_312, write

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64

HEAD = """
lock-version = "1.0"
created-by = "tests"
"""


def pylock(tmp_path: Path, body: str, name: str = "pylock.toml") -> Path:
    return write(tmp_path / name, HEAD + body)


def test_index_packages(tmp_path: Path) -> None:
    pylock(
        tmp_path,
        f"""
        requires-python = ">=3.10"
        environments = ['sys_platform == "linux"', 'sys_platform == "win32"']

        [[packages]]
        name = "alpha"
        version = "1.0"
        index = "https://pypi.org/simple"
        wheels = [
          {{ url = "https://files.example/alpha-1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA_A}" }} }},
        ]

        [[packages]]
        name = "beta"
        version = "2.0"
        marker = 'sys_platform == "win32"'
        index = "https://mirror.example/simple"
        sdist = {{ url = "https://files.example/beta-2.0.tar.gz", hashes = {{ sha512 = "{SHA_B}", md5 = "x" }} }}
        wheels = [
          {{ url = "https://files.example/beta-2.0-cp311-cp311-win_amd64.whl", hashes = {{ sha256 = "{SHA_A}", sha384 = "y" }} }},
          {{ url = "https://files.example/beta-2.0-cp312-cp312-win_amd64.whl", hashes = {{ sha256 = "{SHA_C}" }} }},
        ]

        [[packages]]
        name = "gamma"
        version = "1!3.0+local"
        index = "https://mirror.example/simple"
        wheels = [{{ name = "gamma-1!3.0+local-py3-none-any.whl", url = "https://files.example/g.whl", hashes = {{ sha256 = "{SHA_B}" }} }}]

        [tool.pipkit]
        fingerprint = "sha256:ffff"
        python = "3.11"
        platform = "linux"
        command = "pipkit lock --format pylock"
        """,
    )
    lock = read_lock("pylock.toml")
    assert lock.format == "pylock" and lock.path == "pylock.toml"
    alpha, beta, gamma = lock.entries
    assert (alpha.name, alpha.pinned_version, alpha.line) == ("alpha", "1.0", "alpha==1.0")
    assert alpha.hashes == (f"sha256:{SHA_A}",)
    assert alpha.source == "pylock.toml:packages[0]"
    assert beta.hashes == (f"sha256:{SHA_A}", f"sha256:{SHA_C}", f"sha512:{SHA_B}")
    assert beta.line == 'beta==2.0 ; sys_platform == "win32"'
    assert gamma.pinned_version == "1!3.0+local"
    assert lock.options.extra_index_urls == ("https://mirror.example/simple",)  # PyPI left out
    assert lock.options.find_links == ()
    assert [e.name for e in lock.applicable(LINUX_311)] == ["alpha", "gamma"]
    assert [e.name for e in lock.applicable(WINDOWS_312)] == ["alpha", "beta", "gamma"]
    assert lock.header == LockHeader(
        python_version="3.11",
        platform="linux",
        fingerprint="sha256:ffff",
        command="pipkit lock --format pylock",
        requires_python=">=3.10",
        environments=('sys_platform == "linux"', 'sys_platform == "win32"'),
    )


def test_files_are_kept_on_the_entry_and_one_is_chosen_by_tags(tmp_path: Path) -> None:
    pylock(
        tmp_path,
        f"""
        [[packages]]
        name = "alpha"
        version = "1.0"
        sdist = {{ url = "https://files.example/alpha-1.0.tar.gz", hashes = {{ sha256 = "{SHA_C}" }} }}
        wheels = [
          {{ path = "wheels/alpha-1.0-py3-none-any.whl", hashes = {{ sha256 = "{SHA_A}" }} }},
          {{ url = "https://files.example/alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", hashes = {{ sha256 = "{SHA_B}" }} }},
        ]
        """,
        name="locks/pylock.dev.toml",
    )
    lock = read_lock(tmp_path / "locks" / "pylock.dev.toml")
    (alpha,) = lock.entries
    assert alpha.line == "alpha==1.0" and alpha.url is None and alpha.index is None
    assert lock.options.find_links == ()  # never every file for every package
    local = (tmp_path / "locks" / "wheels" / "alpha-1.0-py3-none-any.whl").as_uri()
    assert [(f.filename, f.url, f.hash) for f in alpha.files] == [
        ("alpha-1.0-py3-none-any.whl", local, f"sha256:{SHA_A}"),
        (
            "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "https://files.example/alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            f"sha256:{SHA_B}",
        ),
        ("alpha-1.0.tar.gz", "https://files.example/alpha-1.0.tar.gz", f"sha256:{SHA_C}"),
    ]
    linux = ["cp311-cp311-manylinux_2_17_x86_64", "cp311-abi3-linux_x86_64", "py3-none-any"]
    chosen = choose_file(alpha, linux)
    assert chosen is not None and chosen.filename.endswith("manylinux_2_17_x86_64.whl")
    windows = ["cp311-cp311-win_amd64", "py3-none-any"]
    chosen = choose_file(alpha, windows)
    assert chosen is not None and chosen.filename == "alpha-1.0-py3-none-any.whl"
    chosen = choose_file(alpha, ["cp27-cp27m-win32"])  # no wheel fits: the sdist
    assert chosen is not None and chosen.filename == "alpha-1.0.tar.gz"
    chosen = choose_file(alpha, linux, no_binary=True)
    assert chosen is not None and chosen.filename == "alpha-1.0.tar.gz"


def test_nothing_fits_without_an_sdist(tmp_path: Path) -> None:
    pylock(
        tmp_path,
        f"""
        [[packages]]
        name = "native"
        version = "2.0"
        index = "https://mirror.example/simple"
        wheels = [{{ url = "https://files.example/native-2.0-cp312-cp312-win_amd64.whl", hashes = {{ sha256 = "{SHA_A}" }} }}]
        """,
    )
    (native,) = read_lock(tmp_path / "pylock.toml").entries
    assert native.index == "https://mirror.example/simple"
    assert choose_file(native, ["cp311-cp311-manylinux_2_17_x86_64", "py3-none-any"]) is None


def test_direct_packages(tmp_path: Path) -> None:
    pylock(
        tmp_path,
        f"""
        [[packages]]
        name = "from-git"
        version = "0.1"
        vcs = {{ type = "git", url = "https://github.com/org/repo", commit-id = "{"1" * 40}", subdirectory = "pkg" }}

        [[packages]]
        name = "local-edit"
        directory = {{ path = "src/local", editable = true }}

        [[packages]]
        name = "local-dir"
        version = "2.0"
        directory = {{ path = "../elsewhere" }}

        [[packages]]
        name = "tarball"
        archive = {{ url = "https://files.example/tarball-1.0.tar.gz", hashes = {{ sha256 = "{SHA_C}" }} }}
        """,
    )
    git, edit, local, tarball = read_pylock("pylock.toml").entries
    assert git.url == f"git+https://github.com/org/repo@{'1' * 40}#subdirectory=pkg"
    assert git.line == f"from-git @ {git.url}"
    assert git.pinned_version == "0.1"
    assert edit.editable and edit.line == str(tmp_path / "src" / "local")
    assert edit.url == (tmp_path / "src" / "local").as_uri()
    assert edit.pinned_version is None
    assert not local.editable
    assert local.url == (tmp_path.parent / "elsewhere").as_uri()
    assert local.line == f"local-dir @ {local.url}"
    assert tarball.url == "https://files.example/tarball-1.0.tar.gz"
    assert tarball.hashes == (f"sha256:{SHA_C}",)


def test_markers_use_the_lock_file_context(tmp_path: Path) -> None:
    pylock(
        tmp_path,
        """
        default-groups = ["dev"]
        dependency-groups = ["dev", "docs"]
        extras = ["cli"]

        [[packages]]
        name = "dev-tool"
        version = "1.0"
        marker = '"dev" in dependency_groups'
        archive = { url = "https://x.example/dev_tool-1.0.tar.gz", hashes = { sha256 = "00" } }

        [[packages]]
        name = "docs-tool"
        version = "1.0"
        marker = '"docs" in dependency_groups'
        archive = { url = "https://x.example/docs_tool-1.0.tar.gz", hashes = { sha256 = "00" } }

        [[packages]]
        name = "cli-extra"
        version = "1.0"
        marker = '"cli" in extras'
        archive = { url = "https://x.example/cli_extra-1.0.tar.gz", hashes = { sha256 = "00" } }
        """,
    )
    lock = read_pylock("pylock.toml")
    assert [e.name for e in lock.applicable(LINUX_311)] == ["dev-tool"]
    chosen = read_pylock("pylock.toml", extras=["CLI"], dependency_groups=["docs"])
    assert [e.name for e in chosen.applicable(LINUX_311)] == ["docs-tool", "cli-extra"]
    none = read_lock("pylock.toml", dependency_groups=[])
    assert none.applicable(LINUX_311) == ()
    with pytest.raises(UsageError, match="declares no extra nope"):
        read_pylock("pylock.toml", extras=["nope"])
    with pytest.raises(UsageError, match="declares no dependency group test"):
        read_lock("pylock.toml", dependency_groups=["test"])


@pytest.mark.parametrize(
    ("body", "location", "fragment"),
    [
        ("[[packages]\n", "pylock.toml:4", "invalid TOML"),
        ("packages = []\nlock-version = '1.0'\n", "pylock.toml:5", "invalid TOML"),
        (
            '\n[[packages]]\nname = "ok"\nversion = "1"\narchive = { url = "https://x/ok.tar.gz", '
            'hashes = { sha256 = "00" } }\n\n[[packages]]\nname = "Not_Normal"\n',
            "pylock.toml:10",
            "is not normalized",
        ),
        (
            '[[packages]]\nname = "alpha"\nversion = "1.0"\n'
            'wheels = [{ url = "https://x/beta-1.0-py3-none-any.whl", hashes = { sha256 = "0" } }]\n',
            "pylock.toml:4",
            "not consistent with package name",
        ),
        ('[[packages]]\nname = "alpha"\n', "pylock.toml:4", "Exactly one of vcs, directory"),
    ],
)
def test_errors(tmp_path: Path, body: str, location: str, fragment: str) -> None:
    write(tmp_path / "pylock.toml", 'lock-version = "1.0"\ncreated-by = "t"\n\n' + body)
    with pytest.raises(InputError) as info:
        read_pylock("pylock.toml")
    assert info.value.location == location
    assert fragment in info.value.message


def test_missing_keys(tmp_path: Path) -> None:
    write(tmp_path / "pylock.toml", 'created-by = "t"\npackages = []\n')
    with pytest.raises(InputError) as info:
        read_pylock("pylock.toml")
    assert info.value.location == "pylock.toml"
    assert "lock-version" in info.value.message
    write(tmp_path / "pylock.toml", 'lock-version = "2.0"\ncreated-by = "t"\npackages = []\n')
    with pytest.raises(InputError, match="not supported"):
        read_pylock("pylock.toml")


# --- lockfile -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pylock.toml", True),
        ("pylock.dev.toml", True),
        ("sub/pylock.toml", True),
        ("locks.toml", True),
        ("requirements.txt", False),
        ("requirements.lock", False),
    ],
)
def test_is_pylock(name: str, expected: bool) -> None:
    assert is_pylock(name) is expected


def test_read_lock_dispatch(tmp_path: Path) -> None:
    write(tmp_path / "requirements.txt", "alpha==${V}\n")
    pylock(tmp_path, "packages = []\n")
    lock = read_lock("requirements.txt", environ={"V": "1.0"}, cwd=tmp_path)
    assert lock.format == "requirements" and lock.entries[0].pinned_version == "1.0"
    assert read_lock(["pylock.toml"]).format == "pylock"
    with pytest.raises(UsageError):
        read_lock(["requirements.txt", "pylock.toml"])
    with pytest.raises(UsageError):
        read_lock([])
    with pytest.raises(UsageError, match=r"only be chosen from a pylock\.toml"):
        read_lock("requirements.txt", extras=["x"], environ={})


def test_default_lock_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no lock file found"):
        default_lock_path(tmp_path)
    pylock(tmp_path, "packages = []\n")
    assert default_lock_path(tmp_path) == tmp_path / "pylock.toml"
    write(tmp_path / "requirements.txt", "")
    assert default_lock_path(tmp_path) == tmp_path / "requirements.txt"
