"""The same sessions give the same invoice from SQLite and from PostgreSQL, through the
function and through `fernwartung invoice --data-dir` / `--database`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from protocol.billing import Tariff
from relay.database import Database, open_database
from relay.invoice import as_csv, as_json, as_table, build_invoice
from tests.relay.test_invoice import EXPECTED_OCTOBER, KNOWN_SESSIONS

REPO = Path(__file__).resolve().parents[3]


def fill(database: Database) -> None:
    for number, technician, customer, granted, ended, reason in KNOWN_SESSIONS:
        row_id = database.open_session(number)
        with database.backend.transaction() as tx:
            tx.execute(
                "UPDATE sessions SET technician = ?, customer = ?, paired = registered, "
                "consent_granted = ?, ended = ?, end_reason = ? WHERE id = ?",
                (technician, customer, granted, ended, reason, row_id),
            )


def test_the_same_invoice_from_sqlite_and_postgresql(tmp_path: Path, postgres_url: str) -> None:
    data_dir = tmp_path / "sqlite"
    sqlite = open_database(None, data_dir=data_dir)
    postgres = open_database(postgres_url, data_dir=tmp_path / "pg")
    try:
        for database in (sqlite, postgres):
            fill(database)
        for month, technician, customer in (
            ("2026-10", None, None), ("2026-10", "Anna", None), ("2026-10", None, "K-1"),
            ("2026-11", None, None),
        ):  # fmt: skip
            invoices = [
                build_invoice(database, month, Tariff(), technician, customer)
                for database in (sqlite, postgres)
            ]
            for render in (as_json, as_csv, as_table):
                assert render(invoices[0]) == render(invoices[1])
        october = json.loads(as_json(build_invoice(postgres, "2026-10", Tariff())))
        assert {s["session"]: s["gross"] for s in october["sessions"]} == {
            session: amounts[3] for session, amounts in EXPECTED_OCTOBER.items()
        }
    finally:
        sqlite.close()
        postgres.close()
    command = [sys.executable, "-m", "fernwartung", "invoice", "--month", "2026-10",
               "--format", "json"]  # fmt: skip
    outputs = [
        subprocess.run([*command, *where], capture_output=True, text=True, check=True,
                       cwd=REPO).stdout
        for where in (["--data-dir", str(data_dir)], ["--database", postgres_url])
    ]  # fmt: skip
    assert outputs[0] == outputs[1] and json.loads(outputs[0])["totals"]["gross"] == "76.64"
    neither = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert neither.returncode == 2 and "--database" in neither.stderr
