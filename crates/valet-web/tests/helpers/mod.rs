//! `spawn_app`: the real server on a random port over its own state database, with an admin
//! and two tenants each with a customer user, all holding API tokens.

#![allow(dead_code)]

mod conformance;

use std::sync::Arc;

pub use conformance::Conformance;

use valet_core::{Actor, Role};
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::users::{self, NewUser};
use valet_store::{customers, Store};
use valet_testkit::TestDb;
use valet_web::AppState;

pub struct Tenant {
    pub customer_id: String,
    pub token: String,
    pub env_id: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub alpha: Tenant,
    pub beta: Tenant,
    pub store: Store,
    /// Every API answer so far, checked against the OpenAPI document.
    pub conformance: Arc<Conformance>,
    _db: TestDb,
}

impl Drop for TestApp {
    /// Fails the test whose calls got an answer the OpenAPI document does not describe.
    fn drop(&mut self) {
        let failures = self.conformance.failures();
        if !failures.is_empty() && !std::thread::panicking() {
            panic!(
                "{} of {} API answers differ from the OpenAPI document (fix the handler or \
                 its #[utoipa::path]):\n{}",
                failures.len(),
                self.conformance.checked(),
                failures.join("\n")
            );
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

async fn tenant(store: &Store, admin: &Actor, name: &str) -> Tenant {
    let c = customers::create(store, admin, name, "Europe/Berlin")
        .await
        .unwrap();
    let u = users::create(
        store,
        admin,
        NewUser {
            username: format!("{}.user", name.to_lowercase()),
            display_name: format!("{name} User"),
            email: None,
            role: Role::CustomerAdmin,
            customer_id: Some(c.id.clone()),
            password: "a long test password".into(),
        },
    )
    .await
    .unwrap();
    let (_, token) = users::create_token(store, admin, &u.id, "test")
        .await
        .unwrap();
    let pair = environments::create_pair(
        store,
        admin,
        NewPair {
            customer_id: c.id.clone(),
            tier: valet_core::Tier::Prod,
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
    Tenant {
        customer_id: c.id,
        token,
        env_id: pair.main.id,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|s| s).await
}

/// `spawn_app` with the server's state adjusted first (e.g. an app profile).
pub async fn spawn_app_with(configure: impl FnOnce(AppState) -> AppState) -> TestApp {
    let db = TestDb::sqlite("web");
    let store = Store::open(&db.url).await.unwrap();
    let system = Actor::system();
    let admin = users::create(
        &store,
        &system,
        NewUser {
            username: "admin".into(),
            display_name: "Ada Admin".into(),
            email: None,
            role: Role::Admin,
            customer_id: None,
            password: "admin password 123".into(),
        },
    )
    .await
    .unwrap();
    let (_, admin_token) = users::create_token(&store, &system, &admin.id, "test")
        .await
        .unwrap();
    let alpha = tenant(&store, &admin.actor(), "Alpha").await;
    let beta = tenant(&store, &admin.actor(), "Beta").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = configure(AppState::new(store.clone()));
    let conformance = Arc::new(Conformance::new());
    let app = valet_web::app(state).layer(axum::middleware::from_fn_with_state(
        conformance.clone(),
        conformance::check,
    ));
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestApp {
        base,
        client: reqwest::Client::new(),
        admin_token,
        alpha,
        beta,
        store,
        conformance,
        _db: db,
    }
}
