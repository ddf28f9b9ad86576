"""Recording overhead on the viewer: file size against frame bytes, and CPU per frame.

    python3 benchmarks/recording.py [--frames 600] [--rounds 7]

Two made-up 1280x720 sessions, the frame updates encoded as the host agent would
(64x64 tiles, JPEG for the "photo" session, PNG for the "typing" one, a fill tile where
a tile is one colour). For each frame update the viewer decodes it, applies it to its
`Framebuffer` and sends an Ack, one Cursor in four frames; with recording on it also
writes these messages to a real `RecordingFile` (a checkpoint with fsync every 300
frames: every 30 s at 10 frames/s).

Two such viewers, one recording and one not, go through the same frames side by side in
one process, taking turns every `BLOCK_FRAMES` frames (which one goes first alternates),
and each one's process time (user and system, the fsyncs included) is added up. Load
from other processes, which makes every cache colder and every system call dearer, then
hits both alike: measured in separate whole runs (as this benchmark did before), the
photo difference of the same code on this 2-core machine went from -14 % in one run to
+23 % in another. Prints, per session:

- file size / frame-update bytes received (goal <= 1.05)
- viewer CPU per frame without and with recording and the difference (goal < 5 %): the
  median over the rounds, then every round's difference, so that the spread shows
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageDraw  # noqa: E402

from endpoint.recorder import RecordingFile  # noqa: E402
from protocol import messages  # noqa: E402
from protocol.handshake import Role  # noqa: E402
from protocol.messages import Codec, Tile  # noqa: E402
from protocol.recording import RecordingHeader  # noqa: E402
from viewer.framebuffer import Framebuffer  # noqa: E402

WIDTH, HEIGHT = 1280, 720
TILE = 64
ROUNDS = 7
BLOCK_FRAMES = 10  # each viewer's turn
CHECKPOINT_EVERY_FRAMES = 300  # every 30 s at 10 frames per second
CURSOR = messages.encode(messages.Cursor(100, 100, True))
START = 1_714_572_000.0


def encode_tile(image: Image.Image, x: int, y: int, codec: Codec) -> Tile:
    crop = image.crop((x, y, x + TILE, y + TILE))
    colours = crop.getcolors(1)
    if colours:
        return Tile(x, y, TILE, TILE, Codec.FILL, bytes(colours[0][1]))
    out = io.BytesIO()
    if codec is Codec.JPEG:
        crop.save(out, "JPEG", quality=75)
    else:
        crop.save(out, "PNG", compress_level=1)
    return Tile(x, y, TILE, TILE, codec, out.getvalue())


def make_session(kind: str, frames: int, seed: int = 7) -> list[bytes]:
    """The plaintexts of the frame updates of a session."""
    rng = random.Random(seed)
    screen = Image.new("RGB", (WIDTH, HEIGHT), (250, 250, 250))
    draw = ImageDraw.Draw(screen)
    codec = Codec.JPEG if kind == "photo" else Codec.PNG
    updates = []
    for seq in range(frames):
        if kind == "photo":  # a moving picture in a 320x192 window
            left, top = 320, 192
            for _ in range(400):
                x, y = left + rng.randrange(320), top + rng.randrange(192)
                colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                draw.ellipse((x, y, x + 12, y + 12), fill=colour)
            box = (left, top, left + 320, top + 192)
        else:  # a few characters typed into a terminal line
            line = (seq // 40) % 20
            x = 16 + (seq % 40) * 24
            y = 40 + line * 32
            draw.text((x, y), rng.choice("abcdefghijklmnopqrstuvwxyz"), fill=(20, 20, 20))
            box = (x, y, x + 24, y + 32)
        tiles = tuple(
            encode_tile(screen, tx, ty, codec)
            for ty in range(box[1] // TILE * TILE, box[3], TILE)
            for tx in range(box[0] // TILE * TILE, box[2], TILE)
        )
        if seq == 0:
            tiles = (Tile(0, 0, WIDTH, HEIGHT, Codec.FILL, bytes((250, 250, 250))), *tiles)
        update = messages.FrameUpdate(seq, 1_714_572_000.0 + seq / 10, WIDTH, HEIGHT, tiles)
        updates.append(messages.encode(update))
    return updates


def header() -> RecordingHeader:
    return RecordingHeader(
        Role.VIEWER, "482139", "Erika Muster", "wss://relay", START, WIDTH, HEIGHT,
        bytes(32),
    )  # fmt: skip


def run_frames(
    updates: list[bytes],
    first: int,
    framebuffer: Framebuffer,
    recording: RecordingFile | None,
) -> None:
    """What the viewer does for frame updates number `first` on (of 10 per second)."""
    for number, plaintext in enumerate(updates, start=first):
        now = START + (number + 1) / 10
        if recording is not None:
            recording.received(now, plaintext)
        update = messages.decode(plaintext)
        framebuffer.apply(update)
        ack = messages.encode(messages.Ack(update.seq))
        if recording is not None:
            recording.sent(now, ack)
        if number % 4 == 0:
            messages.decode(CURSOR)
            if recording is not None:
                recording.received(now, CURSOR)
        if recording is not None and number % CHECKPOINT_EVERY_FRAMES == 0:
            recording.checkpoint(now)


def run_round(updates: list[bytes], recording: RecordingFile) -> tuple[float, float]:
    """Process seconds of a viewer without and of one with recording, turn by turn."""
    plain_framebuffer, recorded_framebuffer = Framebuffer(), Framebuffer()
    plain = recorded = 0.0
    for turn, first in enumerate(range(0, len(updates), BLOCK_FRAMES)):
        block = updates[first : first + BLOCK_FRAMES]
        for recorded_now in (False, True) if turn % 2 == 0 else (True, False):
            start = time.process_time()
            if recorded_now:
                run_frames(block, first, recorded_framebuffer, recording)
                recorded += time.process_time() - start
            else:
                run_frames(block, first, plain_framebuffer, None)
                plain += time.process_time() - start
    start = time.process_time()
    recording.close(START + len(updates) / 10, "benchmark")
    recorded += time.process_time() - start
    return plain, recorded


def measure(kind: str, frames: int, rounds: int) -> None:
    updates = make_session(kind, frames)
    frame_bytes = sum(map(len, updates))
    results = []
    size = 0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            recording = RecordingFile.create(Path(folder), header())
            results.append(run_round(updates, recording))
            assert recording.path is not None
            size = recording.path.stat().st_size
            recording.path.unlink()
    differences = sorted(100 * (recorded - plain) / plain for plain, recorded in results)
    plain = statistics.median(plain for plain, _ in results) / frames
    recorded = statistics.median(recorded for _, recorded in results) / frames
    extra = statistics.median(recorded - plain for plain, recorded in results) / frames
    print(
        f"{kind:>6}: {frames} frames, {frame_bytes / frames / 1000:7.1f} kB/frame | "
        f"file/frame bytes {size / frame_bytes:.4f} | viewer CPU/frame "
        f"{plain * 1e3:6.3f} ms without, {recorded * 1e3:6.3f} ms with "
        f"recording: {statistics.median(differences):+5.1f} % ({extra * 1e6:5.1f} us/frame), "
        f"median of {rounds} rounds: {' '.join(f'{d:+.1f}' for d in differences)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    for kind in ("photo", "typing"):
        measure(kind, args.frames, args.rounds)


if __name__ == "__main__":
    main()
