//! Driver of `bench/quiet`: times the quiet-time analysis (the clinic profile's activity query
//! aggregated per UTC hour in the database, then folded into the customer's hours of the
//! week) on the databases named in `VALET_QUIET_BENCH`, against two baselines measured in the
//! same run: the alternative design (every event of the window fetched and binned by valet)
//! and the floor (the database counting the window's events).
//!
//! Not a pass/fail test: `bench/quiet` runs it in a release build and prints the ratios.

use std::collections::HashMap;
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

/// The profile's activity query for `url`'s engine and a one-connection pool to it.
async fn activity(profile: &AppProfile, url: &str, days: u32) -> (String, sqlx::AnyPool) {
    sqlx::any::install_default_drivers();
    let key = match url.split("://").next().unwrap() {
        "sqlite" => "sqlite",
        e if e.starts_with("postgres") => "postgres",
        _ => "mysql",
    };
    let inner = profile.activity.as_ref().unwrap()[key]
        .as_str()
        .unwrap()
        .replace("{days}", &days.to_string());
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url.replacen("mariadb://", "mysql://", 1))
        .await
        .unwrap();
    (inner.trim().trim_end_matches(';').to_string(), pool)
}

/// The floor: the window's events counted by the database, `COUNT(*)` over the activity query
/// (an engine may answer it from the index on the timestamp without formatting a row).
async fn count_floor(profile: &AppProfile, url: &str, days: u32) -> u64 {
    let (inner, pool) = activity(profile, url, days).await;
    let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM ({inner}) a"))
        .fetch_one(&pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    pool.close().await;
    n as u64
}

/// The alternative to aggregating in the database: every row of the activity query fetched
/// and binned per UTC hour by valet. Returns the hours.
async fn client_side(profile: &AppProfile, url: &str, days: u32) -> HashMap<String, u64> {
    use futures::TryStreamExt;
    let (inner, pool) = activity(profile, url, days).await;
    let mut hours: HashMap<String, u64> = HashMap::new();
    {
        let mut rows = sqlx::query(&inner).fetch(&pool);
        while let Some(row) = rows.try_next().await.unwrap() {
            let at: String = row.try_get("collected_at").unwrap();
            *hours.entry(at[..13].to_string()).or_default() += 1;
        }
    }
    pool.close().await;
    hours
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
        let (mut floor, mut client, mut full) = (Vec::new(), Vec::new(), Vec::new());
        let (mut events, mut busiest) = (0, 0.0f64);
        let (mut by_valet, mut by_db) = (HashMap::new(), HashMap::new());
        // Alternate the three so that a cache warmed by one helps the others equally.
        for _ in 0..RUNS {
            let t = Instant::now();
            events = count_floor(&profile, url, weeks * 7).await;
            floor.push(t.elapsed().as_millis());
            let t = Instant::now();
            by_valet = client_side(&profile, url, weeks * 7).await;
            client.push(t.elapsed().as_millis());
            let t = Instant::now();
            let hourly = valet_ops::proddb::hourly_activity(&profile, url, weeks * 7)
                .await
                .unwrap();
            let h = Histogram::fold("Europe/Berlin", weeks, &hourly).unwrap();
            full.push(t.elapsed().as_millis());
            by_db = hourly
                .iter()
                .map(|(t, n)| (t.strftime("%Y-%m-%dT%H").to_string(), *n))
                .collect();
            busiest = h.cells.iter().flatten().copied().fold(0.0, f64::max);
        }
        assert_eq!(
            by_db.values().sum::<u64>(),
            events,
            "the histogram counts every event of the window"
        );
        assert_eq!(by_db, by_valet, "both designs bin the same events per hour");
        assert!(busiest > 0.0, "{engine}: no activity in the window");
        let (f, f_max) = spread(full);
        let (c, c_max) = spread(client);
        let (n, n_max) = spread(floor);
        println!("BENCH {engine} {events} {f} {f_max} {c} {c_max} {n} {n_max}");
    }
}
