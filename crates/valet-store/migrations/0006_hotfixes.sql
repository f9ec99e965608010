-- valet state store, version 6: hotfix acceptance. A hotfix's severity (it sets the notice its
-- upgrade needs), and each customer's signed decision on a hotfix for one PROD pair: at most
-- one per (hotfix build, pair), never changed after it is made. Portable SQL.

-- `critical`, `high` or `normal`; NULL for feature releases (and hotfixes imported before 6,
-- which count as normal).
ALTER TABLE releases ADD COLUMN severity TEXT;

CREATE TABLE hotfix_decisions (
    id           TEXT PRIMARY KEY,
    build        TEXT NOT NULL REFERENCES releases (build),
    pair_id      TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    -- accepted | declined
    decision     TEXT NOT NULL,
    -- The customer admin's e-signature (meaning `accepted` or `declined`).
    signature_id TEXT NOT NULL REFERENCES signatures (id),
    reason       TEXT,
    -- The HFX request an acceptance filed (NULL for a decline).
    request_id   TEXT REFERENCES requests (id),
    decided_by   TEXT NOT NULL REFERENCES users (id),
    decided_at   BIGINT NOT NULL,
    UNIQUE (build, pair_id)
);
CREATE INDEX hotfix_decisions_customer ON hotfix_decisions (customer_id, build);
CREATE INDEX hotfix_decisions_request ON hotfix_decisions (request_id);
