"""A bare websockets pair-and-forward server: the baseline `benchmarks/load.py` compares
the relay with.

It speaks just enough of the relay's control vocabulary for the same clients to run
through it unchanged (register -> registered, join -> joined / peer_joined) and then
forwards binary frames between the two; no ledger, no tokens, no limits, no timeouts.
Same TLS certificate as the relay in DATA_DIR, same websockets settings for frames.

    python benchmarks/forwarder.py DATA_DIR     # prints FINGERPRINT and LISTENING lines,
                                                # serves until stdin closes
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.server import ServerConnection, serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from protocol import control  # noqa: E402
from relay import tls  # noqa: E402
from relay.limits import MAX_MESSAGE_BYTES, WRITE_LIMIT_BYTES  # noqa: E402

MAX_QUEUED_FRAMES = 2  # websockets' receive queue, as the relay on its asyncio server had


class Forwarder:
    """Pairs a host and a viewer by session number, then copies binary frames between them."""

    def __init__(self) -> None:
        self._numbers = itertools.count(100_000)
        self._waiting: dict[str, tuple[ServerConnection, asyncio.Future[ServerConnection]]] = {}

    async def handle(self, websocket: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            first = control.decode(await websocket.recv())
            if isinstance(first, control.Register):
                number = str(next(self._numbers))
                viewer_arrived = asyncio.get_running_loop().create_future()
                self._waiting[number] = (websocket, viewer_arrived)
                await websocket.send(control.encode(control.Registered(number, 600)))
                peer = await viewer_arrived
            elif isinstance(first, control.Join):
                peer, viewer_arrived = self._waiting.pop(first.session)
                await websocket.send(control.encode(control.Joined()))
                await peer.send(control.encode(control.PeerJoined(technician="baseline")))
                viewer_arrived.set_result(websocket)
            else:
                return
            await self._pump(websocket, peer)

    @staticmethod
    async def _pump(source: ServerConnection, destination: ServerConnection) -> None:
        try:
            async for frame in source:
                if isinstance(frame, bytes):
                    with contextlib.suppress(ConnectionClosed):
                        await destination.send(frame)
        finally:
            await destination.close()


async def serve_forever(data_dir: Path) -> None:
    cert, key = tls.ensure_self_signed(data_dir)
    forwarder = Forwarder()
    async with serve(
        forwarder.handle,
        "127.0.0.1",
        0,
        ssl=tls.server_context(cert, key),
        compression=None,
        max_size=MAX_MESSAGE_BYTES,
        max_queue=MAX_QUEUED_FRAMES,
        write_limit=WRITE_LIMIT_BYTES,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"FINGERPRINT {tls.certificate_fingerprint(cert)}", flush=True)
        print(f"LISTENING wss://127.0.0.1:{port}", flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve_forever(Path(sys.argv[1])))
