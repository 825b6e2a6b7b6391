//! The partner channel's HTTP side: what MRA partners' nodes call.
//!
//! | path | what |
//! |---|---|
//! | `POST /partner/inbox` | one message: a JWE (`application/jose`) sealing a JWS-signed partner message |
//! | `GET /partner/feed?after=N` | the caller's messages after number N, sealed for it (`Authorization: Cadena-Partner <JWS>`) |
//! | `GET /partner/recognition?country=&tin=` | what this node holds of an operator the caller certified (same authentication) |
//! | `GET /partner/state` | what the caller must hold of this node's certifications, for reconciliation (same authentication) |
//!
//! Every refusal is logged and answered with a status and a JSON error saying why: 400 a
//! message that cannot be decrypted or read, 401 a bad signature, 403 a sender that is no
//! active MRA partner, 409 a replayed number (or a gap, with the number expected), 422 data
//! outside the MRA's scope (the number is spent, the refusal recorded). 503 (`UNDECIDED`, with
//! `Retry-After`) says the message could not be judged now (the sender's documents or the chain
//! unreachable, its anchor pending): nothing was stored and the sender sends it again. A 200
//! acknowledgement `{seq, accepted, reason}` means the message is held for good, taken or refused.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use cadena_resolvers::services::partners::{InboxError, PartnerService};
use serde::Deserialize;
use serde_json::json;

use crate::node::Node;

/// Why a partner request was refused (every one is logged).
#[derive(Debug)]
pub enum Refusal {
    /// The channel refused the message or request.
    Inbox(InboxError),
    /// This node has no partner network (no chain configured).
    NoNetwork,
}

impl From<InboxError> for Refusal {
    fn from(error: InboxError) -> Self {
        Refusal::Inbox(error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let error = match self {
            Refusal::NoNetwork => {
                let body = json!({ "error": { "code": "NOT_FOUND", "message": "this node has no partner network" } });
                return (StatusCode::NOT_FOUND, Json(body)).into_response();
            }
            Refusal::Inbox(error) => error,
        };
        let (status, code) = match &error {
            InboxError::Undecryptable(_) => (StatusCode::BAD_REQUEST, "UNDECRYPTABLE"),
            InboxError::Malformed(_) => (StatusCode::BAD_REQUEST, "MALFORMED"),
            InboxError::BadSignature(_) => (StatusCode::UNAUTHORIZED, "BAD_SIGNATURE"),
            InboxError::NotPartner(_) => (StatusCode::FORBIDDEN, "NOT_A_PARTNER"),
            InboxError::Replay { .. } => (StatusCode::CONFLICT, "REPLAY"),
            InboxError::Gap { .. } => (StatusCode::CONFLICT, "GAP"),
            InboxError::OutOfScope { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "OUT_OF_SCOPE"),
            InboxError::Undecided(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNDECIDED"),
            InboxError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        };
        if let InboxError::Undecided(reason) = &error {
            // Not a failure of this node: the sender keeps the number open and sends it again.
            let body = json!({ "error": { "code": code, "message": error.to_string() }, "reason": reason });
            return (status, [(axum::http::header::RETRY_AFTER, "5")], Json(body)).into_response();
        }
        if status.is_server_error() {
            tracing::error!(%error, "partner channel failed");
        } else {
            tracing::warn!(%error, code, "partner request refused");
        }
        let expected = match &error {
            InboxError::Gap { expected, .. } => Some(*expected),
            _ => None,
        };
        let message = if status.is_server_error() { "internal error".to_owned() } else { error.to_string() };
        (status, Json(json!({ "error": { "code": code, "message": message }, "expected": expected }))).into_response()
    }
}

fn partners(node: &Node) -> Result<&PartnerService, Refusal> {
    node.services.partners.as_ref().ok_or(Refusal::NoNetwork)
}

fn token(headers: &HeaderMap) -> Result<&str, Refusal> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Cadena-Partner "))
        .ok_or_else(|| InboxError::BadSignature("send `Authorization: Cadena-Partner <JWS>`".into()).into())
}

/// `POST /partner/inbox`
#[tracing::instrument(skip_all)]
pub async fn inbox(State(node): State<Node>, body: Bytes) -> Result<Response, Refusal> {
    let partners = partners(&node)?;
    let jwe =
        std::str::from_utf8(&body).map_err(|_| InboxError::Undecryptable("the body is not a compact JWE".into()))?;
    Ok(Json(partners.receive(jwe.trim()).await?).into_response())
}

/// Query of `GET /partner/feed`.
#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: i64,
}

/// `GET /partner/feed?after=N`
#[tracing::instrument(skip_all)]
pub async fn feed(
    State(node): State<Node>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<FeedQuery>,
) -> Result<Response, Refusal> {
    let partners = partners(&node)?;
    let token = token(&headers)?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
    let messages = partners.feed(token, path, query.after).await?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

/// Query of `GET /partner/recognition`.
#[derive(Debug, Deserialize)]
pub struct RecognitionQuery {
    country: String,
    tin: String,
}

/// `GET /partner/recognition?country=&tin=`
#[tracing::instrument(skip_all)]
pub async fn recognition(
    State(node): State<Node>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<RecognitionQuery>,
) -> Result<Response, Refusal> {
    let partners = partners(&node)?;
    let token = token(&headers)?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
    Ok(Json(partners.holdings_for(token, path, &query.country, &query.tin).await?).into_response())
}

/// `GET /partner/state`: what the calling partner must hold of this node's certifications
/// (reconciliation; same authentication as the feed).
#[tracing::instrument(skip_all)]
pub async fn state(State(node): State<Node>, headers: HeaderMap, uri: Uri) -> Result<Response, Refusal> {
    let partners = partners(&node)?;
    let token = token(&headers)?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
    Ok(Json(partners.state_for(token, path).await?).into_response())
}
