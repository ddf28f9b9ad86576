"""The end of a session as both endpoints close it (endpoint/evidence.py tells the order
of the final checkpoints): the END record written off the event loop, then its final
report and the relay's `end` on the link, so the end is anchored in the ledger too.
"""

from __future__ import annotations

import asyncio
import contextlib

from endpoint.evidence import SessionEvidence
from endpoint.relay_link import RelayLink
from protocol import control
from protocol.errors import FernwartungError

# Reasons an endpoint gives the relay in its `end` that the other side's program words for
# its person in their language (the relay passes the reason on untouched).
END_RECORDING_FAILED = "the technician's recording failed"
END_MESSAGE_REFUSED = "a damaged or altered message was refused"


async def close_recording(evidence: SessionEvidence, reason: str) -> control.Checkpoint | None:
    """Write the END record (in a worker thread) and close the file; the final report for
    the relay, None when nothing was recorded. Raises RecordingFailed; the file is closed
    either way, and nothing arriving meanwhile is recorded after the END record."""
    evidence.end_next()
    closing = asyncio.ensure_future(asyncio.to_thread(evidence.close, reason))
    try:
        # Shielded: a session torn down meanwhile (the peer's end arriving, say) must not
        # cut the END record off; the caller's cancellation is raised once it is written.
        return await asyncio.shield(closing)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await closing
        raise
    finally:
        evidence.abandon()


async def tell_relay_the_end(
    link: RelayLink,
    report: control.Checkpoint | None,
    end: control.End | None,
    *,
    timeout_seconds: float,
) -> bool:
    """The final report (if any), then `end` (if any); False when the link is gone."""
    try:
        async with asyncio.timeout(timeout_seconds):
            if report is not None:
                await link.send_control(report)
            if end is not None:
                await link.send_control(end)
    except (FernwartungError, TimeoutError, OSError):
        return False  # the link is gone already: closing it is all that is left
    return True
