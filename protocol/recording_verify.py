"""Checking a recording: its framing, sequence, chains and, optionally, the relay's ledger.

    result = verify(data_or_stream, ledger=[LedgerCheckpoint(...), ...])
    result.intact, result.problem, result.reason   # one sentence for people

Exactly one problem is reported, the first found, in this order: not a recording or a
format this program does not read; a record altered (checksum, impossible length, time
or kind, a compressed payload that does not inflate, or a chain head in a checkpoint that
does not match the records before it); a
record removed or moved (sequence numbers); the file cut short (mid-record, or whole
records but no END record: it verifies up to its last whole record and says where that
ends); data after the END record; then the ledger: each checkpoint the relay stored must
equal the traffic chain recomputed from this file after as many messages, and each one this
side reported with its file chain head must equal the file chain after as many records
(which covers every record up to there, times and local records included).

A ledger checkpoint reported by the side that wrote this file must lie within the file.
One reported by the peer may lie beyond what this file received (messages still in
flight when the session ended); it is counted in `ledger_uncovered`, not a failure.

The peer's reports alone never make this file fail: a peer checkpoint that disagrees with
the messages this file received from the peer (which the peer sealed: nobody else could)
means the peer told the relay something else than it sent in the channel. The file is
intact; the result names the peer (`peer_disagrees`).

A file cut back to one of its checkpoints and given a new END record matches every
checkpoint it reported. The relay's own count of the bytes it forwarded from this side
after the customer's first answer (`Forwarded`) tells: every frame a side sends then is
one of its channel's messages, which it records before sealing, or a resume's frame and
the messages it sends again (the resume's GAP record says how many). More bytes than that
means records are missing: the verdict is CUT.
"""

from __future__ import annotations

import collections
import contextlib
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from protocol.channel import TAG_BYTES, Direction
from protocol.errors import ProtocolError
from protocol.handshake import Role
from protocol.messages import Checkpoint
from protocol.recording import (
    Chains,
    End,
    Gap,
    Heads,
    InputOutcome,
    RecordingHeader,
    check_traffic_checkpoint,
    decode_local,
    message_type,
    outgoing,
)
from protocol.recording_reader import Damage, Record, RecordingDamaged, RecordReader
from protocol.resume import RESEND_MAX_MESSAGES, RESUME_STATE_BYTES, resent_in_gap

_ARROWS = {Direction.HOST_TO_VIEWER: "host->viewer", Direction.VIEWER_TO_HOST: "viewer->host"}


class Problem(enum.Enum):
    NOT_A_RECORDING = "not a recording"
    UNSUPPORTED_VERSION = "unsupported version"
    ALTERED = "altered"
    REMOVED = "removed"
    REORDERED = "reordered"
    CUT = "cut"
    TRAILING_DATA = "trailing data"
    LEDGER_MISMATCH = "ledger mismatch"
    LEDGER_MISSING = "ledger missing"


_FROM_DAMAGE = {
    Damage.NOT_A_RECORDING: Problem.NOT_A_RECORDING,
    Damage.UNSUPPORTED_VERSION: Problem.UNSUPPORTED_VERSION,
    Damage.ALTERED: Problem.ALTERED,
    Damage.CUT: Problem.CUT,
}


@dataclass(frozen=True, slots=True)
class LedgerCheckpoint:
    """One checkpoint as the relay stored it: a traffic chain head after `records` messages."""

    records: int
    head: bytes
    side: Role | None = None  # who reported it (its outgoing chain); None: ledger does not say
    time: float | None = None  # the relay's time
    file_records: int | None = None  # the reporting side's file chain; None: not reported
    file_head: bytes | None = None


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The relay's own count of what it forwarded from each side after the customer's
    first answer (its ledger row); None where the ledger does not say."""

    host_to_viewer: int | None
    viewer_to_host: int | None

    def from_side(self, side: Role) -> int | None:
        return self.host_to_viewer if side is Role.HOST else self.viewer_to_host


@dataclass(frozen=True, slots=True)
class VerifyResult:
    intact: bool
    problem: Problem | None
    reason: str  # one sentence for people
    header: RecordingHeader | None
    records: int  # whole records verified from the start
    verified_bytes: int  # byte offset where the verified part ends
    record: int | None = None  # the record the problem concerns
    checkpoint: int | None = None  # the ledger checkpoint (from 1, ledger order) at fault
    heads: Heads | None = None  # the chains after the verified part
    end_reason: str | None = None
    ledger_matched: int = 0
    ledger_uncovered: int = 0
    # Intact, but the peer's reports to the relay disagree with what it sent in the channel.
    peer_disagrees: Role | None = None
    peer_reason: str = ""


@dataclass(frozen=True, slots=True)
class _Found:
    problem: Problem
    reason: str
    record: int | None
    records: int
    verified_bytes: int


class _ChainBroken(ProtocolError):
    pass


class _Pass:
    """Feeds records in order through the chains, checking every stored head."""

    def __init__(
        self,
        header: RecordingHeader,
        header_block: bytes,
        wanted: set[tuple[Direction, int]],
        wanted_files: set[int],
    ) -> None:
        self.header = header
        self.chains = Chains(header, header_block)
        self.wanted = wanted
        self.seen: dict[tuple[Direction, int], bytes] = {}
        self.seen_at: dict[tuple[Direction, int], int] = {}  # the record that reached it
        self.wanted_files = wanted_files
        self.file_seen: dict[int, tuple[bytes, int]] = {}  # records -> (file head, end offset)
        self.end_reason: str | None = None
        self.anchor = (0, 0)  # (records, end offset) of the last checkpoint that matched
        # This side's sealed messages, as frames on the wire (payload and tag), and for
        # each resume the frames it says it sent again: (record position, bytes).
        self.sent_bytes = 0
        self._recent_sent: collections.deque[int] = collections.deque(maxlen=RESEND_MAX_MESSAGES)
        self.resume_frames: list[tuple[int, int]] = []

    def feed(self, record: Record) -> None:
        kind = record.kind
        try:
            payload = record.payload
        except ProtocolError as error:
            # The compressed records share one DEFLATE stream: the damage may lie in any of
            # them since the last checkpoint that matched.
            raise _ChainBroken(
                f"record {record.position} does not inflate ({error}): it or a compressed "
                f"record after record {self.anchor[0]} was altered"
            ) from None
        direction = record.direction
        if direction is not None and direction is outgoing(self.header.side):
            frame = len(payload) + TAG_BYTES
            self.sent_bytes += frame
            self._recent_sent.append(frame)
        if direction is not None:
            self._note(direction, record.position - 1)
            try:
                check_traffic_checkpoint(self.chains, direction, payload)
            except ProtocolError as error:
                raise _ChainBroken(f"record {record.position}: {error}") from None
            if message_type(payload) == Checkpoint.TYPE:
                self.anchor = (record.position, record.offset + len(record.data))
        else:
            value = decode_local(kind, payload)
            if isinstance(value, Heads) and value != self.chains.heads():
                raise _ChainBroken(
                    f"the checkpoint in record {record.position} does not match the records "
                    f"before it: one after record {self.anchor[0]} was altered"
                )
            if isinstance(value, Heads):
                self.anchor = (record.position, record.offset + len(record.data))
            if isinstance(value, InputOutcome) and (
                self.header.side is not Role.HOST
                or value.message_index >= self.chains.traffic[Direction.VIEWER_TO_HOST][0]
            ):
                raise ProtocolError(f"record {record.position} is an impossible input outcome")
            if isinstance(value, End):
                self.end_reason = value.reason
            if isinstance(value, Gap) and (resent := resent_in_gap(value.reason)) is not None:
                again = sum(list(self._recent_sent)[-resent:]) if resent else 0
                self.resume_frames.append((record.position, RESUME_STATE_BYTES + TAG_BYTES + again))
        self.chains.extend(record.data, kind, payload, record.payload_offset)
        if record.position in self.wanted_files:
            end = record.offset + len(record.data)
            self.file_seen[record.position] = (self.chains.file_head, end)

    def _note(self, direction: Direction, position: int | None = None) -> None:
        count, head = self.chains.traffic[direction]
        if (direction, count) in self.wanted and (direction, count) not in self.seen:
            self.seen[(direction, count)] = head
            self.seen_at[(direction, count)] = (
                position if position is not None else self.chains.file_records
            )

    def finish(self) -> None:
        for direction in Direction:
            self._note(direction)


def _sequence_problem(record: Record, reader: RecordReader, verified: tuple[int, int]) -> _Found:
    expected = record.position
    at = f"at byte offset {record.offset}"
    if record.sequence < expected:
        return _Found(
            Problem.REORDERED,
            f"record {record.sequence} appears again or out of order after record "
            f"{expected - 1}, {at}",
            expected,
            *verified,
        )
    later = False
    # Damage further on only means the missing record cannot be found there.
    with contextlib.suppress(RecordingDamaged):
        later = any(other.sequence == expected for other in reader)
    if later:
        reason = (
            f"record {expected} was moved: record {record.sequence} stands in its place {at}, "
            f"record {expected} comes later"
        )
        return _Found(Problem.REORDERED, reason, expected, *verified)
    missing = (
        f"record {expected} is"
        if record.sequence == expected + 1
        else f"records {expected} to {record.sequence - 1} are"
    )
    reason = f"{missing} missing: record {record.sequence} follows record {expected - 1} {at}"
    return _Found(Problem.REMOVED, reason, expected, *verified)


def _read_all(reader: RecordReader, state: _Pass) -> _Found | None:
    """The first structural problem, or None for a whole, well-formed recording."""
    verified = (0, reader.offset)
    try:
        for record in reader:
            if state.end_reason is not None:
                return _Found(
                    Problem.TRAILING_DATA,
                    f"data follows the end record at byte offset {record.offset}",
                    record.position,
                    *verified,
                )
            if record.sequence != record.position:
                return _sequence_problem(record, reader, verified)
            try:
                state.feed(record)
            except _ChainBroken as error:
                return _Found(Problem.ALTERED, str(error), record.position, *state.anchor)
            except ProtocolError as error:
                return _Found(
                    Problem.ALTERED,
                    f"record {record.position} is altered: {error}",
                    record.position,
                    *verified,
                )
            verified = (record.position, reader.offset)
    except RecordingDamaged as damage:
        if state.end_reason is not None:
            return _Found(
                Problem.TRAILING_DATA,
                f"data follows the end record at byte offset {damage.offset}",
                damage.record,
                *verified,
            )
        return _Found(_FROM_DAMAGE[damage.damage], str(damage), damage.record, *verified)
    state.finish()
    if state.end_reason is None:
        return _Found(
            Problem.CUT,
            f"the recording stops after record {verified[0]} at byte offset {verified[1]} "
            "without an end record (cut short, by a crash for example)",
            verified[0] + 1,
            *verified,
        )
    return None


def _wanted(ledger: Sequence[LedgerCheckpoint]) -> set[tuple[Direction, int]]:
    return {
        (direction, checkpoint.records)
        for checkpoint in ledger
        for direction in _directions(checkpoint)
    }


def _wanted_files(ledger: Sequence[LedgerCheckpoint], side: Role) -> set[int]:
    return {c.file_records for c in ledger if _reports_file(c, side) and c.file_records}


def _reports_file(checkpoint: LedgerCheckpoint, side: Role) -> bool:
    """Whether this ledger checkpoint holds a file chain head of the file `side` wrote."""
    return (
        checkpoint.side is side
        and checkpoint.file_records is not None
        and checkpoint.file_head is not None
    )


def _directions(checkpoint: LedgerCheckpoint) -> tuple[Direction, ...]:
    if checkpoint.side is None:
        return tuple(Direction)
    return (outgoing(checkpoint.side),)


@dataclass(slots=True)
class _Comparison:
    matched: int = 0
    uncovered: int = 0
    disagreement: tuple[int, str] | None = None  # (checkpoint number, reason): this file's
    peer_disagreement: tuple[int, str] | None = None  # the peer's report, not this file


def _compare_ledger(
    state: _Pass, ledger: Sequence[LedgerCheckpoint], complete: bool
) -> _Comparison:
    result = _Comparison()
    result.matched, result.uncovered, result.disagreement = _compare_each(
        state, ledger, complete, result
    )
    return result


def _compare_each(
    state: _Pass, ledger: Sequence[LedgerCheckpoint], complete: bool, result: _Comparison
) -> tuple[int, int, tuple[int, str] | None]:
    """(matched, uncovered, first disagreement as (checkpoint number, reason)); a peer's
    report that disagrees with what this file received from it goes to `result`."""
    matched = uncovered = 0
    confirmed = 0  # the file's records the ledger confirmed so far
    side = state.header.side
    # Up to here the file is as this side reported it to the relay at the time.
    anchored = max(
        (
            c.file_records or 0
            for c in ledger
            if _reports_file(c, side)
            and state.file_seen.get(c.file_records or 0, (None,))[0] == c.file_head
        ),
        default=0,
    )
    for number, checkpoint in enumerate(ledger, start=1):
        when = f" (relay time {checkpoint.time:.3f})" if checkpoint.time is not None else ""
        if _reports_file(checkpoint, state.header.side):
            file_problem = _compare_file(state, checkpoint, complete, confirmed)
            if file_problem is not None:
                return matched, uncovered, (number, f"checkpoint {number} of the ledger{when}"
                                            f"{file_problem}")  # fmt: skip
            assert checkpoint.file_records is not None
            confirmed = max(confirmed, checkpoint.file_records)
        directions = _directions(checkpoint)
        covered = [
            state.seen[(d, checkpoint.records)]
            for d in directions
            if (d, checkpoint.records) in state.seen
        ]
        if checkpoint.head in covered:
            matched += 1
            continue
        where = "/".join(_ARROWS[d] for d in directions)
        peers = checkpoint.side is not None and checkpoint.side is not state.header.side
        reached = [
            state.seen_at[(d, checkpoint.records)]
            for d in directions
            if (d, checkpoint.records) in state.seen_at
        ]
        if covered and peers and reached and max(reached) <= anchored:
            # What the peer sealed and this file received says otherwise: the peer told
            # the relay something else than it sent (this file is not at fault).
            if result.peer_disagreement is None:
                assert checkpoint.side is not None
                result.peer_disagreement = (
                    number,
                    f"the {checkpoint.side.value}'s checkpoint {number} of the ledger{when}, "
                    f"after {checkpoint.records} messages {where}, disagrees with what the "
                    f"{checkpoint.side.value} sent in the channel",
                )
            continue
        if covered:
            return (
                matched,
                uncovered,
                (
                    number,
                    f"checkpoint {number} of the ledger{when}, after {checkpoint.records} messages "
                    f"{where}, disagrees with this recording",
                ),
            )
        if peers or not complete:
            uncovered += 1
            continue
        held = ", ".join(f"{state.chains.traffic[d][0]} {_ARROWS[d]}" for d in directions)
        return (
            matched,
            uncovered,
            (
                number,
                f"checkpoint {number} of the ledger{when} covers {checkpoint.records} messages "
                f"{where}, but the recording holds only {held}",
            ),
        )
    return matched, uncovered, None


def _compare_file(
    state: _Pass, checkpoint: LedgerCheckpoint, complete: bool, confirmed: int
) -> str | None:
    """What is wrong with this file against a file chain head its side reported, if anything.

    The text continues "checkpoint N of the ledger (relay time ...)".
    """
    records = checkpoint.file_records
    assert records is not None
    if records == 0:
        return " reports a file chain of no records, which no checkpoint has"
    seen = state.file_seen.get(records)
    if seen is None:
        if not complete:
            return None  # the structural problem found first is the one reported
        return (
            f" covers {records} records of this file, but it holds only {state.chains.file_records}"
        )
    head, end = seen
    if head == checkpoint.file_head:
        return None
    last = ""
    if records == state.chains.file_records and state.end_reason is not None:
        last = f" (record {records} is the end record, with the reason the session ended)"
    return (
        f" covers this file's first {records} records (up to byte offset {end}), and they "
        f"differ from what was reported then: one of records {confirmed + 1} to {records} "
        f"was rewritten{last}"
    )


def verify(
    source: bytes | bytearray | memoryview | BinaryIO,
    ledger: Sequence[LedgerCheckpoint] | None = None,
    forwarded: Forwarded | None = None,
) -> VerifyResult:
    """Check a recording (and, given the relay's checkpoints for its session, against them;
    given the relay's byte counts, that no message this side sent is missing).

    Never raises for bad data: anything wrong is a result that is not intact.
    """
    reader = RecordReader(source)
    try:
        header = reader.read_header()
    except RecordingDamaged as damage:
        return VerifyResult(False, _FROM_DAMAGE[damage.damage], str(damage), None, 0, 0, 0)
    state = _Pass(
        header,
        reader.header_block,
        _wanted(ledger or ()),
        _wanted_files(ledger or (), header.side),
    )
    found = _read_all(reader, state)
    comparison = _Comparison()
    if ledger is not None:
        comparison = _compare_ledger(state, ledger, found is None)
    matched, uncovered, disagreement = (
        comparison.matched,
        comparison.uncovered,
        comparison.disagreement,
    )
    common = {
        "header": header,
        "heads": state.chains.heads(),
        "end_reason": state.end_reason,
        "ledger_matched": matched,
        "ledger_uncovered": uncovered,
    }
    if found is not None:
        return VerifyResult(
            False,
            found.problem,
            found.reason,
            records=found.records,
            verified_bytes=found.verified_bytes,
            record=found.record,
            checkpoint=disagreement[0] if disagreement else None,
            **common,
        )
    records, end = state.chains.file_records, reader.offset
    if disagreement is not None:
        return VerifyResult(
            False,
            Problem.LEDGER_MISMATCH,
            disagreement[1],
            records=records,
            verified_bytes=end,
            checkpoint=disagreement[0],
            **common,
        )
    if ledger is not None and matched == 0:
        return VerifyResult(
            False,
            Problem.LEDGER_MISSING,
            f"the ledger holds no checkpoint of session {header.session} that this "
            "recording covers",
            records=records,
            verified_bytes=end,
            **common,
        )
    missing = _missing_sent(state, ledger or (), forwarded)
    if missing is not None:
        return VerifyResult(
            False, Problem.CUT, missing, records=records, verified_bytes=end, **common
        )
    reason = f"intact: {records} records, {end} bytes, ended: {state.end_reason}"
    if comparison.peer_disagreement is not None:
        number, peer_reason = comparison.peer_disagreement
        side = state.header.side
        peer = Role.VIEWER if side is Role.HOST else Role.HOST
        reason += (
            f"; but {peer_reason}: the {peer.value}'s reports to the relay cannot be trusted, "
            "this recording is not at fault"
        )
        return VerifyResult(
            True, None, reason, records=records, verified_bytes=end,
            peer_disagrees=peer, peer_reason=peer_reason, **common,
        )  # fmt: skip
    if ledger is not None:
        reason += f"; all {matched} checkpoints it covers match the relay's ledger"
        if uncovered:
            reason += f" ({uncovered} of the peer's lie beyond what this side received)"
    return VerifyResult(True, None, reason, records=records, verified_bytes=end, **common)


def _missing_sent(
    state: _Pass, ledger: Sequence[LedgerCheckpoint], forwarded: Forwarded | None
) -> str | None:
    """Why messages this side sent are missing from the file, by the relay's byte count
    (None: nothing says so). Resumes count only where this side's reported file chain
    anchors their GAP record (records added after the last report prove nothing)."""
    side = state.header.side
    relayed = forwarded.from_side(side) if forwarded is not None else None
    if relayed is None:
        return None
    anchored = max((c.file_records or 0 for c in ledger if _reports_file(c, side)), default=0)
    resumes = sum(size for position, size in state.resume_frames if position <= anchored)
    most = state.sent_bytes + resumes
    if relayed <= most:
        return None
    return (
        f"the relay forwarded {relayed} bytes from the {side.value} after the customer's "
        f"first answer, but the messages in this file (with its resumes) account for at "
        f"most {most}: records the {side.value} sent are missing (cut short"
        + (", and an end record added)" if state.end_reason is not None else ")")
    )
