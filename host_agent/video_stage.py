"""The video stage: which region of the screen behaves like video and travels as H.264,
and its packets.

Tiles that changed in most recent captures are hot (video.HotTiles); when the box around
them is a candidate (video.video_region) whose tiles cost more than H.264 would
(video_cost.judge) a stream starts there with a key frame, and each capture that changes
it gives one packet. The stream ends when the region stays still for VIDEO_IDLE_SECONDS,
moves, the quality steps (flow control) or the encoder fails; a full update restarts it
with a key frame. A region once streamed is not judged again while it stays where it was
(after a quality step or a full update its tiles' cost is no longer known: it went as
video). A hot box found not to be video (a strewn terminal, say) is judged again only
after VIDEO_RETRY_SECONDS, or VIDEO_RETRY_AFTER_TRIAL_SECONDS when a trial encode judged
it, unless it moves: judging costs a scan of its pixels, a trial some 30 ms at 720p.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host_agent.damage.tiles import Rect, as_pixels
from host_agent.picture import tile_slices
from host_agent.video import (
    VIDEO_IDLE_SECONDS,
    VIDEO_SAME_REGION_OVERLAP,
    HotTiles,
    VideoEncoder,
    crf_for,
    overlap,
    same_region,
    video_region,
)
from host_agent.video_cost import Verdict, judge, trial_picture_bytes
from protocol import messages
from protocol.messages import Tile, VideoPacket

VIDEO_RETRY_SECONDS = 0.5
VIDEO_RETRY_AFTER_TRIAL_SECONDS = 2.0


@dataclass(slots=True)
class _Stream:
    number: int
    rect: Rect
    encoder: VideoEncoder
    last_change: float
    keyframe_due: bool = True


class VideoStage:
    def __init__(self) -> None:
        self._hot = HotTiles()
        self._stream: _Stream | None = None
        self._next_number = 0
        self._not_video: tuple[Rect, float] | None = None  # hot box judged not video, until
        self._proven: Rect | None = None  # the region last streamed, while it may go on
        self.last_verdict: Verdict | None = None  # for tests and benchmarks

    @property
    def rect(self) -> Rect | None:
        """The region streamed now (None: no stream)."""
        return None if self._stream is None else self._stream.rect

    def idle_due(self) -> float | None:
        """When the stream ends unless its region changes (None: no stream)."""
        return None if self._stream is None else self._stream.last_change + VIDEO_IDLE_SECONDS

    def observe(self, dirty: np.ndarray, now: float) -> None:
        """The tiles (a boolean grid) that changed in this capture."""
        self._hot.observe(dirty, now)

    def spent(self, tiles: list[Tile]) -> None:
        """The tiles sent for the capture just observed: what its regions cost as tiles."""
        self._hot.spent(tiles)

    def packet(
        self, frame: np.ndarray, reference: np.ndarray, dirty: np.ndarray, jpeg_quality: int,
        now: float,
    ) -> VideoPacket | None:  # fmt: skip
        """The next packet of the video region of `frame` (BGRA; `reference`: the uint32
        picture the viewer has), starting or ending the stream as needed."""
        height, width = frame.shape[:2]
        hot = self._hot.hot_box(height, width)
        stream = self._stream
        crf = crf_for(jpeg_quality)
        if stream is not None and (
            now - stream.last_change > VIDEO_IDLE_SECONDS
            or (hot is not None and not same_region(hot, stream.rect))
        ):
            self.stop()
            self._proven = None  # it ended: what comes next is judged afresh
            stream = None
        elif stream is not None and stream.encoder.restarts_for(crf):
            self.stop()
            stream = None
        if stream is None and hot is not None and not self._judged_not_video(hot, now):
            stream = self._start(frame, reference, hot, crf, now)
            if stream is None:
                tried = self.last_verdict is not None and self.last_verdict.tried
                retry = VIDEO_RETRY_AFTER_TRIAL_SECONDS if tried else VIDEO_RETRY_SECONDS
                self._not_video = (hot, now + retry)
        if stream is None or not dirty[tile_slices(stream.rect)].any():
            return None
        rect = stream.rect
        pixels = frame[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
        data, keyframe = stream.encoder.encode(pixels, stream.keyframe_due)
        if not data or (stream.keyframe_due and not keyframe):
            self.stop()  # the encoder did not deliver: these pixels go as tiles
            return None
        stream.keyframe_due = False
        stream.last_change = now
        return VideoPacket(stream.number, rect.x, rect.y, rect.width, rect.height, keyframe, data)

    def stop(self) -> None:
        """End the stream (a new one starts with a key frame; the hot tiles stay warm)."""
        if self._stream is not None:
            self._stream.encoder.close()
            self._stream = None

    def _judged_not_video(self, hot: Rect, now: float) -> bool:
        """Whether `hot` (or a box much like it: the hot tiles of a strewn terminal come and
        go at its edges) was judged not video a moment ago."""
        if self._not_video is None:
            return False
        judged, until = self._not_video
        return now < until and overlap(judged, hot) >= VIDEO_SAME_REGION_OVERLAP

    def _start(
        self, frame: np.ndarray, reference: np.ndarray, hot: Rect, crf: int, now: float
    ) -> _Stream | None:
        self.last_verdict = None
        rect = video_region(as_pixels(frame), reference, hot)
        if rect is None:
            return None  # too small, or too little of it changed
        if self._proven is None or overlap(rect, self._proven) < VIDEO_SAME_REGION_OVERLAP:
            tile_bytes, lossy_share = self._hot.cost(rect)
            viewer = reference.view(np.uint8).reshape(*reference.shape, 4)
            self.last_verdict = judge(
                tile_bytes, lossy_share, lambda: trial_picture_bytes(viewer, frame, rect, crf)
            )
            if not self.last_verdict.video:
                return None  # tiles cost less (or lose less): rectangles do better
        stream = _Stream(self._next_number, rect, VideoEncoder(rect.width, rect.height, crf), now)
        self._next_number = (self._next_number + 1) % (messages.MAX_VIDEO_STREAM + 1)
        self._stream = stream
        self._proven = rect
        return stream
