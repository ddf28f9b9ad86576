"""What can happen to a running host agent: its states, and the items of its one inbox.

The agent's main loop (host_agent/agent.py) takes these one at a time, so the session's
state only ever changes in one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from endpoint.relay_link import RelayLink
from protocol import control, messages
from protocol.errors import FernwartungError

EXIT_OK = 0
EXIT_ERROR = 1


class AgentState(enum.Enum):
    CONNECTING = "connecting"
    WAITING = "waiting for a technician"
    HANDSHAKE = "checking the code"
    ASKING = "asking the customer"
    SHARING = "sharing"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame from the relay on `link` (frames of an older link are ignored)."""

    link: RelayLink
    frame: control.Control | bytes


@dataclass(frozen=True, slots=True)
class LinkLost:
    link: RelayLink
    error: FernwartungError


@dataclass(frozen=True, slots=True)
class Injected:
    message: messages.Message
    time: float


@dataclass(frozen=True, slots=True)
class CheckpointDue:
    pass


@dataclass(frozen=True, slots=True)
class HandshakeTimedOut:
    """The code check with a technician did not finish in time (the agent's own clock)."""

    attempt: int  # which handshake: a later one is not timed out by an old item


@dataclass(frozen=True, slots=True)
class CodeExpired:
    """The code shown has outlived its time (the agent's own clock, whatever the relay says)."""

    spoken: str


@dataclass(frozen=True, slots=True)
class CaptureLost:
    """The screen can no longer be read while sharing."""

    detail: str


@dataclass(frozen=True, slots=True)
class RecordingLost:
    detail: str


class Stop(Exception):
    """The session is over; leave the main loop."""


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The relay took this side back on `link` after a drop (host_agent/reconnect.py)."""

    link: RelayLink
    answer: control.Resumed | control.PeerReconnecting


@dataclass(frozen=True, slots=True)
class ReconnectFailed:
    error: FernwartungError
