"""fernwartung as a system under test: relay, technician, host agent and headless viewer.

Everything goes through the public command line (DESIGN.md's contract), nothing is
imported, so the benchmark measures exactly what a user runs: the host agent on the Xvfb
display talks to the relay directly, or across the customer's line (the link shaper) when
one is given; the viewer reaches the relay through a counting proxy so the bytes it
receives are counted on the wire (TLS, WebSocket and AES-GCM included).

Where each frame update changed the screen (its tiles, copies and video pictures) is read
afterwards from the viewer's recording, which holds every update as it was sent; the
latency of a change then counts only updates that touch it, as for the VNC servers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from benchmarks.shaper import Line

from .processes import LineReader, StartFailed, open_log, require_tool, running, stop
from .proxy import CountingProxy
from .records import Capture, Delivery, Region
from .systems import Attached, Display, start_shaper, start_xvfb

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDINGS = "recordings"  # the viewer's default folder, in its working directory
STATS = "viewer-stats.jsonl"
COMMAND_TIMEOUT_SECONDS = 30.0
CONSENT_TIMEOUT_SECONDS = 30.0
FIRST_UPDATE_TIMEOUT_SECONDS = 30.0
FIRST_UPDATE_MIN_BYTES = 2000  # the first full-screen frame update is far larger than this
VIEWER_EXIT_TIMEOUT_SECONDS = 15.0
VIEWER_SAFETY_SECONDS = 600.0  # the viewer's own time limit, only a safety net: we end it
CONSENT_ANSWER = "c\n"  # view and control, as a customer who wants help would answer
TECHNICIAN = "bench"


def _fernwartung(*args: str) -> list[str]:
    return [sys.executable, "-m", "fernwartung", *args]


def _environment(workdir: Path, **changes: str) -> dict[str, str]:
    """The children run in the phase's folder (so files they write by default, such as the
    viewer's recordings, stay there) but import this tree's packages."""
    environment = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    paths = [str(REPO_ROOT), environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    environment.update(changes)
    return environment


def check_fernwartung_runs() -> None:
    """Fail with a clear sentence unless the relay, host and viewer subcommands exist."""
    for sub in ("relay", "host", "viewer", "technician"):
        done = subprocess.run(
            _fernwartung(sub, "--help"), cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )  # fmt: skip
        if done.returncode != 0 or "not yet available" in done.stdout + done.stderr:
            raise StartFailed(f"`fernwartung {sub}` is not available yet in this tree")


class Fernwartung:
    """The whole product path: capture on Xvfb -> host agent -> relay -> viewer."""

    name = "fernwartung"
    description = "fernwartung host agent on Xvfb -> relay (TLS) -> headless viewer"

    def check_installed(self) -> None:
        require_tool("Xvfb", "xvfb")

    def start_display(self, stack: ExitStack) -> Display:
        return start_xvfb(stack)

    def attach(
        self, display: Display, stack: ExitStack, workdir: Path, line: Line | None
    ) -> Attached:
        capture = Capture(wire_source="TCP bytes of the viewer's relay connection (counting proxy)")
        data_dir = workdir / "relay-data"
        for fresh in (data_dir, workdir / RECORDINGS):  # a fresh ledger each run (same names)
            shutil.rmtree(fresh, ignore_errors=True)
        data_dir.mkdir(parents=True)
        token = _add_technician(data_dir, workdir)
        relay, relay_port, fingerprint = _start_relay(data_dir, workdir, stack)
        proxy = CountingProxy(relay_port, capture.wire)
        stack.callback(proxy.close)
        host_port, shaper = relay_port, None
        if line is not None:  # the host agent's uplink is the line's up direction
            shaper = start_shaper(stack, line, relay_port, False, capture)
            host_port = shaper.port
        host, host_lines = _start_host(display, host_port, fingerprint, workdir, stack)
        code = host_lines.wait_for(lambda line: line.startswith("CODE:"), host).split(":", 1)[1]
        stats_path = workdir / STATS
        viewer = _start_viewer(proxy.port, fingerprint, code.strip(), token, stats_path, workdir,
                               stack)  # fmt: skip
        stack.callback(_finish, host, viewer, workdir, capture)
        host_lines.wait_for(lambda line: line.rstrip().endswith("[n/v/c]"), host,
                            CONSENT_TIMEOUT_SECONDS)  # fmt: skip
        assert host.stdin is not None
        host.stdin.write(CONSENT_ANSWER.encode())
        host.stdin.flush()
        if not proxy.wait_to_client_bytes(
            proxy.to_client_bytes + FIRST_UPDATE_MIN_BYTES, FIRST_UPDATE_TIMEOUT_SECONDS
        ):
            raise StartFailed(
                f"no first frame update reached the viewer within {FIRST_UPDATE_TIMEOUT_SECONDS} s"
                f" after consent (viewer exit status {viewer.poll()})"
            )
        return Attached(
            capture,
            {"server": host.pid, "x_server": display.process.pid},
            {"relay": relay.pid, "viewer": viewer.pid},
            shaper=shaper,
        )


def _add_technician(data_dir: Path, workdir: Path) -> str:
    done = subprocess.run(
        _fernwartung("technician", "add", TECHNICIAN, "--data-dir", str(data_dir)),
        cwd=workdir, env=_environment(workdir), capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise StartFailed(f"`fernwartung technician add` failed: {done.stderr.strip()[-300:]}")
    return lines[-1].strip()


def _start_relay(data_dir: Path, workdir: Path, stack: ExitStack):
    log = open_log(stack, workdir / "relay.err.log")
    relay = subprocess.Popen(
        _fernwartung("relay", "--listen", "127.0.0.1:0", "--self-signed", "--data-dir",
                     str(data_dir)),
        cwd=workdir, env=_environment(workdir),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    stack.enter_context(running(relay))
    lines = LineReader(relay.stdout, "the relay")
    fingerprint = lines.wait_for(lambda line: line.startswith("FINGERPRINT "), relay).split()[1]
    listening = lines.wait_for(lambda line: line.startswith("LISTENING "), relay)
    port = int(listening.rsplit(":", 1)[1].strip("/"))
    return relay, port, fingerprint


def _start_host(display: Display, relay_port: int, fingerprint: str, workdir: Path,
                stack: ExitStack):  # fmt: skip
    log = open_log(stack, workdir / "host.err.log")
    host = subprocess.Popen(
        _fernwartung("host", "--relay", f"wss://127.0.0.1:{relay_port}", "--fingerprint",
                     fingerprint, "--ui", "terminal", "--screen", "real", "--lang", "en"),
        cwd=workdir, env=_environment(workdir, DISPLAY=display.name),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    stack.enter_context(running(host))
    return host, LineReader(host.stdout, "the host agent")


def _start_viewer(proxy_port: int, fingerprint: str, code: str, token: str, stats_path: Path,
                  workdir: Path, stack: ExitStack) -> subprocess.Popen:  # fmt: skip
    log = open_log(stack, workdir / "viewer.log")
    viewer = subprocess.Popen(
        _fernwartung("viewer", "--relay", f"wss://127.0.0.1:{proxy_port}", "--fingerprint",
                     fingerprint, "--code", code, "--ui", "headless",
                     "--seconds", str(VIEWER_SAFETY_SECONDS), "--stats", str(stats_path)),
        cwd=workdir, env=_environment(workdir, FERNWARTUNG_TOKEN=token),
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    stack.enter_context(running(viewer))
    return viewer


def _finish(host: subprocess.Popen, viewer: subprocess.Popen, workdir: Path,
            capture: Capture) -> None:  # fmt: skip
    """End the session as a customer would (closing the agent), let the viewer write its
    stats and recording and exit, then read them."""
    stop(host)
    try:
        viewer.wait(VIEWER_EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        stop(viewer)
    stats_path = workdir / STATS
    if stats_path.exists():
        regions = regions_by_seq(sorted((workdir / RECORDINGS).glob("*")))
        capture.deliveries.extend(read_stats(stats_path, regions))


def read_stats(path: Path, regions: dict[int, tuple[Region, ...]] | None = None) -> list[Delivery]:
    """The viewer's `--stats` lines as deliveries (times on this machine's wall clock), with
    the regions each update changed when `regions` knows them (by sequence number)."""
    regions = regions or {}
    deliveries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            stat = json.loads(line)
            deliveries.append(
                # The update's payload before any padding for privacy (protocol/padding.py):
                # what the encoding costs; the wire figures include the padding.
                Delivery(stat["recv_ts"], int(stat["bytes"]) - int(stat.get("padding", 0)),
                         regions.get(int(stat["seq"])), float(stat["capture_ts"]))
            )  # fmt: skip
    return deliveries


def regions_by_seq(recordings: list[Path]) -> dict[int, tuple[Region, ...]]:
    """Where each frame update of the viewer's recordings changed the screen: its tiles,
    its copies' destinations and its video pictures, by sequence number."""
    from protocol import messages
    from protocol.channel import Direction
    from protocol.errors import ProtocolError
    from protocol.recording_reader import RecordingDamaged, RecordReader

    found: dict[int, tuple[Region, ...]] = {}
    for path in recordings:
        with path.open("rb") as stream:
            reader = RecordReader(stream)
            try:
                reader.read_header()
                for record in reader:
                    if record.direction is not Direction.HOST_TO_VIEWER:
                        continue
                    message = messages.decode(record.payload)
                    if isinstance(message, messages.FrameUpdate):
                        found[message.seq] = _regions_of(message)
            except (RecordingDamaged, ProtocolError):
                continue  # a recording cut by the viewer's stop: what came before counts
    return found


def _regions_of(update) -> tuple[Region, ...]:  # a FrameUpdate or ExtendedFrameUpdate
    regions = [(tile.x, tile.y, tile.width, tile.height) for tile in update.tiles]
    for copy in getattr(update, "copies", ()):
        regions.append((copy.x, copy.y, copy.width, copy.height))
    for packet in getattr(update, "video", ()):
        regions.append((packet.x, packet.y, packet.width, packet.height))
    return tuple(regions)
