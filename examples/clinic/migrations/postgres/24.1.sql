-- clinic 24.1 (base schema), PostgreSQL. Timestamps are TIMESTAMPTZ (stored UTC).

CREATE TABLE clinic_schema_version (
    "release"  TEXT NOT NULL,
    build      TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE staff (
    id         SERIAL PRIMARY KEY,
    username   VARCHAR(64)  NOT NULL UNIQUE,
    full_name  VARCHAR(200) NOT NULL,
    initials   VARCHAR(8)   NOT NULL UNIQUE,
    role       VARCHAR(32)  NOT NULL CHECK (role IN ('physician', 'nurse', 'lab', 'coordinator')),
    created_at TIMESTAMPTZ  NOT NULL
);

CREATE TABLE studies (
    id         SERIAL PRIMARY KEY,
    code       VARCHAR(32)  NOT NULL UNIQUE,
    title      VARCHAR(300) NOT NULL,
    sponsor    VARCHAR(200) NOT NULL,
    status     VARCHAR(16)  NOT NULL CHECK (status IN ('recruiting', 'active', 'on_hold', 'completed')),
    started_on DATE         NOT NULL
);

CREATE TABLE volunteers (
    id            BIGSERIAL PRIMARY KEY,
    subject_no    VARCHAR(16)  NOT NULL UNIQUE,
    first_name    VARCHAR(100) NOT NULL,
    last_name     VARCHAR(100) NOT NULL,
    initials      VARCHAR(8)   NOT NULL,
    date_of_birth DATE         NOT NULL,
    sex           CHAR(1)      NOT NULL CHECK (sex IN ('F', 'M', 'X')),
    email         VARCHAR(254) NOT NULL UNIQUE,
    address_line  VARCHAR(200),
    postcode      VARCHAR(16),
    city          VARCHAR(100),
    country       CHAR(2)      NOT NULL,
    notes         TEXT,
    created_at    TIMESTAMPTZ  NOT NULL
);

CREATE TABLE enrolments (
    id           BIGSERIAL PRIMARY KEY,
    volunteer_id BIGINT      NOT NULL REFERENCES volunteers (id),
    study_id     INTEGER     NOT NULL REFERENCES studies (id),
    enrolled_at  TIMESTAMPTZ NOT NULL,
    arm          VARCHAR(16) NOT NULL,
    status       VARCHAR(16) NOT NULL CHECK (status IN ('screening', 'enrolled', 'completed', 'withdrawn')),
    UNIQUE (volunteer_id, study_id)
);
CREATE INDEX enrolments_study_idx ON enrolments (study_id);

CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    enrolment_id BIGINT           NOT NULL REFERENCES enrolments (id),
    kind         VARCHAR(16)      NOT NULL CHECK (kind IN ('vitals', 'ecg', 'blood_draw', 'dosing', 'questionnaire', 'adverse_event')),
    collected_at TIMESTAMPTZ      NOT NULL,
    collected_by VARCHAR(8)       NOT NULL,
    value_num    DOUBLE PRECISION,
    value_text   VARCHAR(500)
);
CREATE INDEX events_collected_at_idx ON events (collected_at);

-- Configuration the customer edits (carried over when valet refreshes a VAL environment:
-- see [configuration] in valet-app.toml) and the environment's settings (`clinic configure`).
-- `owner` is a staff username.
CREATE TABLE report_definitions (
    id         SERIAL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL UNIQUE,
    owner      VARCHAR(64)  NOT NULL,
    definition TEXT         NOT NULL,
    updated_at TIMESTAMPTZ  NOT NULL
);

CREATE TABLE dashboard_definitions (
    id         SERIAL PRIMARY KEY,
    name       VARCHAR(200) NOT NULL UNIQUE,
    layout     TEXT         NOT NULL,
    updated_at TIMESTAMPTZ  NOT NULL
);

CREATE TABLE system_settings (
    "key" VARCHAR(64) NOT NULL PRIMARY KEY,
    value TEXT
);
