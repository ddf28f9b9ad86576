"""Generated 1280x720 video clips of different character, for the video benchmark and tests.

Whatever a clip shows, the host agent should recognise it as video by how it behaves (it
changes in most frames, no copy explains it, tiles would cost more than H.264): issue 25.
Each clip is CLIP_FRAMES frames (one second at 30 frames/s, played in a loop), BGRA uint8
arrays (rows, columns, 4), made from fixed seeds with numpy and Pillow (no files):

- photo: the peer benchmark's clip, a panning 1/f-noise landscape under a smooth sky with a
  moving glow (benchmarks/peer/imagery.py);
- pattern: a test pattern of flat colour bars with sharp edges, a scrolling ramp, a moving
  box, a sweeping hand and a frame counter;
- cartoon: flat-coloured layers (clouds, hills, a rolling ball) scrolling at different
  speeds, as an animated film pans;
- screencast: a recorded screen: a page of text scrolling smoothly by a fraction of a pixel
  per frame (resampled, so no copy explains it), as a screen recording plays back.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CLIP_WIDTH, CLIP_HEIGHT = 1280, 720
CLIP_FRAMES = 30
SEED = 2512


def _bgra(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    frame = np.empty((rgb.shape[0], rgb.shape[1], 4), dtype=np.uint8)
    frame[..., 2::-1] = rgb
    frame[..., 3] = 255
    return frame


def photo(frames: int = CLIP_FRAMES) -> list[np.ndarray]:
    from benchmarks.peer.imagery import VIDEO_HEIGHT, VIDEO_WIDTH, video_frames

    return [
        np.frombuffer(frame, dtype=np.uint8).reshape(VIDEO_HEIGHT, VIDEO_WIDTH, 4).copy()
        for frame in video_frames(frames)
    ]


BARS = ((192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192),
        (192, 0, 0), (0, 0, 192))  # fmt: skip
DIGITS_FONT_PIXELS = 64


def pattern(frames: int = CLIP_FRAMES) -> list[np.ndarray]:
    """Colour bars, a grey ramp scrolling 12 px a frame, a white box crossing the bars,
    a hand sweeping a circle and a frame counter."""
    result = []
    bar_width = CLIP_WIDTH // len(BARS)
    ramp = np.tile(np.linspace(0, 255, 256, dtype=np.float32), CLIP_WIDTH // 256 + 2)
    font = ImageFont.load_default(DIGITS_FONT_PIXELS)
    for index in range(frames):
        image = Image.new("RGB", (CLIP_WIDTH, CLIP_HEIGHT), (16, 16, 16))
        draw = ImageDraw.Draw(image)
        for number, colour in enumerate(BARS):
            draw.rectangle((number * bar_width, 0, (number + 1) * bar_width - 1, 420), fill=colour)
        box_left = (index * 40) % (CLIP_WIDTH - 160)
        draw.rectangle((box_left, 120, box_left + 160, 300), fill=(255, 255, 255))
        centre, radius = (1000, 570), 110
        draw.ellipse((centre[0] - radius, centre[1] - radius, centre[0] + radius,
                      centre[1] + radius), outline=(255, 255, 255), width=6)  # fmt: skip
        angle = 2 * math.pi * index / frames
        tip = (centre[0] + radius * math.sin(angle), centre[1] - radius * math.cos(angle))
        draw.pieslice((centre[0] - radius, centre[1] - radius, centre[0] + radius,
                       centre[1] + radius), -90, -90 + 360 * index / frames,
                      fill=(60, 60, 200))  # fmt: skip
        draw.line((centre, tip), fill=(255, 255, 0), width=8)
        draw.text((80, 520), f"{index:04d}", fill=(255, 255, 255), font=font)
        frame = _bgra(image)
        shift = (index * 12) % 256
        band = ramp[shift : shift + CLIP_WIDTH].astype(np.uint8)
        frame[430:470, :, 0] = frame[430:470, :, 1] = frame[430:470, :, 2] = band
        result.append(frame)
    return result


def cartoon(frames: int = CLIP_FRAMES) -> list[np.ndarray]:
    """Sky, clouds, far and near hills and a ball in flat colours, each layer scrolling at
    its own speed (parallax), the ball rolling along the near hills."""
    rng = np.random.default_rng(SEED)
    clouds = [(float(rng.uniform(0, 2 * CLIP_WIDTH)), float(rng.uniform(40, 220)),
               float(rng.uniform(80, 200))) for _ in range(6)]  # fmt: skip
    xs = np.arange(CLIP_WIDTH + 1, dtype=np.float32)
    result = []
    for index in range(frames):
        image = Image.new("RGB", (CLIP_WIDTH, CLIP_HEIGHT), (120, 190, 250))
        draw = ImageDraw.Draw(image)
        for left, top, width in clouds:
            x = (left - 3 * index) % (2 * CLIP_WIDTH) - width
            draw.ellipse((x, top, x + width, top + width * 0.45), fill=(250, 250, 255))
        for speed, base, height, period, colour in (
            (4, 430, 90, 420.0, (90, 140, 110)),
            (10, 540, 70, 260.0, (60, 170, 70)),
        ):
            tops = base - height * np.sin((xs + speed * index) / period * 2 * math.pi) ** 2
            outline = [(0, CLIP_HEIGHT), *zip(xs.tolist(), tops.tolist(), strict=True),
                       (CLIP_WIDTH, CLIP_HEIGHT)]  # fmt: skip
            draw.polygon(outline, fill=colour)
        ball_x = 200 + 25 * index
        ball_y = 470 - abs(80 * math.sin(index / frames * 3 * math.pi))
        draw.ellipse((ball_x, ball_y, ball_x + 90, ball_y + 90), fill=(230, 60, 50),
                     outline=(40, 20, 20), width=4)  # fmt: skip
        result.append(_bgra(image))
    return result


SCREENCAST_PIXELS_PER_FRAME = 3.5


def screencast(frames: int = CLIP_FRAMES) -> list[np.ndarray]:
    """A page of text under a title bar, scrolling 3.5 px a frame (resampled)."""
    from benchmarks.peer.pages import document

    page = np.asarray(document().convert("RGB"), dtype=np.float32)[96:, 300:1580]
    page = np.concatenate([page, page], axis=0)
    result = []
    for index in range(frames):
        offset = index * SCREENCAST_PIXELS_PER_FRAME
        top, fraction = int(offset), offset - int(offset)
        rows = page[top : top + CLIP_HEIGHT + 1]
        blended = rows[:-1] * (1 - fraction) + rows[1:] * fraction
        frame = np.empty((CLIP_HEIGHT, CLIP_WIDTH, 4), dtype=np.uint8)
        frame[..., 2::-1] = blended.astype(np.uint8)
        frame[:40, :, :3] = (70, 60, 50)  # the recorded window's title bar stays
        frame[..., 3] = 255
        result.append(frame)
    return result


CLIPS = {"photo": photo, "pattern": pattern, "cartoon": cartoon, "screencast": screencast}
