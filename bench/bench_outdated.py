"""``pipkit outdated`` against ``pip list --outdated`` on the same 40-pin env, in one run.

    python bench/bench_outdated.py [--packages N] [--runs N]

A venv of N small packages pinned at 1.0 (bench/common.build_env), the lock of those pins,
and a loopback PEP 691 index (tests/loopback.SimpleIndex) listing 1.0 and 2.0 of each: both
commands ask the same index for every project. Target (issue 14): pipkit outdated takes no
more than 2x the time of pip list --outdated. Never asserts: prints the times, the ratio and
the load average (``os.getloadavg()``) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

from common import build_env, clean_env, pipkit_argv, remove, timeit, workdir

from tests.loopback import SimpleIndex

TARGET = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = workdir()
    try:
        venv, wheels = build_env(work, args.packages)
        names = sorted({p.name.split("-", 1)[0] for p in wheels.glob("*.whl")})
        project = work / "project"
        project.mkdir()
        (project / "requirements.txt").write_text("".join(f"{n}==1.0\n" for n in names))
        load_before = os.getloadavg()
        with SimpleIndex(wheels) as index:
            env = {**clean_env(), "PIP_INDEX_URL": index.url}
            python = str(venv / "bin" / "python")
            os.chdir(project)
            ours = timeit(
                [*pipkit_argv(), "--python", str(venv), "outdated"], runs=args.runs, env=env
            )
            pips = timeit([python, "-m", "pip", "list", "--outdated"], runs=args.runs, env=env)
            pages = sum(index.page_requests().values())
            # Both must have done the work: the same outdated pins (an error is fast too).
            answers = []
            for argv in (
                [*pipkit_argv(), "--python", str(venv), "outdated", "--json"],
                [python, "-m", "pip", "list", "--outdated", "--format", "json"],
            ):
                out = subprocess.run(argv, env=env, capture_output=True, text=True).stdout
                data = json.loads(out or "null")
                rows = data["outdated"] if isinstance(data, dict) else data or []
                answers.append(
                    sorted((r["name"], r.get("latest") or r["latest_version"]) for r in rows)
                )
        load_after = os.getloadavg()
        ratio = ours / pips
        print(
            f"env: {len(names)} pins at 1.0, loopback index with 1.0 and 2.0; median of {args.runs}"
        )
        print(f"pipkit outdated         {ours * 1000:8.1f} ms")
        print(f"pip list --outdated     {pips * 1000:8.1f} ms")
        verdict = "meets" if ratio <= TARGET else "misses"
        print(f"ratio pipkit/pip        {ratio:8.2f}x  ({verdict} the <= {TARGET:.0f}x target)")
        print(f"index page requests     {pages} over {2 * (args.runs + 1)} runs of either command")
        same = "the same" if answers[0] == answers[1] else "DIFFERENT"
        print(f"answers                 {same} ({len(answers[0])} and {len(answers[1])} outdated)")
        print(
            "load average            before "
            + " ".join(f"{x:.2f}" for x in load_before)
            + ", after "
            + " ".join(f"{x:.2f}" for x in load_after)
        )
    finally:
        remove(work)


if __name__ == "__main__":
    main()
