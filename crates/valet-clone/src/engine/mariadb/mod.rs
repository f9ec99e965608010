//! MariaDB/MySQL → MariaDB/MySQL. Workers read in one consistent snapshot: a global read lock
//! is held only while every worker opens `START TRANSACTION WITH CONSISTENT SNAPSHOT` (the
//! technique of mydumper), then released. Tables are created from `SHOW CREATE TABLE` without
//! their secondary indexes and foreign keys, loaded with multi-row `INSERT`s (foreign-key and
//! unique checks off), and the indexes and keys are added afterwards. Views, routines,
//! triggers and sequences follow. The target database's comment says `valet-clone:
//! incomplete` until the leak scan has passed; on any failure it is dropped.
//!
//! Modules: [`session`] (connections, the snapshot), [`catalog`] (the source's tables and
//! columns), [`parts`] (how tables are split), [`copy`] (the data copy, the hot path),
//! [`refused`] (rows the target refuses), [`target`] (the target database and its state),
//! [`schema`] (schema and post-data objects), [`scan`] (the leak scan of the target).

mod catalog;
mod copy;
mod parts;
mod refused;
mod scan;
mod schema;
mod session;
mod target;

pub(crate) use self::catalog::inspect;
pub(crate) use self::target::drop_database;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::*;

use crate::engine::target::{complete_or_drop, TargetDatabase};
use crate::engine::{bq, leak_result, plan_into_report, table_report, CloneOptions};
use crate::error::CloneError;
use crate::leak::PiiIndex;
use crate::plan::{classify, Plan};
use crate::report::{CloneReport, Phases, TableReport};

use self::catalog::read_catalog;
use self::copy::{run_workers, Mode};
use self::parts::{plan_work, Work};
use self::scan::scan_target;
use self::schema::{read_objects, Objects};
use self::session::{connect, db, db_name, snapshot_workers, Session, TARGET_SESSION};
use self::target::Target;

/// What the workers of one clone share: the plan, the options and the queue of parts.
struct Shared {
    plan: Plan,
    opts: CloneOptions,
    queue: Mutex<VecDeque<Work>>,
}

fn table_reports(plan: &Plan, parts: &[(usize, u64, u64, u64)]) -> Vec<TableReport> {
    plan.tables
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let mut r = table_report(&t.display, t.masker.as_ref().map_or(0, |m| m.masked.len()));
            let mine: Vec<_> = parts.iter().filter(|p| p.0 == ti).collect();
            r.parts = mine.len().max(1);
            r.rows = mine.iter().map(|p| p.1).sum();
            r.bytes = mine.iter().map(|p| p.2).sum();
            r.duration_ms = mine.iter().map(|p| p.3).max().unwrap_or(0);
            r
        })
        .collect()
}

pub(crate) async fn clone(
    opts: &CloneOptions,
    source: &str,
    target: &str,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    let schema = db_name(source);
    let tgt = Target::new(target);
    {
        let a = url::Url::parse(source).ok();
        let b = url::Url::parse(target).ok();
        let key = |u: &Option<url::Url>| {
            u.as_ref().map(|u| {
                (
                    u.host_str().map(|h| h.replace("127.0.0.1", "localhost")),
                    u.port(),
                    u.path().to_string(),
                )
            })
        };
        if key(&a) == key(&b) {
            return Err(CloneError::Unsupported(
                "source and target are the same database".into(),
            ));
        }
    }
    let mut phases = Phases::new();
    phases.start("snapshot");
    opts.progress.phase("snapshot");
    let (mut conns, how) = snapshot_workers(source, opts.jobs.max(1)).await?;
    report.snapshot = how;
    report.jobs = conns.len();
    let cat = read_catalog(&mut conns[0], &schema).await?;
    let plan = classify(&opts.policy, &cat)?;
    plan_into_report(&plan, &mut report);
    let state = tgt.state().await?;
    tgt.refuse(&state, opts.replace)?;
    let jobs = conns.len();
    let work = plan_work(&plan, &mut conns[0], jobs, opts.split_rows).await?;
    let objects = read_objects(&mut conns[0], &schema, &plan).await?;
    let (charset, collation): (String, String) = conns[0]
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (&schema,),
        )
        .await
        .map_err(db("read the source character set"))?
        .unwrap_or(("utf8mb4".into(), "utf8mb4_general_ci".into()));
    let shared = Arc::new(Shared {
        plan,
        opts: opts.clone(),
        queue: Mutex::new(VecDeque::new()),
    });

    phases.start("collect");
    opts.progress.phase("collect source PII");
    let collect_work: Vec<Work> = work
        .iter()
        .filter(|w| shared.plan.tables[w.table].masker.is_some())
        .cloned()
        .collect();
    let collected = run_workers(&shared, conns, collect_work, Mode::Collect).await?;
    let conns = collected.conns;
    let index = Arc::new(collected.collector.into_index(&opts.policy.leak_scan));

    if opts.check {
        phases.start("data + leak scan");
        opts.progress
            .phase("data + leak scan (check: nothing written)");
        let names = Arc::new(shared.plan.column_names.clone());
        let scanned = run_workers(&shared, conns, work, Mode::Scan(index.clone(), names)).await?;
        report.tables = table_reports(&shared.plan, &scanned.parts);
        for c in scanned.conns {
            c.close().await;
        }
        phases.finish();
        report.phases = phases.done;
        leak_result(&index, scanned.tally, &mut report)?;
        return Ok(report);
    }

    tgt.create(&state, &charset, &collation).await?;
    let result = write_target(
        &shared,
        conns,
        &tgt,
        &objects,
        work,
        index,
        &mut phases,
        &mut report,
    )
    .await;
    complete_or_drop(&tgt, result).await?;
    phases.finish();
    report.phases = phases.done;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn write_target(
    shared: &Arc<Shared>,
    conns: Vec<Session>,
    tgt: &Target,
    objects: &Objects,
    work: Vec<Work>,
    index: Arc<PiiIndex>,
    phases: &mut Phases,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    let opts = &shared.opts;
    phases.start("schema");
    opts.progress.phase("schema");
    let mut dst = connect(&tgt.url, "target").await?;
    dst.query_drop(TARGET_SESSION)
        .await
        .map_err(db("set up target session"))?;
    for (name, ddl) in &objects.tables {
        dst.query_drop(&ddl.create)
            .await
            .map_err(db(format!("create table {name}")))?;
    }
    for (name, ddl, _) in &objects.sequences {
        dst.query_drop(ddl)
            .await
            .map_err(db(format!("create sequence {name}")))?;
    }

    phases.start("data");
    opts.progress.phase("data");
    let scan_work = work.clone();
    let out = run_workers(
        shared,
        conns,
        work,
        Mode::Write(tgt.url.clone(), index.clone()),
    )
    .await?;
    for c in out.conns {
        c.close().await;
    }
    report.tables = table_reports(&shared.plan, &out.parts);

    phases.start("post-data");
    opts.progress
        .phase("post-data (indexes, foreign keys, routines, views, triggers)");
    let alters: VecDeque<String> = objects
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
    for _ in 0..opts.jobs.max(1) {
        let alters = alters.clone();
        let url = tgt.url.clone();
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
    for (name, _, next) in &objects.sequences {
        dst.query_drop(format!("SELECT SETVAL({}, {}, 0)", bq(name), next))
            .await
            .map_err(db(format!("set sequence {name}")))?;
    }
    for r in &objects.routines {
        dst.query_drop(r).await.map_err(db("create routine"))?;
    }
    // Views may depend on each other: create in rounds until none is left or none succeeds.
    let mut pending: Vec<&(String, String)> = objects.views.iter().collect();
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
    for tr in &objects.triggers {
        dst.query_drop(tr).await.map_err(db("create trigger"))?;
    }
    dst.close().await;

    phases.start("leak scan");
    opts.progress.phase("leak scan");
    let tally = scan_target(shared, &tgt.url, index.clone(), scan_work).await?;
    leak_result(&index, tally, report)
}
