"""Fixtures for relay tests: the real relay on 127.0.0.1 (TLS), technicians, and clients."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from endpoint.relay_link import RelayLink, open_link
from protocol import control
from tests.support.relay import RelayInfo, add_technician, running_relay

WAIT_SECONDS = 10.0


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RelayInfo]:
    async with running_relay(tmp_path / "data", revocation_sweep_seconds=0.1) as info:
        yield info


@pytest.fixture
def token(relay: RelayInfo) -> str:
    return add_technician(relay.data_dir, "Alice")


async def host_link(relay: RelayInfo) -> RelayLink:
    return await open_link(relay.url, "/v1/host", fingerprint_pin=relay.fingerprint)


async def viewer_link(relay: RelayInfo, token: str) -> RelayLink:
    return await open_link(relay.url, "/v1/viewer", fingerprint_pin=relay.fingerprint, token=token)


async def receive(link: RelayLink) -> control.Control | bytes:
    async with asyncio.timeout(WAIT_SECONDS):
        return await link.receive()


async def register(relay: RelayInfo) -> tuple[RelayLink, str]:
    host = await host_link(relay)
    await host.send_control(control.Register(version=1))
    registered = await receive(host)
    assert isinstance(registered, control.Registered)
    return host, registered.session


@dataclass
class Pair:
    host: RelayLink
    viewer: RelayLink
    session: str

    async def close(self) -> None:
        for link in (self.host, self.viewer):
            await link.close()


async def pair(relay: RelayInfo, token: str, customer: str = "") -> Pair:
    host, session = await register(relay)
    viewer = await viewer_link(relay, token)
    await viewer.send_control(control.Join(session=session, version=1, customer=customer))
    assert isinstance(await receive(viewer), control.Joined)
    assert await receive(host) == control.PeerJoined(technician="Alice")
    return Pair(host, viewer, session)


def insecure_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def raw_connect(
    relay: RelayInfo, path: str, token: str | None = None, **options: object
) -> ClientConnection:
    """A bare websockets client, for clients that misbehave on purpose."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    settings: dict[str, object] = {"compression": None, "max_size": None, **options}
    return await connect(
        relay.url + path,
        ssl=insecure_context(),
        additional_headers=headers,
        **settings,  # type: ignore[arg-type]
    )


async def closed_with(websocket: ClientConnection) -> tuple[int | None, str | None]:
    async with asyncio.timeout(WAIT_SECONDS):
        await websocket.wait_closed()
    received = websocket.close_code, websocket.close_reason
    return received


async def wait_for(predicate, what: str) -> None:  # noqa: ANN001
    """Wait until `predicate()` holds, checking after every loop turn (bounded)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while not predicate():
            await asyncio.sleep(0.01)
    assert predicate(), what


class Streamer:
    """A paired session that streams numbered messages host -> viewer and back until
    stopped, checking every message byte for byte."""

    def __init__(self, session: Pair) -> None:
        self.pair = session
        self.received = 0
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Condition()

    async def _run(self) -> None:
        number = 0
        while True:
            payload = number.to_bytes(4, "big") * 4096
            await self.pair.host.send_binary(payload)
            assert await receive(self.pair.viewer) == payload
            await self.pair.viewer.send_binary(payload[:100])
            assert await receive(self.pair.host) == payload[:100]
            number += 1
            async with self._progress:
                self.received = number
                self._progress.notify_all()

    async def __aenter__(self) -> Streamer:
        self._task = asyncio.create_task(self._run())
        await self.progressed()
        return self

    async def progressed(self, by: int = 5) -> None:
        """Wait until `by` more round trips completed (fails if the stream broke)."""
        target = self.received + by
        task = self._task
        assert task is not None
        task.add_done_callback(lambda _: asyncio.ensure_future(self._wake()))
        async with asyncio.timeout(WAIT_SECONDS), self._progress:
            await self._progress.wait_for(lambda: self.received >= target or task.done())
        if task.done():
            task.result()

    async def _wake(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if self._task.done():
            self._task.result()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.pair.close()


@pytest.fixture
async def bystander(relay: RelayInfo, token: str) -> AsyncIterator[Streamer]:
    """Another session streaming on the same relay (the module's `relay`), to show that
    whatever a test does to its own connections leaves everyone else alone."""
    async with Streamer(await pair(relay, token)) as streamer:
        yield streamer
