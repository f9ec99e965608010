//! Notification delivery against real servers: an SMTP server (Python's `aiosmtpd`, installed
//! by `scripts/setup`) and an axum webhook receiver, both on loopback.
//!
//! Without python3 and aiosmtpd the e-mail tests print a loud `SKIPPED` line and return,
//! except with `CI=true`, where they fail.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use valet_ops::notify::{
    deliver_webhook, send_email, verify_webhook, Email, SmtpConfig, TlsMode, WebhookError,
    EVENT_ID_HEADER, SIGNATURE_HEADER,
};
use valet_ops::OpsError;

// ---------------------------------------------------------------------------------------------
// SMTP

use valet_testkit::smtp::{SmtpServer, SMTP_PASSWORD, SMTP_USER};

trait Config {
    fn config(&self) -> SmtpConfig;
}

impl Config for SmtpServer {
    fn config(&self) -> SmtpConfig {
        SmtpConfig::from_url(&self.url()).expect("test SMTP URL")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn notice_email() -> Email {
    Email {
        to: vec![
            "qa@customer.example".into(),
            "Dana Lee <dana@customer.example>".into(),
        ],
        subject: "UPG-7 scheduled: 24.3 on 2027-01-11 22:00 Europe/Berlin".into(),
        text_body: "Your production upgrade to 24.3 is scheduled.\nExpected downtime: 12 min.\n"
            .into(),
        html_body: None,
    }
}

#[tokio::test]
async fn email_reaches_the_smtp_server_with_subject_recipients_and_body() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    send_email(&server.config(), &notice_email())
        .await
        .expect("send e-mail");

    let got = server.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["mail_from"], "valet@example.com");
    assert_eq!(
        m["rcpt_tos"],
        serde_json::json!(["qa@customer.example", "dana@customer.example"])
    );
    assert_eq!(m["from"], "Valet <valet@example.com>");
    let to = m["to"].as_str().unwrap();
    assert!(
        to.contains("qa@customer.example") && to.contains("Dana Lee <dana@customer.example>"),
        "{to}"
    );
    assert_eq!(
        m["subject"],
        "UPG-7 scheduled: 24.3 on 2027-01-11 22:00 Europe/Berlin"
    );
    // Transfer encoding may add line ends after the body; the text itself must be intact.
    assert_eq!(
        m["text"].as_str().unwrap().replace("\r\n", "\n").trim_end(),
        "Your production upgrade to 24.3 is scheduled.\nExpected downtime: 12 min."
    );
    assert_eq!(m["html"], serde_json::Value::Null);
    assert_eq!(m["authenticated"], false);
}

#[tokio::test]
async fn email_with_html_and_non_ascii_text_arrives_as_both_alternatives() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let email = Email {
        to: vec!["müller@customer.example".into()],
        subject: "VAL-12 prêt — environnement de validation".into(),
        text_body: "Grüße: VAL is ready.".into(),
        html_body: Some("<p>Grüße: <b>VAL</b> is ready.</p>".into()),
    };
    send_email(&server.config(), &email).await.expect("send");

    let got = server.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["subject"], "VAL-12 prêt — environnement de validation");
    assert_eq!(
        m["text"].as_str().unwrap().trim_end(),
        "Grüße: VAL is ready."
    );
    assert_eq!(
        m["html"].as_str().unwrap().trim_end(),
        "<p>Grüße: <b>VAL</b> is ready.</p>"
    );
}

#[tokio::test]
async fn email_with_credentials_authenticates() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let cfg = SmtpConfig {
        username: Some(SMTP_USER.into()),
        password: Some(SMTP_PASSWORD.into()),
        ..server.config()
    };
    send_email(&cfg, &notice_email()).await.expect("send");
    let got = server.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["authenticated"], true);
}

#[tokio::test]
async fn wrong_smtp_password_fails_naming_the_server_but_not_the_password() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let cfg = SmtpConfig {
        username: Some(SMTP_USER.into()),
        password: Some("wrong-horse-battery".into()),
        ..server.config()
    };
    let err = send_email(&cfg, &notice_email()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, OpsError::Email { .. }), "{err:?}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "{text}"
    );
    assert!(text.contains("535"), "{text}");
    assert!(!text.contains("wrong-horse-battery"), "{text}");
    assert!(!format!("{err:?}").contains("wrong-horse-battery"));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn invalid_recipient_fails_before_connecting() {
    let Some(server) = SmtpServer::start() else {
        return;
    };
    let email = Email {
        to: vec!["not an address".into()],
        ..notice_email()
    };
    let err = send_email(&server.config(), &email)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("recipient `not an address`"), "{err}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn unreachable_smtp_server_is_an_error_naming_host_and_port() {
    let port = free_port();
    let cfg = SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        from: "valet@example.com".into(),
        username: Some("mailer".into()),
        password: Some("hunter2".into()),
        tls: TlsMode::None,
    };
    let err = send_email(&cfg, &notice_email())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn silent_smtp_server_times_out() {
    // Accepts connections and never says a word: no banner, no replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let cfg =
        SmtpConfig::from_url(&format!("smtp://127.0.0.1:{port}?from=valet@example.com")).unwrap();
    let started = Instant::now();
    let err = send_email(&cfg, &notice_email())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("no answer within 10 s"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    held.abort();
}

// ---------------------------------------------------------------------------------------------
// Webhooks

const SECRET: &[u8] = b"whsec_receiver_shared_secret";
const TOLERANCE_SECS: i64 = 300;

/// What the receiver accepted: (event id header, body).
type Accepted = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Verifies like a real receiver would: raw body, own clock, five minutes' tolerance.
async fn receive(
    State(accepted): State<Accepted>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/json")
    {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "want JSON".into());
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Err(e) = verify_webhook(SECRET, signature, &body, now_unix(), TOLERANCE_SECS) {
        return (StatusCode::UNAUTHORIZED, e.to_string());
    }
    let id = headers
        .get(EVENT_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let json = serde_json::from_slice(&body).expect("receiver got JSON");
    accepted.lock().unwrap().push((id, json));
    (StatusCode::NO_CONTENT, String::new())
}

async fn broken() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "database is down")
}

/// Starts the receiver on a random loopback port; returns its base URL and what it accepted.
async fn spawn_receiver() -> (String, Accepted) {
    let accepted = Accepted::default();
    let app = Router::new()
        .route("/hooks/valet", post(receive))
        .route("/hooks/broken", post(broken))
        .with_state(accepted.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("receiver runs");
    });
    (format!("http://{addr}"), accepted)
}

fn scheduled_event() -> serde_json::Value {
    serde_json::json!({
        "id": "evt_01J9Z3",
        "kind": "upgrade.scheduled",
        "request": "UPG-7",
        "slot": {"start": "2027-01-11T22:00:00+01:00[Europe/Berlin]"},
    })
}

#[tokio::test]
async fn signed_webhook_is_accepted_by_a_verifying_receiver() {
    let (base, accepted) = spawn_receiver().await;
    let status = deliver_webhook(
        &format!("{base}/hooks/valet"),
        SECRET,
        &scheduled_event(),
        now_unix(),
    )
    .await
    .expect("delivered");
    assert_eq!(status, 204);
    let got = accepted.lock().unwrap().clone();
    assert_eq!(got, vec![(Some("evt_01J9Z3".into()), scheduled_event())]);
}

#[tokio::test]
async fn numeric_event_id_is_sent_and_missing_id_sends_no_header() {
    let (base, accepted) = spawn_receiver().await;
    let url = format!("{base}/hooks/valet");
    let numbered = serde_json::json!({"id": 42, "kind": "run.done"});
    let anonymous = serde_json::json!({"kind": "run.done"});
    deliver_webhook(&url, SECRET, &numbered, now_unix())
        .await
        .expect("numbered");
    deliver_webhook(&url, SECRET, &anonymous, now_unix())
        .await
        .expect("anonymous");
    let got = accepted.lock().unwrap().clone();
    assert_eq!(got, vec![(Some("42".into()), numbered), (None, anonymous)]);
}

#[tokio::test]
async fn webhook_signed_with_the_wrong_secret_is_rejected() {
    let (base, accepted) = spawn_receiver().await;
    let err = deliver_webhook(
        &format!("{base}/hooks/valet"),
        b"not-the-shared-secret",
        &scheduled_event(),
        now_unix(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, OpsError::Webhook { .. }), "{err:?}");
    assert!(text.contains("401"), "{text}");
    assert!(text.contains(&WebhookError::Mismatch.to_string()), "{text}");
    assert!(!text.contains("not-the-shared-secret"), "{text}");
    assert!(!format!("{err:?}").contains("not-the-shared-secret"));
    assert!(accepted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn webhook_with_a_stale_timestamp_is_rejected() {
    let (base, accepted) = spawn_receiver().await;
    let an_hour_ago = now_unix() - 3600;
    let err = deliver_webhook(
        &format!("{base}/hooks/valet"),
        SECRET,
        &scheduled_event(),
        an_hour_ago,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("401"), "{err}");
    assert!(err.contains(&format!("timestamp {an_hour_ago}")), "{err}");
    assert!(accepted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn receiver_error_status_is_a_delivery_error() {
    let (base, _) = spawn_receiver().await;
    let err = deliver_webhook(
        &format!("{base}/hooks/broken?token=url-token"),
        SECRET,
        &scheduled_event(),
        now_unix(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("500"), "{err}");
    assert!(err.contains("database is down"), "{err}");
    assert!(err.contains(&base), "{err}");
    assert!(!err.contains("url-token"), "{err}");
}

#[tokio::test]
async fn unreachable_receiver_is_a_delivery_error() {
    let url = format!("http://127.0.0.1:{}/hooks/valet", free_port());
    let err = deliver_webhook(&url, SECRET, &scheduled_event(), now_unix())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("request failed"), "{err}");
}
