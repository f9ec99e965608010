-- Release catalog (PostgreSQL): releases, their notes, and a full-text index of the notes.

CREATE TABLE releases (
    build           TEXT PRIMARY KEY,
    version         TEXT NOT NULL,
    sort_key        TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    released_on     TEXT NOT NULL,
    artifact_ref    TEXT NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    migrations      TEXT NOT NULL,
    source_file     TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    published_at    BIGINT,
    published_by    TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE release_notes (
    id                TEXT PRIMARY KEY,
    build             TEXT NOT NULL REFERENCES releases (build),
    position          BIGINT NOT NULL,
    tracker_key       TEXT NOT NULL,
    category          TEXT NOT NULL,
    area              TEXT NOT NULL,
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    validation_impact TEXT NOT NULL,
    search            tsvector GENERATED ALWAYS AS (
        to_tsvector('english', tracker_key || ' ' || area || ' ' || title || ' ' || body)
    ) STORED,
    UNIQUE (build, tracker_key)
);
CREATE INDEX release_notes_key ON release_notes (tracker_key);
CREATE INDEX release_notes_search ON release_notes USING GIN (search);
