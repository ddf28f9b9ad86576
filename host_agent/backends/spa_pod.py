"""SPA pods, the binary values PipeWire negotiates streams with: the few this agent builds
(the formats it reads, the buffers and metadata it asks for) and reads (the format agreed).

Sans-I/O: bytes in, bytes out. A pod is a header (body size, type: two u32) and a body
padded to 8 bytes; an object's body is its type and id, then properties (key, flags,
value pod); a choice's body is its kind, flags, one child header and the values packed
after it. Values are native-endian (PipeWire is a local protocol). The numbers below are
libspa's (spa/utils/type.h, spa/param/*.h), which are ABI.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Pod types.
TYPE_ID = 3
TYPE_INT = 4
TYPE_LONG = 5
TYPE_RECTANGLE = 10
TYPE_FRACTION = 11
TYPE_OBJECT = 15
TYPE_CHOICE = 19
# Choice kinds.
CHOICE_NONE = 0
CHOICE_RANGE = 1
CHOICE_ENUM = 3
CHOICE_FLAGS = 4
# Object types and the ids of the params they are.
OBJECT_FORMAT = 0x40003
OBJECT_PARAM_BUFFERS = 0x40004
OBJECT_PARAM_META = 0x40005
PARAM_ENUM_FORMAT = 3
PARAM_FORMAT = 4
PARAM_BUFFERS = 5
PARAM_META = 6
# Format keys.
FORMAT_MEDIA_TYPE = 1
FORMAT_MEDIA_SUBTYPE = 2
FORMAT_VIDEO_FORMAT = 0x20001
FORMAT_VIDEO_MODIFIER = 0x20002
FORMAT_VIDEO_SIZE = 0x20003
FORMAT_VIDEO_FRAMERATE = 0x20004
MEDIA_TYPE_VIDEO = 2
MEDIA_SUBTYPE_RAW = 1
# Video formats (enum spa_video_format).
VIDEO_RGBX = 7
VIDEO_BGRX = 8
VIDEO_RGBA = 11
VIDEO_BGRA = 12
# Buffers and meta param keys.
BUFFERS_BUFFERS = 1
BUFFERS_BLOCKS = 2
BUFFERS_SIZE = 3
BUFFERS_STRIDE = 4
BUFFERS_DATA_TYPE = 6
META_TYPE = 1
META_SIZE = 2
# Metadata types (enum spa_meta_type) and memory types (enum spa_data_type).
META_HEADER = 1
META_VIDEO_CROP = 2
META_VIDEO_DAMAGE = 3
META_BITMAP = 4
META_CURSOR = 5
DATA_MEM_PTR = 1
DATA_MEM_FD = 2
DATA_DMA_BUF = 3

_HEADER = struct.Struct("=II")


class PodError(Exception):
    """A pod that is cut short or not what this agent asked for."""


def _pad(body: bytes) -> bytes:
    return body + b"\0" * (-len(body) % 8)


def _pod(kind: int, body: bytes) -> bytes:
    return _HEADER.pack(len(body), kind) + _pad(body)


def pod_id(value: int) -> bytes:
    return _pod(TYPE_ID, struct.pack("=I", value))


def pod_int(value: int) -> bytes:
    return _pod(TYPE_INT, struct.pack("=i", value))


def pod_rectangle(width: int, height: int) -> bytes:
    return _pod(TYPE_RECTANGLE, struct.pack("=II", width, height))


def pod_fraction(num: int, denom: int) -> bytes:
    return _pod(TYPE_FRACTION, struct.pack("=II", num, denom))


def pod_choice(kind: int, value_type: int, values: list[bytes]) -> bytes:
    """A choice of `values` (each a packed body of `value_type`, all of one size); the
    first is the default."""
    size = len(values[0])
    body = struct.pack("=II", kind, 0) + _HEADER.pack(size, value_type) + b"".join(values)
    return _pod(TYPE_CHOICE, body)


def pod_object(object_type: int, param_id: int, properties: list[tuple[int, bytes]]) -> bytes:
    body = struct.pack("=II", object_type, param_id)
    body += b"".join(struct.pack("=II", key, 0) + value for key, value in properties)
    return _pod(TYPE_OBJECT, body)


def video_formats(width: int, height: int, max_side: int) -> bytes:
    """EnumFormat: raw video in the 32-bit layouts this agent copies (BGRx first: no
    conversion), any size (shared memory: no DMA-BUF modifier is offered, so a compositor
    without a GPU path sends what the CPU can read)."""
    formats = [VIDEO_BGRX, VIDEO_BGRX, VIDEO_BGRA, VIDEO_RGBX, VIDEO_RGBA]
    return pod_object(
        OBJECT_FORMAT,
        PARAM_ENUM_FORMAT,
        [
            (FORMAT_MEDIA_TYPE, pod_id(MEDIA_TYPE_VIDEO)),
            (FORMAT_MEDIA_SUBTYPE, pod_id(MEDIA_SUBTYPE_RAW)),
            (
                FORMAT_VIDEO_FORMAT,
                pod_choice(CHOICE_ENUM, TYPE_ID, [struct.pack("=I", f) for f in formats]),
            ),
            (
                FORMAT_VIDEO_SIZE,
                pod_choice(
                    CHOICE_RANGE,
                    TYPE_RECTANGLE,
                    [
                        struct.pack("=II", width, height),
                        struct.pack("=II", 1, 1),
                        struct.pack("=II", max_side, max_side),
                    ],
                ),
            ),
            (
                FORMAT_VIDEO_FRAMERATE,
                pod_choice(
                    CHOICE_RANGE,
                    TYPE_FRACTION,
                    [
                        struct.pack("=II", 30, 1),
                        struct.pack("=II", 0, 1),
                        struct.pack("=II", 60, 1),
                    ],
                ),
            ),
        ],
    )


def buffers_param(data_types: int, size: int = 0, stride: int = 0) -> bytes:
    """Buffers: memory the CPU can map (a bit mask of DATA_* types); with `size` and
    `stride` as a producer states them, or left to the producer."""
    properties = [
        (
            BUFFERS_BUFFERS,
            pod_choice(CHOICE_RANGE, TYPE_INT, [struct.pack("=i", n) for n in (4, 2, 8)]),
        ),
        (BUFFERS_BLOCKS, pod_int(1)),
    ]
    if size:
        properties += [(BUFFERS_SIZE, pod_int(size)), (BUFFERS_STRIDE, pod_int(stride))]
    mask = pod_choice(CHOICE_FLAGS, TYPE_INT, [struct.pack("=i", data_types)])
    properties.append((BUFFERS_DATA_TYPE, mask))
    return pod_object(OBJECT_PARAM_BUFFERS, PARAM_BUFFERS, properties)


def meta_param(
    meta_type: int, size: int, smallest: int | None = None, largest: int | None = None
) -> bytes:
    """Meta: ask for one kind of metadata on each buffer, of `size` bytes, or of any size
    from `smallest` to `largest` (a producer announces its own size: a fixed size that
    differs from it loses the metadata)."""
    if smallest is None or largest is None:
        value = pod_int(size)
    else:
        value = pod_choice(
            CHOICE_RANGE, TYPE_INT, [struct.pack("=i", n) for n in (size, smallest, largest)]
        )
    return pod_object(
        OBJECT_PARAM_META, PARAM_META, [(META_TYPE, pod_id(meta_type)), (META_SIZE, value)]
    )


@dataclass(frozen=True, slots=True)
class VideoFormat:
    """The format a stream agreed on."""

    video_format: int
    width: int
    height: int
    modifier: int | None  # set: DMA-BUF with this modifier


def parse_video_format(data: bytes) -> VideoFormat:
    """The raw video format of a Format param (an object pod)."""
    properties = parse_object(data, OBJECT_FORMAT)
    try:
        media = _first(properties[FORMAT_MEDIA_TYPE], "=I")[0]
        subtype = _first(properties[FORMAT_MEDIA_SUBTYPE], "=I")[0]
        video_format = _first(properties[FORMAT_VIDEO_FORMAT], "=I")[0]
        width, height = _first(properties[FORMAT_VIDEO_SIZE], "=II")
    except KeyError as missing:
        raise PodError(f"the stream's format lacks property {missing}") from None
    if (media, subtype) != (MEDIA_TYPE_VIDEO, MEDIA_SUBTYPE_RAW):
        raise PodError("the stream does not carry raw video")
    modifier = None
    if FORMAT_VIDEO_MODIFIER in properties:
        modifier = _first(properties[FORMAT_VIDEO_MODIFIER], "=q")[0]
    return VideoFormat(video_format, width, height, modifier)


def parse_object(data: bytes, object_type: int) -> dict[int, tuple[int, bytes]]:
    """An object pod's properties: key -> (value type, value body)."""
    kind, body = _read_pod(data, 0)
    if kind != TYPE_OBJECT or len(body) < 8:
        raise PodError("expected an object pod")
    found_type, _param_id = struct.unpack_from("=II", body)
    if found_type != object_type:
        raise PodError(f"expected object type {object_type:#x}, got {found_type:#x}")
    properties: dict[int, tuple[int, bytes]] = {}
    offset = 8
    while offset + 16 <= len(body):
        key, _flags = struct.unpack_from("=II", body, offset)
        size, value_type = _HEADER.unpack_from(body, offset + 8)
        value = body[offset + 16 : offset + 16 + size]
        if len(value) != size:
            raise PodError("an object property is cut short")
        properties[key] = (value_type, value)
        offset += 16 + size + (-size % 8)
    return properties


def _read_pod(data: bytes, offset: int) -> tuple[int, bytes]:
    if len(data) < offset + 8:
        raise PodError("a pod is cut short")
    size, kind = _HEADER.unpack_from(data, offset)
    body = data[offset + 8 : offset + 8 + size]
    if len(body) != size:
        raise PodError("a pod's body is cut short")
    return kind, body


def _first(value: tuple[int, bytes], layout: str) -> tuple[int, ...]:
    """A property's value, or the first (default) value of a choice."""
    kind, body = value
    if kind == TYPE_CHOICE:
        if len(body) < 16:
            raise PodError("a choice is cut short")
        body = body[16:]
    need = struct.calcsize(layout)
    if len(body) < need:
        raise PodError("a value is cut short")
    return struct.unpack_from(layout, body)
