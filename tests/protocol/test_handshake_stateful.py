"""Hypothesis drives both sides of the handshake through any order of deliveries,
reflections, duplicates and garbage: keys appear only for an honest exchange with the
right code, and nothing but fernwartung's own errors ever comes out."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from protocol.errors import FernwartungError, ProtocolError, WrongCode
from protocol.handshake import Handshake, State

SESSION = "482139"


class HandshakeMachine(RuleBasedStateMachine):
    @initialize(same_code=st.booleans())
    def start(self, same_code):
        self.same_code = same_code
        self.sides = {
            "host": Handshake.for_host("072261", SESSION),
            "viewer": Handshake.for_viewer("072261" if same_code else "072262", SESSION),
        }
        self.inbox = {"host": [], "viewer": []}
        self.sent = {"host": [], "viewer": []}
        self.keys = {}
        self.tampered = {"host": False, "viewer": False}
        for name, other in (("host", "viewer"), ("viewer", "host")):
            message = self.sides[name].start()
            self.sent[name].append(message)
            self.inbox[other].append(message)

    def feed(self, name, data, honest):
        side = self.sides[name]
        other = "viewer" if name == "host" else "host"
        if not honest:
            self.tampered[name] = True
        try:
            step = side.receive(data)
        except WrongCode:
            assert not self.same_code or self.tampered[name]
            assert side.state is State.FAILED
            return
        except ProtocolError:
            assert side.state is State.FAILED
            return
        except FernwartungError as error:  # pragma: no cover - would be a new error type
            raise AssertionError(f"unexpected error type {type(error).__name__}") from error
        if step.outgoing is not None:
            self.sent[name].append(step.outgoing)
            self.inbox[other].append(step.outgoing)
        if step.keys is not None:
            self.keys[name] = step.keys

    @precondition(lambda self: self.inbox["host"])
    @rule()
    def deliver_to_host(self):
        self.feed("host", self.inbox["host"].pop(0), honest=True)

    @precondition(lambda self: self.inbox["viewer"])
    @rule()
    def deliver_to_viewer(self):
        self.feed("viewer", self.inbox["viewer"].pop(0), honest=True)

    @rule(name=st.sampled_from(["host", "viewer"]), data=st.binary(max_size=70))
    def garbage(self, name, data):
        self.feed(name, data, honest=False)

    @rule(name=st.sampled_from(["host", "viewer"]), which=st.integers(0, 1))
    def reflect_own_message(self, name, which):
        own = self.sent[name]
        if own:
            self.feed(name, own[min(which, len(own) - 1)], honest=False)

    @rule(name=st.sampled_from(["host", "viewer"]), which=st.integers(0, 1))
    def replay_peer_message(self, name, which):
        other = "viewer" if name == "host" else "host"
        theirs = self.sent[other]
        if theirs:
            self.feed(name, theirs[min(which, len(theirs) - 1)], honest=False)

    @invariant()
    def keys_only_for_the_right_code(self):
        if not self.same_code:
            assert not self.keys
        if len(self.keys) == 2:
            assert self.keys["host"].send_key == self.keys["viewer"].receive_key
            assert self.keys["viewer"].send_key == self.keys["host"].receive_key

    @invariant()
    def a_finished_side_has_keys_and_a_failed_one_none(self):
        for name, side in self.sides.items():
            if side.state is State.DONE:
                assert name in self.keys
            if side.state is State.FAILED:
                assert side._pending_keys is None


HandshakeMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=12, deadline=None
)
test_handshake_state_machine = HandshakeMachine.TestCase
