//! The schema: tables from `SHOW CREATE TABLE` with secondary and foreign keys deferred, and
//! everything else (sequences, routines, views, triggers) read for after the data.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::engine::bq;
use crate::error::{CloneError, Message};
use crate::plan::Plan;

use super::session::{connect, db, TARGET_SESSION};

/// A table's DDL split into what is created before the data and what is added after.
#[derive(Debug, Clone, Default)]
struct TableDdl {
    create: String,
    deferred: Vec<String>,
}

/// Split `SHOW CREATE TABLE` output: secondary keys and foreign keys are added after the load.
fn split_create_table(ddl: &str) -> TableDdl {
    let lines: Vec<&str> = ddl.lines().collect();
    if lines.len() < 3 {
        return TableDdl {
            create: ddl.to_string(),
            deferred: Vec::new(),
        };
    }
    let close = lines
        .iter()
        .position(|l| l.starts_with(')'))
        .unwrap_or(lines.len() - 1);
    let body = &lines[1..close];
    let auto_inc_outside_pk = {
        let auto_col = body
            .iter()
            .find(|l| l.contains(" AUTO_INCREMENT") && l.trim_start().starts_with('`'))
            .and_then(|l| l.trim_start().split('`').nth(1));
        let pk = body
            .iter()
            .find(|l| l.trim_start().starts_with("PRIMARY KEY"));
        match (auto_col, pk) {
            (Some(col), Some(pk)) => !pk.contains(&format!("(`{col}`")),
            (Some(_), None) => true,
            _ => false,
        }
    };
    let mut keep = Vec::new();
    let mut deferred = Vec::new();
    for l in body {
        let def = l.trim().trim_end_matches(',');
        let is_key = ["KEY ", "UNIQUE KEY ", "FULLTEXT KEY ", "SPATIAL KEY "]
            .iter()
            .any(|p| def.starts_with(p));
        let is_fk = def.starts_with("CONSTRAINT ") && def.contains(" FOREIGN KEY ");
        if is_fk || (is_key && !auto_inc_outside_pk) {
            deferred.push(def.to_string());
        } else {
            keep.push(format!("  {def}"));
        }
    }
    TableDdl {
        create: format!(
            "{}\n{}\n{}",
            lines[0],
            keep.join(",\n"),
            lines[close..].join("\n")
        ),
        deferred,
    }
}

fn strip_definer(sql: &str) -> String {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"DEFINER=(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)\s*")
            .expect("valid regex")
    })
    .replace(sql, "")
    .into_owned()
}

/// Everything but the tables, copied after the data.
#[derive(Default)]
pub(super) struct Objects {
    tables: Vec<(String, TableDdl)>,
    sequences: Vec<(String, String, i64)>,
    routines: Vec<String>,
    views: Vec<(String, String)>,
    triggers: Vec<String>,
}

pub(super) async fn read_objects(
    c: &mut Conn,
    schema: &str,
    plan: &Plan,
) -> Result<Objects, CloneError> {
    let mut o = Objects::default();
    for t in &plan.tables {
        let r: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE TABLE {}", bq(&t.info.name)))
            .await
            .map_err(db(format!("read the definition of {}", t.display)))?;
        let (_, ddl) =
            r.ok_or_else(|| CloneError::db("SHOW CREATE TABLE", Message::from("no result")))?;
        o.tables
            .push((t.info.name.clone(), split_create_table(&ddl)));
    }
    let seqs: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE'",
            (schema,),
        )
        .await
        .map_err(db("read the source sequences"))?;
    for s in seqs {
        let r: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE SEQUENCE {}", bq(&s)))
            .await
            .map_err(db(format!("read sequence {s}")))?;
        let next: Option<i64> = c
            .query_first(format!("SELECT next_not_cached_value FROM {}", bq(&s)))
            .await
            .map_err(db(format!("read sequence {s}")))?;
        if let (Some((_, ddl)), Some(n)) = (r, next) {
            o.sequences.push((s, ddl, n));
        }
    }
    let routines: Vec<(String, String)> = c
        .exec(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
            (schema,),
        )
        .await
        .map_err(db("read the source routines"))?;
    for (kind, name) in routines {
        let row: Option<Row> = c
            .query_first(format!("SHOW CREATE {kind} {}", bq(&name)))
            .await
            .map_err(db(format!("read {kind} {name}")))?;
        let sql: Option<String> = row.and_then(|r| {
            r.get_opt::<Option<String>, _>(2)
                .and_then(|x| x.ok())
                .flatten()
        });
        match sql {
            Some(s) => o.routines.push(strip_definer(&s)),
            None => return Err(CloneError::db(
                format!("read {kind} {name}"),
                Message::from(
                    "no definition visible (the source user lacks the privilege to read routines)",
                ),
            )),
        }
    }
    let views: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?",
            (schema,),
        )
        .await
        .map_err(db("read the source views"))?;
    for v in views {
        let r: Option<(String, String, String, String)> = c
            .query_first(format!("SHOW CREATE VIEW {}", bq(&v)))
            .await
            .map_err(db(format!("read view {v}")))?;
        if let Some((_, sql, _, _)) = r {
            o.views.push((v, strip_definer(&sql)));
        }
    }
    let triggers: Vec<String> = c
        .exec(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY ACTION_ORDER",
            (schema,),
        )
        .await
        .map_err(db("read the source triggers"))?;
    for tr in triggers {
        let row: Option<Row> = c
            .query_first(format!("SHOW CREATE TRIGGER {}", bq(&tr)))
            .await
            .map_err(db(format!("read trigger {tr}")))?;
        if let Some(s) = row.and_then(|r| r.get_opt::<String, _>(2).and_then(|x| x.ok())) {
            o.triggers.push(strip_definer(&s));
        }
    }
    Ok(o)
}

impl Objects {
    /// Create the tables without their deferred keys, and the sequences.
    pub(super) async fn create_tables(&self, dst: &mut Conn) -> Result<(), CloneError> {
        for (name, ddl) in &self.tables {
            dst.query_drop(&ddl.create)
                .await
                .map_err(db(format!("create table {name}")))?;
        }
        for (name, ddl, _) in &self.sequences {
            dst.query_drop(ddl)
                .await
                .map_err(db(format!("create sequence {name}")))?;
        }
        Ok(())
    }

    /// After the data: the deferred keys (`jobs` sessions to the target at `url` at once), then
    /// on `dst` the sequences' next values, routines, views and triggers.
    pub(super) async fn create_post_data(
        &self,
        dst: &mut Conn,
        url: &str,
        jobs: usize,
    ) -> Result<(), CloneError> {
        let alters: VecDeque<String> = self
            .tables
            .iter()
            .filter(|(_, d)| !d.deferred.is_empty())
            .map(|(n, d)| {
                format!(
                    "ALTER TABLE {} {}",
                    bq(n),
                    d.deferred
                        .iter()
                        .map(|x| format!("ADD {x}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        let alters = Arc::new(Mutex::new(alters));
        let mut hs = Vec::new();
        for _ in 0..jobs.max(1) {
            let alters = alters.clone();
            let url = url.to_string();
            hs.push(tokio::spawn(async move {
                let mut c = connect(&url, "target").await?;
                c.query_drop(TARGET_SESSION)
                    .await
                    .map_err(db("set up target session"))?;
                loop {
                    let next = alters.lock().expect("lock").pop_front();
                    let Some(a) = next else { break };
                    c.query_drop(&a)
                        .await
                        .map_err(db("add indexes and foreign keys"))?;
                }
                c.close().await;
                Ok::<(), CloneError>(())
            }));
        }
        for h in hs {
            h.await.map_err(|e| CloneError::io("index worker", e))??;
        }
        for (name, _, next) in &self.sequences {
            dst.query_drop(format!("SELECT SETVAL({}, {}, 0)", bq(name), next))
                .await
                .map_err(db(format!("set sequence {name}")))?;
        }
        for r in &self.routines {
            dst.query_drop(r).await.map_err(db("create routine"))?;
        }
        // Views may depend on each other: create in rounds until none is left or none succeeds.
        let mut pending: Vec<&(String, String)> = self.views.iter().collect();
        while !pending.is_empty() {
            let mut failed = Vec::new();
            let mut last_err = None;
            for v in &pending {
                if let Err(e) = dst.query_drop(&v.1).await {
                    last_err = Some((&v.0, e));
                    failed.push(*v);
                }
            }
            match last_err {
                // None succeeded (and so at least one failed).
                Some((n, e)) if failed.len() == pending.len() => {
                    return Err(CloneError::db(format!("create view {n}"), e));
                }
                _ => {}
            }
            pending = failed;
        }
        for tr in &self.triggers {
            dst.query_drop(tr).await.map_err(db("create trigger"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secondary_keys_and_foreign_keys_are_deferred() {
        let ddl = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `v` int(11) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`v`),\n  KEY `fk` (`v`),\n  CONSTRAINT `fk` FOREIGN KEY (`v`) REFERENCES `o` (`id`),\n  CONSTRAINT `c` CHECK (`v` > 0)\n) ENGINE=InnoDB";
        let d = split_create_table(ddl);
        assert_eq!(d.deferred.len(), 3);
        assert!(
            d.create
                .contains("PRIMARY KEY (`id`),\n  CONSTRAINT `c` CHECK (`v` > 0)\n) ENGINE=InnoDB"),
            "{}",
            d.create
        );
    }

    #[test]
    fn definer_is_removed() {
        assert_eq!(
            strip_definer("CREATE DEFINER=`root`@`localhost` TRIGGER x"),
            "CREATE TRIGGER x"
        );
    }
}
