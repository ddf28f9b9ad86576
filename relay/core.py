"""What every part of a running relay shares: its settings, clock, ledger thread, logs,
metrics and sessions, and the tasks it must await at stop.

The ledger is the SQLite file in the data dir, or PostgreSQL when `RelayConfig.database`
names one; there the relay is one of several (`relay_id`, `public_url`, `fingerprint`), and
its upkeep (relay/database/upkeep.py) knows the others alive, as clients are told of them.

`Relay` (relay/server.py) makes one and hands it to the parts that serve sessions
(relay/sides.py, relay/resumption.py, relay/departures.py) and to the HTTP front
(relay/http.py); none of them knows `Relay`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from protocol.billing import Tariff
from protocol.control import MAX_OTHER_RELAYS, OtherRelay
from protocol.errors import ProtocolError
from relay.database.upkeep import HEARTBEAT_SECONDS, Upkeep, relay_id_for
from relay.events import EventLog
from relay.ledger import Ledger
from relay.limits import Limits
from relay.metrics import Metrics
from relay.pairing import RelaySession, Rendezvous

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Where and how the relay listens; everything a running relay needs."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8765
    ssl_context: ssl.SSLContext | None = None
    behind_proxy: bool = False
    # A TCP load balancer in front passes TLS through and each client's address in a
    # PROXY protocol header (relay/proxy_protocol.py).
    proxy_protocol: bool = False
    # Other origins whose pages may open sessions (relay/http.py); the relay's own is that
    # of public_url.
    allow_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    tariff: Tariff = field(default_factory=Tariff)
    # Several relays on one PostgreSQL: its URL (None: SQLite in the data dir), this relay's
    # id among them (None: the one kept in the data dir), where clients reach it (None: the
    # address it listens on) and its certificate's pin, told to clients sent here.
    database: str | None = None
    relay_id: str | None = None
    public_url: str | None = None
    fingerprint: str | None = None
    heartbeat_seconds: float = HEARTBEAT_SECONDS


def client_url(url: str) -> str | None:
    """A relay's public URL as clients take it (ws[s]://HOST[:PORT], https and http read
    as wss and ws), or None if it is not one."""
    scheme, sep, rest = url.strip().partition("://")
    scheme = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme.lower())
    candidate = f"{scheme}{sep}{rest.rstrip('/')}"
    try:
        OtherRelay(candidate)
    except ProtocolError:
        return None
    return candidate


def other_relay(url: str, fingerprint: str | None) -> OtherRelay | None:
    """A relay as clients are told of it, or None if its URL or pin is not usable."""
    found = client_url(url)
    try:
        return None if found is None else OtherRelay(found, fingerprint or "")
    except ProtocolError:
        return None


class RelayCore:
    """The relay's shared state and services (one per running relay)."""

    def __init__(self, config: RelayConfig, log: EventLog, ledger: Ledger | None = None) -> None:
        """`ledger`: one opened by the caller; by default `open_ledger` opens the one the
        configuration names."""
        self.config = config
        self.limits = config.limits
        self.log = log
        self.metrics = Metrics()
        self._ledger = ledger
        # This relay's id among several on one database; None alone on SQLite.
        self.relay_id: str | None = ledger.relay_id if ledger is not None else None
        self.public_url = config.public_url
        self.upkeep: Upkeep | None = None  # its registration and heartbeat, when shared
        self.rendezvous = Rendezvous(
            code_ttl_seconds=self.limits.code_ttl_seconds, max_sessions=self.limits.max_sessions
        )
        self.stopping = False
        # Sessions kept open in the ledger at a stop, for their sides to resume after a start.
        self.kept_at_stop: set[int] = set()
        # The task that ends a session whose side did not come back in its grace period.
        self.resume_timers: dict[RelaySession, asyncio.Task[None]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._background: set[asyncio.Future[Any]] = set()

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the ledger is opened by Relay.start()")
        return self._ledger

    async def open_ledger(self) -> Ledger:
        """Open the configured ledger on the ledger's thread (migrations included), unless
        one was given."""
        if self._ledger is None:
            self._ledger = await self.db(self._open_ledger)
            self.relay_id = self._ledger.relay_id
        return self._ledger

    def _open_ledger(self) -> Ledger:
        config = self.config
        ledger = Ledger.open(config.database, config.data_dir)
        if config.database:
            ledger.relay_id = relay_id_for(config.data_dir, config.relay_id)
        return ledger

    @property
    def shared(self) -> bool:
        """Whether this relay is one of several on one database."""
        return self.relay_id is not None

    def told_relays(self) -> tuple[OtherRelay, ...]:
        """The other live relays as clients are told of them (registered, joined, resumed)."""
        others = self.upkeep.other_relays if self.upkeep is not None else ()
        told = (other_relay(r.public_url, r.fingerprint) for r in others)
        return tuple(relay for relay in told if relay is not None)[:MAX_OTHER_RELAYS]

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def db(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        """Run a blocking ledger call on the ledger's one thread (submitted now, so ledger
        writes happen in the order they were asked for)."""
        return asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def record(self, function: Any, *args: Any) -> None:
        """A ledger write nobody waits for (awaited at stop; one the database layer refuses,
        its write-behind queue full during an outage, is logged)."""
        future = self.db(function, *args)
        future.add_done_callback(self._recorded)
        self._track(future)

    def _recorded(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            self.log.event("ledger_write_failed", error=type(error).__name__)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A short task the relay awaits at stop."""
        task = asyncio.ensure_future(coroutine)
        self._track(task)
        return task

    def _track(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def finish_background(self, grace_seconds: float) -> None:
        """At stop: let ledger writes and short tasks finish; cut short what outlives the
        grace period."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=grace_seconds)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def close(self) -> None:
        """After the last ledger call: the ledger closes on its own thread (its listener
        thread and its connections may take a moment)."""
        if self._ledger is not None:
            await self.db(self._ledger.close)
        self._executor.shutdown(wait=True)
