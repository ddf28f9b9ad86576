"""Frames of one screen from a PipeWire video stream (a portal's ScreenCast node), and the
detect stage on top of them: the pipeline waits on `FrameWatcher` as it waits on X DAMAGE.

A compositor sends a frame only when the screen changed, so an idle screen costs nothing:
no frame, no wakeup. Each frame is copied out of PipeWire's buffer on PipeWire's thread
(the buffer goes back at once) into a BGRA array. Where the compositor puts damage
rectangles on its buffers (SPA_META_VideoDamage, mutter does) they are what `wait`
reports; where it does not, a frame is reported as damaged all over and the pipeline's
frame comparison finds what changed. Cursor metadata (SPA_META_Cursor), where the
compositor sends it, says where the pointer is; a buffer without pixels (size 0) carries
only that.
"""

from __future__ import annotations

import ctypes
import select
import threading
import time
from dataclasses import dataclass

import numpy as np

import host_agent.backends.libpipewire as pw
import host_agent.backends.spa_pod as spa_pod
from host_agent.damage.tiles import Rect
from host_agent.damage.waker import Waker
from host_agent.damage.xdamage import Seen

# Frames wider or taller than this are refused in the format offered.
MAX_SIDE_PIXELS = 8192
# At most this many damage rectangles per buffer; more come as the box around them.
MAX_DAMAGE_REGIONS = 32


def cursor_meta_bytes(side: int) -> int:
    """Cursor metadata with room for a side x side ARGB bitmap (libspa's CURSOR_META_SIZE)."""
    return 28 + 20 + side * side * 4


FIRST_FRAME_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0
_REGION_BYTES = ctypes.sizeof(pw.SpaMetaRegion)


class StreamFailed(Exception):
    """The stream could not be set up, or the compositor ended it."""


@dataclass(frozen=True, slots=True)
class Arrived:
    """What came since the last `take`."""

    damage: tuple[Rect, ...]  # stream coordinates
    pointer_moved: bool


class PipeWireFrames:
    """One video stream from `node_id`, read on PipeWire's thread; `latest` and `take` from
    any other thread (the pipeline's capture thread)."""

    def __init__(self, loop: pw.ThreadLoop, node_id: int, size_hint: tuple[int, int]) -> None:
        self._loop = loop
        self._lib = loop.lib
        self._lock = threading.Lock()
        self._arrived = Waker()  # written once per frame or cursor change
        self._frame: np.ndarray | None = None
        self._frame_taken = False
        self._damage: list[Rect] = []
        self._damage_all = False
        self._pointer: tuple[int, int] | None = None
        self._pointer_moved = False
        self._format: spa_pod.VideoFormat | None = None
        self._state = pw.STATE_UNCONNECTED
        self._error = ""
        self.frames = 0  # frames received (tests count them)
        # The callbacks must live as long as the stream: kept on self.
        self._events = pw.StreamEvents(version=pw.STREAM_EVENTS_VERSION)
        self._events.state_changed = pw.StateCallback(self._on_state)
        self._events.param_changed = pw.ParamCallback(self._on_param)
        self._events.process = pw.ProcessCallback(self._on_process)
        self._hook = ctypes.create_string_buffer(pw.SPA_HOOK_BYTES)
        width, height = size_hint
        offered, keep = pw.params_array(
            [spa_pod.video_formats(max(1, width), max(1, height), MAX_SIDE_PIXELS)]
        )
        with loop.locked():
            properties = self._lib.pw_properties_new_string(
                b"media.type=Video media.category=Capture media.role=Screen"
            )
            self._stream = self._lib.pw_stream_new(loop.core, b"fernwartung", properties)
            if not self._stream:
                raise StreamFailed("cannot create a PipeWire stream")
            self._lib.pw_stream_add_listener(
                self._stream, self._hook, ctypes.byref(self._events), None
            )
            result = self._lib.pw_stream_connect(
                self._stream,
                pw.DIRECTION_INPUT,
                node_id,
                pw.FLAG_AUTOCONNECT | pw.FLAG_MAP_BUFFERS,
                offered,
                1,
            )
        del keep
        if result < 0:
            self.close()
            raise StreamFailed(f"cannot connect to the screen's stream (error {result})")

    # -- PipeWire's thread ----------------------------------------------------------------

    def _on_state(self, _data: object, _old: int, state: int, error: bytes | None) -> None:
        with self._lock:
            self._state = state
            if state == pw.STATE_ERROR or state == pw.STATE_UNCONNECTED:
                self._error = (error or b"").decode("utf-8", "replace") or "stream ended"
        self._arrived.wake()

    def _on_param(self, _data: object, param_id: int, pod: object) -> None:
        if param_id != spa_pod.PARAM_FORMAT or not pod:
            return
        try:
            agreed = spa_pod.parse_video_format(pw.pod_bytes(pod))
        except spa_pod.PodError as error:
            with self._lock:
                self._error = str(error)
            return
        with self._lock:
            self._format = agreed
        params, keep = pw.params_array(
            [
                spa_pod.buffers_param(1 << spa_pod.DATA_MEM_PTR | 1 << spa_pod.DATA_MEM_FD),
                spa_pod.meta_param(spa_pod.META_HEADER, 32),
                spa_pod.meta_param(
                    spa_pod.META_VIDEO_DAMAGE,
                    _REGION_BYTES * MAX_DAMAGE_REGIONS,
                    _REGION_BYTES,
                    _REGION_BYTES * MAX_DAMAGE_REGIONS,
                ),
                # Any bitmap size: only the position is read.
                spa_pod.meta_param(
                    spa_pod.META_CURSOR,
                    cursor_meta_bytes(64),
                    cursor_meta_bytes(1),
                    cursor_meta_bytes(1024),
                ),
            ]
        )
        self._lib.pw_stream_update_params(self._stream, params, 4)
        del keep

    def _on_process(self, _data: object) -> None:
        newest = None
        while buffer := self._lib.pw_stream_dequeue_buffer(self._stream):
            if newest is not None:
                self._read(newest, pixels=False)  # an older one: its damage and cursor count
                self._lib.pw_stream_queue_buffer(self._stream, newest)
            newest = buffer
        if newest is None:
            return
        try:
            self._read(newest, pixels=True)
        finally:
            self._lib.pw_stream_queue_buffer(self._stream, newest)
        self._arrived.wake()

    def _read(self, buffer: object, *, pixels: bool) -> None:
        spa = buffer.contents.buffer.contents  # type: ignore[attr-defined]
        damage: list[Rect] | None = None
        pointer: tuple[int, int] | None | bool = False  # False: no cursor metadata
        for i in range(spa.n_metas):
            meta = spa.metas[i]
            if not meta.data:
                continue
            if meta.type == spa_pod.META_VIDEO_DAMAGE:
                damage = _regions(meta.data, meta.size // _REGION_BYTES)
            elif meta.type == spa_pod.META_CURSOR and meta.size >= 28:
                cursor = pw.SpaMetaCursor.from_address(meta.data)
                pointer = (cursor.x, cursor.y) if cursor.id != 0 else None
        frame = self._copy(spa) if spa.n_datas >= 1 else None
        with self._lock:
            if pointer is not False and pointer != self._pointer:
                self._pointer, self._pointer_moved = pointer, True  # type: ignore[assignment]
            if frame is None:
                return
            if pixels or self._frame is None:
                self._frame, self._frame_taken = frame, False
            self.frames += 1
            if damage:
                self._damage.extend(damage)
            else:
                self._damage_all = True

    def _copy(self, spa: pw.SpaBuffer) -> np.ndarray | None:
        """The buffer's pixels as a new (height, width, 4) BGRA array, None when it has
        none (a cursor-only update) or they cannot be read here (DMA-BUF)."""
        agreed = self._format
        data = spa.datas[0]
        if agreed is None or not data.data or not data.chunk:
            return None
        chunk = data.chunk.contents
        if chunk.size == 0 or chunk.flags & pw.CHUNK_FLAG_CORRUPTED:
            return None
        width, height = agreed.width, agreed.height
        stride = chunk.stride or width * 4
        if stride < width * 4 or chunk.offset + stride * height > data.maxsize:
            return None
        raw = np.ctypeslib.as_array(
            (ctypes.c_uint8 * (stride * height)).from_address(data.data + chunk.offset)
        )
        rows = raw.reshape(height, stride)[:, : width * 4]
        source = rows.reshape(height, width, 4)
        frame = np.empty((height, width, 4), dtype=np.uint8)
        if agreed.video_format in (spa_pod.VIDEO_RGBX, spa_pod.VIDEO_RGBA):
            frame[..., :3] = source[..., 2::-1]
        else:
            frame[..., :3] = source[..., :3]
        frame[..., 3] = 255  # BGRx's fourth byte is undefined; compared frames must agree
        return frame

    # -- any other thread -------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int] | None:
        """The agreed frame size (width, height), once the stream has one."""
        with self._lock:
            return None if self._format is None else (self._format.width, self._format.height)

    def fileno(self) -> int:
        """Readable when a frame or a pointer change came (select() on it)."""
        return self._arrived.fileno()

    def take(self) -> Arrived:
        """The damage and pointer motion since the last call."""
        self._arrived.clear()
        with self._lock:
            self._check()
            if self._damage_all and self._format is not None:
                damage: tuple[Rect, ...] = (Rect(0, 0, self._format.width, self._format.height),)
            else:
                damage = tuple(self._damage)
            moved = self._pointer_moved
            self._damage, self._damage_all, self._pointer_moved = [], False, False
        return Arrived(damage, moved)

    def latest(self, timeout_seconds: float = FIRST_FRAME_TIMEOUT_SECONDS) -> np.ndarray:
        """The newest frame: an array of its own the first time it is asked for, a copy
        after that (the pipeline writes into the frames it holds)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            with self._lock:
                self._check()
                frame = self._frame
                if frame is not None:
                    if self._frame_taken:
                        return frame.copy()
                    self._frame_taken = True
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise StreamFailed("the screen's stream sent no picture")
            select.select([self._arrived], [], [], min(left, 0.05))

    def region(self, rect: Rect) -> np.ndarray:
        """A copy of `rect` of the newest frame."""
        self.latest_ready()
        with self._lock:
            assert self._frame is not None
            return self._frame[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width].copy()

    def latest_ready(self) -> None:
        """Wait for the first frame (raises StreamFailed when none comes)."""
        with self._lock:
            if self._frame is not None:
                return
        frame = self.latest()
        with self._lock:
            if self._frame is frame:
                self._frame_taken = False

    def pointer(self) -> tuple[int, int] | None:
        with self._lock:
            return self._pointer

    def _check(self) -> None:
        if self._error:
            raise StreamFailed(f"the screen's stream failed: {self._error}")

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream:
            with self._loop.locked():
                self._lib.pw_stream_disconnect(stream)
                self._lib.pw_stream_destroy(stream)
        self._arrived.close()


def _regions(address: int, count: int) -> list[Rect] | None:
    """The damage rectangles of a VideoDamage meta; None when it holds none (then the
    whole frame counts as damaged)."""
    regions = (pw.SpaMetaRegion * count).from_address(address)
    rects = []
    for region in regions:
        if region.width == 0 or region.height == 0:
            break
        rects.append(Rect(max(0, region.x), max(0, region.y), region.width, region.height))
    return rects or None


class FrameWatcher:
    """The detect stage for PipeWire frames, shaped like X11's DamageWatcher: `wait`
    returns the damage (in root coordinates: shifted by the monitor's corner) and pointer
    motion since the last call, sleeping until a frame or a `wake`. It follows the stream
    of the shared monitor (`follow`); before there is one (the portal has not asked the
    customer yet) it only waits. Used from the capture thread, `wake` from any."""

    pointer_events = True  # cursor metadata comes with frames, or there is none to ask

    def __init__(self) -> None:
        self._frames: PipeWireFrames | None = None
        self._origin = (0, 0)
        self._waker = Waker()
        self.wakeups = 0

    def follow(self, frames: PipeWireFrames, origin: tuple[int, int]) -> None:
        self._frames, self._origin = frames, origin

    def wake(self) -> None:
        self._waker.wake()

    def wait(self, timeout_seconds: float | None) -> Seen:
        frames = self._frames
        readers: list[object] = [self._waker] if frames is None else [self._waker, frames]
        select.select(readers, [], [], timeout_seconds)
        self.wakeups += 1
        if frames is None:
            return Seen(woken=self._waker.clear())
        arrived = frames.take()
        left, top = self._origin
        rects = tuple(Rect(r.x + left, r.y + top, r.width, r.height) for r in arrived.damage)
        return Seen(rects, arrived.pointer_moved, self._waker.clear())

    def close(self) -> None:
        self._waker.close()
