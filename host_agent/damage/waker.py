"""Wake a thread that sleeps in select(), from any other thread: a self-pipe.

The capture thread sleeps on its X connection with no timeout while the screen is still;
the streaming task must still be able to get it back (pause, another monitor, a full
update, the end of the session). `wake` writes one byte the sleeper's select() sees.
"""

from __future__ import annotations

import contextlib
import os
import threading

READ_CHUNK_BYTES = 64


class Waker:
    def __init__(self) -> None:
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._read_end, False)
        os.set_blocking(self._write_end, False)
        # A wake racing with close must not write to a closed (or reused) descriptor.
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        """The descriptor to select() on for reading."""
        return self._read_end

    def wake(self) -> None:
        """From any thread: make the sleeper's select() return (now, or at its next call)."""
        with self._lock:
            if self._closed:
                return
            # BlockingIOError: the pipe is full of wakes already, the sleeper will see them.
            with contextlib.suppress(BlockingIOError):
                os.write(self._write_end, b"\0")

    def clear(self) -> bool:
        """Take back the wakes sent so far; True if there were any."""
        woken = False
        while True:
            try:
                chunk = os.read(self._read_end, READ_CHUNK_BYTES)
            except BlockingIOError:
                return woken
            if not chunk:
                return woken
            woken = True

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._read_end)
            os.close(self._write_end)
