"""PeerSession across a resume: detach, switch epochs, exchange resume states, resend."""

import pytest

from protocol import messages
from protocol.errors import IntegrityError, ProtocolError
from protocol.resume import ResumeState, SentLog
from protocol.session import Received, Resumed, Send, SessionState
from tests.protocol.test_session import connect


def deliver(session, frames):
    """Open `frames` at `session`; the events, flattened."""
    events = []
    for frame in frames:
        events += session.receive(frame)
    return events


def resume(host, viewer, epoch):
    """Both sides switch, each opens the other's state: (host events, viewer events)."""
    host_state, viewer_state = host.switch_epoch(epoch), viewer.switch_epoch(epoch)
    return host.receive(viewer_state), viewer.receive(host_state)


def test_what_was_lost_in_the_gap_is_sent_again_once_and_in_order():
    host, viewer, *_ = connect()
    delivered = [host.seal(messages.Chat(f"frame {n}")) for n in range(3)]
    deliver(viewer, delivered[:1])  # the link drops: frames 1 and 2 never arrive
    host.detach()
    viewer.detach()
    assert host.seal(messages.Chat("while away")) is None  # kept, not lost
    host_events, viewer_events = resume(host, viewer, 1)
    resumed = host_events[0]
    assert isinstance(resumed, Resumed) and resumed.epoch == 1 and resumed.resent == 3
    assert viewer_events == [Resumed(epoch=1, resent=0, redelivered=3)]
    assert host.state is viewer.state is SessionState.OPEN
    again = deliver(viewer, [e.data for e in host_events[1:] if isinstance(e, Send)])
    assert [e.message.text for e in again] == ["frame 1", "frame 2", "while away"]
    assert all(e.redelivered for e in again)  # all composed before the resume: late
    # Afterwards new messages flow in the new epoch, nothing is redelivered any more.
    [fresh] = viewer.receive(host.seal(messages.Chat("after")))
    assert fresh.message.text == "after" and not fresh.redelivered
    assert host.sent_total == viewer.received_total == 5


def test_a_side_whose_link_stayed_up_can_be_switched_directly():
    host, viewer, *_ = connect()
    viewer.detach()
    [ack] = [viewer.seal(messages.Ack(1))]
    assert ack is None
    host_events, viewer_events = resume(host, viewer, 1)
    sends = [e.data for e in viewer_events if isinstance(e, Send)]
    [received] = deliver(host, sends)
    assert isinstance(received, Received) and received.message == messages.Ack(1)
    assert received.redelivered


def test_a_frame_of_the_old_epoch_does_not_open_in_the_new_one():
    host, viewer, *_ = connect()
    old = host.seal(messages.Chat("old"))
    host.switch_epoch(1)
    viewer.switch_epoch(1)
    with pytest.raises(IntegrityError):
        viewer.receive(old)


def test_the_relay_cannot_move_a_side_back_to_an_epoch_already_used():
    host, _viewer, *_ = connect()
    host.switch_epoch(2)
    with pytest.raises(ProtocolError):
        host.switch_epoch(1)


def test_secrets_and_verifiers_change_with_the_epoch():
    host, viewer, *_ = connect()
    first = host.resume_secret()
    resume(host, viewer, 1)
    assert host.resume_secret() != first
    assert host.resume_verifier() != viewer.resume_verifier()


def test_a_peer_that_claims_what_was_never_sent_is_refused():
    host, viewer, *_ = connect()
    viewer.switch_epoch(1)
    host.switch_epoch(1)
    # A forged state would need the epoch key; a lying peer is caught by the counts.
    lie = viewer._channel.seal(ResumeState(received=5, sent=0).encode())  # noqa: SLF001
    with pytest.raises(ProtocolError):
        host.receive(lie)


def test_the_sent_log_is_bounded_and_says_when_it_cannot_make_the_peer_whole():
    log = SentLog(max_messages=3, max_bytes=1000)
    for n in range(5):
        log.append(bytes([n]) * 10)
    assert log.total == 5 and log.first_kept == 2
    assert log.since(3) == [bytes([3]) * 10, bytes([4]) * 10]
    assert log.since(5) == []
    with pytest.raises(ProtocolError):
        log.since(1)
    with pytest.raises(ProtocolError):
        log.since(6)
    by_bytes = SentLog(max_messages=100, max_bytes=25)
    for _ in range(4):
        by_bytes.append(bytes(10))
    assert by_bytes.first_kept == 2


def test_a_resume_state_decodes_only_what_it_encoded():
    state = ResumeState(received=7, sent=9)
    assert ResumeState.decode(state.encode()) == state
    with pytest.raises(ProtocolError):
        ResumeState.decode(messages.encode(messages.Pause()))
    with pytest.raises(ProtocolError):
        ResumeState.decode(b"x" * len(state.encode()))
