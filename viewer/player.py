"""`fernwartung recording play`: a Tk window that replays a recording.

The picture is rebuilt with the viewer's own `Framebuffer`, frame update by frame update,
at the recorded timing times the chosen speed. Beside it, the inputs, their outcome (in
the host's copy), consent changes, pauses, chat and checkpoints, the current one
selected. Seeking backwards rebuilds the picture from the first frame update.
"""

from __future__ import annotations

import bisect
import time as clock
import tkinter as tk
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageTk

from viewer.export import format_stamp
from viewer.framebuffer import Framebuffer
from viewer.recording_timeline import Timeline, read_frame, scan

TICK_MILLISECONDS = 40
SPEEDS = ("0.25", "0.5", "1", "2", "4", "8", "16")
MAX_DISPLAY_PIXELS = (1280, 800)  # larger screens are shown scaled down
SEEK_RESOLUTION_SECONDS = 0.1
EVENT_LIST_CHARS = 48


class Player:
    """The player's window and its state; `step` advances it (the timer calls it)."""

    def __init__(self, root: tk.Tk, timeline: Timeline, stream: BinaryIO) -> None:
        self.root = root
        self.timeline = timeline
        self._stream = stream
        self._start = timeline.header.start_time
        self.duration = timeline.duration
        # Seconds since the recording started; it opens at the first picture, not on the
        # black of the time before the customer's consent.
        self.first_picture = timeline.frames[0].time - self._start if timeline.frames else 0.0
        self.position = self.first_picture
        self.speed = 1.0
        self.playing = False
        self.frames_shown = 0  # frame updates applied to the picture so far
        self._framebuffer = Framebuffer()
        self._frame_times = [entry.time - self._start for entry in timeline.frames]
        self._event_times = [event.time - self._start for event in timeline.events]
        self._last_tick = clock.monotonic()
        self._photo: ImageTk.PhotoImage | None = None
        self._seeking_by_program = False
        self._timer: str | None = None
        self._build()
        self._show()
        self._timer = root.after(TICK_MILLISECONDS, self._tick)

    def _build(self) -> None:
        header = self.timeline.header
        self.root.title(f"fernwartung - session {header.session} - {header.technician}")
        body = tk.Frame(self.root)
        body.pack(fill=tk.BOTH, expand=True)
        self.picture = tk.Label(body, background="black")
        self.picture.pack(side=tk.LEFT, fill=tk.BOTH, expand=True)
        self.events = tk.Listbox(body, width=EVENT_LIST_CHARS, exportselection=False)
        self.events.pack(side=tk.RIGHT, fill=tk.Y)
        for when, event in zip(self._event_times, self.timeline.events, strict=True):
            self.events.insert(tk.END, f"{when:8.2f}s  {event.category:<10} {event.text}")
        controls = tk.Frame(self.root)
        controls.pack(fill=tk.X)
        self.play_button = tk.Button(controls, text="Play", width=6, command=self.toggle)
        self.play_button.pack(side=tk.LEFT)
        self.seek_bar = tk.Scale(
            controls,
            from_=0.0,
            to=max(self.duration, SEEK_RESOLUTION_SECONDS),
            resolution=SEEK_RESOLUTION_SECONDS,
            orient=tk.HORIZONTAL,
            showvalue=False,
            command=self._seek_by_user,
        )
        self.seek_bar.pack(side=tk.LEFT, fill=tk.X, expand=True)
        self.speed_choice = tk.StringVar(value="1")
        tk.OptionMenu(
            controls, self.speed_choice, *SPEEDS, command=lambda v: self.set_speed(float(v))
        ).pack(side=tk.LEFT)
        self.clock_label = tk.Label(controls, width=52, anchor=tk.W)
        self.clock_label.pack(side=tk.LEFT)
        self.root.protocol("WM_DELETE_WINDOW", self.close)

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.position >= self.duration:
            self.seek(self.first_picture)
        self.playing = True
        self._last_tick = clock.monotonic()
        self.play_button.configure(text="Pause")

    def pause(self) -> None:
        self.playing = False
        self.play_button.configure(text="Play")

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self.speed_choice.set(f"{speed:g}")

    def seek(self, seconds: float) -> None:
        seconds = min(max(0.0, seconds), self.duration)
        shown_until = self._frame_times[self.frames_shown - 1] if self.frames_shown else -1.0
        if seconds < shown_until:  # backwards: rebuild from the first frame update
            self._framebuffer = Framebuffer()
            self.frames_shown = 0
        self.position = seconds
        self._show()

    def step(self, wall_seconds: float) -> None:
        """Advance by `wall_seconds` of real time at the chosen speed."""
        if self.playing:
            self.position = min(self.duration, self.position + wall_seconds * self.speed)
            if self.position >= self.duration:
                self.pause()
        self._show()

    def close(self) -> None:
        if self._timer is not None:
            self.root.after_cancel(self._timer)
            self._timer = None
        self.root.destroy()

    def _tick(self) -> None:
        now = clock.monotonic()
        self.step(now - self._last_tick)
        self._last_tick = now
        self._timer = self.root.after(TICK_MILLISECONDS, self._tick)

    def _seek_by_user(self, value: str) -> None:
        # The bar's own echo of a position set by the program arrives later and rounded
        # to its resolution: only a move by more than that is the reviewer's.
        if not self._seeking_by_program and (
            abs(float(value) - self.position) > SEEK_RESOLUTION_SECONDS / 2
        ):
            self.seek(float(value))

    def _show(self) -> None:
        due = bisect.bisect_right(self._frame_times, self.position)
        changed = due > self.frames_shown
        while self.frames_shown < due:
            entry = self.timeline.frames[self.frames_shown]
            self._framebuffer.apply(read_frame(self._stream, entry))
            self.frames_shown += 1
        if changed or self._photo is None:
            self._draw()
        self._seeking_by_program = True
        try:
            self.seek_bar.set(self.position)
        finally:
            self._seeking_by_program = False
        self.clock_label.configure(text=format_stamp(self.timeline, self._start + self.position))
        current = bisect.bisect_right(self._event_times, self.position) - 1
        self.events.selection_clear(0, tk.END)
        if current >= 0:
            self.events.selection_set(current)
            self.events.see(current)

    def _draw(self) -> None:
        image = self._framebuffer.snapshot()
        if image is None:
            header = self.timeline.header
            size = (max(header.screen_width, 1), max(header.screen_height, 1))
            image = Image.new("RGB", size)
        image.thumbnail(MAX_DISPLAY_PIXELS)
        self._photo = ImageTk.PhotoImage(image)
        self.picture.configure(image=self._photo)


def play(path: Path) -> None:
    """Open the player window for `path` and run it until it is closed."""
    with path.open("rb") as stream:
        timeline = scan(stream)
        root = tk.Tk()
        Player(root, timeline, stream)
        root.mainloop()
