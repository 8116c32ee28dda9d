"""greenlet by itself: explicit switching between coroutines, no event loop.

Two greenlets play ping-pong by ``switch()``-ing to each other and passing values;
then one is ``throw()``-n into, and the parent/dead bookkeeping is shown. This is the
primitive gevent builds its hub on: in pipkit's coroutine server every connection is
a greenlet, and the hub switches to it when its socket is ready.

    python examples/greenlet_switching.py
"""

from __future__ import annotations

import sys

from greenlet import GreenletExit, getcurrent, greenlet  # type: ignore[import-untyped]

log: list[str] = []


def ping(rounds: int) -> str:
    value = 0
    for _ in range(rounds):
        log.append(f"ping sends {value}")
        value = pong_g.switch(value)  # run pong until it switches back to us
    return f"ping done at {value}"


def pong(value: int) -> None:
    while True:
        log.append(f"pong got {value}, returns {value + 1}")
        value = ping_g.switch(value + 1)


def stubborn() -> str:
    try:
        getcurrent().parent.switch("waiting")
    except GreenletExit:
        return "cleaned up after GreenletExit"
    return "never"


main_g = getcurrent()
ping_g = greenlet(ping)
pong_g = greenlet(pong)


def main() -> int:
    result = ping_g.switch(3)  # returns when ping finishes (its parent is main)
    for line in log:
        print(line)
    print(result)
    print(f"ping dead: {ping_g.dead}; pong dead: {pong_g.dead} (suspended mid-loop)")
    pong_g.throw()  # GreenletExit into pong: it unwinds, dead now
    print(f"after throw, pong dead: {pong_g.dead}")

    g = greenlet(stubborn)
    print(f"stubborn says: {g.switch()}")
    print(f"stubborn says: {g.throw(GreenletExit)}")
    print(f"parent of a new greenlet is main: {greenlet(lambda: None).parent is main_g}")
    switches = len(log)
    print(f"{switches} explicit switches, all in one OS thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
