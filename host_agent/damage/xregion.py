"""XFixes regions, which python-xlib does not offer: one region to receive a DAMAGE object's
damage (DamageSubtract's `parts`) and read back as rectangles.

Only the three requests that needs (XFixes 2.0, which every X server of the last twenty
years has): CreateRegion, DestroyRegion and FetchRegion.
"""

from __future__ import annotations

import struct
from typing import Any

from Xlib.protocol import rq

from host_agent.damage.tiles import Rect

EXTENSION = "XFIXES"
REGIONS_VERSION = (2, 0)
# A rectangle on the wire: x, y (INT16), width, height (CARD16), in the connection's byte
# order, which python-xlib chooses as the machine's.
_RECTANGLE = struct.Struct("=hhHH")


class _CreateRegion(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(5),
        rq.RequestLength(),
        rq.Card32("region"),
    )


class _DestroyRegion(rq.Request):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(10),
        rq.RequestLength(),
        rq.Card32("region"),
    )


class _FetchRegion(rq.ReplyRequest):
    _request = rq.Struct(
        rq.Card8("opcode"),
        rq.Opcode(19),
        rq.RequestLength(),
        rq.Card32("region"),
    )
    _reply = rq.Struct(
        rq.ReplyCode(),
        rq.Pad(1),
        rq.Card16("sequence_number"),
        rq.ReplyLength(),
        rq.Int16("x"),  # the extents
        rq.Int16("y"),
        rq.Card16("width"),
        rq.Card16("height"),
        rq.Pad(16),
        rq.String8("rectangles"),  # the rest of the reply
    )


def create(display: Any) -> int | None:
    """A new, empty region on `display` (a python-xlib Display), or None without XFixes
    regions."""
    if not display.has_extension(EXTENSION):
        return None
    reply = display.xfixes_query_version()
    if (reply.major_version, reply.minor_version) < REGIONS_VERSION:
        return None
    region: int = display.display.allocate_resource_id()
    _CreateRegion(display=display.display, opcode=_opcode(display), region=region)
    return region


def fetch(display: Any, region: int, most: int) -> list[Rect]:
    """The rectangles of `region` (a round trip); only the box around them (the region's
    extents) when there are more than `most`."""
    reply = _FetchRegion(display=display.display, opcode=_opcode(display), region=region)
    data = reply.rectangles
    if isinstance(data, str):  # python-xlib hands out String8 as text on some versions
        data = data.encode("latin-1")
    if len(data) // _RECTANGLE.size > most:
        return [Rect(reply.x, reply.y, reply.width, reply.height)]
    return [
        Rect(x, y, width, height)
        for x, y, width, height in _RECTANGLE.iter_unpack(data)
        if width and height
    ]


def destroy(display: Any, region: int) -> None:
    _DestroyRegion(display=display.display, opcode=_opcode(display), region=region)


def _opcode(display: Any) -> int:
    opcode: int = display.display.get_extension_major(EXTENSION)
    return opcode
