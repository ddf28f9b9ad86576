-- What several relays share beyond the ledger: the tariff, the relays themselves, session
-- numbers, which relay holds a session, rate-limit buckets and browser sign-ins.
-- Wall-clock times that relays compare (heartbeats, expiry, buckets) are seconds since
-- the epoch (DOUBLE PRECISION); times people read stay ISO 8601 text like the ledger's.

-- The operator's tariff (one row; tariff.json of older data dirs is read into it once).
CREATE TABLE tariff (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rate_per_minute TEXT NOT NULL,
    vat_percent TEXT NOT NULL,
    rounding TEXT NOT NULL,
    minimum_charge TEXT NOT NULL,
    changed TEXT NOT NULL
);

-- Each relay: its id, where clients reach it, its certificate pin, and its heartbeat.
CREATE TABLE relays (
    id TEXT PRIMARY KEY,
    public_url TEXT NOT NULL,
    fingerprint TEXT,
    started TEXT NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL
);

-- Which relay holds a session now (relay_id), and every relay that held it, in order.
ALTER TABLE sessions ADD COLUMN relay_id TEXT;
ALTER TABLE sessions ADD COLUMN relays TEXT;

-- Session numbers in use on any relay: a number is free again once released for the
-- tombstone time (a used, void or expired code keeps answering with its reason).
CREATE TABLE session_numbers (
    number TEXT PRIMARY KEY,
    session_id BIGINT REFERENCES sessions (id),
    relay_id TEXT,
    allocated_at DOUBLE PRECISION NOT NULL,
    released_at DOUBLE PRECISION
);

-- Token buckets of rate limits that must hold across relays (joins per address and per
-- technician): the same arithmetic as relay.limits.RateLimiter.
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    strikes INTEGER NOT NULL,
    blocked_until DOUBLE PRECISION NOT NULL
);

-- Browser sign-ins of technicians (valid on every relay): only the token's hash.
CREATE TABLE sign_ins (
    token_hash TEXT PRIMARY KEY,
    technician_id BIGINT NOT NULL REFERENCES technicians (id),
    created TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX sign_ins_by_technician ON sign_ins (technician_id);
CREATE INDEX sessions_by_relay ON sessions (relay_id);
