"""Video stage: a region that behaves like video goes to H.264, whatever it shows.

Which region: every 64-pixel tile counts the captures it changed in over the last
VIDEO_WINDOW_SECONDS (and, when captures are rare because flow control holds them on a
slow link, over the last VIDEO_MIN_CHANGED_CAPTURES captures, at most
VIDEO_MAX_WINDOW_SECONDS back). Tiles changing at least VIDEO_MIN_CHANGES_PER_SECOND times
a second are "hot", and so are tiles that changed in nearly every capture of the window
when flow control lets fewer captures through. What a copy (a scroll, a dragged window) or
a rects tile (blocks on a backdrop) explains is not a change here: the pipeline takes it
out first. The box around the largest group of touching hot tiles, without its plain
margins, is a candidate when it is at least VIDEO_MIN_SIDE_PIXELS on each side and at
least VIDEO_MIN_CHANGED_PIXELS of it changed (video_region); a candidate goes to H.264 when
its tiles cost more per picture than H.264 would (video_cost.py: the signal, its margins
and its figures on clips of different character). The tile grid adds still margins
around a playing video, most often plain desktop or page background: they are left out of
the region, as they would be encoded with every picture. The region is kept while it stays
hot; after VIDEO_IDLE_SECONDS without a change, or when the hot box moves elsewhere, the
stream ends and its area is re-sent losslessly once still, like any lossy region.

How: libx264 through PyAV with preset ultrafast and tune zerolatency (no B-frames, no
look-ahead: each picture in gives its packet out at once). Quality is a constant rate
factor chosen by flow control's quality step, capped by a VBV maximum rate so a busy clip
stays inside the video budget (issue #11: 720p at 30 frames/s in at most 700 KB/s). The
encoder's clock is a nominal VIDEO_NOMINAL_FRAMES_PER_SECOND, one tick per picture: both
the rate factor and the cap are per second of that clock (with a millisecond clock and one
tick per picture x264 believed in 1000 pictures/s, which lowered quality and made the cap
starve pictures down to 9 dB). A key frame comes only when a stream starts: on join,
resume, resize and the viewer's refresh request the pipeline starts a new stream, and
when flow control's quality step changes (down at once, up only after a few seconds, see
`VideoEncoder.restarts_for`). Preset ultrafast does not look for scene cuts.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from host_agent.damage.tiles import TILE_PIXELS, Rect, clusters
from host_agent.picture import tile_slices
from protocol.messages import Codec, Tile

VIDEO_WINDOW_SECONDS = 1.0
VIDEO_MIN_CHANGES_PER_SECOND = 10
# With fewer captures: a change in at least this share of them, and at least this many.
VIDEO_MIN_CHANGED_SHARE = 0.8
VIDEO_MIN_CHANGED_CAPTURES = 4
# How far back the last VIDEO_MIN_CHANGED_CAPTURES captures are kept when fewer came in
# the window: a link of 1 Mbit/s lets a few updates of a 720p clip through a second. (Not
# further: something that changes once a second is not video.)
VIDEO_MAX_WINDOW_SECONDS = 2.5
VIDEO_MIN_SIDE_PIXELS = 128
# A region is judged on the pixels that changed in it; fewer than this (the edge of a
# line of text reaching into a hot box, say) say nothing about how the region behaves.
VIDEO_MIN_CHANGED_PIXELS = 64 * 64
VIDEO_IDLE_SECONDS = 1.0
# Overlap (intersection over union) below which a hot box counts as a different region.
VIDEO_SAME_REGION_OVERLAP = 0.5
VIDEO_CODEC = "libx264"
# Constant rate factor by JPEG quality of flow control's step: better link, better picture.
CRF_BY_JPEG_QUALITY = ((80, 26), (70, 28), (55, 31), (40, 34), (0, 37))
VIDEO_KEYFRAME_INTERVAL_FRAMES = 100_000  # key frames only when the pipeline asks
# A stream moves to a better quality step only after this many pictures (3 s at 30/s).
VIDEO_UPGRADE_AFTER_PICTURES = 90
# The encoder's clock: one tick per picture. Rate factor and cap are per second of it.
VIDEO_NOMINAL_FRAMES_PER_SECOND = 30
# VBV cap: at most this many kilobits per second of the nominal clock, with a buffer that
# lets a key frame (about 100 KB for the peer benchmark's 720p clip) through in one
# picture. 4000 kbit/s is 500 KB/s: inside the 700 KB/s budget with the TLS, WebSocket and
# AES-GCM framing and the rest of the screen on top.
VIDEO_MAX_KILOBITS_PER_SECOND = 4000
VIDEO_BUFFER_KILOBITS = 2000


def crf_for(jpeg_quality: int) -> int:
    for quality, crf in CRF_BY_JPEG_QUALITY:
        if jpeg_quality >= quality:
            return crf
    return CRF_BY_JPEG_QUALITY[-1][1]


def overlap(a: Rect, b: Rect) -> float:
    """Intersection over union of two rectangles."""
    width = min(a.x + a.width, b.x + b.width) - max(a.x, b.x)
    height = min(a.y + a.height, b.y + b.height) - max(a.y, b.y)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.area + b.area - inter)


@dataclass(slots=True)
class _Capture:
    at: float
    dirty: np.ndarray  # tiles changed in this capture
    spent: np.ndarray  # bytes of the tiles sent for it, spread over the tiles they cover
    lossy: np.ndarray  # ... of which lossy (JPEG)


class HotTiles:
    """How often each tile changed, and what its tiles cost, over the last captures."""

    def __init__(self) -> None:
        self._history: collections.deque[_Capture] = collections.deque()
        self._counts: np.ndarray | None = None

    def reset(self) -> None:
        self._history.clear()
        self._counts = None

    def observe(self, dirty: np.ndarray, now: float) -> None:
        if self._counts is None or self._counts.shape != dirty.shape:
            self.reset()
            self._counts = np.zeros(dirty.shape, dtype=np.int32)
        zeros = np.zeros(dirty.shape, dtype=np.float32)
        self._history.append(_Capture(now, dirty.copy(), zeros, zeros.copy()))
        self._counts += dirty
        while self._history and self._expired(self._history[0], now):
            self._counts -= self._history.popleft().dirty

    def _expired(self, oldest: _Capture, now: float) -> bool:
        age = now - oldest.at
        if age > VIDEO_MAX_WINDOW_SECONDS:
            return True
        return age > VIDEO_WINDOW_SECONDS and len(self._history) > VIDEO_MIN_CHANGED_CAPTURES

    def spent(self, tiles: list[Tile]) -> None:
        """The tiles sent for the last observed capture (their bytes count as its cost)."""
        if not self._history:
            return
        latest = self._history[-1]
        for tile in tiles:
            window = tile_slices(Rect(tile.x, tile.y, tile.width, tile.height))
            cells = latest.spent[window]
            if cells.size == 0:
                continue
            share = len(tile.data) / cells.size
            cells += share
            if tile.codec is Codec.JPEG:
                latest.lossy[window] += share

    def cost(self, rect: Rect) -> tuple[float, float]:
        """What `rect` cost as tiles: bytes per capture that changed it, and the share of
        those bytes that was lossy."""
        window = tile_slices(rect)
        changed, spent, lossy = 0, 0.0, 0.0
        for capture in self._history:
            if capture.dirty[window].any():
                changed += 1
                spent += float(capture.spent[window].sum())
                lossy += float(capture.lossy[window].sum())
        if changed == 0 or spent == 0:
            return 0.0, 0.0
        return spent / changed, lossy / spent

    def hot_box(self, height: int, width: int) -> Rect | None:
        """The pixel box around the hot tiles (None: no tile is hot)."""
        if self._counts is None:
            return None
        captures = len(self._history)
        needed = min(
            VIDEO_MIN_CHANGES_PER_SECOND * VIDEO_WINDOW_SECONDS,
            max(VIDEO_MIN_CHANGED_CAPTURES, math.ceil(VIDEO_MIN_CHANGED_SHARE * captures)),
        )
        hot = self._counts >= needed
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


def tile_cover(rect: Rect) -> Rect:
    """The whole tiles `rect` touches, as a pixel box (it may reach past the screen edge)."""
    left, top = rect.x // TILE_PIXELS * TILE_PIXELS, rect.y // TILE_PIXELS * TILE_PIXELS
    right = -(-(rect.x + rect.width) // TILE_PIXELS) * TILE_PIXELS
    bottom = -(-(rect.y + rect.height) // TILE_PIXELS) * TILE_PIXELS
    return Rect(left, top, right - left, bottom - top)


def same_region(hot: Rect, region: Rect) -> bool:
    """Whether the hot box still shows the video region: compared tile by tile, as the hot
    box is made of tiles and the region is not (a small clip across tile borders would
    otherwise look like a different region in every capture)."""
    return overlap(hot, tile_cover(region)) >= VIDEO_SAME_REGION_OVERLAP


def video_region(frame: np.ndarray, reference: np.ndarray, hot: Rect) -> Rect | None:
    """Where a video stream could go inside the hot box (None: nowhere worth judging).

    `frame` and `reference` are (rows, columns) uint32 pictures of the screen: as grabbed
    now and as the viewer has it. The region is the hot box without its plain margins
    (see `without_plain_margins`), shrunk to even sides, if it is large enough and enough
    of it changed. Whether it goes to H.264 is video_cost.py's to say. (This runs on every
    capture while a hot region is not video, a dragged window say: so it looks at bands
    from the edges inwards.)
    """
    changed = changed_box(frame, reference, hot)
    if changed is None or changed.width * changed.height < VIDEO_MIN_CHANGED_PIXELS:
        return None
    region = even_rect(without_plain_margins(frame, reference, hot))
    if region.width < VIDEO_MIN_SIDE_PIXELS or region.height < VIDEO_MIN_SIDE_PIXELS:
        return None
    return region


def changed_box(frame: np.ndarray, reference: np.ndarray, box: Rect) -> Rect | None:
    """The box around the pixels of `box` that differ between two (rows, columns) pictures
    (None: none do)."""
    return _inner_box(frame, reference, box, plain_margins=False)


def without_plain_margins(frame: np.ndarray, reference: np.ndarray, box: Rect) -> Rect:
    """`box` without the rows and columns at its edges that are one colour and unchanged:
    the desktop or page background the tile grid adds around a playing video. Edges
    with anything else stay: an edge row of the video that happens to be unchanged in this
    capture (a move found by the scroll stage can explain it) is not a margin."""
    inner = _inner_box(frame, reference, box, plain_margins=True)
    return inner if inner is not None else box


def _inner_box(
    frame: np.ndarray, reference: np.ndarray, box: Rect, *, plain_margins: bool
) -> Rect | None:
    """The box inside `box` from the first to the last row and column that hold a changed
    pixel (or, with `plain_margins`, that are not one unchanged colour). It compares
    bands of TILE_PIXELS lines from each side inwards and stops at the first such line, so
    a region that changed out to its edges costs four bands, not the whole box."""

    def first(start: int, stop: int, across: slice, *, rows: bool, from_end: bool) -> int | None:
        return _first_line(
            frame, reference, range(start, stop), across, rows, from_end, plain_margins
        )

    columns = slice(box.x, box.x + box.width)
    top = first(box.y, box.y + box.height, columns, rows=True, from_end=False)
    if top is None:
        return None
    bottom = first(box.y, box.y + box.height, columns, rows=True, from_end=True)
    assert bottom is not None  # there is such a line: `top`
    rows = slice(top, bottom + 1)
    left = first(box.x, box.x + box.width, rows, rows=False, from_end=False)
    right = first(box.x, box.x + box.width, rows, rows=False, from_end=True)
    assert left is not None and right is not None
    return Rect(left, top, right - left + 1, bottom - top + 1)


def _first_line(
    frame: np.ndarray,
    reference: np.ndarray,
    lines: range,
    across: slice,
    rows: bool,
    from_end: bool,
    plain_margins: bool,
) -> int | None:
    """The first of `lines` (rows, or columns), counted from its start or from its end,
    holding a pixel of `across` that differs (or, with `plain_margins`, that is not one
    unchanged colour)."""
    start, stop = lines.start, lines.stop
    edges = range(stop, start, -TILE_PIXELS) if from_end else range(start, stop, TILE_PIXELS)
    for edge in edges:
        low, high = (
            (max(start, edge - TILE_PIXELS), edge)
            if from_end
            else (edge, min(stop, edge + TILE_PIXELS))
        )
        if rows:
            band, old = frame[low:high, across], reference[low:high, across]
            found = (band != old).any(axis=1)
            if plain_margins:
                found |= (band != band[:, :1]).any(axis=1)
        else:
            band, old = frame[across, low:high], reference[across, low:high]
            found = (band != old).any(axis=0)
            if plain_margins:
                found |= (band != band[:1, :]).any(axis=0)
        indices = np.flatnonzero(found)
        if indices.size:
            return low + int(indices[-1] if from_end else indices[0])
    return None


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
        context.time_base = Fraction(1, VIDEO_NOMINAL_FRAMES_PER_SECOND)
        context.framerate = Fraction(VIDEO_NOMINAL_FRAMES_PER_SECOND, 1)
        context.gop_size = VIDEO_KEYFRAME_INTERVAL_FRAMES
        context.max_b_frames = 0
        context.thread_count = 1
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "crf": str(crf),
            "maxrate": f"{VIDEO_MAX_KILOBITS_PER_SECOND}k",
            "bufsize": f"{VIDEO_BUFFER_KILOBITS}k",
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

    def restarts_for(self, crf: int) -> bool:
        """Whether the stream should start over (with a key frame) at rate factor `crf`.

        For a lower quality at once: a slower link needs fewer bytes. For a higher one only
        after VIDEO_UPGRADE_AFTER_PICTURES: a key frame costs as much as a dozen pictures
        and flow control steps at most once a second, so following every step up restarted
        the stream every second; never following left a stream that started while the link
        was busy (as at the start of a session, with the first full updates in flight) at
        the lower quality for as long as the video played.
        """
        if crf > self.crf:
            return True
        return crf < self.crf and self._pts >= VIDEO_UPGRADE_AFTER_PICTURES

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
