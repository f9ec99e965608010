-- clinic 24.3, MySQL / MariaDB: events record the device used; studies get a phase
-- (backfilled from the title); informed consents are tracked per volunteer and study.

ALTER TABLE events ADD COLUMN device VARCHAR(64) NULL;

ALTER TABLE studies ADD COLUMN phase VARCHAR(8) NULL;
UPDATE studies SET phase = CASE
    WHEN title LIKE '%(Phase IIb)' THEN 'IIb'
    WHEN title LIKE '%(Phase IIa)' THEN 'IIa'
    WHEN title LIKE '%(Phase Ib)' THEN 'Ib'
    WHEN title LIKE '%(Phase I)' THEN 'I'
END;

CREATE TABLE consents (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    volunteer_id BIGINT      NOT NULL,
    study_id     INT         NOT NULL,
    form_version VARCHAR(16) NOT NULL,
    signed_at    DATETIME    NOT NULL,
    witnessed_by VARCHAR(64) NOT NULL,
    withdrawn_at DATETIME,
    KEY consents_volunteer_idx (volunteer_id),
    KEY consents_study_idx (study_id),
    CONSTRAINT consents_volunteer_fk FOREIGN KEY (volunteer_id) REFERENCES volunteers (id),
    CONSTRAINT consents_study_fk FOREIGN KEY (study_id) REFERENCES studies (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
