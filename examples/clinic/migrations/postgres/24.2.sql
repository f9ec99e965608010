-- clinic 24.2, PostgreSQL: volunteers get a phone number; changes to volunteer PII are audited.

ALTER TABLE volunteers ADD COLUMN phone VARCHAR(32);

CREATE TABLE volunteer_audit (
    id           BIGSERIAL PRIMARY KEY,
    volunteer_id BIGINT       NOT NULL REFERENCES volunteers (id),
    changed_at   TIMESTAMPTZ  NOT NULL,
    changed_by   VARCHAR(64)  NOT NULL,
    field        VARCHAR(32)  NOT NULL,
    old_value    VARCHAR(255),
    new_value    VARCHAR(255)
);
CREATE INDEX volunteer_audit_volunteer_idx ON volunteer_audit (volunteer_id);
