//! Requests (VAL first): filing, the request page's data, the workflow steps (each through
//! `valet_ops::val`, which tells the watchers), signatures, comments, watchers, attachments and
//! history.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use valet_core::signature::{Meaning, Signature};
use valet_core::val::ValRequestInput;
use valet_core::{Actor, FieldError, RequestKind, RequestState};
use valet_ops::val::{self, RequestView};
use valet_ops::OpsError;
use valet_store::audit::AuditEvent;
use valet_store::requests::{self, Attachment, Comment, Filter, Request, MAX_ATTACHMENT};
use valet_store::StoreError;

use super::documents::file_response;
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiPath, ApiQuery, ErrorBody, JsonOrEmpty};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// Largest request body of an attachment upload: the file's base64 (4/3 of its size) plus
/// room for the name and content type.
pub const ATTACHMENT_BODY_LIMIT: usize = MAX_ATTACHMENT.div_ceil(3) * 4 + 64 * 1024;

/// The request if the caller may see it. Every action on a request starts here, so another
/// tenant's request is a 404 before any permission check could say more.
pub(super) async fn visible(st: &AppState, actor: &Actor, key: &str) -> Result<Request, ApiError> {
    Ok(requests::get(&st.store, actor, key).await?)
}

/// The password a signature needs; missing or empty is a 400 naming the field.
fn signing_password(password: &Option<String>) -> Result<&str, FieldError> {
    match password.as_deref() {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(FieldError::new(
            "password",
            "signing needs your password entered again: send `password` in the body",
        )),
    }
}

/// A signing call's error. A wrong password is a 403 saying nothing was signed: the caller is
/// signed in; it is the signature's re-authentication that failed.
pub(crate) fn signing(e: OpsError) -> ApiError {
    match e {
        OpsError::Store(StoreError::Unauthenticated) => ApiError::Forbidden(
            "the password is wrong: nothing was signed; enter your own password to sign".into(),
        ),
        e => e.into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this kind: `val`, `upgrade` or `hotfix`.
    kind: Option<String>,
    /// Only requests in this state (`submitted`, `approved`, `in_validation`, …).
    state: Option<String>,
    /// Only this customer's (its id).
    customer: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Requests the caller may see, newest first.
#[utoipa::path(get, path = "/requests", tag = "requests", params(ListQuery),
    responses((status = 200, body = Vec<Request>),
        (status = 400, body = ErrorBody, description = "An unknown kind or state")))]
pub async fn list(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Request>>, ApiError> {
    let mut errs = Vec::new();
    let kind = given(&q.kind).and_then(|k| {
        k.parse::<RequestKind>()
            .map_err(|e| errs.push(FieldError::new("kind", e.to_string())))
            .ok()
    });
    let state = given(&q.state).and_then(|s| {
        s.parse::<RequestState>()
            .map_err(|e| errs.push(FieldError::new("state", e.to_string())))
            .ok()
    });
    if !errs.is_empty() {
        return Err(ApiError::Fields(errs));
    }
    let filter = Filter {
        kind,
        state,
        customer_id: given(&q.customer).map(str::to_string),
    };
    Ok(Json(requests::list(&st.store, &actor, &filter).await?))
}

/// Files a VAL request: 201, or a 400 naming every wrong field, or 409 for a duplicate.
#[utoipa::path(post, path = "/requests/val", tag = "requests", request_body = ValRequestInput,
    responses((status = 201, body = Request),
        (status = 400, body = ErrorBody, description = "Wrong fields, each named with how to fix it"),
        (status = 403, body = ErrorBody, description = "The role may not file requests"),
        (status = 404, body = ErrorBody, description = "No such pair, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The same request is open already")))]
pub async fn create_val(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiJson(input): ApiJson<ValRequestInput>,
) -> Result<(StatusCode, Json<Request>), ApiError> {
    let r = val::file(&st.store, &actor, input, st.val_rules).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Everything about one request.
#[utoipa::path(get, path = "/requests/{key}", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = RequestView), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn get(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(val::view(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"password": "the signer's own password", "comment": "Dates fit the study calendar"}))]
pub struct ApproveBody {
    /// The approver's password, entered again: the approval is an e-signature.
    password: Option<String>,
    comment: Option<String>,
}

/// The PM's approval, e-signed: the request is approved and its provisioning scheduled.
#[utoipa::path(post, path = "/requests/{key}/approve", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = ApproveBody,
    responses((status = 200, body = Request),
        (status = 400, body = ErrorBody, description = "The password is missing"),
        (status = 403, body = ErrorBody, description = "A wrong password (nothing signed), or not a PM"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn approve(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<ApproveBody>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    let password = signing_password(&body.password).map_err(|e| ApiError::Fields(vec![e]))?;
    let comment = given(&body.comment);
    let r = val::approve(&st.store, &actor, &key, password, comment)
        .await
        .map_err(signing)?;
    Ok(Json(r))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReasonBody {
    /// Why (kept in the audit trail).
    #[serde(default)]
    pub(super) reason: String,
}

/// The PM rejects the request, with a reason.
#[utoipa::path(post, path = "/requests/{key}/reject", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = ReasonBody,
    responses((status = 200, body = Request),
        (status = 400, body = ErrorBody, description = "No reason given"),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn reject(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<ReasonBody>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    Ok(Json(
        val::reject(&st.store, &actor, &key, &body.reason).await?,
    ))
}

/// Cancels the request, with a reason (a booked upgrade's calendar entry is cancelled).
#[utoipa::path(post, path = "/requests/{key}/cancel", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = ReasonBody,
    responses((status = 200, body = Request),
        (status = 400, body = ErrorBody, description = "No reason given"),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn cancel(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<ReasonBody>,
) -> Result<Json<Request>, ApiError> {
    let r = visible(&st, &actor, &key).await?;
    if r.kind.is_prod_upgrade() {
        return Ok(Json(
            valet_ops::upgrade::cancel(&st.store, &actor, &key, &body.reason).await?,
        ));
    }
    Ok(Json(
        val::cancel(&st.store, &actor, &key, &body.reason).await?,
    ))
}

/// Closes a VAL: its pair is torn down.
#[utoipa::path(post, path = "/requests/{key}/close", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = ReasonBody,
    responses((status = 200, body = Request),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn close(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<ReasonBody>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    Ok(Json(
        val::close(&st.store, &actor, &key, &body.reason).await?,
    ))
}

/// A failed provisioning is queued again as a new run.
#[utoipa::path(post, path = "/requests/{key}/retry", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Request),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn retry(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    Ok(Json(val::retry(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"end": "2027-03-19", "reason": "Two scripts wait for the lab interface"}))]
pub struct ExtensionBody {
    /// The new end of validation (`YYYY-MM-DD`).
    #[serde(default)]
    end: String,
    #[serde(default)]
    reason: String,
}

/// A customer asks for a later end of validation (pending until a PM approves it).
#[utoipa::path(post, path = "/requests/{key}/extension", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = ExtensionBody,
    responses((status = 200, body = Request),
        (status = 400, body = ErrorBody, description = "The end or the reason is wrong, each named"),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"), (status = 409, body = ErrorBody, description = "The request's state does not allow it")))]
pub async fn extension(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<ExtensionBody>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    Ok(Json(
        val::request_extension(&st.store, &actor, &key, &body.end, &body.reason).await?,
    ))
}

/// The PM approves the pending extension.
#[utoipa::path(post, path = "/requests/{key}/extension/approve", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Request),
        (status = 403, body = ErrorBody, description = "The role may not do this"), (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 400, body = ErrorBody, description = "No extension is pending")))]
pub async fn approve_extension(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Request>, ApiError> {
    visible(&st, &actor, &key).await?;
    Ok(Json(val::approve_extension(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"password": "the signer's own password", "meaning": "validated", "reason": "All scripts passed; findings closed"}))]
pub struct SignBody {
    /// The signer's password, entered again.
    password: Option<String>,
    /// `approved`, `validated`, `reviewed`, `responsibility`, `accepted` or `declined`.
    meaning: Option<String>,
    reason: Option<String>,
}

/// Signs the request (`meaning: validated` is the validation sign-off); 201 with the signature.
#[utoipa::path(post, path = "/requests/{key}/signatures", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = SignBody,
    responses((status = 201, body = Signature),
        (status = 400, body = ErrorBody, description = "The password or the meaning is missing or wrong, each named"),
        (status = 403, body = ErrorBody, description = "A wrong password (nothing signed), or a role that may not sign this"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 409, body = ErrorBody, description = "The request cannot be signed so now (open findings block `validated`)")))]
pub async fn sign(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<SignBody>,
) -> Result<(StatusCode, Json<Signature>), ApiError> {
    visible(&st, &actor, &key).await?;
    let mut errs = Vec::new();
    let password = signing_password(&body.password)
        .map_err(|e| errs.push(e))
        .ok();
    let meaning = match given(&body.meaning) {
        None => {
            errs.push(FieldError::new(
                "meaning",
                "say what the signature means: approved, validated, reviewed, responsibility, \
                 accepted or declined",
            ));
            None
        }
        Some(m) => m
            .parse::<Meaning>()
            .map_err(|e| errs.push(FieldError::new("meaning", e.to_string())))
            .ok(),
    };
    let (Some(password), Some(meaning)) = (password, meaning) else {
        return Err(ApiError::Fields(errs));
    };
    let s = val::sign(
        &st.store,
        &actor,
        &key,
        password,
        meaning,
        given(&body.reason),
    )
    .await
    .map_err(signing)?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// The request's comments, oldest first.
#[utoipa::path(get, path = "/requests/{key}/comments", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Vec<Comment>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn comments(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<Comment>>, ApiError> {
    Ok(Json(requests::comments(&st.store, &actor, &key).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CommentBody {
    /// The comment's text.
    #[serde(default)]
    body: String,
}

/// Comments on the request; 201 with the comment.
#[utoipa::path(post, path = "/requests/{key}/comments", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = CommentBody,
    responses((status = 201, body = Comment),
        (status = 400, body = ErrorBody, description = "An empty comment"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn comment(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<CommentBody>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    visible(&st, &actor, &key).await?;
    let c = val::comment(&st.store, &actor, &key, &body.body).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct WatchBody {
    /// Whom (default: the caller).
    user_id: Option<String>,
    /// `false` to stop watching (default `true`).
    watch: Option<bool>,
}

/// Starts (default) or stops watching; the caller itself unless `user_id` names someone.
#[utoipa::path(post, path = "/requests/{key}/watchers", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = WatchBody,
    responses((status = 204, description = "Done"),
        (status = 403, body = ErrorBody, description = "The role may not do this"),
        (status = 404, body = ErrorBody, description = "No such request or user, or another tenant's")))]
pub async fn watch(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    JsonOrEmpty(body): JsonOrEmpty<WatchBody>,
) -> Result<StatusCode, ApiError> {
    visible(&st, &actor, &key).await?;
    let user = given(&body.user_id).unwrap_or(&actor.user_id).to_string();
    requests::set_watch(&st.store, &actor, &key, &user, body.watch.unwrap_or(true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The request's attachments (without their bytes).
#[utoipa::path(get, path = "/requests/{key}/attachments", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn attachments(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    Ok(Json(requests::attachments(&st.store, &actor, &key).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "test-plan.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}))]
pub struct NewAttachment {
    /// The file's name.
    #[serde(default)]
    name: String,
    /// Its media type (default `application/octet-stream`).
    content_type: Option<String>,
    /// Its bytes, standard base64 (at most 8 MiB of file).
    #[serde(default)]
    content_base64: String,
}

fn too_large() -> ApiError {
    ApiError::TooLarge(format!(
        "the file is larger than {} MiB, the most an attachment may hold; attach a smaller \
         file or split it",
        MAX_ATTACHMENT / (1024 * 1024)
    ))
}

/// Attaches a file sent as JSON with base64 content; 201 with its record.
#[utoipa::path(post, path = "/requests/{key}/attachments", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    request_body = NewAttachment,
    responses((status = 201, body = Attachment),
        (status = 400, body = ErrorBody, description = "The name, media type or base64 is wrong, each named"),
        (status = 404, body = ErrorBody, description = "No such request, or another tenant's"),
        (status = 413, body = ErrorBody, description = "The file is larger than an attachment may be")))]
pub async fn attach(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
    body: Result<ApiJson<NewAttachment>, ApiError>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    visible(&st, &actor, &key).await?;
    let ApiJson(body) = body.map_err(|e| match e {
        ApiError::TooLarge(_) => too_large(),
        e => e,
    })?;
    let content_type = given(&body.content_type).unwrap_or("application/octet-stream");
    if !is_media_type(content_type) {
        return Err(ApiError::Fields(vec![FieldError::new(
            "content_type",
            format!("`{content_type}` is not a media type; write e.g. `application/pdf`"),
        )]));
    }
    let content = base64::engine::general_purpose::STANDARD
        .decode(body.content_base64.trim())
        .map_err(|e| {
            ApiError::Fields(vec![FieldError::new(
                "content_base64",
                format!("not standard base64 ({e}); send the file's bytes base64-encoded"),
            )])
        })?;
    if content.len() > MAX_ATTACHMENT {
        return Err(too_large());
    }
    let a = requests::attach(&st.store, &actor, &key, &body.name, content_type, &content).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// `type/subtype` with optional parameters, printable ASCII only (it becomes a header).
fn is_media_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("").trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    s.len() <= 200
        && s.bytes().all(|b| (0x20..0x7f).contains(&b))
        && essence
            .split_once('/')
            .is_some_and(|(t, sub)| token(t) && token(sub))
}

/// An attachment's bytes, as a download.
#[utoipa::path(get, path = "/requests/{key}/attachments/{id}", tag = "requests",
    params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`"), ("id" = String, Path, description = "The attachment's id")),
    responses((status = 200, description = "The file, as an attachment under its own name and media type",
            content(("*/*"))),
        (status = 404, body = ErrorBody, description = "No such request or attachment, or another tenant's")))]
pub async fn attachment(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath((key, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (a, bytes) = requests::attachment_content(&st.store, &actor, &key, &id).await?;
    let content_type = if is_media_type(&a.content_type) {
        a.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    Ok(file_response(bytes, content_type, &a.name))
}

/// The request's audit events, oldest first.
#[utoipa::path(get, path = "/requests/{key}/history", tag = "requests", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Vec<AuditEvent>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn history(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    Ok(Json(requests::history(&st.store, &actor, &key).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_that_may_become_a_header() {
        for ok in [
            "application/pdf",
            "text/plain; charset=utf-8",
            "image/svg+xml",
        ] {
            assert!(is_media_type(ok), "{ok}");
        }
        for bad in [
            "",
            "pdf",
            "text/",
            "/plain",
            "text/plain\r\nX: y",
            "täxt/plain",
        ] {
            assert!(!is_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn attachment_body_limit_holds_the_largest_file_in_base64() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_ATTACHMENT]);
        assert!(b64.len() < ATTACHMENT_BODY_LIMIT);
    }
}
