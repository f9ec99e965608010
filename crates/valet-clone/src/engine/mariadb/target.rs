//! The target database: its state, creation, completion marks, and dropping it.

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::engine::bq;
use crate::engine::target::{
    mark_comment, TargetDatabase, TargetState, MARK_COMPLETE, MARK_INCOMPLETE,
};
use crate::error::CloneError;

use super::session::{connect, db, url_with_db};

/// The target database: its name and a URL of its server without a database.
pub(super) struct Target {
    pub(super) url: String,
    server_url: String,
    name: String,
}

impl Target {
    pub(super) fn new(url: &str) -> Target {
        Target {
            url: url.to_string(),
            server_url: url_with_db(url, None),
            name: crate::engine::database_name(url),
        }
    }

    pub(super) async fn create(
        &self,
        state: &TargetState,
        charset: &str,
        collation: &str,
    ) -> Result<(), CloneError> {
        let mut c = connect(&self.server_url, "target").await?;
        let q = bq(&self.name);
        if !matches!(state, TargetState::Missing | TargetState::Empty) {
            c.query_drop(format!("DROP DATABASE IF EXISTS {q}"))
                .await
                .map_err(db("drop the previous target"))?;
        }
        if *state != TargetState::Empty {
            c.query_drop(format!(
                "CREATE DATABASE {q} CHARACTER SET {charset} COLLATE {collation}"
            ))
            .await
            .map_err(db("create the target database"))?;
        }
        self.mark(&mut c, MARK_INCOMPLETE).await?;
        c.close().await;
        Ok(())
    }

    async fn mark(&self, c: &mut Conn, mark: &str) -> Result<(), CloneError> {
        c.query_drop(format!(
            "ALTER DATABASE {} COMMENT '{}'",
            bq(&self.name),
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
        let mut c = connect(&self.server_url, "target").await?;
        let r: Option<Option<String>> = c
            .exec_first(
                "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&self.name,),
            )
            .await
            .map_err(db("inspect the target server"))?;
        let state = match r {
            None => TargetState::Missing,
            Some(comment) => match TargetState::marked(comment.as_deref()) {
                Some(marked) => marked,
                None => {
                    let n: Option<i64> = c
                        .exec_first(
                            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                            (&self.name,),
                        )
                        .await
                        .map_err(db("inspect the target database"))?;
                    if n.unwrap_or(0) == 0 {
                        TargetState::Empty
                    } else {
                        TargetState::Occupied
                    }
                }
            },
        };
        c.close().await;
        Ok(state)
    }

    async fn mark_complete(&self) -> Result<(), CloneError> {
        let mut c = connect(&self.server_url, "target").await?;
        self.mark(&mut c, MARK_COMPLETE).await?;
        c.close().await;
        Ok(())
    }

    async fn drop_db(&self) {
        if let Ok(mut c) = connect(&self.server_url, "target").await {
            if let Err(e) = c
                .query_drop(format!("DROP DATABASE IF EXISTS {}", bq(&self.name)))
                .await
            {
                tracing::warn!("could not drop the failed target {}: {e}", self.name);
            }
            c.close().await;
        }
    }
}

/// Drops the database of `url`; `false` if it did not exist.
pub(crate) async fn drop_database(url: &str) -> Result<bool, CloneError> {
    let t = Target::new(url);
    let mut c = connect(&t.server_url, "target").await?;
    let existed: Option<String> = c
        .exec_first(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (t.name.clone(),),
        )
        .await
        .map_err(db("look the database up"))?;
    let r = c
        .query_drop(format!("DROP DATABASE IF EXISTS {}", bq(&t.name)))
        .await
        .map_err(db("drop the database"));
    c.close().await;
    r?;
    Ok(existed.is_some())
}
