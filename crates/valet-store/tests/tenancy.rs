mod common;

use common::{admin, count, customer_user, stores};
use valet_core::{EnvState, Role, Tier};
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::users::{self, NewUser};
use valet_store::{customers, StoreError};

fn pair(customer_id: &str) -> NewPair {
    NewPair {
        customer_id: customer_id.into(),
        tier: Tier::Prod,
        label: None,
        build: Some("24.2.0.1187".into()),
        state: None,
        main: MemberSpec {
            database_url: Some("postgres://app:s3cret@db/main".into()),
            base_url: Some("http://127.0.0.1:9001".into()),
        },
        test: MemberSpec::default(),
        request_id: None,
        expires_at: None,
    }
}

#[tokio::test]
async fn duplicate_customer_name_is_a_conflict_and_writes_nothing() {
    for (_db, store) in stores("dup_customer").await {
        customers::create(&store, &admin(), "Acme Research", "Europe/Berlin")
            .await
            .unwrap();
        let events = count(&store, "audit_events").await;
        let err = customers::create(&store, &admin(), "  acme   RESEARCH ", "UTC")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(count(&store, "customers").await, 1);
        assert_eq!(count(&store, "audit_events").await, events);
    }
}

#[tokio::test]
async fn unknown_zone_is_rejected_with_a_hint() {
    for (_db, store) in stores("bad_zone").await {
        let err = customers::create(&store, &admin(), "Chicago Labs", "CST")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("America/Chicago"), "{err}");
        assert_eq!(count(&store, "customers").await, 0);
    }
}

#[tokio::test]
async fn customer_sees_only_its_own_tenant() {
    for (_db, store) in stores("tenancy").await {
        let a = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let b = customers::create(&store, &admin(), "Beta", "America/Chicago")
            .await
            .unwrap();
        let pa = environments::create_pair(&store, &admin(), pair(&a.id))
            .await
            .unwrap();
        let pb = environments::create_pair(&store, &admin(), pair(&b.id))
            .await
            .unwrap();
        let carl = customer_user(&a.id);

        let visible = customers::list(&store, &carl).await.unwrap();
        assert_eq!(visible, vec![a.clone()]);
        assert!(matches!(
            customers::get(&store, &carl, &b.id).await,
            Err(StoreError::NotFound { .. })
        ));
        let envs = environments::list(&store, &carl, None).await.unwrap();
        assert_eq!(envs.len(), 2);
        assert!(envs.iter().all(|e| e.customer_id == a.id));
        assert!(environments::list(&store, &carl, Some(&b.id))
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            environments::get(&store, &carl, &pb.main.id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            environments::get(&store, &carl, &pa.main.id)
                .await
                .unwrap()
                .name,
            "PROD-MAIN"
        );
        assert!(customers::find_by_name(&store, &carl, "beta")
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            environments::list(&store, &admin(), None)
                .await
                .unwrap()
                .len(),
            4
        );
    }
}

#[tokio::test]
async fn pair_is_created_whole_and_hides_database_passwords() {
    for (_db, store) in stores("pair").await {
        let a = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let p = environments::create_pair(&store, &admin(), pair(&a.id))
            .await
            .unwrap();
        assert_eq!(
            (p.main.name.as_str(), p.test.name.as_str()),
            ("PROD-MAIN", "PROD-TEST")
        );
        assert_eq!(p.main.pair_id, p.test.pair_id);
        assert_eq!(p.main.state, EnvState::Active);
        assert_eq!(
            p.main.database.as_deref(),
            Some("postgres://app:***@db/main")
        );
        assert_eq!(
            environments::database_url(&store, &admin(), &p.main.id)
                .await
                .unwrap()
                .as_deref(),
            Some("postgres://app:s3cret@db/main")
        );
        // Same label again: conflict, and neither member is written.
        let before = count(&store, "environments").await;
        let err = environments::create_pair(&store, &admin(), pair(&a.id))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(count(&store, "environments").await, before);
    }
}

#[tokio::test]
async fn illegal_environment_transition_changes_nothing() {
    for (_db, store) in stores("env_state").await {
        let a = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let p = environments::create_pair(&store, &admin(), pair(&a.id))
            .await
            .unwrap();
        let events = count(&store, "audit_events").await;
        let err =
            environments::set_state(&store, &admin(), &p.main.id, EnvState::Provisioning, None)
                .await
                .unwrap_err();
        assert!(err.to_string().contains("cannot go from `active`"), "{err}");
        assert_eq!(count(&store, "audit_events").await, events);
        let env = environments::set_state(
            &store,
            &admin(),
            &p.main.id,
            EnvState::Maintenance,
            Some("upgrade UPG-7"),
        )
        .await
        .unwrap();
        assert_eq!(env.state, EnvState::Maintenance);
        assert_eq!(count(&store, "audit_events").await, events + 1);
    }
}

#[tokio::test]
async fn passwords_and_tokens_authenticate_the_right_person() {
    for (_db, store) in stores("users").await {
        let a = customers::create(&store, &admin(), "Alpha", "Europe/Berlin")
            .await
            .unwrap();
        let user = users::create(
            &store,
            &admin(),
            NewUser {
                username: "vera.lead".into(),
                display_name: "Vera Lead".into(),
                email: Some("vera@alpha.example".into()),
                role: Role::CustomerAdmin,
                customer_id: Some(a.id.clone()),
                password: "correct horse battery".into(),
            },
        )
        .await
        .unwrap();
        let ok = users::authenticate_password(&store, "vera.lead", "correct horse battery")
            .await
            .unwrap();
        assert_eq!(ok.actor().customer_id.as_deref(), Some(a.id.as_str()));
        assert!(matches!(
            users::authenticate_password(&store, "vera.lead", "wrong horse battery").await,
            Err(StoreError::Unauthenticated)
        ));
        assert!(matches!(
            users::authenticate_password(&store, "nobody", "correct horse battery").await,
            Err(StoreError::Unauthenticated)
        ));
        let (_, secret) = users::create_token(&store, &user.actor(), &user.id, "ci")
            .await
            .unwrap();
        assert!(secret.starts_with("valet_"));
        assert_eq!(
            users::authenticate_token(&store, &secret).await.unwrap().id,
            user.id
        );
        assert!(users::authenticate_token(&store, "valet_0000")
            .await
            .is_err());
        let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(!hashes.contains(&secret), "only the hash is stored");
    }
}

#[tokio::test]
async fn customer_roles_need_a_customer_and_vendor_roles_must_not_have_one() {
    for (_db, store) in stores("roles").await {
        let new = |role, customer_id| NewUser {
            username: "x.y".into(),
            display_name: "X".into(),
            email: None,
            role,
            customer_id,
            password: "long enough password".into(),
        };
        assert!(
            users::create(&store, &admin(), new(Role::CustomerUser, None))
                .await
                .is_err()
        );
        assert!(
            users::create(&store, &admin(), new(Role::VendorPm, Some("c".into())))
                .await
                .is_err()
        );
        let pm = users::create(&store, &admin(), new(Role::VendorPm, None))
            .await
            .unwrap();
        assert!(
            users::create(&store, &pm.actor(), new(Role::Admin, None))
                .await
                .is_err(),
            "a PM may not create users"
        );
        assert_eq!(count(&store, "users").await, 1);
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_refuse_a_newer_schema() {
    for (db, store) in stores("migrate").await {
        assert_eq!(
            store.schema_version().await.unwrap(),
            valet_store::SCHEMA_VERSION
        );
        assert!(store.migrate().await.unwrap().is_empty());
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at)
             VALUES (99, 'future', 'x', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
        let err = valet_store::Store::open(&db.url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
