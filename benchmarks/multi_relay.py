"""Several relays on one PostgreSQL against one relay on SQLite, on this machine.

    python benchmarks/multi_relay.py [--scenarios capacity,failover,revocation]
        [--sessions 100] [--seconds 15] [--rate 5] [--checkpoint-seconds 5] [--workers 2]
        [--rounds 5] [--out benchmarks/results/]

The relays run as processes (`fernwartung relay`, TLS, self-signed, rate limits off); the
PostgreSQL is a real one the benchmark starts itself in a temporary folder
(tests/support/postgres.py: Unix socket only, fsync off, as in the tests).

- capacity: `--sessions` streaming sessions (benchmarks/multi_relay_clients.py: frame
  updates at `--rate` per session, acked; both sides report a checkpoint every
  `--checkpoint-seconds`), once through one relay on SQLite and once through two relays
  on PostgreSQL, hosts spread over both and half of the viewers entering at the relay
  that does not hold their session (redirected). Over a window of `--seconds`: sessions
  held, CPU of the relays and of PostgreSQL (utime+stime, % of one core), frame update
  latency (capture -> arrival, p50/p95) and the latency two relays on PostgreSQL add over
  one on SQLite, and ledger writes per second (checkpoint rows committed in the window).
- failover: the real host agent (synthetic screen) and viewer on relay A, relay B beside
  it; A killed with SIGKILL; the time from the kill to the first frame update the viewer
  applies that was captured after it (so it came through B), `--rounds` times; median.
- revocation: a live session on relay A; its technician revoked through the database (as
  `fernwartung technician revoke --database` does, or relay B); the time until the viewer
  on A has the relay's `revoked` error, with the relays' revocation sweep set to an hour
  (only the LISTEN/NOTIFY notice can do it); `--rounds` * 2 times; median.

Prints the figures and writes them as JSON to `--out`. The machine is shared: figures are
noisy, and relays, PostgreSQL and load generators compete for the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from load import (  # noqa: E402
    NO_RATE_LIMITS,
    READY_TIMEOUT_SECONDS,
    RESULT_GRACE_SECONDS,
    START_DELAY_SECONDS,
    WARMUP_SECONDS,
    LineProcess,
    add_technician,
    cpu_seconds,
    percentile,
    python_env,
)

from endpoint.relay_link import open_link  # noqa: E402
from protocol import control  # noqa: E402
from protocol.errors import NotAuthorised  # noqa: E402
from relay.database import open_database  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.relay import start_relay_process, stop_relay_process  # noqa: E402

WAIT_SECONDS = 30.0
ROUND_PAUSE_SECONDS = 1.0  # between failover rounds: A's next start, B's heartbeat seen


# measuring processes


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (PostgreSQL's backends are children of the postmaster)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return [pid, *children]


def tree_cpu(pid: int) -> dict[int, float]:
    found = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            found[member] = cpu_seconds(member)
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds of a process tree between two readings (processes gone meanwhile lose
    their last part, new ones count from zero)."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def checkpoint_rows(url: str | None, data_dir: Path) -> int:
    database = open_database(url, data_dir=data_dir, read_only=True)
    try:
        with database.backend.transaction() as tx:
            row = tx.one("SELECT COUNT(*) FROM checkpoints")
        return int(row[0]) if row else 0
    finally:
        database.close()


# capacity


def run_capacity(
    name: str,
    relays: list[tuple[str, str | None, int]],
    database: str | None,
    data_dir: Path,
    token: str,
    postgres_pid: int | None,
    args: argparse.Namespace,
    logs: Path,
) -> dict:
    """One setup: `relays` are (url, pin, pid); the sessions stream through them."""
    env = {**python_env(), "FERNWARTUNG_TOKEN": token}
    places = ",".join(f"{url}#{pin or ''}" for url, pin, _pid in relays)
    shares = [args.sessions // args.workers + (i < args.sessions % args.workers)
              for i in range(args.workers)]  # fmt: skip
    workers: list[LineProcess] = []
    figures: dict[str, object] = {"setup": name, "relays": len(relays)}
    try:
        first = 0
        started = time.monotonic()
        for number, share in enumerate(shares):
            command = [
                sys.executable, str(REPO_ROOT / "benchmarks" / "multi_relay_clients.py"),
                "--relays", places, "--sessions", str(share), "--first-index", str(first),
                "--total-sessions", str(args.sessions), "--rate", str(args.rate),
                "--checkpoint-seconds", str(args.checkpoint_seconds),
            ]  # fmt: skip
            workers.append(LineProcess(command, logs / f"{name}-worker{number}.log", env))
            first += share
        established = sum(int(w.expect("READY", READY_TIMEOUT_SECONDS)[1]) for w in workers)
        figures["setup_seconds"] = round(time.monotonic() - started, 1)
        figures["sessions_established"] = established
        first_tick = time.time() + START_DELAY_SECONDS
        window_start = first_tick + WARMUP_SECONDS
        window_end = window_start + args.seconds
        for worker in workers:
            worker.tell(f"STREAM {first_tick} {window_start} {window_end}")
        time.sleep(max(0.0, window_start - time.time()))
        rows_before = checkpoint_rows(database, data_dir)
        relay_before = [cpu_seconds(pid) for _url, _pin, pid in relays]
        postgres_before = tree_cpu(postgres_pid) if postgres_pid else {}
        wall_start = time.monotonic()
        time.sleep(max(0.0, window_end - time.time()))
        relay_after = [cpu_seconds(pid) for _url, _pin, pid in relays]
        postgres_after = tree_cpu(postgres_pid) if postgres_pid else {}
        wall = time.monotonic() - wall_start
        rows_after = checkpoint_rows(database, data_dir)
        results = [
            json.loads(w.expect("RESULT", args.seconds + RESULT_GRACE_SECONDS)[1]) for w in workers
        ]
    finally:
        for worker in workers:
            worker.tell("STOP")
        for worker in workers:
            worker.stop()
    latencies = [v for r in results for v in r["latencies_ms"]]
    relay_cpu = [100 * (a - b) / wall for a, b in zip(relay_after, relay_before, strict=True)]
    figures.update(
        sessions=args.sessions,
        sessions_held=sum(r["held"] for r in results),
        viewers_redirected=sum(r["redirected"] for r in results),
        errors=sorted({e for r in results for e in r["errors"]})[:5],
        window_seconds=round(wall, 2),
        updates_received=sum(r["updates_received"] for r in results),
        latency_ms={"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95)},
        relay_cpu_percent=[round(c, 1) for c in relay_cpu],
        relays_cpu_percent_total=round(sum(relay_cpu), 1),
        postgres_cpu_percent=(
            round(100 * cpu_between(postgres_before, postgres_after) / wall, 1)
            if postgres_pid
            else None
        ),
        checkpoints_reported_per_second=round(
            sum(r["checkpoints_sent"] for r in results) / (window_end - first_tick), 1
        ),
        ledger_writes_per_second=round((rows_after - rows_before) / wall, 1),
    )
    return figures


def capacity(args: argparse.Namespace, postgres: PostgresServer, root: Path) -> dict:
    limits = (*NO_RATE_LIMITS, "--max-sessions", str(args.sessions + 100))
    # one relay on SQLite
    sqlite_dir = root / "sqlite"
    sqlite_dir.mkdir()
    token = add_technician(sqlite_dir, "Load")
    process, url, pin = start_relay_process(sqlite_dir, *limits)
    try:
        one = run_capacity(
            "one relay, SQLite", [(url, pin, process.pid)], None, sqlite_dir, token, None, args,
            sqlite_dir,
        )  # fmt: skip
    finally:
        stop_relay_process(process)
    # two relays on PostgreSQL
    database = postgres.create_database("capacity")
    tool = open_database(database, data_dir=root / "tool")
    try:
        token = tool.add_technician("Load")
    finally:
        tool.close()
    started = []
    try:
        for relay_id in ("b", "a"):
            process, url, pin = start_relay_process(
                root / relay_id, *limits, "--database", database, "--relay-id", relay_id
            )
            started.append(process)
            started_url = (url, pin, process.pid)
            if relay_id == "b":
                b = started_url
            else:
                a = started_url
        two = run_capacity(
            "two relays, PostgreSQL", [a, b], database, root / "tool", token,
            postgres.pid, args, root,
        )  # fmt: skip
    finally:
        for process in started:
            stop_relay_process(process)
    added = {
        key: round(two["latency_ms"][key] - one["latency_ms"][key], 3)  # type: ignore[index]
        for key in ("p50", "p95")
    }
    return {"one_relay_sqlite": one, "two_relays_postgresql": two, "latency_added_ms": added}


# failover


async def failover(args: argparse.Namespace, postgres: PostgresServer, root: Path) -> dict:
    from tests.support.resume_sessions import TECHNICIAN, live_session, wait_for_host_resumed

    database = postgres.create_database("failover")
    tool = open_database(database, data_dir=root / "tool")
    try:
        token = tool.add_technician(TECHNICIAN)
    finally:
        tool.close()
    common = ("--database", database, "--resume-grace-seconds", "30")
    b, _b_url, _b_pin = await asyncio.to_thread(
        start_relay_process, root / "fb", *common, "--relay-id", "b"
    )
    seconds = []
    try:
        for round_number in range(args.rounds):
            a, a_url, a_pin = await asyncio.to_thread(
                start_relay_process, root / "fa", *common, "--relay-id", "a"
            )
            try:
                async with live_session(
                    root / f"round{round_number}", root / "fa", a_pin, host_url=a_url,
                    viewer_url=a_url, token=token, give_up_seconds=60.0,
                ) as live:  # fmt: skip
                    await live.watch.frames_beyond(5)
                    killed_at = time.time()
                    a.kill()  # SIGKILL
                    await asyncio.to_thread(a.wait)
                    await wait_for_host_resumed(live)
                    await live.watch.frames_beyond(live.watch.frames + 2)
                    after = [s.recv_ts for s in live.watch.stats if s.capture_ts > killed_at]
                    seconds.append(min(after) - killed_at)
                    print(f"  failover round {round_number + 1}: {seconds[-1] * 1000:.0f} ms")
                    await live.finish()
            finally:
                await asyncio.to_thread(stop_relay_process, a)
            await asyncio.sleep(ROUND_PAUSE_SECONDS)
    finally:
        await asyncio.to_thread(stop_relay_process, b)
    return {
        "rounds": len(seconds),
        "seconds": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3),
    }


# revocation


async def revocation(args: argparse.Namespace, postgres: PostgresServer, root: Path) -> dict:
    database = postgres.create_database("revocation")
    tool = open_database(database, data_dir=root / "tool")
    common = ("--database", database, "--revocation-sweep-seconds", "3600")
    b, _b_url, _b_pin = await asyncio.to_thread(
        start_relay_process, root / "rb", *common, "--relay-id", "b"
    )
    a, a_url, a_pin = await asyncio.to_thread(
        start_relay_process, root / "ra", *common, "--relay-id", "a"
    )
    seconds = []
    try:
        for round_number in range(2 * args.rounds):
            name = f"Technician {round_number}"
            token = await asyncio.to_thread(tool.add_technician, name)
            host = await open_link(a_url, "/v1/host", fingerprint_pin=a_pin)
            await host.send_control(control.Register(version=1))
            registered = await host.receive()
            assert isinstance(registered, control.Registered)
            viewer = await open_link(a_url, "/v1/viewer", fingerprint_pin=a_pin, token=token)
            await viewer.send_control(control.Join(session=registered.session, version=1))
            assert isinstance(await viewer.receive(), control.Joined)
            await host.send_control(control.Consent(level=control.ReportedConsent.VIEW))
            started = time.perf_counter()
            revoking = asyncio.ensure_future(asyncio.to_thread(tool.revoke_technician, name))
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    while True:
                        await viewer.receive()
            except NotAuthorised:
                seconds.append(time.perf_counter() - started)
            await revoking
            for link in (host, viewer):
                with contextlib.suppress(Exception):
                    await link.close()
    finally:
        tool.close()
        for process in (a, b):
            await asyncio.to_thread(stop_relay_process, process)
    return {
        "rounds": len(seconds),
        "milliseconds": [round(1000 * s, 1) for s in seconds],
        "median_milliseconds": round(1000 * statistics.median(seconds), 1),
    }


# report


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_capacity(found: dict) -> None:
    one, two = found["one_relay_sqlite"], found["two_relays_postgresql"]
    rows = [
        ("sessions held", lambda f: f"{f['sessions_held']} / {f['sessions']}"),
        ("viewers redirected", lambda f: str(f["viewers_redirected"])),
        ("frame updates received", lambda f: str(f["updates_received"])),
        ("latency p50 / p95",
         lambda f: "{p50:.2f} / {p95:.2f} ms".format(**f["latency_ms"])),
        ("relay CPU (each)", lambda f: " + ".join(f"{c:.1f}" for c in f["relay_cpu_percent"])
         + " % of a core"),
        ("relays CPU together", lambda f: f"{f['relays_cpu_percent_total']:.1f} % of a core"),
        ("PostgreSQL CPU", lambda f: "-" if f["postgres_cpu_percent"] is None
         else f"{f['postgres_cpu_percent']:.1f} % of a core"),
        ("checkpoints reported / s", lambda f: f"{f['checkpoints_reported_per_second']:.1f}"),
        ("ledger writes / s (rows)", lambda f: f"{f['ledger_writes_per_second']:.1f}"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print(f"{'':{width}}  {one['setup']:>32}  {two['setup']:>32}")
    for label, cell in rows:
        print(f"{label:{width}}  {cell(one):>32}  {cell(two):>32}")
    added = found["latency_added_ms"]
    print(f"latency added by two relays on PostgreSQL: p50 {added['p50']:+.2f} ms, "
          f"p95 {added['p95']:+.2f} ms")  # fmt: skip
    for figures in (one, two):
        if figures["errors"]:
            print(f"{figures['setup']} errors: {figures['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="capacity,failover,revocation")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--checkpoint-seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    if unknown := set(scenarios) - {"capacity", "failover", "revocation"}:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    print(
        f"multi-relay benchmark: {', '.join(scenarios)}; {args.sessions} sessions at "
        f"{args.rate:g} updates/s, checkpoints every {args.checkpoint_seconds:g} s per side, "
        f"{args.seconds} s window, {args.rounds} rounds; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores, load average {load_average()}"
    )
    report: dict[str, object] = {
        "benchmark": "multi_relay",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu_count": os.cpu_count(),
        "load_average_before": load_average(),
    }
    postgres = PostgresServer.create()
    try:
        with tempfile.TemporaryDirectory(prefix="fernwartung-multi-") as temporary:
            root = Path(temporary)
            if "capacity" in scenarios:
                report["capacity"] = found = capacity(args, postgres, root)
                print_capacity(found)
            if "failover" in scenarios:
                report["failover"] = found = asyncio.run(failover(args, postgres, root))
                print(f"SIGKILL of relay A -> frames again through B: median "
                      f"{found['median_seconds'] * 1000:.0f} ms over {found['rounds']} rounds "
                      f"({', '.join(f'{s * 1000:.0f}' for s in found['seconds'])} ms)")  # fmt: skip
            if "revocation" in scenarios:
                report["revocation"] = found = asyncio.run(revocation(args, postgres, root))
                print(f"revocation through the database -> session cut on relay A: median "
                      f"{found['median_milliseconds']:.1f} ms over {found['rounds']} rounds "
                      f"({min(found['milliseconds']):.1f} to {max(found['milliseconds']):.1f} "
                      "ms)")  # fmt: skip
    finally:
        postgres.destroy()
    report["load_average_after"] = load_average()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"multi-relay-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"load average after: {report['load_average_after']}; written: {path}")


if __name__ == "__main__":
    main()
