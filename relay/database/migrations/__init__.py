"""Versioned schema migrations, the same files for SQLite and PostgreSQL.

The migrations are the numbered SQL files beside this module (`0001_ledger.sql`, ...),
shipped in the package; `{row_id}` in them is the dialect's self-numbering primary key.
Each is applied in one transaction together with its row in `schema_version`
(version, name, applied), so a migration is either wholly there or not at all. On
PostgreSQL an advisory lock makes relays that start together migrate one after the other;
on SQLite `BEGIN IMMEDIATE` does.

A SQLite ledger of the code before versioned migrations has no `schema_version` table:
it is version 0 with its tables already there. Migration 1 creates nothing it already has
(IF NOT EXISTS) and the runner adds the checkpoint columns of the file chain where such a
file is older still, so every row is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from relay.database.backends import Backend, Transaction
from relay.database.errors import SchemaTooNew

_HERE = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
# Any 64-bit number will do: it only has to be the same on every relay.
POSTGRES_MIGRATION_LOCK = 0x6665726E77617274  # "fernwart"

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied TEXT NOT NULL
)
"""

# Columns a ledger file may lack when it was created before they were added.
_LEGACY_COLUMNS = {"checkpoints": (("file_records", "INTEGER"), ("file_head", "TEXT"))}


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, row_id: str) -> list[str]:
        lines = [
            line
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if not line.lstrip().startswith("--")
        ]
        text = "\n".join(lines).replace("{row_id}", row_id)
        return [statement.strip() for statement in text.split(";") if statement.strip()]


@dataclass(frozen=True, slots=True)
class MigrationReport:
    from_version: int
    to_version: int
    applied: tuple[str, ...]  # "0002_shared", ...


def migrations() -> list[Migration]:
    """Every migration shipped, in order (numbers 1, 2, 3 ... without gaps)."""
    found = []
    for path in sorted(_HERE.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise RuntimeError(f"a migration file is named NNNN_name.sql, not {path.name}")
        found.append(Migration(int(match[1]), match[2], path))
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migration numbers must run 1, 2, 3 ... without gaps")
    return found


def latest_version() -> int:
    return len(migrations())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _table_exists(tx: Transaction, backend: Backend, table: str) -> bool:
    if backend.dialect.name == "sqlite":
        row = tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    else:
        row = tx.one(
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?",
            (table,),
        )
    return row is not None


def current_version(backend: Backend) -> int:
    """The schema version of the database (0: empty, or a ledger from before migrations)."""
    with backend.transaction() as tx:
        if not _table_exists(tx, backend, "schema_version"):
            return 0
        row = tx.one("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def _add_legacy_columns(tx: Transaction, backend: Backend) -> None:
    if backend.dialect.name != "sqlite":
        return
    for table, columns in _LEGACY_COLUMNS.items():
        present = {row[1] for row in tx.all(f"PRAGMA table_info({table})")}
        for column, kind in columns:
            if column not in present:
                tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def migrate(backend: Backend) -> MigrationReport:
    """Apply every migration the database lacks; safe to run again and from many relays."""
    known = migrations()
    applied: list[str] = []
    start = None
    for migration in known:
        with backend.transaction() as tx:
            if backend.dialect.name == "postgresql":
                tx.one("SELECT pg_advisory_xact_lock(?)", (POSTGRES_MIGRATION_LOCK,))
            tx.execute(_VERSION_TABLE)
            row = tx.one("SELECT MAX(version) FROM schema_version")
            version = int(row[0]) if row and row[0] is not None else 0
            if start is None:
                start = version
            if version > len(known):
                raise SchemaTooNew(
                    f"the database is at schema version {version}, newer than this program's "
                    f"{len(known)}: update fernwartung on this machine"
                )
            if version >= migration.version:
                continue
            for statement in migration.statements(backend.dialect.row_id):
                tx.execute(statement)
            if migration.version == 1:
                _add_legacy_columns(tx, backend)
            tx.execute(
                "INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
                (migration.version, migration.name, _now()),
            )
            applied.append(f"{migration.version:04d}_{migration.name}")
    return MigrationReport(start or 0, current_version(backend), tuple(applied))
