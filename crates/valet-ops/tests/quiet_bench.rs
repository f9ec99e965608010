//! Driver of `bench/quiet`: times the quiet-time analysis (the clinic profile's activity query
//! aggregated per UTC hour in the database, then folded into the customer's hours of the
//! week) on the databases named in `VALET_QUIET_BENCH`, against a baseline measured in the
//! same run: counting the events of the same window (the least any answer must read).
//!
//! Not a pass/fail test: `bench/quiet` runs it in a release build and prints the ratios.

use std::time::Instant;

use sqlx::Row;
use valet_core::schedule::Histogram;
use valet_ops::profile::AppProfile;

/// Runs of each measurement; the fastest is reported with the slowest beside it.
const RUNS: usize = 3;

fn profile() -> AppProfile {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/clinic/valet-app.toml"
    );
    AppProfile::load(std::path::Path::new(path)).unwrap()
}

/// Events in the window, counted by the profile's own query without any per-row formatting
/// being aggregated: `SELECT COUNT(*) FROM (activity query)`.
async fn baseline(profile: &AppProfile, url: &str, days: u32) -> u64 {
    sqlx::any::install_default_drivers();
    let engine = url.split("://").next().unwrap();
    let key = if engine == "sqlite" {
        "sqlite"
    } else if engine.starts_with("postgres") {
        "postgres"
    } else {
        "mysql"
    };
    let inner = profile.activity.as_ref().unwrap()[key]
        .as_str()
        .unwrap()
        .replace("{days}", &days.to_string());
    let url = url.replacen("mariadb://", "mysql://", 1);
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let n: i64 = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM ({}) a",
        inner.trim().trim_end_matches(';')
    ))
    .fetch_one(&pool)
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    pool.close().await;
    n as u64
}

fn spread(mut ms: Vec<u128>) -> (u128, u128) {
    ms.sort_unstable();
    (ms[0], ms[ms.len() - 1])
}

#[tokio::test]
#[ignore = "benchmark driver: needs generated databases named in VALET_QUIET_BENCH (bench/quiet)"]
async fn bench_quiet_time() {
    let urls = std::env::var("VALET_QUIET_BENCH").expect("VALET_QUIET_BENCH");
    let weeks: u32 = std::env::var("VALET_QUIET_WEEKS")
        .ok()
        .map(|w| w.parse().unwrap())
        .unwrap_or(8);
    let profile = profile();
    for url in urls.split(',') {
        let engine = match url.split("://").next().unwrap() {
            "mysql" | "mariadb" => "mariadb",
            "sqlite" => "sqlite",
            _ => "postgres",
        };
        let (mut base, mut full) = (Vec::new(), Vec::new());
        let (mut events, mut counted, mut busiest) = (0, 0, 0.0f64);
        // Alternate the two so that a cache warmed by one helps the other equally.
        for _ in 0..RUNS {
            let t = Instant::now();
            events = baseline(&profile, url, weeks * 7).await;
            base.push(t.elapsed().as_millis());
            let t = Instant::now();
            let hourly = valet_ops::proddb::hourly_activity(&profile, url, weeks * 7)
                .await
                .unwrap();
            let h = Histogram::fold("Europe/Berlin", weeks, &hourly).unwrap();
            full.push(t.elapsed().as_millis());
            counted = hourly.iter().map(|(_, n)| n).sum::<u64>();
            busiest = h.cells.iter().flatten().copied().fold(0.0, f64::max);
        }
        assert_eq!(
            counted, events,
            "the histogram counts every event of the window"
        );
        assert!(busiest > 0.0, "{engine}: no activity in the window");
        let (b, b_max) = spread(base);
        let (f, f_max) = spread(full);
        println!("BENCH {engine} {events} {f} {f_max} {b} {b_max}");
    }
}
