"""Whether a hot region goes to H.264: what its tiles cost against what H.264 would cost.

Video is recognised by how a region behaves, not by what it shows (issue 25). The signal:
a region that changed in most recent captures (hot: video.HotTiles), that no copy or rects
tile explains (those are taken out of the changed pixels before anything is counted), in
which enough changed (video.video_region), and whose tiles cost more bytes per picture
than H.264 would. Costs are per picture, not per second, so the verdict does not depend on
how many pictures a slow link lets through.

- The tiles' cost: the bytes of the tiles sent for the region per capture that changed it,
  over the hot window, and the share of them that was lossy (JPEG) (HotTiles.spent/cost).
- H.264's cost: never more, on average, than the stream's cap per picture
  (VIDEO_CAP_BYTES_PER_PICTURE): tiles costing more go to H.264 without a trial. Tiles
  costing less than VIDEO_MIN_TILE_BYTES stay (nothing worth a stream to save). Between
  the two, a trial encode (`trial_picture_bytes`): the region of the viewer's picture as a
  key frame, then the capture as the next picture, with the stream's own settings; its
  bytes, plus the key frame's spread over VIDEO_KEYFRAME_SPREAD_PICTURES.
- The margin: lossless tiles (text, UI, flat drawings) show exactly what is on the screen,
  H.264 does not: to replace them it must cost at most 1/VIDEO_LOSSLESS_MARGIN of them. To
  replace lossy (JPEG) tiles it need only cost less.

Measured on the generated clips (benchmarks/clips.py, centred on a 1920x1080 desktop, the
pipeline at JPEG quality 80, CRF 26), tiles per capture against the trial's H.264 bytes:
photo-like 29.7 kB (JPEG) against 9.6 kB; a screen recording of text scrolling by 3.5
pixels 106 kB (lossless) at once (over the cap); a test pattern of flat bars, a scrolling
ramp and moving shapes 6.6 kB against 3.1 kB; a flat cartoon panning in layers 5.5 kB
against 3.7 kB; 200 characters strewn over a terminal each frame 18 kB against 16.3 kB.
So: photo, screen recording and test pattern go to H.264; the cartoon stays lossless tiles
(165 kB/s at 30 frames/s) and so does the strewn terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host_agent.damage.tiles import Rect
from host_agent.video import (
    VIDEO_MAX_KILOBITS_PER_SECOND,
    VIDEO_NOMINAL_FRAMES_PER_SECOND,
    VideoEncoder,
)

# The VBV cap holds any second of the stream to this many bytes a picture, on average.
VIDEO_CAP_BYTES_PER_PICTURE = (
    VIDEO_MAX_KILOBITS_PER_SECOND * 1000 / 8 / VIDEO_NOMINAL_FRAMES_PER_SECOND
)
VIDEO_MIN_TILE_BYTES = 1000
VIDEO_LOSSLESS_MARGIN = 2.0
# Lossy above this share of the tiles' bytes: JPEG tiles are replaced when H.264 is cheaper.
VIDEO_LOSSY_SHARE = 0.5
VIDEO_KEYFRAME_SPREAD_PICTURES = 30


@dataclass(frozen=True, slots=True)
class Verdict:
    """What was decided, and on which figures (bytes per picture)."""

    video: bool
    tile_bytes: float
    h264_bytes: float | None  # None: no trial (the cap or the floor decided)

    @property
    def tried(self) -> bool:
        return self.h264_bytes is not None


def margin(lossy_share: float) -> float:
    """How many times H.264's cost the tiles must cost to be replaced."""
    return 1.0 if lossy_share > VIDEO_LOSSY_SHARE else VIDEO_LOSSLESS_MARGIN


def judge(tile_bytes: float, lossy_share: float, trial) -> Verdict:  # trial: () -> float
    """Whether tiles costing `tile_bytes` a picture (`lossy_share` of them lossy) should
    give way to H.264; `trial` is called only when the cap and the floor do not decide."""
    needed = margin(lossy_share)
    if tile_bytes < VIDEO_MIN_TILE_BYTES:
        return Verdict(False, tile_bytes, None)
    if tile_bytes > needed * VIDEO_CAP_BYTES_PER_PICTURE:
        return Verdict(True, tile_bytes, None)
    h264_bytes = float(trial())
    return Verdict(tile_bytes > needed * h264_bytes, tile_bytes, h264_bytes)


def trial_picture_bytes(reference: np.ndarray, frame: np.ndarray, rect: Rect, crf: int) -> float:
    """What one picture of `rect` costs as H.264: the region of `reference` (BGRA, the
    viewer's picture) as a key frame, then the region of `frame` (BGRA, the capture) as the
    next picture; its bytes plus the key frame's spread over a second of pictures."""
    window = (slice(rect.y, rect.y + rect.height), slice(rect.x, rect.x + rect.width))
    encoder = VideoEncoder(rect.width, rect.height, crf)
    try:
        key, _ = encoder.encode(reference[window], keyframe=True)
        picture, _ = encoder.encode(frame[window], keyframe=False)
    finally:
        encoder.close()
    return len(picture) + len(key) / VIDEO_KEYFRAME_SPREAD_PICTURES
