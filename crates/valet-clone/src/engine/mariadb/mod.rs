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
use crate::engine::{leak_result, plan_into_report, table_reports, CloneOptions};
use crate::error::CloneError;
use crate::leak::PiiIndex;
use crate::plan::{classify, Plan};
use crate::report::{CloneReport, Phases};

use self::catalog::read_catalog;
use self::copy::{run_workers, Mode};
use self::parts::{plan_work, Work};
use self::scan::scan_target;
use self::schema::{read_objects, Objects};
use self::session::{connect, db, snapshot_workers, Session, TARGET_SESSION};
use self::target::Target;

/// What the workers of one clone share: the plan, the options and the queue of parts.
struct Shared {
    plan: Plan,
    opts: CloneOptions,
    queue: Mutex<VecDeque<Work>>,
}

pub(crate) async fn clone(
    opts: &CloneOptions,
    source: &str,
    target: &str,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    let schema = crate::engine::database_name(source);
    let tgt = Target::new(target);
    {
        let a = url::Url::parse(source).ok();
        let b = url::Url::parse(target).ok();
        let key = |u: &Option<url::Url>| {
            u.as_ref().map(|u| {
                (
                    u.host_str().map(|h| h.replace("127.0.0.1", "localhost")),
                    u.port().unwrap_or(3306),
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
    let source = Collected { conns, work, index };
    let result = write_target(&shared, &tgt, &objects, source, &mut phases, &mut report).await;
    complete_or_drop(&tgt, result).await?;
    phases.finish();
    report.phases = phases.done;
    Ok(report)
}

/// The source after the collect phase: its sessions, still in the snapshot, the parts to copy,
/// and the index of its identifying values.
struct Collected {
    conns: Vec<Session>,
    work: Vec<Work>,
    index: Arc<PiiIndex>,
}

/// Write the target: its tables, the data (leak scan in flight), the post-data objects, then
/// the leak scan of what was written.
async fn write_target(
    shared: &Arc<Shared>,
    tgt: &Target,
    objects: &Objects,
    source: Collected,
    phases: &mut Phases,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    let Collected { conns, work, index } = source;
    let opts = &shared.opts;
    phases.start("schema");
    opts.progress.phase("schema");
    let mut dst = connect(&tgt.url, "target").await?;
    dst.query_drop(TARGET_SESSION)
        .await
        .map_err(db("set up target session"))?;
    objects.create_tables(&mut dst).await?;

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
    objects
        .create_post_data(&mut dst, &tgt.url, opts.jobs)
        .await?;
    dst.close().await;

    phases.start("leak scan");
    opts.progress.phase("leak scan");
    let tally = scan_target(shared, &tgt.url, index.clone(), scan_work).await?;
    leak_result(&index, tally, report)
}
