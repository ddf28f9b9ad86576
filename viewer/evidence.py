"""The technician's own recording of a session (`fernwartung viewer --record DIR`)."""

from __future__ import annotations

from pathlib import Path

from endpoint.evidence import EvidenceSettings, SessionEvidence
from protocol.handshake import Role


def viewer_evidence(directory: Path, relay: str, customer: str = "") -> SessionEvidence:
    """The technician's recording into `directory`.

    The viewer is not shown the customer's terms (their hash is in the host's copy, bound
    to the same traffic), and the relay does not tell it its own verified name: those
    header fields stay empty rather than guessed.
    """
    return SessionEvidence(Role.VIEWER, EvidenceSettings(directory, relay, customer=customer))


__all__ = ["viewer_evidence"]
