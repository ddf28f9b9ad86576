"""Recordings of a made-up session, as host and viewer would each write them.

Messages travel through in-flight queues, so the two files interleave the directions
differently, exactly as over a real channel; checkpoints go to lists that stand in for
the relay's ledger (`ledger`: traffic heads only; `reports`: file heads and final reports).
"""

from __future__ import annotations

import io
import random
from collections import deque
from dataclasses import dataclass, field

from PIL import Image

from protocol import messages
from protocol.channel import Direction
from protocol.handshake import Role
from protocol.messages import Codec, Tile
from protocol.recording import RecordingHeader, outgoing
from protocol.recording_verify import LedgerCheckpoint
from protocol.recording_writer import CheckpointWritten, RecordingWriter

SESSION = "482139"
START = 1_714_572_000.0
WIDTH, HEIGHT = 64, 48
TERMS_HASH = bytes(range(32))


def header(side: Role) -> RecordingHeader:
    return RecordingHeader(
        side=side,
        session=SESSION,
        technician="Erika Muster",
        relay="wss://relay.example:8765",
        start_time=START,
        screen_width=WIDTH,
        screen_height=HEIGHT,
        terms_hash=TERMS_HASH,
        customer="K-1001",
    )


def png_tile(x: int, y: int, width: int, height: int, colour: tuple[int, int, int]) -> Tile:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return Tile(x, y, width, height, Codec.PNG, out.getvalue())


def noise_tile(x: int, y: int, seed: int) -> Tile:
    """A 16x16 PNG of noise: a frame update too large to be stored compressed."""
    out = io.BytesIO()
    Image.frombytes("RGB", (16, 16), random.Random(seed).randbytes(16 * 16 * 3)).save(out, "PNG")
    return Tile(x, y, 16, 16, Codec.PNG, out.getvalue())


def frame_update(seq: int, time: float) -> messages.FrameUpdate:
    """Small updates (a fill, a one-colour PNG), every fourth one large (noise)."""
    shade = (seq * 37) % 256
    if seq == 0:
        tiles = (Tile(0, 0, WIDTH, HEIGHT, Codec.FILL, bytes((shade, 0, 0))),)
    elif seq % 4 == 3:
        tiles = (noise_tile(16 * (seq % 4), 16, seq),)
    else:
        tiles = (png_tile(16 * (seq % 4), 16, 16, 16, (0, shade, 255 - shade)),)
    return messages.FrameUpdate(seq, time, WIDTH, HEIGHT, tiles)


@dataclass
class Session:
    host: RecordingWriter = field(default_factory=lambda: RecordingWriter(header(Role.HOST)))
    viewer: RecordingWriter = field(default_factory=lambda: RecordingWriter(header(Role.VIEWER)))
    host_file: bytearray = field(default_factory=bytearray)
    viewer_file: bytearray = field(default_factory=bytearray)
    # The traffic chain heads of the checkpoints, as a relay from before file heads stored them.
    ledger: list[LedgerCheckpoint] = field(default_factory=list)
    # What each side reports today: file chain heads too, and a final report after END.
    reports: list[LedgerCheckpoint] = field(default_factory=list)
    in_flight: dict[Direction, deque[bytes]] = field(
        default_factory=lambda: {d: deque() for d in Direction}
    )
    time: float = START
    frames: int = 0
    frame_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.host_file += self.host.header_bytes()
        self.viewer_file += self.viewer.header_bytes()

    def tick(self, seconds: float = 0.1) -> float:
        self.time += seconds
        return self.time

    def host_sends(self, message: messages.Message) -> None:
        plaintext = messages.encode(message)
        self.host_file += self.host.sent(self.tick(), plaintext)
        self.in_flight[Direction.HOST_TO_VIEWER].append(plaintext)

    def viewer_sends(self, message: messages.Message) -> None:
        plaintext = messages.encode(message)
        self.viewer_file += self.viewer.sent(self.tick(), plaintext)
        self.in_flight[Direction.VIEWER_TO_HOST].append(plaintext)

    def deliver(self) -> None:
        """Everything in flight arrives; the viewer acks each frame update it gets."""
        while self.in_flight[Direction.VIEWER_TO_HOST]:
            plaintext = self.in_flight[Direction.VIEWER_TO_HOST].popleft()
            index = self.host.heads().viewer_to_host_messages
            self.host_file += self.host.received(self.tick(0.01), plaintext)
            message = messages.decode(plaintext)
            if isinstance(message, messages.INPUT_TYPES):
                applied = not isinstance(message, messages.Key)
                self.host_file += self.host.input_outcome(
                    self.time, index, applied, "" if applied else "view only"
                )
        while self.in_flight[Direction.HOST_TO_VIEWER]:
            plaintext = self.in_flight[Direction.HOST_TO_VIEWER].popleft()
            self.viewer_file += self.viewer.received(self.tick(0.01), plaintext)
            message = messages.decode(plaintext)
            if isinstance(message, messages.FrameUpdate):
                self.frame_times.append(self.time)
                self.viewer_sends(messages.Ack(message.seq))

    def host_checkpoint(self) -> None:
        written = self.host.checkpoint(self.tick())
        self.host_file += written.data
        self.in_flight[Direction.HOST_TO_VIEWER].append(written.plaintext)
        self.report(Role.HOST, written)

    def viewer_checkpoint(self) -> None:
        written = self.viewer.checkpoint(self.tick())
        self.viewer_file += written.data
        self.in_flight[Direction.VIEWER_TO_HOST].append(written.plaintext)
        self.report(Role.VIEWER, written)

    def send_frame(self) -> None:
        self.host_sends(frame_update(self.frames, self.time))
        self.frames += 1

    def report(self, side: Role, written: CheckpointWritten) -> None:
        records, head = written.message.records, written.message.head
        self.ledger.append(LedgerCheckpoint(records, head, side, self.time))
        self.reports.append(
            LedgerCheckpoint(
                records, head, side, self.time, written.file_records, written.file_head
            )
        )

    def end(self, reason: str = "the technician ended the session") -> None:
        """Both END records, each followed by its side's final report (in `reports`)."""
        self.host_file += self.host.end(self.tick(), reason)
        self.report_final(Role.HOST, self.host)
        self.viewer_file += self.viewer.end(self.tick(), reason)
        self.report_final(Role.VIEWER, self.viewer)

    def report_final(self, side: Role, writer: RecordingWriter) -> None:
        heads = writer.heads()
        records, head = heads.traffic(outgoing(side))
        self.reports.append(
            LedgerCheckpoint(records, head, side, self.time, heads.file_records, heads.file_head)
        )


def typical_session(frames: int = 12) -> Session:
    """Hello both ways, frames, cursor, consent, inputs, chat, pause, checkpoints, the end."""
    session = Session()
    session.host_sends(messages.Hello((1,), ("tiles",), WIDTH, HEIGHT))
    session.viewer_sends(messages.Hello((1,), (), 0, 0))
    session.host_sends(messages.ConsentState(messages.ConsentLevel.CONTROL))
    for number in range(frames):
        session.send_frame()
        if number % 3 == 0:
            session.host_sends(messages.Cursor(number, number, True))
        if number % 2 == 1:
            # The viewer sends before it has seen what is in flight: interleavings differ.
            session.viewer_sends(messages.PointerMove(number, 2 * number))
            session.viewer_sends(messages.Key("a", number % 4 == 1))
        if number == frames // 2:
            session.host_sends(messages.Pause())
            session.host_sends(messages.Chat("Einen Moment bitte"))
            session.host_sends(messages.Resume())
            session.host_checkpoint()
            session.viewer_checkpoint()
        if number % 2 == 0:
            session.deliver()
    session.viewer_sends(messages.Bye("done"))
    session.host_checkpoint()
    session.deliver()
    session.viewer_checkpoint()
    session.deliver()
    session.end()
    return session
