"""A burst of sessions from one address (issue 20, point 17): many hosts and viewers set
up at once, more than the relay's per-address caps let in at a time, round after round.
Every session must be set up: connections over a cap wait unread for their turn instead
of being closed, and nothing needs the clients' retries. Not timed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relay.limits import MAX_TLS_HANDSHAKES_PER_IP, MAX_UNADMITTED_PER_IP
from tests.relay.conftest import Pair, pair
from tests.support.relay import add_technician, running_relay

ROUNDS = 10
SESSIONS_PER_ROUND = 3 * max(MAX_TLS_HANDSHAKES_PER_IP, MAX_UNADMITTED_PER_IP)
BURST_SECONDS = 120.0


async def test_every_session_of_a_burst_from_one_address_is_set_up(tmp_path: Path) -> None:
    async with running_relay(tmp_path) as relay:  # the default caps
        token = add_technician(tmp_path, "Alice")
        for round_number in range(ROUNDS):
            async with asyncio.timeout(BURST_SECONDS):
                sessions: list[Pair] = await asyncio.gather(
                    *(pair(relay, token) for _ in range(SESSIONS_PER_ROUND))
                )
            assert len(sessions) == SESSIONS_PER_ROUND, round_number
            for session in sessions:
                await session.close()
        counters = relay.relay.gauges()["waiting"]
        assert counters["closed"] == counters["expired"] == 0  # nobody was turned away
        assert counters["waited"] > 0  # the bursts did go over the caps
        assert relay.relay.metrics.joins == ROUNDS * SESSIONS_PER_ROUND
