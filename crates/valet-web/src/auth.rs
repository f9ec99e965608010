//! Who is calling: an API token (`Authorization: Bearer valet_…`), HTTP basic credentials, or
//! the UI's session cookie.
//! Every handler that returns data takes an [`Authed`] and passes its actor to the store,
//! which scopes the query to what the actor may see.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use valet_core::Actor;
use valet_store::users;

use crate::error::ApiError;
use crate::AppState;

/// The authenticated actor of a request.
#[derive(Debug, Clone)]
pub struct Authed(pub Actor);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = match parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(h) => h,
            None => {
                // The UI's pages call the API (downloads, embedded notes) with their session.
                let jar = axum_extra::extract::cookie::CookieJar::from_headers(&parts.headers);
                let secret = jar
                    .get(crate::ui::SESSION_COOKIE)
                    .ok_or(ApiError::Unauthenticated)?;
                let user = users::authenticate_session(&state.store, secret.value()).await?;
                return Ok(Authed(user.actor()));
            }
        };
        let (scheme, value) = header.split_once(' ').ok_or(ApiError::Unauthenticated)?;
        let user = if scheme.eq_ignore_ascii_case("bearer") {
            users::authenticate_token(&state.store, value.trim()).await?
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|_| ApiError::Unauthenticated)?;
            let text = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated)?;
            let (name, password) = text.split_once(':').ok_or(ApiError::Unauthenticated)?;
            users::authenticate_password(&state.store, name, password).await?
        } else {
            return Err(ApiError::Unauthenticated);
        };
        Ok(Authed(user.actor()))
    }
}
