"""A stateful test of the relay's control protocol: random host and viewer sequences on real
loopback sockets (TLS) against the relay as its own process.

tests/relay/test_rendezvous.py has a state machine of the sans-I/O pairing table; this one
drives the running server: register, join (also into a busy, ended or unknown session),
failed attempts up to void, consent, checkpoints, forwarding both ways, a viewer leaving,
ending or breaking the protocol, the host ending or breaking it. After every step, while
paired, a probe each way must arrive next and byte-exact: nothing stray was sent, forwarding
still works.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import control
from protocol.control import ErrorCode, ReportedConsent
from relay.pairing import MAX_FAILED_ATTEMPTS
from tests.fuzz.mutations import fuzz_settings, run_for_budget
from tests.support.relay import add_technician, start_relay_process, stop_relay_process

WAIT_SECONDS = 10.0
TECHNICIAN = "Fuzz"
NEVER_ISSUED = "0123456"  # the relay's session numbers never start with 0
NO_RATE_LIMITS = (
    "--register-per-ip-per-minute", "0", "--join-per-ip-per-minute", "0",
    "--join-per-token-per-minute", "0",
)  # fmt: skip


@dataclass(frozen=True)
class RelayProcess:
    url: str
    token: str


@pytest.fixture(scope="module")
def relay_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    data_dir: Path = tmp_path_factory.mktemp("relay")
    token = add_technician(data_dir, TECHNICIAN)
    process, url, _ = start_relay_process(data_dir, *NO_RATE_LIMITS)
    try:
        yield RelayProcess(url, token)
    finally:
        stop_relay_process(process)


def insecure_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Client:
    """A bare asyncio websockets client driven step by step from the (synchronous) machine."""

    def __init__(self, runner: asyncio.Runner, websocket: ClientConnection) -> None:
        self._runner = runner
        self._websocket = websocket

    @classmethod
    def open(
        cls, runner: asyncio.Runner, relay: RelayProcess, path: str, token: str | None = None
    ) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else None

        async def opened() -> ClientConnection:
            return await connect(
                relay.url + path,
                ssl=insecure_context(),
                additional_headers=headers,
                compression=None,
                proxy=None,
                open_timeout=WAIT_SECONDS,
            )

        return cls(runner, runner.run(opened()))

    def send(self, data: str | bytes) -> None:
        self._runner.run(self._websocket.send(data))

    def recv(self) -> str | bytes:
        return self._runner.run(asyncio.wait_for(self._websocket.recv(), WAIT_SECONDS))

    def close(self) -> None:
        self._runner.run(self._websocket.close())


def send(client: Client, message: control.Control) -> None:
    client.send(control.encode(message))


def expect(client: Client, kind: type[control.Control]) -> control.Control:
    frame = client.recv()
    assert isinstance(frame, str), f"expected '{kind.TYPE}', got a binary frame"
    message = control.decode(frame)
    assert isinstance(message, kind), f"expected '{kind.TYPE}', got {message}"
    return message


def expect_closed(client: Client) -> None:
    with pytest.raises(ConnectionClosed):
        frame = client.recv()
        raise AssertionError(f"expected the relay to close, got {frame!r}")


def expect_error(client: Client, *codes: ErrorCode) -> None:
    error = expect(client, control.Error)
    assert isinstance(error, control.Error) and error.code in codes, error
    expect_closed(client)


class Phase(enum.Enum):
    WAITING = "waiting"
    PAIRED = "paired"
    ENDED = "ended"


class RelayControlMachine(RuleBasedStateMachine):
    def __init__(self, relay: RelayProcess) -> None:
        super().__init__()
        self.relay = relay
        self.runner = asyncio.Runner()
        self.clients: list[Client] = []
        self._register()

    def _register(self) -> None:
        self.host: Client | None = self._open("/v1/host")
        send(self.host, control.Register(version=1))
        registered = expect(self.host, control.Registered)
        assert isinstance(registered, control.Registered)
        self.session = registered.session
        self.phase = Phase.WAITING
        self.viewer: Client | None = None
        self.consent: ReportedConsent | None = None
        self.failed_attempts = 0
        self.void = False
        self.probes = 0

    def _open(self, path: str, token: str | None = None) -> Client:
        client = Client.open(self.runner, self.relay, path, token)
        self.clients.append(client)
        return client

    def teardown(self) -> None:
        try:
            for client in self.clients:
                client.close()
        finally:
            self.runner.close()

    def _viewer_gone(self, host_hears: type[control.Control]) -> None:
        """The viewer left: before consent the code may be tried again, after it the
        session is over; either way the host hears of it."""
        assert self.host is not None
        expect(self.host, host_hears)
        self.viewer = None
        self.phase = Phase.WAITING if self.consent is None else Phase.ENDED

    # viewers arriving

    @precondition(lambda self: self.phase is not Phase.ENDED)
    @rule()
    def viewer_joins(self) -> None:
        viewer = self._open("/v1/viewer", self.relay.token)
        send(viewer, control.Join(session=self.session, version=1, customer="K-1"))
        if self.phase is Phase.WAITING:
            expect(viewer, control.Joined)
            assert self.host is not None
            joined = expect(self.host, control.PeerJoined)
            assert joined == control.PeerJoined(technician=TECHNICIAN)
            self.viewer, self.phase = viewer, Phase.PAIRED
        else:
            expect_error(viewer, ErrorCode.BUSY)

    @precondition(lambda self: self.phase is Phase.ENDED)
    @rule()
    def ended_code_is_refused_and_the_customer_registers_anew(self) -> None:
        viewer = self._open("/v1/viewer", self.relay.token)
        send(viewer, control.Join(session=self.session, version=1))
        expect_error(viewer, ErrorCode.VOID if self.void else ErrorCode.EXPIRED)
        self._register()

    @rule()
    def viewer_joins_an_unknown_session(self) -> None:
        viewer = self._open("/v1/viewer", self.relay.token)
        send(viewer, control.Join(session=NEVER_ISSUED, version=1))
        expect_error(viewer, ErrorCode.UNKNOWN_SESSION)

    # the host

    @precondition(lambda self: self.phase is not Phase.ENDED and self.consent is None)
    @rule()
    def host_reports_a_failed_attempt(self) -> None:
        assert self.host is not None
        send(self.host, control.FailedAttempt())
        self.failed_attempts += 1
        if self.failed_attempts == MAX_FAILED_ATTEMPTS:
            expect(self.host, control.Void)
            expect_closed(self.host)
            if self.viewer is not None:
                expect_error(self.viewer, ErrorCode.VOID)
            self.host, self.viewer, self.phase, self.void = None, None, Phase.ENDED, True
        elif self.viewer is not None:
            expect_closed(self.viewer)
            self._viewer_gone(control.PeerLeft)

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule(level=st.sampled_from(ReportedConsent))
    def host_reports_consent(self, level: ReportedConsent) -> None:
        assert self.host is not None
        send(self.host, control.Consent(level=level))
        self.consent = level

    @precondition(lambda self: self.phase is Phase.WAITING)
    @rule()
    def host_reports_consent_with_nobody_there(self) -> None:
        assert self.host is not None
        send(self.host, control.Consent(level=ReportedConsent.VIEW))
        expect_error(self.host, ErrorCode.BAD_MESSAGE)
        self.host, self.phase = None, Phase.ENDED

    @precondition(lambda self: self.phase is not Phase.ENDED)
    @rule(garbage=st.sampled_from(('{"type": "register", "version": 1}', "{", "[]", '{"a":1}')))
    def host_breaks_the_protocol(self, garbage: str) -> None:
        assert self.host is not None
        self.host.send(garbage)
        expect_error(self.host, ErrorCode.BAD_MESSAGE)
        if self.viewer is not None:
            left = expect(self.viewer, control.PeerLeft)
            assert isinstance(left, control.PeerLeft) and "protocol" in left.reason
        self.host, self.viewer, self.phase = None, None, Phase.ENDED

    @precondition(lambda self: self.phase is not Phase.ENDED)
    @rule()
    def host_ends(self) -> None:
        assert self.host is not None
        send(self.host, control.End(reason="the customer ended the session"))
        expect_closed(self.host)
        if self.viewer is not None:
            assert expect(self.viewer, control.End) == control.End(
                reason="the customer ended the session"
            )
        self.host, self.viewer, self.phase = None, None, Phase.ENDED

    # the viewer

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule()
    def viewer_leaves(self) -> None:
        assert self.viewer is not None
        self.viewer.close()
        self._viewer_gone(control.PeerLeft)

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule()
    def viewer_ends(self) -> None:
        assert self.viewer is not None
        send(self.viewer, control.End(reason="the technician is done"))
        expect_closed(self.viewer)
        self._viewer_gone(control.End)

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule(message=st.sampled_from((control.FailedAttempt(), control.Register(version=1))))
    def viewer_sends_what_only_a_host_may(self, message: control.Control) -> None:
        assert self.viewer is not None
        send(self.viewer, message)
        expect_error(self.viewer, ErrorCode.BAD_MESSAGE)
        self._viewer_gone(control.PeerLeft)

    # both, while paired

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule(
        from_host=st.booleans(),
        records=st.integers(0, 2**53),
        head=st.binary(min_size=32, max_size=32),
    )
    def checkpoint(self, from_host: bool, records: int, head: bytes) -> None:
        sender = self.host if from_host else self.viewer
        assert sender is not None
        send(sender, control.Checkpoint(records=records, head=head))

    @precondition(lambda self: self.phase is Phase.PAIRED)
    @rule(from_host=st.booleans(), payload=st.binary(max_size=300))
    def binary_is_forwarded(self, from_host: bool, payload: bytes) -> None:
        sender, receiver = (self.host, self.viewer) if from_host else (self.viewer, self.host)
        assert sender is not None and receiver is not None
        sender.send(payload)
        assert receiver.recv() == payload

    @invariant()
    def nothing_stray_arrives_and_forwarding_works(self) -> None:
        if self.phase is not Phase.PAIRED:
            return
        assert self.host is not None and self.viewer is not None
        self.probes += 1
        probe = b"probe %d" % self.probes
        self.host.send(probe)
        assert self.viewer.recv() == probe
        self.viewer.send(probe)
        assert self.host.recv() == probe


def test_random_host_and_viewer_control_sequences(relay_process: RelayProcess) -> None:
    options = settings(fuzz_settings(examples=20), stateful_step_count=12)
    run_for_budget(
        lambda: run_state_machine_as_test(
            lambda: RelayControlMachine(relay_process), settings=options
        )
    )
