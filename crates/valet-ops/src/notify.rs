//! Delivery of notifications: e-mail over SMTP and outbound webhooks signed with HMAC-SHA256.
//!
//! These are pure delivery functions: one call, one attempt. Choosing recipients, the outbox
//! and retries belong to the job queue that calls them; any `Err` here means "not delivered,
//! try again later". Secrets (SMTP password, webhook secret) never appear in an error or in
//! `Debug` output.
//!
//! # Webhook signature
//!
//! Every webhook carries a `Valet-Signature` header of the form
//!
//! ```text
//! Valet-Signature: t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! where `t` is the sending time in Unix seconds and `v1` is the lowercase hex
//! HMAC-SHA256, keyed with the shared secret, of the bytes `"{t}." + body` (the decimal
//! timestamp, a full stop, then the raw request body exactly as received). This is the
//! scheme Stripe uses. A receiver recomputes the MAC over the raw body, compares it in
//! constant time, and rejects a `t` further than its tolerance (five minutes is usual) from
//! its own clock, so a captured request cannot be replayed later. A receiver must accept any
//! of several `v1=` entries, so that a secret can be rotated by signing with both.
//! [`verify_webhook`] does all of this.

use std::time::Duration;

use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;

use crate::{OpsError, Result};

type HmacSha256 = Hmac<Sha256>;

/// How long one SMTP conversation (connect to QUIT) or one webhook request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the header carrying the webhook signature.
pub const SIGNATURE_HEADER: &str = "Valet-Signature";
/// Name of the header carrying the event's `id`, so receivers can drop duplicates.
pub const EVENT_ID_HEADER: &str = "Valet-Event-Id";

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
    /// Plain connection upgraded with `STARTTLS`; fails if the server does not offer it.
    StartTls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

/// Where and how to send e-mail.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// Sender address, e.g. `valet@example.com` or `Valet <valet@example.com>`.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: TlsMode,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// The URL format, repeated in every error about it.
const URL_HELP: &str =
    "expected smtp://[user[:password]@]host[:port]?from=ADDRESS[&tls=none|starttls|tls] \
     or smtps://… (user and password percent-encoded)";

impl SmtpConfig {
    /// Environment variable read by [`SmtpConfig::from_env`].
    pub const ENV: &'static str = "VALET_SMTP_URL";

    /// Parses `smtp://user:pass@host:port?from=valet@example.com`.
    ///
    /// `smtp://` means plain text unless `tls=starttls` (default port 25, or 587 with
    /// STARTTLS); `smtps://` means TLS from the start (default port 465). User name and
    /// password are percent-decoded. `from` is required. Errors never repeat the password.
    pub fn from_url(s: &str) -> Result<SmtpConfig> {
        let bad = |why: String| OpsError::SmtpConfig(format!("{why}; {URL_HELP}"));
        // The parse error of `url` does not contain the input, so the password stays out.
        let url = url::Url::parse(s).map_err(|e| bad(format!("not a valid URL ({e})")))?;
        let mut tls = match url.scheme() {
            "smtp" => TlsMode::None,
            "smtps" => TlsMode::Tls,
            other => return Err(bad(format!("unknown scheme `{other}`"))),
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']'),
            _ => return Err(bad("no host".into())),
        }
        .to_string();
        let decode = |part: &str, what: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad(format!("{what} is not percent-encoded UTF-8")))
        };
        let username = match url.username() {
            "" => None,
            u => Some(decode(u, "user name")?),
        };
        let password = match url.password() {
            None => None,
            Some(p) => Some(decode(p, "password")?),
        };
        if password.is_some() && username.is_none() {
            return Err(bad("a password without a user name".into()));
        }
        let mut from = None;
        for (k, v) in url.query_pairs() {
            match &*k {
                "from" => from = Some(v.into_owned()),
                "tls" => {
                    tls = match &*v {
                        "none" => TlsMode::None,
                        "starttls" => TlsMode::StartTls,
                        "tls" => TlsMode::Tls,
                        other => return Err(bad(format!("unknown tls mode `{other}`"))),
                    }
                }
                other => return Err(bad(format!("unknown parameter `{other}`"))),
            }
        }
        let from = from.ok_or_else(|| bad("the sender is missing (`?from=`)".into()))?;
        from.parse::<Mailbox>()
            .map_err(|e| bad(format!("sender `{from}` is not an e-mail address ({e})")))?;
        let port = url.port().unwrap_or(match tls {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
        });
        Ok(SmtpConfig {
            host,
            port,
            from,
            username,
            password,
            tls,
        })
    }

    /// Reads [`SmtpConfig::ENV`]; `Ok(None)` when it is unset or empty (e-mail is off).
    pub fn from_env() -> Result<Option<SmtpConfig>> {
        match std::env::var(Self::ENV) {
            Ok(s) if !s.trim().is_empty() => SmtpConfig::from_url(s.trim())
                .map(Some)
                .map_err(|e| OpsError::SmtpConfig(format!("{}: {e}", Self::ENV))),
            _ => Ok(None),
        }
    }

    /// `host:port`, the way errors name the server.
    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One e-mail: a plain-text body, and optionally an HTML alternative of the same content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
}

/// Sends `email` through the SMTP server of `cfg`: one connection, one message.
///
/// Errors name the server as `host:port` and say what failed (address, connection, TLS,
/// authentication, rejection by the server); they never contain the password.
pub async fn send_email(cfg: &SmtpConfig, email: &Email) -> Result<()> {
    let server = cfg.server();
    let fail = |why: String| OpsError::Email {
        server: server.clone(),
        why,
    };
    if email.to.is_empty() {
        return Err(fail("the e-mail has no recipient".into()));
    }
    let from: Mailbox = cfg.from.parse().map_err(|e| {
        fail(format!(
            "sender `{}` is not an e-mail address ({e})",
            cfg.from
        ))
    })?;
    let mut builder = Message::builder().from(from).subject(&email.subject);
    for to in &email.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| fail(format!("recipient `{to}` is not an e-mail address ({e})")))?;
        builder = builder.to(mailbox);
    }
    let message = match &email.html_body {
        None => builder.singlepart(SinglePart::plain(email.text_body.clone())),
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            email.text_body.clone(),
            html.clone(),
        )),
    }
    .map_err(|e| fail(format!("cannot build the message: {e}")))?;

    let tls = match cfg.tls {
        TlsMode::None => Tls::None,
        TlsMode::StartTls | TlsMode::Tls => {
            let params = TlsParameters::new(cfg.host.clone())
                .map_err(|e| fail(format!("TLS set-up: {e}")))?;
            if cfg.tls == TlsMode::StartTls {
                Tls::Required(params)
            } else {
                Tls::Wrapper(params)
            }
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.as_str())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let Some(user) = &cfg.username {
        transport = transport.credentials(Credentials::new(
            user.clone(),
            cfg.password.clone().unwrap_or_default(),
        ));
    }
    let transport = transport.build();
    // lettre's timeout does not bound every read (a server that stops answering mid-
    // conversation held a send for minutes), so the whole conversation has a deadline too.
    match tokio::time::timeout(TIMEOUT, transport.send(message)).await {
        Err(_) => Err(fail(format!("no answer within {} s", TIMEOUT.as_secs()))),
        Ok(sent) => sent
            .map(|_| ())
            .map_err(|e| fail(smtp_why(&e, cfg.username.is_some()))),
    }
}

/// A readable reason for an SMTP failure, with a hint where one helps.
fn smtp_why(e: &lettre::transport::smtp::Error, with_credentials: bool) -> String {
    let mut why = e.to_string();
    if e.is_permanent() && with_credentials && why.contains("(535") {
        why.push_str(" (check the SMTP user name and password)");
    } else if e.is_timeout() {
        why = format!("no answer within {} s ({why})", TIMEOUT.as_secs());
    }
    why
}

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("no `{SIGNATURE_HEADER}` header")]
    Missing,
    #[error("malformed `{SIGNATURE_HEADER}` header: {0}")]
    Malformed(String),
    #[error("signature timestamp {timestamp} is {age} s away from now (tolerance {tolerance} s)")]
    Stale {
        timestamp: i64,
        age: i64,
        tolerance: i64,
    },
    #[error("signature does not match the body (wrong secret or altered body)")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp_unix: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp_unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Valet-Signature` value for `body` sent at `timestamp_unix`: `t=<unix>,v1=<hex>`,
/// the HMAC-SHA256 of `"{t}." + body` under `secret` (see the module docs).
pub fn sign_webhook(secret: &[u8], timestamp_unix: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp_unix, body).finalize().into_bytes();
    format!("t={timestamp_unix},v1={}", hex::encode(tag))
}

/// Checks a `Valet-Signature` header against the raw `body`, for receivers and tests.
///
/// Accepts when `t` is within `tolerance_secs` of `now_unix` (either side) and any `v1`
/// entry matches; unknown keys are ignored so the scheme can grow. Comparison is constant
/// time.
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> std::result::Result<(), WebhookError> {
    if header.trim().is_empty() {
        return Err(WebhookError::Missing);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(|| {
            WebhookError::Malformed(format!("`{}` is not key=value", part.trim()))
        })?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(WebhookError::Malformed("more than one `t`".into()));
                }
                timestamp = Some(value.parse::<i64>().map_err(|_| {
                    WebhookError::Malformed(format!("`t={value}` is not a Unix time"))
                })?);
            }
            "v1" => {
                signatures.push(hex::decode(value).map_err(|_| {
                    WebhookError::Malformed("a `v1` value is not hexadecimal".into())
                })?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| WebhookError::Malformed("no `t=`".into()))?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed("no `v1=`".into()));
    }
    let age = now_unix.saturating_sub(timestamp);
    if age.saturating_abs() > tolerance_secs {
        return Err(WebhookError::Stale {
            timestamp,
            age,
            tolerance: tolerance_secs,
        });
    }
    let expected = mac(secret, timestamp, body);
    if signatures
        .iter()
        .any(|sig| expected.clone().verify_slice(sig).is_ok())
    {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

/// `scheme://host:port` of a webhook URL: errors show no more, because the rest of a
/// webhook URL (path, query, user info) often carries a token.
fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// POSTs `event_json` to `url`, signed with `secret` at `now_unix`, and returns the status.
///
/// Headers: `Content-Type: application/json`, `Valet-Signature` (see the module docs) and
/// `Valet-Event-Id` when the event has an `id` field (string or number). A status outside
/// 2xx, a timeout (10 s) or a connection failure is an error, so the job queue retries.
pub async fn deliver_webhook(
    url: &str,
    secret: &[u8],
    event_json: &serde_json::Value,
    now_unix: i64,
) -> Result<u16> {
    let parsed = reqwest::Url::parse(url).map_err(|e| OpsError::Webhook {
        origin: "(invalid URL)".into(),
        why: format!("the webhook URL is not a valid URL ({e})"),
    })?;
    let fail = |why: String| OpsError::Webhook {
        origin: origin(&parsed),
        why,
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(format!(
            "scheme `{}` is not http or https",
            parsed.scheme()
        )));
    }
    let body = serde_json::to_vec(event_json).map_err(|e| fail(format!("event as JSON: {e}")))?;
    let signature = sign_webhook(secret, now_unix, &body);
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail(format!("HTTP client: {e}")))?;
    let mut request = client
        .post(parsed.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature);
    match event_json.get("id") {
        Some(serde_json::Value::String(id)) => request = request.header(EVENT_ID_HEADER, id),
        Some(id @ serde_json::Value::Number(_)) => {
            request = request.header(EVENT_ID_HEADER, id.to_string())
        }
        _ => {}
    }
    let response = request.body(body).send().await.map_err(|e| {
        let e = e.without_url();
        if e.is_timeout() {
            fail(format!("no answer within {} s", TIMEOUT.as_secs()))
        } else {
            fail(format!("request failed: {}", error_chain(&e)))
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let text = response.text().await.unwrap_or_default();
    let snippet: String = text.trim().chars().take(200).collect();
    Err(fail(if snippet.is_empty() {
        format!("receiver answered {status}")
    } else {
        format!("receiver answered {status}: {snippet}")
    }))
}

/// An error and its sources on one line (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","kind":"upgrade.scheduled"}"#;

    #[test]
    fn signature_has_timestamp_and_hex_mac_over_timestamp_dot_body() {
        let header = sign_webhook(b"secret", 1_700_000_000, b"{}");
        // Independent computation: HMAC-SHA256("secret", "1700000000.{}").
        let mut m = HmacSha256::new_from_slice(b"secret").unwrap();
        m.update(b"1700000000.{}");
        let hex_mac = hex::encode(m.finalize().into_bytes());
        assert_eq!(header, format!("t=1700000000,v1={hex_mac}"));
        assert_eq!(hex_mac.len(), 64);
    }

    #[test]
    fn signed_body_verifies() {
        let header = sign_webhook(SECRET, 1_700_000_000, BODY);
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, 1_700_000_010, 300),
            Ok(())
        );
    }

    #[test]
    fn tampered_body_is_rejected() {
        let header = sign_webhook(SECRET, 1_700_000_000, BODY);
        let tampered = br#"{"id":"evt_1","kind":"upgrade.cancelled"}"#;
        assert_eq!(
            verify_webhook(SECRET, &header, tampered, 1_700_000_000, 300),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let header = sign_webhook(b"other", 1_700_000_000, BODY);
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, 1_700_000_000, 300),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn changed_timestamp_breaks_the_signature() {
        let header = sign_webhook(SECRET, 1_700_000_000, BODY);
        let moved = header.replace("t=1700000000", "t=1700000100");
        assert_eq!(
            verify_webhook(SECRET, &moved, BODY, 1_700_000_100, 300),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamp_is_stale() {
        let header = sign_webhook(SECRET, 1_700_000_000, BODY);
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, 1_700_000_301, 300),
            Err(WebhookError::Stale {
                timestamp: 1_700_000_000,
                age: 301,
                tolerance: 300
            })
        );
        assert!(matches!(
            verify_webhook(SECRET, &header, BODY, 1_699_999_000, 300),
            Err(WebhookError::Stale { age: -1000, .. })
        ));
        assert_eq!(
            verify_webhook(SECRET, &header, BODY, 1_700_000_300, 300),
            Ok(())
        );
    }

    #[test]
    fn any_of_several_v1_entries_may_match_during_secret_rotation() {
        let new = sign_webhook(SECRET, 1_700_000_000, BODY);
        let old = sign_webhook(b"old-secret", 1_700_000_000, BODY);
        let old_v1 = old.split_once(",v1=").unwrap().1;
        let both = format!("{new},v1={old_v1},v0=ignored");
        assert_eq!(
            verify_webhook(SECRET, &both, BODY, 1_700_000_000, 60),
            Ok(())
        );
        assert_eq!(
            verify_webhook(b"old-secret", &both, BODY, 1_700_000_000, 60),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_rejected_with_the_reason() {
        let cases = [
            ("", WebhookError::Missing),
            ("v1=00", WebhookError::Malformed("no `t=`".into())),
            ("t=1700000000", WebhookError::Malformed("no `v1=`".into())),
            (
                "t=yesterday,v1=00",
                WebhookError::Malformed("`t=yesterday` is not a Unix time".into()),
            ),
            (
                "t=1700000000,v1=zz",
                WebhookError::Malformed("a `v1` value is not hexadecimal".into()),
            ),
            (
                "t=1700000000;v1=00",
                WebhookError::Malformed("`t=1700000000;v1=00` is not a Unix time".into()),
            ),
            (
                "t=1700000000,v1",
                WebhookError::Malformed("`v1` is not key=value".into()),
            ),
            ("sha256=abc", WebhookError::Malformed("no `t=`".into())),
        ];
        for (header, want) in cases {
            assert_eq!(
                verify_webhook(SECRET, header, BODY, 1_700_000_000, 300),
                Err(want),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn smtp_url_with_credentials_and_sender() {
        let cfg = SmtpConfig::from_url(
            "smtp://mailer:p%40ss%2Fw0rd+%26x@mail.example.com:2525?from=valet@example.com",
        )
        .unwrap();
        assert_eq!(
            cfg,
            SmtpConfig {
                host: "mail.example.com".into(),
                port: 2525,
                from: "valet@example.com".into(),
                username: Some("mailer".into()),
                password: Some("p@ss/w0rd+&x".into()),
                tls: TlsMode::None,
            }
        );
    }

    #[test]
    fn smtp_url_tls_modes_and_default_ports() {
        let c = SmtpConfig::from_url("smtp://h?from=a@b.c").unwrap();
        assert_eq!(
            (c.tls, c.port, c.username, c.password),
            (TlsMode::None, 25, None, None)
        );
        let c = SmtpConfig::from_url("smtp://h?from=a@b.c&tls=starttls").unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::StartTls, 587));
        let c = SmtpConfig::from_url("smtps://h?from=a@b.c").unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::Tls, 465));
        let c =
            SmtpConfig::from_url("smtp://[::1]:1025?from=Valet%20%3Cvalet@example.com%3E").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 1025));
        assert_eq!(c.from, "Valet <valet@example.com>");
        assert_eq!(c.server(), "[::1]:1025");
    }

    #[test]
    fn bad_smtp_urls_say_what_is_wrong_without_the_password() {
        let cases = [
            ("not a url", "not a valid URL"),
            ("http://u:hunter2@h?from=a@b.c", "unknown scheme `http`"),
            ("smtp://u:hunter2@h", "the sender is missing"),
            (
                "smtp://u:hunter2@h?from=nobody",
                "sender `nobody` is not an e-mail address",
            ),
            (
                "smtp://u:hunter2@h?from=a@b.c&tls=maybe",
                "unknown tls mode `maybe`",
            ),
            (
                "smtp://u:hunter2@h?from=a@b.c&form=x",
                "unknown parameter `form`",
            ),
            ("smtp://u:hunter2@h:99999?from=a@b.c", "not a valid URL"),
            (
                "smtp://:hunter2@h?from=a@b.c",
                "a password without a user name",
            ),
        ];
        for (url, want) in cases {
            let err = SmtpConfig::from_url(url).unwrap_err().to_string();
            assert!(err.contains(want), "{url}: {err}");
            assert!(err.contains("expected smtp://"), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn smtp_config_debug_hides_the_password() {
        let cfg = SmtpConfig::from_url("smtp://mailer:hunter2@h?from=a@b.c").unwrap();
        let debug = format!("{cfg:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("mailer"),
            "{debug}"
        );
    }

    #[test]
    fn webhook_origin_drops_path_query_and_user_info() {
        let url =
            reqwest::Url::parse("https://u:tok@hooks.example.com:8443/services/T0/B0/xyz?key=k")
                .unwrap();
        assert_eq!(origin(&url), "https://hooks.example.com:8443");
    }
}
