"""Text edits of lock inputs (``install --save`` / ``uninstall --save``): pure, no venv."""

from __future__ import annotations

import tomllib

from pipkit.core.edit import (
    add_pyproject_dependency,
    add_requirement_line,
    remove_pyproject_dependency,
    remove_requirement_line,
)
from tests.core.helpers import PYPROJECT


def test_pyproject_text_edits_keep_comments_and_layout() -> None:
    added = add_pyproject_dependency(PYPROJECT, "fig>=1")
    assert '    "banana",  # the main one\n    "fig>=1",\n    # apple comes with banana\n' in added
    assert "# the runtime needs" in added and added.endswith("[tool.other]\nx = 1\n")
    assert tomllib.loads(added)["project"]["dependencies"] == ["banana", "fig>=1"]

    replaced = add_pyproject_dependency(added, "Banana<3")
    assert '    "Banana<3",  # the main one\n' in replaced

    removed = remove_pyproject_dependency(replaced, "banana")
    assert removed is not None and "Banana" not in removed and "# apple comes with" in removed
    assert tomllib.loads(removed)["project"]["dependencies"] == ["fig>=1"]
    assert remove_pyproject_dependency(removed, "nothere") is None

    inline = '[project]\nname = "x"\ndependencies = ["a", "b"]  # keep\n'
    assert add_pyproject_dependency(inline, "c") == (
        '[project]\nname = "x"\ndependencies = ["a", "b", "c"]  # keep\n'
    )
    assert remove_pyproject_dependency(inline, "a") == (
        '[project]\nname = "x"\ndependencies = ["b"]  # keep\n'
    )
    assert remove_pyproject_dependency(inline, "b") == (
        '[project]\nname = "x"\ndependencies = ["a"]  # keep\n'
    )
    empty = '[project]\nname = "x"\ndependencies = []\n'
    assert tomllib.loads(add_pyproject_dependency(empty, "c"))["project"]["dependencies"] == ["c"]
    missing = '[project]\nname = "x"\n\n[tool.x]\ny = 1\n'
    edited = add_pyproject_dependency(missing, "c")
    data = tomllib.loads(edited)
    assert data["project"]["dependencies"] == ["c"] and data["tool"]["x"] == {"y": 1}


def test_requirements_in_text_edits() -> None:
    text = "# top\napple<2  # pinned low\n-r base.in\nbanana\n"
    assert add_requirement_line(text, "fig") == text + "fig\n"
    assert add_requirement_line(text, "Apple>=1") == (
        "# top\nApple>=1  # pinned low\n-r base.in\nbanana\n"
    )
    assert remove_requirement_line(text, "BANANA") == "# top\napple<2  # pinned low\n-r base.in\n"
    assert remove_requirement_line(text, "fig") is None
