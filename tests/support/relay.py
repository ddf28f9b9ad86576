"""Start the real relay for tests: in-process (`running_relay`) or as a process
(`start_relay_process`), on 127.0.0.1 with an OS-chosen port, TLS with a self-signed
certificate by default. Also `add_technician` for a viewer's token.

    async with running_relay(tmp_path) as relay:
        token = add_technician(relay.data_dir, "Alice")
        link = await open_link(relay.url, "/v1/viewer", fingerprint_pin=relay.fingerprint,
                               token=token)

`running_relay(..., **settings)` takes any field of `relay.limits.Limits` as a keyword
(e.g. `code_ttl_seconds=1.0`, `revocation_sweep_seconds=0.1`). Rate limits are off unless
passed (`register_per_ip=RateLimit(60, 3)`), so tests can open many sessions.
`running_relay(..., database=URL, relay_id="a")` runs it on PostgreSQL as
`fernwartung relay --database URL` does (with its upkeep: heartbeat, waiting writes, the
other relays; a heartbeat every UPKEEP_SECONDS_FOR_TESTS).
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from protocol.billing import Tariff
from relay import tls as relay_tls
from relay.events import EventLog
from relay.ledger import Ledger
from relay.limits import UNLIMITED, Limits
from relay.server import Relay, RelayConfig

UPKEEP_SECONDS_FOR_TESTS = 0.2

STARTUP_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 15.0
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RelayInfo:
    url: str  # wss://127.0.0.1:PORT (ws:// with tls=False)
    fingerprint: str | None  # pin for endpoint.relay_link.open_link, None without TLS
    data_dir: Path
    relay: Relay = field(repr=False)  # the running server (ledger, metrics, rendezvous)

    @property
    def port(self) -> int:
        return self.relay.port


def limits_for_tests(**settings: object) -> Limits:
    """Limits for tests: defaults, rate limits off, then `settings`."""
    unlimited = {
        "register_per_ip": UNLIMITED,
        "join_per_ip": UNLIMITED,
        "join_per_token": UNLIMITED,
        "resume_per_ip": UNLIMITED,
        "auth_failures_per_ip": UNLIMITED,
        "sign_in_per_ip": UNLIMITED,
        "sign_in_per_technician": UNLIMITED,
    }
    return Limits(**{**unlimited, **settings})  # type: ignore[arg-type]


@asynccontextmanager
async def running_relay(
    data_dir: Path,
    *,
    tls: bool = True,
    log_to: object = None,
    tariff: Tariff | None = None,
    public_url: str | None = None,
    allow_origins: tuple[str, ...] = (),
    database: str | None = None,
    relay_id: str = "relay-test",
    proxy_protocol: bool = False,
    **settings: object,
) -> AsyncIterator[RelayInfo]:
    """The real relay in this event loop on 127.0.0.1:<free port>; stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ssl_context = None
    fingerprint = None
    if tls:
        cert, key = relay_tls.ensure_self_signed(data_dir)
        ssl_context = relay_tls.server_context(cert, key)
        fingerprint = relay_tls.certificate_fingerprint(cert)
    config = RelayConfig(
        data_dir=data_dir,
        host="127.0.0.1",
        port=0,
        ssl_context=ssl_context,
        proxy_protocol=proxy_protocol,
        limits=limits_for_tests(**settings),
        tariff=tariff or Tariff(),
        database=database,
        relay_id=relay_id if database is not None else None,
        fingerprint=fingerprint,
        heartbeat_seconds=UPKEEP_SECONDS_FOR_TESTS,
        public_url=public_url,
        allow_origins=allow_origins,
    )
    log = EventLog(stream=log_to) if log_to is not None else EventLog()  # type: ignore[arg-type]
    relay = Relay(config, log=log)
    await relay.start()
    try:
        yield RelayInfo(relay.url, fingerprint, data_dir, relay)
    finally:
        await relay.stop()


def add_technician(data_dir: Path, name: str) -> str:
    """Add a technician to the ledger in `data_dir` and return their token."""
    ledger = Ledger(data_dir)
    try:
        return ledger.add_technician(name)
    finally:
        ledger.close()


def revoke_technician(data_dir: Path, name: str) -> None:
    ledger = Ledger(data_dir)
    try:
        ledger.revoke_technician(name)
    finally:
        ledger.close()


def free_port() -> int:
    """A loopback port nobody listens on right now (for a relay restarted on the same port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_relay_process(
    data_dir: Path, *extra_args: str, port: int = 0
) -> tuple[subprocess.Popen[str], str, str | None]:
    """Run `python -m fernwartung relay --listen 127.0.0.1:PORT --self-signed --data-dir DIR`
    (PORT 0: the OS picks one; plus `extra_args`; pass "--no-tls" to replace --self-signed)
    and wait for its FINGERPRINT and LISTENING lines. Returns (process, url, fingerprint or
    None). The process's stderr (the event log) goes to DIR/relay.log."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tls_args = [] if "--no-tls" in extra_args or "--tls-cert" in extra_args else ["--self-signed"]
    command = [
        sys.executable,
        "-m",
        "fernwartung",
        "relay",
        "--listen",
        f"127.0.0.1:{port}",
        *tls_args,
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    log_file = open(data_dir / "relay.log", "ab")  # noqa: SIM115 - owned by the process
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env, cwd=_REPO_ROOT
    )
    log_file.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read_stdout, daemon=True).start()
    fingerprint: str | None = None
    try:
        while True:
            line = lines.get(timeout=STARTUP_TIMEOUT_SECONDS)
            if line is None:
                raise RuntimeError(
                    f"the relay exited with {process.wait()} before listening; "
                    f"see {data_dir / 'relay.log'}"
                )
            words = line.split()
            if len(words) == 2 and words[0] == "FINGERPRINT":
                fingerprint = words[1]
            elif len(words) == 2 and words[0] == "LISTENING":
                return process, words[1], fingerprint
    except (queue.Empty, RuntimeError):
        stop_relay_process(process)
        raise


def stop_relay_process(process: subprocess.Popen[str]) -> int:
    """SIGTERM (graceful: peers told, ledger rows closed), SIGKILL if it hangs. Returns the
    exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
