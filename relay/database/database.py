"""The relay's database: one interface over SQLite (the embedded default) and PostgreSQL
(several relays sharing technicians, ledger and sessions).

    db = open_database("postgresql://relay@db.example/fernwartung", data_dir=Path(...))
    session_id = db.open_session("482139", relay_id="relay-a")
    db.record_checkpoint(session_id, "host", 12, head)     # waits behind while unreachable

Every method blocks: the relay calls them on its one database thread (`Relay.db`), which
keeps its writes in the order it asked for them; the command-line tools call them
directly. Opening applies the schema migrations the database lacks.

While the database cannot be reached, writes about existing sessions wait in the
write-behind queue (relay/database/write_behind.py) and everything else fails at once with
`DatabaseUnavailable`: after a failure the database is not tried again for
`RETRY_SECONDS`, so a relay with many sessions does not queue up connection timeouts on
its database thread. A technician's token seen in the last `TOKEN_MEMORY_SECONDS` is
still accepted meanwhile (a revocation cannot happen while the database is unreachable),
so a technician whose connection dropped can resume a live session.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from protocol.billing import Tariff
from protocol.control import Consent
from relay.database import ledger_tables as ledger
from relay.database import migrations
from relay.database import shared_tables as shared
from relay.database.backends import (
    Backend,
    PostgresBackend,
    SqliteBackend,
    Transaction,
    is_postgres_url,
)
from relay.database.errors import DatabaseError, DatabaseUnavailable
from relay.database.records import (
    RelayRecord,
    ResumableSession,
    SessionLocation,
    StoredCheckpoint,
    Technician,
    hash_token,
    now_text,
)
from relay.database.revocations import (
    LocalRevocations,
    PostgresRevocations,
    Subscriber,
    Subscription,
)
from relay.database.write_behind import (
    SPILL_FILE,
    WRITE_BEHIND_MAX_WRITES,
    PendingWrite,
    WriteBehind,
)
from relay.limits import RateLimit

LEDGER_FILE = "ledger.sqlite3"
DATABASE_ENV = "FERNWARTUNG_DATABASE"  # the URL, so that it need not be on a command line
RETRY_SECONDS = 1.0
TOKEN_MEMORY_SECONDS = 3600.0
MAX_REMEMBERED_TOKENS = 10_000
LOGGER = logging.getLogger(__name__)


class Database:
    """The relay's data in one SQLite file or one PostgreSQL database."""

    def __init__(
        self,
        backend: Backend,
        *,
        data_dir: Path | None = None,
        migrate: bool = True,
        write_behind_max: int = WRITE_BEHIND_MAX_WRITES,
        on_write_behind_full: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.data_dir = data_dir
        self._lock = threading.RLock()
        self._down_until = 0.0
        self.unavailable_since: float | None = None  # time.monotonic() of the first failure
        self._writes = WriteBehind(
            self._run_write,
            max_writes=write_behind_max,
            on_full=on_write_behind_full,
            on_dropped=self._dropped,
        )
        self._tokens: collections.OrderedDict[str, tuple[Technician, float]] = (
            collections.OrderedDict()
        )
        if isinstance(backend, PostgresBackend):
            self._revocations: Any = PostgresRevocations(backend)
        else:
            key = str(getattr(backend, "path", id(backend)))
            self._revocations = LocalRevocations(str(Path(key).resolve()))
        if migrate:
            self.migrate()

    def migrate(self) -> migrations.MigrationReport:
        """Apply the migrations the database lacks, read a data dir's older tariff.json in,
        and send writes a closed database object saved during an outage."""
        report = migrations.migrate(self.backend)
        self._import_tariff_file()
        self._resume_saved_writes()
        return report

    @property
    def description(self) -> str:
        return self.backend.description

    @property
    def dialect(self) -> str:
        return self.backend.dialect.name

    def close(self) -> None:
        """Stop listening; save writes that still wait (data dir) and close the connections."""
        self._revocations.close()
        with self._lock:
            self._writes.flush()
            if self.data_dir is not None and not getattr(self.backend, "read_only", False):
                saved = self._writes.save(self.data_dir / SPILL_FILE)
                if saved:
                    LOGGER.warning("%d ledger writes saved to %s for the next start",
                                   saved, self.data_dir / SPILL_FILE)  # fmt: skip
        self.backend.close()

    # availability and the write-behind queue

    @property
    def available(self) -> bool:
        """Whether the last request reached the database."""
        return self.unavailable_since is None

    @property
    def pending_writes(self) -> int:
        return len(self._writes)

    def set_write_behind_full(self, callback: Callable[[], None] | None) -> None:
        """Called (on the database thread) once when the queue fills during an outage."""
        self._writes.on_full = callback

    def flush_pending(self) -> bool:
        """Send the writes that wait, if the database answers again; True when none waits.
        The relay calls this from its sweep, so they go in even when nothing else happens."""
        with self._lock:
            if time.monotonic() < self._down_until:
                return not self._writes
            return self._writes.flush()

    def _fail_fast(self) -> None:
        if time.monotonic() < self._down_until:
            raise DatabaseUnavailable(f"the {self.description} is unreachable; retrying soon")

    def _went_down(self) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY_SECONDS
        if self.unavailable_since is None:
            self.unavailable_since = now
            LOGGER.warning("the %s cannot be reached; writes wait", self.description)

    def _came_back(self) -> None:
        if self.unavailable_since is not None:
            LOGGER.warning("the %s answers again", self.description)
        self.unavailable_since = None

    def _transaction(self, function: Callable[..., Any], *args: Any) -> Any:
        self._fail_fast()
        try:
            with self.backend.transaction() as tx:
                result = function(tx, *args)
        except DatabaseUnavailable:
            self._went_down()
            raise
        self._came_back()
        return result

    def _run_write(self, write: PendingWrite) -> Any:
        return self._transaction(ledger.WRITES[write.name], write.at, *write.args)

    def _dropped(self, write: PendingWrite, error: Exception) -> None:
        LOGGER.error("a waiting ledger write (%s) failed and was dropped: %s",
                     write.name, type(error).__name__)  # fmt: skip

    def _read(self, function: Callable[..., Any], *args: Any) -> Any:
        """A request whose answer the caller needs: after the writes that wait, or
        `DatabaseUnavailable`."""
        with self._lock:
            self._fail_fast()
            if not self._writes.flush():
                self._went_down()
                raise DatabaseUnavailable(f"the {self.description} is unreachable")
            return self._transaction(function, *args)

    def _write(self, name: str, *args: Any) -> Any:
        with self._lock:
            return self._writes.submit(PendingWrite(name, now_text(), args))

    def _resume_saved_writes(self) -> None:
        if self.data_dir is None:
            return
        path = self.data_dir / SPILL_FILE
        with self._lock:
            if self._writes.load(path) and self._writes.flush():
                path.unlink()

    def _import_tariff_file(self) -> None:
        """A data dir of older code kept the tariff in tariff.json: read it in once."""
        if self.data_dir is None:
            return
        from relay.tariff import read_tariff_file

        saved = read_tariff_file(self.data_dir)
        if saved is None:
            return

        def import_once(tx: Transaction) -> None:
            if ledger.tariff(tx) is None:
                ledger.save_tariff(tx, now_text(), saved)

        self._read(import_once)

    # technicians

    def add_technician(self, name: str, totp_secret: str | None = None) -> str:
        """Create a technician and return the token (shown once, only its hash is kept);
        with `totp_secret` they may sign in in the browser (relay/signin.py)."""

        def add(tx: Transaction) -> str:
            _technician_id, token = ledger.add_technician(tx, now_text(), name)
            if totp_secret is not None:
                ledger.set_totp_secret(tx, name, totp_secret)
            return token

        return self._read(add)

    def set_totp_secret(self, name: str, secret: str | None) -> None:
        """A new second factor for the browser sign-in of `name` (None: none)."""
        self._read(ledger.set_totp_secret, name, secret)

    def sign_in_candidate(self, name: str, token: str) -> tuple[Technician, str | None] | None:
        """The active technician `name` holding `token`, and their TOTP secret."""
        return self._read(ledger.sign_in_candidate, name, token)

    def use_totp_step(self, technician_id: int, step: int) -> bool:
        """False when a code of `step` (or later) signed this technician in already."""
        return self._read(ledger.use_totp_step, technician_id, step)

    def technicians(self) -> list[Technician]:
        return self._read(ledger.technicians)

    def revoke_technician(self, name: str) -> int:
        """Refuse `name`'s token and sign-ins from now on and tell every relay; the id."""

        def revoke(tx: Transaction) -> int:
            technician_id = ledger.revoke_technician(tx, now_text(), name)
            self._revocations.publish_in(tx, technician_id)
            return technician_id

        technician_id = self._read(revoke)
        self._forget_tokens_of({technician_id})
        self._revocations.published(technician_id)
        return technician_id

    def technician_for_token(self, token: str) -> Technician | None:
        """The active technician holding `token`; while the database is unreachable, one
        it confirmed in the last TOKEN_MEMORY_SECONDS (else `DatabaseUnavailable`)."""
        token_hash = hash_token(token)
        try:
            technician = self._read(ledger.technician_for_token, token)
        except DatabaseUnavailable:
            remembered = self._tokens.get(token_hash)
            if remembered is None or time.monotonic() - remembered[1] > TOKEN_MEMORY_SECONDS:
                raise
            return remembered[0]
        with self._lock:
            if technician is None:
                self._tokens.pop(token_hash, None)
            else:
                self._tokens[token_hash] = (technician, time.monotonic())
                self._tokens.move_to_end(token_hash)
                while len(self._tokens) > MAX_REMEMBERED_TOKENS:
                    self._tokens.popitem(last=False)
        return technician

    def revoked_among(self, technician_ids: Iterable[int]) -> set[int]:
        revoked = self._read(ledger.revoked_among, list(technician_ids))
        self._forget_tokens_of(revoked)
        return revoked

    def _forget_tokens_of(self, technician_ids: set[int]) -> None:
        if not technician_ids:
            return
        with self._lock:
            for token_hash, (technician, _seen) in list(self._tokens.items()):
                if technician.id in technician_ids:
                    del self._tokens[token_hash]

    def subscribe_revocations(self, subscriber: Subscriber) -> Subscription:
        """`subscriber(technician_id)` for every revocation on any relay (None: some may
        have been missed, check all); called from another thread. See revocations.py."""

        def forget_then_tell(technician_id: int | None) -> None:
            if technician_id is not None:
                self._forget_tokens_of({technician_id})
            subscriber(technician_id)

        return self._revocations.subscribe(forget_then_tell)

    # sessions: the ledger

    def open_session(self, number: str, relay_id: str | None = None) -> int:
        """A new ledger row for a registered session number (held by `relay_id`)."""
        return self._read(ledger.open_session, now_text(), number, relay_id)

    def register_session(
        self, relay_id: str, now: float, tombstone_seconds: float
    ) -> tuple[str, int]:
        """A session number unique across relays and its ledger row, in one transaction."""

        def register(tx: Transaction) -> tuple[str, int]:
            number = shared.allocate_session_number(tx, relay_id, now, tombstone_seconds)
            return number, ledger.open_session(tx, now_text(), number, relay_id)

        return self._read(register)

    def mark_paired(self, session_id: int, technician: str, customer: str) -> None:
        self._write("mark_paired", session_id, technician, customer)

    def record_failed_attempt(self, session_id: int, count: int | None = None) -> int | None:
        """Count a wrong code (to `count` when given: safe to repeat); the stored count, or
        None while the write waits."""
        return self._write("record_failed_attempt", session_id, count)

    def record_consent(self, session_id: int, receipt: Consent) -> None:
        """The session's consent level, and the receipt of what the customer answered."""
        self._write(
            "record_consent", session_id, receipt.level.value, receipt.technician,
            receipt.rate_per_minute, receipt.vat_percent, receipt.terms_hash,
        )  # fmt: skip

    def record_bytes_at_consent(
        self, session_id: int, host_to_viewer: int, viewer_to_host: int
    ) -> None:
        """What the relay had forwarded each way when the customer first answered."""
        self._write("record_bytes_at_consent", session_id, host_to_viewer, viewer_to_host)

    def record_checkpoint(
        self,
        session_id: int,
        side: str,
        records: int,
        head: bytes,
        file_records: int | None = None,
        file_head: bytes | None = None,
    ) -> None:
        """Store a side's reported chain heads (the file chain's, if it reported one)."""
        if file_head is None:
            file_records = None
        self._write(
            "record_checkpoint", session_id, side, records, head.hex(), file_records,
            None if file_head is None else file_head.hex(),
        )  # fmt: skip

    def close_session(
        self,
        session_id: int,
        reason: str,
        bytes_host_to_viewer: int,
        bytes_viewer_to_host: int,
        relay_id: str | None = None,
    ) -> None:
        """End a session's row (with `relay_id`: only while that relay holds it)."""
        args: tuple[object, ...] = (session_id, reason, bytes_host_to_viewer, bytes_viewer_to_host)
        self._write("close_session", *args, *(() if relay_id is None else (relay_id,)))

    def close_open_sessions(
        self, reason: str, keep: Iterable[int] = (), relay_id: str | None = None
    ) -> int:
        """Close rows a stopped or crashed relay left open, except `keep` (sessions that
        may still resume); with `relay_id` only that relay's rows (and rows held by none)."""
        return self._read(ledger.close_open_sessions, now_text(), reason, list(keep), relay_id)

    def store_verifier(self, session_id: int, side: str, epoch: int, verifier: bytes) -> None:
        self._write("store_verifier", session_id, side, epoch, verifier.hex())

    def forget_verifier(self, session_id: int, side: str) -> None:
        """A secret opens its verifier once: after a resume it is gone here too."""
        self._write("forget_verifier", session_id, side)

    def save_bytes(
        self, session_id: int, bytes_host_to_viewer: int, bytes_viewer_to_host: int
    ) -> None:
        """The byte counts of a session that stays open across a relay restart."""
        self._write("save_bytes", session_id, bytes_host_to_viewer, bytes_viewer_to_host)

    def resumable_sessions(self, relay_id: str | None = None) -> list[ResumableSession]:
        """Open sessions with consent granted and both verifiers (of `relay_id` and of
        none, when given)."""
        return self._read(ledger.resumable_sessions, relay_id)

    def resumable_session(self, session_id: int) -> ResumableSession | None:
        """One session to take over, if it can still resume."""
        found = self._read(ledger.resumable_sessions, None, session_id)
        return found[0] if found else None

    def session_rows(self) -> list[dict[str, object]]:
        """Every session row as a mapping (for tests, tools and billing)."""
        return self._read(ledger.rows, "sessions")

    def checkpoint_rows(self) -> list[dict[str, object]]:
        return self._read(ledger.rows, "checkpoints")

    def consent_rows(self) -> list[dict[str, object]]:
        return self._read(ledger.rows, "consents")

    def billable_sessions(
        self, month: str, technician: str | None = None, customer: str | None = None
    ) -> list[tuple[Any, ...]]:
        return self._read(ledger.billable_sessions, month, technician, customer)

    def latest_ended(self, number: str) -> tuple[str | None, str] | None:
        return self._read(ledger.latest_ended, number)

    def checkpoints_for(self, number: str, registered_by: str) -> list[StoredCheckpoint]:
        return self._read(ledger.checkpoints_for, number, registered_by)

    # the tariff

    def tariff(self) -> Tariff:
        """The operator's tariff (the defaults until one is saved)."""
        return self._read(ledger.tariff) or Tariff()

    def save_tariff(self, tariff: Tariff) -> None:
        self._read(ledger.save_tariff, now_text(), tariff)

    # several relays

    def register_relay(
        self, relay_id: str, public_url: str, fingerprint: str | None, now: float
    ) -> None:
        self._read(shared.register_relay, now_text(), relay_id, public_url, fingerprint, now)

    def heartbeat(self, relay_id: str, now: float) -> bool:
        return self._read(shared.heartbeat, relay_id, now)

    def retire_relay(self, relay_id: str, gone_since: float = 0.0) -> None:
        self._read(shared.retire_relay, relay_id, gone_since)

    def relays(self, now: float, stale_after: float) -> list[RelayRecord]:
        return self._read(shared.relays, now, stale_after)

    def allocate_session_number(self, relay_id: str, now: float, tombstone_seconds: float) -> str:
        return self._read(shared.allocate_session_number, relay_id, now, tombstone_seconds)

    def release_session_number(self, number: str, now: float, relay_id: str | None = None) -> None:
        self._read(shared.release_session_number, number, now, relay_id)

    def locate_session(self, number: str, now: float, stale_after: float) -> SessionLocation | None:
        return self._read(shared.locate_session, number, now, stale_after)

    def claim_session(self, session_id: int, relay_id: str, now: float, stale_after: float) -> bool:
        return self._read(shared.claim_session, session_id, relay_id, now, stale_after)

    def close_orphaned_sessions(self, reason: str, now: float, stale_after: float) -> list[int]:
        return self._read(shared.close_orphaned_sessions, now_text(), reason, now, stale_after)

    def take_rate_token(self, key: str, limit: RateLimit, now: float) -> bool:
        for_update = self.backend.dialect.for_update
        return self._read(shared.take_rate_token, for_update, key, limit, now)

    def rate_key_blocked(self, key: str, now: float) -> bool:
        return self._read(shared.rate_key_blocked, key, now)

    def forget_rate_buckets(self, now: float, idle_seconds: float) -> int:
        return self._read(shared.forget_rate_buckets, now, idle_seconds)

    def create_sign_in(self, technician_id: int, now: float, ttl_seconds: float) -> str:
        return self._read(shared.create_sign_in, now_text(), technician_id, now, ttl_seconds)

    def technician_for_sign_in(self, token: str, now: float) -> Technician | None:
        return self._read(shared.technician_for_sign_in, token, now)

    def end_sign_in(self, token: str) -> None:
        self._read(shared.end_sign_in, token)

    def forget_expired_sign_ins(self, now: float) -> int:
        return self._read(shared.forget_expired_sign_ins, now)


def configured_database(given: str | None) -> str | None:
    """The database URL from `--database`, else from the environment (None: SQLite)."""
    return given or os.environ.get(DATABASE_ENV) or None


def open_database(
    target: str | None,
    *,
    data_dir: Path | None = None,
    read_only: bool = False,
    migrate: bool | None = None,
) -> Database:
    """The database at `target` (a postgresql:// URL), or the SQLite ledger in `data_dir`.

    Read-only (invoices, `recording verify`) neither migrates nor writes. Raises
    `DatabaseUnavailable` (PostgreSQL not reachable) or `DatabaseError` (no ledger)."""
    if target:
        if not is_postgres_url(target):
            raise DatabaseError("--database takes a postgresql://... URL (SQLite: --data-dir)")
        backend: Backend = PostgresBackend(target)
    else:
        if data_dir is None:
            raise DatabaseError("give --database postgresql://... or --data-dir DIR")
        path = data_dir / LEDGER_FILE
        if read_only and not path.is_file():
            raise DatabaseError(f"no ledger in {data_dir} (expected {LEDGER_FILE})")
        backend = SqliteBackend(path, read_only=read_only)
    try:
        return Database(
            backend,
            data_dir=None if read_only else data_dir,
            migrate=not read_only if migrate is None else migrate,
        )
    except BaseException:
        backend.close()
        raise
