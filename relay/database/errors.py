"""The database layer's errors: one for a request that cannot be done, one for a database
that cannot be reached (the relay refuses new sessions, live ones go on)."""

from __future__ import annotations


class DatabaseError(Exception):
    """A database request that cannot be done, in words for the operator."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached right now (a connection refused, lost or timed out).

    The text never holds the connection string, a password or a token."""


class WriteBehindFull(DatabaseUnavailable):
    """The database is unreachable and the write-behind queue holds as many writes as it
    may (`WRITE_BEHIND_MAX_WRITES`): this write was not accepted."""


class SchemaTooNew(DatabaseError):
    """The database was migrated by a newer fernwartung than this one."""
