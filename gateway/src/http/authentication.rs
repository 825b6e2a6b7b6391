//! Who is calling: a bearer token from the `Authorization` header (HTTP, SSE) or from the
//! `connection_init` payload (WebSocket), checked against the node's officers.

use axum::http::HeaderMap;
use cadena_resolvers::ServiceError;
use cadena_resolvers::auth::Principal;
use cadena_resolvers::graphql::NodeServices;

/// Authenticates an `Authorization` header value. No header is anonymous (`Ok(None)`): some
/// operations, like `login`, need no principal. A header that is present but wrong is an error,
/// never silently anonymous.
pub async fn authenticate_header(
    services: &NodeServices,
    value: Option<&str>,
) -> Result<Option<Principal>, ServiceError> {
    let Some(value) = value else { return Ok(None) };
    let token = bearer_token(value)
        .ok_or(ServiceError::Unauthenticated("the Authorization header must be `Bearer <token>`"))?;
    services.officers.authenticate(token).await.map(Some)
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme in either case
/// cadena's clients send), trimmed; None for another scheme.
pub fn bearer_token(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}

/// The `Authorization` header of a request, if any.
pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}
