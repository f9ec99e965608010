//! The API reference page (`/api`): the OpenAPI document of `/api/v1` as a readable page, for
//! the people who script against valet (a customer's validation lead exporting findings, a
//! vendor engineer automating bookings). Built once from the same document the server serves
//! at `/api/v1/openapi.json`, so it cannot say other than the API does.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use super::{base, render, UiError, UiUser};

#[derive(Debug, Serialize)]
struct Reference {
    title: String,
    version: String,
    intro: Vec<String>,
    groups: Vec<Group>,
    schemas: Vec<SchemaView>,
}

#[derive(Debug, Serialize)]
struct Group {
    tag: String,
    description: String,
    operations: Vec<Operation>,
}

#[derive(Debug, Serialize)]
struct Operation {
    id: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    open: bool,
    params: Vec<Field>,
    body: Option<Body>,
    responses: Vec<Answer>,
}

#[derive(Debug, Serialize)]
struct Body {
    content_types: Vec<String>,
    ty: Type,
    description: String,
    /// The body's schema's example, as pretty JSON.
    example: Option<String>,
}

#[derive(Debug, Serialize)]
struct Answer {
    status: String,
    description: String,
    /// The JSON body's type, when the answer is JSON.
    ty: Option<Type>,
    /// Other content types (files, calendars, event streams).
    other: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Field {
    name: String,
    /// `path`, `query`, or empty for a schema's field.
    at: String,
    required: bool,
    ty: Type,
    description: String,
}

#[derive(Debug, Serialize)]
struct SchemaView {
    name: String,
    description: String,
    ty: Type,
    fields: Vec<Field>,
    /// A flattened struct: the schemas whose fields it has too.
    includes: Vec<String>,
    example: Option<String>,
}

/// A type as shown: its text and the schema it links to, if one.
#[derive(Debug, Clone, Serialize)]
struct Type {
    text: String,
    link: Option<String>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let typed = crate::api_parts().1;
        let doc: Value = serde_json::to_value(&typed).unwrap_or_default();
        let mut r = build(&doc);
        declaration_order(&mut r, &typed);
        r
    })
}

/// Puts each schema's fields in the order the type declares them (a parsed JSON map sorts its
/// keys; the typed document keeps their order).
fn declaration_order(r: &mut Reference, doc: &utoipa::openapi::OpenApi) {
    use utoipa::openapi::{schema::Schema, RefOr};
    let Some(components) = &doc.components else {
        return;
    };
    for view in &mut r.schemas {
        let members: Vec<&RefOr<Schema>> = match components.schemas.get(&view.name) {
            Some(RefOr::T(Schema::AllOf(all))) => all.items.iter().collect(),
            Some(s) => vec![s],
            None => Vec::new(),
        };
        let order: Vec<&String> = members
            .into_iter()
            .filter_map(|s| match s {
                RefOr::T(Schema::Object(o)) => Some(o.properties.keys()),
                _ => None,
            })
            .flatten()
            .collect();
        view.fields.sort_by_key(|f| {
            order
                .iter()
                .position(|n| **n == f.name)
                .unwrap_or(usize::MAX)
        });
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn build(doc: &Value) -> Reference {
    let mut groups: Vec<Group> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| Group {
            tag: text(&t["name"]),
            description: text(&t["description"]),
            operations: Vec::new(),
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tag = text(&op["tags"][0]);
            let operation = operation(method, path, op, &doc["components"]["schemas"]);
            match groups.iter_mut().find(|g| g.tag == tag) {
                Some(g) => g.operations.push(operation),
                None => groups.push(Group {
                    tag,
                    description: String::new(),
                    operations: vec![operation],
                }),
            }
        }
    }
    groups.retain(|g| !g.operations.is_empty());
    let mut schemas: Vec<SchemaView> = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| schema_view(name, s))
        .collect();
    schemas.sort_by(|a, b| a.name.cmp(&b.name));
    Reference {
        title: text(&doc["info"]["title"]),
        version: text(&doc["info"]["version"]),
        intro: text(&doc["info"]["description"])
            .split("\n\n")
            .map(str::to_string)
            .collect(),
        groups,
        schemas,
    }
}

/// A schema's (first) example as pretty JSON.
fn example_of(s: &Value) -> Option<String> {
    s.get("example")
        .or_else(|| s["examples"].get(0))
        .and_then(|e| serde_json::to_string_pretty(e).ok())
}

fn operation(method: &str, path: &str, op: &Value, schemas: &Value) -> Operation {
    let params = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Field {
            name: text(&p["name"]),
            at: text(&p["in"]),
            required: p["required"].as_bool().unwrap_or(false),
            ty: type_of(&p["schema"]),
            description: text(&p["description"]),
        })
        .collect();
    let body = op["requestBody"].as_object().map(|b| {
        let content = b
            .get("content")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Body {
            content_types: content.keys().cloned().collect(),
            ty: content
                .values()
                .next()
                .map(|c| type_of(&c["schema"]))
                .unwrap_or_else(|| plain("any")),
            description: b.get("description").map(text).unwrap_or_default(),
            example: content
                .values()
                .next()
                .and_then(|c| ref_name(&c["schema"]))
                .and_then(|name| example_of(&schemas[name.as_str()])),
        }
    });
    let responses = op["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let content = r["content"].as_object().cloned().unwrap_or_default();
            Answer {
                status: status.clone(),
                description: text(&r["description"]),
                ty: content
                    .get("application/json")
                    .map(|c| type_of(&c["schema"])),
                other: content
                    .keys()
                    .filter(|k| *k != "application/json")
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    let open = op["security"].as_array().is_some_and(|s| {
        s.iter()
            .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
    });
    Operation {
        id: text(&op["operationId"]),
        method: method.to_uppercase(),
        path: path.to_string(),
        summary: text(&op["summary"]),
        description: text(&op["description"]),
        open,
        params,
        body,
        responses,
    }
}

fn schema_view(name: &str, s: &Value) -> SchemaView {
    let mut fields = Vec::new();
    let mut includes = Vec::new();
    let mut add_fields = |obj: &Value| {
        let required: Vec<&str> = obj["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (field, fs) in obj["properties"].as_object().into_iter().flatten() {
            fields.push(Field {
                name: field.clone(),
                at: String::new(),
                required: required.contains(&field.as_str()),
                ty: type_of(fs),
                description: text(&fs["description"]),
            });
        }
    };
    add_fields(s);
    for member in s["allOf"].as_array().into_iter().flatten() {
        match ref_name(member) {
            Some(r) => includes.push(r),
            None => add_fields(member),
        }
    }
    SchemaView {
        name: name.to_string(),
        description: text(&s["description"]),
        ty: type_of(s),
        fields,
        includes,
        example: example_of(s),
    }
}

fn ref_name(s: &Value) -> Option<String> {
    s["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(str::to_string)
}

fn plain(t: &str) -> Type {
    Type {
        text: t.to_string(),
        link: None,
    }
}

/// A schema as a short type: `Request`, `[Run]`, `string?`, `date-time`, `"a" | "b"`.
fn type_of(s: &Value) -> Type {
    if let Some(name) = ref_name(s) {
        return Type {
            text: name.clone(),
            link: Some(name),
        };
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(members) = s[key].as_array() {
            let (nulls, others): (Vec<&Value>, Vec<&Value>) =
                members.iter().partition(|m| m["type"] == "null");
            let types: Vec<Type> = others.into_iter().map(type_of).collect();
            let mut t = Type {
                text: types
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
                link: types.iter().find_map(|t| t.link.clone()),
            };
            if !nulls.is_empty() {
                t.text.push('?');
            }
            return t;
        }
    }
    if let Some(members) = s["allOf"].as_array() {
        let types: Vec<Type> = members.iter().map(type_of).collect();
        return Type {
            text: types
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
            link: types.iter().find_map(|t| t.link.clone()),
        };
    }
    if let Some(values) = s["enum"].as_array() {
        return plain(
            &values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
        );
    }
    let (base, nullable) = match &s["type"] {
        Value::String(t) => (t.clone(), false),
        Value::Array(ts) => {
            let nullable = ts.iter().any(|t| t == "null");
            let base = ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("any");
            (base.to_string(), nullable)
        }
        _ => ("any".to_string(), false),
    };
    let mut t = match base.as_str() {
        "array" => {
            let item = type_of(&s["items"]);
            Type {
                text: format!("[{}]", item.text),
                link: item.link,
            }
        }
        "string" => plain(s["format"].as_str().unwrap_or("string")),
        "integer" | "number" | "boolean" | "object" => plain(&base),
        _ => plain("any"),
    };
    if nullable {
        t.text.push('?');
    }
    t
}

pub(super) async fn page(u: UiUser) -> Result<Html<String>, UiError> {
    render(
        "api.html",
        context! { ..base(&u, "api"), ..context! { api => reference() } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_renders_every_operation_and_schema() {
        let html = render("api.html", context! { page => "api", api => reference() })
            .unwrap_or_else(|e| panic!("{:?}", e.0))
            .0;
        assert!(html.contains("id=\"op-requests_create_val\""));
        assert!(html.contains("id=\"schema-ValRequestInput\""));
        assert!(html.contains("<code>"), "backticks become code");
        assert!(
            html.contains("<pre class=\"example\">{")
                && html.contains("&quot;sso_required&quot;: false"),
            "a request body's example is shown"
        );
        assert!(!html.contains("`"), "no backtick is left as text");
    }

    #[test]
    fn fields_come_in_the_order_their_type_declares_them() {
        let r = reference();
        let fields = |name: &str| -> Vec<&str> {
            let s = r.schemas.iter().find(|s| s.name == name).unwrap();
            s.fields.iter().map(|f| f.name.as_str()).collect()
        };
        assert_eq!(
            fields("ValRequestInput")[..4],
            ["pair", "build", "begin", "end"]
        );
        assert_eq!(
            fields("ErrorBody"),
            ["error", "message", "fields", "correlation_id"]
        );
    }

    #[test]
    fn types_read_as_people_write_them() {
        let t = |v: Value| type_of(&v).text;
        assert_eq!(t(json!({"$ref": "#/components/schemas/Run"})), "Run");
        assert_eq!(
            t(json!({"type": "array", "items": {"$ref": "#/components/schemas/Run"}})),
            "[Run]"
        );
        assert_eq!(t(json!({"type": ["string", "null"]})), "string?");
        assert_eq!(
            t(json!({"type": "string", "format": "date-time"})),
            "date-time"
        );
        assert_eq!(
            t(json!({"oneOf": [{"$ref": "#/components/schemas/Build"}, {"type": "null"}]})),
            "Build?"
        );
        assert_eq!(
            t(json!({"type": "string", "enum": ["leave", "on_call"]})),
            "\"leave\" | \"on_call\""
        );
        assert_eq!(t(json!({})), "any");
        let nested = type_of(&json!({"type": "array", "items": {"oneOf": [
            {"$ref": "#/components/schemas/Slot"}, {"type": "null"}]}}));
        assert_eq!(nested.text, "[Slot?]");
        assert_eq!(nested.link.as_deref(), Some("Slot"));
    }

    #[test]
    fn every_operation_and_schema_of_the_document_is_on_the_page() {
        let doc: Value = serde_json::from_str(&crate::openapi_json()).unwrap();
        let r = build(&doc);
        let ops: usize = r.groups.iter().map(|g| g.operations.len()).sum();
        let documented = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|i| i.as_object().unwrap().len())
            .sum::<usize>();
        assert_eq!(ops, documented);
        assert_eq!(
            r.schemas.len(),
            doc["components"]["schemas"].as_object().unwrap().len()
        );
        // Every type a page links to is a schema on the page.
        let names: Vec<&str> = r.schemas.iter().map(|s| s.name.as_str()).collect();
        let links = r
            .schemas
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| &f.ty))
            .chain(r.groups.iter().flat_map(|g| {
                g.operations
                    .iter()
                    .flat_map(|o| o.responses.iter().filter_map(|a| a.ty.as_ref()))
            }))
            .filter_map(|t| t.link.as_deref());
        for link in links {
            assert!(names.contains(&link), "{link} is linked but not shown");
        }
        let feed = r
            .groups
            .iter()
            .flat_map(|g| &g.operations)
            .find(|o| o.path == "/api/v1/calendar/feed/{file}")
            .unwrap();
        assert!(feed.open, "the feed needs no credentials");
    }
}
