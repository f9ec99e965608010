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

/// The CSRF token of the form on `path` (the sign-in page sets its cookie beside it).
async fn form_token(c: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let body = c
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    token_in(&body)
}

fn token_in(body: &str) -> String {
    let at = body
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field: {body}"));
    let rest = &body[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

async fn sign_in(app: &TestApp, user: &str, password: &str) -> reqwest::Client {
    let c = browser();
    let token = form_token(&c, app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("username", user),
            ("password", password),
            ("next", "/"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in");
    assert_eq!(r.headers()["location"], "/");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("valet_session="))
        .expect("a session cookie");
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
    let r = browser().get(app.url("/api")).send().await.unwrap();
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Fapi",
        "the API page needs a session"
    );
    let (status, body) = page(&browser(), &app, "/login?next=%2Freleases").await;
    assert_eq!(status, 200);
    assert!(body.contains("name=\"next\" value=\"/releases\""), "{body}");
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_without_saying_which_part_was_wrong() {
    let app = spawn_app().await;
    let c = browser();
    let token = form_token(&c, &app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("username", "alpha.user"),
            ("password", "nope"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = r.text().await.unwrap();
    assert!(body.contains("Unknown username or wrong password."));
    assert!(body.contains("value=\"alpha.user\""), "username kept");
}

#[tokio::test]
async fn an_unknown_address_is_a_page_for_browsers_and_json_for_the_api() {
    let app = spawn_app().await;
    let c = browser();
    let r = c
        .get(app.url("/no/such/page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = r.text().await.unwrap();
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
    for (path, accept) in [
        ("/api/v1/no-such", "text/html"),
        ("/no/such/page", "application/json"),
    ] {
        let r = c
            .get(app.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    let app = spawn_app().await;
    let c = browser();
    let token = form_token(&c, &app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("username", "alpha.user"),
            ("password", "a long test password"),
            ("next", "//evil.example/phish"),
            ("csrf", &token),
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
    let token = form_token(&c, &app, "/").await;
    let r = c
        .post(app.url("/logout"))
        .form(&[("csrf", &token)])
        .send()
        .await
        .unwrap();
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
        body.contains("<strong>Environment create</strong>") && body.contains("recorded values"),
        "a phrase for each action, its values folded: {body}"
    );
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

async fn publish_releases(app: &TestApp) {
    let dir = format!(
        "{}/../../examples/clinic/releases",
        env!("CARGO_MANIFEST_DIR")
    );
    for (v, build) in [
        ("24.1", "24.1.0.1042"),
        ("24.2", "24.2.0.1187"),
        ("24.3", "24.3.0.1300"),
    ] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
            .bearer_auth(&app.admin_token)
            .body(std::fs::read_to_string(format!("{dir}/{v}.toml")).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        app.client
            .post(app.url(&format!("/api/v1/releases/{build}/publish")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
    }
}

async fn pair_of(app: &TestApp, env_id: &str) -> String {
    valet_store::environments::get(&app.store, &valet_core::Actor::system(), env_id)
        .await
        .unwrap()
        .pair_id
}

fn day(offset: i64) -> String {
    jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
        .to_string()
}

fn val_form(
    token: &str,
    pair: &str,
    build: &str,
    begin: &str,
    purpose: &str,
) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf", token.to_string())
        .text("pair", pair.to_string())
        .text("build", build.to_string())
        .text("begin", begin.to_string())
        .text("end", day(60))
        .text("lab", "")
        .text("purpose", purpose.to_string())
        .text("refresh", "")
}

async fn requests_in_store(app: &TestApp) -> usize {
    valet_store::requests::list(
        &app.store,
        &valet_core::Actor::system(),
        &Default::default(),
    )
    .await
    .unwrap()
    .len()
}

async fn create_pm(app: &TestApp) {
    valet_store::users::create(
        &app.store,
        &valet_core::Actor::system(),
        valet_store::users::NewUser {
            username: "pat.pm".into(),
            display_name: "Pat Example-PM".into(),
            email: None,
            role: valet_core::Role::VendorPm,
            customer_id: None,
            password: "pm password 1234".into(),
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    // Sign-in: the double-submit cookie is there, the field is not.
    let c = browser();
    let _ = form_token(&c, &app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("username", "alpha.user"),
            ("password", "a long test password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session started"
    );
    // Another browser's sign-in token does not fit this browser's cookie.
    let other = form_token(&browser(), &app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("username", "alpha.user"),
            ("password", "a long test password"),
            ("csrf", &other),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let alpha = sign_in(&app, "alpha.user", "a long test password").await;
    let beta = sign_in(&app, "beta.user", "a long test password").await;
    let beta_token = form_token(&beta, &app, "/").await;
    // Sign-out without a token, or with another session's, keeps the session.
    for token in [None, Some(beta_token.as_str())] {
        let mut req = alpha.post(app.url("/logout"));
        if let Some(t) = token {
            req = req.form(&[("csrf", t)]);
        }
        assert_eq!(req.send().await.unwrap().status(), 403);
        assert_eq!(page(&alpha, &app, "/").await.0, 200, "still signed in");
    }
    // Filing without a token files nothing.
    publish_releases(&app).await;
    let pair = pair_of(&app, &app.alpha.env_id).await;
    let form = val_form("", &pair, "24.3.0.1300", &day(7), "no token");
    let r = alpha
        .post(app.url("/requests/new"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let form = val_form(&beta_token, &pair, "24.3.0.1300", &day(7), "wrong token");
    let r = alpha
        .post(app.url("/requests/new"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(requests_in_store(&app).await, 0, "nothing was filed");
}

#[tokio::test]
async fn filing_shows_each_error_under_its_field_and_keeps_what_was_typed() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let (status, list) = page(&c, &app, "/requests").await;
    assert_eq!(status, 200);
    assert!(list.contains("New VAL request"), "{list}");
    let (status, form) = page(&c, &app, "/requests/new").await;
    assert_eq!(status, 200);
    assert!(
        form.contains("24.3.0.1300") && form.contains("PROD"),
        "{form}"
    );
    let token = token_in(&form);
    let pair = pair_of(&app, &app.alpha.env_id).await;
    let r = c
        .post(app.url("/requests/new"))
        .multipart(val_form(
            &token,
            &pair,
            "",
            "2020-01-01",
            "keep this purpose",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("id=\"build-error\""), "{body}");
    assert!(
        body.contains("id=\"begin-error\"") && body.contains("is in the past"),
        "{body}"
    );
    assert!(
        !body.contains("id=\"pair-error\""),
        "the pair was right: {body}"
    );
    assert!(body.contains("keep this purpose"), "typed values kept");
    assert_eq!(requests_in_store(&app).await, 0);
    let r = c
        .post(app.url("/requests/new"))
        .multipart(val_form(
            &token,
            &pair,
            "24.3.0.1300",
            &day(7),
            "validate 24.3",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/requests/VAL-1");
    let (status, detail) = page(&c, &app, "/requests/VAL-1").await;
    assert_eq!(status, 200);
    assert!(
        detail.contains("<p class=\"notice\" role=\"status\" id=\"done\">Request filed.</p>"),
        "the page says what the action did: {detail}"
    );
    let (_, again) = page(&c, &app, "/requests/VAL-1").await;
    assert!(!again.contains("id=\"done\""), "once");
    assert!(
        detail.contains("submitted") && detail.contains("validate 24.3"),
        "{detail}"
    );
    assert!(detail.contains("request.create"), "timeline: {detail}");
    assert!(!detail.contains("closes by itself"), "{detail}");
    // Once PROD runs its build, the page says when the VAL closes (valet's bookkeeping).
    let mut tx = app.store.write().await.unwrap();
    valet_store::requests::update_details_in(
        &mut tx,
        app.store.now(),
        &valet_core::Actor::system(),
        "VAL-1",
        serde_json::json!({ "close_after_prod_upgrade": "2027-03-15T10:00:00.25Z" }),
        "request.closure_scheduled",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (_, detail) = page(&c, &app, "/requests/VAL-1").await;
    assert!(
        detail.contains("closes by itself on <strong>2027-03-15 10:00:00 UTC</strong>"),
        "{detail}"
    );
    let (_, list) = page(&c, &app, "/requests?state=submitted").await;
    assert!(list.contains("VAL-1"), "{list}");
    keep("requests.html", &list);
    let (_, list) = page(&c, &app, "/requests?state=done").await;
    assert!(!list.contains("VAL-1"), "{list}");
    // Another tenant neither lists nor opens it.
    let beta = sign_in(&app, "beta.user", "a long test password").await;
    assert!(!page(&beta, &app, "/requests").await.1.contains("VAL-1"));
    assert_eq!(page(&beta, &app, "/requests/VAL-1").await.0, 404);
    assert_eq!(
        page(&beta, &app, "/requests/VAL-1/sign?meaning=validated")
            .await
            .0,
        404,
        "nor its signature dialog"
    );
}

#[tokio::test]
async fn pm_approves_through_the_signature_dialog_and_a_wrong_password_signs_nothing() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    create_pm(&app).await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let token = form_token(&c, &app, "/requests/new").await;
    let pair = pair_of(&app, &app.alpha.env_id).await;
    let r = c
        .post(app.url("/requests/new"))
        .multipart(val_form(
            &token,
            &pair,
            "24.3.0.1300",
            &day(7),
            "validate 24.3",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, detail) = page(&c, &app, "/requests/VAL-1").await;
    assert!(
        !detail.contains("Approve (e-sign)"),
        "customers do not approve"
    );

    let pm = sign_in(&app, "pat.pm", "pm password 1234").await;
    let (_, detail) = page(&pm, &app, "/requests/VAL-1").await;
    assert!(
        detail.contains("/requests/VAL-1/sign?meaning=approved"),
        "{detail}"
    );
    let (status, dialog) = page(&pm, &app, "/requests/VAL-1/sign?meaning=approved").await;
    assert_eq!(status, 200);
    let sha = valet_store::requests::get(&app.store, &valet_core::Actor::system(), "VAL-1")
        .await
        .unwrap()
        .content_sha256();
    assert!(
        dialog.contains(&sha),
        "the record's hash is shown: {dialog}"
    );
    assert!(dialog.contains("I approve this record."), "{dialog}");
    let token = token_in(&dialog);
    let r = pm
        .post(app.url("/requests/VAL-1/sign"))
        .form(&[
            ("csrf", token.as_str()),
            ("meaning", "approved"),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("nothing was signed"));
    let (_, detail) = page(&pm, &app, "/requests/VAL-1").await;
    assert!(detail.contains("Not signed yet."), "{detail}");
    let r = pm
        .post(app.url("/requests/VAL-1/sign"))
        .form(&[
            ("csrf", token.as_str()),
            ("meaning", "approved"),
            ("password", "pm password 1234"),
            ("reason", "fits the schedule"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, detail) = page(&pm, &app, "/requests/VAL-1").await;
    assert!(
        detail.contains("Pat Example-PM") && detail.contains("I approve this record."),
        "{detail}"
    );
    assert!(detail.contains("state-scheduled"), "{detail}");
    assert!(
        detail.contains("id=\"steps\"") && detail.contains("clone"),
        "run shown: {detail}"
    );
    assert!(!detail.contains("Changed after signing"), "{detail}");
}

/// What the provisioning handler does to a request, done through the store: the run's steps
/// end `done`, the run succeeds, the request is `in_progress` with `provisioned`.
async fn pretend_provisioned(app: &TestApp, key: &str) {
    use valet_store::runs::{self, RunState, StepState};
    let system = valet_core::Actor::system();
    let r = valet_store::requests::get(&app.store, &system, key)
        .await
        .unwrap();
    let run = runs::of_request(&app.store, &system, &r)
        .await
        .unwrap()
        .pop()
        .unwrap();
    runs::start(&app.store, &system, &run.id).await.unwrap();
    for s in &run.steps {
        runs::begin_step(&app.store, &run.id, s.seq).await.unwrap();
        runs::end_step(
            &app.store,
            &system,
            &run.id,
            s.seq,
            StepState::Done,
            &format!("{} <ok> {}", s.name, s.env.as_deref().unwrap_or("")),
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    }
    runs::finish(&app.store, &system, &run.id, RunState::Succeeded, None)
        .await
        .unwrap();
    valet_store::requests::transition(
        &app.store,
        &system,
        key,
        valet_core::RequestState::InProgress,
        None,
    )
    .await
    .unwrap();
    let now = app.store.now();
    let mut tx = app.store.write().await.unwrap();
    valet_store::requests::update_details_in(
        &mut tx,
        now,
        &system,
        key,
        serde_json::json!({ "provisioned": true }),
        "request.provisioned",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Saves a page for a look in a browser when `VALET_UI_OUT` names a directory.
fn keep(name: &str, html: &str) {
    if let Some(dir) = std::env::var_os("VALET_UI_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), html).unwrap();
    }
}

async fn post_form(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = c.post(app.url(path)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (
        status,
        r.text()
            .await
            .unwrap()
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

#[tokio::test]
async fn findings_block_sign_off_until_resolved_and_a_later_change_marks_signatures() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    create_pm(&app).await;
    let customer = sign_in(&app, "alpha.user", "a long test password").await;
    let token = form_token(&customer, &app, "/requests/new").await;
    let pair = pair_of(&app, &app.alpha.env_id).await;
    let r = customer
        .post(app.url("/requests/new"))
        .multipart(val_form(
            &token,
            &pair,
            "24.3.0.1300",
            &day(7),
            "validate 24.3",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let pm = sign_in(&app, "pat.pm", "pm password 1234").await;
    let pm_token = form_token(&pm, &app, "/requests/VAL-1").await;
    let (status, _) = post_form(
        &pm,
        &app,
        "/requests/VAL-1/sign",
        &[
            ("csrf", &pm_token),
            ("meaning", "approved"),
            ("password", "pm password 1234"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    pretend_provisioned(&app, "VAL-1").await;

    let (_, detail) = page(&customer, &app, "/requests/VAL-1").await;
    assert!(detail.contains("VAL pair provisioned"), "{detail}");
    assert!(
        detail.contains("clone &lt;ok&gt; MAIN"),
        "step logs shown, escaped: {detail}"
    );
    assert!(
        detail.contains("/requests/VAL-1/sign?meaning=validated"),
        "{detail}"
    );
    // A finding with a missing title: the error is under the field, the steps are kept.
    let (status, body) = post_form(
        &customer,
        &app,
        "/requests/VAL-1/findings",
        &[
            ("csrf", &token),
            ("title", ""),
            ("severity", "major"),
            ("area", "integration"),
            ("steps", "open the lab feed"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("give a short title") && body.contains("open the lab feed"),
        "{body}"
    );
    let (status, _) = post_form(
        &customer,
        &app,
        "/requests/VAL-1/findings",
        &[
            ("csrf", &token),
            ("title", "Lab feed silent"),
            ("severity", "major"),
            ("area", "integration"),
            ("steps", "open the lab feed"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, detail) = page(&customer, &app, "/requests/VAL-1").await;
    assert!(
        detail.contains("Open findings block the sign-off: F-1"),
        "{detail}"
    );
    assert!(
        !detail.contains("/requests/VAL-1/sign?meaning=validated"),
        "no sign-off yet"
    );
    assert!(
        !detail.contains("/findings/F-1/resolve"),
        "customers do not resolve"
    );
    // Signing off anyway is refused and signs nothing.
    let (status, body) = post_form(
        &customer,
        &app,
        "/requests/VAL-1/sign",
        &[
            ("csrf", &token),
            ("meaning", "validated"),
            ("password", "a long test password"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("F-1"), "{body}");

    let (_, detail) = page(&pm, &app, "/requests/VAL-1").await;
    assert!(detail.contains("/findings/F-1/resolve"), "{detail}");
    let (status, _) = post_form(
        &pm,
        &app,
        "/findings/F-1/resolve",
        &[("csrf", &pm_token), ("text", "feed re-pointed")],
    )
    .await;
    assert_eq!(status, 303);

    let (status, _) = post_form(
        &customer,
        &app,
        "/requests/VAL-1/sign",
        &[
            ("csrf", &token),
            ("meaning", "validated"),
            ("password", "a long test password"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, detail) = page(&customer, &app, "/requests/VAL-1").await;
    assert!(detail.contains("validation signed off"), "{detail}");
    assert!(detail.contains("I confirm that validation of this record is complete."));
    assert!(!detail.contains("Changed after signing"), "{detail}");

    // An extension moves the end date: both signatures now say the record changed.
    let (status, _) = post_form(
        &customer,
        &app,
        "/requests/VAL-1/extension",
        &[
            ("csrf", &token),
            ("end", &day(90)),
            ("reason", "more time for the lab tests"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = post_form(
        &pm,
        &app,
        "/requests/VAL-1/extension/approve",
        &[("csrf", &pm_token)],
    )
    .await;
    assert_eq!(status, 303);
    let (_, detail) = page(&customer, &app, "/requests/VAL-1").await;
    assert_eq!(
        detail.matches("Changed after signing:").count(),
        2,
        "{detail}"
    );
    keep("request-done.html", &detail);
}

/// A Tuesday at least `offset` days ahead (inside the vendor's default working hours).
fn tuesday(offset: i64) -> String {
    let mut d = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap();
    while d.weekday() != jiff::civil::Weekday::Tuesday {
        d = d.tomorrow().unwrap();
    }
    d.to_string()
}

async fn create_engineer(app: &TestApp) {
    valet_store::users::create(
        &app.store,
        &valet_core::Actor::system(),
        valet_store::users::NewUser {
            username: "eve.engineer".into(),
            display_name: "Eve Engineer".into(),
            email: None,
            role: valet_core::Role::VendorEngineer,
            customer_id: None,
            password: "engineer password 1234".into(),
        },
    )
    .await
    .unwrap();
}

/// Files UPG-1 through the form (no JavaScript): the first slot in Chicago's skipped hour is
/// refused under its own row, with every typed value kept; then it is filed.
async fn file_upgrade_through_the_form(app: &TestApp, c: &reqwest::Client) {
    let pair = pair_of(app, &app.alpha.env_id).await;
    let token = form_token(c, app, "/requests/new-upgrade").await;
    let day = tuesday(40);
    let form = |first: [&'static str; 4]| {
        vec![
            ("csrf", token.clone()),
            ("pair", pair.clone()),
            ("build", "24.3.0.1300".into()),
            ("downtime_minutes", "90".into()),
            ("slot_date", day.clone()),
            ("slot_start", "12:00".into()),
            ("slot_end", "13:00".into()),
            ("slot_zone", "Europe/Berlin".into()),
            ("slot_date", first[0].into()),
            ("slot_start", first[1].into()),
            ("slot_end", first[2].into()),
            ("slot_zone", first[3].into()),
            ("slot_date", String::new()),
            ("slot_start", String::new()),
            ("slot_end", String::new()),
            ("slot_zone", "Europe/Berlin".into()),
            ("preferred", "1".into()),
            ("note", "study team on site".into()),
        ]
    };
    let r = c
        .post(app.url("/requests/new-upgrade"))
        .form(&form(["2027-03-14", "02:30", "03:30", "America/Chicago"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap().replace("&#x2f;", "/");
    keep("upgrade-new-errors.html", &body);
    let row2 = &body[body.find("id=\"slot-2-error\"").expect("row 2's error")..];
    assert!(
        row2[..400].contains("does not exist in America/Chicago"),
        "{row2}"
    );
    assert!(!body.contains("id=\"slot-1-error\""), "row 1 is fine");
    assert!(body.contains("value=\"America/Chicago\"") && body.contains("study team on site"));
    assert_eq!(requests_in_store(app).await, 0);

    let r = c
        .post(app.url("/requests/new-upgrade"))
        .form(&form(["", "", "", "Europe/Berlin"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["location"], "/requests/UPG-1");
}

#[tokio::test]
async fn upgrade_form_files_without_javascript_and_the_pm_books_with_an_e_signed_override() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    create_pm(&app).await;
    create_engineer(&app).await;
    let customer = sign_in(&app, "alpha.user", "a long test password").await;
    file_upgrade_through_the_form(&app, &customer).await;
    let (status, body) = page(&customer, &app, "/requests/UPG-1").await;
    assert_eq!(status, 200);
    assert!(body.contains("needs override") && body.contains("Europe/Berlin (UTC+01:00)"));
    assert!(
        !body.contains("Schedule this upgrade"),
        "customers do not schedule"
    );
    let (status, _) = page(&customer, &app, "/requests/UPG-1/schedule").await;
    assert_eq!(status, 403);

    let pm = sign_in(&app, "pat.pm", "pm password 1234").await;
    let (status, body) = page(&pm, &app, "/requests/UPG-1/schedule").await;
    assert_eq!(status, 200);
    keep("upgrade-schedule.html", &body);
    assert!(
        body.contains("The heatmap cannot be computed: no app profile configured"),
        "the reason shows instead of the heatmap"
    );
    assert!(body.contains("data-kind=\"unvalidated_build\""));
    let token = token_in(&body);
    let book = |password: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("choice", "1".to_string()),
            ("engineer", "eve.engineer".into()),
            ("override", "unvalidated_build".into()),
            (
                "reason_unvalidated_build",
                "validated on the twin site".into(),
            ),
            ("password", password.into()),
        ]
    };
    let (status, body) = post_form(
        &pm,
        &app,
        "/requests/UPG-1/schedule",
        &book("not my password")
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("nothing was booked") && body.contains("validated on the twin site"));
    let (status, _) = post_form(
        &pm,
        &app,
        "/requests/UPG-1/schedule",
        &book("pm password 1234")
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(status, 303);
    let (_, body) = page(&pm, &app, "/requests/UPG-1/schedule").await;
    assert!(body.contains("id=\"book-form\"") && body.contains(">Reschedule</button>"));
    let (_, body) = page(&customer, &app, "/requests/UPG-1").await;
    assert!(body.contains("Eve Engineer") && body.contains("calendar revision 0"));
    assert!(
        body.contains("overridden (e-signed, see Booking)") && !body.contains("needs override"),
        "the booked override answers the unvalidated build: {body}"
    );
    assert!(
        body.contains("the booking's overrides are e-signed") && !body.contains("Not signed yet"),
        "{body}"
    );
    assert!(body.contains("/api/v1/requests/UPG-1/calendar"));
    let (status, body) = page(&customer, &app, "/schedule").await;
    assert_eq!(status, 200);
    assert!(body.contains("UPG-1"));
    let beta = sign_in(&app, "beta.user", "a long test password").await;
    let (_, body) = page(&beta, &app, "/schedule").await;
    assert!(
        !body.contains("UPG-1"),
        "another tenant's upgrade is not listed"
    );
    let (status, _) = page(&beta, &app, "/requests/UPG-1").await;
    assert_eq!(status, 404);

    // Once its run started, the request is no longer offered for booking or rescheduling.
    valet_store::requests::transition(
        &app.store,
        &valet_core::Actor::system(),
        "UPG-1",
        valet_core::RequestState::InProgress,
        None,
    )
    .await
    .unwrap();
    let (status, body) = page(&pm, &app, "/requests/UPG-1/schedule").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"not-bookable\"") && body.contains("UPG-1 is in progress"));
    assert!(!body.contains("id=\"book-form\"") && !body.contains(">Reschedule</button>"));
}

#[tokio::test]
async fn cancelling_an_upgrade_from_its_page_releases_the_booking() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    create_pm(&app).await;
    create_engineer(&app).await;
    let customer = sign_in(&app, "alpha.user", "a long test password").await;
    file_upgrade_through_the_form(&app, &customer).await;
    let pm = sign_in(&app, "pat.pm", "pm password 1234").await;
    valet_ops::upgrade::set(
        &app.store,
        &valet_store::users::find_by_username(&app.store, "pat.pm")
            .await
            .unwrap()
            .unwrap()
            .actor(),
        "UPG-1",
        valet_ops::upgrade::SetSchedule {
            slot: Some(1),
            engineer: "eve.engineer".into(),
            overrides: vec![valet_ops::upgrade::Override {
                kind: valet_core::schedule::ConflictKind::UnvalidatedBuild,
                reason: "validated on the twin site".into(),
            }],
            password: Some("pm password 1234".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    drop(pm);
    let token = form_token(&customer, &app, "/requests/UPG-1").await;
    let (status, _) = post_form(
        &customer,
        &app,
        "/requests/UPG-1/cancel",
        &[("csrf", &token), ("reason", "study start moved")],
    )
    .await;
    assert_eq!(status, 303);
    let s = valet_store::schedules::of_request(&app.store, &valet_core::Actor::system(), "UPG-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.state, "cancelled");
    let (_, body) = page(&customer, &app, "/requests/UPG-1").await;
    assert!(body.contains("state-cancelled"));
}

#[tokio::test]
async fn hotfix_inbox_accepts_with_slots_and_declines_with_a_reason_e_signed() {
    let app = spawn_app().await;
    let dir = format!(
        "{}/../../examples/clinic/releases",
        env!("CARGO_MANIFEST_DIR")
    );
    for (v, build) in [("24.2", "24.2.0.1187"), ("24.2.1", "24.2.1.1201")] {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/releases?file={v}.toml")))
            .bearer_auth(&app.admin_token)
            .body(std::fs::read_to_string(format!("{dir}/{v}.toml")).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = app
            .post(
                &format!("/api/v1/releases/{build}/publish"),
                &app.admin_token,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let pair = pair_of(&app, &app.alpha.env_id).await;
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    let (status, html) = page(&c, &app, "/hotfixes").await;
    assert_eq!(status, 200);
    keep("hotfixes.html", &html);
    assert!(
        html.contains("href=\"/hotfixes\" class=\"active\""),
        "nav link"
    );
    assert!(
        html.contains("24.2.1.1201") && html.contains("APP-3199"),
        "notes shown"
    );
    assert!(html.contains("never applied automatically"));
    assert!(html.contains("undecided"));
    let token = token_in(&html);
    let date = day(12);
    let accept = |password: &'static str, token: String, date: String, pair: String| {
        vec![
            ("csrf", token),
            ("pair", pair),
            ("slot_date", date.clone()),
            ("slot_start", "09:00".into()),
            ("slot_end", "10:00".into()),
            ("slot_zone", "Europe/Berlin".into()),
            ("slot_date", String::new()),
            ("slot_start", String::new()),
            ("slot_end", String::new()),
            ("slot_zone", "Europe/Berlin".into()),
            ("preferred", "1".into()),
            ("downtime_minutes", "20".into()),
            ("note", String::new()),
            ("password", password.into()),
        ]
    };
    // A wrong password signs nothing and says so beside the pair's forms.
    let form = accept("wrong password", token.clone(), date.clone(), pair.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, html) = post_form(&c, &app, "/hotfixes/24.2.1.1201/accept", &form).await;
    assert_eq!(status, 403);
    assert!(html.contains("Nothing was recorded") && html.contains("password is wrong"));
    assert!(
        html.contains(&format!("value=\"{date}\""))
            && html.contains("value=\"09:00\"")
            && html.contains("value=\"20\""),
        "what was typed is shown again: {html}"
    );
    assert!(!html.contains("wrong password"), "the password is not");
    // Without the CSRF token nothing happens either.
    let r = c
        .post(app.url("/hotfixes/24.2.1.1201/accept"))
        .form(&[
            ("pair", pair.as_str()),
            ("password", "a long test password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let form = accept("a long test password", token, date, pair.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = c
        .post(app.url("/hotfixes/24.2.1.1201/accept"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/requests/HFX-1");
    let (status, html) = page(&c, &app, "/requests/HFX-1").await;
    assert_eq!(status, 200);
    assert!(html.contains("24.2.1.1201"));
    let (_, html) = page(&c, &app, "/hotfixes").await;
    assert!(
        html.contains("Accepted by") && html.contains("HFX-1"),
        "decision shown"
    );
    assert!(!html.contains("action=\"/hotfixes/24.2.1.1201/decline\""));

    // Beta declines through its own inbox.
    let beta_pair = pair_of(&app, &app.beta.env_id).await;
    let b = sign_in(&app, "beta.user", "a long test password").await;
    let (_, html) = page(&b, &app, "/hotfixes").await;
    assert!(!html.contains(&pair), "never another tenant's pair");
    let token = token_in(&html);
    let (status, html) = post_form(
        &b,
        &app,
        "/hotfixes/24.2.1.1201/decline",
        &[
            ("csrf", &token),
            ("pair", &beta_pair),
            ("reason", ""),
            ("password", "a long test password"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        html.contains("Why not: "),
        "a decline needs a reason, named by its label: {html}"
    );
    let r = b
        .post(app.url("/hotfixes/24.2.1.1201/decline"))
        .form(&[
            ("csrf", token.as_str()),
            ("pair", beta_pair.as_str()),
            ("reason", "not affected"),
            ("password", "a long test password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = page(&b, &app, "/hotfixes").await;
    assert!(html.contains("Declined by") && html.contains("not affected"));
}

#[tokio::test]
async fn schedule_overview_shows_a_month_calendar_within_the_tenant() {
    use valet_core::schedule::ConflictKind;
    use valet_ops::upgrade::{self, Override, SetSchedule};
    let app = spawn_app().await;
    publish_releases(&app).await;
    create_pm(&app).await;
    create_engineer(&app).await;
    let actor_of = |name: &'static str| {
        let store = app.store.clone();
        async move {
            valet_store::users::find_by_username(&store, name)
                .await
                .unwrap()
                .unwrap()
                .actor()
        }
    };
    let (alpha_admin, pm) = (actor_of("alpha.user").await, actor_of("pat.pm").await);
    let day: jiff::civil::Date = tuesday(40).parse().unwrap();
    let at = |d: jiff::civil::Date, h: i8| {
        d.at(h, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
    };
    // UPG-1 booked on `day`; a blackout of alpha, one of beta and a vendor freeze that week;
    // the engineer's leave two days later.
    let r = upgrade::file(
        &app.store,
        &alpha_admin,
        valet_core::upgrade::UpgradeRequestInput {
            pair: pair_of(&app, &app.alpha.env_id).await,
            build: Some("24.3".into()),
            slots: vec![format!("{day} 09:00-10:00 UTC")],
            downtime_minutes: Some(30),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    upgrade::set(
        &app.store,
        &pm,
        &r.key,
        SetSchedule {
            slot: Some(1),
            engineer: "eve.engineer".into(),
            overrides: vec![Override {
                kind: ConflictKind::UnvalidatedBuild,
                reason: "validated on the twin site".into(),
            }],
            password: Some("pm password 1234".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let monday = day.yesterday().unwrap();
    for (customer, reason) in [
        (Some(app.alpha.customer_id.as_str()), "alpha study start"),
        (Some(app.beta.customer_id.as_str()), "beta inspection"),
        (None, "year-end freeze"),
    ] {
        valet_store::schedules::add_blackout(
            &app.store,
            &pm,
            customer,
            at(monday, 6),
            at(monday, 20),
            reason,
        )
        .await
        .unwrap();
    }
    let eve = valet_store::schedules::engineer_user(&app.store, "eve.engineer")
        .await
        .unwrap();
    let thursday = day.tomorrow().unwrap().tomorrow().unwrap();
    valet_store::schedules::add_exception(
        &app.store,
        &pm,
        &eve,
        valet_core::schedule::ExceptionKind::Leave,
        at(thursday, 0),
        at(thursday, 23),
        "dentist",
    )
    .await
    .unwrap();
    let month = day.strftime("%Y-%m").to_string();
    let cell = |body: &str, d: jiff::civil::Date| -> String {
        let from = body
            .find(&format!("data-date=\"{d}\""))
            .unwrap_or_else(|| panic!("no cell for {d}"));
        body[from..from + body[from..].find("</td>").unwrap()].to_string()
    };

    let pm_c = sign_in(&app, "pat.pm", "pm password 1234").await;
    let (status, body) = page(&pm_c, &app, &format!("/schedule?month={month}")).await;
    assert_eq!(status, 200);
    keep("schedule-month.html", &body);
    assert!(body.contains(&format!("id=\"month-label\">{}", day.strftime("%B %Y"))));
    let booked = cell(&body, day);
    assert!(
        booked.contains("it booked") && booked.contains("09:00 UPG-1"),
        "{booked}"
    );
    let blocked = cell(&body, monday);
    assert!(
        blocked.contains("it blackout\" title=\"blackout · Alpha: alpha study start")
            && blocked.contains("it blackout\" title=\"blackout · Beta: beta inspection")
            && blocked.contains("it freeze\" title=\"freeze · year-end freeze"),
        "the vendor sees every blackout and the freeze: {blocked}"
    );
    assert!(cell(&body, thursday).contains("Eve Engineer: leave"));

    // The customer: its own upgrade and blackout, the freeze; not beta's, not the leave.
    let alpha = sign_in(&app, "alpha.user", "a long test password").await;
    let (_, body) = page(&alpha, &app, &format!("/schedule?month={month}")).await;
    let blocked = cell(&body, monday);
    assert!(cell(&body, day).contains("UPG-1"));
    assert!(blocked.contains("alpha study start") && blocked.contains("year-end freeze"));
    assert!(
        !body.contains("beta inspection")
            && !body.contains("dentist")
            && !body.contains("Eve Engineer: leave")
    );
    let beta = sign_in(&app, "beta.user", "a long test password").await;
    let (_, body) = page(&beta, &app, &format!("/schedule?month={month}")).await;
    assert!(!body.contains("UPG-1") && !body.contains("alpha study start"));
    assert!(body.contains("beta inspection"));

    // A malformed month says so and shows this month.
    let (status, body) = page(&pm_c, &app, "/schedule?month=2027-13").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("id=\"month-note\"") && body.contains("not a month; give it as YYYY-MM"),
        "{}",
        &body[..body.len().min(3000)]
    );
}

/// The policy and its companion headers of one response.
fn assert_secured(r: &reqwest::Response, what: &str) {
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert_eq!(csp, valet_web::CONTENT_SECURITY_POLICY, "{what}");
    assert!(
        csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'self'"),
        "{what}: {csp}"
    );
    assert_eq!(h["x-frame-options"], "SAMEORIGIN", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
}

#[tokio::test]
async fn every_response_forbids_inline_scripts_and_framing_by_other_sites() {
    let app = spawn_app().await;
    publish_releases(&app).await;
    let anonymous = browser();
    for path in [
        "/login",
        "/releases",
        "/no-such-page",
        "/healthz",
        "/api/v1/releases",
        "/api/v1/openapi.json",
        "/api",
    ] {
        let r = anonymous.get(app.url(path)).send().await.unwrap();
        assert_secured(&r, path);
    }
    let c = sign_in(&app, "alpha.user", "a long test password").await;
    for path in [
        "/",
        "/releases",
        "/requests/new-upgrade",
        "/api/v1/releases",
        "/api",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_secured(&r, path);
        let body = r.text().await.unwrap();
        // Every script of a page is a file of valet's origin: none inline, none elsewhere.
        for (at, _) in body.match_indices("<script") {
            let tag = &body[at..at + body[at..].find('>').unwrap()];
            assert!(
                tag.contains("src=\"/static/"),
                "{path}: inline script {tag}"
            );
        }
    }
    let (_, form) = page(&c, &app, "/requests/new-upgrade").await;
    assert!(
        form.contains("<script src=\"/static/slot-check.js\">"),
        "{form}"
    );
    for script in ["/static/slot-check.js", "/static/run-card.js"] {
        let r = anonymous.get(app.url(script)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{script}");
        assert_secured(&r, script);
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert!(r.text().await.unwrap().contains("(function () {"));
    }
    let r = anonymous
        .get(app.url("/static/ui.rs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
