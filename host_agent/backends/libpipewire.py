"""libpipewire-0.3 through ctypes: the few calls a video stream needs, and the structs
they hand over.

Chosen over GStreamer's pipewiresrc through PyGObject: it needs nothing but the library
every PipeWire desktop has (PyGObject would have to be compiled on the customer's PC
against its GLib and GObject-Introspection headers), and it sees the buffers' metadata,
so the compositor's damage rectangles (SPA_META_VideoDamage) and cursor position reach the
pipeline; Debian 12's pipewiresrc (0.3.65) passes only the crop metadata on. The struct
layouts and enum values are libpipewire's 0.3 ABI (pipewire/stream.h, spa/buffer/*.h).

Everything here runs with PipeWire's thread loop: callbacks come on its thread with the
loop locked, and calls from other threads take the lock first (`ThreadLoop.locked`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Iterator
from typing import Any

LIBRARY_NAME = "libpipewire-0.3.so.0"
STREAM_EVENTS_VERSION = 2
ID_ANY = 0xFFFFFFFF
DIRECTION_INPUT = 0
DIRECTION_OUTPUT = 1
FLAG_AUTOCONNECT = 1 << 0
FLAG_MAP_BUFFERS = 1 << 2
FLAG_DRIVER = 1 << 3
STATE_ERROR = -1
STATE_UNCONNECTED = 0
STATE_PAUSED = 2
STATE_STREAMING = 3
CHUNK_FLAG_CORRUPTED = 1


class PipeWireUnavailable(Exception):
    """libpipewire-0.3 is not installed (no PipeWire on this system)."""


class SpaChunk(ctypes.Structure):
    _fields_ = [
        ("offset", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("stride", ctypes.c_int32),
        ("flags", ctypes.c_int32),
    ]


class SpaData(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("fd", ctypes.c_int64),
        ("mapoffset", ctypes.c_uint32),
        ("maxsize", ctypes.c_uint32),
        ("data", ctypes.c_void_p),
        ("chunk", ctypes.POINTER(SpaChunk)),
    ]


class SpaMeta(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("data", ctypes.c_void_p)]


class SpaBuffer(ctypes.Structure):
    _fields_ = [
        ("n_metas", ctypes.c_uint32),
        ("n_datas", ctypes.c_uint32),
        ("metas", ctypes.POINTER(SpaMeta)),
        ("datas", ctypes.POINTER(SpaData)),
    ]


class PwBuffer(ctypes.Structure):
    _fields_ = [
        ("buffer", ctypes.POINTER(SpaBuffer)),
        ("user_data", ctypes.c_void_p),
        ("size", ctypes.c_uint64),
        ("requested", ctypes.c_uint64),
    ]


class SpaMetaRegion(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int32),
        ("y", ctypes.c_int32),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
    ]


class SpaMetaCursor(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("x", ctypes.c_int32),
        ("y", ctypes.c_int32),
        ("hotspot_x", ctypes.c_int32),
        ("hotspot_y", ctypes.c_int32),
        ("bitmap_offset", ctypes.c_uint32),
    ]


class SpaPod(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("type", ctypes.c_uint32)]


DestroyCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
StateCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p)
ControlInfoCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
IoCallback = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32
)
ParamCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(SpaPod))
BufferCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(PwBuffer))
ProcessCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
CommandCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class StreamEvents(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("destroy", DestroyCallback),
        ("state_changed", StateCallback),
        ("control_info", ControlInfoCallback),
        ("io_changed", IoCallback),
        ("param_changed", ParamCallback),
        ("add_buffer", BufferCallback),
        ("remove_buffer", BufferCallback),
        ("process", ProcessCallback),
        ("drained", ProcessCallback),
        ("command", CommandCallback),
        ("trigger_done", ProcessCallback),
    ]


SPA_HOOK_BYTES = 48  # struct spa_hook: list link, callbacks, removed, priv


def _declare(lib: Any) -> None:
    p, u32, i32 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "pw_init": (None, [p, p]),
        "pw_thread_loop_new": (p, [ctypes.c_char_p, p]),
        "pw_thread_loop_get_loop": (p, [p]),
        "pw_thread_loop_start": (i32, [p]),
        "pw_thread_loop_stop": (None, [p]),
        "pw_thread_loop_lock": (None, [p]),
        "pw_thread_loop_unlock": (None, [p]),
        "pw_thread_loop_destroy": (None, [p]),
        "pw_context_new": (p, [p, p, ctypes.c_size_t]),
        "pw_context_destroy": (None, [p]),
        "pw_context_connect": (p, [p, p, ctypes.c_size_t]),
        "pw_context_connect_fd": (p, [p, i32, p, ctypes.c_size_t]),
        "pw_core_disconnect": (i32, [p]),
        "pw_properties_new_string": (p, [ctypes.c_char_p]),
        "pw_stream_new": (p, [p, ctypes.c_char_p, p]),
        "pw_stream_add_listener": (None, [p, p, ctypes.POINTER(StreamEvents), p]),
        "pw_stream_connect": (i32, [p, i32, u32, i32, ctypes.POINTER(p), u32]),
        "pw_stream_update_params": (i32, [p, ctypes.POINTER(p), u32]),
        "pw_stream_dequeue_buffer": (ctypes.POINTER(PwBuffer), [p]),
        "pw_stream_queue_buffer": (i32, [p, ctypes.POINTER(PwBuffer)]),
        "pw_stream_trigger_process": (i32, [p]),
        "pw_stream_get_node_id": (u32, [p]),
        "pw_stream_disconnect": (i32, [p]),
        "pw_stream_destroy": (None, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


_library: Any = None


def library() -> Any:
    """libpipewire, loaded and initialised once."""
    global _library
    if _library is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("pipewire-0.3") or LIBRARY_NAME)
            _declare(lib)
        except (OSError, AttributeError) as error:
            raise PipeWireUnavailable(f"libpipewire-0.3 cannot be used: {error}") from error
        lib.pw_init(None, None)
        _library = lib
    return _library


def params_array(pods: list[bytes]) -> tuple[Any, list[Any]]:
    """A `const struct spa_pod **` over `pods`, and the buffers it points into (keep them
    alive for the call)."""
    buffers = [ctypes.create_string_buffer(pod, len(pod)) for pod in pods]
    array = (ctypes.c_void_p * len(pods))(*[ctypes.addressof(b) for b in buffers])
    return array, buffers


def pod_bytes(pod: Any) -> bytes:
    """The bytes of a `struct spa_pod *` handed to a callback (header and body)."""
    header = pod.contents
    return ctypes.string_at(ctypes.addressof(header), 8 + header.size)


class ThreadLoop:
    """A PipeWire thread loop with a context, connected to a PipeWire daemon: through `fd`
    (a portal's OpenPipeWireRemote), or to the user's own daemon."""

    def __init__(self, name: str, fd: int | None = None) -> None:
        lib = library()
        self.lib = lib
        self._loop = lib.pw_thread_loop_new(name.encode(), None)
        if not self._loop:
            raise OSError("pw_thread_loop_new failed")
        self._context = lib.pw_context_new(lib.pw_thread_loop_get_loop(self._loop), None, 0)
        if not self._context:
            lib.pw_thread_loop_destroy(self._loop)
            raise OSError("pw_context_new failed")
        if lib.pw_thread_loop_start(self._loop) < 0:
            self._destroy_context()
            raise OSError("pw_thread_loop_start failed")
        with self.locked():
            if fd is None:
                self.core = lib.pw_context_connect(self._context, None, 0)
            else:
                # PipeWire takes the descriptor over (and closes it with the core).
                self.core = lib.pw_context_connect_fd(self._context, fd, None, 0)
        if not self.core:
            self.close()
            raise ConnectionError("cannot connect to PipeWire")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.lib.pw_thread_loop_lock(self._loop)
        try:
            yield
        finally:
            self.lib.pw_thread_loop_unlock(self._loop)

    def close(self) -> None:
        """Stop the loop's thread, then let go of core and context (streams first)."""
        if self._loop is None:
            return
        self.lib.pw_thread_loop_stop(self._loop)
        if getattr(self, "core", None):
            self.lib.pw_core_disconnect(self.core)
            self.core = None
        self._destroy_context()

    def _destroy_context(self) -> None:
        self.lib.pw_context_destroy(self._context)
        self.lib.pw_thread_loop_destroy(self._loop)
        self._loop = None
