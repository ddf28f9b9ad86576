"""The `scroll` scenario's program: prints a server-like log at a fixed rate inside an xterm.

    python -m benchmarks.peer.logger --events FILE.jsonl [--lines-per-second 50]

Each line is stamped (wall clock, just before it is written to the terminal) into the
events file, in the workload's format, with the whole screen as region: nothing else moves.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

SCREEN_REGION = (0, 0, 1920, 1080)
SEED = 50
LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN")
SERVICES = ("billing", "relay.pairing", "ledger", "auth", "scheduler", "mailer")
ACTIONS = (
    "processed request",
    "session closed",
    "cache miss for key",
    "retrying upstream call",
    "wrote checkpoint",
    "accepted connection from",
)


def log_line(number: int, rng: random.Random) -> str:
    """One plausible log line of varying length (the text a real log scrolls)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    detail = " ".join(f"{k}={rng.randrange(10 ** rng.randint(2, 7))}" for k in ("id", "ms", "user"))
    tail = " ".join(rng.choice(ACTIONS).split()[-1] for _ in range(rng.randint(0, 8)))
    return (
        f"{stamp}.{number % 1000:03d} {rng.choice(LEVELS):5} [{rng.choice(SERVICES)}] "
        f"{rng.choice(ACTIONS)} {detail} {tail}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True, metavar="FILE.jsonl")
    parser.add_argument("--lines-per-second", type=float, default=50.0)
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    period = 1.0 / args.lines_per_second
    start = time.monotonic()
    with open(args.events, "w") as events:
        for number in range(sys.maxsize):
            delay = start + number * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            line = log_line(number, rng)
            events.write(json.dumps({"at": time.time(), "region": SCREEN_REGION}) + "\n")
            events.flush()
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
