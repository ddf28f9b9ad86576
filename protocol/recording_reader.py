"""Reading a recording back: bounded, record by record, from bytes or a binary stream.

The format is described in `protocol/recording.py`. The reader checks each record's
framing (length within bounds before anything is allocated, checksum, time, kind) and
stops with `RecordingDamaged` saying how and where the well-formed part ends; the chains
are checked by `protocol/recording_verify.py`.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.messages import MAX_MESSAGE_BYTES, MAX_TIMESTAMP
from protocol.recording import (
    COMPRESSED,
    CRC,
    DEFLATE_WINDOW_BITS,
    FORMAT_VERSION,
    LENGTH,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_LENGTH_VARINT_BYTES,
    MAX_RECORD_BYTES,
    MAX_SEQUENCE_VARINT_BYTES,
    MAX_TIME_VARINT_BYTES,
    MIN_BODY_BYTES,
    SYNC_FLUSH_END,
    TRAFFIC_KINDS,
    RecordingHeader,
    RecordKind,
    decode_varint,
    milliseconds,
    unpack_payload,
    unzigzag,
)
from protocol.schema import from_values

# Format 1 (written until format 2): u32 length | u32 sequence number | f64 time | u8 kind.
# It is still read, so that recordings made with it stay verifiable.
FORMAT_1 = 1
_FORMAT_1_LENGTH = struct.Struct(">I")
_FORMAT_1_PREFIX = struct.Struct(">IdB")
# Format 2 is format 3 without compressed records.
FORMAT_2 = 2
READABLE_VERSIONS = (FORMAT_1, FORMAT_2, FORMAT_VERSION)


class Damage(enum.Enum):
    NOT_A_RECORDING = "not a recording"
    UNSUPPORTED_VERSION = "unsupported version"
    ALTERED = "altered"
    CUT = "cut"


class RecordingDamaged(ProtocolError):
    """The bytes stop being a well-formed recording; says how and where."""

    def __init__(self, damage: Damage, message: str, record: int, offset: int) -> None:
        super().__init__(message)
        self.damage = damage
        self.record = record  # the record concerned (0: the header)
        self.offset = offset  # the byte offset where the well-formed part ends


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read; `data` is all of its bytes, framing included."""

    position: int  # 1 for the first record after the header
    offset: int
    sequence: int
    time: float
    kind: RecordKind
    data: bytes
    payload_offset: int  # where the payload starts within `data`
    inflated: bytes | None = None  # a compressed record's payload, inflated
    undecodable: str | None = None  # why a compressed record's payload does not inflate

    @property
    def compressed(self) -> bool:
        return self.inflated is not None or self.undecodable is not None

    @property
    def payload(self) -> bytes:
        """The payload (a message's plaintext); raises ProtocolError if it does not inflate."""
        if self.inflated is not None:
            return self.inflated
        if self.undecodable is not None:
            raise ProtocolError(self.undecodable)
        return self.data[self.payload_offset : -CRC.size]

    @property
    def direction(self) -> Direction | None:
        return TRAFFIC_KINDS.get(self.kind)


class RecordReader:
    """Reads a recording from bytes or a binary stream, one bounded record at a time."""

    def __init__(self, source: bytes | bytearray | memoryview | BinaryIO) -> None:
        if isinstance(source, bytes | bytearray | memoryview):
            self._view: memoryview | None = memoryview(source)
            self._stream: BinaryIO | None = None
        else:
            self._view = None
            self._stream = source
        self.offset = 0  # where the last whole record (or the header) ends
        self._cursor = 0
        self._position = 0
        self.header: RecordingHeader | None = None
        self.header_block = b""
        self._last_milliseconds = 0  # the time of the last record read (or the start)
        self.version = FORMAT_VERSION
        self._inflate = zlib.decompressobj(DEFLATE_WINDOW_BITS)
        self._inflate_broken: str | None = None  # why the file's DEFLATE stream stopped

    def _read(self, size: int) -> bytes:
        """Up to `size` bytes from the cursor on (fewer only at the end of the data)."""
        if self._view is not None:
            chunk = bytes(self._view[self._cursor : self._cursor + size])
        else:
            assert self._stream is not None
            parts: list[bytes] = []
            remaining = size
            while remaining > 0:
                part = self._stream.read(remaining)
                if not part:
                    break
                parts.append(part)
                remaining -= len(part)
            chunk = b"".join(parts)
        self._cursor += len(chunk)
        return chunk

    def read_header(self) -> RecordingHeader:
        if self._read(len(MAGIC)) != MAGIC:
            raise RecordingDamaged(
                Damage.NOT_A_RECORDING, "this is not a fernwartung recording", 0, 0
            )
        length_bytes = self._read(LENGTH.size)
        (length,) = LENGTH.unpack(length_bytes.ljust(LENGTH.size, b"\0"))
        if length > MAX_HEADER_BYTES:
            raise RecordingDamaged(
                Damage.ALTERED, f"the header claims {length} bytes, more than possible", 0, 0
            )
        rest = self._read(length + CRC.size)
        if len(length_bytes) < LENGTH.size or len(rest) < length + CRC.size:
            raise RecordingDamaged(Damage.CUT, "the file ends inside its header", 0, 0)
        framed = length_bytes + rest[:length]
        if CRC.unpack(rest[length:])[0] != zlib.crc32(framed):
            raise RecordingDamaged(Damage.ALTERED, "the header is altered (checksum)", 0, 0)
        self.version, self.header = self._parse_header(rest[:length])
        self.header_block = framed + rest[length:]
        self._last_milliseconds = milliseconds(self.header.start_time)
        self.offset = self._cursor
        return self.header

    @staticmethod
    def _parse_header(payload: bytes) -> tuple[int, RecordingHeader]:
        try:
            value = unpack_payload(payload, "the header")
            if not (isinstance(value, list) and len(value) == 2):
                raise ProtocolError("the header must be [format version, fields]")
            version, fields = value
            if version not in READABLE_VERSIONS or isinstance(version, bool):
                named = str(version) if isinstance(version, int) else "unknown"
                raise RecordingDamaged(
                    Damage.UNSUPPORTED_VERSION,
                    f"recording format {named} is not one this program reads "
                    f"(it reads {FORMAT_1} to {FORMAT_VERSION}): use a newer fernwartung",
                    0,
                    0,
                )
            if not isinstance(fields, list):
                raise ProtocolError("the header fields must be a list")
            return version, from_values(RecordingHeader, fields)
        except RecordingDamaged:
            raise
        except ProtocolError as error:
            raise RecordingDamaged(
                Damage.ALTERED, f"the header is invalid: {error}", 0, 0
            ) from None

    def __iter__(self) -> Iterator[Record]:
        if self.header is None:
            self.read_header()
        while True:
            record = self._next_record()
            if record is None:
                return
            yield record

    def _next_record(self) -> Record | None:
        if self.version == FORMAT_1:
            return self._next_format_1_record()
        number = self._position + 1
        where = f"record {number} at byte offset {self.offset}"
        length_bytes = b""
        while len(length_bytes) < MAX_LENGTH_VARINT_BYTES:
            byte = self._read(1)
            if not byte:
                if not length_bytes:
                    return None
                raise self._cut(number)
            length_bytes += byte
            if byte[0] < 0x80:
                break
        try:
            length, _ = decode_varint(length_bytes, 0, MAX_LENGTH_VARINT_BYTES, "length")
        except ProtocolError as error:
            raise self._altered(f"{where} has an impossible length ({error})", number) from None
        if not MIN_BODY_BYTES <= length <= MAX_RECORD_BYTES:
            raise self._altered(f"{where} has an impossible length", number)
        framed, checksum = self._checked_body(length_bytes, length, where, number)
        kind_number = framed[len(length_bytes)]
        compressed = bool(kind_number & COMPRESSED) and self.version >= FORMAT_VERSION
        kind = self._kind(kind_number & ~COMPRESSED if compressed else kind_number, where, number)
        if compressed and kind not in TRAFFIC_KINDS:
            raise self._altered(f"{where} has an unknown kind {kind_number}", number)
        try:
            sequence, after = decode_varint(
                framed, len(length_bytes) + 1, MAX_SEQUENCE_VARINT_BYTES, "sequence number"
            )
            step, payload_offset = decode_varint(framed, after, MAX_TIME_VARINT_BYTES, "time step")
        except ProtocolError as error:
            raise self._altered(f"{where} is malformed: {error}", number) from None
        now = self._last_milliseconds + unzigzag(step)
        if not 0 <= now <= MAX_TIMESTAMP * 1000:
            raise self._altered(f"{where} has an impossible time", number)
        inflated = undecodable = None
        if compressed:
            inflated, undecodable = self._inflated(framed[payload_offset:], number)
        record = Record(
            number,
            self.offset,
            sequence,
            now / 1000,
            kind,
            framed + checksum,
            payload_offset,
            inflated,
            undecodable,
        )
        self._position = number
        self._last_milliseconds = now
        self.offset = self._cursor
        return record

    def _inflated(self, stored: bytes, number: int) -> tuple[bytes | None, str | None]:
        """(payload, None) or (None, why not) for a compressed record, in file order.

        Not raised here: a record removed before this one also breaks the stream, and the
        caller is to say that it was removed, which it learns from the sequence numbers.
        """
        if self._inflate_broken is not None:
            return None, f"it cannot be inflated: {self._inflate_broken}"
        inflate = self._inflate
        try:
            payload = inflate.decompress(stored, MAX_MESSAGE_BYTES + 1)
        except zlib.error as error:
            problem = f"its compressed payload is not valid DEFLATE ({error})"
        else:
            if len(payload) > MAX_MESSAGE_BYTES or inflate.unconsumed_tail:
                problem = f"its compressed payload inflates beyond {MAX_MESSAGE_BYTES} bytes"
            elif inflate.eof or not stored.endswith(SYNC_FLUSH_END):
                problem = "its compressed payload does not end with a sync flush"
            else:
                return payload, None
        self._inflate_broken = f"the compressed stream broke at record {number}"
        return None, problem

    def _next_format_1_record(self) -> Record | None:
        number = self._position + 1
        length_bytes = self._read(_FORMAT_1_LENGTH.size)
        if not length_bytes:
            return None
        where = f"record {number} at byte offset {self.offset}"
        if len(length_bytes) < _FORMAT_1_LENGTH.size:
            raise self._cut(number)
        (length,) = _FORMAT_1_LENGTH.unpack(length_bytes)
        if not _FORMAT_1_PREFIX.size <= length <= MAX_RECORD_BYTES:
            raise self._altered(f"{where} has an impossible length", number)
        framed, checksum = self._checked_body(length_bytes, length, where, number)
        sequence, time, kind_number = _FORMAT_1_PREFIX.unpack_from(framed, len(length_bytes))
        if not (math.isfinite(time) and 0.0 <= time <= MAX_TIMESTAMP):
            raise self._altered(f"{where} has an impossible time", number)
        kind = self._kind(kind_number, where, number)
        payload_offset = len(length_bytes) + _FORMAT_1_PREFIX.size
        record = Record(
            number, self.offset, sequence, time, kind, framed + checksum, payload_offset
        )
        self._position = number
        self.offset = self._cursor
        return record

    def _checked_body(
        self, length_bytes: bytes, length: int, where: str, number: int
    ) -> tuple[bytes, bytes]:
        """Read a record's `length` bytes after its length field and its CRC; the framed
        bytes (length field included, which the CRC covers) and the CRC's bytes."""
        rest = self._read(length + CRC.size)
        if len(rest) < length + CRC.size:
            raise self._cut(number)
        framed = length_bytes + rest[:length]
        checksum = rest[length:]
        if CRC.unpack(checksum)[0] != zlib.crc32(framed):
            raise self._altered(f"{where} is altered (checksum)", number)
        return framed, checksum

    def _kind(self, kind_number: int, where: str, number: int) -> RecordKind:
        try:
            return RecordKind(kind_number)
        except ValueError:
            raise self._altered(f"{where} has an unknown kind {kind_number}", number) from None

    def _altered(self, message: str, number: int) -> RecordingDamaged:
        return RecordingDamaged(Damage.ALTERED, message, number, self.offset)

    def _cut(self, number: int) -> RecordingDamaged:
        return RecordingDamaged(
            Damage.CUT,
            f"the recording is cut in the middle of record {number}: it holds whole records "
            f"up to record {number - 1}, which ends at byte offset {self.offset}",
            number,
            self.offset,
        )


def read_recording(
    source: bytes | bytearray | memoryview | BinaryIO,
) -> tuple[RecordingHeader, Iterator[Record]]:
    """The header and the records of a recording (records raise RecordingDamaged if cut)."""
    reader = RecordReader(source)
    return reader.read_header(), iter(reader)
