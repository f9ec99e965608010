//! Cross-site request forgery protection for the UI's forms.
//!
//! Every `POST` to a UI route carries a `csrf` form field; [`guard`] checks it before the
//! handler runs, and a missing or wrong token is a 403 that changes nothing.
//!
//! - Signed in, the token is `HMAC-SHA256(key = session secret, "valet-csrf-v1")`: bound to
//!   the session, stored nowhere, and useless after sign-out. The session secret lives in an
//!   `HttpOnly` cookie another site can neither read nor derive the token from.
//! - The sign-in form has no session yet: it uses a double-submit cookie. `GET /login` sets
//!   a random `valet_login_csrf` cookie (`HttpOnly`, `SameSite=Strict`) and puts the same
//!   value in the form; `POST /login` needs both, equal.
//!
//! The check sits in one middleware over the UI router rather than in each handler, so a
//! new form cannot forget it.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SESSION_COOKIE;

/// Name of the hidden form field holding the token.
pub const FIELD: &str = "csrf";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "valet_login_csrf";
/// Largest form body the guard reads: axum's default body limit (IdP metadata is a few kB).
pub const MAX_FORM: usize = 2 * 1024 * 1024;

type HmacSha256 = Hmac<Sha256>;

fn mac(session_secret: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(session_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    m.update(b"valet-csrf-v1");
    m
}

/// The form token of a session.
pub fn session_token(session_secret: &str) -> String {
    hex::encode(mac(session_secret).finalize().into_bytes())
}

/// Whether `token` is the session's token (constant-time comparison).
pub fn session_token_ok(session_secret: &str, token: &str) -> bool {
    match hex::decode(token.trim()) {
        Ok(bytes) => mac(session_secret).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// A fresh random value for the sign-in form and the cookie beside it.
pub fn login_cookie() -> (String, Cookie<'static>) {
    let value = hex::encode(rand::random::<[u8; 32]>());
    let cookie = Cookie::build((LOGIN_COOKIE, value.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login")
        .build();
    (value, cookie)
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the `csrf` field of a form body, URL-encoded or multipart.
async fn token_of(parts: &axum::http::request::Parts, bytes: &axum::body::Bytes) -> Option<String> {
    let ct = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/x-www-form-urlencoded") {
        return url::form_urlencoded::parse(bytes)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned());
    }
    if ct.starts_with("multipart/form-data") {
        let mut req = Request::new(Body::from(bytes.clone()));
        *req.headers_mut() = parts.headers.clone();
        let mut mp = Multipart::from_request(req, &()).await.ok()?;
        while let Ok(Some(field)) = mp.next_field().await {
            if field.name() == Some(FIELD) {
                return field.text().await.ok();
            }
        }
    }
    None
}

fn refused() -> Response {
    let page = super::render(
        "error.html",
        minijinja::context! {
            title => "Form expired",
            message => "This form could not be accepted: its security token is missing or \
                        out of date. Go back, reload the page and submit it again.",
            user => None::<()>,
        },
    )
    .map(|h| h.0)
    .unwrap_or_else(|_| "forbidden: missing or wrong CSRF token".into());
    (StatusCode::FORBIDDEN, Html(page)).into_response()
}

/// Middleware: lets a `POST` through only with the right token.
pub async fn guard(req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "form too large: uploads are limited to 2 MiB",
            )
                .into_response()
        }
    };
    let jar = CookieJar::from_headers(&parts.headers);
    let token = token_of(&parts, &bytes).await.unwrap_or_default();
    let ok = if parts.uri.path() == "/login" {
        match jar.get(LOGIN_COOKIE) {
            Some(c) => !token.is_empty() && equal(c.value().as_bytes(), token.as_bytes()),
            None => false,
        }
    } else {
        match jar.get(SESSION_COOKIE) {
            Some(c) => session_token_ok(c.value(), &token),
            None => false,
        }
    };
    if !ok {
        tracing::warn!(path = %parts.uri.path(), "form refused: missing or wrong CSRF token");
        return refused();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_token_verifies_only_for_its_session() {
        let t = session_token("secret-a");
        assert!(session_token_ok("secret-a", &t));
        assert!(!session_token_ok("secret-b", &t));
        assert!(!session_token_ok("secret-a", ""));
        assert!(!session_token_ok("secret-a", "zz"));
        assert_ne!(t, "secret-a");
    }

    #[test]
    fn login_values_are_random() {
        assert_ne!(login_cookie().0, login_cookie().0);
        assert_eq!(login_cookie().0.len(), 64);
    }
}
