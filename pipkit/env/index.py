"""A small read-only client for package indexes: which versions (and files) of a project exist.

Used by ``pipkit search`` and ``pipkit list --outdated``. It consults what pip would consult,
as :class:`~pipkit.env.pipconfig.PipConfig` says: the index URL and extra index URLs through
the Simple Repository API (PEP 691 JSON, or PEP 503 HTML; ``file://`` and local-path indexes
read ``<index>/<name>/index.html`` as pip does), and find-links (a local directory of wheels and
sdists, a ``file://`` URL of one, an HTML page URL, or a single archive). Versions come from
file names, as pip derives them. Like pip it honours ``trusted-host`` (plain http allowed,
TLS not verified), ``cert``, ``proxy``, ``timeout``, credentials in index URLs and ``~/.netrc``,
and ignores plain-http indexes that are neither trusted nor on loopback.

Outcomes are kept apart on purpose: a project an index does not have (HTTP 404) is "not
found"; an index that cannot be reached is an error. :func:`project_versions` and
:func:`lookup_projects` raise :class:`OperationError` (naming the indexes, credentials
redacted) only when *no* source could be consulted for a project, and otherwise report the
failed ones in :attr:`ProjectInfo.errors`; :func:`latest_versions` raises whenever an index
failed, since "up to date" must not be guessed from the sources that happened to answer.

Must not import pip or run subprocesses. ``urllib.request``, ``json``, ``html.parser``,
``ssl`` and ``concurrent.futures`` are imported inside functions: pipkit's startup must stay
cheap, and only the commands that talk to an index pay for them.
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pipkit.env.pipconfig import PipConfig
from pipkit.errors import OperationError, UsageError

if TYPE_CHECKING:
    import ssl
    import urllib.request

# PEP 691 content negotiation: JSON preferred, HTML (PEP 503) accepted.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.1"
)
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
# How many requests are in flight at once: enough to hide latency for ``list --outdated``,
# few enough not to hammer an index.
MAX_WORKERS = 8
_HASH_NAMES = frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512"})
_LOOPBACK_HOSTS = frozenset({"localhost", "::1"})
_USER_AGENT = "pipkit (Simple API client)"

T = TypeVar("T")
# progress(done, total): lookups finished so far, out of how many.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DistFile:
    """One distribution file an index or find-links location lists for a project."""

    filename: str
    url: str  # absolute, without the hash fragment
    project: NormalizedName  # from the file name
    version: Version
    kind: str  # "wheel" or "sdist"
    source: str  # the index or find-links location that listed it (credentials redacted)
    hashes: tuple[tuple[str, str], ...] = ()  # (algorithm, hex digest), e.g. ("sha256", "...")
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None

    @property
    def hash_map(self) -> dict[str, str]:
        return dict(self.hashes)


@dataclass(frozen=True)
class ProjectVersion:
    """One version of a project, with all its files across sources."""

    version: Version
    files: tuple[DistFile, ...]

    @property
    def yanked(self) -> bool:
        """PEP 592: a version counts as yanked when every one of its files is."""
        return all(f.yanked for f in self.files)

    @property
    def yanked_reason(self) -> str | None:
        reasons = [f.yanked_reason for f in self.files if f.yanked and f.yanked_reason]
        return reasons[0] if self.yanked and reasons else None


@dataclass(frozen=True)
class SourceError:
    """An index or find-links location that could not be consulted, and why."""

    location: str  # credentials redacted
    reason: str
    kind: str = "index"  # or "find-links"

    def __str__(self) -> str:
        return f"{self.location} ({self.reason})"


@dataclass(frozen=True)
class ProjectInfo:
    """What the configured sources know of one project."""

    name: NormalizedName
    files: tuple[DistFile, ...] = ()
    sources: tuple[str, ...] = ()  # every location consulted, in pip's order (redacted)
    found_on: tuple[str, ...] = ()  # those that have the project
    errors: tuple[SourceError, ...] = ()  # those that could not be consulted

    @property
    def found(self) -> bool:
        return bool(self.found_on)

    @property
    def versions(self) -> tuple[ProjectVersion, ...]:
        """Every version, newest first."""
        by_version: dict[Version, list[DistFile]] = {}
        for dist_file in self.files:
            by_version.setdefault(dist_file.version, []).append(dist_file)
        return tuple(
            ProjectVersion(version, tuple(by_version[version]))
            for version in sorted(by_version, reverse=True)
        )

    def latest(self) -> Version | None:
        """The newest non-yanked version, a final release unless there are only pre-releases."""
        return latest_of(v.version for v in self.versions if not v.yanked)


def latest_of(versions: Iterable[Version]) -> Version | None:
    """The newest of ``versions``: a final release if any, else the newest pre-release."""
    candidates = list(versions)
    finals = [v for v in candidates if not v.is_prerelease]
    pool = finals or candidates
    return max(pool) if pool else None


def project_versions(name: str, config: PipConfig) -> ProjectInfo:
    """What the configured indexes and find-links list for project ``name``.

    A project no source has gives ``found == False`` (not an error). Raises
    :class:`OperationError` when no source could be consulted at all (all unreachable), or when
    there is nothing to consult (``no-index`` without find-links); :class:`UsageError` for a
    name that is not a valid project name.
    """
    return lookup_projects([name], config)[name]


def lookup_projects(
    names: Sequence[str], config: PipConfig, *, progress: Progress | None = None
) -> dict[str, ProjectInfo]:
    """:func:`project_versions` for several projects, concurrently; keyed by the given names.

    ``progress(done, total)`` is called as each (project, source) lookup finishes, from the
    calling thread. Raises :class:`OperationError` as soon as one project could not be looked
    up anywhere.
    """
    canonical = {name: _validated_name(name) for name in names}
    session = _Session(config)
    sources = session.sources
    if not sources:
        raise OperationError("no package index to consult: no-index is set and no find-links")
    unique = list(dict.fromkeys(canonical.values()))
    tasks = [(project, source) for project in unique for source in sources]
    outcomes = _run_all(tasks, session, progress)
    infos: dict[NormalizedName, ProjectInfo] = {}
    failed: list[tuple[NormalizedName, tuple[SourceError, ...]]] = []
    for project in unique:
        found = [outcomes[(project, s)] for s in sources]
        errors = tuple(o.error for o in found if o.error is not None)
        info = ProjectInfo(
            name=project,
            files=tuple(f for o in found for f in o.files),
            sources=tuple(s.location for s in sources),
            found_on=tuple(s.location for s, o in zip(sources, found, strict=True) if o.found),
            errors=errors,
        )
        if len(errors) == len(sources):
            failed.append((project, errors))
        infos[project] = info
    if failed:
        # Usually the same index failed for every project: say so once.
        first, errors = failed[0]
        shown = ", ".join(name for name, _ in failed[:3]) + (", ..." if len(failed) > 3 else "")
        who = first if len(failed) == 1 else f"{len(failed)} projects ({shown})"
        raise OperationError(f"{who}: {unreachable_message(errors)}")
    return {name: infos[canonical[name]] for name in names}


def latest_releases(
    names: Sequence[str],
    config: PipConfig,
    *,
    python_version: str | None,
    prereleases: Callable[[str], bool] | None = None,
    progress: Progress | None = None,
) -> dict[str, tuple[Version, str] | None]:
    """For ``pip list --outdated`` and ``pipkit outdated``: each project's latest version the
    target can install, and the kind of file pip would take for it ("wheel" if there is one,
    else "sdist").

    pip's rule: a file whose Requires-Python excludes ``python_version`` (the target's full
    version) is not a candidate, so a release only newer Pythons can install is not "latest";
    a yanked file is not one either. ``prereleases(name)`` says whether that project's
    pre-releases count (pip's ``--pre``); without it, :func:`latest_of`'s rule (a final
    release if there is one). Errors as :func:`latest_versions`.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    def installable(dist_file: DistFile) -> bool:
        if not dist_file.requires_python or python_version is None:
            return True
        try:
            spec = SpecifierSet(dist_file.requires_python)
        except InvalidSpecifier:
            return True  # pip ignores a malformed Requires-Python too
        return spec.contains(python_version, prereleases=True)

    infos = lookup_projects(names, config, progress=progress)
    failed = {e.location: e for info in infos.values() for e in info.errors if e.kind == "index"}
    if failed:
        errors = list(failed.values())
        raise OperationError(f"cannot tell the latest versions: {unreachable_message(errors)}")
    answer: dict[str, tuple[Version, str] | None] = {}
    for name, info in infos.items():
        usable = {
            v.version: [f for f in v.files if installable(f) and not f.yanked]
            for v in info.versions
        }
        candidates = [version for version, files in usable.items() if files]
        if prereleases is None:
            newest = latest_of(candidates)
        else:
            pre = prereleases(name)
            newest = max((v for v in candidates if pre or not v.is_prerelease), default=None)
        if newest is None:
            answer[name] = None
            continue
        kinds = {f.kind for f in usable[newest]}
        answer[name] = (newest, "wheel" if "wheel" in kinds else "sdist")
    return answer


def latest_versions(names: Sequence[str], config: PipConfig) -> dict[str, Version | None]:
    """The latest version of each project (see :meth:`ProjectInfo.latest`); None if not found.

    Looks the projects up concurrently (at most :data:`MAX_WORKERS` requests at a time).
    Requires-Python, platform tags and the like are not considered: this answers "is there a
    newer release", for ``pipkit list --outdated``.

    Stricter than :func:`lookup_projects`: an index that could not be consulted for some
    project raises :class:`OperationError`, even when other sources answered, because "no newer
    version" would then be a guess (an offline index would make everything look up to date).
    A find-links location that cannot be read is skipped, as pip skips it with a warning.
    """
    infos = lookup_projects(names, config)
    failed = {e.location: e for info in infos.values() for e in info.errors if e.kind == "index"}
    if failed:
        errors = list(failed.values())
        raise OperationError(f"cannot tell the latest versions: {unreachable_message(errors)}")
    return {name: info.latest() for name, info in infos.items()}


def project_names(config: PipConfig) -> set[NormalizedName]:
    """Every project name the configured indexes and find-links list, for a "did you mean".

    A source that cannot be read is skipped: the names only feed a suggestion, and the error
    they accompany already says what failed.
    """
    session = _Session(config)
    names: set[NormalizedName] = set()
    for source in session.sources:
        try:
            names |= session.names(source)
        except _FetchError:
            continue
    return names


def _root_names(page: _Page) -> set[NormalizedName]:
    """The project names on a Simple API root page: JSON ``projects`` or the HTML anchors."""
    import json

    text = page.body.decode(page.charset or "utf-8", errors="replace")
    if page.content_type in _JSON_TYPES or text.lstrip()[:1] == "{":
        try:
            projects = json.loads(text).get("projects", [])
        except (ValueError, AttributeError):
            return set()
        return {
            canonicalize_name(p["name"])
            for p in projects
            if isinstance(p, dict) and isinstance(p.get("name"), str)
        }
    # <a href="/simple/name/">Name</a>: the anchor's text is the project's name.
    return {canonicalize_name(m) for m in re.findall(r"<a\b[^>]*>\s*([^<\s]+)\s*</a>", text)}


def unreachable_message(errors: Sequence[SourceError]) -> str:
    """'could not reach X (reason); Y (reason)': one line naming every failed source."""
    return "could not reach " + "; ".join(str(e) for e in errors)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``****`` (as pip shows index URLs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    username = user.split(":", 1)[0]
    netloc = f"{username}:****@{host}" if ":" in user else f"****@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------------------------
# Sources: where to look, resolved from the config once per lookup.


@dataclass(frozen=True)
class _Source:
    kind: str  # "index" or "find-links"
    location: str  # as configured, credentials redacted: the name users see
    url: str | None = None  # remote URL (http/https), credentials stripped
    path: str | None = None  # local file or directory
    auth: tuple[str, str] | None = None  # credentials from the URL's userinfo
    problem: str | None = None  # why this source cannot be used at all


@dataclass(frozen=True)
class _Outcome:
    files: tuple[DistFile, ...] = ()
    found: bool = False
    error: SourceError | None = None


@dataclass(frozen=True)
class _Page:
    url: str  # after redirects: relative links resolve against it
    content_type: str  # lower-cased media type, without parameters
    charset: str | None
    body: bytes


class _FetchError(Exception):
    """A source could not be read; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _validated_name(name: str) -> NormalizedName:
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise UsageError(f"{name!r} is not a valid project name") from None


def _local_path(location: str) -> str | None:
    """The filesystem path ``location`` names (a path or a ``file:`` URL), else None."""
    if location.startswith("file:"):
        import urllib.request

        parts = urllib.parse.urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            return None
        return urllib.request.url2pathname(parts.path)
    if "://" in location:
        return None
    # pip expands "~" in find-links; a relative path is relative to the working directory.
    return os.path.abspath(os.path.expanduser(location))


def _make_source(kind: str, location: str) -> _Source:
    shown = redact_url(location)
    path = _local_path(location)
    if path is not None:
        return _Source(kind, shown, path=path)
    parts = urllib.parse.urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _Source(kind, shown, problem="not a path, nor an http(s) or file URL")
    auth = None
    if parts.username is not None:
        auth = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        netloc = parts.netloc.rpartition("@")[2]
        location = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return _Source(kind, shown, url=location, auth=auth)


def _is_loopback(host: str) -> bool:
    host = host.lower().strip("[]")
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _trusted(parts: urllib.parse.SplitResult, trusted_hosts: Sequence[str]) -> bool:
    """Whether pip's ``trusted-host`` covers this URL's host (``host`` or ``host:port``)."""
    host = (parts.hostname or "").lower()
    for entry in trusted_hosts:
        entry_host, _, entry_port = entry.lower().partition(":")
        if entry_host == host and (not entry_port or entry_port == str(parts.port)):
            return True
    return False


# --------------------------------------------------------------------------------------------
# The session: HTTP plumbing and per-lookup caches, shared by the worker threads.


class _Once:
    """A value computed once, whichever thread asks first; later callers wait and share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def get(self, compute: Callable[[], T]) -> T:
        with self._lock:
            if not self._done:
                try:
                    self._value = compute()
                except _FetchError as exc:
                    self._error = exc
                self._done = True
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


class _Session:
    def __init__(self, config: PipConfig) -> None:
        self.config = config
        # A location configured twice (say in PIP_INDEX_URL and PIP_EXTRA_INDEX_URL) is
        # consulted once: its files must not be counted twice.
        self.sources = list(
            dict.fromkeys(
                [_make_source("index", url) for url in config.index_urls]
                + [_make_source("find-links", link) for link in config.find_links]
            )
        )
        self._lock = threading.Lock()
        self._dead: dict[str, str] = {}  # host -> why it is unreachable
        self._netrc: dict[str, tuple[str, str] | None] = {}  # host -> credentials
        self._cache: dict[str, _Once] = {}
        self._openers: dict[tuple[bool | None, bool], urllib.request.OpenerDirector] = {}

    # -- lookups ----------------------------------------------------------------------------

    def lookup(self, name: NormalizedName, source: _Source) -> _Outcome:
        if source.problem is not None:
            return _Outcome(error=SourceError(source.location, source.problem, source.kind))
        try:
            if source.kind == "index":
                files, found = self._lookup_index(name, source)
            else:
                files, found = self._lookup_find_links(name, source)
        except _FetchError as exc:
            return _Outcome(error=SourceError(source.location, exc.reason, source.kind))
        return _Outcome(files=tuple(files), found=found)

    def _lookup_index(self, name: NormalizedName, source: _Source) -> tuple[list[DistFile], bool]:
        if source.path is not None:
            if not os.path.isdir(source.path):
                raise _FetchError("no such directory")
            project = os.path.join(source.path, name)
            # pip reads a directory's index.html; a project it lacks is simply not there.
            page_path = os.path.join(project, "index.html") if os.path.isdir(project) else project
            if not os.path.isfile(page_path):
                return [], False
            page = _read_local_page(page_path)
            return _page_listing(page, source.location).get(name, []), True
        assert source.url is not None
        page_url = posixpath.join(source.url, urllib.parse.quote(name))
        if not page_url.endswith("/"):
            page_url += "/"
        fetched = self.fetch(page_url, source, accept=ACCEPT)
        if fetched is None:
            return [], False
        return _page_listing(fetched, source.location).get(name, []), True

    def _lookup_find_links(
        self, name: NormalizedName, source: _Source
    ) -> tuple[list[DistFile], bool]:
        files = [f for listing in self._find_links_listings(source) for f in listing.get(name, [])]
        return files, bool(files)

    def names(self, source: _Source) -> set[NormalizedName]:
        """Every project ``source`` lists: an index's root page (PEP 503/691), or the files of
        a find-links location. Raises _FetchError when it cannot be read."""
        if source.problem is not None:
            raise _FetchError(source.problem)
        if source.kind == "find-links":
            return {n for listing in self._find_links_listings(source) for n in listing}
        if source.path is not None:
            try:
                entries = os.listdir(source.path)
            except OSError as exc:
                raise _FetchError(exc.strerror or str(exc)) from None
            return {
                canonicalize_name(e) for e in entries if os.path.isdir(os.path.join(source.path, e))
            }
        assert source.url is not None
        root = source.url if source.url.endswith("/") else source.url + "/"
        page = self.fetch(root, source, accept=ACCEPT)
        return set() if page is None else _root_names(page)

    def _find_links_listings(self, source: _Source) -> list[dict[NormalizedName, list[DistFile]]]:
        # Find-links pages and directories list every project: each is read and parsed once
        # per lookup, whichever project asks first, and shared by the others.
        listings: list[dict[NormalizedName, list[DistFile]]] = []
        if source.path is not None:
            path = source.path
            if os.path.isdir(path):
                listing, pages = self._once(
                    f"dir:{path}", partial(_scan_dir, path, source.location)
                )
                listings.append(listing)
                listings += [self._local_listing(page, source) for page in pages]
            elif os.path.isfile(path) and _is_html_name(path):
                listings.append(self._local_listing(path, source))
            elif os.path.isfile(path):
                dist_file = _dist_file(os.path.basename(path), _path_to_url(path), source.location)
                listings.append(_group([dist_file] if dist_file is not None else []))
            else:
                raise _FetchError("no such file or directory")
        else:
            assert source.url is not None
            dist_file = _dist_file(_url_filename(source.url), source.url, source.location)
            if dist_file is not None:
                # A link straight to an archive: pip takes it as one candidate, without fetching.
                listings.append(_group([dist_file]))
            else:
                listings.append(
                    self._once(f"url:{source.url}", partial(self._remote_listing, source))
                )
        return listings

    def _local_listing(self, path: str, source: _Source) -> dict[NormalizedName, list[DistFile]]:
        def read() -> dict[NormalizedName, list[DistFile]]:
            return _page_listing(_read_local_page(path), source.location)

        return self._once(f"page:{path}", read)

    def _remote_listing(self, source: _Source) -> dict[NormalizedName, list[DistFile]]:
        assert source.url is not None
        fetched = self.fetch(source.url, source)
        if fetched is None:
            raise _FetchError("HTTP 404: no such page")
        return _page_listing(fetched, source.location)

    def _once(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            entry = self._cache.setdefault(key, _Once())
        return entry.get(compute)

    # -- HTTP -------------------------------------------------------------------------------

    def fetch(self, url: str, source: _Source, *, accept: str = "text/html") -> _Page | None:
        """GET ``url``: its page, or None for 404/410. Raises _FetchError for anything else."""
        import urllib.error
        import urllib.request

        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").lower()
        trusted = _trusted(parts, self.config.trusted_hosts)
        loopback = _is_loopback(host)
        if parts.scheme == "http" and not (trusted or loopback):
            # pip ignores such an index (with a warning): plain http can be tampered with.
            raise _FetchError(f"insecure: not https and {host} is not a trusted-host")
        host_key = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            dead = self._dead.get(host_key)
        if dead is not None:
            raise _FetchError(dead)

        request = urllib.request.Request(url, headers={"Accept": accept})
        request.add_header("User-Agent", _USER_AGENT)
        request.add_header("Accept-Encoding", "gzip")
        auth = source.auth or self._netrc_auth(host)
        if auth is not None:
            import base64

            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            # Unredirected: the credentials must not follow a redirect to another host.
            request.add_unredirected_header("Authorization", f"Basic {token}")
        # Plain http needs no TLS context (building one loads the CA store: not free).
        verify = None if parts.scheme == "http" else not trusted
        opener = self._opener(verify=verify, proxies=not loopback)
        try:
            with opener.open(request, timeout=self.config.timeout) as response:
                body = response.read()
                final_url = response.geturl()
                headers = response.headers
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise _FetchError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            reason = _describe(exc.reason)
            self._mark_dead(host_key, reason)
            raise _FetchError(reason) from None
        except (TimeoutError, OSError) as exc:
            reason = _describe(exc)
            self._mark_dead(host_key, reason)
            raise _FetchError(reason) from None
        except Exception as exc:  # http.client.HTTPException and kin: a broken response
            raise _FetchError(f"bad response: {_describe(exc)}") from None
        if headers.get("Content-Encoding", "").lower() == "gzip":
            import gzip

            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise _FetchError(f"bad gzip response: {exc}") from None
        return _Page(
            url=final_url,
            content_type=headers.get_content_type().lower(),
            charset=headers.get_content_charset(),
            body=body,
        )

    def _netrc_auth(self, host: str) -> tuple[str, str] | None:
        with self._lock:
            if host not in self._netrc:
                self._netrc[host] = _netrc_auth(host)
            return self._netrc[host]

    def _mark_dead(self, host_key: str, reason: str) -> None:
        # A host that refused a connection or timed out will do so again: fail the remaining
        # lookups at once instead of waiting a timeout per project.
        with self._lock:
            self._dead.setdefault(host_key, reason)

    def _opener(self, *, verify: bool | None, proxies: bool) -> urllib.request.OpenerDirector:
        """An opener verifying TLS (or not, for trusted hosts; None: http only), with proxies."""
        import urllib.request

        with self._lock:
            opener = self._openers.get((verify, proxies))
            if opener is None:
                handlers: list[urllib.request.BaseHandler] = []
                if verify is not None:
                    handlers.append(urllib.request.HTTPSHandler(context=self._ssl_context(verify)))
                if not proxies:
                    # Loopback never goes through a proxy.
                    handlers.append(urllib.request.ProxyHandler({}))
                elif self.config.proxy:
                    proxy = self.config.proxy
                    handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
                opener = urllib.request.build_opener(*handlers)
                self._openers[(verify, proxies)] = opener
        return opener

    def _ssl_context(self, verify: bool) -> ssl.SSLContext:
        import ssl

        if not verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=self.config.cert)
        except (OSError, ssl.SSLError) as exc:
            raise OperationError(f"cannot load the CA bundle {self.config.cert}: {exc}") from None


def _run_all(
    tasks: Sequence[tuple[NormalizedName, _Source]],
    session: _Session,
    progress: Progress | None = None,
) -> dict[tuple[NormalizedName, _Source], _Outcome]:
    """Run every (project, source) lookup, concurrently when there are several."""
    total = len(tasks)
    if total <= 1:
        outcomes = {(name, source): session.lookup(name, source) for name, source in tasks}
        if progress is not None:
            progress(total, total)
        return outcomes
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, total))
    try:
        futures = {
            (name, source): pool.submit(session.lookup, name, source) for name, source in tasks
        }
        if progress is not None:
            for done, _ in enumerate(as_completed(futures.values()), start=1):
                progress(done, total)
        return {key: future.result() for key, future in futures.items()}
    finally:
        # On an error or Ctrl-C, drop the lookups not yet started instead of running them all.
        pool.shutdown(wait=True, cancel_futures=True)


def _netrc_auth(host: str) -> tuple[str, str] | None:
    """Credentials for ``host`` from ``$NETRC`` or ``~/.netrc``, as pip (requests) uses them."""
    import netrc

    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not os.path.isfile(path):
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, _, password = entry
    return (login, password or "")


def _describe(reason: object) -> str:
    """A short, human description of a network failure."""
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


# --------------------------------------------------------------------------------------------
# Pages and file names.


def _read_local_page(path: str) -> _Page:
    try:
        with open(path, "rb") as f:
            body = f.read()
    except OSError as exc:
        raise _FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    content_type = "application/vnd.pypi.simple.v1+json" if path.endswith(".json") else "text/html"
    return _Page(url=_path_to_url(path), content_type=content_type, charset=None, body=body)


def _scan_dir(path: str, source: str) -> tuple[dict[NormalizedName, list[DistFile]], list[str]]:
    """A find-links directory's archives, by project, and its HTML pages, as pip scans it."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as exc:
        raise _FetchError(exc.strerror or str(exc)) from None
    files: list[DistFile] = []
    pages: list[str] = []
    for entry in entries:
        if not entry.is_file():
            continue
        if _is_html_name(entry.name):
            pages.append(entry.path)
            continue
        dist_file = _dist_file(entry.name, _path_to_url(entry.path), source)
        if dist_file is not None:
            files.append(dist_file)
    return _group(files), pages


def _group(files: Iterable[DistFile]) -> dict[NormalizedName, list[DistFile]]:
    grouped: dict[NormalizedName, list[DistFile]] = {}
    for dist_file in files:
        grouped.setdefault(dist_file.project, []).append(dist_file)
    return grouped


def _is_html_name(name: str) -> bool:
    return name.lower().endswith((".html", ".htm"))


def _path_to_url(path: str) -> str:
    import pathlib

    return pathlib.Path(os.path.abspath(path)).as_uri()


def _url_filename(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


def _parse_filename(filename: str) -> tuple[NormalizedName, Version, str] | None:
    """(project, version, kind) of a wheel or sdist file name; None for anything else."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version, "wheel"
        name, version = parse_sdist_filename(filename)
        return name, version, "sdist"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _dist_file(
    filename: str,
    url: str,
    source: str,
    *,
    requires_python: str | None = None,
    yanked: bool | str = False,
    hashes: Mapping[str, str] | None = None,
) -> DistFile | None:
    """The DistFile for one listed file; None if its name is not a wheel's or an sdist's."""
    parsed = _parse_filename(filename)
    if parsed is None:
        return None
    url, fragment = urllib.parse.urldefrag(url)
    all_hashes = dict(hashes or {})
    # PEP 503 pages carry the hash in the URL fragment: "#sha256=<hex>".
    for item in fragment.split("&"):
        algorithm, _, digest = item.partition("=")
        if algorithm.lower() in _HASH_NAMES and digest:
            all_hashes.setdefault(algorithm.lower(), digest)
    return DistFile(
        filename=filename,
        url=url,
        project=parsed[0],
        version=parsed[1],
        kind=parsed[2],
        source=source,
        hashes=tuple(sorted(all_hashes.items())),
        requires_python=requires_python.strip() if requires_python else None,
        yanked=yanked is not False,
        yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
    )


def _page_listing(page: _Page, source: str) -> dict[NormalizedName, list[DistFile]]:
    """The files a Simple API page (JSON or HTML) or find-links page lists, by project."""
    body = page.body
    is_json = page.content_type in _JSON_TYPES or (
        page.content_type not in ("text/html", "application/vnd.pypi.simple.v1+html")
        and body.lstrip()[:1] == b"{"
    )
    return _group(_json_files(page, source) if is_json else _html_files(page, source))


def _json_files(page: _Page, source: str) -> Iterator[DistFile]:
    import json

    try:
        data = json.loads(page.body.decode(page.charset or "utf-8"))
    except (UnicodeDecodeError, LookupError, ValueError) as exc:
        raise _FetchError(f"invalid JSON from {redact_url(page.url)}: {exc}") from None
    entries = data.get("files") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise _FetchError(f"invalid Simple API JSON from {redact_url(page.url)}: no 'files' list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        hashes = entry.get("hashes")
        requires_python = entry.get("requires-python")
        yanked = entry.get("yanked", False)
        dist_file = _dist_file(
            filename,
            urllib.parse.urljoin(page.url, url),
            source,
            requires_python=requires_python if isinstance(requires_python, str) else None,
            # As pip reads PEP 691: a reason string yanks, an empty one does not.
            yanked=yanked if isinstance(yanked, str) and yanked else bool(yanked),
            hashes={str(k): str(v) for k, v in hashes.items()}
            if isinstance(hashes, dict)
            else None,
        )
        if dist_file is not None:
            yield dist_file


def _html_files(page: _Page, source: str) -> Iterator[DistFile]:
    from html.parser import HTMLParser

    class AnchorParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.base: str | None = None
            self.anchors: list[dict[str, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "base" and self.base is None:
                self.base = dict(attrs).get("href")
            elif tag == "a":
                self.anchors.append(dict(attrs))

    try:
        text = page.body.decode(page.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        text = page.body.decode("latin-1")
    parser = AnchorParser()
    parser.feed(text)
    parser.close()
    base_url = urllib.parse.urljoin(page.url, parser.base) if parser.base else page.url
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url = urllib.parse.urljoin(base_url, href)
        # data-yanked: present means yanked (its value, if any, is the reason).
        yanked: bool | str = (attrs["data-yanked"] or True) if "data-yanked" in attrs else False
        dist_file = _dist_file(
            _url_filename(url),
            url,
            source,
            requires_python=attrs.get("data-requires-python"),
            yanked=yanked,
        )
        if dist_file is not None:
            yield dist_file
