"""A data dir as the code before versioned migrations made it (schema and statements
copied from relay/ledger.py of commit 0af4c93), for the migration tests.

Two generations: "with_file_chain" (that code's schema) and "without_file_chain" (a ledger
created before checkpoints had file_records and file_head; that code added them with
ALTER TABLE when it opened such a file, and so do the migrations).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

GENERATIONS = ("with_file_chain", "without_file_chain")

SCHEMA_0AF4C93 = """
CREATE TABLE IF NOT EXISTS technicians (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    technician TEXT,
    customer TEXT,
    registered TEXT NOT NULL,
    paired TEXT,
    consent_granted TEXT,
    ended TEXT,
    end_reason TEXT,
    consent_level TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    bytes_host_to_viewer INTEGER NOT NULL DEFAULT 0,
    bytes_viewer_to_host INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_number ON sessions (session);
CREATE INDEX IF NOT EXISTS sessions_by_registered ON sessions (registered);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    records INTEGER NOT NULL,
    head TEXT NOT NULL,
    relay_time TEXT NOT NULL,
    file_records INTEGER,
    file_head TEXT
);
CREATE INDEX IF NOT EXISTS checkpoints_by_session ON checkpoints (session_id);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    level TEXT NOT NULL,
    technician TEXT NOT NULL,
    rate_per_minute TEXT NOT NULL,
    vat_percent TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    relay_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_session ON consents (session_id);
CREATE TABLE IF NOT EXISTS resume_verifiers (
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    epoch INTEGER NOT NULL,
    verifier TEXT NOT NULL,
    PRIMARY KEY (session_id, side)
);
"""

SCHEMA_WITHOUT_FILE_CHAIN = """
CREATE TABLE IF NOT EXISTS technicians (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    technician TEXT,
    customer TEXT,
    registered TEXT NOT NULL,
    paired TEXT,
    consent_granted TEXT,
    ended TEXT,
    end_reason TEXT,
    consent_level TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    bytes_host_to_viewer INTEGER NOT NULL DEFAULT 0,
    bytes_viewer_to_host INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_number ON sessions (session);
CREATE INDEX IF NOT EXISTS sessions_by_registered ON sessions (registered);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    records INTEGER NOT NULL,
    head TEXT NOT NULL,
    relay_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_by_session ON checkpoints (session_id);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    level TEXT NOT NULL,
    technician TEXT NOT NULL,
    rate_per_minute TEXT NOT NULL,
    vat_percent TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    relay_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_session ON consents (session_id);
CREATE TABLE IF NOT EXISTS resume_verifiers (
    session_id INTEGER NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    epoch INTEGER NOT NULL,
    verifier TEXT NOT NULL,
    PRIMARY KEY (session_id, side)
);
"""


@dataclass(frozen=True)
class Made:
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make_data_dir(data_dir: Path, generation: str) -> Made:
    """A ledger and a tariff.json with technicians, billed, denied, void and open sessions,
    consent receipts, checkpoints and the resume verifiers of one open session."""
    data_dir.mkdir(parents=True)
    db = sqlite3.connect(data_dir / "ledger.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(
        SCHEMA_0AF4C93 if generation == "with_file_chain" else SCHEMA_WITHOUT_FILE_CHAIN
    )
    token = "legacy-token-of-erika"
    db.execute(
        "INSERT INTO technicians (name, token_hash, created) VALUES (?, ?, ?)",
        ("Erika", _hash(token), "2026-09-01T08:00:00.000+00:00"),
    )
    db.execute(
        "INSERT INTO technicians (name, token_hash, created, revoked) VALUES (?, ?, ?, ?)",
        ("Max", _hash("other"), "2026-09-01T08:00:00.000+00:00", "2026-09-20T08:00:00.000+00:00"),
    )
    sessions = [
        # number, technician, customer, registered, consent_granted, ended, reason, level, fails
        (
            "300001",
            "Erika",
            "K-1",
            "2026-10-05T09:59:00.000+00:00",
            "2026-10-05T10:00:00.000+00:00",
            "2026-10-05T10:12:30.000+00:00",
            "host_ended",
            "control",
            1,
        ),
        (
            "300002",
            "Erika",
            None,
            "2026-10-06T08:59:00.000+00:00",
            None,
            "2026-10-06T09:00:00.000+00:00",
            "host_ended",
            "denied",
            0,
        ),
        (
            "300005",
            None,
            None,
            "2026-10-07T08:59:00.000+00:00",
            None,
            "2026-10-07T09:00:00.000+00:00",
            "void",
            None,
            3,
        ),
        (
            "300003",
            "Erika",
            "K-3",
            "2026-10-08T08:59:00.000+00:00",
            "2026-10-08T09:00:00.000+00:00",
            None,
            None,
            "view",
            0,
        ),
    ]
    for number, technician, customer, registered, granted, ended, reason, level, fails in sessions:
        row = db.execute(
            "INSERT INTO sessions (session, technician, customer, registered, paired, "
            "consent_granted, ended, end_reason, consent_level, failed_attempts, "
            "bytes_host_to_viewer, bytes_viewer_to_host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                technician,
                customer,
                registered,
                registered if technician else None,
                granted,
                ended,
                reason,
                level,
                fails,
                123456,
                789,
            ),
        )
        session_id = row.lastrowid
        if level is not None:
            db.execute(
                "INSERT INTO consents (session_id, level, technician, rate_per_minute, "
                "vat_percent, terms_hash, relay_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, level, technician, "2.10", "7", "ab" * 32, granted or ended),
            )
        for side in ("host", "viewer"):
            if generation == "with_file_chain":
                db.execute(
                    "INSERT INTO checkpoints (session_id, side, records, head, relay_time, "
                    "file_records, file_head) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, side, 40, "ef" * 32, registered, 44, "cd" * 32),
                )
            else:
                db.execute(
                    "INSERT INTO checkpoints (session_id, side, records, head, relay_time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (session_id, side, 40, "ef" * 32, registered),
                )
        if ended is None:
            for side, epoch in (("host", 2), ("viewer", 2)):
                db.execute(
                    "INSERT OR REPLACE INTO resume_verifiers (session_id, side, epoch, verifier) "
                    "VALUES (?, ?, ?, ?)",
                    (session_id, side, epoch, (side[0] * 64).replace("h", "a").replace("v", "b")),
                )
    db.close()
    (data_dir / "tariff.json").write_text(
        json.dumps(
            {
                "rate_per_minute": "2.10",
                "vat_percent": "7",
                "rounding": "exact",
                "minimum_charge": "0",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return Made(token)


def dump(data_dir: Path) -> dict[str, list[dict[str, object]]]:
    """Every row of the ledger's tables, as mappings, in id order."""
    db = sqlite3.connect(data_dir / "ledger.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return {
            table: [dict(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ("technicians", "sessions", "consents", "checkpoints", "resume_verifiers")
        }
    finally:
        db.close()
