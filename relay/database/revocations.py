"""Word that a technician was revoked, to every relay at once.

PostgreSQL: the revoking transaction sends `NOTIFY fernwartung_revocations, '<id>'`, which
the database delivers at commit to every relay LISTENing, each on a connection of its own
in a listener thread. SQLite (one relay, one machine): the database objects of one process
on the same file call each other's subscribers directly after the commit; a revocation
made by another process (`fernwartung technician revoke`) is found by the relay's
revocation sweep instead.

A subscriber is called with the technician's id, from the listener thread (PostgreSQL) or
the revoking thread (SQLite), so it must be thread-safe (in the relay:
`loop.call_soon_threadsafe`). It is called with None when notifications may have been
missed (the listener lost its connection and has it back): check every live technician.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from relay.database.errors import DatabaseUnavailable

REVOCATION_CHANNEL = "fernwartung_revocations"
LISTEN_POLL_SECONDS = 0.5  # how soon the listener thread notices that it should stop
LISTEN_READY_TIMEOUT_SECONDS = 5.0
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 5.0

Subscriber = Callable[[int | None], None]
LOGGER = logging.getLogger(__name__)


class Subscription:
    """One subscriber's registration; `close()` ends it."""

    def __init__(self, owner: Any, subscriber: Subscriber) -> None:
        self._owner = owner
        self.subscriber = subscriber

    def close(self) -> None:
        self._owner.unsubscribe(self)


class _Subscribers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.append(subscription)

    def remove(self, subscription: Subscription) -> bool:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            return not self._subscriptions

    def tell(self, technician_id: int | None) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            try:
                subscription.subscriber(technician_id)
            except Exception:  # noqa: BLE001 - one subscriber's failure is not the others'
                LOGGER.exception("a revocation subscriber failed")


# SQLite: one process, callbacks by file

_LOCAL_LOCK = threading.Lock()
_LOCAL: dict[str, _Subscribers] = {}


class LocalRevocations:
    """Revocations among the database objects of this process on one SQLite file."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._mine: list[Subscription] = []

    def subscribe(self, subscriber: Subscriber) -> Subscription:
        subscription = Subscription(self, subscriber)
        with _LOCAL_LOCK:
            _LOCAL.setdefault(self._key, _Subscribers()).add(subscription)
        self._mine.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with _LOCAL_LOCK:
            subscribers = _LOCAL.get(self._key)
            if subscribers is not None and subscribers.remove(subscription):
                del _LOCAL[self._key]
        with contextlib.suppress(ValueError):
            self._mine.remove(subscription)

    def publish_in(self, tx: Any, technician_id: int) -> None:
        """Nothing to do inside the transaction (SQLite has no NOTIFY)."""

    def published(self, technician_id: int) -> None:
        """After the revoking transaction committed: tell this process's subscribers."""
        with _LOCAL_LOCK:
            subscribers = _LOCAL.get(self._key)
        if subscribers is not None:
            subscribers.tell(technician_id)

    def close(self) -> None:
        for subscription in list(self._mine):
            subscription.close()


# PostgreSQL: LISTEN/NOTIFY


class PostgresRevocations:
    """LISTEN on a connection of its own in a listener thread, started by the first
    subscriber and stopped by `close()`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._subscribers = _Subscribers()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Subscription:
        """Subscribe; returns once the listener listens (or after
        LISTEN_READY_TIMEOUT_SECONDS when the database cannot be reached: it keeps trying)."""
        subscription = Subscription(self, subscriber)
        self._subscribers.add(subscription)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="revocation-listener", daemon=True
                )
                self._thread.start()
        self._listening.wait(LISTEN_READY_TIMEOUT_SECONDS)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.remove(subscription)

    def publish_in(self, tx: Any, technician_id: int) -> None:
        """Inside the revoking transaction: delivered to every listener at commit."""
        tx.one("SELECT pg_notify(?, ?)", (REVOCATION_CHANNEL, str(technician_id)))

    def published(self, technician_id: int) -> None:
        """After the commit: this relay's own listener delivers it like any other's."""

    def _listen(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        missed = False
        while not self._stop.is_set():
            try:
                connection = self._backend.connect_listener()
            except DatabaseUnavailable:
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                missed = True
                continue
            try:
                with connection:
                    connection.execute(f"LISTEN {REVOCATION_CHANNEL}")
                    self._listening.set()
                    delay = RECONNECT_FIRST_SECONDS
                    if missed:
                        self._subscribers.tell(None)
                        missed = False
                    while not self._stop.is_set():
                        for notify in connection.notifies(timeout=LISTEN_POLL_SECONDS):
                            self._deliver(notify.payload)
            except self._backend.unavailable_errors:
                missed = True
                self._listening.clear()

    def _deliver(self, payload: str) -> None:
        try:
            technician_id = int(payload)
        except ValueError:
            return
        self._subscribers.tell(technician_id)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(LISTEN_POLL_SECONDS * 4 + 5.0)
