"""gevent's core verbs: spawn, sleep, joinall, a timeout and a bounded pool.

Ten greenlets each ``gevent.sleep(0.2)``: run one after another that is 2 s, run by
gevent they overlap and all finish in about 0.2 s, in one OS thread. A bounded
``Pool`` (what pipkit's coroutine server uses to cap connections) runs at most N at
once, and ``gevent.Timeout`` bounds a wait.

    python examples/gevent_basics.py
"""

from __future__ import annotations

import sys
import threading
import time

import gevent  # type: ignore[import-untyped]
import gevent.pool  # type: ignore[import-untyped]


def worker(n: int) -> str:
    gevent.sleep(0.2)  # yields to the hub; others run meanwhile
    return f"worker {n} in thread {threading.get_ident()}"


def main() -> int:
    started = time.perf_counter()
    jobs = [gevent.spawn(worker, n) for n in range(10)]
    gevent.joinall(jobs, timeout=5)
    elapsed = time.perf_counter() - started
    threads = {job.value.rsplit(" ", 1)[1] for job in jobs}
    print(f"10 x sleep(0.2) with spawn/joinall: {elapsed:.2f} s, {len(threads)} OS thread(s)")
    assert elapsed < 1.0 and all(job.successful() for job in jobs)

    pool = gevent.pool.Pool(3)
    started = time.perf_counter()
    results = pool.map(worker, range(6))  # 6 jobs, 3 at a time: two waves
    elapsed = time.perf_counter() - started
    print(f"Pool(3).map over 6 jobs: {len(results)} results in {elapsed:.2f} s (two waves)")

    try:
        with gevent.Timeout(0.1):
            gevent.sleep(1)
        print("not reached")
    except gevent.Timeout:
        print("Timeout(0.1) cut a sleep(1) short")

    slow = gevent.spawn(gevent.sleep, 10)
    slow.kill(timeout=1)
    print(f"kill() ended a sleeping greenlet: dead={slow.dead}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
