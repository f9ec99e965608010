mod helpers;

use helpers::{spawn_app, TestApp};
use reqwest::redirect::Policy;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let c = browser();
    let r = c
        .post(app.url("/login"))
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    c
}

/// Status and body with the HTML escapes the templates use undone, for plain `contains` checks.
async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    (status, body.replace("&#x2f;", "/").replace("&amp;", "&"))
}

#[tokio::test]
async fn pages_redirect_to_sign_in_and_back() {
    let app = spawn_app().await;
    let r = browser()
        .get(app.url("/releases?q=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Freleases%3Fq%3Dx");
    let (status, body) = page(&browser(), &app, "/login?next=%2Freleases").await;
    assert_eq!(status, 200);
    assert!(body.contains("name=\"next\" value=\"/releases\""), "{body}");
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_without_saying_which_part_was_wrong() {
    let app = spawn_app().await;
    let r = browser()
        .post(app.url("/login"))
        .form(&[("username", "alpha.user"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("Unknown username or wrong password."));
    assert!(body.contains("value=\"alpha.user\""), "username kept");
}

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    let app = spawn_app().await;
    let r = browser()
        .post(app.url("/login"))
        .form(&[
            ("username", "alpha.user"),
            ("password", "a long test password"),
            ("next", "//evil.example/phish"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn customer_pages_show_only_its_tenant() {
    let app = spawn_app().await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let (status, home) = page(&c, &app, "/").await;
    assert_eq!(status, 200);
    assert!(
        home.contains("Alpha") && home.contains("PROD-MAIN"),
        "{home}"
    );
    assert!(
        !home.contains("Beta"),
        "another tenant's name leaked: {home}"
    );
    // The API accepts the session too (downloads, embedded notes), still tenant-scoped.
    let (status, _) = page(
        &c,
        &app,
        &format!("/api/v1/environments/{}", app.beta.env_id),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = page(
        &c,
        &app,
        &format!("/api/v1/environments/{}", app.alpha.env_id),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn release_pages_hide_unpublished_builds_from_customers() {
    let app = spawn_app().await;
    let dir = format!(
        "{}/../../examples/clinic/releases",
        env!("CARGO_MANIFEST_DIR")
    );
    for v in ["24.1", "24.2", "24.2.1", "24.3"] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
            .bearer_auth(&app.admin_token)
            .body(std::fs::read_to_string(format!("{dir}/{v}.toml")).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    for b in ["24.1.0.1042", "24.2.0.1187"] {
        app.client
            .post(app.url(&format!("/api/v1/releases/{b}/publish")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
    }
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let (_, list) = page(&c, &app, "/releases").await;
    assert!(
        list.contains("24.2.0.1187") && !list.contains("24.3.0.1300"),
        "{list}"
    );
    let (status, body) = page(&c, &app, "/releases/24.3.0.1300").await;
    assert_eq!(status, 404);
    assert!(
        body.contains("<h1>Not found</h1>"),
        "an HTML page, not JSON: {body}"
    );
    let (_, notes) = page(&c, &app, "/notes").await;
    assert!(
        notes.contains("/api/v1/release-notes?from=24.1.0.1042&to=24.2.0.1187"),
        "{notes}"
    );
    let (_, search) = page(&c, &app, "/releases?q=consent").await;
    assert!(search.contains("0 notes match"), "{search}");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    assert_eq!(page(&c, &app, "/").await.0, 200);
    let r = c.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(page(&c, &app, "/").await.0, 303);
}

#[tokio::test]
async fn audit_page_shows_own_tenant_events_and_the_chain_state_to_vendors() {
    let app = spawn_app().await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let (status, body) = page(&c, &app, "/audit").await;
    assert_eq!(status, 200);
    assert!(body.contains("environment.create"), "{body}");
    assert!(
        !body.contains("chain intact"),
        "customers do not get the chain verdict"
    );
    assert!(!body.contains("\"Beta\""), "another tenant's events leaked");
    let admin = sign_in(&app, "admin", "admin password 123").await;
    let (_, body) = page(&admin, &app, "/audit").await;
    assert!(body.contains("chain intact"), "{body}");
    assert!(body.contains("customer.create"));
}
