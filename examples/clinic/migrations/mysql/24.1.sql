-- clinic 24.1 (base schema), MySQL / MariaDB. Timestamps are DATETIME holding UTC.
-- MySQL commits each DDL statement on its own; a failed step must be repaired by hand.

CREATE TABLE clinic_schema_version (
    `release`  TEXT NOT NULL,
    build      TEXT NOT NULL,
    applied_at TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE staff (
    id         INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username   VARCHAR(64)  NOT NULL UNIQUE,
    full_name  VARCHAR(200) NOT NULL,
    initials   VARCHAR(8)   NOT NULL UNIQUE,
    role       VARCHAR(32)  NOT NULL CHECK (role IN ('physician', 'nurse', 'lab', 'coordinator')),
    created_at DATETIME     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE studies (
    id         INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code       VARCHAR(32)  NOT NULL UNIQUE,
    title      VARCHAR(300) NOT NULL,
    sponsor    VARCHAR(200) NOT NULL,
    status     VARCHAR(16)  NOT NULL CHECK (status IN ('recruiting', 'active', 'on_hold', 'completed')),
    started_on DATE         NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE volunteers (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    created_at    DATETIME     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE enrolments (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    volunteer_id BIGINT      NOT NULL,
    study_id     INT         NOT NULL,
    enrolled_at  DATETIME    NOT NULL,
    arm          VARCHAR(16) NOT NULL,
    status       VARCHAR(16) NOT NULL CHECK (status IN ('screening', 'enrolled', 'completed', 'withdrawn')),
    UNIQUE KEY enrolments_volunteer_study (volunteer_id, study_id),
    KEY enrolments_study_idx (study_id),
    CONSTRAINT enrolments_volunteer_fk FOREIGN KEY (volunteer_id) REFERENCES volunteers (id),
    CONSTRAINT enrolments_study_fk FOREIGN KEY (study_id) REFERENCES studies (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE events (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    enrolment_id BIGINT      NOT NULL,
    kind         VARCHAR(16) NOT NULL CHECK (kind IN ('vitals', 'ecg', 'blood_draw', 'dosing', 'questionnaire', 'adverse_event')),
    collected_at DATETIME    NOT NULL,
    collected_by VARCHAR(8)  NOT NULL,
    value_num    DOUBLE,
    value_text   VARCHAR(500),
    KEY events_collected_at_idx (collected_at),
    CONSTRAINT events_enrolment_fk FOREIGN KEY (enrolment_id) REFERENCES enrolments (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Configuration the customer edits (carried over when valet refreshes a VAL environment:
-- see [configuration] in valet-app.toml) and the environment's settings (`clinic configure`).
-- `owner` is a staff username.
CREATE TABLE report_definitions (
    id         INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(200) NOT NULL UNIQUE,
    owner      VARCHAR(64)  NOT NULL,
    definition TEXT         NOT NULL,
    updated_at DATETIME     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE dashboard_definitions (
    id         INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(200) NOT NULL UNIQUE,
    layout     TEXT         NOT NULL,
    updated_at DATETIME     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE system_settings (
    `key` VARCHAR(64) NOT NULL PRIMARY KEY,
    value TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
