"""The viewer without a window, for automation and benchmarks.

It keeps the framebuffer, writes `--stats`, plays `--input-script` (format in
viewer/input_script.py), ends by itself after `--seconds`, and saves `--snapshot` at the
end. Messages for the technician go to stderr.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from viewer.client import (
    ChatReceived,
    ClientSettings,
    FrameApplied,
    Phase,
    StatusChanged,
    ViewerClient,
    ViewerEvent,
)
from viewer.evidence import viewer_evidence
from viewer.input_script import ScriptStep
from viewer.outcome import Outcome
from viewer.stats import StatsFile

# The first frame can take this long after consent (a full 4K screen, losslessly encoded).
FIRST_FRAME_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class HeadlessOptions:
    stats_path: Path | None = None
    snapshot_path: Path | None = None
    script: tuple[ScriptStep, ...] = ()
    record_directory: Path | None = None  # None: not recorded (main.py says so aloud)


class HeadlessViewer:
    """Runs one session without a display."""

    def __init__(
        self,
        settings: ClientSettings,
        options: HeadlessOptions,
        *,
        say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    ) -> None:
        self._options = options
        self._say = say
        self._stats = StatsFile(options.stats_path) if options.stats_path else None
        self._first_frame = asyncio.Event()
        self._last_phase: Phase | None = None
        self.client = ViewerClient(
            settings,
            on_event=self._on_event,
            on_stat=self._stats.write if self._stats else lambda stat: None,
            evidence=(
                viewer_evidence(options.record_directory, settings.relay_url, settings.customer)
                if options.record_directory is not None
                else None
            ),
        )

    async def run(self) -> Outcome:
        companions = [self._play_script] if self._options.script else []
        try:
            outcome = await self.client.run(companions)
        finally:
            if self._stats is not None:
                self._stats.close()
        evidence = self.client.evidence
        if evidence is not None and evidence.path is not None:
            state = "incomplete, " + evidence.failure if evidence.failure else "complete"
            self._say(f"Recording ({state}): {evidence.path}")
        if self._options.snapshot_path is not None:
            await asyncio.to_thread(self._save_snapshot, self._options.snapshot_path)
        return outcome

    def _save_snapshot(self, path: Path) -> None:
        image = self.client.framebuffer.snapshot()
        if image is None:
            self._say("No frame was received: the snapshot was not written.")
            return
        image.save(path)

    def _on_event(self, event: ViewerEvent) -> None:
        if isinstance(event, FrameApplied):
            self._first_frame.set()
        elif isinstance(event, StatusChanged):
            status = event.status
            if status.phase is not self._last_phase:
                self._last_phase = status.phase
                self._say(f"Session {status.session_number}: {status.phase.value}")
        elif isinstance(event, ChatReceived):
            self._say(f"Chat from the customer: {event.text}")

    async def _play_script(self, client: ViewerClient) -> None:
        try:
            async with asyncio.timeout(FIRST_FRAME_TIMEOUT_SECONDS):
                await self._first_frame.wait()
        except TimeoutError:
            self._say("No frame arrived in time: the input script was not played.")
            return
        start = time.monotonic()
        for step in self._options.script:
            delay = start + step.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for message in step.messages:
                await client.send(message)
