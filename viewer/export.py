"""Export a recording as an H.264 MP4 or as a folder of PNG frames.

The picture is rebuilt with the viewer's own `Framebuffer` (the very code that drew the
technician's screen), applying each recorded frame update in order.

- MP4: one video frame per frame update, at its recorded time (variable frame rate,
  millisecond time base, counted from the first frame update), with the session number
  and the recorded wall-clock time (UTC) and time since the start burned in at the top
  left. H.264 wants even sides: an odd width or height gets one black column or row.
- PNG folder: `frame-000001.png` ... with the pixels exactly as rebuilt (nothing burned
  in, so the pixels stay evidence) and `frames.csv` giving each frame's recorded time.
"""

from __future__ import annotations

import csv
import time as clock
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from viewer.framebuffer import Framebuffer
from viewer.recording_timeline import Timeline, read_frame, scan

MP4_TIME_BASE = Fraction(1, 1000)  # seconds per tick
MP4_CODEC = "libx264"
MP4_CRF = "23"  # libx264 quality: lower is better and larger
MP4_PRESET = "veryfast"
MIN_FONT_PIXELS = 10
FONT_FRACTION_OF_HEIGHT = 1 / 40
TEXT_MARGIN_PIXELS = 4


@dataclass(frozen=True, slots=True)
class Exported:
    path: Path
    frames: int
    duration: float  # seconds from the first to the last frame update
    damage: str | None = None  # where the file is damaged: what is after it is not exported


def utc_text(time: float, separator: str = " ") -> str:
    """Seconds since the epoch as UTC date and time with milliseconds."""
    wall = clock.strftime(f"%Y-%m-%d{separator}%H:%M:%S", clock.gmtime(time))
    return f"{wall}.{int((time % 1) * 1000):03d}"


def format_stamp(timeline: Timeline, time: float) -> str:
    """The burned-in line: session, UTC wall-clock time, time since the recording began."""
    elapsed = max(0.0, time - timeline.header.start_time)
    hours, rest = divmod(int(elapsed), 3600)
    minutes, seconds = divmod(rest, 60)
    return (
        f"session {timeline.header.session}  {utc_text(time)} UTC  "
        f"+{hours:02d}:{minutes:02d}:{seconds:02d}"
    )


def burn_in(image: Image.Image, text: str) -> Image.Image:
    """A copy of `image` with `text` on a black box at the top left."""
    stamped = image.copy()
    size = max(MIN_FONT_PIXELS, int(image.height * FONT_FRACTION_OF_HEIGHT))
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(stamped)
    origin = (TEXT_MARGIN_PIXELS, TEXT_MARGIN_PIXELS)
    _, _, right, bottom = draw.textbbox(origin, text, font=font)
    draw.rectangle((0, 0, right + TEXT_MARGIN_PIXELS, bottom + TEXT_MARGIN_PIXELS), fill="black")
    draw.text(origin, text, fill="white", font=font)
    return stamped


def _even(image: Image.Image) -> Image.Image:
    width, height = image.width + image.width % 2, image.height + image.height % 2
    if (width, height) == image.size:
        return image
    padded = Image.new("RGB", (width, height))
    padded.paste(image, (0, 0))
    return padded


def export(recording: Path, out: Path) -> Exported:
    """To `out`: an MP4 if it ends in .mp4, otherwise a folder of PNGs."""
    if out.suffix.lower() == ".mp4":
        return export_mp4(recording, out)
    return export_pngs(recording, out)


def _frames(recording: Path, timeline: Timeline):  # type: ignore[no-untyped-def]
    """(time, picture) for each frame update, rebuilt in order."""
    framebuffer = Framebuffer()
    with recording.open("rb") as stream:
        for entry in timeline.frames:
            framebuffer.apply(read_frame(stream, entry))
            picture = framebuffer.snapshot()
            assert picture is not None
            yield entry.time, picture


def _duration(timeline: Timeline) -> float:
    if not timeline.frames:
        return 0.0
    return timeline.frames[-1].time - timeline.frames[0].time


def export_mp4(recording: Path, out: Path) -> Exported:
    import av  # only for this export: a heavy import

    with recording.open("rb") as stream:
        timeline = scan(stream)
    if not timeline.frames:
        if timeline.damage is not None:
            raise ValueError(f"no frame update before the damage: {timeline.damage}")
        raise ValueError("the recording holds no frame updates to export")
    first = timeline.frames[0].time
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), mode="w") as container:
        video = None
        last_pts = -1
        for time, picture in _frames(recording, timeline):
            picture = _even(burn_in(picture, format_stamp(timeline, time)))
            if video is None:
                video = container.add_stream(
                    MP4_CODEC, options={"crf": MP4_CRF, "preset": MP4_PRESET}
                )
                video.width, video.height = picture.size
                video.pix_fmt = "yuv420p"
                video.time_base = MP4_TIME_BASE
                video.codec_context.time_base = MP4_TIME_BASE
                size = picture.size
            if picture.size != size:  # the screen changed size: keep the first size
                picture = picture.resize(size)
            frame = av.VideoFrame.from_image(picture)
            # Frames closer than a tick keep their order one tick apart.
            last_pts = max(round((time - first) / MP4_TIME_BASE), last_pts + 1)
            frame.pts = last_pts
            frame.time_base = MP4_TIME_BASE
            container.mux(video.encode(frame))
        assert video is not None
        container.mux(video.encode(None))
    return Exported(out, len(timeline.frames), _duration(timeline), timeline.damage)


def export_pngs(recording: Path, out: Path) -> Exported:
    with recording.open("rb") as stream:
        timeline = scan(stream)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "frames.csv").open("w", newline="", encoding="utf-8") as index:
        writer = csv.writer(index)
        writer.writerow(["file", "recorded_utc", "seconds_since_start"])
        for number, (time, picture) in enumerate(_frames(recording, timeline), start=1):
            name = f"frame-{number:06d}.png"
            picture.save(out / name, "PNG")
            wall = clock.strftime("%Y-%m-%dT%H:%M:%S", clock.gmtime(time))
            writer.writerow(
                [
                    name,
                    f"{wall}.{int((time % 1) * 1000):03d}Z",
                    f"{time - timeline.header.start_time:.3f}",
                ]
            )
    return Exported(out, len(timeline.frames), _duration(timeline), timeline.damage)
