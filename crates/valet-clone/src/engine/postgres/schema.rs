//! The target's schema: `pg_dump`/`pg_restore` of the source snapshot's schema, foreign keys the
//! source vouches for created before the data, and valet's own builds of big tables' unique keys.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;

use tokio_postgres::Client;

use crate::engine::dq;
use crate::error::{CloneError, Message};
use crate::plan::Plan;
use crate::transform::Transformer;

use super::copy::WriteTo;
use super::session::{connect, db};
use super::target::Target;
use super::Shared;

async fn run_tool(program: &str, args: &[String], context: &str) -> Result<(), CloneError> {
    tool_output(program, args, context, "").await.map(drop)
}

/// Run a client tool; its standard output, or its first error lines. `options` are added to
/// the server options of its sessions (`PGOPTIONS`, after any the user set).
pub(super) async fn tool_output(
    program: &str,
    args: &[String],
    context: &str,
    options: &str,
) -> Result<Vec<u8>, CloneError> {
    let mut cmd = tokio::process::Command::new(program);
    if !options.is_empty() {
        let user = std::env::var("PGOPTIONS").unwrap_or_default();
        cmd.env("PGOPTIONS", format!("{user} {options}").trim());
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| CloneError::io(format!("{context}: cannot run {program}"), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first: Vec<&str> = err
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        return Err(CloneError::io(
            context.to_string(),
            Message(format!("{program} failed: {}", first.join(" | "))),
        ));
    }
    Ok(out.stdout)
}

/// Foreign keys restored before the data, with the unique keys they reference.
///
/// A foreign key whose source constraint is valid, between two plain tables, on columns copied
/// unchanged on both sides (`keep`), holds in the clone exactly as it held in the source
/// snapshot the rows come from. Created on the empty tables, with the rows then loaded under
/// `session_replication_role = replica` (no row-by-row checks, as `pg_restore
/// --disable-triggers` loads), it costs nothing; validated after the load it costs a scan of
/// every referencing table — on fact tables the largest single step of the post-data section.
/// Setting that parameter needs superuser (or a grant); without it every key is validated after
/// the load.
#[derive(Debug, Default)]
pub(super) struct EarlyKeys {
    /// `(catalog table, oid)` of the archive entries to restore before the data.
    entries: HashSet<(u32, u32)>,
    /// Plan tables referenced by these keys.
    referenced: HashSet<usize>,
    /// `table.constraint` of each foreign key, for the report.
    names: Vec<String>,
}

async fn early_keys(plan: &Plan, src: &Client, dst: &Client) -> Result<EarlyKeys, CloneError> {
    let mut early = EarlyKeys::default();
    if dst
        .batch_execute("SET session_replication_role = replica; RESET session_replication_role")
        .await
        .is_err()
    {
        return Ok(early);
    }
    let rows = src
        .query(
            r"SELECT con.oid::int8, n.nspname::text, c.relname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) k
                           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
                     rn.nspname::text, rc.relname::text,
                     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) k
                           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k),
                     con.conindid::int8,
                     (SELECT k.oid::int8 FROM pg_constraint k WHERE k.conindid = con.conindid
                        AND k.conrelid = con.confrelid AND k.contype IN ('p', 'u') LIMIT 1),
                     con.conname::text
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE con.contype = 'f' AND con.convalidated AND c.relkind = 'r' AND rc.relkind = 'r'
                AND NOT c.relispartition AND NOT rc.relispartition
              ORDER BY con.oid",
            &[],
        )
        .await
        .map_err(db("read the source foreign keys"))?;
    let kept = |ti: usize, cols: &[String]| {
        cols.iter().all(|c| {
            plan.tables[ti]
                .columns
                .iter()
                .any(|pc| pc.info.name == *c && matches!(pc.transformer, Transformer::Keep))
        })
    };
    for r in rows {
        let (Some(ti), Some(rti)) = (
            plan.position(r.get(1), r.get(2)),
            plan.position(r.get(4), r.get(5)),
        ) else {
            continue;
        };
        let (cols, ref_cols): (Vec<String>, Vec<String>) = (r.get(3), r.get(6));
        if cols.is_empty() || !kept(ti, &cols) || !kept(rti, &ref_cols) {
            continue;
        }
        let key = match r.get::<_, Option<i64>>(8) {
            Some(con) => (2606, con as u32),
            None => (1259, r.get::<_, i64>(7) as u32),
        };
        early.entries.insert((2606, r.get::<_, i64>(0) as u32));
        early.entries.insert(key);
        early.referenced.insert(rti);
        early.names.push(format!(
            "{}.{}",
            plan.tables[ti].display,
            r.get::<_, String>(9)
        ));
    }
    early.names.sort();
    Ok(early)
}

/// Primary keys and unique constraints of big tables, built by valet after the data as
/// `CREATE UNIQUE INDEX` then `ADD CONSTRAINT … USING INDEX` (same definitions as the source's).
///
/// `pg_restore` adds them with `ALTER TABLE … ADD CONSTRAINT`, whose lock waits for every other
/// index build on the table, so the key of the biggest table is built last and alone; a unique
/// index builds alongside them. Keys referenced by foreign keys (which wait for them) or
/// carrying comments (restored after them) are left to `pg_restore`, and so are keys whose
/// archive entry says more than the definition: a tablespace, replica identity, statistics
/// targets of index columns.
#[derive(Debug)]
pub(super) struct UniqueKey {
    /// `(catalog table, oid)` of the archive entry it replaces.
    pub(super) entry: (u32, u32),
    /// `CREATE UNIQUE INDEX …`.
    pub(super) index: String,
    /// Statements that make the index the constraint, in order (`ALTER TABLE …`).
    pub(super) attach: Vec<String>,
    pub(super) rows: u64,
}

async fn unique_keys(
    plan: &Plan,
    src: &Client,
    split_rows: u64,
    early: &HashSet<(u32, u32)>,
) -> Result<Vec<UniqueKey>, CloneError> {
    let rows = src
        .query(
            r"SELECT con.oid::int8, n.nspname::text, c.relname::text, con.conname::text,
                     con.contype::text, con.condeferrable, con.condeferred,
                     pg_get_indexdef(con.conindid), i.indisclustered
              FROM pg_constraint con
              JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_index i ON i.indexrelid = con.conindid
              JOIN pg_class ic ON ic.oid = con.conindid
              WHERE con.contype IN ('p', 'u') AND c.relkind = 'r' AND NOT c.relispartition
                AND NOT i.indisreplident AND ic.reltablespace = 0
                AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.conindid AND a.attstattarget > 0)
                AND obj_description(con.oid, 'pg_constraint') IS NULL
                AND obj_description(con.conindid, 'pg_class') IS NULL
                AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = con.conindid)",
            &[],
        )
        .await
        .map_err(db("read the source keys"))?;
    let mut keys = Vec::new();
    for r in rows {
        let entry = (2606, r.get::<_, i64>(0) as u32);
        let (schema, table, name): (String, String, String) = (r.get(1), r.get(2), r.get(3));
        let Some(t) = plan.position(&schema, &table).map(|ti| &plan.tables[ti]) else {
            continue;
        };
        if early.contains(&entry) || t.info.estimated_rows <= split_rows {
            continue;
        }
        let qtable = format!("{}.{}", dq(&schema), dq(&table));
        let mut add = format!(
            "ALTER TABLE ONLY {qtable} ADD CONSTRAINT {0} {1} USING INDEX {0}",
            dq(&name),
            if r.get::<_, String>(4) == "p" {
                "PRIMARY KEY"
            } else {
                "UNIQUE"
            }
        );
        if r.get::<_, bool>(5) {
            add.push_str(" DEFERRABLE");
            if r.get::<_, bool>(6) {
                add.push_str(" INITIALLY DEFERRED");
            }
        }
        let mut attach = vec![add];
        if r.get::<_, bool>(8) {
            attach.push(format!("ALTER TABLE {qtable} CLUSTER ON {}", dq(&name)));
        }
        keys.push(UniqueKey {
            entry,
            index: r.get(7),
            attach,
            rows: t.info.estimated_rows,
        });
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.rows));
    Ok(keys)
}

/// Split a `pg_restore --list` into the entries restored before the data and the rest, both in
/// the archive's order (a key before the foreign keys that reference it).
/// Entries in `skip` are in neither.
fn split_toc(
    list: &str,
    early: &HashSet<(u32, u32)>,
    skip: &HashSet<(u32, u32)>,
) -> (String, String) {
    let (mut first, mut rest) = (String::new(), String::new());
    for line in list.lines() {
        let id = line.split_once("; ").and_then(|(_, r)| {
            let mut it = r.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        });
        let to = match id {
            Some(k) if skip.contains(&k) => continue,
            Some(k) if early.contains(&k) => &mut first,
            _ => &mut rest,
        };
        to.push_str(line);
        to.push('\n');
    }
    (first, rest)
}

/// Server options of the post-data sessions: `--jobs` index builds run at once, each in one
/// process. Parallel index builds on top of them ask for more processors than `--jobs` says
/// the server may give (on 2 cores: post-data 10.0 s without, 10.6 s with).
pub(super) const SERIAL_BUILDS: &str = "max_parallel_maintenance_workers=0";

/// Files removed when dropped (the schema dump and its lists).
pub(super) struct Cleanup(Vec<std::path::PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The target's schema before the data, and what the later phases need of it.
pub(super) struct Schema {
    pub(super) dump: std::path::PathBuf,
    pub(super) _files: Cleanup,
    pub(super) url: String,
    pub(super) dst: Client,
    /// valet's own unique-key builds (see [`unique_keys`]).
    pub(super) keys: Vec<UniqueKey>,
    /// `--use-list` for pg_restore's post-data, when some entries were taken out of it.
    pub(super) rest_list: Option<String>,
    pub(super) write_to: Arc<WriteTo>,
    /// Foreign keys created before the data (for the report).
    pub(super) early_names: Vec<String>,
}

/// Arguments of a `pg_restore` of one section of the schema dump into the target.
pub(super) fn restore_args(
    section: &str,
    jobs: usize,
    url: &str,
    dump: &std::path::Path,
) -> Vec<String> {
    vec![
        format!("--section={section}"),
        "--no-owner".into(),
        "--no-privileges".into(),
        "--exit-on-error".into(),
        format!("--jobs={jobs}"),
        format!("--dbname={url}"),
        dump.display().to_string(),
    ]
}

/// Dump the source schema (in the clone's snapshot) and create its pre-data part in the
/// target, with the foreign keys the source vouches for (see [`early_keys`]).
pub(super) async fn create_schema(
    shared: &Arc<Shared>,
    src0: &Client,
    tgt: &Target,
) -> Result<Schema, CloneError> {
    let dir = std::env::temp_dir();
    let dump = dir.join(format!(
        "valet-clone-{}-{}.dump",
        std::process::id(),
        rand::random::<u32>()
    ));
    let lists = [dump.with_extension("early"), dump.with_extension("rest")];
    let files = Cleanup(vec![dump.clone(), lists[0].clone(), lists[1].clone()]);
    run_tool(
        "pg_dump",
        &[
            "--format=custom".into(),
            "--schema-only".into(),
            format!("--snapshot={}", shared.snapshot),
            format!("--file={}", dump.display()),
            format!("--dbname={}", shared.source),
        ],
        "dump the source schema",
    )
    .await?;
    let restore = |section: &str, jobs: usize| restore_args(section, jobs, &tgt.url, &dump);
    run_tool(
        "pg_restore",
        &restore("pre-data", 1),
        "create the target schema",
    )
    .await?;
    let dst = connect(&tgt.url, "target").await?;
    let early = early_keys(&shared.plan, src0, &dst).await?;
    let keys = unique_keys(&shared.plan, src0, shared.opts.split_rows, &early.entries).await?;
    let mut early_names = Vec::new();
    let mut rest_list = None;
    let mut replica = false;
    if !early.entries.is_empty() || !keys.is_empty() {
        let list = tool_output(
            "pg_restore",
            &["--list".into(), dump.display().to_string()],
            "list the source schema",
            "",
        )
        .await?;
        let own: HashSet<(u32, u32)> = keys.iter().map(|k| k.entry).collect();
        let (first, rest) = split_toc(&String::from_utf8_lossy(&list), &early.entries, &own);
        for (path, text) in lists.iter().zip([&first, &rest]) {
            std::fs::write(path, text)
                .map_err(|e| CloneError::io(format!("write {}", path.display()), e))?;
        }
        if !first.is_empty() {
            let mut args = restore("post-data", 1);
            args.insert(0, format!("--use-list={}", lists[0].display()));
            run_tool(
                "pg_restore",
                &args,
                "create foreign keys (and the keys they reference) before the data",
            )
            .await?;
            replica = true;
            early_names = early.names.clone();
        }
        rest_list = Some(format!("--use-list={}", lists[1].display()));
    }
    let write_to = Arc::new(WriteTo {
        url: tgt.url.clone(),
        replica,
        referenced: if replica {
            early.referenced
        } else {
            HashSet::new()
        },
    });
    Ok(Schema {
        dump,
        _files: files,
        url: tgt.url.clone(),
        dst,
        keys,
        rest_list,
        write_to,
        early_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_list_splits_by_catalog_id_and_keeps_the_order() {
        let list = "\
;
; Archive created at 2026-11-25 17:10:00 UTC
;
215; 1259 16390 TABLE public volunteers postgres
3345; 2606 16452 CONSTRAINT public volunteers volunteers_pkey postgres
3346; 2606 16460 CONSTRAINT public events events_pkey postgres
3350; 1259 16470 INDEX public events_collected_at_idx postgres
3360; 2606 16480 FK CONSTRAINT public events events_volunteer_id_fkey postgres
3361; 2606 16490 FK CONSTRAINT public audit audit_volunteer_id_fkey postgres
";
        let early: HashSet<(u32, u32)> = [(2606, 16452), (2606, 16480), (1259, 16390 + 1)]
            .into_iter()
            .collect();
        let skip: HashSet<(u32, u32)> = [(2606, 16460)].into_iter().collect();
        let (first, rest) = split_toc(list, &early, &skip);
        assert_eq!(
            first,
            "3345; 2606 16452 CONSTRAINT public volunteers volunteers_pkey postgres\n\
             3360; 2606 16480 FK CONSTRAINT public events events_volunteer_id_fkey postgres\n"
        );
        assert_eq!(rest.lines().count(), list.lines().count() - 3);
        assert!(rest.starts_with(";\n; Archive created"));
        assert!(rest.contains("audit_volunteer_id_fkey") && rest.contains("events_collected_at"));
        assert!(
            !rest.contains("events_pkey"),
            "skipped entries are in neither list"
        );
    }
}
