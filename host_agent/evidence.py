"""The customer's own recording of a session (by default; `--record DIR`, `--no-record`).

`endpoint.evidence.SessionEvidence` does the file and the checkpoints; this adds what only
the host knows: the hash of the terms it showed, and for every input from the technician
whether it was applied or dropped (`InputOutcomes`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from endpoint.evidence import EvidenceSettings, SessionEvidence
from host_agent.inject import Verdict
from protocol.errors import RecordingFailed
from protocol.handshake import Role
from protocol.messages import Message

REASON_CONTROL_WITHDRAWN = "dropped: control withdrawn before injection"
REASON_SESSION_ENDED = "dropped: the session ended"


def default_recording_directory(
    environ: Mapping[str, str] | None = None, platform: str = sys.platform
) -> Path:
    """Where the customer's recordings go unless told otherwise: a folder of their own
    user's data ($XDG_DATA_HOME/fernwartung/recordings, by default
    ~/.local/share/fernwartung/recordings; %LOCALAPPDATA% on Windows; Application
    Support on macOS)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    if platform == "win32" and env.get("LOCALAPPDATA"):
        base = Path(env["LOCALAPPDATA"])
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "fernwartung" / "recordings"


def terms_hash(terms: str) -> bytes:
    """SHA-256 of the exact terms text shown to the customer (UTF-8)."""
    return hashlib.sha256(terms.encode("utf-8")).digest()


def host_evidence(directory: Path, relay: str, terms_sha256: bytes) -> SessionEvidence:
    """The host's recording into `directory`; `terms_sha256` from `terms_hash`."""
    return SessionEvidence(Role.HOST, EvidenceSettings(directory, relay, terms_hash=terms_sha256))


class InputOutcomes:
    """Writes, for each input the viewer sent, whether the input gate applied it.

    The gate decides at once for most drops (`Verdict`); a queued input is applied later
    in the injector thread, or skipped there without a word when control was withdrawn
    in between. The injector works in queue order, so when input N is reported applied,
    every input queued before it and still open was skipped. What is open at the end
    (after the injector has stopped) was never applied.
    """

    def __init__(self, evidence: SessionEvidence) -> None:
        self._evidence = evidence
        self._lock = threading.Lock()
        self._queued: deque[tuple[Message, int]] = deque()
        # Applied by the injector before the event loop announced them (bounded by the
        # gate's queue, since each is announced right after it was queued).
        self._applied_early: list[Message] = []

    def submitted(self, index: int, message: Message, verdict: Verdict) -> None:
        """On the event loop, right after `InputGate.submit` (the injector may already have
        applied it by then: `applied` keeps such an input until it is announced here)."""
        if verdict is not Verdict.QUEUED:
            self._evidence.input_outcome(index, False, verdict.value)
            return
        with self._lock:
            early = next((m for m in self._applied_early if m is message), None)
            if early is None:
                self._queued.append((message, index))
                return
            self._applied_early.remove(early)
            self._settle_before(None)
            self._evidence.input_outcome(index, True, "applied")

    def applied(self, message: Message) -> str | None:
        """In the injector thread after an injection; the failure text if writing failed."""
        try:
            with self._lock:
                if not any(queued is message for queued, _ in self._queued):
                    self._applied_early.append(message)  # not announced yet: see submitted
                    return None
                index = self._settle_before(message)
                self._evidence.input_outcome(index, True, "applied")
        except RecordingFailed as error:
            return str(error)
        return None

    def _settle_before(self, message: Message | None) -> int:
        """Inputs queued before `message` (all, for None) were skipped; `message`'s index."""
        while self._queued:
            queued, index = self._queued.popleft()
            if message is not None and queued is message:
                return index
            self._evidence.input_outcome(index, False, REASON_CONTROL_WITHDRAWN)
        return -1

    def finish(self) -> None:
        """After the injector has stopped: what is still open was not applied."""
        with self._lock:
            open_inputs, self._queued = list(self._queued), deque()
        for _message, index in open_inputs:
            self._evidence.input_outcome(index, False, REASON_SESSION_ENDED)


__all__ = ["InputOutcomes", "default_recording_directory", "host_evidence", "terms_hash"]
