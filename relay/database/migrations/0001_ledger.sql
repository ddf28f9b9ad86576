-- The ledger as fernwartung kept it before versioned migrations (a SQLite file of that
-- time passes through this unchanged: every statement is IF NOT EXISTS, and the columns
-- added to checkpoints later are added by the runner where missing).
-- {row_id} is the dialect's self-numbering integer primary key (relay/database/backends.py).
CREATE TABLE IF NOT EXISTS technicians (
    id {row_id},
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id {row_id},
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
    bytes_host_to_viewer BIGINT NOT NULL DEFAULT 0,
    bytes_viewer_to_host BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_number ON sessions (session);
CREATE INDEX IF NOT EXISTS sessions_by_registered ON sessions (registered);
CREATE TABLE IF NOT EXISTS checkpoints (
    id {row_id},
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    records BIGINT NOT NULL,
    head TEXT NOT NULL,
    relay_time TEXT NOT NULL,
    file_records BIGINT,
    file_head TEXT
);
CREATE INDEX IF NOT EXISTS checkpoints_by_session ON checkpoints (session_id);
CREATE TABLE IF NOT EXISTS consents (
    id {row_id},
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    level TEXT NOT NULL,
    technician TEXT NOT NULL,
    rate_per_minute TEXT NOT NULL,
    vat_percent TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    relay_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consents_by_session ON consents (session_id);
CREATE TABLE IF NOT EXISTS resume_verifiers (
    session_id BIGINT NOT NULL REFERENCES sessions (id),
    side TEXT NOT NULL CHECK (side IN ('host', 'viewer')),
    epoch INTEGER NOT NULL,
    verifier TEXT NOT NULL,
    PRIMARY KEY (session_id, side)
);
