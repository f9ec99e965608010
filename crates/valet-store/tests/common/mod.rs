//! Shared by the store's integration tests: the same test body runs on SQLite and on the
//! real PostgreSQL, each in a database of its own.

#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use valet_core::{Actor, Role};
use valet_store::Store;
use valet_testkit::TestDb;

/// A store on a fresh database of each backend that is reachable.
pub async fn stores(tag: &str) -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    let db = TestDb::sqlite(tag);
    let store = Store::open(&db.url).await.expect("open sqlite store");
    out.push((db, store));
    if let Some(db) = TestDb::postgres(tag).await {
        let store = Store::open(&db.url).await.expect("open postgres store");
        out.push((db, store));
    }
    out
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(
            jiff::Timestamp::from_second(1_790_000_000)
                .unwrap()
                .as_microsecond(),
        )))
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
    pub fn install(&self, store: Store) -> Store {
        let c = self.0.clone();
        store.with_clock(Arc::new(move || {
            jiff::Timestamp::from_microsecond(c.load(Ordering::SeqCst)).unwrap()
        }))
    }
}

pub fn admin() -> Actor {
    Actor {
        user_id: "u-admin".into(),
        username: "ada".into(),
        role: Role::Admin,
        customer_id: None,
    }
}

pub fn customer_user(customer_id: &str) -> Actor {
    Actor {
        user_id: format!("u-{customer_id}"),
        username: "carl".into(),
        role: Role::CustomerUser,
        customer_id: Some(customer_id.to_string()),
    }
}

pub async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}
