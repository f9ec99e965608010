//! Controlled documents (IQ reports) of a request, and their download as PDF or HTML.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use valet_core::FieldError;
use valet_store::documents::{self, Document, Format};

use utoipa::IntoParams;

use super::{ApiPath, ApiQuery, ErrorBody};
use crate::auth::Authed;
use crate::error::ApiError;
use crate::AppState;

/// The request's documents, newest first.
#[utoipa::path(get, path = "/requests/{key}/documents", tag = "documents", params(("key" = String, Path, description = "The request's key, e.g. `VAL-12`")),
    responses((status = 200, body = Vec<Document>), (status = 404, body = ErrorBody, description = "No such request, or another tenant's")))]
pub async fn of_request(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<Vec<Document>>, ApiError> {
    Ok(Json(documents::of_request(&st.store, &actor, &key).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `pdf` (the default) or `html`.
    format: Option<String>,
}

/// One document as a download: PDF unless `?format=html`.
#[utoipa::path(get, path = "/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "The document's id"), FormatQuery),
    responses((status = 200, description = "The document, as an attachment named after its id",
            content(("application/pdf"), ("text/html; charset=utf-8"))),
        (status = 400, body = ErrorBody, description = "An unknown format"),
        (status = 404, body = ErrorBody, description = "No such document, or another tenant's")))]
pub async fn download(
    State(st): State<AppState>,
    Authed(actor): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref().map(|f| f.trim().to_ascii_lowercase()) {
        None => Format::Pdf,
        Some(f) if f.is_empty() || f == "pdf" => Format::Pdf,
        Some(f) if f == "html" => Format::Html,
        Some(f) => {
            return Err(ApiError::Fields(vec![FieldError::new(
                "format",
                format!("`{f}` is not a document format; use `pdf` (the default) or `html`"),
            )]))
        }
    };
    let (d, bytes) = documents::content(&st.store, &actor, &id, format).await?;
    let (content_type, ext) = match format {
        Format::Pdf => ("application/pdf", "pdf"),
        Format::Html => ("text/html; charset=utf-8", "html"),
    };
    Ok(file_response(
        bytes,
        content_type,
        &format!("{}.{ext}", d.id),
    ))
}

/// Bytes as a download named `filename`, never rendered in valet's origin by content sniffing.
pub(super) fn file_response(bytes: Vec<u8>, content_type: &str, filename: &str) -> Response {
    let mut resp = Body::from(bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&content_disposition(filename)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `attachment` with an ASCII `filename` and the exact name as RFC 5987 `filename*`.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+ ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_keeps_ascii_names_and_encodes_the_rest() {
        assert_eq!(
            content_disposition("IQ-VAL-1-1.pdf"),
            "attachment; filename=\"IQ-VAL-1-1.pdf\"; filename*=UTF-8''IQ-VAL-1-1.pdf"
        );
        assert_eq!(
            content_disposition("Prüf \"plan\".pdf"),
            "attachment; filename=\"Pr_f _plan_.pdf\"; filename*=UTF-8''Pr%C3%BCf%20%22plan%22.pdf"
        );
    }
}
