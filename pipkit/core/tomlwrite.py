"""A small TOML writer for lock documents (``tomllib`` reads TOML but does not write it).

Tables and arrays of tables as sections, scalars and arrays of scalars inline: the layout
``pip lock`` writes. Pure; imports the standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}" if inner else "{}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(document: Mapping[str, Any]) -> str:
    """A small TOML writer for lock documents: tables and arrays of tables as sections,
    scalars and arrays of scalars inline (the layout ``pip lock`` writes)."""
    out: list[str] = []

    def is_table_list(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)

    def table(data: Mapping[str, Any], path: list[str]) -> None:
        for key, value in data.items():
            if not isinstance(value, dict) and not is_table_list(value):
                out.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in data.items():
            sub = [*path, _toml_key(key)]
            if isinstance(value, dict):
                scalars = [v for v in value.values() if not isinstance(v, dict)]
                if scalars or not value:  # a table of tables needs no header of its own
                    out.append("")
                    out.append("[" + ".".join(sub) + "]")
                table(value, sub)
            elif is_table_list(value):
                for item in value:
                    out.append("")
                    out.append("[[" + ".".join(sub) + "]]")
                    table(item, sub)

    table(document, [])
    return "\n".join(out).lstrip("\n") + "\n"
