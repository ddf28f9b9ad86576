"""Relay benchmarks: forwarding throughput against a bare websockets echo, and relay memory
per idle paired session.

    python benchmarks/relay.py [--megabytes 128] [--sessions 1000] [--no-tls]

Both servers (the relay and the echo) run as their own process, on 127.0.0.1, with the
same self-signed certificate; the clients run in this process. Throughput is ciphertext
payload through the server: host -> relay -> viewer for the relay, client -> echo -> client
for the echo (one server receive and one server send per message in both cases). Memory is
the relay process's resident set growth divided by the number of idle paired sessions; for
scale, the same is measured in the echo process for two idle websockets connections and for
two bare asyncio TLS connections (no websockets). The echo runs on stock asyncio TLS, which
gives every connection its own 256 KiB read buffer; the relay has its own TLS transport
(relay/tls_transport.py) reading through one buffer per process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from protocol import control  # noqa: E402
from relay import tls  # noqa: E402
from tests.support.relay import (  # noqa: E402
    add_technician,
    start_relay_process,
    stop_relay_process,
)

MESSAGE_SIZES = (64 * 1024, 1024 * 1024)
WARMUP_SESSIONS = 20
CONNECT_BATCH = 50
NO_LIMITS = (
    "--register-per-ip-per-minute", "0", "--join-per-ip-per-minute", "0",
    "--join-per-token-per-minute", "0",
)  # fmt: skip


def client_ssl(secure: bool) -> ssl.SSLContext | None:
    if not secure:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def open_ws(url: str, token: str | None = None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await connect(
        url,
        ssl=client_ssl(url.startswith("wss")),
        additional_headers=headers,
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=60,
    )


# the echo server (a child process)


class BareEcho(asyncio.Protocol):
    """A TLS (or TCP) connection without websockets: the floor under any relay."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def echo_server(data_dir: Path, secure: bool) -> None:
    context = None
    if secure:
        cert, key = tls.ensure_self_signed(data_dir)
        context = tls.server_context(cert, key)
    bare = await asyncio.get_running_loop().create_server(BareEcho, "127.0.0.1", 0, ssl=context)
    bare_port = bare.sockets[0].getsockname()[1]

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with serve(echo, "127.0.0.1", 0, ssl=context, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {'wss' if secure else 'ws'}://127.0.0.1:{port} {bare_port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def start_echo_process(data_dir: Path, secure: bool) -> tuple[subprocess.Popen[str], str, int]:
    """The echo process, its websockets URL and the port of its bare TLS echo."""
    command = [sys.executable, __file__, "--echo-server", str(data_dir)]
    if not secure:
        command.append("--no-tls")
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().split()
    return process, line[1], int(line[2])


def stop_echo_process(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


# throughput


async def pump(
    sender: ClientConnection, receiver: ClientConnection, size: int, count: int
) -> float:
    payload = os.urandom(size)

    async def send_all() -> None:
        for _ in range(count):
            await sender.send(payload)

    async def receive_all() -> None:
        for _ in range(count):
            message = await receiver.recv()
            assert len(message) == size

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        group.create_task(send_all())
        group.create_task(receive_all())
    elapsed = time.perf_counter() - start
    return size * count / elapsed / 1e6


async def echo_throughput(url: str, size: int, count: int) -> float:
    websocket = await open_ws(url)
    await pump(websocket, websocket, size, max(1, count // 10))  # warm up
    rate = await pump(websocket, websocket, size, count)
    await websocket.close()
    return rate


async def paired(url: str, token: str) -> tuple[ClientConnection, ClientConnection]:
    host = await open_ws(url + "/v1/host")
    await host.send(control.encode(control.Register(version=1)))
    registered = control.decode(await host.recv())
    assert isinstance(registered, control.Registered)
    viewer = await open_ws(url + "/v1/viewer", token)
    await viewer.send(control.encode(control.Join(session=registered.session, version=1)))
    assert isinstance(control.decode(await viewer.recv()), control.Joined)
    assert isinstance(control.decode(await host.recv()), control.PeerJoined)
    return host, viewer


async def relay_throughput(url: str, token: str, size: int, count: int) -> float:
    host, viewer = await paired(url, token)
    await pump(host, viewer, size, max(1, count // 10))
    rate = await pump(host, viewer, size, count)
    for websocket in (host, viewer):
        await websocket.close()
    return rate


# memory


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_sessions(url: str, token: str, count: int) -> list[ClientConnection]:
    links: list[ClientConnection] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = await asyncio.gather(
            *(paired(url, token) for _ in range(min(CONNECT_BATCH, count - start)))
        )
        for host, viewer in batch:
            links += [host, viewer]
    return links


async def memory_per_session(url: str, token: str, pid: int, sessions: int) -> tuple[int, float]:
    warm = await open_sessions(url, token, WARMUP_SESSIONS)
    await asyncio.sleep(1.0)  # let the relay settle before the baseline (no event to wait on)
    before = resident_kib(pid)
    links = await open_sessions(url, token, sessions)
    await asyncio.sleep(1.0)
    after = resident_kib(pid)
    await asyncio.gather(*(link.close() for link in links + warm))
    return after - before, (after - before) / sessions


async def memory_per_connection_pair(
    pid: int, pairs: int, connect_one: Callable[[], Awaitable[Closable]]
) -> float:
    """KiB the process at `pid` grows by per two idle connections made by `connect_one`."""

    async def open_many(count: int) -> list[Closable]:
        opened: list[Closable] = []
        for start in range(0, count, CONNECT_BATCH):
            opened += await asyncio.gather(
                *(connect_one() for _ in range(min(CONNECT_BATCH, count - start)))
            )
        return opened

    warm = await open_many(2 * WARMUP_SESSIONS)
    await asyncio.sleep(1.0)
    before = resident_kib(pid)
    links = await open_many(2 * pairs)
    await asyncio.sleep(1.0)
    after = resident_kib(pid)
    await asyncio.gather(*(close(link) for link in links + warm))
    return (after - before) / pairs


class Closable(Protocol):
    def close(self) -> object: ...


async def close(link: Closable) -> None:
    """Close a websockets connection or a stream writer, waiting for either."""
    closing = link.close()
    if isinstance(closing, Awaitable):
        await closing
    elif isinstance(link, asyncio.StreamWriter):
        await link.wait_closed()


async def open_bare(port: int, secure: bool) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl(secure))
    writer.write(b"x")
    await writer.drain()
    return writer


async def run(args: argparse.Namespace) -> None:
    secure = not args.no_tls
    print(f"relay benchmark ({'TLS' if secure else 'plain'} on 127.0.0.1, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cores)")  # fmt: skip
    with tempfile.TemporaryDirectory() as temporary:
        data_dir = Path(temporary)
        token = add_technician(data_dir, "Bench")
        relay_args = (
            *(() if secure else ("--no-tls",)), *NO_LIMITS,
            "--max-sessions", str(args.sessions + 100),
        )  # fmt: skip
        relay, relay_url, _ = start_relay_process(data_dir, *relay_args)
        echo, echo_url, _ = start_echo_process(data_dir, secure)
        try:
            for size in MESSAGE_SIZES:
                count = max(16, args.megabytes * 1024 * 1024 // size)
                echo_rates, relay_rates = [], []
                for _ in range(args.rounds):  # interleaved, best of each
                    echo_rates.append(await echo_throughput(echo_url, size, count))
                    relay_rates.append(await relay_throughput(relay_url, token, size, count))
                best_echo, best_relay = max(echo_rates), max(relay_rates)
                print(
                    f"throughput {size // 1024:>5} KiB messages: relay {best_relay:7.1f} MB/s, "
                    f"bare echo {best_echo:7.1f} MB/s -> {100 * best_relay / best_echo:5.1f} %"
                )
        finally:
            stop_relay_process(relay)
            stop_echo_process(echo)
        # Memory in fresh processes: memory freed by the throughput runs would otherwise be
        # reused by the new connections and hide their cost.
        relay, relay_url, _ = start_relay_process(data_dir, *relay_args)
        try:
            grown, per_session = await memory_per_session(
                relay_url, token, relay.pid, args.sessions
            )
        finally:
            stop_relay_process(relay)
        print(
            f"memory: {args.sessions} idle paired sessions ({2 * args.sessions} connections)"
            f" grew the relay by {grown / 1024:.1f} MiB -> {per_session:.1f} KiB per session"
        )
        echo, echo_url, bare_port = start_echo_process(data_dir, secure)
        try:
            per_echo_pair = await memory_per_connection_pair(
                echo.pid, args.sessions, lambda: open_ws(echo_url)
            )
        finally:
            stop_echo_process(echo)
        echo, echo_url, bare_port = start_echo_process(data_dir, secure)
        try:
            per_bare_pair = await memory_per_connection_pair(
                echo.pid, args.sessions, lambda: open_bare(bare_port, secure)
            )
        finally:
            stop_echo_process(echo)
        print(
            f"memory for scale, per two idle connections: bare websockets echo"
            f" {per_echo_pair:.1f} KiB; bare asyncio {'TLS' if secure else 'TCP'} (no"
            f" websockets) {per_bare_pair:.1f} KiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=128, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--echo-server", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        asyncio.run(echo_server(Path(args.echo_server), not args.no_tls))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
