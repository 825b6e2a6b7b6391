//! The wallet-facing endpoints: OpenID4VCI 1.0 (issuer metadata, the OAuth authorisation
//! server metadata, token, nonce, credential) and the OpenID4VP 1.0 response endpoint. Errors
//! are OAuth error bodies (`{"error", "error_description"}`), never GraphQL's, and no response
//! is cached (RFC 6749 §5.1).
//!
//! | path | what |
//! |---|---|
//! | `GET /.well-known/openid-credential-issuer` | issuer metadata: the two credential configurations |
//! | `GET /.well-known/oauth-authorization-server` | the token endpoint, pre-authorised code grant only |
//! | `GET /openid4vci/offers/{code}` | the credential offer a `credential_offer_uri` names, while redeemable |
//! | `POST /openid4vci/token` | form `grant_type`, `pre-authorized_code`, `tx_code` → Bearer access token |
//! | `POST /openid4vci/nonce` | → `{"c_nonce"}` for one key proof |
//! | `POST /openid4vci/credential` | `{"credential_configuration_id", "proofs": {"jwt": [proof]}}` → `{"credentials": [{"credential"}]}` |
//! | `POST /openid4vp/responses/{id}` | form `vp_token`, `state`: a wallet's answer to a presentation request |

use axum::Form;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cadena_resolvers::services::wallets::WalletError;
use cadena_resolvers::services::wallets::issuance::TokenRequest;
use serde_json::Value;
use uuid::Uuid;

use crate::node::Node;

/// A wallet endpoint's answer: the JSON body, or an OAuth error.
struct Answer(Result<Value, WalletError>);

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let (status, body) = match self.0 {
            Ok(body) => (StatusCode::OK, body),
            Err(error) => {
                let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
                (status, error.body())
            }
        };
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        response
    }
}

/// `GET /.well-known/openid-credential-issuer`
pub async fn issuer_metadata(State(node): State<Node>) -> Json<Value> {
    Json(node.services.wallets.issuer_metadata())
}

/// `GET /.well-known/oauth-authorization-server`
pub async fn authorization_server_metadata(State(node): State<Node>) -> Json<Value> {
    Json(node.services.wallets.authorization_server_metadata())
}

/// `GET /openid4vci/offers/{code}`
pub async fn offer(State(node): State<Node>, Path(code): Path<String>) -> impl IntoResponse {
    Answer(node.services.wallets.offer_by_reference(&code).await)
}

/// `POST /openid4vci/token`
pub async fn token(State(node): State<Node>, Form(request): Form<TokenRequest>) -> impl IntoResponse {
    Answer(node.services.wallets.token(request).await)
}

/// `POST /openid4vci/nonce`
pub async fn nonce(State(node): State<Node>) -> impl IntoResponse {
    Answer(node.services.wallets.nonce().await)
}

/// `POST /openid4vci/credential`
pub async fn credential(State(node): State<Node>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let token = super::authentication::authorization(&headers).and_then(super::authentication::bearer_token);
    let request = match cadena_credentials::json::from_slice(&body) {
        Ok(request @ Value::Object(_)) => request,
        _ => return Answer(Err(WalletError::bad("invalid_credential_request", "the body must be a JSON object"))),
    };
    Answer(node.services.wallets.credential(token, &request).await)
}

/// The form a wallet posts to the response endpoint.
#[derive(Debug, serde::Deserialize)]
pub struct DirectPost {
    vp_token: Option<String>,
    state: Option<String>,
}

/// `POST /openid4vp/responses/{id}`
pub async fn presentation_response(
    State(node): State<Node>,
    Path(id): Path<Uuid>,
    Form(post): Form<DirectPost>,
) -> impl IntoResponse {
    Answer(node.services.presentations.answer(id, post.vp_token.as_deref(), post.state.as_deref()).await)
}
