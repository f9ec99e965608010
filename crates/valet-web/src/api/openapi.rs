//! The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json` and printed by
//! `valet openapi`. It is built from the handlers' own `#[utoipa::path]` annotations and the
//! schemas derived from the types they answer with; the router registers the same handlers
//! through the same `routes!` calls, so the document cannot list a route the server lacks,
//! nor miss one it has.

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};
use valet_core::FieldError;

/// The parts of the document that are not handlers: title, security schemes, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "valet",
        description = "The control plane of validated upgrade cycles: the release catalog, \
            VAL requests with their e-signed approvals, findings and sign-off, PROD upgrade \
            scheduling and runs, hotfix acceptance, controlled documents and the audit trail.\n\n\
            Every call is a person's: send `Authorization: Bearer <API token>` (tokens are made \
            per user: `valet user token --username U`) or HTTP basic credentials. A signature (approve, \
            sign, hotfix accept/decline, a booking override) needs the password again in the \
            body. Another tenant's object answers 404, as a missing one does. Errors answer \
            `{\"error\": code, \"message\": what was wrong and how to fix it}`; a 400 about \
            named fields adds `fields`."
    ),
    security(("token" = []), ("password" = []), ("session" = [])),
    tags(
        (name = "me", description = "Who the caller is."),
        (name = "customers", description = "Tenants (customers) and their time zones."),
        (name = "environments", description = "PROD and VAL environments, registered as Main + Test pairs."),
        (name = "releases", description = "The release catalog: import of manifests, publishing, cumulative release notes, search, version lag."),
        (name = "hotfixes", description = "Published hotfixes offered to the caller's PROD pairs, accepted (with slots) or declined, e-signed."),
        (name = "requests", description = "Requests (VAL-N, UPG-N, HFX-N): filing, e-signed approval, extension, sign-off, comments, watchers, attachments, history."),
        (name = "findings", description = "Findings filed against a VAL during validation."),
        (name = "runs", description = "Runs of a request (provisioning, teardown, upgrade) with their steps; the live event stream; starting, aborting and confirming upgrade runs."),
        (name = "documents", description = "Controlled documents (IQ reports) as PDF or HTML."),
        (name = "schedule", description = "PROD upgrade scheduling: slots, the PM's assessment and booking, quiet time, calendars, engineers' hours, blackouts and freezes."),
        (name = "audit", description = "The hash-chained audit trail."),
        (name = "webhooks", description = "Outbound webhooks (administrators)."),
    ),
    components(schemas(ErrorBody, ErrorCode))
)]
pub struct ApiDoc;

/// What every error answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// What was wrong and how to fix it.
    pub message: String,
    /// A 400 about named fields: each field with what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
    /// A 500: quote it when reporting the error (the server's log has the details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// What kind of error, one per HTTP status valet answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the input is wrong (`fields` names each wrong field).
    BadRequest,
    /// 401: no or wrong credentials.
    Unauthenticated,
    /// 403: the caller's role may not, or a signature's password was wrong.
    Forbidden,
    /// 404: no such thing, or not the caller's tenant's.
    NotFound,
    /// 409: the object's state does not allow it, or it exists already.
    Conflict,
    /// 413: the body is larger than the operation takes.
    TooLarge,
    /// 500: valet failed; `correlation_id` finds it in the log.
    Internal,
}

/// Completes the document once every route is in: security schemes, operation ids
/// (`<tag>_<handler>`, unique), and the answers every operation may give (401 without
/// credentials, 400 for a body, query string or path that cannot be read, 500 with a correlation
/// id).
pub fn finish(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("valet_…")
                .description(Some(
                    "A user's API token (`valet user token --username U`).",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "password",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some("The user's name and password."))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            crate::ui::SESSION_COOKIE,
            "The web UI's session (its pages call the API for downloads and live updates).",
        ))),
    );
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            conventions_of(op);
        }
    }
}

fn conventions_of(op: &mut Operation) {
    let tag = op
        .tags
        .as_ref()
        .and_then(|t| t.first())
        .cloned()
        .unwrap_or_default();
    if let Some(id) = op.operation_id.as_ref().filter(|id| **id != tag) {
        op.operation_id = Some(format!("{tag}_{id}"));
    }
    // An operation with `security(())` (the calendar feed) takes no credentials.
    let open = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    if !open {
        op.responses
            .responses
            .entry("401".into())
            .or_insert_with(|| {
                error(
                    "No or wrong credentials: send `Authorization: Bearer <API token>` or basic \
                 credentials.",
                )
            });
    }
    // Any operation reading a body, a query string or path parameters refuses one it cannot
    // read.
    let reads_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|ps| !ps.is_empty());
    if reads_input {
        op.responses.responses.entry("400".into()).or_insert_with(|| {
            error("The body, query string or path cannot be read; the message says what is wrong.")
        });
    }
    op.responses
        .responses
        .entry("500".into())
        .or_insert_with(|| {
            error("An internal error; the body's `correlation_id` finds it in the server's log.")
        });
}

/// A response with an [`ErrorBody`].
pub fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    ErrorBody::name(),
                ))))
                .build(),
        )
        .build()
        .into()
}
