"""pipkit freeze / list against pip freeze / pip list on a 40-package env, in one run.

Usage: python bench/bench_family.py [--packages N] [--runs N]
Target (issue 2): pipkit at least 3x faster than pip on both.
"""

from __future__ import annotations

import argparse

from common import build_env, pipkit_argv, remove, table, timeit, workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = workdir()
    try:
        venv, _ = build_env(work, args.packages)
        python = str(venv / "bin" / "python")
        pipkit = [*pipkit_argv(), "--python", str(venv)]
        rows = [
            (
                "freeze",
                timeit([*pipkit, "freeze"], runs=args.runs),
                timeit([python, "-m", "pip", "freeze"], runs=args.runs),
                "pip freeze",
            ),
            (
                "list",
                timeit([*pipkit, "list"], runs=args.runs),
                timeit([python, "-m", "pip", "list"], runs=args.runs),
                "pip list",
            ),
            (
                "list --json",
                timeit([*pipkit, "list", "--json"], runs=args.runs),
                timeit([python, "-m", "pip", "list", "--format", "json"], runs=args.runs),
                "pip list --format json",
            ),
        ]
        print(f"env: {args.packages} packages + pip; median of {args.runs} runs")
        print(table(rows))
    finally:
        remove(work)


if __name__ == "__main__":
    main()
