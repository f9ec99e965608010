-- valet state store, version 5: PROD upgrade scheduling. The chosen slot of each upgrade
-- request (with its engineer, the database server it touches, its calendar SEQUENCE and the
-- conflicts a PM overrode), engineers' working hours and exceptions, customers' blackouts and
-- vendor freezes, per-user calendar feeds, and a customer's notice period. Portable SQL.

-- Days of notice this customer must give for an upgrade (NULL: the default, 21).
ALTER TABLE customers ADD COLUMN notice_days BIGINT;

CREATE TABLE schedules (
    request_id   TEXT PRIMARY KEY REFERENCES requests (id),
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    -- 1-based index of the request's slot, 0 for a window the PM chose instead.
    slot_index   BIGINT NOT NULL,
    start_at     BIGINT NOT NULL,
    end_at       BIGINT NOT NULL,
    zone         TEXT NOT NULL,
    engineer_id  TEXT NOT NULL REFERENCES users (id),
    pm_id        TEXT NOT NULL REFERENCES users (id),
    -- `engine://host:port` of the PROD databases (no credentials), for same-server conflicts.
    server_key   TEXT NOT NULL,
    -- RFC 5545 SEQUENCE: 0 when first scheduled, raised on every reschedule and on cancel.
    sequence     BIGINT NOT NULL,
    -- scheduled | cancelled | done
    state        TEXT NOT NULL,
    -- JSON: [{kind, reason}] conflicts the PM overrode.
    overrides    TEXT NOT NULL,
    -- JSON: the downtime estimate when it was booked.
    downtime     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX schedules_engineer ON schedules (engineer_id, start_at);
CREATE INDEX schedules_server ON schedules (server_key, start_at);
CREATE INDEX schedules_customer ON schedules (customer_id, start_at);

-- An engineer's weekly hours in their zone (JSON WorkingHours); none recorded = the default.
CREATE TABLE engineer_hours (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    zone       TEXT NOT NULL,
    hours      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Leave (unavailable) and on-call (available outside hours) periods.
CREATE TABLE engineer_exceptions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    start_at   BIGINT NOT NULL,
    end_at     BIGINT NOT NULL,
    note       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX engineer_exceptions_user ON engineer_exceptions (user_id, start_at);

-- A customer's blackout periods (customer_id set) and vendor-wide freezes (customer_id NULL).
CREATE TABLE blackouts (
    id          TEXT PRIMARY KEY,
    customer_id TEXT REFERENCES customers (id),
    kind        TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX blackouts_customer ON blackouts (customer_id, start_at);

-- Per-user calendar feeds: only the SHA-256 of the URL's secret is kept; revoking ends it.
CREATE TABLE calendar_feeds (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX calendar_feeds_user ON calendar_feeds (user_id);

-- Notifications that must be sent at most once (reminders) carry a key; a second insert with
-- the same key is ignored.
ALTER TABLE notifications ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX notifications_once ON notifications (once_key);
