"""Photo-like video frames for the `video` scenario, made with numpy (no files, no network).

The scene is a 1/f-noise "landscape" (the spectrum of natural photographs, so it compresses
like a photo, not like a flat UI) under a sky gradient, which the camera pans across while
a soft bright ball crosses it. Frames are BGRX bytes, as an X server with depth 24 and 32
bits per pixel takes them.
"""

from __future__ import annotations

import numpy as np

VIDEO_WIDTH = 1280
VIDEO_HEIGHT = 720
PAN_X_PIXELS_PER_FRAME = 6
PAN_Y_PIXELS_PER_FRAME = 2
SPECTRUM_EXPONENT = 1.8  # amplitude ~ 1/f^1.8 for the large shapes
TEXTURE_EXPONENT = 1.0  # flatter spectrum for foliage-like fine detail, as photographs have
BALL_RADIUS_PIXELS = 70
SEED = 20241125


def _pink_noise(
    rows: int, columns: int, rng: np.random.Generator, exponent: float = SPECTRUM_EXPONENT
) -> np.ndarray:
    """Noise with amplitude ~ 1/f^exponent (natural images: about 1 to 2), scaled to 0..1."""
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(columns)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / (
        radius**exponent
    )
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(rows, columns))
    field -= field.min()
    return (field / field.max()).astype(np.float32)


def landscape(frame_count: int) -> np.ndarray:
    """The whole scene the camera pans over, as float RGB 0..255 (rows, columns, 3)."""
    rows = VIDEO_HEIGHT + PAN_Y_PIXELS_PER_FRAME * frame_count
    columns = VIDEO_WIDTH + PAN_X_PIXELS_PER_FRAME * frame_count
    rng = np.random.default_rng(SEED)
    ground = _pink_noise(rows, columns, rng)
    detail = _pink_noise(rows, columns, rng)
    texture = _pink_noise(rows, columns, rng, TEXTURE_EXPONENT) - 0.5
    height = np.linspace(0.0, 1.0, rows)[:, None]
    horizon = 0.35 + 0.15 * ground[rows // 3]  # an uneven skyline
    is_sky = height < horizon[None, :]
    sky = np.stack([110 + 90 * height, 150 + 70 * height, 235 - 30 * height], axis=-1)
    sky = np.broadcast_to(sky, (rows, columns, 3)) + 25 * detail[..., None]
    land = (
        np.stack([60 + 140 * ground * detail, 90 + 120 * ground, 40 + 80 * detail], axis=-1)
        + 160 * texture[..., None]
    )
    return np.where(is_sky[..., None], sky, land).clip(0, 255)


def video_frames(frame_count: int) -> list[bytes]:
    """`frame_count` consecutive frames of the panning scene, BGRX, one `bytes` each."""
    scene = landscape(frame_count).astype(np.uint8)
    side = 2 * BALL_RADIUS_PIXELS
    ys, xs = np.mgrid[0:side, 0:side] - BALL_RADIUS_PIXELS
    glow = (np.clip(1.0 - np.hypot(xs, ys) / BALL_RADIUS_PIXELS, 0.0, 1.0) ** 0.5)[..., None]
    ball_colour = np.array([255.0, 220.0, 120.0])
    frames = []
    for index in range(frame_count):
        top = index * PAN_Y_PIXELS_PER_FRAME
        left = index * PAN_X_PIXELS_PER_FRAME
        bgrx = np.zeros((VIDEO_HEIGHT, VIDEO_WIDTH, 4), dtype=np.uint8)
        bgrx[..., 2::-1] = scene[top : top + VIDEO_HEIGHT, left : left + VIDEO_WIDTH]
        ball_left = int(VIDEO_WIDTH * (0.15 + 0.6 * index / frame_count))
        ball_top = int(VIDEO_HEIGHT * 0.5)
        patch = bgrx[ball_top : ball_top + side, ball_left : ball_left + side, 2::-1]
        patch[...] = patch * (1 - glow) + ball_colour * glow
        frames.append(bgrx.tobytes())
    return frames
