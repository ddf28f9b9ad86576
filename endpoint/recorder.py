"""The recording file of one session, used by the viewer and by the host agent alike.

A thin shell around `protocol.recording_writer.RecordingWriter`: it owns the file, writes each
record as soon as it exists, with one system call (no buffering in this process, so a
crash loses at most the record being written; a message record's framing, payload and
CRC are gathered by `os.writev`, so the payload is not copied on its way), fsyncs at
checkpoints and at the end, and turns any failure to write (a full disk above all) into
`RecordingFailed`, after which the session must end without sending or showing anything
more.

    recording = RecordingFile.create(Path("recordings"), header)
    recording.received(now, event.plaintext)       # every Received, before acting on it
    plaintext = messages.encode(message)           # every message sent, acks included:
    recording.sent(now, plaintext)                 #   record, then seal and send at once
    send(session.seal_plaintext(plaintext))
    written = recording.checkpoint(now)            # every CHECKPOINT_INTERVAL_SECONDS
    send(session.seal_plaintext(written.plaintext))
    relay_send(control.Checkpoint(records=written.message.records, head=written.message.head,
                                  file_records=written.file_records,
                                  file_head=written.file_head.hex()))
    heads = recording.close(now, reason)           # END record, fsync, closed

Recording and sealing of outgoing messages must happen in the same order (record each
just before sealing it, with no await between): the peer checks the checkpoints against
the messages in the order it received them. The methods are safe to call from more than
one thread; `checkpoint(now, sync=False)` followed by `sync()` in a worker thread keeps
the fsync off an event loop.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import threading
import time as clock
from pathlib import Path
from typing import BinaryIO, NoReturn

from protocol.errors import RecordingFailed
from protocol.recording import Heads, RecordingHeader, incoming, outgoing
from protocol.recording_writer import CheckpointWritten, RecordingWriter, RecordPieces

FILE_SUFFIX = ".fwrec"
FILE_MODE = 0o600  # a recording shows the customer's screen: owner only
DIRECTORY_MODE = 0o700
MAX_NAME_ATTEMPTS = 100


def _describe(error: OSError, path: Path | None) -> str:
    where = f" ({path})" if path is not None else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the recording could not be written: the disk is full{where}"
    name = errno.errorcode.get(error.errno or 0, "unknown error")
    return f"the recording could not be written{where}: {name}"


class RecordingFile:
    """One session's recording on disk, append-only."""

    def __init__(self, stream: BinaryIO, header: RecordingHeader, path: Path | None = None) -> None:
        """Take an open, empty binary stream (unbuffered is best) and write the header."""
        self.path = path
        self.bytes_written = 0
        self._stream: BinaryIO | None = stream
        # An unbuffered file gets each message record with one os.writev; any other stream
        # (a buffered one, a test's fake disk) gets it joined, through its own write().
        self._descriptor = stream.fileno() if isinstance(stream, io.FileIO) else None
        self._writer = RecordingWriter(header)
        self._outgoing = outgoing(header.side)
        self._incoming = incoming(header.side)
        self._lock = threading.Lock()
        self._failure: str | None = None
        with self._lock:
            self._write(self._writer.header_bytes())

    @classmethod
    def create(cls, directory: Path | str, header: RecordingHeader) -> RecordingFile:
        """A new file named after the session, side and start time; never overwrites."""
        folder = Path(directory)
        stamp = clock.strftime("%Y%m%dT%H%M%SZ", clock.gmtime(header.start_time))
        stem = f"session-{header.session}-{header.side.value}-{stamp}"
        try:
            folder.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
                suffix = "" if attempt == 1 else f"-{attempt}"
                path = folder / f"{stem}{suffix}{FILE_SUFFIX}"
                try:
                    descriptor = os.open(
                        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
                    )
                except FileExistsError:
                    continue
                return cls(os.fdopen(descriptor, "wb", buffering=0), header, path)
        except OSError as error:
            raise RecordingFailed(_describe(error, folder)) from None
        raise RecordingFailed(f"the recording could not be created: too many files in {folder}")

    @property
    def closed(self) -> bool:
        return self._stream is None

    def heads(self) -> Heads:
        with self._lock:
            return self._writer.heads()

    def sent(self, time: float, plaintext: bytes) -> int:
        """Record an outgoing message; its index (from 0) in this side's direction."""
        with self._lock:
            self._write_message(self._writer.sent_pieces(time, plaintext))
            return self._writer.messages(self._outgoing) - 1

    def received(self, time: float, plaintext: bytes) -> int:
        """Record a message from the peer; its index (from 0) in the peer's direction."""
        with self._lock:
            self._write_message(self._writer.received_pieces(time, plaintext))
            return self._writer.messages(self._incoming) - 1

    def input_outcome(
        self, time: float, message_index: int, applied: bool, reason: str = ""
    ) -> None:
        """Host: whether the input `received` returned `message_index` for was applied."""
        with self._lock:
            self._write(self._writer.input_outcome(time, message_index, applied, reason))

    def gap(self, time: float, reason: str) -> None:
        with self._lock:
            self._write(self._writer.gap(time, reason))

    def checkpoint(self, time: float, *, sync: bool = True) -> CheckpointWritten:
        """Write a checkpoint (fsync'd unless sync=False); send `.plaintext` next."""
        with self._lock:
            written = self._writer.checkpoint(time)
            self._write(written.data)
        if sync:
            self.sync()
        return written

    def sync(self) -> None:
        """Make everything written so far durable."""
        with self._lock:
            stream = self._open_stream()
            try:
                os.fsync(stream.fileno())
            except OSError as error:
                self._fail(error)

    def close(self, time: float, reason: str) -> Heads:
        """Write the end record, fsync and close; the final heads to report to the relay."""
        with self._lock:
            self._write(self._writer.end(time, reason))
            stream = self._open_stream()
            try:
                os.fsync(stream.fileno())
                stream.close()
            except OSError as error:
                self._fail(error)
            self._stream = None
            return self._writer.heads()

    def abandon(self) -> None:
        """Close without an end record (after a failure); the file verifies as cut."""
        with self._lock:
            stream, self._stream = self._stream, None
            if stream is not None:
                try:
                    stream.close()
                except OSError as error:
                    self._failure = self._failure or _describe(error, self.path)

    def _open_stream(self) -> BinaryIO:
        if self._failure is not None:
            raise RecordingFailed(self._failure)
        if self._stream is None:
            raise RecordingFailed("the recording is already closed")
        return self._stream

    def _write(self, data: bytes) -> None:
        stream = self._open_stream()
        view = memoryview(data)
        try:
            while view:
                written = stream.write(view)
                if written is None:  # a non-blocking stream that would block
                    raise OSError(errno.EAGAIN, "write would block")
                view = view[written:]
            stream.flush()
        except OSError as error:
            self._fail(error)
        self.bytes_written += len(data)

    def _write_message(self, pieces: RecordPieces) -> None:
        """One message record, its pieces gathered by the kernel in one system call."""
        if self._descriptor is None or self._stream is None or self._failure is not None:
            self._write(b"".join(pieces))  # which raises once closed or failed
            return
        try:
            written = os.writev(self._descriptor, pieces)
        except OSError as error:
            self._fail(error)
        size = len(pieces[0]) + len(pieces[1]) + len(pieces[2])
        if written < size:  # a short write (the disk filling up, say): the rest as usual
            self.bytes_written += written
            self._write(b"".join(pieces)[written:])
            return
        self.bytes_written += size

    def _fail(self, error: OSError) -> NoReturn:
        self._failure = _describe(error, self.path)
        stream, self._stream = self._stream, None
        if stream is not None:
            # The first failure is the one worth reporting.
            with contextlib.suppress(OSError):
                stream.close()
        raise RecordingFailed(self._failure) from None
