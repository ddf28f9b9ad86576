"""The verdicts of `verify` against the relay's ledger (issue 20, points 3 and 13).

One party must not be able to make the other's evidence fail: an honest file under a
lying peer is intact, with the peer named. And a file cut back to one of its own
checkpoints, with a forged end record, is named as cut: the relay's own count of what it
forwarded from that side says more was sent than the file holds.
"""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from protocol import messages
from protocol.channel import TAG_BYTES
from protocol.handshake import Role
from protocol.recording import Gap, RecordKind, outgoing
from protocol.recording_reader import RecordReader
from protocol.recording_verify import Forwarded, LedgerCheckpoint, Problem, verify
from protocol.recording_writer import RecordingWriter
from protocol.resume import RESUME_STATE_BYTES, resumed_gap_reason
from protocol.schema import to_values
from tests.protocol.test_recording import forge, frame_records, with_file_heads
from tests.support.recording_sessions import Session, typical_session


@pytest.fixture(scope="module")
def session() -> Session:
    return typical_session(frames=30)


def full_ledger(session: Session) -> list[LedgerCheckpoint]:
    """Both sides' reports with their file heads, in the relay's order, and each side's
    final report after its END record (as `SessionEvidence.close` gives the relay)."""
    host = with_file_heads(bytes(session.host_file), session.ledger)
    viewer = with_file_heads(bytes(session.viewer_file), session.ledger)
    ledger = [
        from_host if plain.side is Role.HOST else from_viewer
        for plain, from_host, from_viewer in zip(session.ledger, host, viewer, strict=True)
    ]
    return ledger + [
        final_report(bytes(session.host_file)),
        final_report(bytes(session.viewer_file)),
    ]


def final_report(data: bytes) -> LedgerCheckpoint:
    side = RecordReader(data).read_header().side
    heads = verify(data).heads
    assert heads is not None
    records, head = heads.traffic(outgoing(side))
    return LedgerCheckpoint(
        records, head, side=side, file_records=heads.file_records, file_head=heads.file_head
    )


def sent_bytes(data: bytes) -> int:
    """What a side put on the wire for the messages of its file: payload and tag each."""
    reader = RecordReader(data)
    side = reader.read_header().side
    return sum(
        len(record.payload) + TAG_BYTES for record in reader if record.direction is outgoing(side)
    )


def lying(ledger: list[LedgerCheckpoint], liar: Role) -> list[LedgerCheckpoint]:
    """The ledger after `liar` reported made-up traffic heads (its file heads as well)."""
    made_up = bytes(range(32))
    return [
        dataclasses.replace(c, head=made_up, file_head=made_up if c.file_head else None)
        if c.side is liar
        else c
        for c in ledger
    ]


def test_an_honest_file_under_a_lying_peer_is_intact_and_names_the_peer(session):
    # Before: "ledger mismatch", the honest side's evidence failed for the peer's lie.
    ledger = lying(full_ledger(session), Role.HOST)
    viewer = bytes(session.viewer_file)
    result = verify(viewer, ledger)
    assert result.intact, result.reason
    assert result.problem is None
    assert result.peer_disagrees is Role.HOST
    assert "host's checkpoint" in result.reason and "sent in the channel" in result.reason
    # The liar's own file fails against its own lies: that is its problem.
    host = verify(bytes(session.host_file), ledger)
    assert not host.intact and host.problem is Problem.LEDGER_MISMATCH
    # The same the other way round.
    reverse = verify(bytes(session.host_file), lying(full_ledger(session), Role.VIEWER))
    assert reverse.intact and reverse.peer_disagrees is Role.VIEWER


def test_a_file_rewritten_where_it_received_is_not_excused_as_the_peers_lie(session):
    # A side that rewrites what it received (and the peer's checkpoints with it) must not
    # get "the peer lied": its own reports of its file chain say it changed.
    original = bytes(session.viewer_file)
    ledger = full_ledger(session)
    target = frame_records(original)[3]
    blank = messages.encode(messages.FrameUpdate(99, 1.0, 64, 48, ()))
    forged = forge(original, lambda r: blank if r.position == target.position else r.payload)
    result = verify(forged, ledger)
    assert not result.intact
    assert result.peer_disagrees is None


def cut_back_with_an_end_record(data: bytes, keep: int) -> bytes:
    """The first `keep` records as they were, then a forged END record."""
    reader = RecordReader(data)
    head = reader.read_header()
    writer = RecordingWriter(head)
    out = bytearray(writer.header_bytes())
    time = head.start_time
    for record in reader:
        if record.position > keep:
            break
        time = record.time
        if record.direction is None:
            out += writer._append(record.kind, record.time, record.payload)
        else:
            out += b"".join(writer._message(record.direction, record.time, record.payload))
    out += writer.end(time, "the technician ended the session")
    return bytes(out)


def test_a_file_cut_back_to_its_last_report_with_a_forged_end_is_named_cut(session):
    # Before: after a crash, cutting the viewer's file back to its last checkpoint and
    # adding an end record verified as intact, hiding the technician's last actions.
    original = bytes(session.viewer_file)
    ledger = full_ledger(session)
    own = [c.file_records for c in ledger if c.side is Role.VIEWER and c.file_records]
    # The relay forwarded what the viewer sent: all of it (the honest file holds it all).
    relay = Forwarded(host_to_viewer=None, viewer_to_host=sent_bytes(original))
    assert verify(original, ledger, relay).intact
    # The viewer crashed after its checkpoint in the middle of the session: the ledger
    # holds its reports up to there. Its file is cut back to that checkpoint and given a
    # new end record: the technician's later actions are gone.
    crashed_after = sorted(own)[0]
    at_crash = [c for c in ledger if not (c.side is Role.VIEWER and c.file_records > crashed_after)]
    cut = cut_back_with_an_end_record(original, crashed_after)
    assert verify(cut).intact  # alone it looks whole
    alone_ledger = verify(cut, at_crash)
    assert alone_ledger.intact, "the ledger's checkpoints alone cannot see this cut"
    without_final = at_crash
    result = verify(cut, without_final, relay)
    assert not result.intact
    assert result.problem is Problem.CUT
    assert "records the viewer sent are missing" in result.reason
    assert "an end record added" in result.reason


def test_the_relays_count_never_fails_an_honest_file_and_old_ledgers_are_not_judged(session):
    for data in (bytes(session.viewer_file), bytes(session.host_file)):
        side = RecordReader(data).read_header().side
        exact = sent_bytes(data)
        counts = {Role.HOST: None, Role.VIEWER: None}
        counts[side] = exact
        forwarded = Forwarded(counts[Role.HOST], counts[Role.VIEWER])
        assert verify(data, full_ledger(session), forwarded).intact
        # Less than the file holds (messages recorded, then the link dropped): fine.
        counts[side] = exact // 2
        assert verify(
            data, full_ledger(session), Forwarded(counts[Role.HOST], counts[Role.VIEWER])
        ).intact
    # A ledger that did not count (an older relay): no verdict from counts.
    assert verify(bytes(session.viewer_file), full_ledger(session), Forwarded(None, None)).intact


def test_a_resume_accounts_for_the_messages_sent_again():
    # A resume's GAP record says how many messages this side sent again: the relay
    # forwarded those twice, and a ResumeState frame.
    session = typical_session(frames=6)
    data = bytes(session.viewer_file)
    reader = RecordReader(data)
    head = reader.read_header()
    records = list(reader)
    writer = RecordingWriter(head)
    out = bytearray(writer.header_bytes())
    last_sent = []
    for record in records:
        if record.kind is RecordKind.END:
            break
        if record.kind is RecordKind.CHECKPOINT:  # its heads hold the file chain: anew
            payload = msgpack.packb(to_values(writer.heads()), use_bin_type=True)
            out += writer._append(record.kind, record.time, payload)
        elif record.direction is None:
            out += writer._append(record.kind, record.time, record.payload)
        else:
            out += b"".join(writer._message(record.direction, record.time, record.payload))
            if record.direction is outgoing(head.side):
                last_sent.append(len(record.payload) + TAG_BYTES)
        if record.position == len(records) // 2:
            out += writer._append(RecordKind.GAP, record.time, _gap(resumed_gap_reason(2.5, 1, 2)))
            resent = sum(last_sent[-2:])
    out += writer.end(records[-1].time, "done")
    resumed = bytes(out)
    total = sent_bytes(resumed)
    heads = verify(resumed).heads
    assert heads is not None
    records_sent, head_sent = heads.traffic(outgoing(Role.VIEWER))
    ledger = [
        LedgerCheckpoint(records_sent, head_sent, side=Role.VIEWER,
                         file_records=heads.file_records, file_head=heads.file_head)
    ]  # fmt: skip
    allowed = total + RESUME_STATE_BYTES + TAG_BYTES + resent
    # Without the ledger nothing anchors the GAP record: the resume counts for nothing.
    assert verify(resumed, None, Forwarded(None, allowed)).problem is Problem.CUT
    with_ledger = verify(resumed, ledger, Forwarded(None, allowed))
    assert with_ledger.intact, with_ledger.reason
    over = verify(resumed, ledger, Forwarded(None, allowed + 1))
    assert over.problem is Problem.CUT


def _gap(reason: str) -> bytes:
    return msgpack.packb(to_values(Gap(reason)), use_bin_type=True)
