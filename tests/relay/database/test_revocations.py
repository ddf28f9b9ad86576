"""A revocation reaches every relay at once: LISTEN/NOTIFY on PostgreSQL (also from the
`fernwartung technician revoke` command), a callback within one process on SQLite."""

from __future__ import annotations

import queue
import subprocess
import sys
from pathlib import Path

from tests.relay.database.conftest import WAIT_SECONDS, Store, when_available
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[3]


def test_a_revocation_on_one_relay_is_told_to_the_others(store: Store) -> None:
    a, b = store.open(), store.open()
    token = a.add_technician("Erika")
    erika = a.technician_for_token(token)
    assert erika is not None
    heard: queue.Queue[int | None] = queue.Queue()
    subscription = b.subscribe_revocations(heard.put)
    a.revoke_technician("Erika")
    assert heard.get(timeout=WAIT_SECONDS) == erika.id
    subscription.close()
    a.add_technician("Max")
    a.revoke_technician("Max")
    a.add_technician("Other")
    again: queue.Queue[int | None] = queue.Queue()
    b.subscribe_revocations(again.put)
    a.revoke_technician("Other")
    assert again.get(timeout=WAIT_SECONDS) is not None
    assert heard.empty()  # closed: nothing more


def test_the_revoke_command_reaches_a_listening_relay(postgres_url: str, tmp_path: Path) -> None:
    from relay.database import open_database

    relay = open_database(postgres_url, data_dir=tmp_path / "relay")
    try:
        relay.add_technician("Erika")
        heard: queue.Queue[int | None] = queue.Queue()
        relay.subscribe_revocations(heard.put)
        subprocess.run(
            [sys.executable, "-m", "fernwartung", "technician", "revoke", "Erika",
             "--database", postgres_url, "--data-dir", str(tmp_path / "cli")],
            cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        assert heard.get(timeout=WAIT_SECONDS) == relay.technicians()[0].id
    finally:
        relay.close()


def test_the_listener_comes_back_after_an_outage_and_says_it_may_have_missed_some(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    from relay.database import open_database

    a = open_database(postgres_url, data_dir=tmp_path / "a")
    b = open_database(postgres_url, data_dir=tmp_path / "b")
    try:
        a.add_technician("Erika")
        heard: queue.Queue[int | None] = queue.Queue()
        b.subscribe_revocations(heard.put)
        postgres_server.stop()
        postgres_server.start()
        assert heard.get(timeout=WAIT_SECONDS) is None  # check every live technician
        when_available(a.revoke_technician, "Erika")  # (the pool's connections were cut too)
        assert heard.get(timeout=WAIT_SECONDS) == a.technicians()[0].id
    finally:
        a.close()
        b.close()
