-- valet state store, version 4: service-desk requests (VAL first), their comments, watchers
-- and attachments; runs and their steps; findings; e-signatures; controlled documents; the
-- notification outbox and webhook endpoints. Portable SQL (SQLite and PostgreSQL).

ALTER TABLE users ADD COLUMN zone TEXT;

ALTER TABLE environments ADD COLUMN request_id TEXT;
ALTER TABLE environments ADD COLUMN deploy_json TEXT;

-- Per-kind counters for human keys (VAL-1, VAL-2, …); bumped in the creating transaction.
CREATE TABLE request_counters (
    kind TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);

CREATE TABLE requests (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    state       TEXT NOT NULL,
    held_from   TEXT,
    title       TEXT NOT NULL,
    -- The kind's fields (VAL: pair, build, dates, SSO, lab, purpose, refresh) as JSON.
    details     TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX requests_customer ON requests (customer_id, state);

CREATE TABLE request_comments (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX request_comments_request ON request_comments (request_id);

CREATE TABLE request_watchers (
    request_id TEXT NOT NULL REFERENCES requests (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, user_id)
);

-- Attachments are kept in the store (base64 text: one portable type), at most a few MB each.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL REFERENCES requests (id),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    content_b64  TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_request ON attachments (request_id);

-- A run: provisioning, teardown or upgrade, as ordered steps a worker executes.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL,
    job_id      TEXT,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX runs_request ON runs (request_id);

CREATE TABLE run_steps (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         BIGINT NOT NULL,
    name        TEXT NOT NULL,
    env         TEXT,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    started_at  BIGINT,
    finished_at BIGINT,
    log         TEXT NOT NULL DEFAULT '',
    artifacts   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE findings (
    id           TEXT PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    request_id   TEXT NOT NULL REFERENCES requests (id),
    customer_id  TEXT NOT NULL,
    title        TEXT NOT NULL,
    severity     TEXT NOT NULL,
    area         TEXT NOT NULL,
    steps        TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    resolution   TEXT,
    closed_by    TEXT,
    closed_at    BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX findings_request ON findings (request_id);

CREATE TABLE finding_comments (
    id          TEXT PRIMARY KEY,
    finding_id  TEXT NOT NULL REFERENCES findings (id),
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE signatures (
    id              TEXT PRIMARY KEY,
    object_type     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    customer_id     TEXT,
    signer_id       TEXT NOT NULL REFERENCES users (id),
    username        TEXT NOT NULL,
    printed_name    TEXT NOT NULL,
    meaning         TEXT NOT NULL,
    signed_at       BIGINT NOT NULL,
    signer_zone     TEXT NOT NULL,
    signed_at_local TEXT NOT NULL,
    record_sha256   TEXT NOT NULL,
    reason          TEXT
);
CREATE INDEX signatures_object ON signatures (object_type, object_id);

-- Controlled documents (IQ reports): immutable once stored.
CREATE TABLE documents (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests (id),
    customer_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    html        TEXT NOT NULL,
    pdf_b64     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX documents_request ON documents (request_id);

-- Notification outbox: one row per recipient and channel, delivered by `notify.deliver` jobs.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    request_id  TEXT,
    customer_id TEXT,
    channel     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    event       TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT
);
CREATE INDEX notifications_request ON notifications (request_id);

-- Outbound webhook endpoints; the secret is write-only (never returned, logged or audited).
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    customer_id TEXT,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
