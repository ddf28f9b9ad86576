"""A viewer process for the crash tests: the real ViewerClient, recording with a short
checkpoint interval, until it is killed (SIGKILL: no end record, no final report).

    python tests/support/crashing_viewer.py RELAY_URL FINGERPRINT CODE RECORD_DIR
    (the token in FERNWARTUNG_TOKEN)

It prints `CHECKPOINT` after each checkpoint it sent and `ACT` after each request of the
technician's, so the test can kill it after actions that no checkpoint covers.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from endpoint.evidence import EvidenceSettings, SessionEvidence  # noqa: E402
from protocol import messages  # noqa: E402
from protocol.codes import parse_code  # noqa: E402
from protocol.handshake import Role  # noqa: E402
from viewer.client import ClientSettings, ViewerClient  # noqa: E402

CHECKPOINT_SECONDS = 2.0


class Announce:
    """A MessageTap: says each checkpoint this viewer sent, and types now and then."""

    def sent(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        if isinstance(message, messages.Checkpoint):
            print("CHECKPOINT", flush=True)

    def received(self, message: messages.Message, plaintext: bytes, wall_time: float) -> None:
        pass


async def main() -> None:
    relay, fingerprint, code, record = sys.argv[1:5]
    evidence = SessionEvidence(
        Role.VIEWER,
        EvidenceSettings(Path(record), relay, checkpoint_interval_seconds=CHECKPOINT_SECONDS),
    )
    settings = ClientSettings(relay, parse_code(code), os.environ["FERNWARTUNG_TOKEN"], fingerprint)
    client = ViewerClient(settings, taps=[Announce()], evidence=evidence)

    async def technician_acts(running: ViewerClient) -> None:
        while True:  # what the technician does, recorded by the viewer, until the crash
            await running.send(messages.ControlRequest())
            print("ACT", flush=True)
            await asyncio.sleep(0.2)

    await client.run(companions=[technician_acts])


if __name__ == "__main__":
    asyncio.run(main())
