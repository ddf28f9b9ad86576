"""fernwartung as a system under test: relay, technician, host agent and headless viewer.

Everything goes through the public command line (DESIGN.md's contract), nothing is
imported, so the benchmark measures exactly what a user runs: the host agent on the Xvfb
display talks to the relay directly; the viewer reaches the relay through a counting proxy
so the bytes it receives are counted on the wire (TLS, WebSocket and AES-GCM included).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from .processes import LineReader, StartFailed, open_log, require_tool, running, stop
from .proxy import CountingProxy
from .records import Capture, Delivery
from .systems import Attached, Display, start_xvfb

REPO_ROOT = Path(__file__).resolve().parents[2]
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

    def attach(self, display: Display, stack: ExitStack, workdir: Path) -> Attached:
        capture = Capture(wire_source="TCP bytes of the viewer's relay connection (counting proxy)")
        data_dir = workdir / "relay-data"
        shutil.rmtree(data_dir, ignore_errors=True)  # a fresh ledger each run (same names)
        data_dir.mkdir(parents=True)
        token = _add_technician(data_dir, workdir)
        relay, relay_port, fingerprint = _start_relay(data_dir, workdir, stack)
        proxy = CountingProxy(relay_port, capture.wire)
        stack.callback(proxy.close)
        host, host_lines = _start_host(display, relay_port, fingerprint, workdir, stack)
        code = host_lines.wait_for(lambda line: line.startswith("CODE:"), host).split(":", 1)[1]
        stats_path = workdir / "viewer-stats.jsonl"
        viewer = _start_viewer(proxy.port, fingerprint, code.strip(), token, stats_path, workdir,
                               stack)  # fmt: skip
        stack.callback(_finish, host, viewer, stats_path, capture)
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


def _finish(host: subprocess.Popen, viewer: subprocess.Popen, stats_path: Path,
            capture: Capture) -> None:  # fmt: skip
    """End the session as a customer would (closing the agent), let the viewer write its
    stats and exit, then read them."""
    stop(host)
    try:
        viewer.wait(VIEWER_EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        stop(viewer)
    if stats_path.exists():
        capture.deliveries.extend(read_stats(stats_path))


def read_stats(path: Path) -> list[Delivery]:
    """The viewer's `--stats` lines as deliveries (times on this machine's wall clock)."""
    deliveries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            stat = json.loads(line)
            deliveries.append(
                Delivery(stat["recv_ts"], int(stat["bytes"]), None, float(stat["capture_ts"]))
            )
    return deliveries
