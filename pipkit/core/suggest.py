"""The one closest name to a typo, by edit distance: pure, standard library only.

Used for "did you mean ...?" after an unknown command, option or package name. One best
match, not a list: a list makes the user read and choose, one name answers the question.
"""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest single-character edits that turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right))
            )
        previous = current
    return previous[-1]


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest ``word``, or None when none is near enough to be what was meant.

    Near enough: at most a third of the word's length in edits (at least one), so ``instal``
    finds ``install`` but ``x`` finds nothing. Ties go to the earlier candidate.
    """
    limit = max(1, len(word) // 3)
    best: tuple[int, str] | None = None
    for candidate in candidates:
        if candidate == word:
            continue
        score = distance(word.lower(), candidate.lower())
        if score <= limit and (best is None or score < best[0]):
            best = (score, candidate)
    return best[1] if best else None
