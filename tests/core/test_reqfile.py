"""pipkit.core.reqfile: pip's requirements-file grammar, case by case."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pipkit.core.model import LockHeader
from pipkit.core.plan import effective_entries
from pipkit.core.reqfile import format_header, parse_header, read_requirements, read_via
from pipkit.errors import InputError
from tests.core.helpers import LINUX_311, WINDOWS_312, read, write
from tests.wheelmaker import make_wheel


def names(lock: object) -> list[str]:
    return [e.name for e in lock.entries]  # type: ignore[attr-defined]


def error(tmp_path: Path, text: str, **kw: object) -> InputError:
    with pytest.raises(InputError) as info:
        read(tmp_path, text, **kw)  # type: ignore[arg-type]
    return info.value


# --- names and versions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "raw", "spec", "pinned"),
    [
        ("requests==2.31.0", "requests", "requests", "==2.31.0", "2.31.0"),
        ("Foo.Bar_baz==1.0", "foo-bar-baz", "Foo.Bar_baz", "==1.0", "1.0"),
        ("epoch==1!2.0", "epoch", "epoch", "==1!2.0", "1!2.0"),
        ("localv==1.0+local.7", "localv", "localv", "==1.0+local.7", "1.0+local.7"),
        ("weird===not-pep440", "weird", "weird", "===not-pep440", "not-pep440"),
        ("loose>=1,<2", "loose", "loose", "<2,>=1", None),
        ("star==1.*", "star", "star", "==1.*", None),
        ("bare", "bare", "bare", "", None),
        ("  spaced  ==  1.0  ", "spaced", "spaced", "==1.0", "1.0"),
    ],
)
def test_names_and_versions(
    tmp_path: Path, line: str, name: str, raw: str, spec: str, pinned: str | None
) -> None:
    (e,) = read(tmp_path, line + "\n").entries
    assert (e.name, e.raw_name, str(e.specifier), e.pinned_version) == (name, raw, spec, pinned)
    assert e.source == "requirements.txt:1"
    assert e.url is None and not e.editable


def test_line_is_what_pip_is_handed(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        Foo[Bar,baz]==1.0 ; python_version >= "3.8"
        plain==2.0
        """,
    )
    first, second = lock.entries
    assert first.line == 'Foo[Bar,baz]==1.0 ; python_version >= "3.8"'
    assert first.extras == {"bar", "baz"}
    assert second.line == "plain==2.0"


# --- comments, continuations, blank lines ------------------------------------------------


def test_comments(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        # a comment line
           # an indented comment

        one==1.0 # trailing comment
        two==2.0\t# after a tab
        three @ https://example.org/three-1.0.tar.gz#sha256=abc
        """,
    )
    assert names(lock) == ["one", "two", "three"]
    # "#" not preceded by whitespace is part of the URL, not a comment
    assert lock.entries[2].url == "https://example.org/three-1.0.tar.gz#sha256=abc"
    assert [e.source for e in lock.entries] == [
        "requirements.txt:4",
        "requirements.txt:5",
        "requirements.txt:6",
    ]


def test_hashes_across_continuations(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        # header
        alpha==1.0 \\
            --hash=sha256:aaaa \\
            --hash sha256:bbbb \\
            --hash=sha512:cccc
        beta==2.0 --hash=sha256:dddd --hash=sha256:eeee
        """,
    )
    alpha, beta = lock.entries
    assert alpha.source == "requirements.txt:2"  # the logical line's first physical line
    assert alpha.hashes == ("sha256:aaaa", "sha256:bbbb", "sha512:cccc")
    assert alpha.line == "alpha==1.0"
    assert beta.source == "requirements.txt:6"
    assert beta.hashes == ("sha256:dddd", "sha256:eeee")


def test_comment_line_ends_a_continuation(tmp_path: Path) -> None:
    # pip: a comment line is never continued, and it ends a continuation in progress.
    lock = read(
        tmp_path,
        """
        alpha==1.0 \\
        # the comment swallows nothing \\
        beta==2.0
        """,
    )
    assert names(lock) == ["alpha", "beta"]
    assert [e.source for e in lock.entries] == ["requirements.txt:1", "requirements.txt:3"]


def test_file_ending_in_backslash(tmp_path: Path) -> None:
    write(tmp_path / "requirements.txt", "alpha==1.0 \\")
    lock = read_requirements("requirements.txt", environ={}, cwd=tmp_path)
    assert names(lock) == ["alpha"]


def test_continuation_joins_requirement_text(tmp_path: Path) -> None:
    lock = read(tmp_path, 'alpha==1.0 ; \\\n    python_version >= "3"\n')
    assert str(lock.entries[0].marker) == 'python_version >= "3"'


# --- environment variables ----------------------------------------------------------------


def test_env_vars_pip_rule(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        --index-url https://${USER_TOKEN}@example.org/simple
        alpha==${ALPHA_VERSION}
        beta @ https://example.org/${UNSET_VAR}/beta-1.0.tar.gz
        gamma @ https://example.org/${EMPTY}/gamma-1.0.tar.gz
        delta @ https://example.org/${lower}/$PLAIN/delta-1.0.tar.gz
        """,
        environ={"USER_TOKEN": "s3cret", "ALPHA_VERSION": "1.2", "EMPTY": "", "lower": "x"},
    )
    assert lock.options.index_url == "https://s3cret@example.org/simple"
    alpha, beta, gamma, delta = lock.entries
    assert alpha.specifier == SpecifierSet("==1.2")
    assert beta.url == "https://example.org/${UNSET_VAR}/beta-1.0.tar.gz"  # unset: kept
    assert gamma.url == "https://example.org/${EMPTY}/gamma-1.0.tar.gz"  # empty: kept
    assert delta.url == "https://example.org/${lower}/$PLAIN/delta-1.0.tar.gz"  # not [A-Z0-9_]


def test_env_vars_expand_after_comments_are_stripped(tmp_path: Path) -> None:
    # pip strips comments first, then expands: a "#" in the value is not a comment
    err = error(tmp_path, "alpha==${V}\n", environ={"V": "1.0 # not a comment"})
    assert err.location == "requirements.txt:1"
    assert "invalid requirement" in err.message
    lock = read(tmp_path, "alpha==${V} # real comment\n", environ={"V": "1.0"})
    assert lock.entries[0].line == "alpha==1.0"


# --- markers and extras --------------------------------------------------------------------


def test_markers_are_kept_and_evaluated_against_the_target(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        everywhere==1.0
        posix-only==1.0 ; sys_platform == "linux"
        windows-only==1.0 ; sys_platform == "win32"
        new-python==1.0 ; python_version >= "3.12"
        old-python==1.0;python_version<"3.12"
        with-extra==1.0 ; extra == "x"
        """,
    )
    assert [e.name for e in lock.applicable(LINUX_311)] == [
        "everywhere",
        "posix-only",
        "old-python",
    ]
    assert [e.name for e in lock.applicable(WINDOWS_312)] == [
        "everywhere",
        "windows-only",
        "new-python",
    ]


def test_url_marker_needs_semicolon_space(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        'https://example.org/pkg-1.0-py3-none-any.whl ; sys_platform == "win32"\n',
    )
    (e,) = lock.entries
    assert (e.name, e.pinned_version) == ("pkg", "1.0")
    assert str(e.marker) == 'sys_platform == "win32"'
    assert e.line == (
        'pkg @ https://example.org/pkg-1.0-py3-none-any.whl ; sys_platform == "win32"'
    )
    assert lock.applicable(LINUX_311) == ()


def test_invalid_marker(tmp_path: Path) -> None:
    err = error(tmp_path, "ok==1\nalpha==1.0 ; python_version >>> '3'\n")
    assert err.location == "requirements.txt:2"
    assert "marker" in err.message


# --- direct references, wheels, archives ---------------------------------------------------


def test_direct_reference(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        Thing[extra] @ https://example.org/thing-1.0.tar.gz ; os_name == "posix"
        vcs-thing @ git+https://github.com/org/repo@v1.2#subdirectory=sub
        """,
    )
    thing, vcs = lock.entries
    assert thing.url == "https://example.org/thing-1.0.tar.gz"
    assert thing.extras == {"extra"}
    assert thing.line == 'Thing[extra] @ https://example.org/thing-1.0.tar.gz ; os_name == "posix"'
    assert vcs.url == "git+https://github.com/org/repo@v1.2#subdirectory=sub"
    assert not thing.editable and not vcs.editable


def test_wheel_path_and_url_lines(tmp_path: Path) -> None:
    make_wheel(tmp_path / "dist", "Odd.Name_pkg", "1.0")
    lock = read(
        tmp_path,
        """
        ./dist/odd_name_pkg-1.0-py3-none-any.whl
        https://example.org/files/Other-2.0-py3-none-any.whl
        file:dist/odd_name_pkg-1.0-py3-none-any.whl
        """,
    )
    local, remote, file_url = lock.entries
    wheel_url = (tmp_path / "dist" / "odd_name_pkg-1.0-py3-none-any.whl").as_uri()
    assert (local.name, local.pinned_version, local.url) == ("odd-name-pkg", "1.0", wheel_url)
    assert local.line == f"odd_name_pkg @ {wheel_url}"
    assert (remote.name, remote.pinned_version) == ("other", "2.0")
    assert file_url.url == wheel_url  # relative file: URLs resolve against cwd, like pip


def test_sdist_url_and_egg_fragment(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        https://example.org/files/some_pkg-3.1.tar.gz
        https://example.org/download?id=7#egg=named
        """,
    )
    assert names(lock) == ["some-pkg", "named"]


def test_missing_local_wheel_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "./dist/nothere-1.0-py3-none-any.whl\n")
    assert err.location == "requirements.txt:1"
    assert "does not exist" in err.message


def test_unnamed_url_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "alpha==1\n\nhttps://example.org/download?id=7\n")
    assert err.location == "requirements.txt:3"
    assert "NAME @ URL" in err.message


def test_local_directory_line(tmp_path: Path) -> None:
    write(tmp_path / "proj" / "pyproject.toml", '[project]\nname = "My_Proj"\nversion = "0"\n')
    write(tmp_path / "noname" / "setup.py", "")
    (e,) = read(tmp_path, "./proj[cli]\n").entries
    assert (e.name, e.raw_name, e.extras, e.editable) == (
        "my-proj",
        "My_Proj",
        frozenset({"cli"}),
        False,
    )
    assert e.url == (tmp_path / "proj").as_uri()
    err = error(tmp_path, "./noname\n")
    assert "project name" in err.message and err.location == "requirements.txt:1"
    write(tmp_path / "empty" / "README", "")
    assert "not installable" in error(tmp_path, "./empty\n").message


# --- editables -----------------------------------------------------------------------------


def test_editable_local_paths(tmp_path: Path) -> None:
    write(tmp_path / "a" / "pyproject.toml", '[project]\nname = "Pkg-A"\n')
    write(tmp_path / "b" / "setup.cfg", "[metadata]\nname = pkg_b\n")
    write(tmp_path / "b" / "setup.py", "")
    lock = read(
        tmp_path,
        """
        -e ./a
        --editable=./b[dev]
        -e file:./a#egg=pkg-a
        """,
    )
    a, b, a_url = lock.entries
    assert (a.name, a.editable, a.url, a.line) == (
        "pkg-a",
        True,
        (tmp_path / "a").as_uri(),
        str(tmp_path / "a"),
    )
    assert (b.name, b.extras, b.line) == ("pkg-b", frozenset({"dev"}), f"{tmp_path / 'b'}[dev]")
    assert a_url.name == "pkg-a" and a_url.url is not None
    assert a_url.url.startswith((tmp_path / "a").as_uri())


def test_editable_subdirectory(tmp_path: Path) -> None:
    write(tmp_path / "repo" / "sub" / "pyproject.toml", '[project]\nname = "inner"\n')
    (e,) = read(tmp_path, "-e file:./repo#subdirectory=sub\n").entries
    assert (e.name, e.line) == ("inner", str(tmp_path / "repo" / "sub"))
    assert e.url == (tmp_path / "repo" / "sub").as_uri()


def test_editable_vcs(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        -e git+https://github.com/org/repo@main#egg=Repo_Name
        -e "named @ git+https://github.com/org/other@v2"
        """,
    )
    repo, named = lock.entries
    assert (repo.name, repo.raw_name, repo.editable) == ("repo-name", "Repo_Name", True)
    assert repo.line == "git+https://github.com/org/repo@main#egg=Repo_Name"
    assert (named.name, named.url) == ("named", "git+https://github.com/org/other@v2")
    assert named.line == "named @ git+https://github.com/org/other@v2"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-e git+https://github.com/org/repo@main\n", "project name"),
        ("-e ./not-a-dir\n", "not a valid editable"),
        ("-e https://example.org/x.tar.gz\n", "not a valid editable"),
        ("-e ./a -e ./b\n", "one -e per line"),
        ("-e git+https://h/r#egg=x --hash=sha256:abc\n", "--hash"),
    ],
)
def test_editable_errors(tmp_path: Path, text: str, fragment: str) -> None:
    err = error(tmp_path, "ok==1\n" + text)
    assert err.location == "requirements.txt:2"
    assert fragment in err.message


# --- includes and constraints ---------------------------------------------------------------


def test_includes_are_relative_to_the_including_file(tmp_path: Path) -> None:
    write(tmp_path / "reqs" / "base.txt", "base==1.0\n-r deeper/more.txt\n")
    write(tmp_path / "reqs" / "deeper" / "more.txt", "more==2.0\n-r ../../top.txt\n")
    write(tmp_path / "top.txt", "top==3.0\n")
    lock = read(tmp_path, "first==0.1\n-r reqs/base.txt\nlast==9\n")
    assert names(lock) == ["first", "base", "more", "top", "last"]
    assert [e.source for e in lock.entries] == [
        "requirements.txt:1",
        "reqs/base.txt:1",
        "reqs/deeper/more.txt:1",
        "top.txt:1",
        "requirements.txt:3",
    ]


def test_include_forms(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "a==1\n")
    write(tmp_path / "b.txt", "b==1\n")
    write(tmp_path / "c.txt", "c==1\n")
    write(tmp_path / "d.txt", "d==1\n")
    lock = read(
        tmp_path,
        f"""
        -r a.txt
        --requirement=b.txt
        -rc.txt
        --requirement {(tmp_path / "d.txt").as_uri()}
        """,
    )
    assert names(lock) == ["a", "b", "c", "d"]


def test_same_file_twice_is_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "common==1\n")
    write(tmp_path / "x.txt", "-r common.txt\n")
    lock = read(tmp_path, "-r x.txt\n-r common.txt\n")
    assert names(lock) == ["common", "common"]


def test_include_cycle(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "a==1\n-r b.txt\n")
    write(tmp_path / "b.txt", "b==1\n\n-r a.txt\n")
    err = error(tmp_path, "-r a.txt\n")
    assert err.location == "b.txt:3"
    assert "cycle" in err.message


def test_self_include(tmp_path: Path) -> None:
    err = error(tmp_path, "x==1\n-r requirements.txt\n")
    assert err.location == "requirements.txt:2"
    assert "includes itself" in err.message


def test_missing_include(tmp_path: Path) -> None:
    err = error(tmp_path, "x==1\n-c nothere.txt\n")
    assert err.location == "requirements.txt:2"
    assert "cannot open constraints file nothere.txt" in err.message


def test_url_include_rejected(tmp_path: Path) -> None:
    err = error(tmp_path, "-r https://example.org/reqs.txt\n")
    assert err.location == "requirements.txt:1"
    assert "only local files" in err.message


def test_constraints_limit_but_never_add(tmp_path: Path) -> None:
    write(
        tmp_path / "constraints.txt",
        """
        alpha==1.0
        unrelated==9.9
        windows==2.0 ; sys_platform == "win32"
        """,
    )
    lock = read(tmp_path, "-c constraints.txt\nalpha\nwindows\n")
    assert names(lock) == ["alpha", "windows"]
    assert [c.name for c in lock.constraints] == ["alpha", "unrelated", "windows"]
    assert lock.constraints[0].source == "constraints.txt:1"
    effective = {str(e.name): e for e in effective_entries(lock, LINUX_311)}
    assert set(effective) == {"alpha", "windows"}  # "unrelated" not added
    assert effective["alpha"].pinned_version == "1.0"
    assert effective["windows"].pinned_version is None  # its constraint does not apply here
    on_windows = {str(e.name): e for e in effective_entries(lock, WINDOWS_312)}
    assert on_windows["windows"].pinned_version == "2.0"


@pytest.mark.parametrize(
    ("constraint", "fragment"),
    [
        ("alpha[x]==1\n", "constraints cannot have extras"),
        ("-e git+https://h/r#egg=alpha\n", "not allowed as constraints"),
    ],
)
def test_constraint_errors(tmp_path: Path, constraint: str, fragment: str) -> None:
    write(tmp_path / "c.txt", constraint)
    err = error(tmp_path, "-c c.txt\n")
    assert err.location == "c.txt:1"
    assert fragment in err.message


# --- options -----------------------------------------------------------------------------------


def test_options(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    lock = read(
        tmp_path,
        """
        --index-url=https://one.example/simple
        -i https://two.example/simple
        --extra-index-url https://extra.example/simple
        --extra-index https://extra.example/simple
        --find-links wheels
        -f https://links.example/
        -f not-there
        --pre
        --prefer-binary
        --require-hashes
        --trusted-host one.example --trusted-host=two.example
        --no-binary :all:
        --only-binary=lxml,numpy
        --use-feature=fast-deps
        --all-releases alpha --only-final beta
        alpha==1.0
        """,
    )
    options = lock.options
    assert options.index_url == "https://two.example/simple"  # the last one wins, as in pip
    assert options.extra_index_urls == ("https://extra.example/simple",)
    assert options.find_links == (str(tmp_path / "wheels"), "https://links.example/", "not-there")
    assert not options.no_index
    assert options.pre and options.prefer_binary and options.require_hashes
    assert options.trusted_hosts == ("one.example", "two.example")
    assert options.no_binary == (":all:",)
    assert options.only_binary == ("lxml,numpy",)
    assert options.use_features == ("fast-deps",)
    assert options.all_releases == ("alpha",) and options.only_final == ("beta",)
    assert names(lock) == ["alpha"]


def test_index_options_follow_pips_order(tmp_path: Path) -> None:
    """-i replaces the index list, --extra-index-url appends, --no-index ends both (as pip)."""
    dropped = read(tmp_path, "--extra-index-url https://x.example/\n-i https://i.example/\n")
    assert (dropped.options.index_url, dropped.options.extra_index_urls) == (
        "https://i.example/",
        (),
    )
    ended = read(tmp_path, "-i https://i.example/\n--no-index\n--extra-index-url https://x/\n")
    assert ended.options.no_index and ended.options.index_url is None
    assert ended.options.extra_index_urls == ()
    assert "--no-index" in ended.options.pip_args()
    first_link = read(tmp_path, "--find-links https://a.example/ --find-links https://b/\n")
    assert first_link.options.find_links == ("https://a.example/",)


def test_find_links_relative_to_an_included_file(tmp_path: Path) -> None:
    (tmp_path / "sub" / "wheels").mkdir(parents=True)
    write(tmp_path / "sub" / "inner.txt", "-f wheels\n")
    lock = read(tmp_path, "-r sub/inner.txt\n")
    assert lock.options.find_links == (str(tmp_path / "sub" / "wheels"),)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("--frobnicate\n", "no such option: --frobnicate"),
        ("--index-url\n", "requires 1 argument"),
        ("--no-index=yes\n", "does not take a value"),
        ('--trusted-host "unterminated\n', "cannot split options"),
        ("--hash=sha256:abcd\n", "--hash without a requirement"),
        ("alpha==1 --hash=abcd\n", "hash name followed by a value"),
        ("alpha==1 --hash=md5:abcd\n", "allowed hash algorithms"),
        ("alpha==1 --pre\n", "--pre cannot share a line with a requirement"),
        ("alpha==1 --index-url=https://x\n", "--index-url cannot share"),
        ("-r a.txt -r b.txt\n", "one -r/-c per line"),
        ("--pre stray\n", "unexpected argument 'stray'"),
        ("alpha==1 -C novalue\n", "KEY=VAL"),
        ("--no-binary --pre\n", "needs a value"),
        ("--only-final --pre\n", "needs a value"),
        ("foo=1.0\n", "did you mean =="),
        ("foo bar baz\n", "invalid requirement"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, fragment: str) -> None:
    err = error(tmp_path, "# header\nok==1\n" + line)
    assert err.location == "requirements.txt:3"
    assert fragment in err.message
    assert str(err).startswith("requirements.txt:3: ")


def test_config_settings_kept_per_requirement(tmp_path: Path) -> None:
    (e,) = read(tmp_path, "alpha==1 -C key=value --config-settings=other=x\n").entries
    assert e.config_settings == ("key=value", "other=x")


def test_multiple_files_like_pip(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "# pipkit: python=3.11\na==1\n")
    write(tmp_path / "b.txt", "--pre\nb==1\n")
    lock = read_requirements(["a.txt", "b.txt"], environ={}, cwd=tmp_path)
    assert lock.path == "a.txt"
    assert names(lock) == ["a", "b"]
    assert lock.options.pre
    assert lock.header.python_version == "3.11"


def test_missing_top_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_requirements("nope.txt", environ={}, cwd=tmp_path)
    assert info.value.location == "nope.txt"


# --- encodings ----------------------------------------------------------------------------------


def test_utf8_bom_and_pep263(tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfalpha==1.0\n")
    assert names(read_requirements("bom.txt", environ={}, cwd=tmp_path)) == ["alpha"]
    (tmp_path / "latin.txt").write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\nbeta==1.0\n")
    assert names(read_requirements("latin.txt", environ={}, cwd=tmp_path)) == ["beta"]
    (tmp_path / "utf16.txt").write_bytes("gamma==1.0\n".encode("utf-16"))
    assert names(read_requirements("utf16.txt", environ={}, cwd=tmp_path)) == ["gamma"]


# --- header -------------------------------------------------------------------------------------


def test_pipkit_header_round_trip() -> None:
    header = LockHeader(
        python_version="3.11",
        platform="linux",
        fingerprint="sha256:abcd",
        command="pipkit lock requirements.in -o requirements.txt",
    )
    text = format_header(header)
    assert text == (
        "# This file is autogenerated by pipkit lock. To update, run:\n"
        "#\n"
        "#    pipkit lock requirements.in -o requirements.txt\n"
        "#\n"
        "# pipkit: fingerprint=sha256:abcd python=3.11 platform=linux\n"
    )
    assert parse_header(text + "alpha==1\n") == header


def test_pip_compile_header(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        """
        #
        # This file is autogenerated by pip-compile with Python 3.12
        # by the following command:
        #
        #    pip-compile --output-file=requirements.txt requirements.in
        #
        alpha==1.0
            # via -r requirements.in
        # pipkit: python=9.9
        """,
    )
    assert lock.header == LockHeader(
        python_version="3.12",
        command="pip-compile --output-file=requirements.txt requirements.in",
    )


def test_other_header_forms() -> None:
    uv = parse_header(
        "# This file was autogenerated by uv via the following command:\n"
        "#    uv pip compile requirements.in -o requirements.txt\n"
        "# python: 3.10\n# platform: win32\n# fingerprint: sha256:ff\n"
    )
    assert uv == LockHeader(
        python_version="3.10",
        platform="win32",
        fingerprint="sha256:ff",
        command="uv pip compile requirements.in -o requirements.txt",
    )
    assert parse_header("alpha==1\n# pipkit: python=3.11\n") == LockHeader()


# --- # via ------------------------------------------------------------------------------------


def test_read_via(tmp_path: Path) -> None:
    path = write(
        tmp_path / "requirements.txt",
        """
        #
        #    pip-compile requirements.in
        #
        Click==8.1.7 \\
            --hash=sha256:aaaa
            # via
            #   -r requirements.in
            #   black
        black==24.1.0
            # via -r requirements.in
        old-style==1.0  # via alpha, beta
        -e file:///src/proj#egg=proj
            # via -r requirements.in
        no-annotation==1.0
        """,
    )
    assert read_via(path) == {
        "click": ("-r requirements.in", "black"),
        "black": ("-r requirements.in",),
        "old-style": ("alpha", "beta"),
        "proj": ("-r requirements.in",),
    }


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPKIT_TEST_VERSION", "4.2")
    write(tmp_path / "requirements.txt", "alpha==${PIPKIT_TEST_VERSION}\n")
    (e,) = read_requirements("requirements.txt").entries
    assert e.pinned_version == "4.2"


def test_new_options_reach_pip_args(tmp_path: Path) -> None:
    lock = read(
        tmp_path,
        "--no-require-hashes\n--all-releases=:all:\n--only-final b\n--use-feature fast-deps\n",
    )
    assert lock.options.pip_args() == [
        "--no-require-hashes",
        "--all-releases",
        ":all:",
        "--only-final",
        "b",
        "--use-feature",
        "fast-deps",
    ]
