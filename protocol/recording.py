"""The evidence recording of a session: file format and hash chains, sans-I/O.

A recording proves what the technician saw and did. Both host and viewer may write one;
each is one append-only file. This module defines the format and the chains;
`protocol/recording_writer.py` turns events into its bytes, `protocol/recording_reader.py`
reads them back, `protocol/recording_verify.py` checks them, `endpoint/recorder.py` owns
the file.
Nothing here opens a file or reads a clock: every time is passed in (seconds since the
epoch, wall clock, as the shell saw it).

File layout, all integers big-endian:

    magic    8 bytes   b"\\x89FWREC\\r\\n"  (the high byte and CR LF catch text-mode mangling)
    header   u32 length | msgpack [format version, [header fields]] | u32 CRC-32
    record*  varint length | body | u32 CRC-32 of length and body
    body   = u8 kind | varint sequence number | varint time step | payload

A varint is an unsigned LEB128 number (7 bits a byte, low bits first) in its shortest
form, at most `MAX_LENGTH_VARINT_BYTES`, `MAX_SEQUENCE_VARINT_BYTES` and
`MAX_TIME_VARINT_BYTES` bytes long; anything longer or not shortest is refused. The time
step is the record's time in whole milliseconds minus the previous record's (the header's
start time for the first record), zigzag-encoded (0, -1, 1, -2, ... as 0, 1, 2, 3, ...) so
that a wall clock stepping back costs nothing special. Records are numbered from 1 in the
order written; the sequence number is that number, so a removed or moved record shows as a
gap or a step back. A length is checked against `MAX_RECORD_BYTES` before anything is
allocated. Besides its payload a record costs 4 bytes of CRC, 1 of kind and 1 to 3 each of
length, sequence number and time step: 8 to 10 bytes for an ack or a cursor in a session of
under 16384 records, 21 in format 1.

Small messages are stored compressed (format 3 on). A message record whose kind byte has
its high bit set (0x81, 0x82) holds, instead of the plaintext, the plaintext's part of one
raw DEFLATE stream (RFC 1951, zlib's wbits -15) that runs through the whole file: what the
compressor gave for it, then a sync flush, so that the part ends with 00 00 FF FF and
inflates completely, given the compressed records before it. The stream carries only the
compressed records, in file order; its window remembers the earlier small messages, and a
typed character's update is mostly the same bytes as the last one's. The writer
compresses messages of `COMPRESS_FROM_BYTES` to `COMPRESS_UP_TO_BYTES` (the frame updates
of a typing session; an ack or a pointer move is shorter than the sync flush would save,
and frame updates beyond are mostly JPEG, H.264 or already packed tiles, for which
DEFLATE costs time and saves little), which makes the file smaller than the frames it
holds in a session of small updates. A reader inflates at most `MAX_MESSAGE_BYTES` per
record. Everything below that speaks of a message's payload or plaintext means the
inflated bytes; the CRC covers the bytes as stored.

Kinds and payloads:

    1 HOST_TO_VIEWER   an end-to-end message's plaintext, byte for byte as sent/received
    2 VIEWER_TO_HOST   idem: frame updates, cursor, consent state, pause, resume, chat,
                       checkpoints and bye travel host -> viewer; inputs, acks, chat,
                       checkpoints, refresh and control requests viewer -> host. What a
                       message is (frame update, input, ...) is its own type number.
    3 INPUT_OUTCOME    host only: msgpack [viewer->host message index, applied, reason]
    4 CHECKPOINT       msgpack `Heads`: file records and head, and both traffic chains
    5 GAP              msgpack [reason]: something could not be recorded (said, not hidden)
    6 END              msgpack [reason]: the last record of a complete recording

Every message of the session is recorded, in both directions, acks included: then each
side can recompute both traffic chains from its own file.

Three SHA-256 chains:

- The file chain covers the header and every record as written (time and local records
  included): ``h0 = SHA256("fernwartung-recording-v1" 0x00 header-block)``,
  ``h(n) = SHA256(h(n-1) || record n's bytes)``, except that in a message record the
  traffic head after it stands in for the payload (it commits to it, and the payload,
  the bulk of the file, is then hashed once): ``h(n) = SHA256(h(n-1) || length, kind,
  sequence, time step || t(n) || CRC)``. Its head is written into each CHECKPOINT record, so a
  record altered behind a corrected checksum shows at the next checkpoint.
- One traffic chain per direction over the plaintext of every end-to-end message in
  channel order: ``t0 = SHA256("fernwartung-traffic-v1" 0x00 direction session-number)``,
  ``t(n) = SHA256(t(n-1) || plaintext n)``. The channel delivers each direction exactly
  in order, so host and viewer compute the same heads over the same traffic even though
  their files interleave the two directions differently.

Checkpoints (every `CHECKPOINT_INTERVAL_SECONDS` and at the end), each side on its own:
it writes a CHECKPOINT record, then sends the end-to-end message
``Checkpoint(records=n, head=t(n))`` of its outgoing chain (n messages sent before it) and
reports the same (n, head) to the relay, together with its file chain after that message
(`CheckpointWritten.file_records`/`file_head`), which the relay stores in its ledger with
its own time.
The peer receives that message exactly after those n messages, so its incoming chain must
equal it: the writer refuses a received checkpoint that disagrees. Each file thus holds its
own heads and the peer's, and `verify` compares them with the relay's ledger: a file
rewritten with all chains recomputed still disagrees with the heads the relay stored, the
traffic heads for a changed message, the file heads for any changed record (a time, an
input outcome, a gap) up to the last checkpoint this side reported. The records after that
one (the end of the Bye exchange, the closing CHECKPOINT and the END record) are covered
by the file chain only: the shells report nothing to the relay after the END record.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack

from protocol.channel import Direction
from protocol.control import SESSION_PATTERN
from protocol.errors import ProtocolError
from protocol.handshake import Role
from protocol.messages import (
    HEAD_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_REASON_CHARS,
    MAX_SCREEN_PIXELS,
    MAX_SEQUENCE,
    MAX_TIMESTAMP,
    Checkpoint,
    decode,
)
from protocol.schema import (
    Blob,
    Choice,
    Flag,
    Float,
    Int,
    Text,
    check,
    from_values,
    rule,
    to_values,
)

FORMAT_VERSION = 3
MAGIC = b"\x89FWREC\r\n"
MAX_HEADER_BYTES = 64 * 1024
# A record carries at most one end-to-end message; the rest is room for its framing.
MAX_RECORD_BYTES = MAX_MESSAGE_BYTES + 1024
MAX_RECORDS = 2**32 - 1
CHECKPOINT_INTERVAL_SECONDS = 30.0
CHAIN_BYTES = HEAD_BYTES

LENGTH = struct.Struct(">I")  # the header's length
CRC = struct.Struct(">I")
MAX_LENGTH_VARINT_BYTES = 4  # 2**28 > MAX_RECORD_BYTES
MAX_SEQUENCE_VARINT_BYTES = 5  # 2**35 > MAX_RECORDS
MAX_TIME_VARINT_BYTES = 7  # 2**49 > twice MAX_TIMESTAMP in milliseconds
MIN_BODY_BYTES = 3  # kind, and a sequence number and a time step of one byte each
COMPRESSED = 0x80  # in a message record's kind byte: its payload is DEFLATE-compressed
COMPRESS_FROM_BYTES = 32  # below, the sync flush's 5 bytes or so outweigh what it saves
COMPRESS_UP_TO_BYTES = 256
DEFLATE_WINDOW_BITS = -15  # raw DEFLATE, a 32 KiB window
MAX_DEFERRED_BYTES = 256 * 1024  # of message payloads kept for hashing in a batch
SYNC_FLUSH_END = b"\x00\x00\xff\xff"  # how a sync flush ends: each record's stored payload
_FILE_DOMAIN = b"fernwartung-recording-v1\x00"
_TRAFFIC_DOMAIN = b"fernwartung-traffic-v1\x00"
_HEAD = Blob(CHAIN_BYTES, exact_bytes=CHAIN_BYTES)
_COUNT = Int(0, MAX_SEQUENCE)


class RecordKind(enum.IntEnum):
    HOST_TO_VIEWER = Direction.HOST_TO_VIEWER.value
    VIEWER_TO_HOST = Direction.VIEWER_TO_HOST.value
    INPUT_OUTCOME = 3
    CHECKPOINT = 4
    GAP = 5
    END = 6


ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))

TRAFFIC_KINDS = {
    RecordKind.HOST_TO_VIEWER: Direction.HOST_TO_VIEWER,
    RecordKind.VIEWER_TO_HOST: Direction.VIEWER_TO_HOST,
}
KIND_BYTES = {direction: ONE_BYTE[kind] for kind, direction in TRAFFIC_KINDS.items()}
COMPRESSED_KIND_BYTES = {
    direction: bytes((kind | COMPRESSED,)) for kind, direction in TRAFFIC_KINDS.items()
}


def encode_varint(value: int) -> bytes:
    """An unsigned LEB128 number, shortest form."""
    if value < 0x80:
        return ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, offset: int, max_bytes: int, what: str) -> tuple[int, int]:
    """(value, offset after it) of the varint at `offset`; raises ProtocolError naming `what`."""
    value = shift = 0
    for index in range(offset, min(offset + max_bytes, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte == 0 and index > offset:
                raise ProtocolError(f"its {what} is not in its shortest form")
            return value, index + 1
    if len(data) - offset < max_bytes:
        raise ProtocolError(f"it ends inside its {what}")
    raise ProtocolError(f"its {what} is longer than {max_bytes} bytes")


def zigzag(step: int) -> int:
    """A signed time step as the unsigned number stored: 0, -1, 1, -2 ... as 0, 1, 2, 3 ..."""
    return step * 2 if step >= 0 else -step * 2 - 1


def unzigzag(value: int) -> int:
    return -(value >> 1) - 1 if value & 1 else value >> 1


def milliseconds(time: float) -> int:
    """A record's time as stored: whole milliseconds since the epoch."""
    if not (math.isfinite(time) and 0.0 <= time <= MAX_TIMESTAMP):
        raise ValueError("a record's time is seconds since the epoch")
    return round(time * 1000)


def outgoing(side: Role) -> Direction:
    """The direction a side sends in."""
    return Direction.HOST_TO_VIEWER if side is Role.HOST else Direction.VIEWER_TO_HOST


def incoming(side: Role) -> Direction:
    return Direction.VIEWER_TO_HOST if side is Role.HOST else Direction.HOST_TO_VIEWER


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """Who, where and when: the first thing in every recording."""

    side: Role = rule(Choice(Role))  # which side wrote the file
    session: str = rule(Text(12, SESSION_PATTERN))
    technician: str = rule(Text(64))
    relay: str = rule(Text(500))
    start_time: float = rule(Float(0.0, MAX_TIMESTAMP))
    screen_width: int = rule(Int(0, MAX_SCREEN_PIXELS))
    screen_height: int = rule(Int(0, MAX_SCREEN_PIXELS))
    terms_hash: bytes = rule(_HEAD)  # SHA-256 of the terms shown to the customer
    customer: str = rule(Text(100, r"[^\x00-\x1f\x7f]*"), default="")

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class Heads:
    """Where all three chains stand; also the payload of a CHECKPOINT record."""

    file_records: int = rule(_COUNT)
    file_head: bytes = rule(_HEAD)
    host_to_viewer_messages: int = rule(_COUNT)
    host_to_viewer_head: bytes = rule(_HEAD)
    viewer_to_host_messages: int = rule(_COUNT)
    viewer_to_host_head: bytes = rule(_HEAD)

    def __post_init__(self) -> None:
        check(self)

    def traffic(self, direction: Direction) -> tuple[int, bytes]:
        """(messages, head) of one direction's traffic chain."""
        if direction is Direction.HOST_TO_VIEWER:
            return self.host_to_viewer_messages, self.host_to_viewer_head
        return self.viewer_to_host_messages, self.viewer_to_host_head


@dataclass(frozen=True, slots=True)
class InputOutcome:
    """Host only: whether the input in viewer->host message `message_index` was applied."""

    message_index: int = rule(_COUNT)
    applied: bool = rule(Flag())
    reason: str = rule(Text(MAX_REASON_CHARS))

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class Gap:
    """Something could not be recorded; the recording says so instead of hiding it."""

    reason: str = rule(Text(MAX_REASON_CHARS))

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True, slots=True)
class End:
    reason: str = rule(Text(MAX_REASON_CHARS))

    def __post_init__(self) -> None:
        check(self)


LOCAL_PAYLOADS: dict[RecordKind, type] = {
    RecordKind.INPUT_OUTCOME: InputOutcome,
    RecordKind.CHECKPOINT: Heads,
    RecordKind.GAP: Gap,
    RecordKind.END: End,
}


def message_type(plaintext: bytes) -> int | None:
    """The type number of an encoded message without decoding it (None if not plain).

    `protocol.messages.encode` writes a msgpack fixarray whose first item is a fixint.
    """
    if len(plaintext) >= 2 and 0x91 <= plaintext[0] <= 0x9F and plaintext[1] < 0x80:
        return plaintext[1]
    return None


def unpack_payload(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(
            data, raw=False, use_list=True, max_map_len=0, max_ext_len=0, max_array_len=64
        )
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException):
        raise ProtocolError(f"{what} is not well-formed msgpack") from None


def decode_local(kind: RecordKind, payload: bytes) -> Any:
    """The payload of a local (non-traffic) record as its dataclass."""
    values = unpack_payload(payload, f"a {kind.name.lower()} record")
    if not isinstance(values, list):
        raise ProtocolError(f"a {kind.name.lower()} record must hold a msgpack array")
    return from_values(LOCAL_PAYLOADS[kind], values)


def pack_payload(instance: Any) -> bytes:
    return msgpack.packb(to_values(instance), use_bin_type=True)


def encode_header_block(header: RecordingHeader) -> bytes:
    payload = msgpack.packb([FORMAT_VERSION, to_values(header)], use_bin_type=True)
    framed = LENGTH.pack(len(payload)) + payload
    return framed + CRC.pack(zlib.crc32(framed))


class Chains:
    """The file chain and both traffic chains, advanced record by record.

    Small message records are hashed in batches: `extend_message` keeps them (at most
    `MAX_DEFERRED_BYTES` of payload) and whatever reads a head (`file_head`, `traffic`,
    `heads`) first hashes what is kept, in order, so every head is exactly as if each
    record had been hashed at once. A live session records a message now and then, each
    time with the hashing code and data gone from the processor's caches, where it costs
    several times what it costs in a loop; hashed together at the next checkpoint, or
    when enough has gathered, they cost little.
    """

    def __init__(self, header: RecordingHeader, header_block: bytes) -> None:
        self.file_records = 0
        self._file_head = hashlib.sha256(_FILE_DOMAIN + header_block).digest()
        session = header.session.encode("ascii")
        self._traffic: dict[Direction, tuple[int, bytes]] = {
            direction: (
                0,
                hashlib.sha256(_TRAFFIC_DOMAIN + bytes([direction.value]) + session).digest(),
            )
            for direction in Direction
        }
        self._messages = dict.fromkeys(Direction, 0)
        # (direction, framing, payload, CRC) of message records not hashed yet, in order.
        self._deferred: list[tuple[Direction, bytes, bytes, bytes]] = []
        self._deferred_bytes = 0

    @property
    def file_head(self) -> bytes:
        self.settle()
        return self._file_head

    @property
    def traffic(self) -> dict[Direction, tuple[int, bytes]]:
        """(messages, head) of each direction's traffic chain."""
        self.settle()
        return self._traffic

    def extend(
        self, record_bytes: bytes, kind: RecordKind, payload: bytes, payload_offset: int
    ) -> None:
        """Advance over one record: all its bytes, its payload (inflated, if stored
        compressed) and where the payload starts in `record_bytes`."""
        direction = TRAFFIC_KINDS.get(kind)
        if direction is None:
            self.extend_local(record_bytes)
        else:
            framing = record_bytes[:payload_offset]
            self.extend_message(direction, framing, payload, record_bytes[-CRC.size :])

    def extend_local(self, record_bytes: bytes) -> None:
        """Advance over a local record (not a message), all its bytes."""
        self._count_record()
        self.settle()
        self._file_head = hashlib.sha256(self._file_head + record_bytes).digest()

    def extend_message(
        self, direction: Direction, framing: bytes, payload: bytes, checksum: bytes
    ) -> None:
        """Advance over a message record given as its framing, payload and CRC."""
        self._count_record()
        self._messages[direction] += 1
        if type(payload) is not bytes:  # kept: it must not change meanwhile
            payload = bytes(payload)
        self._deferred.append((direction, framing, payload, checksum))
        self._deferred_bytes += len(payload)
        if self._deferred_bytes > MAX_DEFERRED_BYTES:
            self.settle()

    def settle(self) -> None:
        """Hash the message records kept so far (see the class's text)."""
        if not self._deferred:
            return
        deferred, self._deferred, self._deferred_bytes = self._deferred, [], 0
        sha256, traffic, file_head = hashlib.sha256, self._traffic, self._file_head
        for direction, framing, payload, checksum in deferred:
            count, head = traffic[direction]
            step = sha256(head)
            step.update(payload)
            traffic_head = step.digest()
            traffic[direction] = (count + 1, traffic_head)
            # The traffic head stands for the payload in the file chain: hashed once.
            file_head = sha256(b"".join((file_head, framing, traffic_head, checksum))).digest()
        self._file_head = file_head

    def _count_record(self) -> None:
        if self.file_records >= MAX_RECORDS:
            raise ProtocolError(f"a recording holds at most {MAX_RECORDS} records")
        self.file_records += 1

    def messages(self, direction: Direction) -> int:
        """How many messages of `direction` are recorded."""
        return self._messages[direction]

    def heads(self) -> Heads:
        traffic = self.traffic
        h2v_count, h2v_head = traffic[Direction.HOST_TO_VIEWER]
        v2h_count, v2h_head = traffic[Direction.VIEWER_TO_HOST]
        return Heads(self.file_records, self._file_head, h2v_count, h2v_head, v2h_count, v2h_head)


def check_traffic_checkpoint(chains: Chains, direction: Direction, plaintext: bytes) -> None:
    """A Checkpoint message must name its direction's chain exactly as it stands before it."""
    if message_type(plaintext) != Checkpoint.TYPE:
        return
    message = decode(plaintext)
    assert isinstance(message, Checkpoint)
    if (message.records, message.head) != chains.traffic[direction]:
        raise ProtocolError(
            f"the checkpoint after {message.records} messages {direction.name.lower()} "
            "disagrees with the messages recorded in that direction"
        )
