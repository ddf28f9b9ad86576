"""A recording read once into what `info`, `export` and the player need.

`scan` walks the file record by record without keeping large frames in memory: it counts,
keeps where each frame update lies in the file (the small ones stored compressed are kept
inflated, since the file's DEFLATE stream cannot be entered in the middle), and lists the
events a person reviews beside the picture (inputs and their outcome, consent, pause, chat,
checkpoints, gaps, the end).
A damaged or cut file is scanned up to the damage, which `Timeline.damage` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from protocol import messages
from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.recording import RecordingHeader, RecordKind, decode_local
from protocol.recording_reader import Record, RecordingDamaged, RecordReader

_CONSENT_WORDS = {
    messages.ConsentLevel.PENDING: "consent pending",
    messages.ConsentLevel.DENIED: "consent denied",
    messages.ConsentLevel.VIEW: "consent: view only",
    messages.ConsentLevel.CONTROL: "consent: view and control",
}


@dataclass(frozen=True, slots=True)
class FrameEntry:
    """Where one frame update lies in the file, and when it was recorded."""

    time: float
    offset: int  # of its payload, the message's plaintext
    size: int
    inflated: bytes | None = None  # the plaintext itself, when stored compressed (small)


@dataclass(frozen=True, slots=True)
class Event:
    time: float
    category: str  # input, outcome, consent, session, chat, checkpoint
    text: str


@dataclass(frozen=True, slots=True)
class Timeline:
    header: RecordingHeader
    frames: tuple[FrameEntry, ...]
    events: tuple[Event, ...]
    records: int
    bytes: int  # of the well-formed part
    frame_bytes: int
    inputs: int
    inputs_applied: int
    inputs_dropped: int
    consent_changes: int
    chats: int
    checkpoints: int
    gaps: int
    # Checkpoint messages each side sent, as the relay's ledger holds their reports:
    # {"host": n, "viewer": m} (what `verify --ledger` counts in all).
    checkpoints_by_side: dict[str, int]
    last_time: float
    end_reason: str | None
    damage: str | None

    @property
    def duration(self) -> float:
        return max(0.0, self.last_time - self.header.start_time)


def describe(message: messages.Message, direction: Direction) -> Event | None:
    """How a reviewer reads one end-to-end message (None for those not worth a line)."""
    match message:
        case messages.PointerMove(x=x, y=y):
            return Event(0.0, "input", f"pointer to {x},{y}")
        case messages.PointerButton(x=x, y=y, button=button, pressed=pressed):
            state = "pressed" if pressed else "released"
            return Event(0.0, "input", f"{button.value} button {state} at {x},{y}")
        case messages.Scroll(x=x, y=y, dx=dx, dy=dy):
            return Event(0.0, "input", f"scroll {dx},{dy} at {x},{y}")
        case messages.Key(key=key, pressed=pressed):
            return Event(0.0, "input", f"key {key!r} {'pressed' if pressed else 'released'}")
        case messages.ConsentState(level=level):
            return Event(0.0, "consent", _CONSENT_WORDS[level])
        case messages.Pause():
            return Event(0.0, "consent", "the customer paused sharing")
        case messages.Resume():
            return Event(0.0, "consent", "the customer resumed sharing")
        case messages.ControlRequest():
            return Event(0.0, "consent", "the technician asked for control")
        case messages.Chat(text=text):
            who = "customer" if direction is Direction.HOST_TO_VIEWER else "technician"
            return Event(0.0, "chat", f"{who}: {text}")
        case messages.Checkpoint(records=records):
            who = "host" if direction is Direction.HOST_TO_VIEWER else "viewer"
            return Event(0.0, "checkpoint", f"{who}'s checkpoint after {records} messages")
        case messages.Bye(reason=reason):
            who = "host" if direction is Direction.HOST_TO_VIEWER else "viewer"
            return Event(0.0, "session", f"{who} said goodbye: {reason}")
    return None


class _Scan:
    def __init__(self, header: RecordingHeader) -> None:
        self.header = header
        self.frames: list[FrameEntry] = []
        self.events: list[Event] = []
        self.counts = dict.fromkeys(
            ("frame_bytes", "inputs", "applied", "dropped", "consent", "chats", "checkpoints"),
            0,
        )
        self.gaps = 0
        self.checkpoints_by_side = {"host": 0, "viewer": 0}
        self.last_time = header.start_time
        self.end_reason: str | None = None

    def add(self, record: Record) -> None:
        self.last_time = max(self.last_time, record.time)
        payload = record.payload
        if record.direction is not None:
            message = messages.decode(payload)
            if isinstance(message, messages.FrameUpdate):
                start = record.offset + record.payload_offset
                self.frames.append(FrameEntry(record.time, start, len(payload), record.inflated))
                self.counts["frame_bytes"] += len(payload)
                return
            event = describe(message, record.direction)
            if isinstance(message, messages.Checkpoint):
                sender = "host" if record.direction is Direction.HOST_TO_VIEWER else "viewer"
                self.checkpoints_by_side[sender] += 1
            if event is None:
                return
            self.counts["inputs"] += event.category == "input"
            self.counts["consent"] += isinstance(message, messages.ConsentState)
            self.counts["chats"] += event.category == "chat"
            self.events.append(Event(record.time, event.category, event.text))
            return
        value = decode_local(record.kind, payload)
        if record.kind is RecordKind.INPUT_OUTCOME:
            self.counts["applied" if value.applied else "dropped"] += 1
            verdict = "applied" if value.applied else f"dropped ({value.reason or 'no reason'})"
            text = f"input {value.message_index} {verdict}"
            self.events.append(Event(record.time, "outcome", text))
        elif record.kind is RecordKind.CHECKPOINT:
            self.counts["checkpoints"] += 1
        elif record.kind is RecordKind.GAP:
            self.gaps += 1
            self.events.append(Event(record.time, "session", f"not recorded: {value.reason}"))
        elif record.kind is RecordKind.END:
            self.end_reason = value.reason
            self.events.append(Event(record.time, "session", f"end: {value.reason}"))


def scan(source: bytes | BinaryIO) -> Timeline:
    """Read a recording once; raises RecordingDamaged only if even the header is unusable."""
    reader = RecordReader(source)
    header = reader.read_header()
    state = _Scan(header)
    damage = None
    records = 0
    try:
        for record in reader:
            state.add(record)
            records = record.position
    except RecordingDamaged as error:
        damage = str(error)
    except ProtocolError as error:
        damage = f"record {records + 1} cannot be read: {error}"
    counts = state.counts
    return Timeline(
        header=header,
        frames=tuple(state.frames),
        events=tuple(state.events),
        records=records,
        bytes=reader.offset,
        frame_bytes=counts["frame_bytes"],
        inputs=counts["inputs"],
        inputs_applied=counts["applied"],
        inputs_dropped=counts["dropped"],
        consent_changes=counts["consent"],
        chats=counts["chats"],
        checkpoints=counts["checkpoints"],
        gaps=state.gaps,
        checkpoints_by_side=dict(state.checkpoints_by_side),
        last_time=state.last_time,
        end_reason=state.end_reason,
        damage=damage,
    )


def read_frame(stream: BinaryIO, entry: FrameEntry) -> messages.FrameUpdate:
    """The frame update at `entry`, read again from the file and decoded."""
    if entry.inflated is not None:
        message = messages.decode(entry.inflated)
    else:
        stream.seek(entry.offset)
        message = messages.decode(stream.read(entry.size))
    if not isinstance(message, messages.FrameUpdate):
        raise ProtocolError("the recording changed while it was being read")
    return message
