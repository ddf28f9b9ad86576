"""Read a child process's stdout lines without blocking the event loop."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import IO

POLL_SECONDS = 0.1


class LineReader:
    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # end of stream

    async def wait_for(self, predicate, timeout: float = 15.0) -> str:  # type: ignore[no-untyped-def]
        """The first line (from now on) for which `predicate` is true."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    # A short timeout, so no thread stays blocked (and eats a line) later.
                    line = await asyncio.to_thread(self.lines.get, True, POLL_SECONDS)
                except queue.Empty:
                    continue
                self.seen.append(line)
                if predicate(line):
                    return line
