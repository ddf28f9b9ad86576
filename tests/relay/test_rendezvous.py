"""The sans-I/O parts: rendezvous and pairing state, and the rate limiter."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from protocol.control import ErrorCode, ReportedConsent
from protocol.errors import ProtocolError
from relay.limits import RateLimit, RateLimiter
from relay.pairing import MAX_FAILED_ATTEMPTS, Refused, Rendezvous, SessionState

TTL = 600.0


def refused_code(rendezvous: Rendezvous, number: str, now: float) -> ErrorCode:
    with pytest.raises(Refused) as refused:
        rendezvous.find_for_join(number, now)
    return refused.value.code


def test_numbers_are_six_digits_without_a_leading_zero_and_unique() -> None:
    rendezvous = Rendezvous(code_ttl_seconds=TTL, max_sessions=2000)
    numbers = {rendezvous.register(object(), 0.0).number for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(len(n) == 6 and n[0] != "0" and n.isdigit() for n in numbers)
    with pytest.raises(Refused) as full:
        rendezvous.register(object(), 0.0)
    assert full.value.code is ErrorCode.SERVER_FULL


def test_join_refusals_name_the_reason() -> None:
    rendezvous = Rendezvous(code_ttl_seconds=TTL, max_sessions=10)
    assert refused_code(rendezvous, "123456", 0.0) is ErrorCode.UNKNOWN_SESSION
    session = rendezvous.register("host", 0.0)
    assert refused_code(rendezvous, session.number, TTL) is ErrorCode.EXPIRED
    rendezvous.find_for_join(session.number, 1.0).pair("viewer", 1, "Alice", 1.0)
    assert refused_code(rendezvous, session.number, 2.0) is ErrorCode.BUSY
    rendezvous.retire(session, 3.0, ErrorCode.VOID, "void")
    assert session.state is SessionState.ENDED
    assert refused_code(rendezvous, session.number, 4.0) is ErrorCode.VOID


def test_failed_attempts_void_after_the_third_and_never_after_consent() -> None:
    rendezvous = Rendezvous(code_ttl_seconds=TTL, max_sessions=10)
    session = rendezvous.register("host", 0.0)
    results = [session.record_failed_attempt() for _ in range(MAX_FAILED_ATTEMPTS)]
    assert results == [False, False, True]
    other = rendezvous.register("host", 0.0)
    other.pair("viewer", 1, "Alice", 0.0)
    other.record_consent(ReportedConsent.VIEW)
    with pytest.raises(ProtocolError, match="failed_attempt"):
        other.record_failed_attempt()
    with pytest.raises(ProtocolError, match="unpair"):
        other.unpair()


class PairingMachine(RuleBasedStateMachine):
    """Random sequences of session events keep the state machine consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.rendezvous = Rendezvous(code_ttl_seconds=TTL, max_sessions=5)
        self.session = self.rendezvous.register("host", 0.0)
        self.now = 0.0

    @rule(seconds=st.floats(0, 100))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def join(self) -> None:
        try:
            found = self.rendezvous.find_for_join(self.session.number, self.now)
        except Refused as refused:
            assert self.session.state is not SessionState.WAITING or self.session.is_expired(
                self.now
            ), refused.code
            return
        assert found is self.session
        found.pair("viewer", 1, "Alice", self.now)

    @rule()
    def failed_attempt(self) -> None:
        try:
            void = self.session.record_failed_attempt()
        except ProtocolError:
            assert self.session.consent is not None or self.session.state is SessionState.ENDED
            return
        if void:
            self.rendezvous.retire(self.session, self.now, ErrorCode.VOID, "void")
        elif self.session.state is SessionState.PAIRED:
            self.session.unpair()

    @rule(level=st.sampled_from(ReportedConsent))
    def consent(self, level: ReportedConsent) -> None:
        try:
            self.session.record_consent(level)
        except ProtocolError:
            assert self.session.state is not SessionState.PAIRED

    @precondition(lambda self: self.session.state is not SessionState.ENDED)
    @rule()
    def viewer_leaves(self) -> None:
        if self.session.viewer_may_retry():
            self.session.unpair()
        elif self.session.state is SessionState.PAIRED:
            self.rendezvous.retire(self.session, self.now, ErrorCode.EXPIRED, "used")

    @invariant()
    def consistent(self) -> None:
        state = self.session.state
        assert (self.session.viewer is not None) == (state is SessionState.PAIRED) or (
            state is SessionState.ENDED
        )
        assert self.session.failed_attempts <= MAX_FAILED_ATTEMPTS
        if state is SessionState.ENDED:
            assert len(self.rendezvous) == 0
        if self.session.consent is not None:
            assert state is not SessionState.WAITING


TestPairingMachine = PairingMachine.TestCase
TestPairingMachine.settings = settings(max_examples=200, deadline=None)


def test_rate_limiter_allows_the_burst_then_backs_off_longer_each_refusal() -> None:
    limiter = RateLimiter(RateLimit(per_minute=60, burst=2))
    assert limiter.allow("ip", 0.0) and limiter.allow("ip", 0.0)
    assert not limiter.allow("ip", 0.0)  # blocked for 1 s
    assert limiter.is_blocked("ip", 0.5)
    assert not limiter.allow("ip", 0.5)  # hammering: now blocked until 2.5 s
    assert not limiter.allow("ip", 2.0)
    assert limiter.allow("ip", 10.0)
    assert limiter.allow("other", 0.0)


@given(st.lists(st.floats(0, 120, allow_nan=False), max_size=200).map(sorted))
@settings(max_examples=100, deadline=None)
def test_rate_limiter_never_allows_more_than_burst_plus_refill(times: list[float]) -> None:
    limiter = RateLimiter(RateLimit(per_minute=30, burst=5))
    allowed = sum(limiter.allow("ip", t) for t in times)
    span = times[-1] - times[0] if times else 0.0
    assert allowed <= 5 + span * 30 / 60 + 1e-9


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(RateLimit(per_minute=60, burst=1), max_keys=100)
    for key in range(1000):
        limiter.allow(key, float(key))
    assert len(limiter._buckets) <= 100
