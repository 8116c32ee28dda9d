"""All of pipkit's output: rich tables for people, ``--json`` for scripts.

JSON goes to stdout as one document with stable keys (documented in the README). Tables
use rich, imported only when a table is printed; rich honours ``NO_COLOR``. Messages for
people go to stderr so stdout stays parseable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from pipkit.commands import PackageRow, ShowInfo
    from pipkit.demo import DemoReport
    from pipkit.search import SearchResult


class _Jsonable(Protocol):
    def to_json(self) -> Any: ...


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(*columns: str, title: str | None = None) -> Table:
    from rich import box
    from rich.table import Table

    result = Table(*columns, title=title, box=box.SIMPLE_HEAD, title_justify="left")
    return result


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def json_list(items: Iterable[_Jsonable]) -> None:
    print_json([item.to_json() for item in items])


def message(text: str) -> None:
    """A line for people, on stderr."""
    sys.stderr.write(text + "\n")


def package_list(rows: Sequence[PackageRow], *, as_json: bool, outdated: bool) -> None:
    if as_json:
        json_list(rows)
        return
    if not rows:
        message("No packages." if not outdated else "Everything is up to date.")
        return
    columns = ["Package", "Version"]
    if outdated:
        columns.append("Latest")
    columns.append("Editable project location")
    out = table(*columns)
    for row in rows:
        cells = [row.name, row.version]
        if outdated:
            cells.append(row.latest or "")
        cells.append(row.editable_location or "")
        out.add_row(*cells)
    console().print(out)


def show(infos: Sequence[ShowInfo], *, as_json: bool) -> None:
    if as_json:
        json_list(infos)
        return
    lines: list[str] = []
    for index, info in enumerate(infos):
        if index:
            lines.append("---")
        lines += [
            f"Name: {info.name}",
            f"Version: {info.version}",
            f"Summary: {info.summary}",
            f"Home-page: {info.home_page}",
            f"Author: {info.author}",
            f"License: {info.license}",
            f"Location: {info.location}",
        ]
        if info.editable_location:
            lines.append(f"Editable project location: {info.editable_location}")
        lines += [
            f"Requires: {', '.join(info.requires)}",
            f"Required-by: {', '.join(info.required_by)}",
        ]
        if info.files is not None:
            lines.append("Files:")
            lines += [f"  {path}" for path in info.files]
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def search_result(result: SearchResult, *, as_json: bool) -> None:
    """``pipkit search``: the JSON document, or a few lines (nothing on stdout if not found)."""
    for error in result.unreachable:
        message(f"pipkit: warning: could not reach {error}")
    if as_json:
        print_json(result.to_json())
        return
    if not result.found:
        return  # the error line names the indexes and the similar installed names
    versions = ", ".join(
        f"{v.version} (yanked)" if v.yanked else v.version for v in result.versions
    )
    lines = [
        result.name,
        f"  latest:    {result.latest or 'none (every version is yanked)'}",
        f"  installed: {result.installed or 'no'}",
        f"  versions:  {versions or 'none'}",
    ]
    if result.similar_installed:
        similar = ", ".join(f"{s.name} {s.version}" for s in result.similar_installed)
        lines.append(f"  similar installed: {similar}")
    sys.stdout.write("\n".join(lines) + "\n")


# -- pipkit demo ------------------------------------------------------------------------------


def demo_report(report: DemoReport, *, as_json: bool) -> None:
    """The demo's checks as a table (check, result, figures) with the URLs, or one JSON object."""
    if as_json:
        print_json(report.to_json())
        return
    from rich.text import Text

    out = table("Check", "Result", "Figures", title=f"pipkit demo: {report.python}")
    for check in report.checks:
        result = Text("ok", style="green") if check.ok else Text("FAILED", style="bold red")
        # Text, not markup: a failed server's output may contain [brackets].
        out.add_row(Text(check.name), result, Text(check.detail))
    con = console()
    con.print(out)
    for server in report.servers:
        con.print(Text(f"{server.kind:<10} {server.url or '(not running)'}"))
    failed = sum(not check.ok for check in report.checks)
    if failed:
        con.print(Text(f"{failed} of {len(report.checks)} checks failed.", style="bold red"))
    else:
        con.print(Text(f"All {len(report.checks)} checks passed.", style="green"))
