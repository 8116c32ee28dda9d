"""Which VCS checkout an editable project lives in, read from the files, without git.

``pip freeze`` runs git for this; pipkit reads ``.git`` itself (config for the remote,
HEAD and refs for the commit), which is what keeps ``freeze`` fast. Effectful (reads files).
"""

from __future__ import annotations

import os
import pathlib
import re
from functools import cache

from pipkit.core.freeze import VcsCheckout

# scp-like git remotes ("git@host:path") pip rewrites to ssh:// URLs.
_SCP = re.compile(r"^(\w+@)?([^/:]+):(\w[^:]*)$")


def _git_dir(repo_root: str) -> str | None:
    dot_git = os.path.join(repo_root, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    if os.path.isfile(dot_git):  # worktree or submodule: "gitdir: <path>"
        with open(dot_git, encoding="utf-8") as handle:
            text = handle.read().strip()
        if text.startswith("gitdir:"):
            path = text[len("gitdir:") :].strip()
            return os.path.normpath(os.path.join(repo_root, path))
    return None


def _common_dir(git_dir: str) -> str:
    common = os.path.join(git_dir, "commondir")
    if os.path.isfile(common):
        with open(common, encoding="utf-8") as handle:
            return os.path.normpath(os.path.join(git_dir, handle.read().strip()))
    return git_dir


def _remote_url(common: str) -> tuple[str | None, str | None]:
    """(the remote in pip's URL form, or None; the raw remote when pip rejects it)."""
    import configparser  # only for an editable's checkout: freeze is on the fast path

    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(os.path.join(common, "config"), encoding="utf-8")
    except configparser.Error:
        return None, None
    remotes = [s for s in parser.sections() if s.startswith('remote "')]
    urls = [(s, parser.get(s, "url")) for s in remotes if parser.has_option(s, "url")]
    if not urls:
        return None, None
    url = next((u for s, u in urls if s == 'remote "origin"'), urls[0][1]).strip()
    # pip's _git_remote_to_pip_url
    if re.match(r"\w+://", url):
        return url, None
    if os.path.exists(url):
        return pathlib.PurePath(url).as_uri(), None
    match = _SCP.match(url)
    if match:
        return match.expand(r"ssh://\1\2/\3"), None
    return None, url


def _resolve_ref(git_dir: str, common: str, ref: str) -> str | None:
    for base in (git_dir, common):
        path = os.path.join(base, ref)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip() or None
    packed = os.path.join(common, "packed-refs")
    if os.path.isfile(packed):
        with open(packed, encoding="utf-8") as handle:
            for line in handle:
                sha, _, name = line.strip().partition(" ")
                if name == ref:
                    return sha
    return None


def _head(git_dir: str, common: str) -> str | None:
    try:
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
    except OSError:
        return None
    if head.startswith("ref:"):
        return _resolve_ref(git_dir, common, head[4:].strip())
    return head or None


def _project_root(location: str, repo_root: str) -> str | None:
    """The project's folder relative to the repo root, as pip's get_subdirectory finds it."""
    current = os.path.abspath(location)
    while not any(os.path.exists(os.path.join(current, f)) for f in ("setup.py", "pyproject.toml")):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    if os.path.samefile(repo_root, current):
        return None
    return os.path.relpath(current, repo_root)


@cache
def git_checkout(location: str) -> VcsCheckout | None:
    """The git checkout containing ``location``, or None when it is in none."""
    current = os.path.abspath(location)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            break
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    git_dir = _git_dir(current)
    if git_dir is None:
        return None
    common = _common_dir(git_dir)
    remote, invalid = _remote_url(common)
    return VcsCheckout(
        vcs="git",
        remote_url=remote,
        invalid_remote=invalid,
        revision=_head(git_dir, common),
        # pip takes the repo root to be the folder above `git rev-parse --git-dir`: in a
        # worktree or a submodule that is inside the main repo's .git, not the checkout.
        subdirectory=_project_root(location, os.path.dirname(git_dir)),
    )
