"""A PipeWire video source the test drives frame by frame, as a compositor does: a frame
only when the test draws one, with damage rectangles on it if asked (SPA_META_VideoDamage).

It is the same libpipewire the agent reads with (host_agent/backends/libpipewire.py), used
the other way round: an output stream that drives its own graph.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

import host_agent.backends.libpipewire as pw
import host_agent.backends.spa_pod as spa_pod
from host_agent.damage.tiles import Rect

MAX_REGIONS = 16
_REGION_BYTES = ctypes.sizeof(pw.SpaMetaRegion)


class TestSource:
    """A Video/Source node of `width` x `height` BGRx pixels on the user's PipeWire."""

    def __init__(self, width: int, height: int, name: str = "fernwartung-test-source") -> None:
        self.width, self.height = width, height
        self._loop = pw.ThreadLoop("test-source")
        self._lib = self._loop.lib
        self.current: tuple[np.ndarray, tuple[Rect, ...] | None] | None = None
        self.streaming = threading.Event()
        self._registered = threading.Event()  # the daemon gave the node its id
        self.sent = 0
        self._events = pw.StreamEvents(version=pw.STREAM_EVENTS_VERSION)
        self._events.state_changed = pw.StateCallback(self._on_state)
        self._events.param_changed = pw.ParamCallback(self._on_param)
        self._hook = ctypes.create_string_buffer(pw.SPA_HOOK_BYTES)
        offered = spa_pod.pod_object(
            spa_pod.OBJECT_FORMAT,
            spa_pod.PARAM_ENUM_FORMAT,
            [
                (spa_pod.FORMAT_MEDIA_TYPE, spa_pod.pod_id(spa_pod.MEDIA_TYPE_VIDEO)),
                (spa_pod.FORMAT_MEDIA_SUBTYPE, spa_pod.pod_id(spa_pod.MEDIA_SUBTYPE_RAW)),
                (spa_pod.FORMAT_VIDEO_FORMAT, spa_pod.pod_id(spa_pod.VIDEO_BGRX)),
                (spa_pod.FORMAT_VIDEO_SIZE, spa_pod.pod_rectangle(width, height)),
                (spa_pod.FORMAT_VIDEO_FRAMERATE, spa_pod.pod_fraction(0, 1)),
            ],
        )
        params, keep = pw.params_array([offered])
        with self._loop.locked():
            properties = self._lib.pw_properties_new_string(
                f"media.class=Video/Source node.name={name} media.type=Video".encode()
            )
            self._stream = self._lib.pw_stream_new(self._loop.core, name.encode(), properties)
            self._lib.pw_stream_add_listener(
                self._stream, self._hook, ctypes.byref(self._events), None
            )
            result = self._lib.pw_stream_connect(
                self._stream,
                pw.DIRECTION_OUTPUT,
                pw.ID_ANY,
                pw.FLAG_DRIVER | pw.FLAG_MAP_BUFFERS,
                params,
                1,
            )
        del keep
        if result < 0:
            raise OSError(f"pw_stream_connect failed: {result}")

    @property
    def node_id(self) -> int:
        """The node's id, once the PipeWire daemon has given it one."""
        if not self._registered.wait(10):
            raise TimeoutError("the test source was not registered")
        with self._loop.locked():
            return int(self._lib.pw_stream_get_node_id(self._stream))

    def _on_state(self, _data: object, _old: int, state: int, _error: bytes | None) -> None:
        if state >= pw.STATE_PAUSED:
            self._registered.set()
        if state == pw.STATE_STREAMING:
            self.streaming.set()
        else:
            self.streaming.clear()

    def _on_param(self, _data: object, param_id: int, pod: object) -> None:
        if param_id != spa_pod.PARAM_FORMAT or not pod:
            return
        stride = self.width * 4
        params, keep = pw.params_array(
            [
                spa_pod.buffers_param(
                    1 << spa_pod.DATA_MEM_PTR | 1 << spa_pod.DATA_MEM_FD,
                    stride * self.height,
                    stride,
                ),
                spa_pod.meta_param(spa_pod.META_HEADER, 32),
                spa_pod.meta_param(spa_pod.META_VIDEO_DAMAGE, _REGION_BYTES * MAX_REGIONS),
            ]
        )
        self._lib.pw_stream_update_params(self._stream, params, 3)
        del keep

    def draw(self, frame: np.ndarray, damage: tuple[Rect, ...] | None = None) -> bool:
        """Send one frame ((height, width, 4) BGRx); `damage`: the rectangles to put in
        its damage metadata (None: an empty list, which means "no damage information").
        As a compositor does it: fill a buffer, queue it, then run the graph (a frame
        filled in the process callback would leave only with the next cycle). False when
        no buffer was free (nobody reads the stream yet)."""
        self.current = (frame, damage)
        with self._loop.locked():
            buffer = self._lib.pw_stream_dequeue_buffer(self._stream)
            if not buffer:
                return False
            self._fill(buffer.contents.buffer.contents, frame, damage)
            self._lib.pw_stream_queue_buffer(self._stream, buffer)
            self._lib.pw_stream_trigger_process(self._stream)
            self.sent += 1
        return True

    def draw_again(self) -> None:
        """Send the last frame once more (whole-frame damage): what a compositor does for
        a consumer that connected after it."""
        if self.current is not None:
            self.draw(self.current[0])

    def _fill(self, spa: pw.SpaBuffer, frame: np.ndarray, damage: tuple[Rect, ...] | None) -> None:
        data = spa.datas[0]
        stride = self.width * 4
        if data.data:
            target = np.ctypeslib.as_array(
                (ctypes.c_uint8 * (stride * self.height)).from_address(data.data)
            )
            target[:] = np.ascontiguousarray(frame, dtype=np.uint8).reshape(-1)
            chunk = data.chunk.contents
            chunk.offset, chunk.size, chunk.stride, chunk.flags = 0, stride * self.height, stride, 0
        for i in range(spa.n_metas):
            meta = spa.metas[i]
            if meta.type != spa_pod.META_VIDEO_DAMAGE or not meta.data:
                continue
            regions = (pw.SpaMetaRegion * (meta.size // _REGION_BYTES)).from_address(meta.data)
            rects = list(damage or ())[: len(regions)]  # none: "no damage information"
            for region, rect in zip(regions, rects, strict=False):
                region.x, region.y = rect.x, rect.y
                region.width, region.height = rect.width, rect.height
            if len(rects) < len(regions):
                regions[len(rects)].width = regions[len(rects)].height = 0

    def close(self) -> None:
        with self._loop.locked():
            self._lib.pw_stream_disconnect(self._stream)
            self._lib.pw_stream_destroy(self._stream)
        self._loop.close()
