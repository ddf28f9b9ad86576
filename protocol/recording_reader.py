"""Reading a recording back: bounded, record by record, from bytes or a binary stream.

The format is described in `protocol/recording.py`. The reader checks each record's
framing (length within bounds before anything is allocated, checksum, time, kind) and
stops with `RecordingDamaged` saying how and where the well-formed part ends; the chains
are checked by `protocol/recording_verify.py`.
"""

from __future__ import annotations

import enum
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.messages import MAX_TIMESTAMP
from protocol.recording import (
    BODY_PREFIX,
    CRC,
    FORMAT_VERSION,
    LENGTH,
    MAGIC,
    MAX_HEADER_BYTES,
    MAX_RECORD_BYTES,
    MIN_BODY_BYTES,
    PAYLOAD_OFFSET,
    TRAFFIC_KINDS,
    RecordingHeader,
    RecordKind,
    unpack_payload,
)
from protocol.schema import from_values


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

    @property
    def payload(self) -> bytes:
        return self.data[PAYLOAD_OFFSET : -CRC.size]

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
        self.header = self._parse_header(rest[:length])
        self.header_block = framed + rest[length:]
        self.offset = self._cursor
        return self.header

    @staticmethod
    def _parse_header(payload: bytes) -> RecordingHeader:
        try:
            value = unpack_payload(payload, "the header")
            if not (isinstance(value, list) and len(value) == 2):
                raise ProtocolError("the header must be [format version, fields]")
            version, fields = value
            if version != FORMAT_VERSION or isinstance(version, bool):
                named = str(version) if isinstance(version, int) else "unknown"
                raise RecordingDamaged(
                    Damage.UNSUPPORTED_VERSION,
                    f"recording format {named} is not one this program reads "
                    f"(it reads {FORMAT_VERSION}): use a newer fernwartung",
                    0,
                    0,
                )
            if not isinstance(fields, list):
                raise ProtocolError("the header fields must be a list")
            return from_values(RecordingHeader, fields)
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
        number = self._position + 1
        length_bytes = self._read(LENGTH.size)
        if not length_bytes:
            return None
        where = f"record {number} at byte offset {self.offset}"
        if len(length_bytes) < LENGTH.size:
            raise self._cut(number)
        (length,) = LENGTH.unpack(length_bytes)
        if not MIN_BODY_BYTES <= length <= MAX_RECORD_BYTES:
            raise RecordingDamaged(
                Damage.ALTERED, f"{where} has an impossible length", number, self.offset
            )
        rest = self._read(length + CRC.size)
        if len(rest) < length + CRC.size:
            raise self._cut(number)
        framed = length_bytes + rest[:length]
        if CRC.unpack(rest[length:])[0] != zlib.crc32(framed):
            raise RecordingDamaged(
                Damage.ALTERED, f"{where} is altered (checksum)", number, self.offset
            )
        sequence, time, kind_number = BODY_PREFIX.unpack_from(framed, LENGTH.size)
        if not (math.isfinite(time) and 0.0 <= time <= MAX_TIMESTAMP):
            raise RecordingDamaged(
                Damage.ALTERED, f"{where} has an impossible time", number, self.offset
            )
        try:
            kind = RecordKind(kind_number)
        except ValueError:
            raise RecordingDamaged(
                Damage.ALTERED, f"{where} has an unknown kind {kind_number}", number, self.offset
            ) from None
        record = Record(number, self.offset, sequence, time, kind, framed + rest[length:])
        self._position = number
        self.offset = self._cursor
        return record

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
