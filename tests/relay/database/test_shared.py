"""What several relays share, against both backends: each relay is its own database object
on the same data (two connections, as two relay processes would have)."""

from __future__ import annotations

import time

import pytest

from relay.database import DatabaseError
from relay.limits import RateLimit
from tests.relay.database.conftest import Store

STALE = 10.0
TOMBSTONE = 600.0


def test_relays_register_and_beat(store: Store) -> None:
    a, b = store.open(), store.open()
    a.register_relay("a", "wss://a.example:8765", "ab" * 32, now=1000.0)
    b.register_relay("b", "wss://b.example:8765", None, now=1000.0)
    assert b.heartbeat("b", now=1020.0) and not b.heartbeat("nobody", now=1020.0)
    alive = {relay.id: relay.alive for relay in a.relays(now=1025.0, stale_after=STALE)}
    assert alive == {"a": False, "b": True}
    b.retire_relay("b")
    assert not any(relay.alive for relay in a.relays(now=1025.0, stale_after=STALE))


def test_session_numbers_are_unique_across_relays(store: Store) -> None:
    a, b = store.open(), store.open()
    numbers = set()
    for index in range(150):
        relay, relay_id = (a, "a") if index % 2 else (b, "b")
        number, session_id = relay.register_session(
            relay_id, now=1000.0, tombstone_seconds=TOMBSTONE
        )
        assert len(number) == 6 and number not in numbers
        numbers.add(number)
    located = a.locate_session(number, now=1000.0, stale_after=STALE)
    assert located is not None and located.session_id == session_id


def test_a_number_is_free_again_only_after_its_tombstone_time(store: Store) -> None:
    database = store.open()
    number, _session_id = database.register_session("a", now=1000.0, tombstone_seconds=TOMBSTONE)
    with database.backend.transaction() as tx:
        taken = tx.execute(
            "INSERT INTO session_numbers (number, relay_id, allocated_at) VALUES (?, 'b', ?) "
            "ON CONFLICT (number) DO NOTHING",
            (number, 1001.0),
        )
    assert taken == 0
    database.release_session_number(number, now=2000.0)
    from relay.database import shared_tables

    def claim_at(now: float) -> int:
        with database.backend.transaction() as tx:
            return tx.execute(
                "UPDATE session_numbers SET relay_id = 'b' WHERE number = ? AND released_at <= ?",
                (number, now - TOMBSTONE),
            )

    assert claim_at(2000.0 + TOMBSTONE - 1) == 0 and claim_at(2000.0 + TOMBSTONE) == 1
    assert shared_tables.MAX_NUMBER_TRIES > 1


def test_a_viewer_is_sent_to_the_relay_that_holds_the_session(store: Store) -> None:
    a, b = store.open(), store.open()
    now = time.time()
    a.register_relay("a", "wss://a.example:8765", "ab" * 32, now)
    b.register_relay("b", "wss://b.example:8765", None, now)
    number, _session_id = a.register_session("a", now, TOMBSTONE)
    where = b.locate_session(number, now, STALE)
    assert where is not None
    assert (where.relay_id, where.public_url, where.fingerprint) == (
        "a",
        "wss://a.example:8765",
        "ab" * 32,
    )
    assert where.owner_alive and not where.consented
    assert b.locate_session("000000", now, STALE) is None


def test_a_session_is_taken_over_only_from_a_relay_that_is_gone(store: Store) -> None:
    a, b = store.open(), store.open()
    a.register_relay("a", "wss://a", None, now=1000.0)
    b.register_relay("b", "wss://b", None, now=1000.0)
    number, session_id = a.register_session("a", now=1000.0, tombstone_seconds=TOMBSTONE)
    assert a.claim_session(session_id, "a", now=1001.0, stale_after=STALE)  # its own: fine
    assert not b.claim_session(session_id, "b", now=1005.0, stale_after=STALE)  # a is alive
    assert b.heartbeat("b", now=1011.0)
    assert b.claim_session(session_id, "b", now=1011.0, stale_after=STALE)  # a is stale
    assert not a.claim_session(session_id, "a", now=1011.0, stale_after=STALE)  # b holds it
    [row] = b.session_rows()
    assert (row["relay_id"], row["relays"]) == ("b", "a b")
    where = a.locate_session(number, now=1011.0, stale_after=STALE)
    assert where is not None and where.relay_id == "b"
    b.close_session(session_id, "host_ended", 0, 0)
    assert not b.claim_session(session_id, "b", now=1012.0, stale_after=STALE)  # ended


def test_a_relay_cut_off_cannot_end_or_free_a_session_another_relay_took_over(
    store: Store,
) -> None:
    a, b = store.open(), store.open()
    a.register_relay("a", "wss://a", None, now=1000.0)
    b.register_relay("b", "wss://b", None, now=1011.0)
    number, session_id = a.register_session("a", now=1000.0, tombstone_seconds=TOMBSTONE)
    assert b.claim_session(session_id, "b", now=1011.0, stale_after=STALE)
    b.store_verifier(session_id, "host", 1, b"\x01" * 32)
    # a comes back to its senses: its grace period for the session ran out meanwhile
    a.close_session(session_id, "host_left", 1, 2, relay_id="a")
    a.release_session_number(number, now=1012.0, relay_id="a")
    [row] = b.session_rows()
    assert (row["ended"], row["relay_id"]) == (None, "b")
    with b.backend.transaction() as tx:
        assert tx.one("SELECT released_at FROM session_numbers WHERE number = ?", (number,)) == (
            None,
        )
        assert tx.one("SELECT COUNT(*) FROM resume_verifiers") == (1,)  # b's, kept
    b.close_session(session_id, "viewer_ended", 3, 4, relay_id="b")
    b.release_session_number(number, now=1013.0, relay_id="b")
    [row] = b.session_rows()
    assert (row["end_reason"], row["bytes_viewer_to_host"]) == ("viewer_ended", 4)


def test_a_stopped_relay_is_stale_at_once_but_gone_only_from_its_stop(store: Store) -> None:
    database = store.open()
    database.register_relay("a", "wss://a", None, now=1000.0)
    _n, kept = database.register_session("a", now=1000.0, tombstone_seconds=TOMBSTONE)
    database.retire_relay("a", gone_since=1100.0 - STALE - 1.0)
    [record] = database.relays(now=1100.0, stale_after=STALE)
    assert not record.alive  # another relay may take its sessions over at once
    assert database.close_orphaned_sessions("relay_lost", now=1100.0, stale_after=60.0) == []
    assert database.close_orphaned_sessions("relay_lost", now=1200.0, stale_after=60.0) == [kept]


def test_sessions_of_a_relay_gone_for_good_are_closed(store: Store) -> None:
    database = store.open()
    database.register_relay("a", "wss://a", None, now=1000.0)
    database.register_relay("b", "wss://b", None, now=1000.0)
    _n, gone = database.register_session("a", now=1000.0, tombstone_seconds=TOMBSTONE)
    _n, live = database.register_session("b", now=1000.0, tombstone_seconds=TOMBSTONE)
    database.heartbeat("b", now=1100.0)
    assert database.close_orphaned_sessions("relay_lost", now=1100.0, stale_after=60.0) == [gone]
    reasons = {row["id"]: row["end_reason"] for row in database.session_rows()}
    assert reasons == {gone: "relay_lost", live: None}


def test_join_limits_hold_across_relays(store: Store) -> None:
    """A guesser who spreads tries over relays gets the same number of tries as on one."""
    a, b = store.open(), store.open()
    limit = RateLimit(per_minute=6.0, burst=3)
    tries = [
        (a if attempt % 2 else b).take_rate_token("join_ip:203.0.113.9", limit, now=1000.0)
        for attempt in range(6)
    ]
    assert tries == [True, True, True, False, False, False]
    assert a.rate_key_blocked("join_ip:203.0.113.9", now=1000.5)
    assert b.take_rate_token("join_ip:198.51.100.1", limit, now=1000.0)  # another address
    # refilled at 6 per minute, once the back-off (1, 2, 4 s after the refusals) is over
    assert b.take_rate_token("join_ip:203.0.113.9", limit, now=1030.0)
    assert a.forget_rate_buckets(now=5000.0, idle_seconds=600.0) == 2


def test_sign_ins_hold_on_every_relay_until_they_expire_or_the_technician_is_revoked(
    store: Store,
) -> None:
    a, b = store.open(), store.open()
    a.add_technician("Erika")
    [erika] = a.technicians()
    token = a.create_sign_in(erika.id, now=1000.0, ttl_seconds=3600.0)
    signed_in = b.technician_for_sign_in(token, now=1001.0)
    assert signed_in is not None and signed_in.name == "Erika"
    assert b.technician_for_sign_in(token, now=4600.0) is None  # expired
    assert b.technician_for_sign_in(token + "x", now=1001.0) is None
    second = a.create_sign_in(erika.id, now=1000.0, ttl_seconds=3600.0)
    b.end_sign_in(second)
    assert a.technician_for_sign_in(second, now=1001.0) is None
    third = a.create_sign_in(erika.id, now=1000.0, ttl_seconds=3600.0)
    b.revoke_technician("Erika")
    assert a.technician_for_sign_in(third, now=1001.0) is None
    with pytest.raises(DatabaseError, match="active"):
        a.create_sign_in(erika.id, now=1000.0, ttl_seconds=60.0)
    with a.backend.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM sign_ins") == (0,)
