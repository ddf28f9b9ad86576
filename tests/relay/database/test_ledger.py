"""The ledger through the database interface, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from protocol.control import Consent, ReportedConsent
from relay.database import DatabaseError
from relay.database import ledger_tables as ledger
from relay.database.write_behind import PendingWrite
from tests.relay.database.conftest import Store


def test_technicians_tokens_and_revocation(store: Store) -> None:
    database = store.open()
    token = database.add_technician("Erika Muster")
    database.add_technician("Max")
    with pytest.raises(DatabaseError, match="already exists"):
        database.add_technician("Max")
    with pytest.raises(DatabaseError, match="printable"):
        database.add_technician("bad\nname")
    erika = database.technician_for_token(token)
    assert erika is not None and erika.name == "Erika Muster"
    assert database.technician_for_token(token + "x") is None
    assert database.revoke_technician("Erika Muster") == erika.id
    database.revoke_technician("Erika Muster")  # again: fine
    with pytest.raises(DatabaseError, match="no technician"):
        database.revoke_technician("Nobody")
    assert database.technician_for_token(token) is None
    assert database.revoked_among([erika.id, erika.id + 1]) == {erika.id}
    assert [t.revoked is not None for t in database.technicians()] == [True, False]


def test_a_session_from_registration_to_its_end(store: Store) -> None:
    database = store.open()
    session_id = database.open_session("482139")
    database.mark_paired(session_id, "Erika", "K-7")
    assert database.record_failed_attempt(session_id) == 1
    assert database.record_failed_attempt(session_id, count=2) == 2
    assert database.record_failed_attempt(session_id, count=2) == 2
    receipt = Consent(ReportedConsent.VIEW, "Erika", "1.40", "19", "ab" * 32)
    database.record_consent(session_id, receipt)
    database.record_checkpoint(session_id, "host", 10, b"\x01" * 32, 12, b"\x02" * 32)
    database.record_checkpoint(session_id, "viewer", 9, b"\x03" * 32)
    database.store_verifier(session_id, "host", 0, b"\x04" * 32)
    database.store_verifier(session_id, "host", 1, b"\x05" * 32)
    database.store_verifier(session_id, "viewer", 1, b"\x06" * 32)
    [resumable] = database.resumable_sessions()
    assert resumable.verifiers == {"host": (1, b"\x05" * 32), "viewer": (1, b"\x06" * 32)}
    assert database.resumable_session(session_id) == resumable
    database.forget_verifier(session_id, "viewer")
    assert database.resumable_sessions() == []
    database.close_session(session_id, "host_ended", 1000, 20)
    database.close_session(session_id, "viewer_left", 1, 2)  # the first end stands
    [row] = database.session_rows()
    assert (row["session"], row["technician"], row["customer"]) == ("482139", "Erika", "K-7")
    assert (row["end_reason"], row["bytes_host_to_viewer"], row["failed_attempts"]) == (
        "host_ended", 1000, 2,
    )  # fmt: skip
    assert row["consent_granted"] is not None and row["consent_level"] == "view"
    [consent] = database.consent_rows()
    assert (consent["level"], consent["terms_hash"]) == ("view", "ab" * 32)
    host, viewer = database.checkpoint_rows()
    assert (host["file_records"], host["file_head"]) == (12, "02" * 32)
    assert (viewer["file_records"], viewer["file_head"]) == (None, None)
    stored = database.checkpoints_for("482139", "9999")
    assert [(c.side, c.head) for c in stored] == [("host", "01" * 32), ("viewer", "03" * 32)]
    with database.backend.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM resume_verifiers") == (0,)


def test_open_rows_are_closed_per_relay(store: Store) -> None:
    database = store.open()
    mine = database.open_session("100001", relay_id="a")
    kept = database.open_session("100002", relay_id="a")
    theirs = database.open_session("100003", relay_id="b")
    legacy = database.open_session("100004")
    assert database.close_open_sessions("relay_restarted", keep=[kept], relay_id="a") == 2
    ended = {row["id"]: row["end_reason"] for row in database.session_rows()}
    assert ended == {mine: "relay_restarted", kept: None, theirs: None, legacy: "relay_restarted"}
    assert database.close_open_sessions("shutting_down") == 2  # one relay alone: every row


def test_every_write_that_may_wait_is_safe_to_run_twice(store: Store) -> None:
    """A write whose connection broke after the database applied it is run again."""
    database = store.open()
    at = "2026-12-01T10:00:00.000+00:00"

    def writes(session_id: int) -> list[PendingWrite]:
        return [
            PendingWrite("mark_paired", at, (session_id, "Erika", "")),
            PendingWrite("record_failed_attempt", at, (session_id, 1)),
            PendingWrite("record_consent", at, (session_id, "view", "Erika", "1.40", "19", "")),
            PendingWrite("record_bytes_at_consent", at, (session_id, 120, 45)),
            PendingWrite("record_checkpoint", at, (session_id, "host", 3, "aa" * 32, None, None)),
            PendingWrite("store_verifier", at, (session_id, "host", 0, "bb" * 32)),
            PendingWrite("save_bytes", at, (session_id, 5, 6)),
            PendingWrite("forget_verifier", at, (session_id, "host")),
            PendingWrite("close_session", at, (session_id, "host_ended", 7, 8)),
        ]

    once, twice = database.open_session("100001"), database.open_session("100002")
    assert set(ledger.WRITES) == {write.name for write in writes(once)}
    for session_id, times in ((once, 1), (twice, 2)):
        for write in writes(session_id):
            for _ in range(times):
                with database.backend.transaction() as tx:
                    ledger.WRITES[write.name](tx, write.at, *write.args)

    def rows_of(session_id: int) -> list[list[dict[str, object]]]:
        ignore = {"id", "session_id", "session", "registered"}
        found = [database.session_rows(), database.consent_rows(), database.checkpoint_rows()]
        return [
            [{k: v for k, v in row.items() if k not in ignore} for row in rows
             if row.get("session_id", row["id"]) == session_id]
            for rows in found
        ]  # fmt: skip

    assert rows_of(once) == rows_of(twice)
    assert [len(rows) for rows in rows_of(twice)] == [1, 1, 1]
