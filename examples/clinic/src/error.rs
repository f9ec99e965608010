//! The errors a caller of the clinic library can act on.

/// Domain errors of the clinic app. Public functions return `anyhow::Result`; these values
/// are inside and can be recovered with `err.downcast_ref::<clinic::Error>()`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "unsupported database URL `{url}`: use sqlite://PATH, postgres://…, postgresql://…, \
         mysql://… or mariadb://…"
    )]
    UnsupportedUrl { url: String },

    #[error("unknown release `{given}`; known releases: {known}")]
    UnknownRelease { given: String, known: String },

    #[error(
        "database is at release {current} and {requested} is older; clinic migrations only go \
         forward — to go back, restore the backup taken before the upgrade"
    )]
    Downgrade { current: String, requested: String },

    #[error(
        "database is not empty (tables: {tables}); `clinic gen` fills an empty database only — \
         create a new database or drop these tables first"
    )]
    NotEmpty { tables: String },

    #[error(
        "database has tables ({tables}) but no clinic_schema_version table, so it is not a \
         clinic database; point --db at an empty database or at an existing clinic database"
    )]
    NotClinic { tables: String },

    #[error(
        "database schema is at release {db} but the server was asked to run release {wanted}; \
         run `clinic migrate --db URL --to {wanted}` first (valet does this during an upgrade)"
    )]
    ReleaseMismatch { db: String, wanted: String },

    #[error(
        "database has no clinic schema; run `clinic migrate --db URL --to {wanted}` or \
         `clinic gen --db URL --release {wanted}` first"
    )]
    NoSchema { wanted: String },

    #[error("{events} events were requested without any volunteer; use --volunteers 1 or more")]
    EventsWithoutVolunteers { events: u64 },
}
