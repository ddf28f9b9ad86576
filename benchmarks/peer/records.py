"""What one measured run of one system on one scenario collects, in the same shape for all."""

from __future__ import annotations

from dataclasses import dataclass, field

Region = tuple[int, int, int, int]  # x, y, width, height in screen pixels


@dataclass(frozen=True, slots=True)
class Change:
    """A change the workload made to the screen: when (wall clock, s) and where."""

    at: float
    region: Region
    characters: int = 0  # keys typed by this change (typing scenarios)
    kind: str = ""  # "typed", "stop", "maximise": changes a scenario times on their own


@dataclass(frozen=True, slots=True)
class Delivery:
    """A frame update the client finished receiving.

    `regions` is where it changed the screen when the protocol says so (RFB rectangles),
    None when it does not (fernwartung's stats); `captured_at` is the host's capture time
    when known (fernwartung), None otherwise.
    """

    completed_at: float
    bytes: int
    regions: tuple[Region, ...] | None = None
    captured_at: float | None = None


@dataclass(frozen=True, slots=True)
class WireChunk:
    """Bytes that crossed the client's TCP connection at one moment (wall clock, s)."""

    at: float
    to_client: int
    to_server: int


@dataclass(slots=True)
class Capture:
    """Everything recorded while one system served one scenario."""

    deliveries: list[Delivery] = field(default_factory=list)
    wire: list[WireChunk] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    wire_source: str = "TCP payload bytes of the client connection"
    # On a shaped line: bytes that crossed it from the host's side (to_client), when they
    # reached its far end. The relay forwards a message only once it has all of it, so
    # the viewer's connection can be quiet while a large update is still crossing the line.
    line_up: list[WireChunk] = field(default_factory=list)
