"""The chains are what the format says they are, at every point of a recording.

The writer builds a message record in pieces, without copying the payload (see
protocol/recording.py); these tests recompute every head straight from the format's
definition, independently of `Chains`, and compare.
"""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.channel import Direction
from protocol.errors import ProtocolError
from protocol.handshake import Role
from protocol.messages import MAX_MESSAGE_BYTES
from protocol.recording import MAX_DEFERRED_BYTES
from protocol.recording_reader import RecordReader
from protocol.recording_verify import verify
from protocol.recording_writer import RecordingWriter
from tests.support.recording_sessions import START, header


def heads_by_definition(data: bytes) -> tuple[int, bytes, dict[Direction, tuple[int, bytes]]]:
    """(records, file head, traffic chains) of a recording, from the format's text alone."""
    reader = RecordReader(data)
    session = reader.read_header().session.encode("ascii")
    file_head = hashlib.sha256(b"fernwartung-recording-v1\x00" + reader.header_block).digest()
    traffic = {
        direction: (
            0,
            hashlib.sha256(
                b"fernwartung-traffic-v1\x00" + bytes([direction.value]) + session
            ).digest(),
        )
        for direction in Direction
    }
    records = 0
    for record in reader:
        records += 1
        if record.direction is None:
            file_head = hashlib.sha256(file_head + record.data).digest()
            continue
        count, head = traffic[record.direction]
        traffic_head = hashlib.sha256(head + record.payload).digest()
        traffic[record.direction] = (count + 1, traffic_head)
        framing, checksum = record.data[: record.payload_offset], record.data[-4:]
        file_head = hashlib.sha256(file_head + framing + traffic_head + checksum).digest()
    return records, file_head, traffic


def assert_heads_follow_the_definition(writer: RecordingWriter, data: bytes) -> None:
    records, file_head, traffic = heads_by_definition(data)
    heads = writer.heads()
    assert (heads.file_records, heads.file_head) == (records, file_head)
    for direction in Direction:
        assert heads.traffic(direction) == traffic[direction]


def payload(size: int, seed: int) -> bytes:
    # Starts with 0x00: never taken for an encoded message (a Checkpoint above all).
    pattern = bytes((seed + i) % 251 for i in range(64))
    return (b"\x00" + pattern * (size // 64 + 1))[:size]


# Records whose length varint takes 1, 2 and 3 bytes.
SIZES = st.sampled_from([0, 1, 12, 120, 130, 4096, 16_370, 16_390, 37_000])
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["sent", "received"]), SIZES),
        st.tuples(st.sampled_from(["gap", "checkpoint", "look"]), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_heads_follow_the_definition_at_every_point(events):
    looking = RecordingWriter(header(Role.VIEWER))  # looks at its heads where told to
    data = looking.header_bytes()
    unlooked = RecordingWriter(header(Role.VIEWER))  # looks only at the end
    same = unlooked.header_bytes()
    for number, (event, size) in enumerate(events):
        time = START + number / 10
        if event == "look":
            assert_heads_follow_the_definition(looking, data)
            continue
        if event == "gap":
            data += looking.gap(time, "test")
            same += unlooked.gap(time, "test")
            continue
        if event == "checkpoint":
            sent_before = heads_by_definition(data)[2][Direction.VIEWER_TO_HOST]
            written = looking.checkpoint(time)
            data += written.data
            same += unlooked.checkpoint(time).data
            assert (written.message.records, written.message.head) == sent_before
            records, file_head, _ = heads_by_definition(data)
            assert (written.file_records, written.file_head) == (records, file_head)
            continue
        message = payload(size, number)
        data += getattr(looking, event)(time, message)
        same += getattr(unlooked, event)(time, message)
    assert same == data
    assert unlooked.heads() == looking.heads()
    assert_heads_follow_the_definition(unlooked, data)


def test_a_long_recording_with_wide_time_steps_reads_back_as_written():
    # Sequence numbers past 16383 take 3 bytes; time steps of both signs, short and long.
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes()
    steps = [0.001, 0.1, 9.0, -0.5, 0.0, 700.0, -0.001]
    times = []
    for number in range(17_000):
        times.append((times[-1] if times else START) + steps[number % len(steps)])
        record = writer.sent if number % 3 else writer.received
        data += record(times[-1], payload(number % 50, number))
    assert_heads_follow_the_definition(writer, data)
    read = [record.time for record in RecordReader(data)]
    assert read == [round(time * 1000) / 1000 for time in times]
    data += writer.end(times[-1] + 1, "done")
    assert verify(data).intact


def test_a_message_that_cannot_be_recorded_leaves_the_recording_as_it_was():
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes() + writer.sent(START + 1, payload(12, 1))
    before = writer.heads()
    for time in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="seconds since the epoch"):
            writer.sent(time, payload(12, 2))
    with pytest.raises(ProtocolError, match="larger than"):
        writer.received(START + 2, bytes(MAX_MESSAGE_BYTES + 1))
    assert writer.heads() == before
    data += writer.received(START + 3, payload(37_000, 3)) + writer.end(START + 4, "done")
    assert verify(data).intact
    assert_heads_follow_the_definition(writer, data)


def test_small_messages_wait_to_be_hashed_but_never_more_than_the_bound():
    # Hashing waits (in batches, warm) but never holds more than MAX_DEFERRED_BYTES of
    # payloads: a long stream of small messages, then one large one, hashed at once.
    writer = RecordingWriter(header(Role.VIEWER))
    data = writer.header_bytes()
    chains = writer._chains
    for number in range(3000):
        data += writer.received(START + number / 100, payload(200, number))
        assert chains._deferred_bytes <= MAX_DEFERRED_BYTES
    assert chains._deferred  # some wait
    data += writer.sent(START + 31, payload(MAX_DEFERRED_BYTES + 1, 1))
    assert not chains._deferred
    assert_heads_follow_the_definition(writer, data)
