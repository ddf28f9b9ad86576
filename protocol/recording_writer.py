"""The evidence recording's writer: a session's events in, the bytes of its file out, in
order (sans-I/O: `endpoint/recorder.py` owns the file). The format, the chains and the
checkpoint exchange are described in `protocol/recording.py`."""

from __future__ import annotations

import enum
import zlib
from dataclasses import dataclass
from typing import NoReturn

from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.handshake import Role
from protocol.messages import MAX_MESSAGE_BYTES, MAX_TIMESTAMP, Checkpoint, encode
from protocol.recording import (
    COMPRESS_FROM_BYTES,
    COMPRESS_UP_TO_BYTES,
    COMPRESSED_KIND_BYTES,
    CRC,
    DEFLATE_WINDOW_BITS,
    KIND_BYTES,
    MAGIC,
    ONE_BYTE,
    Chains,
    End,
    Gap,
    Heads,
    InputOutcome,
    RecordingHeader,
    RecordKind,
    check_traffic_checkpoint,
    encode_header_block,
    encode_varint,
    incoming,
    milliseconds,
    outgoing,
    pack_payload,
    zigzag,
)


@dataclass(frozen=True, slots=True)
class CheckpointWritten:
    """What `RecordingWriter.checkpoint` produced: bytes to write, a message to send."""

    data: bytes  # the CHECKPOINT record and the recorded outgoing Checkpoint message
    message: Checkpoint  # send it next, and report (records, head) to the relay
    plaintext: bytes  # its encoding, already recorded: seal exactly these bytes
    file_records: int  # the file chain after `data`: report it to the relay too
    file_head: bytes


# A message record as (framing, payload as stored, CRC): written with one gathered write,
# so a large payload, the bulk of the file, is not copied on its way there.
RecordPieces = tuple[bytes, bytes, bytes]


class WriterState(enum.Enum):
    NEW = "new"
    RECORDING = "recording"
    ENDED = "ended"


class RecordingWriter:
    """Turns a session's events into the bytes of its recording, in order.

    Call `header_bytes()` once, then one method per event; write every returned byte
    string to the file, in order. Record each outgoing message just before sealing it.
    """

    def __init__(self, header: RecordingHeader) -> None:
        self.header = header
        self._header_block = encode_header_block(header)
        self._chains = Chains(header, self._header_block)
        self._last_milliseconds = milliseconds(header.start_time)
        self._outgoing = outgoing(header.side)
        self._incoming = incoming(header.side)
        # The one DEFLATE stream of the file's compressed records (see protocol/recording.py);
        # level 1: the fastest, and on typing updates within 2 % of level 6.
        self._deflate = zlib.compressobj(1, zlib.DEFLATED, DEFLATE_WINDOW_BITS)
        self.state = WriterState.NEW

    def header_bytes(self) -> bytes:
        self._expect(WriterState.NEW, "start")
        self.state = WriterState.RECORDING
        return MAGIC + self._header_block

    def sent(self, time: float, plaintext: bytes) -> bytes:
        """Record a message this side is about to seal and send."""
        return b"".join(self.sent_pieces(time, plaintext))

    def received(self, time: float, plaintext: bytes) -> bytes:
        """Record a message from the peer (`Received.plaintext`) before acting on it."""
        return b"".join(self.received_pieces(time, plaintext))

    def sent_pieces(self, time: float, plaintext: bytes) -> RecordPieces:
        """`sent`, as the pieces to write in one gathered write (the payload is not copied)."""
        return self._message(self._outgoing, time, plaintext)

    def received_pieces(self, time: float, plaintext: bytes) -> RecordPieces:
        """`received`, as the pieces to write in one gathered write."""
        return self._message(self._incoming, time, plaintext)

    def input_outcome(
        self, time: float, message_index: int, applied: bool, reason: str = ""
    ) -> bytes:
        """Host: the input in viewer->host message `message_index` (from 0) was applied."""
        if self.header.side is not Role.HOST:
            raise ProtocolError("only the host applies input")
        if message_index >= self._chains.messages(Direction.VIEWER_TO_HOST):
            raise ProtocolError("an input outcome must follow the input it concerns")
        return self._append(
            RecordKind.INPUT_OUTCOME,
            time,
            pack_payload(InputOutcome(message_index, applied, reason)),
        )

    def checkpoint(self, time: float) -> CheckpointWritten:
        """A CHECKPOINT record, and the Checkpoint message to send right after."""
        data = self._append(RecordKind.CHECKPOINT, time, pack_payload(self._chains.heads()))
        records, head = self._chains.traffic[self._outgoing]
        message = Checkpoint(records=records, head=head)
        plaintext = encode(message)
        data += self.sent(time, plaintext)
        chains = self._chains
        return CheckpointWritten(data, message, plaintext, chains.file_records, chains.file_head)

    def gap(self, time: float, reason: str) -> bytes:
        return self._append(RecordKind.GAP, time, pack_payload(Gap(reason)))

    def end(self, time: float, reason: str) -> bytes:
        """The final CHECKPOINT record and the END record; nothing may follow."""
        data = self._append(RecordKind.CHECKPOINT, time, pack_payload(self._chains.heads()))
        data += self._append(RecordKind.END, time, pack_payload(End(reason)))
        self.state = WriterState.ENDED
        return data

    def heads(self) -> Heads:
        return self._chains.heads()

    def messages(self, direction: Direction) -> int:
        """How many messages of `direction` are recorded (the next one's index)."""
        return self._chains.messages(direction)

    def _expect(self, state: WriterState, event: str) -> None:
        if self.state is not state:
            raise ProtocolError(f"cannot {event} a recording in state '{self.state.value}'")

    def _message(self, direction: Direction, time: float, plaintext: bytes) -> RecordPieces:
        # Every message passes here, most often between two frame decodes that have pushed
        # this code and its data out of the caches, where each call costs many times what
        # it costs in a loop: hence `milliseconds`, `_framing` and the short varints written
        # out. A large payload is read once for its CRC and once for its traffic head, and
        # is never copied; a small one is stored compressed.
        size = len(plaintext)
        if (
            size > MAX_MESSAGE_BYTES
            or self.state is not WriterState.RECORDING
            or not 0.0 <= time <= MAX_TIMESTAMP  # NaN too
        ):
            self._refuse(size, time)
        chains = self._chains
        if size > 1 and plaintext[1] == Checkpoint.TYPE:  # a first look, as message_type()
            check_traffic_checkpoint(chains, direction, plaintext)
        now = round(time * 1000)
        sequence = chains.file_records + 1
        step = now - self._last_milliseconds
        step = step * 2 if step >= 0 else -step * 2 - 1  # zigzag
        if COMPRESS_FROM_BYTES <= size <= COMPRESS_UP_TO_BYTES:
            deflate = self._deflate
            stored = deflate.compress(plaintext) + deflate.flush(zlib.Z_SYNC_FLUSH)
            kind = COMPRESSED_KIND_BYTES[direction]
        else:
            stored = plaintext
            kind = KIND_BYTES[direction]
        body = (
            kind
            + (ONE_BYTE[sequence] if sequence < 0x80 else encode_varint(sequence))
            + (ONE_BYTE[step] if step < 0x80 else encode_varint(step))
        )
        length = len(body) + len(stored)
        framing = (ONE_BYTE[length] if length < 0x80 else encode_varint(length)) + body
        checksum = CRC.pack(zlib.crc32(stored, zlib.crc32(framing)))
        chains.extend_message(direction, framing, plaintext, checksum)
        self._last_milliseconds = now
        return framing, stored, checksum

    def _refuse(self, size: int, time: float) -> NoReturn:
        """Why `_message` cannot record this message (kept off its path)."""
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        self._expect(WriterState.RECORDING, "record a message in")
        raise ValueError("a record's time is seconds since the epoch")

    def _append(self, kind: RecordKind, time: float, payload: bytes) -> bytes:
        """A whole record; local records come this way, messages take `_message`."""
        self._expect(WriterState.RECORDING, f"add a {kind.name.lower()} record to")
        framing, now = self._framing(kind, time, len(payload))
        record = framing + payload
        record += CRC.pack(zlib.crc32(record))
        self._chains.extend(record, kind, payload, len(framing))
        self._last_milliseconds = now
        return record

    def _framing(self, kind: int, time: float, payload_bytes: int) -> tuple[bytes, int]:
        """The next record's length, kind, sequence number and time step; its time in ms."""
        now = milliseconds(time)
        sequence = self._chains.file_records + 1
        body = (
            bytes((kind,))
            + encode_varint(sequence)
            + encode_varint(zigzag(now - self._last_milliseconds))
        )
        return encode_varint(len(body) + payload_bytes) + body, now
