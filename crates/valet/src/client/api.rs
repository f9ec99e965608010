//! HTTP to valet's `/api/v1`: the bearer token on every call, and the server's errors turned
//! into messages that say what to do.

use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use super::Conn;

/// How the server's router answers a path it does not know (an older server than this client).
/// A handler's own 404 may also say "no such endpoint …", e.g. the engineers for a customer.
const UNKNOWN_PATH: &str = "no such endpoint; ";

/// How to get a token, said wherever one is missing or refused.
pub const TOKEN_HINT: &str =
    "an administrator issues one on the server with `valet user token --username U`";

/// A connection to one server as one person.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

/// A refusal by the server: its status, message and (for a 400 on an input) each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
    pub fields: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiFailure {}

/// The body of an error answer: `{error, message, fields?}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    message: String,
    fields: Vec<FieldError>,
}

impl ApiFailure {
    /// Reads a non-success answer into what a person should be told.
    pub fn from_answer(status: StatusCode, body: &str, server: &str) -> ApiFailure {
        let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
        let said = if parsed.message.is_empty() {
            let text = body.trim();
            if text.is_empty() || text.len() > 300 {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                text.to_string()
            }
        } else {
            parsed.message
        };
        let message = match status {
            StatusCode::UNAUTHORIZED => {
                format!("the server refused the token ({said}); {TOKEN_HINT}")
            }
            StatusCode::NOT_FOUND if said.starts_with(UNKNOWN_PATH) => format!(
                "the server at {server} does not offer this call ({said}); is it an older valet \
                 than this client?"
            ),
            StatusCode::NOT_FOUND => format!("not found (or not yours to see): {said}"),
            StatusCode::FORBIDDEN => format!("forbidden: {said}"),
            StatusCode::BAD_REQUEST if !parsed.fields.is_empty() => {
                let n = parsed.fields.len();
                format!(
                    "the server refused the input: {n} field{} to fix",
                    if n == 1 { "" } else { "s" }
                )
            }
            _ => said,
        };
        ApiFailure {
            status: status.as_u16(),
            message,
            fields: parsed.fields,
        }
    }
}

impl Api {
    /// Checks the server URL and that a token was given; does not call the server yet.
    pub fn new(conn: &Conn) -> anyhow::Result<Api> {
        let token = match conn.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => bail!("no API token: pass --token or set VALET_TOKEN; {TOKEN_HINT}"),
        };
        let base = parse_server(&conn.server)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("valet-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Api { http, base, token })
    }

    /// The server's URL as given.
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `<server>/api/v1/<segments…>`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// GET a JSON answer; returns its text (for `--json`, printed as is).
    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> anyhow::Result<String> {
        let bytes = self.call(Method::GET, segments, query, None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// GET raw bytes (a document).
    pub async fn get_bytes(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> anyhow::Result<Vec<u8>> {
        self.call(Method::GET, segments, query, None).await
    }

    /// POST a JSON body; returns the answer's text (empty for a 204).
    pub async fn post(&self, segments: &[&str], body: &Value) -> anyhow::Result<String> {
        let bytes = self.call(Method::POST, segments, &[], Some(body)).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// PUT a JSON body; returns the answer's text.
    pub async fn put(&self, segments: &[&str], body: &Value) -> anyhow::Result<String> {
        let bytes = self.call(Method::PUT, segments, &[], Some(body)).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// DELETE; returns the answer's text (empty for a 204).
    pub async fn delete(&self, segments: &[&str]) -> anyhow::Result<String> {
        let bytes = self.call(Method::DELETE, segments, &[], None).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> anyhow::Result<Vec<u8>> {
        let url = self.url(segments);
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(&e))?
            .to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(&bytes);
        let failure = ApiFailure::from_answer(status, &text, self.server());
        if failure.status == 404 && text.contains(UNKNOWN_PATH) && segments != ["me"] {
            // A server without this call: say so, unless the token is the problem (unknown
            // paths are answered before the token is looked at).
            if let Err(e) = Box::pin(self.call(Method::GET, &["me"], &[], None)).await {
                if e.downcast_ref::<ApiFailure>()
                    .is_some_and(|f| f.status == 401)
                {
                    return Err(e);
                }
            }
        }
        Err(failure.into())
    }

    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        let mut cause = String::new();
        let mut src: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = src {
            let text = s.to_string();
            if !cause.contains(&text) {
                if !cause.is_empty() {
                    cause.push_str(": ");
                }
                cause.push_str(&text);
            }
            src = s.source();
        }
        anyhow::anyhow!(
            "cannot reach valet at {} ({cause}); is the server running? Point --server or \
             VALET_SERVER at it",
            self.server()
        )
    }
}

/// Parses `--server`: an http(s) URL.
fn parse_server(s: &str) -> anyhow::Result<Url> {
    let hint = "give the server as an http:// or https:// URL, e.g. http://127.0.0.1:8080";
    let url = Url::parse(s.trim()).with_context(|| format!("--server `{s}`: {hint}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("--server `{s}`: {hint}");
    }
    Ok(url)
}

/// Parses an API answer into what this client shows.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    serde_json::from_str(text).context(
        "the server's answer is not what this client expects; are the client and server of \
         the same valet version?",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(server: &str, token: Option<&str>) -> Conn {
        Conn {
            server: server.into(),
            token: token.map(Into::into),
        }
    }

    #[test]
    fn missing_token_says_how_to_get_one() {
        let err = Api::new(&conn("http://127.0.0.1:8080", None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("valet user token --username"), "{err}");
        assert!(Api::new(&conn("http://127.0.0.1:8080", Some("  "))).is_err());
    }

    #[test]
    fn server_must_be_an_http_url() {
        for bad in ["localhost:8080", "ftp://x", "127.0.0.1"] {
            let err = Api::new(&conn(bad, Some("t"))).unwrap_err().to_string();
            assert!(err.contains("http://"), "{bad}: {err}");
        }
    }

    #[test]
    fn urls_keep_a_path_prefix_and_encode_segments() {
        let api = Api::new(&conn("https://valet.example/ops/", Some("t"))).unwrap();
        assert_eq!(
            api.url(&["requests", "VAL-3", "approve"]).as_str(),
            "https://valet.example/ops/api/v1/requests/VAL-3/approve"
        );
        assert_eq!(
            api.url(&["findings", "a/b"]).as_str(),
            "https://valet.example/ops/api/v1/findings/a%2Fb"
        );
        let api = Api::new(&conn("http://127.0.0.1:8080", Some("t"))).unwrap();
        assert_eq!(
            api.url(&["requests"]).as_str(),
            "http://127.0.0.1:8080/api/v1/requests"
        );
    }

    #[test]
    fn field_errors_are_kept_one_by_one() {
        let body = r#"{"error":"bad_request","message":"pair: x; end: y","fields":[{"field":"pair","message":"x"},{"field":"end","message":"y"}]}"#;
        let f = ApiFailure::from_answer(StatusCode::BAD_REQUEST, body, "http://s");
        assert_eq!(f.fields.len(), 2);
        assert_eq!(f.fields[1].field, "end");
        assert!(f.message.contains("2 fields"), "{}", f.message);
    }

    #[test]
    fn not_found_says_it_may_be_someone_elses() {
        let body = r#"{"error":"not_found","message":"request VAL-9 not found"}"#;
        let f = ApiFailure::from_answer(StatusCode::NOT_FOUND, body, "http://s");
        assert_eq!(
            f.message,
            "not found (or not yours to see): request VAL-9 not found"
        );
        let body =
            r#"{"error":"not_found","message":"no such endpoint; the API lives under /api/v1"}"#;
        let f = ApiFailure::from_answer(StatusCode::NOT_FOUND, body, "http://s");
        assert!(f.message.contains("older valet"), "{}", f.message);
        let body = r#"{"error":"not_found","message":"no such endpoint for customers"}"#;
        let f = ApiFailure::from_answer(StatusCode::NOT_FOUND, body, "http://s");
        assert_eq!(
            f.message,
            "not found (or not yours to see): no such endpoint for customers"
        );
    }

    #[test]
    fn unauthorized_says_how_to_get_a_token() {
        let f = ApiFailure::from_answer(StatusCode::UNAUTHORIZED, "", "http://s");
        assert!(f.message.contains("refused the token"), "{}", f.message);
        assert!(f.message.contains("valet user token"), "{}", f.message);
    }
}
