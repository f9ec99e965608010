//! The data generator: fills an empty database with a clinic's worth of synthetic people,
//! studies and data-collection events, deterministically from a seed.
//!
//! Rows are produced on a blocking thread and written as multi-row `INSERT` batches through
//! a small bounded channel, so memory stays flat whatever the counts (10 M events is fine).
//! Every record is a pure function of `(seed, id)` (see [`model`]), and the event times come
//! from a fixed window (26 weeks from 2024-01-01 UTC) — no wall clock, no hash-map order —
//! so a seed gives identical rows on every engine and at every run.

pub mod clock;
pub mod model;
pub mod pattern;
mod sql;
pub mod vocab;

use std::fmt;

use anyhow::Context;
use rand::Rng;
use sqlx::{AnyConnection, Connection, Executor};
use tokio::sync::mpsc;

use crate::db::{self, DbUrl, Engine};
use crate::release::{self, ReleaseInfo};
use crate::{schema, Error};
use sql::{Batch, TableWriter, WriterStopped};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    pub volunteers: u64,
    pub events: u64,
    pub seed: u64,
    /// Release whose schema to create (version or build); `None` for the latest.
    pub release: Option<String>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            volunteers: 100,
            events: 2000,
            seed: 1,
            release: None,
        }
    }
}

/// What was generated: the release and the rows per table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GenReport {
    pub release: String,
    pub build: String,
    pub seed: u64,
    pub staff: u64,
    pub studies: u64,
    pub volunteers: u64,
    pub enrolments: u64,
    /// Zero before 24.2 (the table does not exist yet).
    pub volunteer_audit: u64,
    /// Zero before 24.3 (the table does not exist yet).
    pub consents: u64,
    pub events: u64,
    /// Saved reports (customer configuration).
    pub report_definitions: u64,
    /// Dashboards (customer configuration).
    pub dashboard_definitions: u64,
}

impl GenReport {
    /// Rows per table, in insertion order; tables the release lacks are left out.
    pub fn tables(&self) -> Vec<(&'static str, u64)> {
        let r = release::find(&self.release).expect("report of a known release");
        let mut t = vec![
            ("staff", self.staff),
            ("studies", self.studies),
            ("volunteers", self.volunteers),
            ("enrolments", self.enrolments),
        ];
        if r.at_least("24.3") {
            t.push(("consents", self.consents));
        }
        if r.at_least("24.2") {
            t.push(("volunteer_audit", self.volunteer_audit));
        }
        t.push(("events", self.events));
        t.push(("report_definitions", self.report_definitions));
        t.push(("dashboard_definitions", self.dashboard_definitions));
        t
    }

    /// Sum of all rows.
    pub fn total_rows(&self) -> u64 {
        self.tables().iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for GenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "release: {} ({}), seed {}",
            self.release, self.build, self.seed
        )?;
        for (table, rows) in self.tables() {
            writeln!(f, "  {table:<16} {rows:>12}")?;
        }
        write!(f, "  {:<16} {:>12}", "total", self.total_rows())
    }
}

/// Fixed clock of a generated database: its `clinic_schema_version.applied_at` rows carry
/// this instant, so two runs with the same seed are identical down to the last byte.
pub const GENERATED_AT: i64 = pattern::WINDOW_START;

/// Creates the schema at the requested release in an empty database and fills it.
/// Refuses a database that has any table.
pub async fn generate(url: &str, opts: &GenOptions) -> anyhow::Result<GenReport> {
    let db = DbUrl::parse(url)?;
    let release = match &opts.release {
        Some(r) => release::require(r)?,
        None => release::latest(),
    };
    if opts.events > 0 && opts.volunteers == 0 {
        return Err(Error::EventsWithoutVolunteers {
            events: opts.events,
        }
        .into());
    }
    let mut conn = db.connect().await?;
    let tables = db::tables(db.engine, &mut conn).await?;
    if !tables.is_empty() {
        return Err(Error::NotEmpty {
            tables: tables.join(", "),
        }
        .into());
    }
    let applied_at = jiff::Timestamp::from_second(GENERATED_AT)?;
    schema::migrate_conn(db.engine, &mut conn, release, applied_at, &mut |_| {})
        .await
        .with_context(|| format!("creating the {} schema", release.version))?;

    let (tx, mut rx) = mpsc::channel::<Batch>(4);
    let plan = Plan {
        engine: db.engine,
        release,
        volunteers: opts.volunteers,
        events: opts.events,
        seed: opts.seed,
    };
    let producer = tokio::task::spawn_blocking(move || plan.produce(tx));
    let written = write_batches(&mut conn, &mut rx).await;
    drop(rx);
    let produced = producer.await.context("the generator thread panicked")?;
    let report = match (written, produced) {
        (Err(e), _) => return Err(e.context(format!("generating into {}", db.redacted()))),
        (Ok(()), Err(e)) => return Err(e),
        (Ok(()), Ok(report)) => report,
    };
    finish(db.engine, &mut conn, &report).await?;
    conn.close().await.ok();
    Ok(report)
}

/// Runs the batches, committing every 16 statements.
async fn write_batches(
    conn: &mut AnyConnection,
    rx: &mut mpsc::Receiver<Batch>,
) -> anyhow::Result<()> {
    loop {
        let mut tx = conn.begin().await?;
        let mut done = false;
        for _ in 0..16 {
            match rx.recv().await {
                Some(batch) => {
                    tx.execute(sqlx::raw_sql(&batch.sql))
                        .await
                        .with_context(|| {
                            format!("inserting {} rows into {}", batch.rows, batch.table)
                        })?;
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        tx.commit().await?;
        if done {
            return Ok(());
        }
    }
}

/// After explicit ids: move PostgreSQL's sequences past them, and refresh planner stats.
async fn finish(
    engine: Engine,
    conn: &mut AnyConnection,
    report: &GenReport,
) -> anyhow::Result<()> {
    if engine != Engine::Postgres {
        return Ok(());
    }
    for (table, rows) in report.tables() {
        if rows > 0 {
            let sql = format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), {rows})");
            conn.execute(sqlx::raw_sql(&sql)).await?;
        }
    }
    conn.execute(sqlx::raw_sql("ANALYZE")).await?;
    Ok(())
}

/// Everything the producer thread needs.
struct Plan {
    engine: Engine,
    release: &'static ReleaseInfo,
    volunteers: u64,
    events: u64,
    seed: u64,
}

impl Plan {
    fn writer(
        &self,
        table: &'static str,
        columns: &[&str],
        tx: &mpsc::Sender<Batch>,
    ) -> TableWriter {
        TableWriter::new(self.engine, table, columns, tx.clone())
    }

    fn produce(self, tx: mpsc::Sender<Batch>) -> anyhow::Result<GenReport> {
        match self.produce_rows(&tx) {
            Ok(report) => Ok(report),
            // The writer failed first; `generate` reports its error.
            Err(e) if e.is::<WriterStopped>() => Err(e),
            Err(e) => Err(e.context("generating rows")),
        }
    }

    fn produce_rows(&self, tx: &mpsc::Sender<Batch>) -> anyhow::Result<GenReport> {
        let seed = self.seed;
        let n = self.volunteers;
        let has_phone = self.release.at_least("24.2");
        let has_audit = self.release.at_least("24.2");
        let has_24_3 = self.release.at_least("24.3");

        let staff = model::staff(seed, model::staff_count(n));
        let mut w = self.writer(
            "staff",
            &[
                "id",
                "username",
                "full_name",
                "initials",
                "role",
                "created_at",
            ],
            tx,
        );
        for s in &staff {
            w.int(s.id as i64)
                .text(&s.username)
                .text(&s.full_name)
                .text(&s.initials)
                .text(s.role)
                .ts(s.created_at);
            w.end_row()?;
        }
        let staff_rows = w.finish()?;

        let studies: Vec<model::Study> = (1..=model::study_count(n))
            .map(|id| model::study(seed, id))
            .collect();
        let mut cols = vec!["id", "code", "title", "sponsor", "status", "started_on"];
        if has_24_3 {
            cols.push("phase");
        }
        let mut w = self.writer("studies", &cols, tx);
        for s in &studies {
            w.int(s.id as i64)
                .text(&s.code)
                .text(&s.title)
                .text(s.sponsor)
                .text(s.status)
                .date(s.started_on);
            if has_24_3 {
                w.text(s.phase);
            }
            w.end_row()?;
        }
        let study_rows = w.finish()?;

        let mut cols = vec![
            "id",
            "subject_no",
            "first_name",
            "last_name",
            "initials",
            "date_of_birth",
            "sex",
            "email",
            "address_line",
            "postcode",
            "city",
            "country",
            "notes",
            "created_at",
        ];
        if has_phone {
            cols.push("phone");
        }
        let mut w = self.writer("volunteers", &cols, tx);
        for id in 1..=n {
            let v = model::volunteer(seed, id, n);
            w.int(id as i64)
                .text(&v.subject_no)
                .text(v.first_name)
                .text(v.last_name)
                .text(&v.initials)
                .date(v.date_of_birth)
                .text(v.sex)
                .text(&v.email)
                .text(&v.address_line)
                .text(&v.postcode)
                .text(v.city)
                .text(v.country)
                .opt_text(v.notes.as_deref())
                .ts(v.created_at);
            if has_phone {
                w.text(&v.phone);
            }
            w.end_row()?;
        }
        let volunteer_rows = w.finish()?;

        // Enrolments, their consents (24.3) and the PII audit trail (24.2) only refer to
        // volunteers and studies, which are all written by now.
        let mut enrol = self.writer(
            "enrolments",
            &[
                "id",
                "volunteer_id",
                "study_id",
                "enrolled_at",
                "arm",
                "status",
            ],
            tx,
        );
        let mut consents = has_24_3.then(|| {
            self.writer(
                "consents",
                &[
                    "id",
                    "volunteer_id",
                    "study_id",
                    "form_version",
                    "signed_at",
                    "witnessed_by",
                    "withdrawn_at",
                ],
                tx,
            )
        });
        let mut audit = has_audit.then(|| {
            self.writer(
                "volunteer_audit",
                &[
                    "id",
                    "volunteer_id",
                    "changed_at",
                    "changed_by",
                    "field",
                    "old_value",
                    "new_value",
                ],
                tx,
            )
        });
        let (mut enrolment_id, mut audit_id) = (0i64, 0i64);
        for id in 1..=n {
            let v = model::volunteer(seed, id, n);
            for e in model::enrolments(seed, &v, &studies, &staff) {
                enrolment_id += 1;
                enrol
                    .int(enrolment_id)
                    .int(id as i64)
                    .int(e.study_id as i64)
                    .ts(e.enrolled_at)
                    .text(e.arm)
                    .text(e.status);
                enrol.end_row()?;
                if let Some(c) = consents.as_mut() {
                    // One consent per enrolment, so they share the id.
                    c.int(enrolment_id)
                        .int(id as i64)
                        .int(e.study_id as i64)
                        .text(&e.consent_form)
                        .ts(e.consent_signed_at)
                        .text(&e.consent_witness)
                        .opt_ts(e.consent_withdrawn_at);
                    c.end_row()?;
                }
            }
            if let Some(w) = audit.as_mut() {
                for a in model::audits(seed, &v, &staff) {
                    audit_id += 1;
                    w.int(audit_id)
                        .int(id as i64)
                        .ts(a.changed_at)
                        .text(&a.changed_by)
                        .text(a.field)
                        .opt_text(a.old_value.as_deref())
                        .opt_text(a.new_value.as_deref());
                    w.end_row()?;
                }
            }
        }
        let enrolment_rows = enrol.finish()?;
        let consent_rows = consents.map(TableWriter::finish).transpose()?.unwrap_or(0);
        let audit_rows = audit.map(TableWriter::finish).transpose()?.unwrap_or(0);

        let event_rows = self.produce_events(&staff, enrolment_rows, tx)?;
        let (report_rows, dashboard_rows) = self.produce_configuration(&staff, tx)?;

        Ok(GenReport {
            release: self.release.version.into(),
            build: self.release.build.into(),
            seed,
            staff: staff_rows,
            studies: study_rows,
            volunteers: volunteer_rows,
            enrolments: enrolment_rows,
            volunteer_audit: audit_rows,
            consents: consent_rows,
            events: event_rows,
            report_definitions: report_rows,
            dashboard_definitions: dashboard_rows,
        })
    }

    /// The saved reports and dashboards; returns how many of each were written.
    fn produce_configuration(
        &self,
        staff: &[model::Staff],
        tx: &mpsc::Sender<Batch>,
    ) -> anyhow::Result<(u64, u64)> {
        let (reports, dashboards) = model::configuration(self.seed, staff);
        let mut w = self.writer(
            "report_definitions",
            &["id", "name", "owner", "definition", "updated_at"],
            tx,
        );
        for r in &reports {
            w.int(r.id as i64)
                .text(r.name)
                .text(&r.owner)
                .text(r.definition)
                .ts(r.updated_at);
            w.end_row()?;
        }
        let report_rows = w.finish()?;
        let mut w = self.writer(
            "dashboard_definitions",
            &["id", "name", "layout", "updated_at"],
            tx,
        );
        for d in &dashboards {
            w.int(d.id as i64)
                .text(d.name)
                .text(&d.layout)
                .ts(d.updated_at);
            w.end_row()?;
        }
        Ok((report_rows, w.finish()?))
    }

    /// Events hour by hour through the window, in time order, so ids follow time.
    fn produce_events(
        &self,
        staff: &[model::Staff],
        enrolments: u64,
        tx: &mpsc::Sender<Batch>,
    ) -> anyhow::Result<u64> {
        let has_device = self.release.at_least("24.3");
        let collectors: Vec<&str> = staff
            .iter()
            .filter(|s| s.role != "coordinator")
            .map(|s| s.initials.as_str())
            .collect();
        let collectors = if collectors.is_empty() {
            staff.iter().map(|s| s.initials.as_str()).collect()
        } else {
            collectors
        };
        let mut rng = model::rng(self.seed, model::Stream::Events, 0);
        let slots = pattern::slots(self.events, &mut rng)?;
        let mut cols = vec![
            "id",
            "enrolment_id",
            "kind",
            "collected_at",
            "collected_by",
            "value_num",
            "value_text",
        ];
        if has_device {
            cols.push("device");
        }
        let mut w = self.writer("events", &cols, tx);
        let mut id = 0i64;
        let mut offsets = Vec::new();
        for slot in slots {
            offsets.clear();
            offsets.extend((0..slot.events).map(|_| rng.gen_range(0..3600i64)));
            offsets.sort_unstable();
            for &offset in &offsets {
                id += 1;
                let enrolment = rng.gen_range(1..=enrolments) as i64;
                let e = model::event(&mut rng, collectors.len());
                w.int(id)
                    .int(enrolment)
                    .text(e.kind)
                    .ts(slot.start + offset)
                    .text(collectors[e.collected_by_index])
                    .num(e.value_num)
                    .opt_text(e.value_text.as_deref());
                if has_device {
                    w.opt_text(e.device.as_deref());
                }
                w.end_row()?;
            }
        }
        Ok(w.finish()?)
    }
}
