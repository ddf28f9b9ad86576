"""The screen workloads, one per scenario, run as their own process on the display under test.

    python -m benchmarks.peer.workload SCENARIO --display :N --events FILE.jsonl

It sets the scene up (desktop colour, windows, terminals), prints `READY`, then changes the
screen as the scenario says until it is stopped (SIGTERM), writing one JSON line per change
(`at` wall-clock seconds taken just before the change is sent to the X server, `region`
x, y, width, height, `characters` typed, and for some a `kind`). The scenarios of a slow
line are in workload_links.py. Terminals are xterm, found with `xdotool search
--sync`; key presses go through XTEST (what xdotool uses) from this process so that each one
is stamped to the microsecond without a process start in between.
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress

from . import workload_links
from .imagery import VIDEO_HEIGHT, VIDEO_WIDTH, video_frames
from .scene import (
    SCREEN_HEIGHT,
    SCREEN_WIDTH,
    EventLog,
    Scene,
    Stopped,
    listen_for_go,
    ticks,
)

SQUARE_SIZE_PIXELS = 64
SQUARE_MIN_SECONDS = 0.2
SQUARE_MAX_SECONDS = 0.4
TYPING_CHARACTERS_PER_SECOND = 10
TYPING_LINE_CHARACTERS = 72
SCROLL_LINES_PER_SECOND = 50
DRAG_STEPS_PER_SECOND = 60
DRAG_PIXELS_PER_STEP = 8
ANIMATION_FRAMES_PER_SECOND = 30
ANIMATION_SHAPES = 16
VIDEO_FRAMES_PER_SECOND = 30
VIDEO_LOOP_FRAMES = 30  # one second of video, played in a loop
SEED = 8

TYPED_TEXT = (
    "the quick brown fox jumps over the lazy dog while the technician watches "
    "every key arrive on the other side of the relay "
)


def wait_forever() -> None:
    """Until SIGTERM (Stopped): the benchmark's other signal (GO_SIGNAL) ends a pause too."""
    while True:
        signal.pause()


def _static_text_command() -> list[str]:
    """A terminal showing a page of text and then waiting (cat reads a terminal nobody types in)."""
    return ["sh", "-c", "ls -l /usr/bin | head -n 40; exec cat > /dev/null"]


# Scenarios: each sets up, calls ready(), then changes the screen until Stopped.


def run_idle(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    scene.xterm("bench-idle", "100x40+200+150", _static_text_command())
    ready()
    wait_forever()


def run_square(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    x = (SCREEN_WIDTH - SQUARE_SIZE_PIXELS) // 2
    y = (SCREEN_HEIGHT - SQUARE_SIZE_PIXELS) // 2
    window = scene.window(x, y, SQUARE_SIZE_PIXELS, SQUARE_SIZE_PIXELS, (200, 40, 40))
    rng = random.Random(SEED)
    ready()
    while True:
        time.sleep(rng.uniform(SQUARE_MIN_SECONDS, SQUARE_MAX_SECONDS))
        gc = scene.gc(window, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        log.change(time.time(), (x, y, SQUARE_SIZE_PIXELS, SQUARE_SIZE_PIXELS))
        window.fill_rectangle(gc, 0, 0, SQUARE_SIZE_PIXELS, SQUARE_SIZE_PIXELS)
        scene.display.flush()
        gc.free()


def run_typing(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    terminal = scene.xterm("bench-typing", "100x30+300+200", ["cat", "-"])
    region = scene.region_of(terminal)
    scene.focus(terminal)
    ready()
    for typed in ticks(TYPING_CHARACTERS_PER_SECOND):
        character = TYPED_TEXT[typed % len(TYPED_TEXT)]
        if typed % TYPING_LINE_CHARACTERS == TYPING_LINE_CHARACTERS - 1:
            character = "\n"
        log.change(time.time(), region, characters=1)
        scene.key(character)


def run_scroll(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    """A log at 50 lines/s in a big terminal; the logger itself stamps each line it prints."""
    logger = [
        sys.executable, "-m", "benchmarks.peer.logger",
        "--events", scene.events_path + ".logger",
        "--lines-per-second", str(SCROLL_LINES_PER_SECOND),
    ]  # fmt: skip
    scene.xterm("bench-scroll", "160x60+40+40", logger)
    ready()
    wait_forever()


def run_drag(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    terminal = scene.xterm("bench-drag", "80x30+100+200", _static_text_command())
    x, y, width, height = scene.region_of(terminal)
    span = SCREEN_WIDTH - width - 200
    ready()
    for step in ticks(DRAG_STEPS_PER_SECOND):
        # back and forth across the screen with a gentle wave, as a hand drags
        travel = (step * DRAG_PIXELS_PER_STEP) % (2 * span)
        new_x = 100 + (travel if travel < span else 2 * span - travel)
        new_y = 200 + int(60 * math.sin(step / 20))
        region = (min(x, new_x), min(y, new_y), width + abs(new_x - x), height + abs(new_y - y))
        log.change(time.time(), region)
        terminal.configure(x=new_x, y=new_y)
        scene.display.flush()
        x, y = new_x, new_y


def run_animation(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    """Full-screen: bouncing coloured blocks over a dark backdrop, like a screen saver."""
    background = (16, 18, 32)
    window = scene.window(0, 0, SCREEN_WIDTH, SCREEN_HEIGHT, background)
    eraser = scene.gc(window, background)
    rng = random.Random(SEED)
    shapes = [
        [rng.randrange(SCREEN_WIDTH - 200), rng.randrange(SCREEN_HEIGHT - 200),
         rng.choice((-1, 1)) * rng.randint(4, 14), rng.choice((-1, 1)) * rng.randint(4, 14),
         rng.randint(60, 180)]
        for _ in range(ANIMATION_SHAPES)
    ]  # fmt: skip
    pens = [scene.gc(window, (rng.randrange(80, 256), rng.randrange(80, 256), 200))
            for _ in range(ANIMATION_SHAPES)]  # fmt: skip
    ready()
    for _ in ticks(ANIMATION_FRAMES_PER_SECOND):
        log.change(time.time(), (0, 0, SCREEN_WIDTH, SCREEN_HEIGHT))
        for shape, pen in zip(shapes, pens, strict=True):
            x, y, dx, dy, size = shape
            window.fill_rectangle(eraser, x, y, size, size)
            if not 0 <= x + dx <= SCREEN_WIDTH - size:
                shape[2] = dx = -dx
            if not 0 <= y + dy <= SCREEN_HEIGHT - size:
                shape[3] = dy = -dy
            shape[0], shape[1] = x + dx, y + dy
            window.fill_rectangle(pen, x + dx, y + dy, size, size)
        scene.display.flush()


def run_video(scene: Scene, log: EventLog, ready: Callable[[], None]) -> None:
    """A 1280x720 photo-like clip at 30 fps: frames uploaded once, then copied server-side."""
    x = (SCREEN_WIDTH - VIDEO_WIDTH) // 2
    y = (SCREEN_HEIGHT - VIDEO_HEIGHT) // 2
    window = scene.window(x, y, VIDEO_WIDTH, VIDEO_HEIGHT, (0, 0, 0))
    gc = scene.gc(window, (0, 0, 0))
    pixmaps = [
        scene.upload(window, VIDEO_WIDTH, VIDEO_HEIGHT, frame)
        for frame in video_frames(VIDEO_LOOP_FRAMES)
    ]
    ready()
    for index in ticks(VIDEO_FRAMES_PER_SECOND):
        log.change(time.time(), (x, y, VIDEO_WIDTH, VIDEO_HEIGHT))
        window.copy_area(gc, pixmaps[index % len(pixmaps)], 0, 0, VIDEO_WIDTH, VIDEO_HEIGHT, 0, 0)
        scene.display.flush()


SCENARIOS = {
    "idle": run_idle,
    "square": run_square,
    "typing": run_typing,
    "scroll": run_scroll,
    "drag": run_drag,
    "animation": run_animation,
    "video": run_video,
    **workload_links.SCENARIOS,
}


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    def on_term(signum: int, frame: object) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--display", required=True)
    parser.add_argument("--events", required=True, metavar="FILE.jsonl")
    args = parser.parse_args(argv)

    def ready() -> None:
        print("READY", flush=True)

    listen_for_go()
    with _stop_on_sigterm(), ExitStack() as stack, open(args.events, "w") as stream:
        scene = Scene(args.display, args.events, stack)
        with suppress(Stopped):  # SIGTERM is how the benchmark ends every workload
            SCENARIOS[args.scenario](scene, EventLog(stream), ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
