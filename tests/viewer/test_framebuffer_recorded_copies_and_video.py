"""A recording holding copies and video packets replays to the frames the viewer showed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from host_agent.pipeline import FramePipeline
from protocol import messages
from protocol.handshake import Role
from protocol.recording import RecordingHeader
from protocol.recording_writer import RecordingWriter
from tests.host_agent.screens import HEIGHT, WIDTH, SetSource, smooth_video, terminal, text_lines
from viewer.export import export, export_pngs
from viewer.framebuffer import Framebuffer
from viewer.recording_timeline import scan

START = 1_714_572_000.0
FRAME_SECONDS = 1 / 30


def screen(step: int, lines: list[np.ndarray]) -> np.ndarray:
    frame = terminal(lines, step)  # the terminal scrolls one line per step
    frame[320:576, 640:1024] = smooth_video(step, 384, 256)  # and a video plays beside it
    return frame


def record_session(tmp_path):
    """Run the pipeline into a viewer framebuffer and a viewer-side recording."""
    lines = text_lines(120)
    source = SetSource(screen(0, lines))
    pipeline = FramePipeline(lambda: source)
    pipeline.open()
    pipeline.accept_capabilities(messages.RICH_CAPABILITIES)
    writer = RecordingWriter(
        RecordingHeader(
            side=Role.VIEWER,
            session="482139",
            technician="Erika Muster",
            relay="wss://relay.example:8765",
            start_time=START,
            screen_width=WIDTH,
            screen_height=HEIGHT,
            terms_hash=bytes(32),
        )
    )
    data = bytearray(writer.header_bytes())
    live = Framebuffer()
    shown: list[np.ndarray] = []
    kinds: set[str] = set()
    for step in range(40):
        source.frame = screen(step, lines)
        update = pipeline.produce(80, now=step * FRAME_SECONDS)
        assert update is not None
        plaintext = messages.encode(update.message(len(shown) + 1))
        data += writer.received(START + step * FRAME_SECONDS, plaintext)
        message = messages.decode(plaintext)
        if isinstance(message, messages.ExtendedFrameUpdate):
            kinds |= {"copy"} if message.copies else set()
            kinds |= {"video"} if message.video else set()
        live.apply(message)
        shown.append(np.asarray(live.snapshot()))
    data += writer.end(START + 2.0, "the technician ended the session")
    path = tmp_path / "viewer.fwrec"
    path.write_bytes(bytes(data))
    return path, shown, kinds


def test_a_recording_with_copies_and_video_replays_to_the_same_frames(tmp_path):
    path, shown, kinds = record_session(tmp_path)
    assert kinds == {"copy", "video"}
    with path.open("rb") as stream:
        timeline = scan(stream)
    assert timeline.damage is None
    assert len(timeline.frames) == len(shown)
    exported = export_pngs(path, tmp_path / "pngs")
    assert exported.frames == len(shown)
    for number, expected in enumerate(shown, start=1):
        picture = np.asarray(Image.open(tmp_path / "pngs" / f"frame-{number:06d}.png"))
        assert np.array_equal(picture, expected), f"frame {number} differs"


def test_a_recording_with_video_exports_to_mp4(tmp_path):
    path, shown, _ = record_session(tmp_path)
    exported = export(path, tmp_path / "session.mp4")
    assert exported.frames == len(shown)
    assert (tmp_path / "session.mp4").stat().st_size > 0
