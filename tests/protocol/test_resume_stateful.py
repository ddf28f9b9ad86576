"""Hypothesis drives host and viewer through any mix of messages, deliveries, dropped
connections (noticed by one side or both) and resumes: every message arrives exactly
once and in order, so both sides' traffic chains stay the same; and the resume state's
decoder takes any bytes without an error other than ProtocolError."""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol import messages
from protocol.errors import ProtocolError
from protocol.resume import ResumeState
from protocol.session import Received, Send, SessionState
from tests.protocol.test_session import connect

SIDES = ("host", "viewer")


class ResumeMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        host, viewer, *_ = connect()
        self.sessions = {"host": host, "viewer": viewer}
        self.wire = {"host": [], "viewer": []}  # frames on their way from this side
        self.sent = {"host": [], "viewer": []}  # plaintexts given to seal, in order
        self.received = {"host": [], "viewer": []}  # plaintexts opened from the peer
        self.connected = True
        self.epoch = 0
        self.count = 0

    @staticmethod
    def other(name):
        return "viewer" if name == "host" else "host"

    @rule(name=st.sampled_from(SIDES))
    def send(self, name):
        self.count += 1
        plaintext = messages.encode(messages.Chat(f"{name} {self.count}"))
        frame = self.sessions[name].seal_plaintext(plaintext)
        self.sent[name].append(plaintext)
        if frame is not None and self.connected:
            self.wire[name].append(frame)

    def deliver_one(self, name):
        frame = self.wire[name].pop(0)
        receiver = self.other(name)
        for event in self.sessions[receiver].receive(frame):
            if isinstance(event, Received):
                self.received[receiver].append(event.plaintext)
            elif isinstance(event, Send):
                self.wire[receiver].append(event.data)

    @precondition(lambda self: self.connected)
    @rule(name=st.sampled_from(SIDES))
    def deliver(self, name):
        if self.wire[name]:
            self.deliver_one(name)

    @precondition(lambda self: self.connected)
    @rule(noticed_by=st.sampled_from(("host", "viewer", "both")))
    def drop(self, noticed_by):
        """The connection drops: what is in flight is lost; the relay tells the other side
        (`peer_reconnecting`) only when its own link stayed up, so one side may not know."""
        self.connected = False
        self.wire = {"host": [], "viewer": []}
        for name in SIDES:
            if noticed_by in (name, "both"):
                self.sessions[name].detach()

    @rule()
    def resume(self):
        """The relay says `resumed`: both switch; each one's state goes out first."""
        self.epoch += 1
        self.connected = True
        self.wire = {name: [self.sessions[name].switch_epoch(self.epoch)] for name in SIDES}

    @invariant()
    def every_message_arrives_at_most_once_and_in_order(self):
        for name in SIDES:
            received = self.received[self.other(name)]
            assert received == self.sent[name][: len(received)]

    def teardown(self):
        """Settle: resume if needed, deliver everything; then nothing is missing either."""
        if not hasattr(self, "sessions"):
            return
        if not self.connected or any(
            session.state is not SessionState.OPEN for session in self.sessions.values()
        ):
            self.resume()
        while self.wire["host"] or self.wire["viewer"]:
            for name in SIDES:
                if self.wire[name]:
                    self.deliver_one(name)
        for name in SIDES:
            assert self.received[self.other(name)] == self.sent[name]


TestResumeMachine = ResumeMachine.TestCase
TestResumeMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@given(st.binary(max_size=64))
def test_the_resume_state_decoder_refuses_anything_else_with_a_protocol_error(data):
    try:
        state = ResumeState.decode(data)
    except ProtocolError:
        return
    assert state.encode() == data
