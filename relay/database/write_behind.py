"""The write-behind queue: ledger writes of live sessions that wait, in order, while the
database cannot be reached, and go in as soon as it can again.

Only writes about sessions that already have a row wait here (a pairing, a consent
receipt, a checkpoint, a failed try, a verifier, byte counts, the end of a session); each
carries the time of its event, and each is idempotent (relay/database/ledger_tables.py), so
one that may or may not have reached the database before the connection broke is simply
run again. Reads and new sessions never wait: they fail at once with
`DatabaseUnavailable`.

Limits: at most `WRITE_BEHIND_MAX_WRITES` writes wait. Beyond that a write is refused with
`WriteBehindFull` and `on_full` is called once per outage: the relay is then expected to
end its live sessions (their evidence could no longer be kept). The ends of sessions have
room of their own beyond the limit (`WRITE_BEHIND_RESERVED_ENDS`, one per session a relay
can hold), so ending every live session is always kept. A database object closed while
writes still wait saves them to `pending-writes.jsonl` in the data dir, and the next one
opened with that data dir sends them first; only a relay killed during an outage loses
what waited in its memory.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.database.errors import DatabaseUnavailable, WriteBehindFull
from relay.limits import MAX_SESSIONS

# About five minutes of every checkpoint of a full relay (5,000 sessions, two sides, one
# checkpoint each every 30 s), a few hundred bytes each in memory.
WRITE_BEHIND_MAX_WRITES = 100_000
WRITE_BEHIND_RESERVED_ENDS = MAX_SESSIONS
SPILL_FILE = "pending-writes.jsonl"
ENDING_WRITES = frozenset({"close_session"})


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """One write as data: the statement function's name, the event's time, the arguments
    (JSON values only, so waiting writes can be saved to a file)."""

    name: str
    at: str
    args: tuple[Any, ...]

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "at": self.at, "args": list(self.args)})

    @classmethod
    def from_json(cls, line: str) -> PendingWrite:
        raw = json.loads(line)
        return cls(str(raw["name"]), str(raw["at"]), tuple(raw["args"]))


class WriteBehind:
    """Writes in order: at once while the database answers, queued while it does not.
    Not thread-safe on its own: `Database` calls it under its lock."""

    def __init__(
        self,
        run: Callable[[PendingWrite], Any],
        *,
        max_writes: int = WRITE_BEHIND_MAX_WRITES,
        reserved_ends: int = WRITE_BEHIND_RESERVED_ENDS,
        on_full: Callable[[], None] | None = None,
        on_dropped: Callable[[PendingWrite, Exception], None] | None = None,
    ) -> None:
        self._run = run
        self.max_writes = max_writes
        self._reserved_ends = reserved_ends
        self.on_full = on_full
        self._on_dropped = on_dropped
        self._pending: collections.deque[PendingWrite] = collections.deque()
        self._full_reported = False
        self.written_late = 0  # writes that waited and then went in
        self.refused = 0  # writes refused because the queue was full

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, write: PendingWrite) -> Any:
        """Write now and return what the write returns, or queue the write behind earlier
        ones and return None; `WriteBehindFull` when there is no room."""
        if self.flush():
            try:
                return self._run(write)
            except DatabaseUnavailable:
                pass
        self._hold(write)
        return None

    def flush(self) -> bool:
        """Send waiting writes in order until one cannot go; True when none waits."""
        while self._pending:
            write = self._pending[0]
            try:
                self._run(write)
            except DatabaseUnavailable:
                return False
            except Exception as error:  # noqa: BLE001 - one bad write must not block the rest
                if self._on_dropped is not None:
                    self._on_dropped(write, error)
            self._pending.popleft()
            self.written_late += 1
        self._full_reported = False
        return True

    def _hold(self, write: PendingWrite) -> None:
        room = self.max_writes
        if write.name in ENDING_WRITES:
            room += self._reserved_ends
        if len(self._pending) >= room:
            self.refused += 1
            if not self._full_reported:
                self._full_reported = True
                if self.on_full is not None:
                    self.on_full()
            raise WriteBehindFull(
                f"the database is unreachable and {len(self._pending)} writes already wait"
            )
        self._pending.append(write)

    # across a stop during an outage

    def save(self, path: Path) -> int:
        """Write the waiting writes to `path` (replacing it); how many."""
        if not self._pending:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        spare = path.with_name(path.name + ".new")
        with open(spare, "w", encoding="utf-8", opener=_private) as out:
            for write in self._pending:
                out.write(write.to_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(spare, path)
        return len(self._pending)

    def load(self, path: Path) -> int:
        """Queue the writes a closed database object saved to `path` (before any new one)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        loaded = [PendingWrite.from_json(line) for line in text.splitlines() if line.strip()]
        self._pending.extendleft(reversed(loaded))
        return len(loaded)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)
