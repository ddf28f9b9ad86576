import contextlib
import dataclasses
import io
import random
import re
import struct
import zlib

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import messages
from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.handshake import Role
from protocol.messages import MAX_MESSAGE_BYTES, Codec, Tile
from protocol.recording import (
    COMPRESS_FROM_BYTES,
    FORMAT_VERSION,
    MAGIC,
    MAX_RECORD_BYTES,
    Chains,
    RecordKind,
    decode_local,
    decode_varint,
    encode_header_block,
    encode_varint,
    message_type,
    outgoing,
    unzigzag,
    zigzag,
)
from protocol.recording_reader import Record, RecordingDamaged, RecordReader, read_recording
from protocol.recording_verify import LedgerCheckpoint, Problem, verify
from protocol.recording_writer import RecordingWriter
from protocol.schema import to_values
from tests.support.recording_sessions import START, Session, header, typical_session


@pytest.fixture(scope="module")
def session() -> Session:
    return typical_session()


def records_of(data: bytes) -> list[Record]:
    return list(RecordReader(data))


def first_record(data: bytes, kind: RecordKind, after: int = 1) -> Record:
    return next(r for r in records_of(data) if r.kind is kind and r.position >= after)


def frame_records(data: bytes) -> list[Record]:
    return [
        r
        for r in records_of(data)
        if r.direction is Direction.HOST_TO_VIEWER
        and message_type(r.payload) == messages.FrameUpdate.TYPE
    ]


# ---- intact recordings -------------------------------------------------------------


def test_intact_recordings_of_both_sides_verify_against_the_ledger(session):
    for data in (session.host_file, session.viewer_file):
        result = verify(bytes(data), session.ledger)
        assert result.intact, result.reason
        assert result.problem is None
        assert result.records == len(records_of(bytes(data)))
        assert result.verified_bytes == len(data)
        assert result.ledger_matched == len(session.ledger)
        assert result.end_reason == "the technician ended the session"


def test_host_and_viewer_compute_the_same_traffic_heads(session):
    host, viewer = session.host.heads(), session.viewer.heads()
    for direction in Direction:
        assert host.traffic(direction) == viewer.traffic(direction)
    # ... while their files, interleaved differently, differ.
    assert host.file_head != viewer.file_head


def test_each_file_holds_its_own_and_the_peers_checkpoint_messages(session):
    for data in (session.host_file, session.viewer_file):
        directions = {
            r.direction
            for r in records_of(bytes(data))
            if r.direction is not None and message_type(r.payload) == messages.Checkpoint.TYPE
        }
        assert directions == set(Direction)


def test_every_frame_update_is_recorded_byte_for_byte(session):
    in_viewer = [r.payload for r in frame_records(bytes(session.viewer_file))]
    in_host = [r.payload for r in frame_records(bytes(session.host_file))]
    assert len(in_viewer) == session.frames
    assert in_viewer == in_host
    assert [messages.decode(p).seq for p in in_viewer] == list(range(session.frames))


def test_reading_from_a_stream_gives_the_same_result(session):
    data = bytes(session.viewer_file)
    assert verify(io.BytesIO(data), session.ledger) == verify(data, session.ledger)
    header_read, records = read_recording(io.BytesIO(data))
    assert header_read == header(Role.VIEWER)
    assert [r.data for r in records] == [r.data for r in records_of(data)]


def test_a_small_record_costs_at_most_10_bytes_besides_its_payload(session):
    # A length of 1 or 2 bytes, the kind, a sequence number of 1 or 2 bytes (fewer than
    # 16384 records), a time step of 1 or 2 bytes (under 8 s), the CRC.
    stored_as_is = [r for r in records_of(bytes(session.viewer_file)) if not r.compressed]
    assert len(stored_as_is) > 20
    for record in stored_as_is:
        assert 8 <= len(record.data) - len(record.payload) <= 10


def test_messages_of_32_to_256_bytes_are_stored_compressed_and_read_back_exactly(session):
    for data in (session.viewer_file, session.host_file):
        records = records_of(bytes(data))
        messages_in = [r for r in records if r.direction is not None]
        for record in messages_in:
            assert record.compressed == (COMPRESS_FROM_BYTES <= len(record.payload) <= 256)
            after_length = next(i for i, byte in enumerate(record.data) if byte < 0x80) + 1
            assert record.data[after_length] == record.kind | (0x80 if record.compressed else 0)
        compressed = [r for r in messages_in if r.compressed]
        assert len(compressed) >= 10
        # The stream's window makes later small updates cost a fraction of their size.
        stored = sum(len(r.data) for r in compressed)
        assert stored < 0.7 * sum(len(r.payload) for r in compressed)
        assert verify(bytes(data), session.ledger).intact
    # What both files hold is what was sent, byte for byte (see also the frame test above).
    host_sent = [
        r.payload
        for r in records_of(bytes(session.host_file))
        if r.direction is Direction.HOST_TO_VIEWER
    ]
    viewer_got = [
        r.payload
        for r in records_of(bytes(session.viewer_file))
        if r.direction is Direction.HOST_TO_VIEWER
    ]
    assert host_sent == viewer_got


def typing_like_updates(count: int) -> list[bytes]:
    """Frame updates the size of a typed character's: one small 1-bit palette tile each."""
    rng = random.Random(7)
    return [
        messages.encode(
            messages.FrameUpdate(
                seq,
                START + seq / 10,
                1920,
                1080,
                (
                    Tile(
                        8 * seq % 1900,
                        400,
                        8,
                        13,
                        Codec.PALETTE,
                        b"\x01\xff\xff\xff\x00\x00\x00" + rng.randbytes(13),
                    ),
                ),
            )
        )
        for seq in range(count)
    ]


def test_a_typing_session_file_is_smaller_than_the_frame_bytes_it_holds():
    # The goal of the recording's size: at most 1.05 times the frame bytes received. Small
    # updates stored plain cost 8 to 10 bytes of framing each, plus the ack after each one;
    # compressed, the repeated parts of consecutive updates cost next to nothing.
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes()
    updates = typing_like_updates(300)
    for seq, plaintext in enumerate(updates):
        data += writer.received(START + seq / 10, plaintext)
        data += writer.sent(START + seq / 10 + 0.005, messages.encode(messages.Ack(seq)))
    data += writer.end(START + 31, "done")
    assert verify(data).intact
    assert [
        r.payload for r in records_of(data) if r.direction is Direction.HOST_TO_VIEWER
    ] == updates
    assert len(data) <= 1.05 * sum(map(len, updates))


@given(st.integers(0, 2**49 - 1))
def test_varints_round_trip_in_their_shortest_form(value):
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0, 7, "number") == (value, len(encoded))
    assert len(encoded) == max(1, (value.bit_length() + 6) // 7)


@given(st.integers(-(2**47), 2**47))
def test_time_steps_round_trip_through_zigzag(step):
    assert zigzag(step) >= 0
    assert unzigzag(zigzag(step)) == step


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x80\x00", "shortest"),
        (b"\x81\x80\x00", "shortest"),
        (b"\xff\xff\xff\xff\x01", "longer than 4"),
        (b"\xff\xff", "ends inside"),
    ],
)
def test_a_varint_that_is_not_shortest_or_too_long_is_refused(data, problem):
    with pytest.raises(ProtocolError, match=problem):
        decode_varint(data, 0, 4, "length")


def test_record_times_are_kept_to_the_millisecond_and_may_step_back():
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes()
    start = writer.header.start_time
    times = [start + 1.2344, start + 0.5, start - 3.0, start + 86_400.001]
    for time in times:
        data += writer.gap(time, "a gap")
    data += writer.end(start + 90_000, "done")
    read = [record.time for record in records_of(data)][: len(times)]
    assert read == [round(t * 1000) / 1000 for t in times]
    assert verify(data).intact


# ---- tampering and damage ----------------------------------------------------------


def test_one_flipped_byte_in_a_frame_names_the_altered_record(session):
    data = bytearray(session.viewer_file)
    target = frame_records(bytes(data))[3]
    data[target.offset + 30] ^= 0x01
    result = verify(bytes(data), session.ledger)
    assert not result.intact
    assert result.problem is Problem.ALTERED
    assert result.record == target.position
    assert f"record {target.position} " in result.reason
    assert result.records == target.position - 1
    assert result.verified_bytes == target.offset


@pytest.mark.parametrize("step", [1, 7, 97])
def test_no_flipped_byte_anywhere_goes_unnoticed(session, step):
    original = bytes(session.host_file)
    for offset in range(0, len(original), step):
        data = bytearray(original)
        data[offset] ^= 0x40
        assert not verify(bytes(data)).intact, offset


def test_a_deleted_record_is_named_as_missing(session):
    data = bytes(session.viewer_file)
    target = frame_records(data)[2]
    cut = data[: target.offset] + data[target.offset + len(target.data) :]
    result = verify(cut, session.ledger)
    assert result.problem is Problem.REMOVED
    assert result.record == target.position
    assert f"record {target.position} is missing" in result.reason
    assert result.records == target.position - 1


def test_several_deleted_records_are_named_as_a_range(session):
    data = bytes(session.viewer_file)
    records = records_of(data)
    first, last = records[9], records[11]
    cut = data[: first.offset] + data[last.offset + len(last.data) :]
    result = verify(cut)
    assert result.problem is Problem.REMOVED
    assert f"records {first.position} to {last.position} are missing" in result.reason


def test_two_swapped_records_are_named_as_reordered(session):
    data = bytes(session.host_file)
    records = records_of(data)
    a, b = records[20], records[21]
    swapped = data[: a.offset] + b.data + a.data + data[b.offset + len(b.data) :]
    result = verify(swapped, session.ledger)
    assert result.problem is Problem.REORDERED
    assert result.record == a.position
    assert f"record {a.position} was moved" in result.reason


def test_a_duplicated_record_is_named_as_out_of_order(session):
    data = bytes(session.host_file)
    records = records_of(data)
    a = records[5]
    doubled = data[: records[7].offset] + a.data + data[records[7].offset :]
    result = verify(doubled)
    assert result.problem is Problem.REORDERED
    assert f"record {a.position} appears again" in result.reason


def test_a_file_cut_mid_record_verifies_up_to_its_last_whole_record(session):
    data = bytes(session.viewer_file)
    records = records_of(data)
    target = records[30]
    for cut_at in (target.offset + 1, target.offset + 5, target.offset + len(target.data) - 1):
        result = verify(data[:cut_at], session.ledger)
        assert result.problem is Problem.CUT
        assert result.records == target.position - 1
        assert result.verified_bytes == target.offset
        assert f"cut in the middle of record {target.position}" in result.reason
        assert f"byte offset {target.offset}" in result.reason


def test_a_file_cut_between_records_says_it_has_no_end(session):
    data = bytes(session.viewer_file)
    target = records_of(data)[30]
    end = target.offset + len(target.data)
    result = verify(data[:end])
    assert result.problem is Problem.CUT
    assert result.records == target.position
    assert result.verified_bytes == end
    assert "without an end record" in result.reason


def test_a_file_cut_inside_its_header_says_so(session):
    result = verify(bytes(session.viewer_file)[:20])
    assert result.problem is Problem.CUT
    assert "header" in result.reason


def test_data_after_the_end_record_is_refused(session):
    data = bytes(session.viewer_file)
    last = records_of(data)[-1]
    result = verify(data + last.data)
    assert result.problem is Problem.TRAILING_DATA
    result = verify(data + b"\x00")
    assert result.problem is Problem.TRAILING_DATA


def refresh_checksum(data: bytearray, record: Record) -> None:
    """What a forger does first: make the altered record's checksum fit again."""
    framed = bytes(data[record.offset : record.offset + len(record.data) - 4])
    struct.pack_into(">I", data, record.offset + len(framed), zlib.crc32(framed))


def test_a_frame_altered_behind_a_corrected_checksum_shows_at_the_next_checkpoint(session):
    data = bytearray(session.viewer_file)
    target = [r for r in frame_records(bytes(data)) if not r.compressed][0]
    data[target.offset + len(target.data) - 10] ^= 0x01
    refresh_checksum(data, target)
    result = verify(bytes(data))
    assert result.problem is Problem.ALTERED
    assert "checkpoint" in result.reason
    assert result.record > target.position
    assert result.records < target.position


def test_any_byte_of_a_compressed_frame_altered_behind_a_corrected_checksum_is_found(session):
    original = bytes(session.viewer_file)
    target = [r for r in frame_records(original) if r.compressed][3]
    start = target.offset + target.payload_offset
    for offset in range(start, target.offset + len(target.data) - 4):
        data = bytearray(original)
        data[offset] ^= 0x01
        refresh_checksum(data, target)
        result = verify(bytes(data))
        assert result.problem is Problem.ALTERED, offset
        # Either it no longer inflates (named at once) or it inflates to other bytes, which
        # the next checkpoint's chain heads show.
        assert result.record >= target.position
        assert result.records < target.position


def test_a_compressed_payload_that_inflates_too_far_is_refused_without_inflating_it_all():
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes() + writer.sent(START + 1, messages.encode(messages.Ack(1)))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = deflate.compress(bytes(MAX_MESSAGE_BYTES + 1)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 20_000
    body = b"\x82" + encode_varint(2) + encode_varint(0) + bomb
    framed = encode_varint(len(body)) + body
    data += framed + struct.pack(">I", zlib.crc32(framed))
    record = records_of(data)[1]
    assert record.compressed
    with pytest.raises(ProtocolError, match="inflates beyond"):
        _ = record.payload
    result = verify(data)
    assert result.problem is Problem.ALTERED
    assert result.record == 2
    assert "inflates beyond" in result.reason


def test_a_deleted_compressed_record_is_named_as_missing_not_as_undecodable(session):
    data = bytes(session.viewer_file)
    compressed = [r for r in frame_records(data) if r.compressed]
    assert len(compressed) >= 4
    for target in compressed[1:4]:
        cut = data[: target.offset] + data[target.offset + len(target.data) :]
        result = verify(cut, session.ledger)
        assert result.problem is Problem.REMOVED
        assert f"record {target.position} is missing" in result.reason


def test_a_local_record_altered_behind_a_corrected_checksum_is_found(session):
    data = bytearray(session.host_file)
    target = first_record(bytes(data), RecordKind.INPUT_OUTCOME)
    outcome = decode_local(RecordKind.INPUT_OUTCOME, target.payload)
    index_at = target.offset + target.payload_offset + 1  # the message index, a fixint
    assert data[index_at] == outcome.message_index
    data[index_at] = max(outcome.message_index - 1, 0) if outcome.message_index else 1
    refresh_checksum(data, target)
    result = verify(bytes(data))
    assert result.problem is Problem.ALTERED


def forge(data: bytes, change, retime=None) -> bytes:  # type: ignore[no-untyped-def]
    """Rewrite a recording consistently: every checksum, chain and stored head recomputed."""
    reader = RecordReader(data)
    head = reader.read_header()
    block = encode_header_block(head)
    writer = RecordingWriter(head)
    out = bytearray(writer.header_bytes())
    assert out[len(MAGIC) :] == block
    for record in reader:
        payload = change(record)
        if record.kind is RecordKind.CHECKPOINT:
            payload = msgpack.packb(to_values(writer.heads()), use_bin_type=True)
        elif record.direction and message_type(payload) == messages.Checkpoint.TYPE:
            records, chain_head = writer.heads().traffic(record.direction)
            payload = messages.encode(messages.Checkpoint(records, chain_head))
        time = retime(record) if retime is not None else record.time
        if record.direction is None:
            out += writer._append(record.kind, time, payload)
        else:  # as the writer stores messages, compressed or not
            out += b"".join(writer._message(record.direction, time, payload))
    return bytes(out)


def test_a_consistently_rewritten_file_is_intact_alone_but_disagrees_with_the_ledger(session):
    original = bytes(session.viewer_file)
    target = frame_records(original)[8]  # after the first checkpoints
    altered = messages.encode(messages.FrameUpdate(99, 1.0, 64, 48, ()))

    def change(record: Record) -> bytes:
        return altered if record.position == target.position else record.payload

    forged = forge(original, change)
    assert forged != original
    alone = verify(forged)
    assert alone.intact, alone.reason
    result = verify(forged, session.ledger)
    assert not result.intact
    assert result.problem is Problem.LEDGER_MISMATCH
    assert result.checkpoint is not None
    assert f"checkpoint {result.checkpoint} of the ledger" in result.reason
    assert "disagrees" in result.reason
    # The forgery changed nothing before the first checkpoint of the ledger it fails.
    assert result.ledger_matched == result.checkpoint - 1


def with_file_heads(data: bytes, ledger: list[LedgerCheckpoint]) -> list[LedgerCheckpoint]:
    """The ledger as the relay stores it now: this side's checkpoints with its file chain
    after each outgoing Checkpoint message, as `SessionEvidence.report` sends them."""
    reader = RecordReader(data)
    head = reader.read_header()
    chains = Chains(head, reader.header_block)
    files = {}
    for record in reader:
        chains.extend(record.data, record.kind, record.payload, record.payload_offset)
        if record.direction is outgoing(head.side) and isinstance(
            message := messages.decode(record.payload), messages.Checkpoint
        ):
            files[message.records] = (chains.file_records, chains.file_head)
    return [
        dataclasses.replace(c, file_records=files[c.records][0], file_head=files[c.records][1])
        if c.side is head.side and c.records in files
        else c
        for c in ledger
    ]


def test_file_heads_in_the_ledger_confirm_an_intact_recording(session):
    for data in (bytes(session.viewer_file), bytes(session.host_file)):
        ledger = with_file_heads(data, session.ledger)
        assert sum(c.file_head is not None for c in ledger) >= 2
        result = verify(data, ledger)
        assert result.intact, result.reason
        assert result.ledger_matched == verify(data, session.ledger).ledger_matched


def test_a_checkpoint_report_carries_the_file_chain_after_its_message():
    writer = RecordingWriter(header(Role.VIEWER))
    writer.header_bytes()
    writer.sent(1.0, messages.encode(messages.Cursor(1, 1, True)))
    written = writer.checkpoint(2.0)
    heads = writer.heads()
    assert (written.file_records, written.file_head) == (heads.file_records, heads.file_head)
    assert written.file_records == 3  # the cursor, the CHECKPOINT record, the message


@pytest.mark.parametrize(
    "rewrite",
    ["input outcome", "time"],
)
def test_a_consistent_rewrite_before_the_last_checkpoint_fails_against_the_file_heads(
    session, rewrite
):
    original = bytes(session.host_file)
    ledger = with_file_heads(original, session.ledger)
    target = first_record(original, RecordKind.INPUT_OUTCOME)
    if rewrite == "input outcome":
        outcome = decode_local(RecordKind.INPUT_OUTCOME, target.payload)
        flipped = dataclasses.replace(outcome, applied=not outcome.applied)
        packed = msgpack.packb(to_values(flipped), use_bin_type=True)
        forged = forge(original, lambda r: packed if r.position == target.position else r.payload)
    else:
        forged = forge(
            original,
            lambda r: r.payload,
            lambda r: r.time + 60.0 if r.position == target.position else r.time,
        )
    # Traffic alone does not show it: the chains were recomputed, no message changed.
    assert verify(forged, session.ledger).intact
    result = verify(forged, ledger)
    assert result.problem is Problem.LEDGER_MISMATCH
    first, last = map(int, re.search(r"one of records (\d+) to (\d+)", result.reason).groups())
    assert first <= target.position <= last
    assert f"checkpoint {result.checkpoint} of the ledger" in result.reason


def test_an_unchanged_rewrite_still_matches_the_ledger(session):
    original = bytes(session.viewer_file)
    assert forge(original, lambda record: record.payload) == original


def test_a_ledger_checkpoint_of_this_side_beyond_the_file_fails(session):
    heads = session.viewer.heads()
    beyond = LedgerCheckpoint(heads.viewer_to_host_messages + 5, bytes(32), Role.VIEWER, 1.0)
    result = verify(bytes(session.viewer_file), [*session.ledger, beyond])
    assert result.problem is Problem.LEDGER_MISMATCH
    assert "holds only" in result.reason
    assert result.checkpoint == len(session.ledger) + 1


def test_a_peers_ledger_checkpoint_beyond_what_arrived_is_not_a_failure(session):
    heads = session.viewer.heads()
    in_flight = LedgerCheckpoint(heads.host_to_viewer_messages + 3, bytes(32), Role.HOST, 1.0)
    result = verify(bytes(session.viewer_file), [*session.ledger, in_flight])
    assert result.intact, result.reason
    assert result.ledger_uncovered == 1


def test_ledger_rows_without_a_side_are_matched_against_either_direction(session):
    anonymous = [LedgerCheckpoint(c.records, c.head) for c in session.ledger]
    assert verify(bytes(session.host_file), anonymous).intact
    wrong = [*anonymous[:1], LedgerCheckpoint(anonymous[1].records, bytes(32))]
    assert verify(bytes(session.host_file), wrong).problem is Problem.LEDGER_MISMATCH


def test_an_empty_ledger_is_not_a_confirmation(session):
    result = verify(bytes(session.viewer_file), [])
    assert result.problem is Problem.LEDGER_MISSING


def test_not_a_recording_and_unknown_versions_are_named(session):
    assert verify(b"hello world").problem is Problem.NOT_A_RECORDING
    assert verify(b"").problem is Problem.NOT_A_RECORDING
    payload = msgpack.packb([FORMAT_VERSION + 1, []])
    framed = struct.pack(">I", len(payload)) + payload
    future = MAGIC + framed + struct.pack(">I", zlib.crc32(framed))
    result = verify(future)
    assert result.problem is Problem.UNSUPPORTED_VERSION
    assert "newer" in result.reason


def as_old_format(data: bytes, version: int, prefix_of) -> bytes:  # type: ignore[no-untyped-def]
    """The same recording as an older format wrote it: that version in its header, nothing
    compressed, each record's framing `prefix_of(record, payload, previous record's time in
    ms)`, the chains recomputed."""
    reader = RecordReader(data)
    head = reader.read_header()
    payload = msgpack.packb([version, to_values(head)], use_bin_type=True)
    framed = struct.pack(">I", len(payload)) + payload
    block = framed + struct.pack(">I", zlib.crc32(framed))
    chains = Chains(head, block)
    out = bytearray(MAGIC + block)
    last = round(head.start_time * 1000)
    for record in reader:
        body = record.payload
        if record.kind is RecordKind.CHECKPOINT:
            body = msgpack.packb(to_values(chains.heads()), use_bin_type=True)
        prefix = prefix_of(record, body, last)
        old = prefix + body + struct.pack(">I", zlib.crc32(prefix + body))
        chains.extend(old, record.kind, body, len(prefix))
        out += old
        last = round(record.time * 1000)
    return bytes(out)


def as_format_1(data: bytes) -> bytes:
    """The same recording as format 1 wrote it (u32 length, u32 sequence, f64 time, u8 kind)."""
    return as_old_format(
        data,
        1,
        lambda r, body, _: struct.pack(">IIdB", 13 + len(body), r.sequence, r.time, r.kind),
    )


def test_a_format_1_recording_still_reads_and_verifies(session):
    data = as_format_1(bytes(session.viewer_file))
    reader = RecordReader(data)
    reader.read_header()
    assert reader.version == 1

    def summary(records):  # type: ignore[no-untyped-def]
        # The CHECKPOINT records differ: they hold the file chain, over other framing.
        return [
            (r.kind, r.sequence, r.time, r.kind is RecordKind.CHECKPOINT or r.payload)
            for r in records
        ]

    assert summary(reader) == summary(records_of(bytes(session.viewer_file)))
    result = verify(data, session.ledger)
    assert result.intact, result.reason
    target = frame_records(data)[3]
    damaged = bytearray(data)
    damaged[target.offset + target.payload_offset + 5] ^= 0x01
    assert verify(bytes(damaged)).record == target.position


def as_format_2(data: bytes, kind_bits: int = 0) -> bytes:
    """The same recording as format 2 wrote it: every record stored as is (none compressed);
    `kind_bits` are or-ed into each message record's kind byte."""

    def prefix(record: Record, body: bytes, last: int) -> bytes:
        kind = record.kind | (kind_bits if record.direction else 0)
        step = zigzag(round(record.time * 1000) - last)
        fields = bytes((kind,)) + encode_varint(record.sequence) + encode_varint(step)
        return encode_varint(len(fields) + len(body)) + fields

    return as_old_format(data, 2, prefix)


def test_a_format_2_recording_still_reads_and_verifies_and_has_no_compressed_records(session):
    original = bytes(session.viewer_file)
    data = as_format_2(original)
    reader = RecordReader(data)
    reader.read_header()
    assert reader.version == 2
    records = list(reader)
    assert not any(r.compressed for r in records)
    assert [r.payload for r in records if r.direction] == [
        r.payload for r in records_of(original) if r.direction
    ]
    result = verify(data, session.ledger)
    assert result.intact, result.reason
    # The compressed flag means nothing in format 2: such a kind is unknown there.
    flagged = verify(as_format_2(original, kind_bits=0x80))
    assert flagged.problem is Problem.ALTERED
    assert "unknown kind 130" in flagged.reason or "unknown kind 129" in flagged.reason


class RefusingStream(io.BytesIO):
    """A stream that fails the test if asked for more than a record could hold."""

    def read(self, size=-1):  # type: ignore[no-untyped-def]
        assert 0 <= size <= MAX_RECORD_BYTES + 8, size
        return super().read(size)


def test_an_impossible_length_is_refused_before_anything_is_read(session):
    data = bytes(session.viewer_file)
    first = records_of(data)[0]
    # 2**28 - 1 in four bytes, the most a length may take; then five bytes, one too many.
    for length in (b"\xff\xff\xff\x7f", b"\xff\xff\xff\xff\x01"):
        huge = data[: first.offset] + length + data[first.offset + 1 :]
        result = verify(RefusingStream(huge))
        assert result.problem is Problem.ALTERED
        assert "impossible length" in result.reason
        assert result.record == 1
        with pytest.raises(RecordingDamaged):
            list(RecordReader(RefusingStream(huge)))


# ---- the writer --------------------------------------------------------------------


def test_a_received_checkpoint_that_disagrees_ends_the_session():
    writer = RecordingWriter(header(Role.VIEWER))
    writer.header_bytes()
    writer.received(1.0, messages.encode(messages.Cursor(1, 1, True)))
    wrong = messages.encode(messages.Checkpoint(records=1, head=bytes(32)))
    with pytest.raises(ProtocolError, match="disagrees"):
        writer.received(2.0, wrong)
    early = messages.encode(messages.Checkpoint(records=0, head=bytes(32)))
    with pytest.raises(ProtocolError):
        writer.received(2.0, early)


def test_the_writer_refuses_what_cannot_be_recorded():
    viewer = RecordingWriter(header(Role.VIEWER))
    with pytest.raises(ProtocolError, match="state 'new'"):
        viewer.sent(1.0, b"\x91\x0a")
    viewer.header_bytes()
    with pytest.raises(ProtocolError, match="only the host"):
        viewer.input_outcome(1.0, 0, True)
    with pytest.raises(ValueError):
        viewer.gap(float("nan"), "x")
    viewer.end(2.0, "done")
    with pytest.raises(ProtocolError, match="ended"):
        viewer.received(3.0, b"\x91\x0a")
    host = RecordingWriter(header(Role.HOST))
    host.header_bytes()
    with pytest.raises(ProtocolError, match="must follow"):
        host.input_outcome(1.0, 0, True)


def test_a_gap_is_recorded_and_verifies():
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes() + writer.gap(1.0, "sharing paused by the customer")
    data += writer.end(2.0, "done")
    assert verify(data).intact
    gap = first_record(data, RecordKind.GAP)
    assert decode_local(RecordKind.GAP, gap.payload).reason == "sharing paused by the customer"


# ---- arbitrary input ---------------------------------------------------------------


def read_everything(data: bytes) -> None:
    header_read, records = read_recording(data)
    for record in records:
        _ = record.payload


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_ever_give_a_failed_result_or_protocol_error(data):
    assert not verify(data).intact
    with contextlib.suppress(ProtocolError):
        read_everything(data)
    result = verify(MAGIC + data)
    assert not result.intact


SMALL_RECORDING = bytes(typical_session(frames=4).viewer_file)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_recordings_never_crash_the_reader(data):
    original = SMALL_RECORDING
    edits = data.draw(
        st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(0, 255)), max_size=4)
    )
    mutated = bytearray(original)
    for offset, value in edits:
        mutated[offset] = value
    cut = data.draw(st.integers(0, len(mutated)))
    mutated = bytes(mutated[:cut])
    result = verify(mutated)
    assert result.intact == (mutated == original)
    with contextlib.suppress(ProtocolError):
        read_everything(mutated)
