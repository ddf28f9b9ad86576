"""What every part of a running relay shares: its settings, clock, ledger thread, logs,
metrics and sessions, and the tasks it must await at stop.

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
    # Where browsers reach the relay (its own origin) and other origins whose pages may
    # open sessions (relay/http.py).
    public_url: str | None = None
    allow_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    tariff: Tariff = field(default_factory=Tariff)


class RelayCore:
    """The relay's shared state and services (one per running relay)."""

    def __init__(self, config: RelayConfig, log: EventLog, ledger: Ledger | None = None) -> None:
        """`ledger`: the one to keep (PostgreSQL, opened by the caller); by default the
        SQLite ledger in the data dir."""
        self.config = config
        self.limits = config.limits
        self.log = log
        self.metrics = Metrics()
        self.ledger = ledger if ledger is not None else Ledger(config.data_dir)
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

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def db(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        """Run a blocking ledger call on the ledger's one thread (submitted now, so ledger
        writes happen in the order they were asked for)."""
        return asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def record(self, function: Any, *args: Any) -> None:
        """A ledger write nobody waits for (awaited at stop, never lost)."""
        self._track(self.db(function, *args))

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

    def close(self) -> None:
        """After the last ledger call."""
        self._executor.shutdown(wait=True)
        self.ledger.close()
