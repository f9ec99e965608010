//! The target database: its state, creation, completion marks, and dropping it.

use tokio_postgres::Client;

use crate::engine::dq;
use crate::engine::target::{
    mark_comment, TargetDatabase, TargetState, MARK_COMPLETE, MARK_INCOMPLETE,
};
use crate::error::CloneError;

use super::session::{connect, db, pgerr};

/// The target database: its name and a URL of the same server's maintenance database.
pub(super) struct Target {
    pub(super) url: String,
    admin_url: String,
    name: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Target, CloneError> {
        let mut u = url::Url::parse(url).map_err(|e| CloneError::Url(e.to_string()))?;
        let name = crate::engine::database_name(url);
        u.set_path("/postgres");
        Ok(Target {
            url: url.to_string(),
            admin_url: u.to_string(),
            name,
        })
    }

    pub(super) async fn create(
        &self,
        state: &TargetState,
        template_info: &(String, String, String),
    ) -> Result<(), CloneError> {
        let admin = connect(&self.admin_url, "target").await?;
        let q = dq(&self.name);
        if *state != TargetState::Missing && *state != TargetState::Empty {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)"))
                .await
                .map_err(db("drop the previous target"))?;
        }
        if *state != TargetState::Empty {
            let (enc, collate, ctype) = template_info;
            let created = admin
                .batch_execute(&format!(
                    "CREATE DATABASE {q} TEMPLATE template0 ENCODING '{enc}' LC_COLLATE '{}' LC_CTYPE '{}'",
                    collate.replace('\'', "''"),
                    ctype.replace('\'', "''")
                ))
                .await;
            if let Err(e) = created {
                // The database appeared after the target was inspected: a clone killed while
                // creating it leaves the server to finish that `CREATE DATABASE`. Take it as
                // found now if it is empty (nothing of anyone's is in it), else refuse. When
                // both `CREATE DATABASE`s ran at once, the later one fails on the catalog's
                // unique index instead (23505) once the first commits.
                let raced = e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION);
                if !raced || self.state().await? != TargetState::Empty {
                    return Err(db("create the target database")(e));
                }
            }
        }
        self.mark(&admin, MARK_INCOMPLETE).await
    }

    async fn mark(&self, admin: &Client, mark: &str) -> Result<(), CloneError> {
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS '{}'",
                dq(&self.name),
                mark_comment(mark)
            ))
            .await
            .map_err(db("mark the target database"))
    }
}

impl TargetDatabase for Target {
    fn name(&self) -> &str {
        &self.name
    }

    async fn state(&self) -> Result<TargetState, CloneError> {
        let admin = connect(&self.admin_url, "target").await?;
        let row = admin
            .query_opt(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                &[&self.name],
            )
            .await
            .map_err(db("inspect the target server"))?;
        let Some(row) = row else {
            return Ok(TargetState::Missing);
        };
        let comment: Option<String> = row.get(0);
        if let Some(marked) = TargetState::marked(comment.as_deref()) {
            return Ok(marked);
        }
        let c = connect(&self.url, "target").await?;
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'",
                &[],
            )
            .await
            .map_err(db("inspect the target database"))?
            .get(0);
        Ok(if n == 0 {
            TargetState::Empty
        } else {
            TargetState::Occupied
        })
    }

    async fn mark_complete(&self) -> Result<(), CloneError> {
        let admin = connect(&self.admin_url, "target").await?;
        self.mark(&admin, MARK_COMPLETE).await
    }

    async fn drop_db(&self) {
        if let Ok(admin) = connect(&self.admin_url, "target").await {
            if let Err(e) = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    dq(&self.name)
                ))
                .await
            {
                tracing::warn!(
                    "could not drop the failed target {}: {}",
                    self.name,
                    pgerr(&e)
                );
            }
        }
    }
}

/// Drops the database of `url` (forcing other sessions off); `false` if it did not exist.
pub(crate) async fn drop_database(url: &str) -> Result<bool, CloneError> {
    let t = Target::parse(url)?;
    let admin = connect(&t.admin_url, "target").await?;
    let existed = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&t.name])
        .await
        .map_err(db("look the database up"))?
        .is_some();
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            dq(&t.name)
        ))
        .await
        .map_err(db("drop the database"))?;
    Ok(existed)
}
