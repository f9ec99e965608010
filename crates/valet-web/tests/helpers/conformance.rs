//! Every `/api/v1` answer a test provokes is checked against the OpenAPI document the server
//! serves: the status must be documented for the route and method, and a JSON body must match
//! the documented schema, with no field the document leaves out. A mismatch fails the test
//! that provoked it (when its `TestApp` is dropped), naming the call, the status and what
//! differed; the calls the tests already make are the examples.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

pub struct Conformance {
    doc: Value,
    /// The document's components, strict: an object schema allows no other properties.
    components: Value,
    /// Path templates as segments (`None` for a `{parameter}`), fewest parameters first, so
    /// that `/requests/val` is matched before `/requests/{key}`.
    routes: Vec<(String, Vec<Option<String>>)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    failures: Mutex<Vec<String>>,
    checked: AtomicUsize,
}

impl Conformance {
    pub fn new() -> Conformance {
        let doc: Value = serde_json::from_str(&valet_web::openapi_json()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let strict: Map<String, Value> = schemas
            .iter()
            .map(|(k, v)| (k.clone(), tighten(v, true, schemas)))
            .collect();
        let components = serde_json::json!({ "schemas": strict });
        let mut routes: Vec<(String, Vec<Option<String>>)> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(|p| {
                let segs = p
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                    .collect();
                (p.clone(), segs)
            })
            .collect();
        routes.sort_by_key(|(_, segs)| segs.iter().filter(|s| s.is_none()).count());
        Conformance {
            doc,
            components,
            routes,
            validators: Mutex::default(),
            failures: Mutex::default(),
            checked: AtomicUsize::new(0),
        }
    }

    /// What did not match, one line per call.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }

    /// How many answers were checked.
    pub fn checked(&self) -> usize {
        self.checked.load(Ordering::Relaxed)
    }

    fn route_of(&self, path: &str) -> Option<&str> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.routes
            .iter()
            .find(|(_, t)| {
                t.len() == segs.len()
                    && t.iter()
                        .zip(&segs)
                        .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
            })
            .map(|(p, _)| p.as_str())
    }

    fn check(&self, method: &str, path: &str, status: u16, body: &[u8]) {
        self.checked.fetch_add(1, Ordering::Relaxed);
        if let Err(why) = self.mismatch(method, path, status, body) {
            self.fail(method, path, status, why);
        }
    }

    fn fail(&self, method: &str, path: &str, status: u16, why: String) {
        self.failures.lock().unwrap().push(format!(
            "{} {path} → {status}: {why}",
            method.to_uppercase()
        ));
    }

    /// Whether an answer's content type is one the document gives for its route and status
    /// (parameters such as `charset` aside); an answer documented without content has none.
    pub fn content_type_documented(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
    ) -> Result<(), String> {
        let essence = |t: &str| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        let Some(route) = self.route_of(path) else {
            // The fallback's 404 is checked as JSON by `mismatch`.
            return if essence(content_type) == "application/json" {
                Ok(())
            } else {
                Err(format!("an undocumented path answered `{content_type}`"))
            };
        };
        let answer = &self.doc["paths"][route][method]["responses"][status.to_string()];
        let Some(answer) = answer.as_object() else {
            return Err(format!("status {status} is not documented for {route}"));
        };
        let documented: Vec<String> = answer
            .get("content")
            .and_then(Value::as_object)
            .map(|c| c.keys().map(|k| essence(k)).collect())
            .unwrap_or_default();
        let got = essence(content_type);
        if documented.is_empty() && got.is_empty() || documented.contains(&got) {
            return Ok(());
        }
        // A file answer documented as `*/*` is of its own type.
        if documented.iter().any(|d| d == "*/*") && !got.is_empty() {
            return Ok(());
        }
        Err(format!(
            "answered `{content_type}`; the document says {documented:?} for {route}"
        ))
    }

    /// Why an answer differs from the document, if it does.
    pub fn mismatch(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let (key, schema) = match self.route_of(path) {
            Some(route) => {
                let op = &self.doc["paths"][route][method];
                if op.is_null() {
                    return Err(format!("{method} is not documented for {route}"));
                }
                let answer = &op["responses"][status.to_string()];
                if answer.is_null() {
                    return Err(format!("status {status} is not documented for {route}"));
                }
                let schema = &answer["content"]["application/json"]["schema"];
                if schema.is_null() {
                    return Err("documented without a JSON body".into());
                }
                (format!("{method} {route} {status}"), schema.clone())
            }
            // No route: the server's fallback, a 404 with the error body.
            None if status == 404 => (
                "fallback".to_string(),
                serde_json::json!({ "$ref": "#/components/schemas/ErrorBody" }),
            ),
            None => return Err("no documented route matches the path".into()),
        };
        let validator = self.validator(&key, &schema);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .take(5)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let mut shown = value.to_string();
        if shown.len() > 600 {
            shown.truncate(shown.floor_char_boundary(600));
            shown.push('…');
        }
        Err(format!(
            "the body does not match the document: {}; body: {shown}",
            errors.join("; ")
        ))
    }

    /// Why `value` is not a valid instance of the component schema `name`, if it is not.
    pub fn schema_mismatch(&self, name: &str, value: &Value) -> Result<(), String> {
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        let errors: Vec<String> = self
            .validator(&format!("schema {name}"), &schema)
            .iter_errors(value)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The document as served.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    fn validator(&self, key: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        cache
            .entry(key.to_string())
            .or_insert_with(|| {
                let schemas = self.components["schemas"].as_object().unwrap();
                let mut root = tighten(schema, true, schemas);
                root["components"] = self.components.clone();
                Arc::new(
                    jsonschema::draft202012::new(&root)
                        .unwrap_or_else(|e| panic!("the schema of {key} does not compile: {e}")),
                )
            })
            .clone()
    }
}

/// `schema` with every object closed (`unevaluatedProperties: false`) where it is `strict`. A
/// member of `allOf` (a flattened struct) is inlined open, and the `allOf` closed around all
/// of them, so that each member's properties count as known.
fn tighten(schema: &Value, strict: bool, schemas: &Map<String, Value>) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let v = match k.as_str() {
            "properties" => Value::Object(
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, s)| (name.clone(), tighten(s, true, schemas)))
                    .collect(),
            ),
            "items" | "additionalProperties" => tighten(v, true, schemas),
            "oneOf" | "anyOf" => Value::Array(
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| tighten(s, strict, schemas))
                    .collect(),
            ),
            "allOf" => Value::Array(
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        let inlined = s["$ref"]
                            .as_str()
                            .and_then(|r| r.strip_prefix("#/components/schemas/"))
                            .map(|name| &schemas[name])
                            .unwrap_or(s);
                        tighten(inlined, false, schemas)
                    })
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    let open_object = out.contains_key("properties") || out.contains_key("allOf");
    if strict && open_object && !out.contains_key("additionalProperties") {
        out.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

/// The middleware: passes the call on, then checks what came back: the content type of every
/// answer against the documented ones, and a JSON body against its schema (files, calendars
/// and event streams are only held to their content type).
pub async fn check(State(c): State<Arc<Conformance>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_ascii_lowercase();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let status = resp.status().as_u16();
    if let Err(why) = c.content_type_documented(&method, &path, status, &content_type) {
        c.fail(&method, &path, status, why);
        return resp;
    }
    if !content_type.starts_with("application/json") {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    c.check(&method, &path, status, &bytes);
    Response::from_parts(parts, Body::from(bytes))
}
