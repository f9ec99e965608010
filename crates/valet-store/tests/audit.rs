mod common;

use common::{admin, count, stores};
use valet_store::audit::{self, Verdict};
use valet_store::{customers, Store};

async fn seed(store: &Store, n: usize) {
    for i in 0..n {
        customers::create(store, &admin(), &format!("Customer {i}"), "Europe/Berlin")
            .await
            .unwrap();
    }
}

fn broken_at(v: Verdict) -> i64 {
    match v {
        Verdict::Broken { seq, .. } => seq,
        ok => panic!("tampering went unnoticed: {ok}"),
    }
}

#[tokio::test]
async fn intact_chain_verifies_ok() {
    for (_db, store) in stores("audit_ok").await {
        assert!(matches!(
            audit::verify(&store).await.unwrap(),
            Verdict::Ok { events: 0, .. }
        ));
        seed(&store, 5).await;
        match audit::verify(&store).await.unwrap() {
            Verdict::Ok { events, .. } => assert_eq!(events, 5),
            broken => panic!("{broken}"),
        }
    }
}

#[tokio::test]
async fn every_state_change_carries_actor_and_after_image() {
    for (_db, store) in stores("audit_fields").await {
        let c = customers::create(&store, &admin(), "Nordic Trials", "Europe/Oslo")
            .await
            .unwrap();
        let events = audit::list(&store, &admin(), Some(("customer", &c.id)), 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.action, "customer.create");
        assert_eq!(e.actor_name, "ada");
        assert_eq!(e.actor_role, "admin");
        assert_eq!(e.customer_id.as_deref(), Some(c.id.as_str()));
        assert_eq!(e.after.as_ref().unwrap()["zone"], "Europe/Oslo");
        assert_eq!(e.prev_hash, audit::GENESIS);
    }
}

#[tokio::test]
async fn edited_row_is_detected_at_its_sequence_number() {
    for (_db, store) in stores("audit_edit").await {
        seed(&store, 5).await;
        sqlx::query("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(audit::verify(&store).await.unwrap()), 3);
    }
}

#[tokio::test]
async fn edit_with_recomputed_own_hash_breaks_the_next_link() {
    for (_db, store) in stores("audit_rehash").await {
        seed(&store, 4).await;
        // A forger who rewrites event 2 and its hash still breaks event 3's link.
        sqlx::query("UPDATE audit_events SET actor_name = 'mallory', hash = $1 WHERE seq = 2")
            .bind("f".repeat(64))
            .execute(store.pool())
            .await
            .unwrap();
        let seq = broken_at(audit::verify(&store).await.unwrap());
        assert!(seq == 2 || seq == 3, "broken at {seq}");
    }
}

#[tokio::test]
async fn deleted_row_is_detected() {
    for (_db, store) in stores("audit_delete").await {
        seed(&store, 5).await;
        sqlx::query("DELETE FROM audit_events WHERE seq = 2")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(audit::verify(&store).await.unwrap()), 2);
    }
}

#[tokio::test]
async fn deleted_tail_is_detected() {
    for (_db, store) in stores("audit_tail").await {
        seed(&store, 5).await;
        sqlx::query("DELETE FROM audit_events WHERE seq = 5")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(broken_at(audit::verify(&store).await.unwrap()), 5);
    }
}

#[tokio::test]
async fn reordered_rows_are_detected() {
    for (_db, store) in stores("audit_reorder").await {
        seed(&store, 5).await;
        // Swap events 2 and 4 by renumbering through a free number.
        for (from, to) in [(2, 1000), (4, 2), (1000, 4)] {
            sqlx::query("UPDATE audit_events SET seq = $1 WHERE seq = $2")
                .bind(to as i64)
                .bind(from as i64)
                .execute(store.pool())
                .await
                .unwrap();
        }
        assert_eq!(broken_at(audit::verify(&store).await.unwrap()), 2);
    }
}

#[tokio::test]
async fn concurrent_writers_keep_one_unbroken_chain() {
    for (_db, store) in stores("audit_concurrent").await {
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    customers::create(&store, &admin(), &format!("Parallel {i}"), "UTC")
                        .await
                        .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(count(&store, "audit_events").await, 12);
        match audit::verify(&store).await.unwrap() {
            Verdict::Ok { events, .. } => assert_eq!(events, 12),
            broken => panic!("{broken}"),
        }
    }
}
