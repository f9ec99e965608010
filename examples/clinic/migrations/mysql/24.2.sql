-- clinic 24.2, MySQL / MariaDB: volunteers get a phone number; changes to volunteer PII are
-- audited.

ALTER TABLE volunteers ADD COLUMN phone VARCHAR(32) NULL;

CREATE TABLE volunteer_audit (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    volunteer_id BIGINT       NOT NULL,
    changed_at   DATETIME     NOT NULL,
    changed_by   VARCHAR(64)  NOT NULL,
    field        VARCHAR(32)  NOT NULL,
    old_value    VARCHAR(255),
    new_value    VARCHAR(255),
    KEY volunteer_audit_volunteer_idx (volunteer_id),
    CONSTRAINT volunteer_audit_volunteer_fk FOREIGN KEY (volunteer_id) REFERENCES volunteers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
