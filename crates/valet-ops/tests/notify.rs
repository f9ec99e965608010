//! Notification delivery against real servers: an SMTP server (Python's `aiosmtpd`, installed
//! by `scripts/setup`) and an axum webhook receiver, both on loopback.
//!
//! Without python3 and aiosmtpd the e-mail tests print a loud `SKIPPED` line and return,
//! except with `CI=true`, where they fail.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// The SMTP server: records each message as one JSON line (envelope, headers, decoded
/// bodies, whether the client authenticated). AUTH is offered without TLS (loopback only)
/// and optional, so one server serves anonymous and authenticated clients.
const SMTP_SERVER_PY: &str = r#"
import email, json, sys, time
from email import policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Recorder:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None and html is not text else None,
            "authenticated": bool(session.authenticated),
        }
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login == user.encode() and auth_data.password == password.encode())
    return AuthResult(success=ok, handled=False)

controller = Controller(Recorder(), hostname="127.0.0.1", port=port,
                        authenticator=authenticator, auth_require_tls=False)
controller.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

const SMTP_USER: &str = "mailer";
const SMTP_PASSWORD: &str = "s3cret-p@ss";

/// A running SMTP server; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    messages: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts the server on a free loopback port, or returns `None` after a loud notice when
    /// python3 or aiosmtpd is missing (a failure with `CI=true`).
    fn start() -> Option<SmtpServer> {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let missing = match probe {
            Err(e) => Some(format!("python3 cannot be run ({e})")),
            Ok(o) if !o.status.success() => Some(format!(
                "python3 has no aiosmtpd ({})",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
            Ok(_) => None,
        };
        if let Some(why) = missing {
            if valet_testkit::in_ci() {
                panic!("SMTP test server unavailable in CI: {why}; scripts/setup installs it");
            }
            eprintln!(
                "\n!!!!!!!! SKIPPED: SMTP test server unavailable: {why}; this test did not \
                 run. Run scripts/setup (pip install aiosmtpd) or set CI=true to make this a \
                 failure.\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER_PY).expect("write server script");
        let messages = dir.path().join("messages.jsonl");
        let port = free_port();
        let child = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&messages)
            .args([SMTP_USER, SMTP_PASSWORD])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut server = SmtpServer {
            child,
            port,
            messages,
            _dir: dir,
        };
        server.wait_until_accepting();
        Some(server)
    }

    fn wait_until_accepting(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("poll SMTP server") {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                panic!("SMTP test server exited with {status}: {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "SMTP test server not accepting on {addr} after 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn config(&self) -> SmtpConfig {
        SmtpConfig::from_url(&format!(
            "smtp://127.0.0.1:{}?from=Valet%20%3Cvalet@example.com%3E",
            self.port
        ))
        .expect("test SMTP URL")
    }

    /// Every message received so far, in order.
    fn received(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.messages).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("JSON line from the SMTP server"))
            .collect()
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
