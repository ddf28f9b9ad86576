"""`fernwartung demo`: one whole session on this machine, with nothing set up.

It plays all three people with the real programs, each in its own process: the operator
starts a relay (temporary data dir, self-signed TLS) and adds a demo technician; the
customer starts the host agent (the real screen when a display is there, a synthetic one
otherwise) and grants consent as a person would at the `[n/v/c]` question; the technician
connects a headless viewer with the code, sends scripted input and records. Then the
viewer's recording is verified against the relay's ledger and the bill is read from it.

With a real screen the demo grants view only, so the scripted input is dropped by the
host instead of moving your mouse; on the synthetic screen it grants control.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from fernwartung.processes import Child, ChildFailed
from protocol.billing import Bill

STARTUP_SECONDS = 30.0
CONSENT_QUESTION_SECONDS = 30.0
SCRIPT = [
    {"at": 0.2, "type": "move", "x": 100, "y": 100},
    {"at": 0.4, "type": "click", "x": 120, "y": 140},
    {"at": 0.6, "type": "type", "text": "Hallo"},
    {"at": 0.8, "type": "key", "key": "Return"},
]


@dataclass(frozen=True, slots=True)
class Summary:
    screen: str
    consent: str
    frames_sent: int
    frames_received: int
    frames_recorded: int
    fps: float
    latency_p50_ms: float
    latency_p95_ms: float
    bytes: int
    recording_verified: bool
    bill: dict[str, str]


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _recording_in(directory: Path) -> Path:
    files = sorted(p for p in directory.iterdir() if p.is_file())
    if len(files) != 1:
        raise ChildFailed(f"expected one recording in {directory}, found {len(files)}")
    return files[0]


def _recording_info(path: Path, logs: Path) -> dict[str, object]:
    info = Child("recording info", ["recording", "info", str(path), "--json"],
                 stderr_path=logs / "recording.log")  # fmt: skip
    status, output = info.finish(STARTUP_SECONDS)
    if status != 0:
        raise ChildFailed(f"recording info failed for {path.name}")
    return json.loads("\n".join(output))


def _session_bill(data_dir: Path, session: str) -> Bill:
    from relay.database.tariffs import load_tariff
    from relay.invoice import bill_for_session

    return bill_for_session(data_dir, session, load_tariff(data_dir))


def run_demo(seconds: float, work: Path, real_screen: bool) -> Summary:
    data_dir, logs = work / "relay-data", work / "logs"
    logs.mkdir()
    children: list[Child] = []
    try:
        relay = Child(
            "relay",
            ["relay", "--listen", "127.0.0.1:0", "--self-signed", "--data-dir", str(data_dir)],
            stderr_path=logs / "relay.log",
        )
        children.append(relay)
        fingerprint = relay.wait_for_line(lambda s: s.startswith("FINGERPRINT "), STARTUP_SECONDS)
        url = relay.wait_for_line(lambda s: s.startswith("LISTENING "), STARTUP_SECONDS)
        fingerprint, url = fingerprint.split()[1], url.split()[1]

        technician = Child("technician add",
                           ["technician", "add", "Demo-Techniker", "--data-dir", str(data_dir)],
                           stderr_path=logs / "technician.log")  # fmt: skip
        status, output = technician.finish(STARTUP_SECONDS)
        if status != 0 or not output:
            raise ChildFailed("could not add the demo technician")
        token = output[-1].strip()

        screen = "real" if real_screen else "synthetic"
        host = Child(
            "host agent",
            ["host", "--relay", url, "--fingerprint", fingerprint, "--ui", "terminal",
             "--screen", screen, "--lang", "en", "--record", str(work / "host-recording")],
            stderr_path=logs / "host.log",
            stdin=True,
        )  # fmt: skip
        children.append(host)
        code = host.wait_for_line(lambda s: s.startswith("CODE: "), STARTUP_SECONDS)[6:]

        script = work / "input.jsonl"
        script.write_text("".join(json.dumps(step) + "\n" for step in SCRIPT))
        stats, recordings = work / "stats.jsonl", work / "viewer-recording"
        viewer = Child(
            "viewer",
            ["viewer", "--relay", url, "--fingerprint", fingerprint, "--code", code,
             "--ui", "headless", "--seconds", str(seconds), "--stats", str(stats),
             "--snapshot", str(work / "snapshot.png"), "--input-script", str(script),
             "--record", str(recordings), "--customer", "DEMO"],
            stderr_path=logs / "viewer.log",
            env={"FERNWARTUNG_TOKEN": token},
        )  # fmt: skip
        children.append(viewer)
        host.wait_for_line(lambda s: s.rstrip().endswith("[n/v/c]"), CONSENT_QUESTION_SECONDS)
        consent = "v" if real_screen else "c"
        host.write_line(consent)
        if (status := viewer.wait(seconds + STARTUP_SECONDS)) != 0:
            raise ChildFailed(f"the viewer ended with status {status} (see {logs})")
        host.wait(STARTUP_SECONDS)

        frames = [json.loads(line) for line in stats.read_text().splitlines() if line]
        latencies = [(f["recv_ts"] - f["capture_ts"]) * 1000 for f in frames]
        span = frames[-1]["recv_ts"] - frames[0]["recv_ts"] if len(frames) > 1 else 0.0
        viewer_file = _recording_in(recordings)
        verify = Child("recording verify",
                       ["recording", "verify", str(viewer_file), "--ledger", str(data_dir)],
                       stderr_path=logs / "verify.log")  # fmt: skip
        verified = verify.wait(STARTUP_SECONDS) == 0
        viewer_info = _recording_info(viewer_file, logs)
        host_info = _recording_info(_recording_in(work / "host-recording"), logs)
        session = str(viewer_info["session"])
        cost = _session_bill(data_dir, session)
        return Summary(
            screen=screen,
            consent="view and control" if consent == "c" else "view only",
            frames_sent=int(host_info["frames"]),  # type: ignore[call-overload]
            frames_received=len(frames),
            frames_recorded=int(viewer_info["frames"]),  # type: ignore[call-overload]
            fps=round((len(frames) - 1) / span, 1) if span > 0 else 0.0,
            latency_p50_ms=round(statistics.median(latencies), 1) if latencies else 0.0,
            latency_p95_ms=round(_percentile(latencies, 0.95), 1),
            bytes=sum(int(f["bytes"]) for f in frames),
            recording_verified=verified,
            bill={k: f"{v:.2f}" if k != "minutes" else str(v) for k, v in asdict(cost).items()},
        )
    finally:
        for child in reversed(children):
            child.stop()


def _print_summary(summary: Summary) -> None:
    print("fernwartung demo")
    print(f"  screen:             {summary.screen} (consent: {summary.consent})")
    print(f"  frames sent/received/recorded: {summary.frames_sent} / "
          f"{summary.frames_received} / {summary.frames_recorded}")  # fmt: skip
    print(f"  frames per second:  {summary.fps}")
    print(f"  latency p50 / p95:  {summary.latency_p50_ms} ms / {summary.latency_p95_ms} ms")
    print(f"  bytes received:     {summary.bytes}")
    print(f"  recording verified against the relay's ledger: {summary.recording_verified}")
    bill = summary.bill
    print(f"  bill: {bill['minutes']} min, net {bill['net']} EUR + VAT {bill['vat']} EUR = "
          f"{bill['gross']} EUR")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import os

    real_screen = bool(os.environ.get("DISPLAY"))
    with tempfile.TemporaryDirectory(prefix="fernwartung-demo-") as work:
        try:
            summary = run_demo(args.seconds, Path(work), real_screen)
        except ChildFailed as error:
            print(f"fernwartung demo failed: {error}", file=sys.stderr)
            for log in sorted((Path(work) / "logs").glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {log.name} ---", *tail, sep="\n", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(asdict(summary)))
    else:
        _print_summary(summary)
    healthy = (
        summary.recording_verified
        and summary.frames_received > 0
        and summary.frames_received == summary.frames_recorded
    )
    return 0 if healthy else 1
