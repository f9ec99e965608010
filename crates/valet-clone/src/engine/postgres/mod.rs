//! PostgreSQL → PostgreSQL. One `REPEATABLE READ READ ONLY` transaction exports a snapshot
//! that every worker (and `pg_dump` for the schema) imports, so all tables come from one
//! instant. Rows travel as binary `COPY`: kept fields are forwarded as raw bytes, masked
//! fields are read as text, masked, and encoded back. Indexes, constraints and triggers are
//! restored after the data (`pg_restore --section=post-data`, in parallel), but for foreign
//! keys the source snapshot already holds valid on unchanged columns: those are created first
//! and not checked again (see [`EarlyKeys`](schema::EarlyKeys)); and unique keys of big tables
//! are built by valet beside `pg_restore`, as unique indexes turned into constraints (see
//! [`UniqueKey`](schema::UniqueKey)).
//!
//! The target database carries a comment `valet-clone: incomplete …` until the leak scan has
//! passed; on any failure it is dropped.
//!
//! Modules: [`session`] (connections, the snapshot), [`catalog`] (the source's tables and
//! columns), [`parts`] (how tables are split), [`copy`] (the data copy, the hot path),
//! [`refused`] (rows the target refuses), [`target`] (the target database and its state),
//! [`schema`] (schema and post-data), [`scan`] (the read-back part of the leak scan).

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
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::engine::target::{complete_or_drop, TargetDatabase};
use crate::engine::{leak_result, plan_into_report, table_reports, CloneOptions};
use crate::error::CloneError;
use crate::leak::PiiIndex;
use crate::plan::{classify, Plan};
use crate::report::{CloneReport, Phases};

use self::catalog::read_catalog;
use self::copy::{encoders, run_workers, Encoders, Mode};
use self::parts::{plan_work, Work};
use self::scan::{read_back_columns, scan_target};
use self::schema::{create_schema, restore_args, tool_output, Schema, SERIAL_BUILDS};
use self::session::{db, end_read, source_session};
use self::target::Target;

/// What the workers of one clone share: the plan, how columns are written, the queue of parts
/// and the snapshot they read.
struct Shared {
    plan: Plan,
    enc: Encoders,
    opts: CloneOptions,
    queue: Mutex<VecDeque<Work>>,
    snapshot: String,
    source: String,
}

fn same_database(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        url::Url::parse(s).ok().map(|u| {
            (
                u.host_str()
                    .unwrap_or("localhost")
                    .replace("127.0.0.1", "localhost"),
                u.port().unwrap_or(5432),
                u.path().to_string(),
            )
        })
    };
    norm(a).is_some() && norm(a) == norm(b)
}

pub(crate) async fn clone(
    opts: &CloneOptions,
    source: &str,
    target: &str,
    mut report: CloneReport,
) -> Result<CloneReport, CloneError> {
    if same_database(source, target) {
        return Err(CloneError::Unsupported(
            "source and target are the same database".into(),
        ));
    }
    let mut phases = Phases::new();
    phases.start("snapshot");
    opts.progress.phase("snapshot");
    let src0 = source_session(source, None).await?;
    let snapshot: String = src0
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(db("export the source snapshot"))?
        .get(0);
    report.snapshot = format!("exported snapshot {snapshot} (REPEATABLE READ, READ ONLY)");
    let cat = read_catalog(&src0).await?;
    let plan = classify(&opts.policy, &cat)?;
    plan_into_report(&plan, &mut report);
    let enc = encoders(&plan, &src0).await?;
    let tgt = Target::parse(target)?;
    let state = tgt.state().await?;
    tgt.refuse(&state, opts.replace)?;
    let work = plan_work(&plan, &src0, opts.jobs, opts.split_rows).await?;
    let shared = Arc::new(Shared {
        plan,
        enc,
        opts: opts.clone(),
        queue: Mutex::new(VecDeque::new()),
        snapshot: snapshot.clone(),
        source: source.to_string(),
    });

    let collect_work: Vec<Work> = work
        .iter()
        .filter(|w| shared.plan.tables[w.table].masker.is_some())
        .cloned()
        .collect();
    // Nothing is masked or written before the whole index exists (masked values are drawn
    // again when they equal a source value); the target's schema needs neither.
    let collect = async {
        let started = Instant::now();
        let collected = run_workers(&shared, collect_work, Mode::Collect).await?;
        let settings = opts.policy.leak_scan.clone();
        let index = tokio::task::spawn_blocking(move || collected.collector.into_index(&settings))
            .await
            .map_err(|e| CloneError::io("build the leak index", e))?;
        Ok::<_, CloneError>((Arc::new(index), started.elapsed()))
    };

    if opts.check {
        phases.start("collect");
        opts.progress.phase("collect source PII");
        let (index, _) = collect.await?;
        phases.start("data + leak scan");
        opts.progress
            .phase("data + leak scan (check: nothing written)");
        let scanned = run_workers(&shared, work, Mode::Scan(index.clone())).await?;
        report.tables = table_reports(&shared.plan, &scanned.parts);
        phases.finish();
        report.phases = phases.done;
        end_read(&src0).await;
        leak_result(&index, scanned.tally, &mut report)?;
        return Ok(report);
    }

    let info = src0
        .query_one(
            "SELECT pg_encoding_to_char(encoding), datcollate::text, datctype::text FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(db("read the source database settings"))?;
    let template_info: (String, String, String) = (info.get(0), info.get(1), info.get(2));
    tgt.create(&state, &template_info).await?;
    phases.finish();
    opts.progress
        .phase("collect source PII (target schema alongside)");
    let schema = async {
        let started = Instant::now();
        let s = create_schema(&shared, &src0, &tgt).await?;
        Ok::<_, CloneError>((s, started.elapsed()))
    };
    let result = match tokio::join!(collect, schema) {
        (Ok((index, collect_took)), Ok((schema, schema_took))) => {
            phases.record_concurrent(&[("collect", collect_took), ("schema", schema_took)]);
            report.foreign_keys_from_source = schema.early_names.clone();
            load_target(
                &shared,
                &src0,
                schema,
                work,
                index,
                &mut phases,
                &mut report,
            )
            .await
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    end_read(&src0).await;
    complete_or_drop(&tgt, result).await?;
    phases.finish();
    report.phases = phases.done;
    Ok(report)
}

/// Load the data (leak scan in flight), then build indexes, constraints and triggers.
async fn load_target(
    shared: &Arc<Shared>,
    src0: &Client,
    schema: Schema,
    work: Vec<Work>,
    index: Arc<PiiIndex>,
    phases: &mut Phases,
    report: &mut CloneReport,
) -> Result<(), CloneError> {
    let opts = &shared.opts;
    let Schema {
        dump,
        _files,
        url,
        dst,
        keys,
        rest_list,
        write_to,
        ..
    } = schema;
    opts.progress.phase("data (leak scan in flight)");
    let data_started = Instant::now();
    let scan_work = work.clone();
    let out = run_workers(shared, work, Mode::Write(write_to, index.clone())).await?;
    report.tables = table_reports(&shared.plan, &out.parts);
    let seqs = src0
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
            &[],
        )
        .await
        .map_err(db("read the source sequences"))?;
    for r in seqs {
        let name: String = r.get(0);
        let v = src0
            .query_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(db(format!("read sequence {name}")))?;
        let (last, called): (i64, bool) = (v.get(0), v.get(1));
        dst.execute(
            "SELECT setval($1::text::regclass, $2, $3)",
            &[&name, &last, &called],
        )
        .await
        .map_err(db(format!("set sequence {name}")))?;
    }

    // The leak scan looked every written text value up as it went (the bytes COPY stores);
    // what the server computes (generated columns) or stores in another binary form (arrays)
    // is read back from the target while indexes, constraints and triggers are built:
    // neither changes what the other sees.
    phases.record_concurrent(&[
        ("data", data_started.elapsed()),
        ("leak scan", out.scan_time),
    ]);
    let read_back = read_back_columns(shared);
    opts.progress.phase(if read_back.iter().all(Vec::is_empty) {
        "post-data (indexes, constraints, triggers)"
    } else {
        "post-data (indexes, constraints, triggers) and leak scan of computed columns"
    });
    let post_data = async {
        let started = Instant::now();
        let mut args = restore_args("post-data", opts.jobs.max(1), &url, &dump);
        args.extend(rest_list.clone());
        tool_output(
            "pg_restore",
            &args,
            "create indexes, constraints and triggers",
            &format!("-c {SERIAL_BUILDS}"),
        )
        .await
        .map(|_| started.elapsed())
    };
    let scan = async {
        let started = Instant::now();
        scan_target(shared, &url, index.clone(), scan_work, read_back.clone())
            .await
            .map(|tally| (tally, started.elapsed()))
    };
    let own_keys = async {
        let started = Instant::now();
        if !keys.is_empty() {
            dst.batch_execute(&format!("SET {SERIAL_BUILDS}"))
                .await
                .map_err(db("set up the index builds"))?;
        }
        // The index builds first, biggest table first; then the constraints, each of which
        // waits for the other index builds on its table (pg_restore's): attached one by one
        // after its build, a constraint would hold up the builds of the next keys.
        let attach = keys.iter().flat_map(|k| &k.attach);
        for q in keys.iter().map(|k| &k.index).chain(attach) {
            dst.batch_execute(q)
                .await
                .map_err(db(format!("build a unique key: {q}")))?;
        }
        Ok::<Duration, CloneError>(started.elapsed())
    };
    let (post, scanned, own) = tokio::join!(post_data, scan, own_keys);
    let post = post?.max(own?);
    let (read_tally, scan_took) = scanned?;
    if read_back.iter().all(Vec::is_empty) {
        phases.record_concurrent(&[("post-data", post)]);
    } else {
        phases.record_concurrent(&[("post-data", post), ("leak scan (read back)", scan_took)]);
    }
    let mut tally = out.tally;
    tally.merge(read_tally);
    leak_result(&index, tally, report)
}
