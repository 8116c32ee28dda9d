"""Text edits of lock inputs that keep the user's formatting: requirements.in and pyproject.toml.

``install --save`` adds a requirement, ``uninstall --save`` removes one; each edit changes only
the lines (or the array items) it must, keeping comments, order and layout, and a pyproject edit
is read back with ``tomllib`` to prove it says what was meant. Pure: text in, text out.
Imports the standard library, ``packaging``, pipkit.core and pipkit.errors only.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.inputs import load_toml
from pipkit.errors import InputError, OperationError

# -- requirements.in ---------------------------------------------------------------------------


def _requirement_name(line: str) -> NormalizedName | None:
    """The project a plain requirements-file line names (None for options, comments, URLs
    without a name)."""
    text = re.sub(r"(^|\s+)#.*$", "", line).strip()
    if not text or text.startswith("-"):
        return None
    text = text.split(" -", 1)[0].strip()
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        match = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", text)
        return canonicalize_name(match.group(1)) if match else None


def add_requirement_line(text: str, spec: str) -> str:
    """*text* (a requirements.in) with *spec* added, or replacing the line naming its project."""
    name = canonicalize_name(Requirement(spec).name)
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _requirement_name(line) == name:
            comment = re.search(r"\s+#.*$", line.rstrip("\r\n"))
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = spec + (comment.group(0) if comment else "") + (ending or "\n")
            return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + spec + "\n"


def remove_requirement_line(text: str, name: str) -> str | None:
    """*text* without the lines naming *name*; None when no line does."""
    key = canonicalize_name(name)
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if _requirement_name(line) != key]
    return None if len(kept) == len(lines) else "".join(kept)


# -- pyproject.toml, as text -------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    start: int  # the string literal's span in the file
    end: int
    value: str


def _scan_string(text: str, i: int) -> tuple[int, str]:
    """A TOML string literal starting at *i*: (index after it, its value)."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    delim = quote * 3 if triple else quote
    j = i + len(delim)
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text.startswith(delim, j):
            end = j + len(delim)
            literal = text[i:end]
            try:
                value = tomllib.loads(f"v = {literal}")["v"]
            except tomllib.TOMLDecodeError:
                raise InputError(f"cannot read the string {literal!r}") from None
            return end, str(value)
        if not triple and text[j] == "\n":
            break
        j += 1
    raise InputError("unterminated string in the dependencies array")


def _scan_array(text: str, start: int) -> tuple[int, list[_Item]]:
    """The array whose ``[`` is at *start*: (index after its ``]``, its top-level strings)."""
    items: list[_Item] = []
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if char in "\"'":
            end, value = _scan_string(text, i)
            if depth == 1:
                items.append(_Item(i, end, value))
            i = end
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i + 1, items
        i += 1
    raise InputError("unterminated dependencies array")


_TABLE_RE = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\n]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.MULTILINE)
_DEPS_KEY_RE = re.compile(r"^[ \t]*(?:dependencies|\"dependencies\")[ \t]*=[ \t]*", re.MULTILINE)


def _project_table(text: str, path: str = "pyproject.toml") -> tuple[int, int]:
    """The span of the ``[project]`` table's body (after its header, to the next table)."""
    headers = list(_TABLE_RE.finditer(text))
    for index, match in enumerate(headers):
        if match.group(1).strip() in ("project", '"project"'):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            return match.end(), end
    raise InputError("no [project] table", location=path)


def _dependencies_array(
    text: str, path: str = "pyproject.toml"
) -> tuple[int, int, list[_Item]] | None:
    """(start of ``[``, index after ``]``, items) of ``[project] dependencies``, or None."""
    body_start, body_end = _project_table(text, path)
    position = body_start
    while True:
        match = _DEPS_KEY_RE.search(text, position, body_end)
        if match is None:
            return None
        if text[match.end() : match.end() + 1] == "[":
            end, items = _scan_array(text, match.end())
            return match.end(), end, items
        position = match.end()


def _dependency_name(value: str) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(value).name)
    except InvalidRequirement:
        return None


def _checked(new_text: str, expected: list[str], path: str) -> str:
    """*new_text*, after making sure it parses to exactly the *expected* dependencies."""
    try:
        deps = tomllib.loads(new_text).get("project", {}).get("dependencies")
    except tomllib.TOMLDecodeError as exc:
        raise OperationError(
            f"{path}: editing the dependencies would break the file ({exc})"
        ) from None
    if deps != expected:
        raise OperationError(f"{path}: could not edit the dependencies array safely")
    return new_text


def add_pyproject_dependency(text: str, spec: str, *, path: str = "pyproject.toml") -> str:
    """*text* with *spec* in ``[project] dependencies`` (replacing an entry for the same
    project), edited as text: formatting and comments stay as they are."""
    current = list(load_toml(text, path).get("project", {}).get("dependencies", []))
    name = canonicalize_name(Requirement(spec).name)
    literal = json.dumps(spec)
    found = _dependencies_array(text, path)
    if found is None:
        start, end = _project_table(text, path)
        block = f"dependencies = [\n    {literal},\n]\n"
        # After the table's last non-blank line.
        insert_at = start + len(text[start:end].rstrip()) if text[start:end].strip() else start
        rest = text[insert_at:].lstrip("\n")
        new_text = text[:insert_at] + "\n" + block + ("\n" + rest if rest else "")
        return _checked(new_text, [spec], path)
    open_at, close_end, items = found
    for item in items:
        if _dependency_name(item.value) == name:
            expected = [spec if v == item.value else v for v in current]
            new_text = text[: item.start] + literal + text[item.end :]
            return _checked(new_text, expected, path)
    expected = [*current, spec]
    inner = text[open_at + 1 : close_end - 1]
    if not items:
        if "\n" in inner:
            new_text = text[: open_at + 1] + f"\n    {literal},\n" + text[close_end - 1 :]
        else:
            new_text = text[:open_at] + f"[{literal}]" + text[close_end:]
        return _checked(new_text, expected, path)
    last = items[-1]
    multiline = "\n" in text[open_at : last.start]
    if not multiline:
        new_text = text[: last.end] + f", {literal}" + text[last.end :]
        return _checked(new_text, expected, path)
    line_start = text.rfind("\n", 0, last.start) + 1
    leading = re.match(r"[ \t]*", text[line_start:])
    indent = leading.group(0) if leading else ""
    after = text[last.end : close_end - 1]
    comma = re.match(r"[ \t]*,", after)
    head = text[: last.end]
    if comma is None:
        head += ","
        rest_start = last.end
    else:
        head = text[: last.end + comma.end()]
        rest_start = last.end + comma.end()
    # Past a comment that ends the last item's line.
    newline = text.find("\n", rest_start, close_end)
    if newline < 0:  # "]" on the last item's line
        new_text = head + f"\n{indent}{literal},\n" + text[rest_start:].lstrip(" \t")
        return _checked(new_text, expected, path)
    new_text = head + text[rest_start:newline] + f"\n{indent}{literal}," + text[newline:]
    return _checked(new_text, expected, path)


def remove_pyproject_dependency(
    text: str, package: str, *, path: str = "pyproject.toml"
) -> str | None:
    """*text* without the ``[project] dependencies`` entries naming *package*; None if none."""
    key = canonicalize_name(package)
    load_toml(text, path)  # a broken file is reported as such, not half-scanned
    found = _dependencies_array(text, path)
    if found is None:
        return None
    _open_at, _close_end, items = found
    doomed = [item for item in items if _dependency_name(item.value) == key]
    if not doomed:
        return None
    current = list(load_toml(text, path).get("project", {}).get("dependencies", []))
    expected = [v for v in current if _dependency_name(v) != key]
    new_text = text
    for item in reversed(doomed):
        line_start = new_text.rfind("\n", 0, item.start) + 1
        line_end = new_text.find("\n", item.end)
        line_end = len(new_text) if line_end < 0 else line_end
        before = new_text[line_start : item.start]
        after = new_text[item.end : line_end]
        if not before.strip() and re.fullmatch(r"[ \t]*,?[ \t]*(#.*)?", after):
            new_text = new_text[:line_start] + new_text[line_end + 1 :]  # the whole line
            continue
        following = re.match(r"[ \t]*,[ \t]*", new_text[item.end :])
        if following is not None:
            new_text = new_text[: item.start] + new_text[item.end + following.end() :]
        else:
            preceding = re.search(r",[ \t]*$", new_text[: item.start])
            cut = preceding.start() if preceding else item.start
            new_text = new_text[:cut] + new_text[item.end :]
    return _checked(new_text, expected, path)
