"""Fuzzing the recording reader and `verify` with mutated real recordings.

Besides byte-level mutations (which mostly stop at a checksum), records are deleted,
duplicated, swapped, spliced in from the other side's file, and altered *with their
checksum corrected*, so the reader's and verify's deeper checks (kind, time, sequence,
payloads, chains, checkpoints, the ledger) are reached. The reader may only raise
`RecordingDamaged` / `ProtocolError`; `verify` never raises and reads bytes and streams
alike.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st

from protocol.errors import ProtocolError
from protocol.recording import (
    CRC,
    LENGTH,
    MAGIC,
    MAX_LENGTH_VARINT_BYTES,
    MAX_SEQUENCE_VARINT_BYTES,
    RecordKind,
    decode_varint,
    encode_varint,
)
from protocol.recording_reader import RecordReader, read_recording
from protocol.recording_verify import VerifyResult, verify
from tests.fuzz.mutations import edge_values, fuzz_target, mutated_bytes
from tests.support.recording_sessions import typical_session

SESSION = typical_session(frames=3)
FILES = (bytes(SESSION.viewer_file), bytes(SESSION.host_file))
LEDGER = tuple(SESSION.reports)


def split(data: bytes) -> tuple[bytes, list[bytes]]:
    """(magic and header block, the bytes of each record)."""
    reader = RecordReader(data)
    reader.read_header()
    return MAGIC + reader.header_block, [record.data for record in reader]


SPLIT = tuple(split(f) for f in FILES)


def fields_of(record: bytes) -> list[bytes]:
    """[kind, sequence number, time step, payload] of a record, each as its bytes."""
    _, body_start = decode_varint(record, 0, MAX_LENGTH_VARINT_BYTES, "length")
    _, time_start = decode_varint(record, body_start + 1, MAX_SEQUENCE_VARINT_BYTES, "sequence")
    payload_start = time_start + 1
    while record[payload_start - 1] >= 0x80:
        payload_start += 1
    return [
        record[body_start : body_start + 1],
        record[body_start + 1 : time_start],
        record[time_start:payload_start],
        record[payload_start : -CRC.size],
    ]


def framed_record(fields: list[bytes]) -> bytes:
    """The fields as given behind a fitting length, the CRC recomputed over them."""
    body = b"".join(fields)
    framed = encode_varint(len(body)) + body
    return framed + CRC.pack(zlib.crc32(framed))


_VARINTS = st.integers(0, 2**49).map(encode_varint) | st.binary(min_size=1, max_size=9)


def _alter_body(draw: Callable[..., Any], record: bytes) -> bytes:
    try:
        fields = fields_of(record)
    except ProtocolError:  # a record altered before, into one the reader refuses
        _, body_start = decode_varint(record, 0, MAX_LENGTH_VARINT_BYTES, "length")
        fields = [record[body_start : -CRC.size]]
        choice = "byte"
    else:
        choice = draw(st.sampled_from(("byte", "sequence", "time", "kind", "payload")))
    if choice == "byte":
        body = bytearray(b"".join(fields))
        body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        fields = [bytes(body)]
    elif choice == "sequence":
        fields[1] = draw(st.integers(0, 2**35).map(encode_varint) | _VARINTS)
    elif choice == "time":
        fields[2] = draw(_VARINTS)
    elif choice == "kind":
        fields[0] = bytes(
            [draw(st.sampled_from([k.value for k in RecordKind] + [0, 7, 0x81, 0x82, 0x84, 255]))]
        )
    else:  # a new payload of the same or another length, the length field made to fit
        fields[3] = draw(st.binary(max_size=60) | edge_values.map(repr).map(str.encode))
    return framed_record(fields)


@st.composite
def mutated_recording(draw: Callable[..., Any]) -> bytes:
    """A real recording with whole records moved or altered behind a corrected checksum."""
    which = draw(st.integers(0, len(SPLIT) - 1))
    head, records = SPLIT[which][0], list(SPLIT[which][1])
    other = SPLIT[1 - which][1]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("delete", "duplicate", "swap", "foreign", "alter", "cut")))
        index = draw(st.integers(0, len(records) - 1)) if records else 0
        if not records:
            break
        if kind == "delete":
            del records[index]
        elif kind == "duplicate":
            records.insert(draw(st.integers(0, len(records))), records[index])
        elif kind == "swap":
            other_index = draw(st.integers(0, len(records) - 1))
            records[index], records[other_index] = records[other_index], records[index]
        elif kind == "foreign":
            records[index] = draw(st.sampled_from(other))
        elif kind == "alter":
            records[index] = _alter_body(draw, records[index])
        else:
            records = records[:index]
    if draw(st.booleans()):  # sometimes the header too, its checksum corrected
        framed = bytearray(head[len(MAGIC) : -CRC.size])
        if len(framed) > LENGTH.size:
            framed[draw(st.integers(LENGTH.size, len(framed) - 1))] = draw(st.integers(0, 255))
        head = MAGIC + bytes(framed) + CRC.pack(zlib.crc32(framed))
    return head + b"".join(records)


def read_all(source: bytes | io.BytesIO) -> tuple[str, int]:
    """What the reader makes of it: ('ok' or the error class, whole records read)."""
    count = 0
    try:
        _, records = read_recording(source)
        for record in records:
            stored = record.data[record.payload_offset : -CRC.size]
            assert record.compressed or record.payload == stored
            _ = record.payload  # inflated, or ProtocolError
            count += 1
    except ProtocolError as error:
        return type(error).__name__, count
    return "ok", count


def summary(result: VerifyResult) -> tuple[object, ...]:
    return (result.intact, result.problem, result.reason, result.records, result.verified_bytes)


def check_recording(data: bytes) -> tuple[VerifyResult, VerifyResult]:
    """`verify` alone and against the ledger, after the invariants every result keeps."""
    assert read_all(data) == read_all(io.BytesIO(data))
    result = verify(data)
    assert result.intact == (result.problem is None)
    assert 0 <= result.verified_bytes <= len(data)
    assert summary(verify(io.BytesIO(data))) == summary(result)
    with_ledger = verify(data, ledger=LEDGER)
    assert with_ledger.intact == (with_ledger.problem is None)
    assert result.intact or not with_ledger.intact
    return result, with_ledger


@fuzz_target(mutated_bytes(FILES, max_mutations=3), examples=250)
def test_byte_mutated_recordings_only_fail_verification(data: bytes) -> None:
    result, _ = check_recording(data)
    if result.intact:
        assert data in FILES


@fuzz_target(mutated_recording(), examples=250)
def test_record_level_mutations_only_fail_verification(data: bytes) -> None:
    # Each side's final report covers its END record, so against the ledger nothing that
    # was written may differ, not even the end's reason or the last records' times.
    # (Alone, without the ledger, a consistent rewrite of what follows the last
    # CHECKPOINT record cannot be told apart: that is what the ledger is for.)
    _, with_ledger = check_recording(data)
    if with_ledger.intact:
        assert data in FILES
