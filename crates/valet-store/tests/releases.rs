mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{admin, count, customer_user, stores};
use valet_core::catalog::Manifest;
use valet_core::Tier;
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::{customers, releases, Store, StoreError};

const VERSIONS: [&str; 4] = ["24.1", "24.2", "24.2.1", "24.3"];

fn manifest_path(v: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../examples/clinic/releases/{v}.toml"))
}

fn manifest_text(v: &str) -> String {
    std::fs::read_to_string(manifest_path(v)).unwrap()
}

fn keys_of(v: &str) -> Vec<String> {
    Manifest::parse(&manifest_text(v), v)
        .unwrap()
        .notes
        .into_iter()
        .map(|n| n.key)
        .collect()
}

async fn import_all(store: &Store, publish: &[&str]) {
    for v in VERSIONS {
        releases::import(store, &admin(), &manifest_text(v), &format!("{v}.toml"))
            .await
            .unwrap();
    }
    for v in publish {
        let build = releases::get(store, &admin(), v)
            .await
            .unwrap()
            .build
            .to_string();
        releases::publish(store, &admin(), &build, None)
            .await
            .unwrap();
    }
}

#[test]
fn clinic_ships_at_least_thirty_notes() {
    let n: usize = VERSIONS.iter().map(|v| keys_of(v).len()).sum();
    assert!(n >= 30, "{n} notes");
}

#[tokio::test]
async fn cumulative_notes_from_24_1_to_24_3_hold_exactly_the_later_releases() {
    for (_db, store) in stores("rel_notes").await {
        import_all(&store, &VERSIONS).await;
        let notes = releases::cumulative_notes(&store, &admin(), "24.1", "24.3")
            .await
            .unwrap();
        let got: Vec<String> = notes.notes().map(|n| n.note.key.clone()).collect();
        let want: BTreeSet<String> = ["24.2", "24.2.1", "24.3"]
            .iter()
            .flat_map(|v| keys_of(v))
            .collect();
        assert_eq!(got.len(), want.len(), "each item once");
        assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
        let builds: Vec<String> = notes.releases.iter().map(|r| r.build.to_string()).collect();
        assert_eq!(builds, vec!["24.2.0.1187", "24.2.1.1201", "24.3.0.1300"]);
        // Grouped by category in fixed order, areas and items highest impact first.
        let cats: Vec<&str> = notes.sections.iter().map(|s| s.category.as_str()).collect();
        assert_eq!(
            cats,
            vec!["feature", "improvement", "fix", "security", "regulatory"]
        );
        for s in &notes.sections {
            for w in s.areas.windows(2) {
                assert!(
                    w[0].notes[0].note.validation_impact >= w[1].notes[0].note.validation_impact
                );
            }
            for a in &s.areas {
                assert!(a
                    .notes
                    .iter()
                    .all(|n| n.note.category == s.category && n.note.area == a.area));
                for w in a.notes.windows(2) {
                    assert!(w[0].note.validation_impact >= w[1].note.validation_impact);
                }
            }
        }
        let fix = notes
            .sections
            .iter()
            .find(|s| s.category.as_str() == "fix")
            .unwrap();
        assert_eq!(
            fix.areas[0].notes[0].note.validation_impact.as_str(),
            "high"
        );
        let dc = fix
            .areas
            .iter()
            .find(|a| a.area == "Data collection")
            .unwrap();
        assert_eq!(
            dc.notes[0].note.key, "APP-3199",
            "the high-impact hotfix leads its area"
        );
        assert!(notes.configuration_items.contains("integrations"));
    }
}

#[tokio::test]
async fn bad_manifests_import_nothing_and_say_where() {
    for (_db, store) in stores("rel_bad").await {
        import_all(&store, &[]).await;
        let (releases_before, notes_before) = (
            count(&store, "releases").await,
            count(&store, "release_notes").await,
        );

        let err = releases::import(&store, &admin(), &manifest_text("24.2"), "again.toml")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("again.toml:6: build:"), "{err}");
        assert!(err.contains("already in the catalog"), "{err}");

        let older = manifest_text("24.2.1")
            .replace("24.2.1.1201", "24.2.2.1150")
            .replace("\"24.2.1\"", "\"24.2.2\"");
        let err = releases::import(&store, &admin(), &older, "older.toml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("older.toml:6: build:") && err.contains("does not order after"),
            "{err}"
        );

        let text = manifest_text("24.3")
            .replace("24.3.0.1300", "24.4.0.1400")
            .replace("\"24.3\"", "\"24.4\"");
        let no_sum: String = text
            .lines()
            .filter(|l| !l.starts_with("sha256"))
            .collect::<Vec<_>>()
            .join("\n");
        let err = releases::import(&store, &admin(), &no_sum, "nosum.toml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nosum.toml:") && err.contains("artifact.sha256"),
            "{err}"
        );
        let bad_cat = text.replacen("category = \"feature\"", "category = \"chore\"", 1);
        let err = releases::import(&store, &admin(), &bad_cat, "cat.toml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cat.toml:") && err.contains("notes[1].category"),
            "{err}"
        );
        let no_key = text.replacen("key = \"APP-3301\"\n", "", 1);
        let err = releases::import(&store, &admin(), &no_key, "key.toml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key.toml:") && err.contains("notes[1].key"),
            "{err}"
        );
        assert!(err.contains("nothing was imported"), "{err}");

        assert_eq!(count(&store, "releases").await, releases_before);
        assert_eq!(count(&store, "release_notes").await, notes_before);
    }
}

#[tokio::test]
async fn customers_see_only_published_releases() {
    for (_db, store) in stores("rel_visible").await {
        import_all(&store, &["24.1", "24.2"]).await;
        let c = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let carl = customer_user(&c.id);
        let seen: Vec<String> = releases::list(&store, &carl)
            .await
            .unwrap()
            .iter()
            .map(|r| r.version.to_string())
            .collect();
        assert_eq!(seen, vec!["24.1", "24.2"]);
        assert_eq!(releases::list(&store, &admin()).await.unwrap().len(), 4);
        assert!(matches!(
            releases::get(&store, &carl, "24.3").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            releases::cumulative_notes(&store, &carl, "24.1", "24.3").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(releases::search(&store, &carl, "consent", 10)
            .await
            .unwrap()
            .is_empty());
        assert!(!releases::search(&store, &admin(), "consent", 10)
            .await
            .unwrap()
            .is_empty());
        // Publishing is audited and happens once.
        let err = releases::publish(&store, &admin(), "24.1.0.1042", None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let carl_publishes = releases::publish(&store, &carl, "24.3.0.1300", None).await;
        assert!(carl_publishes.is_err());
    }
}

#[tokio::test]
async fn search_finds_words_and_tracker_keys() {
    for (_db, store) in stores("rel_search").await {
        import_all(&store, &VERSIONS).await;
        let hits = releases::search(&store, &admin(), "daylight saving", 10)
            .await
            .unwrap();
        assert_eq!(hits.first().map(|h| h.note.key.as_str()), Some("APP-3199"));
        let hits = releases::search(&store, &admin(), "APP-3199", 10)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].build.to_string(), "24.2.1.1201");
        let hits = releases::search(&store, &admin(), "consents", 10)
            .await
            .unwrap();
        assert!(
            hits.iter().any(|h| h.note.key == "APP-3301"),
            "stemmed: {hits:?}"
        );
        assert!(releases::search(&store, &admin(), "   ", 10).await.is_err());
    }
}

#[tokio::test]
async fn version_lag_counts_releases_days_and_hotfixes_per_environment() {
    for (_db, store) in stores("rel_lag").await {
        import_all(&store, &VERSIONS).await;
        let a = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let b = customers::create(&store, &admin(), "Beta", "UTC")
            .await
            .unwrap();
        for (c, build) in [(&a, "24.1.0.1042"), (&b, "24.3.0.1300")] {
            environments::create_pair(
                &store,
                &admin(),
                NewPair {
                    customer_id: c.id.clone(),
                    tier: Tier::Prod,
                    label: None,
                    build: Some(build.into()),
                    state: None,
                    main: MemberSpec::default(),
                    test: MemberSpec::default(),
                    request_id: None,
                    expires_at: None,
                },
            )
            .await
            .unwrap();
        }
        let carl = customer_user(&a.id);
        let lag = releases::version_lag(&store, &carl, None).await.unwrap();
        assert_eq!(lag.len(), 2);
        let main = &lag[0];
        assert_eq!(main.lag.releases_behind, 2);
        assert_eq!(main.lag.latest.unwrap().to_string(), "24.3.0.1300");
        assert_eq!(
            main.lag
                .hotfixes_available
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>(),
            vec!["24.2.1.1201"]
        );
        assert!(main.lag.days_behind > 365, "24.2 came out in 2024");
        assert!(matches!(
            releases::version_lag(&store, &carl, Some(&b.id)).await,
            Err(StoreError::NotFound { .. })
        ));
        let all = releases::version_lag(&store, &admin(), None).await.unwrap();
        assert_eq!(all.len(), 4);
        assert!(all
            .iter()
            .filter(|l| l.customer_id == b.id)
            .all(|l| l.lag.releases_behind == 0));
    }
}
