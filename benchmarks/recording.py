"""Recording overhead on the viewer: file size against frame bytes, and CPU per frame.

    python3 benchmarks/recording.py [--frames 600]

Two made-up 1280x720 sessions, the frame updates encoded as the host agent would
(64x64 tiles, JPEG for the "photo" session, PNG for the "typing" one, a fill tile where
a tile is one colour). For each frame update the viewer decodes it, applies it to its
`Framebuffer` and sends an Ack, one Cursor in four frames; with recording on it also
writes both messages to a real `RecordingFile` (a checkpoint with fsync every 300
frames: every 30 s at 10 frames/s). Prints:

- file size / frame-update bytes received (goal <= 1.05)
- viewer CPU per frame (process time, user and system, the best of 5 alternating rounds)
  without and with recording, and the difference (goal < 5 %); the system time of the
  fsyncs (flushing the file to disk) is part of it
"""

from __future__ import annotations

import argparse
import io
import random
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from protocol import messages
from protocol.handshake import Role
from protocol.messages import Codec, Tile
from protocol.recording import RecordingHeader
from viewer.framebuffer import Framebuffer
from viewer.recorder import RecordingFile

WIDTH, HEIGHT = 1280, 720
TILE = 64
ROUNDS = 5
CHECKPOINT_EVERY_FRAMES = 300  # every 30 s at 10 frames per second


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
        Role.VIEWER, "482139", "Erika Muster", "wss://relay", 1_714_572_000.0, WIDTH, HEIGHT,
        bytes(32),
    )  # fmt: skip


def run_viewer(updates: list[bytes], recording: RecordingFile | None) -> float:
    """Process seconds the viewer spends on these frame updates."""
    framebuffer = Framebuffer()
    cursor = messages.encode(messages.Cursor(100, 100, True))
    start = time.process_time()
    now = 1_714_572_000.0
    for number, plaintext in enumerate(updates):
        now += 0.1
        if recording is not None:
            recording.received(now, plaintext)
        update = messages.decode(plaintext)
        framebuffer.apply(update)
        ack = messages.encode(messages.Ack(update.seq))
        if recording is not None:
            recording.sent(now, ack)
        if number % 4 == 0:
            messages.decode(cursor)
            if recording is not None:
                recording.received(now, cursor)
        if recording is not None and number % CHECKPOINT_EVERY_FRAMES == 0:
            recording.checkpoint(now)
    if recording is not None:
        recording.close(now, "benchmark")
    return time.process_time() - start


def measure(kind: str, frames: int) -> None:
    updates = make_session(kind, frames)
    frame_bytes = sum(map(len, updates))
    without, with_recording = [], []
    size = 0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(ROUNDS):
            without.append(run_viewer(updates, None))
            recording = RecordingFile.create(Path(folder), header())
            with_recording.append(run_viewer(updates, recording))
            assert recording.path is not None
            size = recording.path.stat().st_size
            recording.path.unlink()
    plain, recorded = min(without), min(with_recording)
    print(
        f"{kind:>6}: {frames} frames, {frame_bytes / frames / 1000:7.1f} kB/frame | "
        f"file/frame bytes {size / frame_bytes:.4f} | viewer CPU/frame "
        f"{plain / frames * 1e3:6.3f} ms without, {recorded / frames * 1e3:6.3f} ms with "
        f"recording: {100 * (recorded - plain) / plain:+5.1f} % "
        f"({(recorded - plain) / frames * 1e6:5.1f} us/frame)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    args = parser.parse_args()
    for kind in ("photo", "typing"):
        measure(kind, args.frames)


if __name__ == "__main__":
    main()
