"""Schema migrations: the same numbered files on SQLite and PostgreSQL, applied once, and
a data dir made by the code before versioned migrations kept whole."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from protocol.billing import Rounding, Tariff
from relay.database import LEDGER_FILE, SchemaTooNew, open_database
from relay.database.migrations import current_version, latest_version, migrate, migrations
from relay.invoice import as_json, build_invoice
from tests.relay.database import legacy_ledger
from tests.relay.database.conftest import Store

REPO = Path(__file__).resolve().parents[3]


def test_a_new_database_gets_every_migration_once(store: Store) -> None:
    database = store.open()
    assert current_version(database.backend) == latest_version() == len(migrations())
    with database.backend.transaction() as tx:
        versions = tx.all("SELECT version, name FROM schema_version ORDER BY version")
    assert versions == [(m.version, m.name) for m in migrations()]
    again = migrate(database.backend)
    assert again.applied == () and again.from_version == again.to_version == latest_version()


def test_relays_starting_together_migrate_once(store: Store) -> None:
    if store.kind == "sqlite":
        store.open()  # (SQLite relays share one file: BEGIN IMMEDIATE serialises them)
    results: list[object] = []

    def open_one() -> None:
        try:
            results.append(store.open(data_dir=store.data_dir / str(threading.get_ident())))
        except Exception as error:  # noqa: BLE001 - reported below
            results.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(not isinstance(result, Exception) for result in results), results
    database = store.open()
    with database.backend.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM schema_version") == (latest_version(),)


def test_a_database_from_a_newer_program_is_refused(store: Store) -> None:
    database = store.open()
    with database.backend.transaction() as tx:
        tx.execute("INSERT INTO schema_version (version, name, applied) VALUES (99, 'x', 'now')")
    with pytest.raises(SchemaTooNew, match="update fernwartung"):
        migrate(database.backend)


@pytest.mark.parametrize("generation", legacy_ledger.GENERATIONS)
def test_a_data_dir_of_the_code_before_migrations_is_kept_whole(
    tmp_path: Path, generation: str
) -> None:
    data_dir = tmp_path / "old"
    made = legacy_ledger.make_data_dir(data_dir, generation)
    before = legacy_ledger.dump(data_dir)
    old_invoice = as_json(build_invoice(data_dir, "2026-10", Tariff()))

    database = open_database(None, data_dir=data_dir)
    try:
        assert current_version(database.backend) == latest_version()
        after = legacy_ledger.dump(data_dir)
        for table, rows in before.items():
            assert [{k: row[k] for k in rows[0]} for row in after[table]] == rows, table
        assert [t.name for t in database.technicians()] == ["Erika", "Max"]
        technician = database.technician_for_token(made.token)
        assert technician is not None and technician.name == "Erika"
        assert database.tariff() == Tariff(Decimal("2.10"), Decimal("7"), Rounding.EXACT_SECONDS)
        [resumable] = database.resumable_sessions()
        assert resumable.number == "300003" and set(resumable.verifiers) == {"host", "viewer"}
        checkpoints = database.checkpoint_rows()
        if generation == "without_file_chain":
            assert {row["file_head"] for row in checkpoints} == {None}
        else:
            assert checkpoints[-1]["file_head"] == "cd" * 32
        assert as_json(build_invoice(database, "2026-10", Tariff())) == old_invoice
        session_id = database.open_session("300004")
        database.record_checkpoint(session_id, "host", 1, b"\x01" * 32, 2, b"\x02" * 32)
        assert database.checkpoint_rows()[-1]["file_records"] == 2
    finally:
        database.close()
    assert json.loads((data_dir / "tariff.json").read_text())["rate_per_minute"] == "2.10"


def test_migrate_command_on_a_data_dir_and_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    data_dir = tmp_path / "old"
    legacy_ledger.make_data_dir(data_dir, "with_file_chain")
    command = [sys.executable, "-m", "fernwartung", "relay", "migrate"]
    first = subprocess.run([*command, "--data-dir", str(data_dir)], capture_output=True,
                           text=True, cwd=REPO, check=True)  # fmt: skip
    assert f"schema version 0 -> {latest_version()}" in first.stdout
    assert "0001_ledger" in first.stdout and "0002_shared" in first.stdout
    second = subprocess.run([*command, "--data-dir", str(data_dir)], capture_output=True,
                            text=True, cwd=REPO, check=True)  # fmt: skip
    assert "nothing to do" in second.stdout
    on_postgres = subprocess.run([*command, "--database", postgres_url], capture_output=True,
                                 text=True, cwd=REPO, check=True)  # fmt: skip
    assert f"schema version 0 -> {latest_version()}" in on_postgres.stdout
    with sqlite3.connect(data_dir / LEDGER_FILE) as db:
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone() == (
            latest_version(),
        )
