"""The host agent's screen stream: capture and send frame updates while the customer
shares and the link is up, under flow control.

`HostAgent` holds one `Streamer` and runs it as a task. The agent says when sharing
starts or holds (`start`, `hold`), when the picture must be sent whole again (`restart`,
after a resume or a monitor switch), and when an ack came (`acked`). A capture that was
running while any of these happened is discarded: each bumps the stream's generation,
and an update is only sent when the generation it was captured in is still current.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from host_agent.flow import ADAPT_HOLD_SECONDS, FlowControl
from host_agent.pipeline import FramePipeline
from host_agent.updates import PreparedUpdate
from protocol import messages


class Streamer:
    def __init__(
        self,
        pipeline: FramePipeline,
        flow: FlowControl,
        executor: Executor,
        link_up: asyncio.Event,
        send: Callable[[messages.Message], Awaitable[None]],
    ) -> None:
        self._pipeline = pipeline
        self._flow = flow
        self._executor = executor
        self._link_up = link_up
        self._send = send
        self._sharing = asyncio.Event()
        self._acked = asyncio.Event()
        self._generation = 0
        self._last_pointer: tuple[int, int] | None = None
        self.frames_sent = 0

    @property
    def sharing(self) -> bool:
        return self._sharing.is_set()

    def start(self) -> None:
        """The customer shares: a whole picture first."""
        if not self._sharing.is_set():
            self.restart()
            self._sharing.set()

    def hold(self) -> None:
        """Paused, denied or ended: nothing more is captured or sent; the capture in
        flight ends now, not at the next change."""
        self._generation += 1
        self._sharing.clear()
        self._pipeline.wake()

    def restart(self) -> None:
        """Send the whole picture next (after a resume, a monitor switch)."""
        self._generation += 1
        self._pipeline.request_full()

    def switched(self) -> None:
        """Another monitor is shared (the pipeline sends it whole by itself)."""
        self._generation += 1

    def acked(self) -> None:
        self._acked.set()

    async def run(self) -> None:
        """Until cancelled; raises what sending raises (RecordingFailed, FernwartungError)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._sharing.wait()
            await self._link_up.wait()
            if not self._flow.can_send():
                self._acked.clear()
                try:
                    async with asyncio.timeout(ADAPT_HOLD_SECONDS):
                        await self._acked.wait()
                except TimeoutError:
                    self._flow.adapt(time.monotonic())
                continue
            step = self._flow.step
            started = loop.time()
            generation = self._generation
            # Waits in the capture thread until there is something to send (or a wake).
            change = await loop.run_in_executor(
                self._executor, self._pipeline.next_change, step.jpeg_quality, self._last_pointer
            )
            update, pointer = change.update, change.pointer
            discard = (
                generation != self._generation  # paused or switched while capturing
                or not self._sharing.is_set()
                or not self._link_up.is_set()  # the connection dropped while capturing
            )
            if discard:
                if update is not None:
                    # The pipeline counts what it produced as sent; it was not.
                    self._pipeline.request_full()
                continue
            if update is not None:
                await self._send_update(update)
            if pointer != self._last_pointer:
                self._last_pointer = pointer
                x, y = pointer if pointer is not None else (0, 0)
                await self._send(messages.Cursor(x=x, y=y, visible=pointer is not None))
            delay = step.frame_interval_seconds - (loop.time() - started)
            if delay > 0:
                await asyncio.sleep(delay)  # pacing to the frame rate, not waiting for an event

    async def _send_update(self, update: PreparedUpdate) -> None:
        seq = self._flow.on_sent(update.size_bytes, time.monotonic())
        await self._send(update.message(seq))
        self.frames_sent += 1
