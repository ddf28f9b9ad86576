"""The relay's database layer: one interface (`Database`) over SQLite and PostgreSQL,
versioned migrations, the write-behind queue for outages, and revocation notices.

Modules: backends (the two drivers, one SQL dialect), migrations (numbered SQL files),
ledger_tables and shared_tables (the statements), write_behind, revocations, records,
database (the interface), upkeep (registration, heartbeat, waiting writes of a running
relay), migrate_cli (`fernwartung relay migrate`).
"""

from relay.database.backends import Conflict, is_postgres_url
from relay.database.database import (
    DATABASE_ENV,
    LEDGER_FILE,
    Database,
    configured_database,
    open_database,
)
from relay.database.errors import (
    DatabaseError,
    DatabaseUnavailable,
    SchemaTooNew,
    WriteBehindFull,
)
from relay.database.records import (
    RelayRecord,
    ResumableSession,
    SessionLocation,
    StoredCheckpoint,
    Technician,
    hash_token,
    now_text,
)

__all__ = [
    "DATABASE_ENV",
    "configured_database",
    "LEDGER_FILE",
    "Conflict",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "RelayRecord",
    "ResumableSession",
    "SchemaTooNew",
    "SessionLocation",
    "StoredCheckpoint",
    "Technician",
    "WriteBehindFull",
    "hash_token",
    "is_postgres_url",
    "now_text",
    "open_database",
]
