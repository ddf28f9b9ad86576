"""Video stage: a region that changes in most frames and looks like a photo goes to H.264.

Which region: every 64-pixel tile counts the captures it changed in over the last
VIDEO_WINDOW_SECONDS. Tiles changing at least VIDEO_MIN_CHANGES_PER_SECOND times a second
are "hot"; the box around the largest group of touching hot tiles becomes a video region
when it is at least VIDEO_MIN_SIDE_PIXELS on each side and its pixels are photo-like
(the same flat-share measure that picks JPEG over lossless, see encode.py). A flat
animation (a colour change) stays fill rectangles, a terminal stays lossless. The region
is kept while it stays hot; after VIDEO_IDLE_SECONDS without a change, or when the hot
box moves elsewhere, the stream ends and its area is re-sent losslessly once still, like
any lossy region.

How: libx264 through PyAV with preset ultrafast and tune zerolatency (no B-frames, no
look-ahead: each picture in gives its packet out at once), a constant rate factor chosen
by flow control's quality step, and a key frame whenever a stream starts (on join,
resume, resize and the viewer's refresh request the pipeline starts a new stream).
"""

from __future__ import annotations

import collections
from fractions import Fraction
from typing import Any

import numpy as np

from host_agent.damage.tiles import TILE_PIXELS, Rect, clusters

VIDEO_WINDOW_SECONDS = 1.0
VIDEO_MIN_CHANGES_PER_SECOND = 10
VIDEO_MIN_SIDE_PIXELS = 128
VIDEO_IDLE_SECONDS = 1.0
# Below this share of pixels equal to their left neighbour a region is photo-like.
VIDEO_MAX_FLAT_SHARE = 0.3
# Overlap (intersection over union) below which a hot box counts as a different region.
VIDEO_SAME_REGION_OVERLAP = 0.5
VIDEO_CODEC = "libx264"
# Constant rate factor by JPEG quality of flow control's step: better link, better picture.
CRF_BY_JPEG_QUALITY = ((80, 26), (70, 28), (55, 31), (40, 34), (0, 37))
VIDEO_KEYFRAME_INTERVAL_FRAMES = 100_000  # key frames only when the pipeline asks


def crf_for(jpeg_quality: int) -> int:
    for quality, crf in CRF_BY_JPEG_QUALITY:
        if jpeg_quality >= quality:
            return crf
    return CRF_BY_JPEG_QUALITY[-1][1]


def flat_share(values: np.ndarray) -> float:
    """Share of pixels equal to their left neighbour in a (rows, columns) uint32 block."""
    if values.shape[1] < 2:
        return 1.0
    equal = np.count_nonzero(values[:, 1:] == values[:, :-1])
    return float(equal) / (values.shape[0] * (values.shape[1] - 1))


def overlap(a: Rect, b: Rect) -> float:
    """Intersection over union of two rectangles."""
    width = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    height = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.area + b.area - inter)


class HotTiles:
    """How often each tile changed during the last VIDEO_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self._history: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._counts: np.ndarray | None = None

    def reset(self) -> None:
        self._history.clear()
        self._counts = None

    def observe(self, dirty: np.ndarray, now: float) -> None:
        if self._counts is None or self._counts.shape != dirty.shape:
            self.reset()
            self._counts = np.zeros(dirty.shape, dtype=np.int32)
        self._history.append((now, dirty.copy()))
        self._counts += dirty
        while self._history and now - self._history[0][0] > VIDEO_WINDOW_SECONDS:
            _, old = self._history.popleft()
            self._counts -= old

    def hot_box(self, height: int, width: int) -> Rect | None:
        """The pixel box around the hot tiles (None: no tile is hot)."""
        if self._counts is None:
            return None
        hot = self._counts >= VIDEO_MIN_CHANGES_PER_SECOND * VIDEO_WINDOW_SECONDS
        groups = clusters(hot)
        if not groups:
            return None
        top, left, bottom, right = groups[0]  # the largest group of hot tiles
        top, left = top * TILE_PIXELS, left * TILE_PIXELS
        bottom, right = min(height, bottom * TILE_PIXELS), min(width, right * TILE_PIXELS)
        return Rect(left, top, right - left, bottom - top)


def even_rect(rect: Rect) -> Rect:
    """`rect` shrunk to even sides (H.264 4:2:0 needs them)."""
    return Rect(rect.x, rect.y, rect.width - rect.width % 2, rect.height - rect.height % 2)


def prepare_video() -> None:
    """Import PyAV ahead of the first video region (about 0.1 s the first time), so that
    region's first picture is not late; the pipeline calls it with a full update."""
    import av  # noqa: F401


class VideoEncoder:
    """One H.264 stream of a fixed-size region; BGRA pixels in, Annex B packets out."""

    def __init__(self, width: int, height: int, crf: int) -> None:
        import av  # a heavy import: only for a viewer that announced video

        self._av = av
        context: Any = av.CodecContext.create(VIDEO_CODEC, "w")
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, 1000)
        context.gop_size = VIDEO_KEYFRAME_INTERVAL_FRAMES
        context.max_b_frames = 0
        context.thread_count = 1
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "crf": str(crf),
            "forced-idr": "1",
        }
        context.open()
        self._context = context
        self._pts = 0
        self.crf = crf
        self.width, self.height = width, height
        # One BGRA picture reused for every frame: the pixels are copied straight into its
        # plane (one copy, no allocation) instead of through a new contiguous array and a
        # new frame each time.
        self._picture = av.VideoFrame(width, height, "bgra")
        plane = self._picture.planes[0]
        self._picture_pixels = (
            np.frombuffer(plane, dtype=np.uint8)
            .reshape(height, plane.line_size)[:, : width * 4]
            .reshape(height, width, 4)
        )

    def encode(self, pixels: np.ndarray, keyframe: bool) -> tuple[bytes, bool]:
        """One packet for one picture: (Annex B bytes, is a key frame)."""
        av = self._av
        self._picture_pixels[...] = pixels
        frame = self._picture.reformat(format="yuv420p")
        frame.pts = self._pts
        self._pts += 1
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        packets = self._context.encode(frame)
        data = b"".join(bytes(packet) for packet in packets)
        return data, any(packet.is_keyframe for packet in packets)

    def close(self) -> None:
        self._context = None
