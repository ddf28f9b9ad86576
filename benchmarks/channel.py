"""AES-256-GCM channel throughput: seal + open, for 64 KiB and 1 MiB messages.

    python3 benchmarks/channel.py [--seconds-per-size 2]

Prints MB/s (10^6 bytes of plaintext per second, sealed and opened) as the median of
five rounds, one line per message size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from protocol.channel import Channel, Direction

SIZES = {"64 KiB": 64 * 1024, "1 MiB": 1024 * 1024}
ROUNDS = 5


def measure(size: int, seconds: float) -> float:
    key_a, key_b = os.urandom(32), os.urandom(32)
    sender = Channel(key_a, key_b, Direction.HOST_TO_VIEWER)
    receiver = Channel(key_b, key_a, Direction.VIEWER_TO_HOST)
    payload = os.urandom(size)
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        receiver.open(sender.seal(payload))
        done += size
    return done / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds-per-size", type=float, default=2.0)
    args = parser.parse_args()
    per_round = args.seconds_per_size / ROUNDS
    for label, size in SIZES.items():
        rates = [measure(size, per_round) for _ in range(ROUNDS)]
        print(
            f"channel seal+open {label:>6}: median {statistics.median(rates):7.0f} MB/s "
            f"(min {min(rates):.0f}, max {max(rates):.0f}, {ROUNDS} rounds)"
        )


if __name__ == "__main__":
    main()
