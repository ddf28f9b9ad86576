"""The technician's own recording of a session (`fernwartung viewer --record DIR`)."""

from __future__ import annotations

from pathlib import Path

from endpoint.evidence import EvidenceSettings, SessionEvidence
from protocol.handshake import Role


def viewer_evidence(directory: Path, relay: str, customer: str = "") -> SessionEvidence:
    """The technician's recording into `directory`.

    The technician's name (as the relay verified it) and the hash of the customer's terms
    (from the host's Hello) are filled in when the session starts; from an older relay
    or host they stay empty rather than guessed.
    """
    return SessionEvidence(Role.VIEWER, EvidenceSettings(directory, relay, customer=customer))


__all__ = ["viewer_evidence"]
