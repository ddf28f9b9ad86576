"""The scenarios of a customer's slow line (issue 25), drawn as the other workloads are.

- typing-video: keys typed into a terminal (top left) while a 1280x720 video plays at
  30 frames/s elsewhere on the screen (bottom right); the typed characters are stamped
  `typed` and timed on their own.
- fullscreen: every FULLSCREEN_CYCLE_SECONDS another maximised application window comes
  to the front (a document, a settings dialog, a web page with a photograph; pages.py),
  stamped `maximise`: the whole screen changes at once, then stays still.
- video-stop: the video plays for VIDEO_STOP_PLAY_SECONDS, then stops on its last frame
  (stamped `stop`) and the screen stays still for VIDEO_STOP_STILL_SECONDS.

The last two wait for the benchmark's signal that the measured window is open
(scene.wait_for_go), so their events fall inside it; WINDOW_SECONDS says how long a
window they need.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from Xlib import X

from .imagery import VIDEO_HEIGHT, VIDEO_WIDTH, video_frames
from .pages import PAGE_HEIGHT, PAGE_WIDTH, pages
from .scene import SCREEN_HEIGHT, SCREEN_WIDTH, EventLog, Scene, ticks, wait_for_go

VIDEO_FRAMES_PER_SECOND = 30
VIDEO_LOOP_FRAMES = 30
TYPING_EVERY_FRAMES = 3  # 10 characters a second beside 30 video frames
TYPING_LINE_CHARACTERS = 60
# Letters and spaces only: Scene.key finds their keysyms by name.
TYPED_TEXT = "ping the printserver then check the spooler and restart the service "
TERMINAL_GEOMETRY = "80x24+20+20"
VIDEO_LEFT = SCREEN_WIDTH - VIDEO_WIDTH - 20  # apart from the terminal: nothing overlaps
VIDEO_TOP = SCREEN_HEIGHT - VIDEO_HEIGHT - 20
VIDEO_REGION = (VIDEO_LEFT, VIDEO_TOP, VIDEO_WIDTH, VIDEO_HEIGHT)
FULLSCREEN_CYCLE_SECONDS = 8.0
VIDEO_STOP_PLAY_SECONDS = 10.0
VIDEO_STOP_STILL_SECONDS = 5.0
WINDOW_SECONDS = {
    "fullscreen": 3 * FULLSCREEN_CYCLE_SECONDS,
    "video-stop": VIDEO_STOP_PLAY_SECONDS + VIDEO_STOP_STILL_SECONDS,
}


class _Video:
    """A 1280x720 window showing the peer clip, its frames uploaded once to pixmaps."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.window = scene.window(VIDEO_LEFT, VIDEO_TOP, VIDEO_WIDTH, VIDEO_HEIGHT, (0, 0, 0))
        self.gc = scene.gc(self.window, (0, 0, 0))
        self.pixmaps = [
            scene.upload(self.window, VIDEO_WIDTH, VIDEO_HEIGHT, frame)
            for frame in video_frames(VIDEO_LOOP_FRAMES)
        ]

    def show(self, index: int) -> None:
        pixmap = self.pixmaps[index % len(self.pixmaps)]
        self.window.copy_area(self.gc, pixmap, 0, 0, VIDEO_WIDTH, VIDEO_HEIGHT, 0, 0)
        self.scene.display.flush()


def run_typing_video(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    terminal = scene.xterm("bench-typing-video", TERMINAL_GEOMETRY, ["cat", "-"])
    region = scene.region_of(terminal)
    scene.focus(terminal)
    video = _Video(scene)
    ready()
    typed = 0
    for index in ticks(VIDEO_FRAMES_PER_SECOND):
        log.change(time.time(), VIDEO_REGION)
        video.show(index)
        if index % TYPING_EVERY_FRAMES == 0:
            character = TYPED_TEXT[typed % len(TYPED_TEXT)]
            if typed % TYPING_LINE_CHARACTERS == TYPING_LINE_CHARACTERS - 1:
                character = "\n"
            typed += 1
            log.change(time.time(), region, characters=1, kind="typed")
            scene.key(character)


def run_fullscreen(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    windows = []
    for picture in pages():
        window = scene.window(0, 0, PAGE_WIDTH, PAGE_HEIGHT, (0, 0, 0), mapped=False)
        pixmap = scene.upload(window, PAGE_WIDTH, PAGE_HEIGHT, picture)
        window.change_attributes(background_pixmap=pixmap)
        windows.append(window)
    ready()
    wait_for_go()
    shown: set[int] = set()
    for cycle in ticks(1.0 / FULLSCREEN_CYCLE_SECONDS):
        number = cycle % len(windows)
        window = windows[number]
        log.change(time.time(), (0, 0, SCREEN_WIDTH, SCREEN_HEIGHT), kind="maximise")
        if number in shown:
            window.configure(stack_mode=X.Above)  # the X server paints its background
        else:
            window.map()
            shown.add(number)
        scene.display.flush()


def run_video_stop(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    video = _Video(scene)
    video.show(0)
    ready()
    wait_for_go()
    frames = round(VIDEO_STOP_PLAY_SECONDS * VIDEO_FRAMES_PER_SECOND)
    while True:
        for index in ticks(VIDEO_FRAMES_PER_SECOND):
            last = index == frames - 1
            log.change(time.time(), VIDEO_REGION, kind="stop" if last else "")
            video.show(index)
            if last:
                break
        time.sleep(VIDEO_STOP_STILL_SECONDS)  # the scenario itself: a still screen


SCENARIOS = {
    "typing-video": run_typing_video,
    "fullscreen": run_fullscreen,
    "video-stop": run_video_stop,
}
