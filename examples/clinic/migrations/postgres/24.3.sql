-- clinic 24.3, PostgreSQL: events record the device used; studies get a phase (backfilled
-- from the title); informed consents are tracked per volunteer and study.

ALTER TABLE events ADD COLUMN device VARCHAR(64);

ALTER TABLE studies ADD COLUMN phase VARCHAR(8);
UPDATE studies SET phase = CASE
    WHEN title LIKE '%(Phase IIb)' THEN 'IIb'
    WHEN title LIKE '%(Phase IIa)' THEN 'IIa'
    WHEN title LIKE '%(Phase Ib)' THEN 'Ib'
    WHEN title LIKE '%(Phase I)' THEN 'I'
END;

CREATE TABLE consents (
    id           BIGSERIAL PRIMARY KEY,
    volunteer_id BIGINT      NOT NULL REFERENCES volunteers (id),
    study_id     INTEGER     NOT NULL REFERENCES studies (id),
    form_version VARCHAR(16) NOT NULL,
    signed_at    TIMESTAMPTZ NOT NULL,
    witnessed_by VARCHAR(64) NOT NULL,
    withdrawn_at TIMESTAMPTZ
);
CREATE INDEX consents_volunteer_idx ON consents (volunteer_id);
CREATE INDEX consents_study_idx ON consents (study_id);
