//! A clone killed at any moment leaves the source untouched and the target either absent or
//! marked incomplete; the next run succeeds. "Killed" here is the whole runtime shut down
//! mid-flight, which cancels every task and connection without any clean-up code running.

use std::time::Duration;

use tokio_postgres::NoTls;
use valet_clone::{clone_database, CloneOptions, Policy, RunKey};
use valet_testkit::TestDb;

fn policy() -> Policy {
    Policy::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/policy.toml"
    ))
    .unwrap()
}

async fn one(url: &str, q: &str) -> Option<String> {
    let (c, conn) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(conn);
    c.query_opt(q, &[])
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get::<_, Option<String>>(0))
}

#[test]
fn killed_postgres_clone_is_marked_incomplete_and_rerun_succeeds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(src) = rt.block_on(TestDb::postgres("kill_src")) else {
        return;
    };
    let dst = rt.block_on(src.sibling("kill_dst"));
    rt.block_on(clinic::gen::generate(
        &src.url,
        &clinic::gen::GenOptions {
            volunteers: 3000,
            events: 60_000,
            seed: 2,
            release: None,
        },
    ))
    .unwrap();
    let source_sum = "SELECT md5(string_agg(first_name || email, ',' ORDER BY id)) FROM volunteers";
    let before = rt.block_on(one(&src.url, source_sum));
    let admin = valet_testkit::pg_admin_url();
    let state = format!(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), 'no comment') FROM pg_database WHERE datname = '{}'",
        dst.name
    );
    for delay_ms in [30, 150, 400, 900] {
        let killed = tokio::runtime::Runtime::new().unwrap();
        let mut o = CloneOptions::new(src.url.clone(), dst.url.clone(), policy());
        o.key = RunKey::from_bytes(b"interruption test");
        o.jobs = 2;
        o.replace = true;
        killed.spawn(async move { clone_database(&o).await });
        std::thread::sleep(Duration::from_millis(delay_ms));
        killed.shutdown_timeout(Duration::from_millis(0));
        std::thread::sleep(Duration::from_millis(200));

        let mark = rt.block_on(one(&admin, &state));
        match mark.as_deref() {
            None | Some("no comment") => {}
            Some(m) => assert!(
                m.starts_with("valet-clone: incomplete") || m.starts_with("valet-clone: complete"),
                "after {delay_ms} ms the target says {m:?}"
            ),
        }
        assert_eq!(
            rt.block_on(one(&src.url, source_sum)),
            before,
            "source untouched"
        );

        let mut o = CloneOptions::new(src.url.clone(), dst.url.clone(), policy());
        o.jobs = 2;
        o.replace = mark
            .as_deref()
            .is_some_and(|m| m.starts_with("valet-clone: complete"));
        let r = rt
            .block_on(clone_database(&o))
            .unwrap_or_else(|e| panic!("re-run after a kill at {delay_ms} ms: {e}"));
        assert!(r.leak_scan.passed);
        let mark = rt.block_on(one(&admin, &state)).unwrap_or_default();
        assert!(mark.starts_with("valet-clone: complete"), "{mark}");
    }
}
