"""A running relay's care for its database, as one task: register the relay (id, public
URL, certificate pin), beat its heartbeat, learn which other relays are alive (clients are
told, to resume there if this relay is gone), send writes that waited during an outage,
and log when the database goes away and comes back.

Every database call goes through `run` (the relay's `db`: its one database thread), so
the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from relay.database.database import Database
from relay.database.errors import DatabaseUnavailable
from relay.database.records import RelayRecord

HEARTBEAT_SECONDS = 2.0
# A relay whose heartbeat is older than this is gone: another may take its sessions over.
RELAY_STALE_SECONDS = 10.0
RELAY_ID_FILE = "relay-id"

Run = Callable[..., Awaitable[Any]]


def relay_id_for(data_dir: Path, given: str | None) -> str:
    """`given`, else the id kept in the data dir (made once), so a restarted relay is the
    same relay and gets its sessions back."""
    if given:
        return given
    path = data_dir / RELAY_ID_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        relay_id = f"relay-{secrets.token_hex(4)}"
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(relay_id + "\n", encoding="utf-8")
        return relay_id


class Upkeep:
    """`await start()` once the relay listens, `await stop()` when it stops."""

    def __init__(
        self,
        database: Database,
        run: Run,
        *,
        relay_id: str,
        public_url: str,
        fingerprint: str | None,
        log: Any,
        interval_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._database = database
        self._run = run
        self.relay_id = relay_id
        self._public_url = public_url
        self._fingerprint = fingerprint
        self._log = log
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None
        self._was_available = True
        # The other relays whose heartbeat is fresh, as of the last beat.
        self.other_relays: tuple[RelayRecord, ...] = ()

    async def start(self) -> None:
        database = self._database
        await self._run(
            database.register_relay,
            self.relay_id,
            self._public_url,
            self._fingerprint,
            time.time(),
        )
        self._log.event("relay_registered", relay_id=self.relay_id, url=self._public_url)
        await self._learn_relays()
        self._task = asyncio.create_task(self._beat())

    async def _learn_relays(self) -> None:
        relays = await self._run(self._database.relays, time.time(), RELAY_STALE_SECONDS)
        self.other_relays = tuple(r for r in relays if r.alive and r.id != self.relay_id)

    async def _beat(self) -> None:
        database = self._database
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._run(database.heartbeat, self.relay_id, time.time())
                await self._run(database.flush_pending)
                await self._learn_relays()
            except DatabaseUnavailable:
                pass
            self._note_availability()

    def _note_availability(self) -> None:
        available = self._database.available and not self._database.pending_writes
        if available == self._was_available:
            return
        self._was_available = available
        if available:
            self._log.event("database_available")
        else:
            self._log.event("database_unavailable", pending_writes=self._database.pending_writes)

    async def stop(self) -> None:
        """Stop beating; mark the relay gone so another may take over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        gone_since = time.time() - RELAY_STALE_SECONDS - self._interval
        with contextlib.suppress(DatabaseUnavailable):
            await self._run(self._database.retire_relay, self.relay_id, gone_since)
