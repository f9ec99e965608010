//! Hotfix acceptance over HTTP: publishing a hotfix notifies the customers it is offered to;
//! the inbox lists it per PROD pair; a customer admin accepts (filing `HFX-N`, scheduled like
//! any upgrade) or declines, e-signed; another tenant's pair is a 404; a second decision is a
//! 409; a hotfix request without an acceptance on record cannot be scheduled; version lag
//! stops counting a decided hotfix.

mod helpers;

use helpers::{spawn_app, TestApp};
use serde_json::{json, Value};
use valet_core::{Actor, Role};
use valet_store::users::{self, NewUser};

const PASSWORD: &str = "a long test password";

async fn vendor(app: &TestApp, name: &str, role: Role) -> String {
    let system = Actor::system();
    let u = users::create(
        &app.store,
        &system,
        NewUser {
            username: name.into(),
            display_name: format!("{name} (test)"),
            email: Some(format!("{name}@vendor.test")),
            role,
            customer_id: None,
            password: PASSWORD.into(),
        },
    )
    .await
    .unwrap();
    users::create_token(&app.store, &system, &u.id, "test")
        .await
        .unwrap()
        .1
}

async fn import(app: &TestApp, v: &str, build: &str, publish: bool) {
    let dir = format!(
        "{}/../../examples/clinic/releases",
        env!("CARGO_MANIFEST_DIR")
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
        .bearer_auth(&app.admin_token)
        .body(std::fs::read_to_string(format!("{dir}/{v}.toml")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    if publish {
        let r = app
            .post(
                &format!("/api/v1/releases/{build}/publish"),
                &app.admin_token,
                json!({}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
}

async fn pair(app: &TestApp, env_id: &str) -> String {
    valet_store::environments::get(&app.store, &Actor::system(), env_id)
        .await
        .unwrap()
        .pair_id
}

/// A weekday `days` or more ahead, as `YYYY-MM-DD`.
fn weekday_ahead(days: i64) -> String {
    let mut d = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    while matches!(
        d.weekday(),
        jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
    ) {
        d = d.tomorrow().unwrap();
    }
    d.to_string()
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn hotfix_is_announced_decided_per_pair_and_scheduled_only_when_accepted() {
    let app = spawn_app().await;
    let pm = vendor(&app, "pam", Role::VendorPm).await;
    vendor(&app, "eddie", Role::VendorEngineer).await;
    import(&app, "24.2", "24.2.0.1187", true).await;
    import(&app, "24.2.1", "24.2.1.1201", false).await;
    let alpha_pair = pair(&app, &app.alpha.env_id).await;
    let beta_pair = pair(&app, &app.beta.env_id).await;

    // Not published yet: nothing in the inbox.
    let (s, inbox) = json_of(app.get("/api/v1/hotfixes", &app.alpha.token).await).await;
    assert_eq!((s, inbox.as_array().unwrap().len()), (200, 0));

    sqlx::query(
        "UPDATE users SET email = username || '@customer.test' WHERE role = 'customer_admin'",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let r = app
        .post("/api/v1/releases/24.2.1.1201/publish", &pm, json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let told: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT customer_id) FROM notifications WHERE event = 'hotfix.published'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert_eq!(told, 2, "both tenants run 24.2.0");

    let (s, inbox) = json_of(app.get("/api/v1/hotfixes", &app.alpha.token).await).await;
    assert_eq!(s, 200);
    let items = inbox.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["release"]["build"], "24.2.1.1201");
    assert_eq!(items[0]["release"]["severity"], "high");
    assert!(items[0]["notes"].as_array().unwrap().len() >= 3);
    let pairs = items[0]["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "only its own pair: {pairs:?}");
    assert_eq!(pairs[0]["pair_id"], json!(alpha_pair));
    assert_eq!(pairs[0]["state"], "undecided");

    let day = weekday_ahead(10);
    let accept = |pair: &str, password: &str| {
        json!({
            "pair": pair, "password": password,
            "slots": [format!("{day} 09:00-10:00 Europe/Berlin"), format!("{day} 13:00-14:00 Europe/Berlin")],
            "preferred": 2, "downtime_minutes": 20, "note": "after the morning dosing",
        })
    };
    // Another tenant's pair is not found, for accept and decline alike.
    let (s, _) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/accept",
            &app.alpha.token,
            accept(&beta_pair, PASSWORD),
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/decline",
            &app.alpha.token,
            json!({ "pair": beta_pair, "password": PASSWORD, "reason": "x" }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 404);
    // The vendor cannot accept for the customer; a missing or wrong password signs nothing.
    let (s, _) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/accept",
            &pm,
            accept(&alpha_pair, PASSWORD),
        )
        .await,
    )
    .await;
    assert_eq!(s, 403);
    let (s, body) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/accept",
            &app.alpha.token,
            accept(&alpha_pair, ""),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/accept",
            &app.alpha.token,
            accept(&alpha_pair, "not the password"),
        )
        .await,
    )
    .await;
    assert_eq!(s, 403);
    // Nor is the hotfix taken as an ordinary upgrade request.
    let (s, body) = json_of(
        app.post(
            "/api/v1/requests/upgrade",
            &app.alpha.token,
            json!({ "pair": alpha_pair, "build": "24.2.1.1201",
                    "slots": [format!("{day} 09:00-10:00 Europe/Berlin")], "downtime_minutes": 20 }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.to_string().contains("hotfixes/24.2.1.1201/accept"),
        "{body}"
    );

    let (s, hfx) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/accept",
            &app.alpha.token,
            accept(&alpha_pair, PASSWORD),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{hfx}");
    assert_eq!(hfx["key"], "HFX-1");
    assert_eq!(hfx["kind"], "hotfix");
    assert_eq!(hfx["details"]["build"], "24.2.1.1201");
    assert_eq!(hfx["details"]["notice_days"], 7);
    assert_eq!(hfx["details"]["slots"][1]["preferred"], true);
    // One decision per hotfix and pair.
    for (path, body) in [
        ("accept", accept(&alpha_pair, PASSWORD)),
        (
            "decline",
            json!({ "pair": alpha_pair, "password": PASSWORD, "reason": "no" }),
        ),
    ] {
        let (s, _) = json_of(
            app.post(
                &format!("/api/v1/hotfixes/24.2.1.1201/{path}"),
                &app.alpha.token,
                body,
            )
            .await,
        )
        .await;
        assert_eq!(s, 409, "{path}");
    }

    // The PM schedules HFX-1 like any upgrade.
    let (s, a) = json_of(app.get("/api/v1/requests/HFX-1/schedule", &pm).await).await;
    assert_eq!(s, 200, "{a}");
    let (s, booked) = json_of(
        app.post(
            "/api/v1/requests/HFX-1/schedule",
            &pm,
            json!({ "slot": 2, "engineer": "eddie" }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{booked}");
    assert_eq!(booked["request_key"], "HFX-1");

    // A hotfix request with no acceptance on record (written behind valet's back) is refused.
    let details = json!({
        "pair_id": alpha_pair, "build": "24.2.1.1201", "validated_build": null,
        "validated_in": null, "needs_build_override": false, "downtime_minutes": 10,
        "slots": hfx["details"]["slots"], "notice_days": 7, "note": null,
    });
    sqlx::query(
        "INSERT INTO requests (id, key, kind, customer_id, state, title, details, created_by, \
         created_at, updated_at) SELECT 'crafted', 'HFX-77', 'hotfix', customer_id, \
         'submitted', 'crafted', $1, created_by, created_at, updated_at FROM requests \
         WHERE key = 'HFX-1'",
    )
    .bind(details.to_string())
    .execute(app.store.pool())
    .await
    .unwrap();
    let (s, body) = json_of(
        app.post(
            "/api/v1/requests/HFX-77/schedule",
            &pm,
            json!({ "slot": 1, "engineer": "eddie" }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("hotfix not accepted"),
        "{body}"
    );

    // Beta declines, with a reason, e-signed; its lag no longer counts the hotfix.
    let (s, body) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/decline",
            &app.beta.token,
            json!({ "pair": beta_pair, "password": PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "a decline needs a reason: {body}");
    let (s, d) = json_of(
        app.post(
            "/api/v1/hotfixes/24.2.1.1201/decline",
            &app.beta.token,
            json!({ "pair": beta_pair, "password": PASSWORD, "reason": "our studies do not span the DST change" }),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["decision"], "declined");
    assert_eq!(d["meaning"], "declined");
    let (_, lag) = json_of(app.get("/api/v1/version-lag", &app.beta.token).await).await;
    assert!(lag
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["hotfixes_available"].as_array().unwrap().is_empty()));
    let (_, inbox) = json_of(app.get("/api/v1/hotfixes", &app.beta.token).await).await;
    assert_eq!(inbox[0]["pairs"][0]["state"], "declined");
    assert!(matches!(
        valet_store::audit::verify(&app.store).await.unwrap(),
        valet_store::audit::Verdict::Ok { .. }
    ));
}
