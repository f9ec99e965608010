//! Hotfix decisions in the store: one signed decision per (hotfix, pair), an acceptance files
//! its HFX request in the same transaction, a decline needs a reason, another tenant's pair is
//! not found, and version lag stops counting a hotfix once it is decided.

mod common;

use common::{admin, count, stores};
use valet_core::hotfix::{Decision, HotfixNotice, Severity};
use valet_core::upgrade::UpgradeRequestInput;
use valet_core::{RequestKind, Role, Tier};
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::hotfixes::{self, Acceptance};
use valet_store::users::{self, NewUser, User};
use valet_store::{audit, customers, releases, signatures, Store, StoreError};

const PASSWORD: &str = "a long test password";

async fn setup(store: &Store) -> (User, User, String, String) {
    for v in ["24.2", "24.2.1", "24.3"] {
        let path = format!(
            "{}/../../examples/clinic/releases/{v}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let r = releases::import(store, &admin(), &std::fs::read_to_string(&path).unwrap(), v)
            .await
            .unwrap();
        releases::publish(store, &admin(), &r.build.to_string(), None)
            .await
            .unwrap();
    }
    let mut out = Vec::new();
    for name in ["Alpha", "Beta"] {
        let c = customers::create(store, &admin(), name, "Europe/Berlin")
            .await
            .unwrap();
        let pair = environments::create_pair(
            store,
            &admin(),
            NewPair {
                customer_id: c.id.clone(),
                tier: Tier::Prod,
                label: None,
                build: Some("24.2.0.1187".into()),
                state: None,
                main: MemberSpec::default(),
                test: MemberSpec::default(),
                request_id: None,
                expires_at: None,
            },
        )
        .await
        .unwrap();
        let u = users::create(
            store,
            &admin(),
            NewUser {
                username: format!("{}.admin", name.to_lowercase()),
                display_name: format!("{name} Admin"),
                email: None,
                role: Role::CustomerAdmin,
                customer_id: Some(c.id.clone()),
                password: PASSWORD.into(),
            },
        )
        .await
        .unwrap();
        out.push((u, pair.pair_id));
    }
    let (b, a) = (out.pop().unwrap(), out.pop().unwrap());
    (a.0, b.0, a.1, b.1)
}

fn acceptance(now: jiff::Timestamp) -> Acceptance {
    let day = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 30))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    Acceptance {
        input: UpgradeRequestInput {
            slots: vec![format!("{day} 09:00-10:00 Europe/Berlin")],
            downtime_minutes: Some(15),
            ..Default::default()
        },
        notice: HotfixNotice::default(),
    }
}

#[tokio::test]
async fn an_acceptance_files_one_hfx_request_and_a_second_decision_is_a_conflict() {
    for (_db, store) in stores("hfx_accept").await {
        let (alice, _, pair, beta_pair) = setup(&store).await;
        let actor = alice.actor();
        let offer = hotfixes::offer(&store, &actor, "24.2.1", &pair)
            .await
            .unwrap();
        assert_eq!(offer.release.severity, Some(Severity::High));
        let (d, r) = hotfixes::decide(
            &store,
            &alice,
            "Europe/Berlin",
            &offer,
            Decision::Accepted,
            None,
            Some(acceptance(store.now())),
        )
        .await
        .unwrap();
        let r = r.unwrap();
        assert_eq!(r.kind, RequestKind::Hotfix);
        assert_eq!(r.key, "HFX-1");
        assert_eq!(d.request_key.as_deref(), Some("HFX-1"));
        assert_eq!(r.details["build"], "24.2.1.1201");
        assert_eq!(r.details["notice_days"], 7, "high severity: 7 days");
        assert_eq!(r.details["needs_build_override"], false);
        assert_eq!(d.signer_role, Role::CustomerAdmin);
        let sigs = signatures::of(&store, "hotfix_decision", &d.id)
            .await
            .unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].record_sha256, d.record_sha256);
        let again = hotfixes::decide(
            &store,
            &alice,
            "UTC",
            &offer,
            Decision::Declined,
            Some("changed our mind"),
            None,
        )
        .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        assert_eq!(count(&store, "hotfix_decisions").await, 1);
        assert_eq!(count(&store, "requests").await, 1);
        // Another tenant's pair is not found, like a missing one.
        let other = hotfixes::offer(&store, &actor, "24.2.1", &beta_pair).await;
        assert!(
            matches!(other, Err(StoreError::NotFound { .. })),
            "{other:?}"
        );
        assert!(matches!(
            audit::verify(&store).await.unwrap(),
            audit::Verdict::Ok { .. }
        ));
    }
}

#[tokio::test]
async fn a_decline_needs_a_reason_and_only_same_line_older_prod_is_offered() {
    for (_db, store) in stores("hfx_decline").await {
        let (alice, _, pair, _) = setup(&store).await;
        let actor = alice.actor();
        let offer = hotfixes::offer(&store, &actor, "24.2.1.1201", &pair)
            .await
            .unwrap();
        let e = hotfixes::decide(
            &store,
            &alice,
            "UTC",
            &offer,
            Decision::Declined,
            None,
            None,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("reason"), "{e}");
        let (d, r) = hotfixes::decide(
            &store,
            &alice,
            "UTC",
            &offer,
            Decision::Declined,
            Some("the DST fix does not affect our studies"),
            None,
        )
        .await
        .unwrap();
        assert!(r.is_none());
        assert_eq!(d.decision, Decision::Declined);
        assert_eq!(d.meaning, valet_core::signature::Meaning::Declined);
        // A feature release is not a hotfix; a vendor cannot decide for the customer.
        let e = hotfixes::offer(&store, &actor, "24.3", &pair)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not a hotfix"), "{e}");
        let e = hotfixes::offer(&store, &admin(), "24.2.1", &pair)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("customer's admin"), "{e}");
    }
}

#[tokio::test]
async fn version_lag_counts_only_hotfixes_neither_accepted_nor_declined() {
    for (_db, store) in stores("hfx_lag").await {
        let (alice, bob, pair, beta_pair) = setup(&store).await;
        let hotfixes_of = |lags: &[releases::EnvironmentLag]| -> Vec<String> {
            lags.iter()
                .flat_map(|l| l.lag.hotfixes_available.iter().map(|b| b.to_string()))
                .collect()
        };
        let before = releases::version_lag(&store, &alice.actor(), None)
            .await
            .unwrap();
        assert_eq!(
            hotfixes_of(&before),
            vec!["24.2.1.1201"; 2],
            "Main and Test"
        );
        let offer = hotfixes::offer(&store, &alice.actor(), "24.2.1", &pair)
            .await
            .unwrap();
        hotfixes::decide(
            &store,
            &alice,
            "UTC",
            &offer,
            Decision::Accepted,
            None,
            Some(acceptance(store.now())),
        )
        .await
        .unwrap();
        let after = releases::version_lag(&store, &alice.actor(), None)
            .await
            .unwrap();
        assert!(hotfixes_of(&after).is_empty(), "accepted: not counted");
        // Beta has not decided: still counted there; declining removes it.
        let beta = releases::version_lag(&store, &bob.actor(), None)
            .await
            .unwrap();
        assert_eq!(hotfixes_of(&beta).len(), 2);
        let offer = hotfixes::offer(&store, &bob.actor(), "24.2.1", &beta_pair)
            .await
            .unwrap();
        hotfixes::decide(
            &store,
            &bob,
            "UTC",
            &offer,
            Decision::Declined,
            Some("not needed"),
            None,
        )
        .await
        .unwrap();
        let beta = releases::version_lag(&store, &bob.actor(), None)
            .await
            .unwrap();
        assert!(hotfixes_of(&beta).is_empty(), "declined: not counted");
    }
}
