"""Load: the real relay serving many concurrent streaming sessions on this machine.

The relay runs as its own process (`fernwartung relay`, TLS, self-signed, rate limits
off for the benchmark's one address); synthetic hosts and headless viewers run in
`--workers` load-generator processes (`benchmarks/load_clients.py`), each many clients in
one asyncio loop speaking the real protocol: register/join, PAKE, Hello, consent, then
frame updates of small synthetic tiles at `--rate` per session, each acked by the viewer.

    python benchmarks/load.py [--sessions 200] [--seconds 20] [--rate 5] [--workers 4]
                              [--no-baseline] [--out benchmarks/results/]

Measured over a window of `--seconds` after a warm-up, for the relay and then for the
same clients through a bare websockets pair-and-forward process (`benchmarks/forwarder.py`)
as the baseline:
- sessions held: set up, no error, and frame updates arriving in every second of the window;
  plus the relay's own count of paired sessions (GET /metrics) at the end of the window,
  and of the connections that went over its per-address caps during the set-up (they wait
  unread for a slot: waited; expired waiting; closed because their address's line was full);
- forwarding: binary frames (updates and acks) and their bytes arriving at the clients;
- latency: frame update capture time -> arrival at the viewer (both on this machine's wall
  clock), p50/p95/p99; "added by the relay" is the relay's minus the baseline's;
- CPU of the server process (utime + stime from /proc/PID/stat over the window), in % of
  one core; the workers' too;
- the relay's RSS (/proc/PID/status) before any session, with all sessions paired but idle,
  and with them streaming.
Prints a table and writes the figures as JSON to `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.relay import start_relay_process, stop_relay_process  # noqa: E402

WARMUP_SECONDS = 3.0
START_DELAY_SECONDS = 0.5
READY_TIMEOUT_SECONDS = 120.0
RESULT_GRACE_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NO_RATE_LIMITS = (
    "--register-per-ip-per-minute", "0", "--join-per-ip-per-minute", "0",
    "--join-per-token-per-minute", "0",
)  # fmt: skip


# processes


def python_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


class LineProcess:
    """A child process whose stdout lines are read by a thread into a queue."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=REPO_ROOT,
            )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def expect(self, word: str, timeout: float) -> list[str]:
        """The words of the next stdout line starting with `word` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"{self.process.args[1]} exited before '{word}'")
            words = line.split(maxsplit=1 if word == "RESULT" else -1)
            if words and words[0] == word:
                return words

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def stop(self) -> None:
        """Close stdin (the child's cue to finish), then terminate, then kill."""
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()


def add_technician(data_dir: Path, name: str) -> str:
    """`fernwartung technician add`: the token is the last line of its output."""
    done = subprocess.run(
        [sys.executable, "-m", "fernwartung", "technician", "add", name, "--data-dir",
         str(data_dir)],
        capture_output=True, text=True, check=True, env=python_env(), cwd=REPO_ROOT,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


# /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def relay_metrics(url: str) -> dict[str, int]:
    """The relay's own counts from GET /metrics: paired sessions, and connections that
    waited for a slot during the set-up, expired waiting or were closed at accept."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    metrics_url = url.replace("wss://", "https://") + "/metrics"
    wanted = {
        'fernwartung_relay_sessions{state="paired"}': "paired",
        'fernwartung_relay_connections_waited_total{outcome="waited"}': "waited",
        'fernwartung_relay_connections_waited_total{outcome="expired"}': "expired",
        'fernwartung_relay_connections_waited_total{outcome="closed"}': "closed",
    }
    counts: dict[str, int] = {}
    with urllib.request.urlopen(metrics_url, context=context, timeout=10) as response:
        for line in response.read().decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name in wanted:
                counts[wanted[name]] = int(value)
    return counts


# one phase: a server, workers, a window


@dataclass(frozen=True)
class Phase:
    name: str
    url: str
    fingerprint: str | None
    server_pid: int


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(phase: Phase, args: argparse.Namespace, token: str, logs: Path) -> dict:
    """Set up the sessions in the workers, stream through one window, gather the figures."""
    env = {**python_env(), "FERNWARTUNG_TOKEN": token}
    shares = [args.sessions // args.workers + (i < args.sessions % args.workers)
              for i in range(args.workers)]  # fmt: skip
    workers: list[LineProcess] = []
    figures: dict[str, object] = {"phase": phase.name}
    rss_before = resident_mib(phase.server_pid)
    try:
        first = 0
        setup_start = time.monotonic()
        for number, share in enumerate(shares):
            command = [
                sys.executable, str(REPO_ROOT / "benchmarks" / "load_clients.py"),
                "--url", phase.url, "--sessions", str(share), "--first-index", str(first),
                "--total-sessions", str(args.sessions), "--rate", str(args.rate),
                "--tiles", str(args.tiles), "--tile-bytes", str(args.tile_bytes),
            ]  # fmt: skip
            if phase.fingerprint:
                command += ["--fingerprint", phase.fingerprint]
            workers.append(LineProcess(command, logs / f"{phase.name}-worker{number}.log", env))
            first += share
        established = sum(int(w.expect("READY", READY_TIMEOUT_SECONDS)[1]) for w in workers)
        figures["setup_seconds"] = round(time.monotonic() - setup_start, 1)
        figures["sessions_established"] = established
        rss_idle = resident_mib(phase.server_pid)

        first_tick = time.time() + START_DELAY_SECONDS
        window_start = first_tick + WARMUP_SECONDS
        window_end = window_start + args.seconds
        for worker in workers:
            worker.tell(f"STREAM {first_tick} {window_start} {window_end}")
        time.sleep(max(0.0, window_start - time.time()))
        pids = [phase.server_pid] + [w.pid for w in workers]
        cpu_start = {pid: cpu_seconds(pid) for pid in pids}
        wall_start = time.monotonic()
        time.sleep(max(0.0, window_end - time.time()))
        cpu_end = {pid: cpu_seconds(pid) for pid in pids}
        wall = time.monotonic() - wall_start
        rss_streaming = resident_mib(phase.server_pid)
        if phase.name == "relay":
            counts = relay_metrics(phase.url)
            figures["relay_paired_sessions_at_window_end"] = counts.get("paired")
            figures["relay_connections_over_a_cap"] = {
                key: counts[key] for key in ("waited", "expired", "closed") if key in counts
            }

        results = [
            json.loads(w.expect("RESULT", args.seconds + RESULT_GRACE_SECONDS)[1]) for w in workers
        ]
    finally:
        for worker in workers:
            worker.tell("STOP")
        for worker in workers:
            worker.stop()

    latencies = [v for r in results for v in r["latencies_ms"]]
    round_trips = [v for r in results for v in r["round_trips_ms"]]
    messages = sum(r["messages_received"] for r in results)
    payload = sum(r["bytes_received"] for r in results)
    server_cpu = cpu_end[phase.server_pid] - cpu_start[phase.server_pid]
    worker_cpu = sum(cpu_end[p] - cpu_start[p] for p in pids[1:])
    figures.update(
        sessions=args.sessions,
        sessions_held=sum(r["held"] for r in results),
        errors=sorted({e for r in results for e in r["errors"]})[:5],
        window_seconds=round(wall, 2),
        updates_sent=sum(r["updates_sent"] for r in results),
        updates_received=sum(r["updates_received"] for r in results),
        updates_skipped_by_flow_control=sum(r["updates_skipped"] for r in results),
        messages_per_second=round(messages / args.seconds, 1),
        megabytes_per_second=round(payload / args.seconds / 1e6, 3),
        latency_ms={
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
        },
        ack_round_trip_ms={
            "p50": percentile(round_trips, 0.50),
            "p95": percentile(round_trips, 0.95),
        },
        server_cpu_percent_of_one_core=round(100 * server_cpu / wall, 1),
        workers_cpu_percent_of_one_core=round(100 * worker_cpu / wall, 1),
        server_rss_mib={
            "before": round(rss_before, 1),
            "sessions_idle": round(rss_idle, 1),
            "sessions_streaming": round(rss_streaming, 1),
        },
        server_rss_kib_per_session=round(1024 * (rss_streaming - rss_before) / args.sessions, 1),
    )
    return figures


def start_forwarder(data_dir: Path, logs: Path) -> LineProcess:
    forwarder = LineProcess(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "forwarder.py"), str(data_dir)],
        logs / "forwarder.log",
        python_env(),
    )
    return forwarder


def relay_phase(args: argparse.Namespace, data_dir: Path, token: str) -> dict:
    relay, url, fingerprint = start_relay_process(
        data_dir, *NO_RATE_LIMITS, "--max-sessions", str(args.sessions + 100)
    )
    try:
        return run_phase(Phase("relay", url, fingerprint, relay.pid), args, token, data_dir)
    finally:
        stop_relay_process(relay)


def baseline_phase(args: argparse.Namespace, data_dir: Path, token: str) -> dict:
    forwarder = start_forwarder(data_dir, data_dir)
    try:
        fingerprint = forwarder.expect("FINGERPRINT", 20)[1]
        url = forwarder.expect("LISTENING", 20)[1]
        return run_phase(Phase("baseline", url, fingerprint, forwarder.pid), args, token, data_dir)
    finally:
        forwarder.stop()


# report


def print_table(relay: dict, baseline: dict | None) -> None:
    columns = [relay] + ([baseline] if baseline else [])
    rows = [
        ("sessions held (client view)", lambda f: f"{f['sessions_held']} / {f['sessions']}"),
        ("paired at window end (relay view)",
         lambda f: str(f.get("relay_paired_sessions_at_window_end", "-"))),
        ("connections waited / expired / closed",
         lambda f: " / ".join(str(f.get("relay_connections_over_a_cap", {}).get(key, "-"))
                              for key in ("waited", "expired", "closed"))),
        ("setup time", lambda f: f"{f['setup_seconds']} s"),
        ("frame updates sent / received",
         lambda f: f"{f['updates_sent']} / {f['updates_received']}"),
        ("updates held back by flow control", lambda f: str(f["updates_skipped_by_flow_control"])),
        ("forwarded messages/s", lambda f: f"{f['messages_per_second']:.0f}"),
        ("forwarded MB/s", lambda f: f"{f['megabytes_per_second']:.2f}"),
        ("update latency p50 / p95 / p99",
         lambda f: "{p50:.2f} / {p95:.2f} / {p99:.2f} ms".format(**f["latency_ms"])),
        ("ack round trip p50 / p95",
         lambda f: "{p50:.2f} / {p95:.2f} ms".format(**f["ack_round_trip_ms"])),
        ("server CPU", lambda f: f"{f['server_cpu_percent_of_one_core']:.1f} % of a core"),
        ("load generators' CPU", lambda f: f"{f['workers_cpu_percent_of_one_core']:.1f} %"),
        ("server RSS before / idle / streaming",
         lambda f: "{before:.1f} / {sessions_idle:.1f} / {sessions_streaming:.1f} MiB".format(
             **f["server_rss_mib"])),
        ("server RSS per session", lambda f: f"{f['server_rss_kib_per_session']:.1f} KiB"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    header = f"{'':{width}}  {'relay':>30}" + (f"  {'bare forwarder':>30}" if baseline else "")
    print(header)
    for label, cell in rows:
        print(f"{label:{width}}  " + "  ".join(f"{cell(f):>30}" for f in columns))
    if baseline:
        for key in ("p50", "p95"):
            added = relay["latency_ms"][key] - baseline["latency_ms"][key]
            print(f"latency added by the relay over the bare forwarder, {key}: {added:+.2f} ms")
    for figures in columns:
        if figures["errors"]:
            print(f"{figures['phase']} errors: {figures['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20, help="measured window per phase")
    parser.add_argument("--rate", type=float, default=5.0, help="frame updates/s per session")
    parser.add_argument("--tiles", type=int, default=4, help="tiles per frame update")
    parser.add_argument("--tile-bytes", type=int, default=1200, help="bytes per tile")
    parser.add_argument("--workers", type=int, default=4, help="load-generator processes")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not (1 <= args.sessions <= 2000 and 1 <= args.seconds <= 600 and 1 <= args.workers <= 16):
        parser.error("--sessions 1..2000, --seconds 1..600, --workers 1..16")

    print(
        f"load benchmark: {args.sessions} sessions, {args.rate:g} updates/s each of "
        f"{args.tiles} x {args.tile_bytes} B tiles, {args.workers} load-generator processes, "
        f"{args.seconds} s window, python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="fernwartung-load-") as temporary:
        data_dir = Path(temporary)
        token = add_technician(data_dir, "Load")
        relay = relay_phase(args, data_dir, token)
        baseline = None if args.no_baseline else baseline_phase(args, data_dir, token)
    print_table(relay, baseline)
    report = {
        "benchmark": "load",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu_count": os.cpu_count(),
        "relay": relay,
        "baseline": baseline,
    }
    if baseline:
        report["latency_added_by_relay_ms"] = {
            key: round(relay["latency_ms"][key] - baseline["latency_ms"][key], 3)
            for key in ("p50", "p95")
        }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
