//! The VAL cycle through the JSON API: filing, approval (e-signed), extension, findings,
//! sign-off, attachments, documents, the event stream, and tenant isolation from outside.

mod helpers;

use helpers::{spawn_app, TestApp};
use serde_json::{json, Value};
use valet_core::{Actor, RequestState, Role, Tier};
use valet_store::environments::{self, MemberSpec, NewPair};
use valet_store::requests;
use valet_store::users::{self, NewUser};

/// The password `spawn_app` gives each tenant's customer admin.
const CUSTOMER_PASSWORD: &str = "a long test password";
const PM_PASSWORD: &str = "pm signing password 42";
const TARGET: &str = "24.3.0.1300";

/// An app with the clinic catalog, a PROD pair per tenant on 24.2.1.1201, a PM and a
/// read-only customer user of Alpha.
struct Cycle {
    app: TestApp,
    /// Alpha's PROD pair (pair id).
    pair: String,
    /// Beta's PROD pair (pair id).
    beta_pair: String,
    pm: String,
    viewer: String,
}

async fn import(app: &TestApp, v: &str) {
    let path = format!(
        "{}/../../examples/clinic/releases/{v}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
        .bearer_auth(&app.admin_token)
        .body(std::fs::read_to_string(path).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "import {v}");
}

async fn publish(app: &TestApp, build: &str) {
    let r = app
        .post(
            &format!("/api/v1/releases/{build}/publish"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200, "publish {build}");
}

async fn user(app: &TestApp, username: &str, role: Role, customer: Option<&str>) -> String {
    let system = Actor::system();
    let u = users::create(
        &app.store,
        &system,
        NewUser {
            username: username.into(),
            display_name: format!("{username} (test)"),
            email: None,
            role,
            customer_id: customer.map(str::to_string),
            password: PM_PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    users::create_token(&app.store, &system, &u.id, "test")
        .await
        .unwrap()
        .1
}

async fn prod_pair(app: &TestApp, customer: &str) -> String {
    environments::create_pair(
        &app.store,
        &Actor::system(),
        NewPair {
            customer_id: customer.into(),
            tier: Tier::Prod,
            label: Some("CLINIC".into()),
            build: Some("24.2.1.1201".into()),
            state: None,
            main: MemberSpec::default(),
            test: MemberSpec::default(),
            request_id: None,
            expires_at: None,
        },
    )
    .await
    .unwrap()
    .pair_id
}

/// `publish_target`: whether 24.3 is published (the older builds always are).
async fn cycle(publish_target: bool) -> Cycle {
    let app = spawn_app().await;
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        import(&app, v).await;
    }
    for b in ["24.1.0.1042", "24.2.0.1187", "24.2.1.1201"] {
        publish(&app, b).await;
    }
    if publish_target {
        publish(&app, TARGET).await;
    }
    let pair = prod_pair(&app, &app.alpha.customer_id).await;
    let beta_pair = prod_pair(&app, &app.beta.customer_id).await;
    let pm = user(&app, "pam.pm", Role::VendorPm, None).await;
    let viewer = user(
        &app,
        "alpha.viewer",
        Role::CustomerUser,
        Some(&app.alpha.customer_id),
    )
    .await;
    Cycle {
        app,
        pair,
        beta_pair,
        pm,
        viewer,
    }
}

fn day(offset: i64) -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
        .to_string()
}

fn val_input(pair: &str, build: &str) -> Value {
    json!({
        "pair": pair,
        "build": build,
        "begin": day(7),
        "end": day(67),
        "sso_required": false,
        "lab": "lab.example.test:2575, contact lab@example.test",
        "purpose": "validate 24.3",
    })
}

fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

impl Cycle {
    async fn file(&self) -> String {
        let r = self
            .app
            .post(
                "/api/v1/requests/val",
                &self.app.alpha.token,
                val_input(&self.pair, TARGET),
            )
            .await;
        assert_eq!(r.status(), 201);
        json_of(r).await["key"].as_str().unwrap().to_string()
    }

    async fn approve(&self, key: &str) {
        let r = self
            .app
            .post(
                &format!("/api/v1/requests/{key}/approve"),
                &self.pm,
                json!({ "password": PM_PASSWORD, "comment": "go" }),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    async fn view(&self, key: &str) -> Value {
        let r = self
            .app
            .get(&format!("/api/v1/requests/{key}"), &self.app.alpha.token)
            .await;
        assert_eq!(r.status(), 200);
        json_of(r).await
    }

    /// What the provisioning run would have done: the pair runs and the request is in progress.
    async fn provisioned(&self, key: &str) {
        let store = &self.app.store;
        let system = Actor::system();
        requests::transition(store, &system, key, RequestState::InProgress, None)
            .await
            .unwrap();
        let mut tx = store.write().await.unwrap();
        requests::update_details_in(
            &mut tx,
            store.now(),
            &system,
            key,
            json!({ "provisioned": true }),
            "request.provisioned",
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn document(&self, key: &str) -> (String, Vec<u8>) {
        let store = &self.app.store;
        let r = requests::get(store, &Actor::system(), key).await.unwrap();
        let pdf = b"%PDF-1.7 test IQ report".to_vec();
        let d = valet_store::documents::store_document(
            store,
            &Actor::system(),
            &r,
            &format!("IQ-{key}-1"),
            "iq",
            "IQ report",
            "0".repeat(64).as_str(),
            "<html><body>IQ report</body></html>",
            &pdf,
        )
        .await
        .unwrap();
        (d.id, pdf)
    }
}

#[tokio::test]
async fn bad_val_input_is_a_400_naming_each_field_and_creates_nothing() {
    let c = cycle(false).await;
    let app = &c.app;
    let unpublished = app
        .post(
            "/api/v1/requests/val",
            &app.alpha.token,
            val_input(&c.pair, TARGET),
        )
        .await;
    assert_eq!(unpublished.status(), 400);
    assert_eq!(fields(&json_of(unpublished).await), vec!["build"]);
    publish(app, TARGET).await;

    let with = |patch: Value| {
        let mut v = val_input(&c.pair, TARGET);
        for (k, x) in patch.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let cases = [
        (
            "older build",
            with(json!({ "build": "24.2.0.1187" })),
            vec!["build"],
        ),
        (
            "end before begin",
            with(json!({ "begin": day(30), "end": day(20) })),
            vec!["end"],
        ),
        (
            "unknown pair",
            with(json!({ "pair": "no-such-pair" })),
            vec!["pair"],
        ),
        (
            "SSO without metadata",
            with(json!({ "sso_required": true })),
            vec!["sso_metadata"],
        ),
        (
            "another tenant's pair",
            with(json!({ "pair": c.beta_pair })),
            vec!["pair"],
        ),
        (
            "everything at once",
            with(
                json!({ "pair": "", "build": "", "begin": "soon", "end": day(1),
                         "sso_required": true }),
            ),
            vec!["pair", "build", "begin", "sso_metadata"],
        ),
    ];
    for (what, body, expected) in cases {
        let r = app
            .post("/api/v1/requests/val", &app.alpha.token, body)
            .await;
        assert_eq!(r.status(), 400, "{what}");
        let body = json_of(r).await;
        assert_eq!(body["error"], "bad_request", "{what}");
        let got = fields(&body);
        for f in &expected {
            assert!(got.contains(&f.to_string()), "{what}: {f} not in {got:?}");
        }
        assert_eq!(got.len(), expected.len(), "{what}: {got:?}");
    }
    let listed = json_of(app.get("/api/v1/requests", &app.admin_token).await).await;
    assert_eq!(listed, json!([]), "no bad input created a request");

    let key = c.file().await;
    assert_eq!(key, "VAL-1", "refused input took no number");
    let dup = app
        .post(
            "/api/v1/requests/val",
            &app.alpha.token,
            val_input(&c.pair, TARGET),
        )
        .await;
    assert_eq!(dup.status(), 409);
    assert!(json_of(dup).await["message"]
        .as_str()
        .unwrap()
        .contains("VAL-1"));
    let listed = json_of(app.get("/api/v1/requests?kind=val", &app.alpha.token).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["state"], "submitted");
    let bad_filter = app
        .get("/api/v1/requests?state=sleeping", &app.alpha.token)
        .await;
    assert_eq!(bad_filter.status(), 400);
    assert_eq!(fields(&json_of(bad_filter).await), vec!["state"]);
}

#[tokio::test]
async fn customer_user_cannot_file_or_approve() {
    let c = cycle(true).await;
    let app = &c.app;
    let r = app
        .post(
            "/api/v1/requests/val",
            &c.viewer,
            val_input(&c.pair, TARGET),
        )
        .await;
    assert_eq!(r.status(), 403);
    let key = c.file().await;
    for (path, body) in [
        ("approve", json!({ "password": PM_PASSWORD })),
        (
            "extension",
            json!({ "end": day(90), "reason": "more time" }),
        ),
        (
            "findings",
            json!({ "title": "t", "severity": "minor", "area": "integration", "steps": "s" }),
        ),
    ] {
        let r = app
            .post(&format!("/api/v1/requests/{key}/{path}"), &c.viewer, body)
            .await;
        assert_eq!(r.status(), 403, "{path}");
    }
    let v = c.view(&key).await;
    assert_eq!(v["request"]["state"], "submitted");
    assert_eq!(v["signatures"], json!([]));
    assert_eq!(v["findings"], json!([]));
    assert!(v["request"]["details"]["extension_requested"].is_null());
    // Reading is what the role is for.
    let r = app.get(&format!("/api/v1/requests/{key}"), &c.viewer).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn pm_approval_needs_the_password_and_queues_a_provisioning_run() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    let approve = format!("/api/v1/requests/{key}/approve");

    let r = app.post(&approve, &c.pm, json!({ "comment": "ok" })).await;
    assert_eq!(r.status(), 400);
    let body = json_of(r).await;
    assert_eq!(fields(&body), vec!["password"]);
    assert!(body["message"].as_str().unwrap().contains("password"));
    let r = app
        .client
        .post(app.url(&approve))
        .bearer_auth(&c.pm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no body at all");
    assert_eq!(fields(&json_of(r).await), vec!["password"]);
    let r = app
        .post(&approve, &c.pm, json!({ "password": "not my password" }))
        .await;
    assert_eq!(r.status(), 403);
    assert!(json_of(r).await["message"]
        .as_str()
        .unwrap()
        .contains("nothing was signed"));
    let r = app
        .post(
            &approve,
            &app.alpha.token,
            json!({ "password": CUSTOMER_PASSWORD }),
        )
        .await;
    assert_eq!(r.status(), 403, "a customer admin does not approve");
    let v = c.view(&key).await;
    assert_eq!(v["request"]["state"], "submitted");
    assert_eq!(v["signatures"], json!([]));
    assert_eq!(v["runs"], json!([]));

    let r = app
        .post(
            &approve,
            &c.pm,
            json!({ "password": PM_PASSWORD, "comment": "approved for the 24.3 cycle" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["state"], "scheduled");
    let v = c.view(&key).await;
    assert_eq!(v["request"]["state"], "scheduled");
    let sigs = v["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["meaning"], "approved");
    assert_eq!(sigs[0]["username"], "pam.pm");
    assert_eq!(sigs[0]["changed_after_signing"], false);
    assert_eq!(sigs[0]["record_sha256"], v["content_sha256"]);
    assert_eq!(v["val_pair"]["main"]["name"], format!("{key}-MAIN"));
    let run = &v["runs"][0];
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(run["kind"], "provision");
    assert_eq!(run["state"], "queued", "no worker in these tests");
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["env"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(steps[0], ("clone", "MAIN"));
    assert_eq!(steps[1], ("clone", "TEST"));
    assert!(steps.contains(&("iq_report", "-")));
    assert_eq!(steps.last(), Some(&("notify", "-")));
    assert!(run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "pending"));

    let runs = json_of(
        app.get(&format!("/api/v1/requests/{key}/runs"), &app.alpha.token)
            .await,
    )
    .await;
    assert_eq!(runs, v["runs"]);
    let id = run["id"].as_str().unwrap();
    let one = json_of(
        app.get(&format!("/api/v1/runs/{id}"), &app.alpha.token)
            .await,
    )
    .await;
    assert_eq!(&one, run);

    let history = json_of(
        app.get(&format!("/api/v1/requests/{key}/history"), &app.alpha.token)
            .await,
    )
    .await;
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "request.create", "oldest first: {actions:?}");
    assert!(actions.contains(&"request.state"), "{actions:?}");
}

#[tokio::test]
async fn approval_shows_changed_after_signing_once_an_extension_is_approved() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    c.approve(&key).await;
    let r = app
        .post(
            &format!("/api/v1/requests/{key}/extension"),
            &app.alpha.token,
            json!({ "end": day(60), "reason": "more time" }),
        )
        .await;
    assert_eq!(r.status(), 400, "an earlier end is no extension");
    assert_eq!(fields(&json_of(r).await), vec!["end"]);
    let r = app
        .post(
            &format!("/api/v1/requests/{key}/extension"),
            &app.alpha.token,
            json!({ "end": day(97), "reason": "interface tests need a month more" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        json_of(r).await["details"]["extension_requested"]["end"],
        day(97)
    );
    let v = c.view(&key).await;
    assert_eq!(
        v["signatures"][0]["changed_after_signing"], false,
        "a pending extension does not change what was approved"
    );
    let approve_ext = format!("/api/v1/requests/{key}/extension/approve");
    let r = app.post(&approve_ext, &app.alpha.token, json!({})).await;
    assert_eq!(
        r.status(),
        403,
        "the customer does not approve its own extension"
    );
    let r = app.post(&approve_ext, &c.pm, json!({})).await;
    assert_eq!(r.status(), 200);
    let v = c.view(&key).await;
    assert_eq!(v["request"]["details"]["end"], day(97));
    assert_eq!(v["signatures"][0]["changed_after_signing"], true);
    assert_ne!(v["signatures"][0]["record_sha256"], v["content_sha256"]);
    let r = app.post(&approve_ext, &c.pm, json!({})).await;
    assert_eq!(r.status(), 400, "nothing pending any more");
}

#[tokio::test]
async fn findings_go_through_their_life_and_open_ones_block_sign_off() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    c.approve(&key).await;
    let sign = format!("/api/v1/requests/{key}/signatures");
    let sign_off = json!({ "password": CUSTOMER_PASSWORD, "meaning": "validated" });

    let r = app.post(&sign, &app.alpha.token, sign_off.clone()).await;
    assert_eq!(
        r.status(),
        409,
        "no sign-off before the VAL pair is provisioned"
    );
    c.provisioned(&key).await;

    let findings = format!("/api/v1/requests/{key}/findings");
    let r = app
        .post(&findings, &app.alpha.token, json!({ "severity": "huge" }))
        .await;
    assert_eq!(r.status(), 400);
    let mut got = fields(&json_of(r).await);
    got.sort();
    assert_eq!(got, vec!["area", "severity", "steps", "title"]);
    let r = app
        .post(
            &findings,
            &app.alpha.token,
            json!({ "title": "Dose report shows the wrong unit", "severity": "major",
                    "area": "configuration_item", "steps": "open report D-7; see mg/L" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let f1 = json_of(r).await;
    assert_eq!(f1["state"], "open");
    let f1 = f1["key"].as_str().unwrap().to_string();

    let r = app.post(&sign, &app.alpha.token, sign_off.clone()).await;
    assert_eq!(r.status(), 400);
    assert!(json_of(r).await["message"].as_str().unwrap().contains(&f1));

    let r = app
        .post(
            &format!("/api/v1/findings/{f1}/answer"),
            &c.pm,
            json!({ "body": "the report's unit is configured per study; fixed in your VAL" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["comments"].as_array().unwrap().len(), 1);
    let r = app
        .post(
            &format!("/api/v1/findings/{f1}/resolve"),
            &app.alpha.token,
            json!({ "text": "I fixed it myself" }),
        )
        .await;
    assert_eq!(r.status(), 403, "the vendor resolves");
    let r = app
        .post(
            &format!("/api/v1/findings/{f1}/resolve"),
            &c.pm,
            json!({ "text": "unit set to mg/L per study" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["state"], "resolved");

    let r = app
        .post(
            &findings,
            &app.alpha.token,
            json!({ "title": "Lab import is slow", "severity": "minor",
                    "area": "integration", "steps": "import 500 results; takes 40 s" }),
        )
        .await;
    let f2 = json_of(r).await["key"].as_str().unwrap().to_string();
    let accept = format!("/api/v1/findings/{f2}/accept");
    let r = app.post(&accept, &app.alpha.token, json!({})).await;
    assert_eq!(r.status(), 400, "accepting needs a reason");
    let r = app
        .post(
            &accept,
            &app.alpha.token,
            json!({ "text": "acceptable for our volumes" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r).await["state"], "accepted");

    let list = json_of(app.get(&findings, &app.alpha.token).await).await;
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap(), f["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(f1.as_str(), "resolved"), (f2.as_str(), "accepted")]
    );
    let one = json_of(
        app.get(&format!("/api/v1/findings/{f1}"), &app.alpha.token)
            .await,
    )
    .await;
    assert_eq!(one["comments"][0]["author_name"], "pam.pm");

    let r = app
        .post(&sign, &app.alpha.token, json!({ "meaning": "validated" }))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(fields(&json_of(r).await), vec!["password"]);
    let r = app
        .post(
            &sign,
            &app.alpha.token,
            json!({ "password": "wrong password!", "meaning": "validated" }),
        )
        .await;
    assert_eq!(r.status(), 403);
    let v = c.view(&key).await;
    assert_eq!(
        v["signatures"].as_array().unwrap().len(),
        1,
        "nothing signed"
    );
    assert!(v["request"]["details"]["signed_off"].is_null());

    let r = app.post(&sign, &app.alpha.token, sign_off).await;
    assert_eq!(r.status(), 201);
    let s = json_of(r).await;
    assert_eq!(s["meaning"], "validated");
    assert_eq!(s["username"], "alpha.user");
    let v = c.view(&key).await;
    assert_eq!(v["request"]["details"]["signed_off"]["signature"], s["id"]);
    assert!(v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["changed_after_signing"] == false));
}

#[tokio::test]
async fn another_tenants_customer_gets_404_for_everything_of_the_request() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    c.approve(&key).await;
    let finding = json_of(
        app.post(
            &format!("/api/v1/requests/{key}/findings"),
            &app.alpha.token,
            json!({ "title": "t", "severity": "minor", "area": "integration", "steps": "s" }),
        )
        .await,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    let attachment = json_of(
        app.post(
            &format!("/api/v1/requests/{key}/attachments"),
            &app.alpha.token,
            json!({ "name": "plan.txt", "content_type": "text/plain",
                    "content_base64": "cGxhbg==" }),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let view = c.view(&key).await;
    let run = view["runs"][0]["id"].as_str().unwrap().to_string();
    let (doc, _) = c.document(&key).await;

    let gets = [
        format!("/api/v1/requests/{key}"),
        format!("/api/v1/requests/{key}/history"),
        format!("/api/v1/requests/{key}/comments"),
        format!("/api/v1/requests/{key}/attachments"),
        format!("/api/v1/requests/{key}/attachments/{attachment}"),
        format!("/api/v1/requests/{key}/findings"),
        format!("/api/v1/findings/{finding}"),
        format!("/api/v1/requests/{key}/runs"),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/requests/{key}/events"),
        format!("/api/v1/requests/{key}/documents"),
        format!("/api/v1/documents/{doc}"),
        format!("/api/v1/documents/{doc}?format=html"),
    ];
    for path in &gets {
        let own = app.get(path, &app.alpha.token).await;
        assert_eq!(own.status(), 200, "{path} as its tenant");
        drop(own);
        let other = app.get(path, &app.beta.token).await;
        assert_eq!(other.status(), 404, "{path} as another tenant");
        assert_eq!(json_of(other).await["error"], "not_found", "{path}");
    }
    let listed = json_of(app.get("/api/v1/requests", &app.beta.token).await).await;
    assert_eq!(listed, json!([]));

    let signing = json!({ "password": CUSTOMER_PASSWORD, "meaning": "reviewed" });
    let posts = [
        (format!("/api/v1/requests/{key}/approve"), signing.clone()),
        (
            format!("/api/v1/requests/{key}/reject"),
            json!({ "reason": "x" }),
        ),
        (
            format!("/api/v1/requests/{key}/cancel"),
            json!({ "reason": "x" }),
        ),
        (
            format!("/api/v1/requests/{key}/close"),
            json!({ "reason": "x" }),
        ),
        (format!("/api/v1/requests/{key}/retry"), json!({})),
        (
            format!("/api/v1/requests/{key}/extension"),
            json!({ "end": day(120), "reason": "x" }),
        ),
        (
            format!("/api/v1/requests/{key}/extension/approve"),
            json!({}),
        ),
        (
            format!("/api/v1/requests/{key}/signatures"),
            signing.clone(),
        ),
        (
            format!("/api/v1/requests/{key}/comments"),
            json!({ "body": "hi" }),
        ),
        (
            format!("/api/v1/requests/{key}/watchers"),
            json!({ "watch": true }),
        ),
        (
            format!("/api/v1/requests/{key}/attachments"),
            json!({ "name": "x.txt", "content_base64": "eA==" }),
        ),
        (
            format!("/api/v1/requests/{key}/findings"),
            json!({ "title": "t", "severity": "minor", "area": "integration", "steps": "s" }),
        ),
        (
            format!("/api/v1/findings/{finding}/answer"),
            json!({ "body": "x" }),
        ),
        (
            format!("/api/v1/findings/{finding}/resolve"),
            json!({ "text": "x" }),
        ),
        (
            format!("/api/v1/findings/{finding}/accept"),
            json!({ "text": "x" }),
        ),
        (
            format!("/api/v1/findings/{finding}/reopen"),
            json!({ "text": "x" }),
        ),
    ];
    for (path, body) in &posts {
        let r = app.post(path, &app.beta.token, body.clone()).await;
        assert_eq!(r.status(), 404, "POST {path} as another tenant");
    }
    let after = c.view(&key).await;
    for part in [
        "request",
        "signatures",
        "findings",
        "comments",
        "watchers",
        "attachments",
    ] {
        assert_eq!(after[part], view[part], "{part} unchanged");
    }
}

#[tokio::test]
async fn attachments_round_trip_and_oversized_ones_are_refused() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    let path = format!("/api/v1/requests/{key}/attachments");
    let r = app
        .post(
            &path,
            &app.alpha.token,
            json!({ "name": "Prüfplan.txt", "content_type": "text/plain",
                    "content_base64": "dGVzdCBwbGFu" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let a = json_of(r).await;
    assert_eq!(a["size"], 9);
    let r = app
        .get(
            &format!("{path}/{}", a["id"].as_str().unwrap()),
            &app.alpha.token,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"Pr_fplan.txt\"; filename*=UTF-8''Pr%C3%BCfplan.txt"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"test plan");
    let listed = json_of(app.get(&path, &app.alpha.token).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let r = app
        .post(
            &path,
            &app.alpha.token,
            json!({ "name": "x.bin", "content_base64": "not base64!" }),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(fields(&json_of(r).await), vec!["content_base64"]);

    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let just_over = b64.encode(vec![7u8; valet_store::requests::MAX_ATTACHMENT + 1]);
    let far_over = b64.encode(vec![7u8; valet_store::requests::MAX_ATTACHMENT * 2]);
    for (what, content) in [("just over", just_over), ("far over", far_over)] {
        let r = app
            .post(
                &path,
                &app.alpha.token,
                json!({ "name": "big.bin", "content_base64": content }),
            )
            .await;
        assert_eq!(r.status(), 413, "{what}");
        let body = json_of(r).await;
        assert_eq!(body["error"], "too_large");
        assert!(
            body["message"].as_str().unwrap().contains("8 MiB"),
            "{what}: {body}"
        );
    }
    let listed = json_of(app.get(&path, &app.alpha.token).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing more attached");
}

#[tokio::test]
async fn documents_download_as_pdf_or_html_with_their_file_name() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    let (doc, pdf) = c.document(&key).await;
    let listed = json_of(
        app.get(
            &format!("/api/v1/requests/{key}/documents"),
            &app.alpha.token,
        )
        .await,
    )
    .await;
    assert_eq!(listed[0]["id"], doc.as_str());

    let r = app
        .get(&format!("/api/v1/documents/{doc}"), &app.alpha.token)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("filename=\"{doc}.pdf\"")));
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());

    let r = app
        .get(
            &format!("/api/v1/documents/{doc}?format=html"),
            &app.alpha.token,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("filename=\"{doc}.html\"")));
    assert!(r.text().await.unwrap().contains("IQ report"));

    let r = app
        .get(
            &format!("/api/v1/documents/{doc}?format=docx"),
            &app.alpha.token,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(fields(&json_of(r).await), vec!["format"]);
}

/// Reads the event stream until an event of `kind` arrives; returns its data.
async fn next_event(r: &mut reqwest::Response, buf: &mut String, kind: &str) -> Value {
    let wanted = format!("event: {kind}\n");
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.starts_with(&wanted) || block.contains(&format!("\n{wanted}")) {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("event with data");
                return serde_json::from_str(data).unwrap();
            }
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("stream still open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn event_stream_sends_the_latest_run_and_state_changes() {
    let c = cycle(true).await;
    let app = &c.app;
    let key = c.file().await;
    c.approve(&key).await;
    let mut r = app
        .get(&format!("/api/v1/requests/{key}/events"), &app.alpha.token)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut buf = String::new();
    let run = next_event(&mut r, &mut buf, "run").await;
    assert_eq!(run["kind"], "provision");
    assert_eq!(run["state"], "queued");
    let req = next_event(&mut r, &mut buf, "request").await;
    assert_eq!(req["state"], "scheduled");

    c.provisioned(&key).await;
    let req = next_event(&mut r, &mut buf, "request").await;
    assert_eq!(req["state"], "in_progress");

    let run_id = run["id"].as_str().unwrap();
    valet_store::runs::start(&app.store, &Actor::system(), run_id)
        .await
        .unwrap();
    let run = next_event(&mut r, &mut buf, "run").await;
    assert_eq!(run["state"], "running");
}
