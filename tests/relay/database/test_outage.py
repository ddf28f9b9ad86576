"""A database that goes away: writes of live sessions wait in order and go in when it is
back, nothing lost; new sessions are refused with a clear error. PostgreSQL is really
stopped (by its PID) and started again."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from protocol.control import Consent, ErrorCode, ReportedConsent
from relay.database import DatabaseUnavailable, WriteBehindFull, now_text, open_database
from relay.database.write_behind import SPILL_FILE, PendingWrite, WriteBehind
from relay.farewell import Close
from relay.ledger import Ledger, LedgerUnavailable
from tests.relay.database.conftest import POLL_SECONDS, WAIT_SECONDS, when_available
from tests.support.postgres import PostgresServer


def until(predicate, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        assert time.monotonic() < deadline, what
        threading.Event().wait(POLL_SECONDS)


# the queue on its own


def test_the_queue_keeps_order_and_says_when_it_is_full() -> None:
    done: list[str] = []
    up = {"value": True}

    def run(write: PendingWrite) -> str:
        if not up["value"]:
            raise DatabaseUnavailable("down")
        done.append(write.args[0])
        return write.args[0]

    full: list[bool] = []
    queue = WriteBehind(run, max_writes=3, reserved_ends=1, on_full=lambda: full.append(True))
    assert queue.submit(PendingWrite("record_checkpoint", "t", ("a",))) == "a"
    up["value"] = False
    for name in ("b", "c", "d"):
        assert queue.submit(PendingWrite("record_checkpoint", "t", (name,))) is None
    with pytest.raises(WriteBehindFull):
        queue.submit(PendingWrite("record_checkpoint", "t", ("e",)))
    with pytest.raises(WriteBehindFull):
        queue.submit(PendingWrite("record_checkpoint", "t", ("f",)))
    assert full == [True] and queue.refused == 2
    queue.submit(PendingWrite("close_session", "t", ("end",)))  # room kept for ends
    with pytest.raises(WriteBehindFull):
        queue.submit(PendingWrite("close_session", "t", ("end2",)))
    up["value"] = True
    assert queue.submit(PendingWrite("record_checkpoint", "t", ("g",))) == "g"
    assert done == ["a", "b", "c", "d", "end", "g"] and len(queue) == 0
    assert queue.written_late == 4


def test_waiting_writes_survive_a_file(tmp_path: Path) -> None:
    queue = WriteBehind(lambda write: (_ for _ in ()).throw(DatabaseUnavailable("down")))
    queue.submit(PendingWrite("record_checkpoint", "2026-12-01T10:00:00.000+00:00",
                              (1, "host", 3, "aa" * 32, None, None)))  # fmt: skip
    assert queue.save(tmp_path / SPILL_FILE) == 1
    assert stat.S_IMODE(os.stat(tmp_path / SPILL_FILE).st_mode) == 0o600
    again = WriteBehind(lambda write: write)
    assert again.load(tmp_path / SPILL_FILE) == 1 and again.flush()


# PostgreSQL really stopped


def test_live_writes_wait_while_postgresql_is_down_and_go_in_when_it_is_back(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    database = open_database(postgres_url, data_dir=tmp_path / "relay")
    try:
        token = database.add_technician("Erika")
        assert database.technician_for_token(token) is not None
        session_id = database.open_session("111111", relay_id="a")
        database.mark_paired(session_id, "Erika", "K-1")
        postgres_server.stop()
        stopped_at = now_text()
        database.record_consent(session_id, Consent(ReportedConsent.CONTROL, "Erika"))
        for records in range(1, 21):
            database.record_checkpoint(session_id, "host", records, bytes([records]) * 32)
        database.close_session(session_id, "host_ended", 1000, 2000)
        assert database.pending_writes == 22 and not database.available
        with pytest.raises(DatabaseUnavailable):
            database.open_session("222222")
        with pytest.raises(DatabaseUnavailable):
            database.session_rows()
        remembered = database.technician_for_token(token)  # a resume during the outage
        assert remembered is not None and remembered.name == "Erika"
        with pytest.raises(DatabaseUnavailable):
            database.technician_for_token("a token never seen")
        restarted_at = now_text()
        postgres_server.start()
        until(database.flush_pending, "the waiting writes went in")
        assert database.available and database.pending_writes == 0
        [row] = database.session_rows()
        assert (row["end_reason"], row["consent_level"], row["bytes_viewer_to_host"]) == (
            "host_ended", "control", 2000,
        )  # fmt: skip
        assert row["consent_granted"] >= stopped_at and row["ended"] >= row["consent_granted"]
        checkpoints = database.checkpoint_rows()
        assert [c["records"] for c in checkpoints] == list(range(1, 21))
        # the times of the events, not of the writes
        times = [c["relay_time"] for c in checkpoints]
        assert stopped_at <= min(times) and max(times) <= row["ended"] <= restarted_at, (
            stopped_at, times, row["ended"], restarted_at,
        )  # fmt: skip
    finally:
        if not postgres_server.running:
            postgres_server.start()
        database.close()


def test_the_servers_ledger_refuses_new_sessions_with_a_clear_error(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    ledger = Ledger.open(postgres_url, tmp_path / "relay")
    try:
        ledger.add_technician("Erika")
        [erika] = ledger.technicians()
        postgres_server.stop()
        with pytest.raises(LedgerUnavailable) as refused:
            ledger.open_session("333333")
        assert isinstance(refused.value, Close) and isinstance(refused.value, DatabaseUnavailable)
        message = refused.value.message
        assert message is not None and message.code is ErrorCode.DATABASE_UNAVAILABLE
        assert "Datenbank" in message.message and "database" in message.message
        assert postgres_server.url("x").split("@")[0] not in str(refused.value.detail)
        assert ledger.revoked_among([erika.id]) == set()  # the sweep goes on
    finally:
        postgres_server.start()
        ledger.close()


def test_writes_still_waiting_at_close_are_saved_and_sent_at_the_next_start(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "relay"
    database = open_database(postgres_url, data_dir=data_dir)
    session_id = database.open_session("444444")
    postgres_server.stop()
    try:
        database.record_checkpoint(session_id, "viewer", 7, b"\x07" * 32)
        database.close_session(session_id, "relay_restarted", 1, 2)
        database.close()
        assert len((data_dir / SPILL_FILE).read_text().splitlines()) == 2
    finally:
        postgres_server.start()
    again = when_available(lambda: open_database(postgres_url, data_dir=data_dir))
    try:
        assert not (data_dir / SPILL_FILE).exists()
        [row] = again.session_rows()
        assert row["end_reason"] == "relay_restarted"
        assert [c["records"] for c in again.checkpoint_rows()] == [7]
    finally:
        again.close()


def test_when_the_queue_is_full_the_relay_is_told_once_and_ends_still_fit(
    postgres_server: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    full: list[bool] = []
    database = open_database(postgres_url, data_dir=tmp_path / "relay")
    database.set_write_behind_full(lambda: full.append(True))
    database._writes.max_writes = 5  # noqa: SLF001 - a small queue for the test
    session_id = database.open_session("555555")
    postgres_server.stop()
    try:
        for records in range(1, 6):
            database.record_checkpoint(session_id, "host", records, b"\x01" * 32)
        with pytest.raises(WriteBehindFull):
            database.record_checkpoint(session_id, "host", 6, b"\x01" * 32)
        database.close_session(session_id, "database_unavailable", 0, 0)
        assert full == [True]
    finally:
        postgres_server.start()
    try:
        until(database.flush_pending, "the waiting writes went in")
        assert [c["records"] for c in database.checkpoint_rows()] == [1, 2, 3, 4, 5]
        assert database.session_rows()[0]["end_reason"] == "database_unavailable"
    finally:
        database.close()
