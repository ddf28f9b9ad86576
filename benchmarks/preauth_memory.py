"""The relay's memory under an attack before any authentication (issue 20, point 1).

    python benchmarks/preauth_memory.py [--attackers 40] [--megabytes 16] [--seconds 10]
                                        [--before REV] [--out benchmarks/results/]

The relay runs as its own process (`fernwartung relay`, TLS, self-signed, its defaults but
the register rate limit, off). For `--seconds`, `--attackers` threads on 127.0.0.1 each
open a connection (TLS, upgrade to /v1/host, no register), announce a text message of
`--megabytes` MiB and send it but its last byte as fast as the relay takes it; when the
relay closes the connection (or refuses it) the attacker opens the next one
(tests/support/strangers.py). Meanwhile a host on another address (127.0.0.2) registers
every half second, to see whether others are still served. Measured: the relay's RSS
before, its peak (VmHWM) and its largest sampled RSS during the attack, its RSS after;
the attackers' connections, how they ended and the payload bytes they got into their
sockets before the relay closed them; the registers from the other address.

`--before REV` runs the same attack on the relay of git revision REV first (checked out
into a temporary worktree) and prints both, for a before/after figure.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from websockets.sync.client import connect  # noqa: E402

from tests.support.strangers import insecure_context, send_large_first_message  # noqa: E402

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
SAMPLE_SECONDS = 0.05
PROBE_EVERY_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 20.0
OTHER_ADDRESS = "127.0.0.2"
REGISTER = '{"type": "register", "version": 1}'


def memory_mib(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def start_relay(tree: Path, data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    """`fernwartung relay` from the source tree `tree`, on 127.0.0.1:<free port>."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "fernwartung", "relay", "--listen", "127.0.0.1:0",
               "--self-signed", "--data-dir", str(data_dir),
               "--register-per-ip-per-minute", "0"]  # fmt: skip
    log = open(data_dir / "relay.log", "ab")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=tree
    )
    log.close()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("LISTENING "):
            return process, int(line.rsplit(":", 1)[1])
    process.kill()
    raise RuntimeError(f"the relay from {tree} did not start; see {data_dir / 'relay.log'}")


def stop_relay(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def register_from_other_address(port: int) -> float | None:
    """Seconds from connecting to `registered` for a host on OTHER_ADDRESS, or None."""
    start = time.monotonic()
    try:
        sock = socket.create_connection(
            ("127.0.0.1", port), timeout=PROBE_TIMEOUT_SECONDS, source_address=(OTHER_ADDRESS, 0)
        )
        with connect(
            f"wss://127.0.0.1:{port}/v1/host",
            sock=sock,
            ssl=insecure_context(),
            server_hostname="relay",
            open_timeout=PROBE_TIMEOUT_SECONDS,
            compression=None,
        ) as websocket:
            websocket.send(REGISTER)
            answer = websocket.recv(timeout=PROBE_TIMEOUT_SECONDS)
        if '"registered"' not in answer:
            return None
    except Exception:  # any failure is a failed probe
        return None
    return time.monotonic() - start


def attack(tree: Path, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="fernwartung-preauth-") as temporary:
        process, port = start_relay(tree, Path(temporary))
        try:
            return run_attack(process.pid, port, args)
        finally:
            stop_relay(process)


def run_attack(pid: int, port: int, args: argparse.Namespace) -> dict:
    announced = args.megabytes * 1024 * 1024
    before = memory_mib(pid)
    stop = threading.Event()
    lock = threading.Lock()
    endings: collections.Counter[str] = collections.Counter()
    sent_total = [0, 0]  # payload bytes, connections
    largest_rss = [before["VmRSS"]]
    probes: list[float | None] = []

    def attacker() -> None:
        while not stop.is_set():
            outcome = send_large_first_message(port, announced)
            if outcome.close_code is not None:
                ending = f"close {outcome.close_code}"
            elif outcome.error is not None:
                ending = f"not upgraded ({outcome.error})"
            else:
                ending = "cut" if outcome.reset else "closed without a close frame"
            with lock:
                endings[ending] += 1
                sent_total[0] += outcome.payload_sent
                sent_total[1] += outcome.upgraded

    def sampler() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            with contextlib.suppress(OSError, KeyError):
                largest_rss[0] = max(largest_rss[0], memory_mib(pid)["VmRSS"])

    def prober() -> None:
        while not stop.wait(PROBE_EVERY_SECONDS):
            probes.append(register_from_other_address(port))

    threads = [threading.Thread(target=attacker, daemon=True) for _ in range(args.attackers)]
    threads += [threading.Thread(target=sampler, daemon=True)]
    threads += [threading.Thread(target=prober, daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)  # the attack's length
    during = memory_mib(pid)
    stop.set()
    for thread in threads:
        thread.join()
    after = memory_mib(pid)
    answered = [probe for probe in probes if probe is not None]
    return {
        "rss_before_mib": round(before["VmRSS"], 1),
        "peak_rss_mib": round(during["VmHWM"], 1),
        "largest_sampled_rss_mib": round(largest_rss[0], 1),
        "rss_after_mib": round(after["VmRSS"], 1),
        "connections_finished": sum(endings.values()),
        "connections_upgraded": sent_total[1],
        "endings": dict(endings.most_common()),
        "payload_taken_mib": round(sent_total[0] / 2**20, 1),
        "registers_from_other_address": f"{len(answered)} of {len(probes)}",
        "register_seconds_median": round(statistics.median(answered), 3) if answered else None,
        "register_seconds_max": round(max(answered), 3) if answered else None,
    }


@contextlib.contextmanager
def worktree_of(revision: str):  # noqa: ANN201
    path = Path(tempfile.mkdtemp(prefix="fernwartung-before-"))
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(path), revision],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(path)],
            check=False, capture_output=True,
        )  # fmt: skip


def print_table(columns: dict[str, dict]) -> None:
    rows = [
        ("relay RSS before", lambda f: f"{f['rss_before_mib']} MiB"),
        ("relay peak RSS (VmHWM) during", lambda f: f"{f['peak_rss_mib']} MiB"),
        ("largest sampled RSS during", lambda f: f"{f['largest_sampled_rss_mib']} MiB"),
        ("relay RSS after", lambda f: f"{f['rss_after_mib']} MiB"),
        ("attack connections (upgraded)",
         lambda f: f"{f['connections_finished']} ({f['connections_upgraded']})"),
        ("payload attackers got sent", lambda f: f"{f['payload_taken_mib']} MiB"),
        ("registers from 127.0.0.2 answered", lambda f: f["registers_from_other_address"]),
        ("  their time median / max",
         lambda f: f"{f['register_seconds_median']} / {f['register_seconds_max']} s"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print(f"{'':{width}}  " + "  ".join(f"{name:>24}" for name in columns))
    for label, cell in rows:
        print(f"{label:{width}}  " + "  ".join(f"{cell(f):>24}" for f in columns.values()))
    for name, figures in columns.items():
        print(f"{name}: attack connections ended: {figures['endings']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=40)
    parser.add_argument("--megabytes", type=int, default=16, help="announced first message")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the attack")
    parser.add_argument("--before", metavar="REV", help="also attack the relay of REV, first")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not (1 <= args.attackers <= 500 and 1 <= args.megabytes <= 16 and args.seconds > 0):
        parser.error("--attackers 1..500, --megabytes 1..16, --seconds > 0")
    print(
        f"pre-authentication memory: {args.attackers} attackers on 127.0.0.1, first messages "
        f"of {args.megabytes} MiB, {args.seconds:g} s, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    columns: dict[str, dict] = {}
    if args.before:
        with worktree_of(args.before) as tree:
            columns[f"before ({args.before})"] = attack(tree, args)
    columns["this code"] = attack(REPO_ROOT, args)
    print_table(columns)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"preauth-memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = {
        "benchmark": "preauth_memory",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "results": columns,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
