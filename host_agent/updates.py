"""What the pipeline hands to the streaming task: an update ready to be numbered and sent,
and where the pointer is."""

from __future__ import annotations

from dataclasses import dataclass

from protocol import messages
from protocol.messages import CopyRect, Tile, VideoPacket

# Encoded size of a copy in the update (six small integers), for flow-control accounting.
COPY_BYTES = 12


@dataclass(frozen=True, slots=True)
class PreparedUpdate:
    """A frame update ready to be numbered and sent."""

    capture_time: float  # host wall clock, seconds since the epoch
    width: int
    height: int
    tiles: tuple[Tile, ...]
    copies: tuple[CopyRect, ...] = ()
    video: tuple[VideoPacket, ...] = ()

    @property
    def size_bytes(self) -> int:
        return (
            sum(len(tile.data) for tile in self.tiles)
            + sum(len(packet.data) for packet in self.video)
            + COPY_BYTES * len(self.copies)
        )

    def message(self, seq: int) -> messages.FrameUpdate:
        """The message to send as update `seq`: a FrameUpdate, extended when it must be."""
        if not self.copies and not self.video:
            return messages.FrameUpdate(seq, self.capture_time, self.width, self.height, self.tiles)
        return messages.ExtendedFrameUpdate(
            seq,
            self.capture_time,
            self.width,
            self.height,
            self.tiles,
            self.copies,
            self.video,
        )


Pointer = tuple[int, int] | None  # relative to the shared monitor; None: elsewhere


@dataclass(frozen=True, slots=True)
class Change:
    """What `next_change` found: an update to send (or None) and where the pointer is."""

    update: PreparedUpdate | None
    pointer: Pointer
