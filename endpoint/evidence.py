"""One side's evidence recording of a live session, as a session shell drives it.

The viewer and the host agent both use it (`viewer/evidence.py`, `host_agent/evidence.py`
make it for their side). It wraps `endpoint.recorder.RecordingFile` with what a running
session needs: the file is created when the session's first end-to-end message is due
(the screen geometry is known then), a clock for checkpoints, and the end. The shell
keeps the order rules of `endpoint/recorder.py`: record each received message before
acting on it, record each outgoing one right before sealing it, and seal a checkpoint's
message next.

The end of a recorded session, so that both files hold both final checkpoints (the
`RECORDING_CAPABILITY` in a Hello says the peer records and takes part):

    the ending side:  Checkpoint, Bye; then it reads on until the peer's Bye
                      (at most END_EXCHANGE_TIMEOUT_SECONDS); END record; final report
                      (`close` returns it) to the relay; relay End; close
    the other side:   on Bye: Checkpoint, Bye; then it waits for the relay's End
                      (at most END_EXCHANGE_TIMEOUT_SECONDS); END record; final report
                      (the relay keeps its connection LINGER_SECONDS for it); close
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from endpoint.recorder import RecordingFile
from protocol import control
from protocol.errors import RecordingFailed
from protocol.handshake import Role
from protocol.messages import MAX_REASON_CHARS
from protocol.recording import CHAIN_BYTES, CHECKPOINT_INTERVAL_SECONDS, RecordingHeader, outgoing
from protocol.recording_writer import CheckpointWritten

# Announced in Hello.capabilities by a side that records and exchanges final checkpoints.
RECORDING_CAPABILITY = "recording"
END_EXCHANGE_TIMEOUT_SECONDS = 3.0
# The terms hash of a side that was not shown the terms (the viewer): all zeros.
TERMS_NOT_SHOWN = bytes(CHAIN_BYTES)
MAX_RELAY_CHARS = 500


@dataclass(frozen=True, slots=True)
class EvidenceSettings:
    directory: Path
    relay: str  # the relay's URL, as this side used it
    terms_hash: bytes = TERMS_NOT_SHOWN
    customer: str = ""
    checkpoint_interval_seconds: float = CHECKPOINT_INTERVAL_SECONDS


class SessionEvidence:
    """The recording of one session on one side: NEW -> RECORDING -> CLOSED (or FAILED)."""

    def __init__(
        self,
        side: Role,
        settings: EvidenceSettings,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.side = side
        self.settings = settings
        self.failure: str | None = None
        self._clock = wall_clock
        self._monotonic = monotonic
        self._file: RecordingFile | None = None
        self._next_checkpoint = 0.0
        self.final_checkpoint_sent = False
        self._ending = False

    @property
    def path(self) -> Path | None:
        return self._file.path if self._file is not None else None

    @property
    def started(self) -> bool:
        """The file exists: every message must pass it from now on (it raises once failed)."""
        return self._file is not None

    @property
    def recording(self) -> bool:
        """True between `start` and the end, unless writing failed."""
        return self._file is not None and not self._file.closed and self.failure is None

    @property
    def ended(self) -> bool:
        """The END record is next or written: nothing more may be recorded."""
        return self._ending and self.failure is None

    def end_next(self) -> None:
        """Mark, on the event loop, that `close` (run in a thread) writes the END record next:
        from now on `ended` is True, so nothing arriving meanwhile is recorded after it."""
        if self.recording:
            self._ending = True

    @property
    def file(self) -> RecordingFile:
        if self._file is None:
            raise RecordingFailed("the recording was not started")
        return self._file

    def start(
        self,
        session: str,
        technician: str,
        width: int,
        height: int,
        terms_hash: bytes | None = None,
    ) -> None:
        """Create the file (its header); raises RecordingFailed when it cannot be.

        `terms_hash`: the terms the customer was shown, when this side learnt it from the
        peer (the viewer, from the host's Hello); otherwise the settings' own."""
        header = RecordingHeader(
            side=self.side,
            session=session,
            technician=technician[:64],
            relay=self.settings.relay[:MAX_RELAY_CHARS],
            start_time=self._clock(),
            screen_width=width,
            screen_height=height,
            terms_hash=self.settings.terms_hash if terms_hash is None else terms_hash,
            customer=self.settings.customer,
        )
        self._file = self._guard(RecordingFile.create, self.settings.directory, header)
        self._next_checkpoint = self._monotonic() + self.settings.checkpoint_interval_seconds

    def sent(self, plaintext: bytes) -> int:
        """Record an outgoing message; call right before sealing it."""
        return self._guard(self.file.sent, self._clock(), plaintext)

    def received(self, plaintext: bytes) -> int:
        """Record a message from the peer before acting on it; its index in its direction.

        A received Checkpoint that disagrees with what was recorded raises ProtocolError.
        """
        return self._guard(self.file.received, self._clock(), plaintext)

    def input_outcome(self, index: int, applied: bool, reason: str) -> None:
        self._guard(self.file.input_outcome, self._clock(), index, applied, reason)

    def gap(self, reason: str) -> None:
        """Note in the recording what it cannot show (a dropped connection, say)."""
        if self.recording:
            self._guard(self.file.gap, self._clock(), reason[:MAX_REASON_CHARS])

    def checkpoint_due(self) -> bool:
        return self.recording and self._monotonic() >= self._next_checkpoint

    def checkpoint(self, *, final: bool = False) -> CheckpointWritten:
        """Write a checkpoint (not yet fsync'd): seal `.plaintext` next, then `report`."""
        written = self._guard(self.file.checkpoint, self._clock(), sync=False)
        self._next_checkpoint = self._monotonic() + self.settings.checkpoint_interval_seconds
        self.final_checkpoint_sent = self.final_checkpoint_sent or final
        return written

    @staticmethod
    def report(written: CheckpointWritten) -> control.Checkpoint:
        """The relay's copy of a checkpoint, for its ledger: traffic and file chain heads."""
        return control.Checkpoint(
            records=written.message.records,
            head=written.message.head,
            file_records=written.file_records,
            file_head=written.file_head.hex(),
        )

    async def sync(self) -> None:
        """fsync in a worker thread, off the event loop."""
        await asyncio.to_thread(self._guard, self.file.sync)

    def close(self, reason: str) -> control.Checkpoint | None:
        """The END record and the last fsync; nothing is written after it.

        Returns the final report for the relay (None when nothing was recorded): this
        side's outgoing traffic chain and its file chain with the END record, so the end
        and the times of the last records are anchored in the ledger too.
        """
        if not self.recording:
            return None
        self._ending = True
        heads = self._guard(self.file.close, self._clock(), reason[:MAX_REASON_CHARS])
        records, head = heads.traffic(outgoing(self.side))
        return control.Checkpoint(
            records=records,
            head=head,
            file_records=heads.file_records,
            file_head=heads.file_head.hex(),
        )

    def abandon(self) -> None:
        """After a failure: close the file as it is (it verifies as cut)."""
        if self._file is not None:
            self._file.abandon()

    def _guard(self, action, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run a file action; the first RecordingFailed is kept and raised again."""
        if self.failure is not None:
            raise RecordingFailed(self.failure)
        try:
            return action(*args, **kwargs)
        except RecordingFailed as error:
            self.failure = str(error)
            with contextlib.suppress(OSError):
                self.abandon()
            raise


__all__ = [
    "END_EXCHANGE_TIMEOUT_SECONDS",
    "RECORDING_CAPABILITY",
    "TERMS_NOT_SHOWN",
    "EvidenceSettings",
    "SessionEvidence",
]
