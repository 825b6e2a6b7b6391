//! The W3C VC API surface of a node, and what verifiers fetch from it:
//!
//! | path | what |
//! |---|---|
//! | `GET /.well-known/did.json` | the node's did:web document |
//! | `GET /contexts/aeo/v1` | the AEO JSON-LD context (`https://w3id.org/cadena/aeo/v1`) |
//! | `GET /status-lists/{purpose}-{n}` | a signed `BitstringStatusListCredential`, cacheable for its TTL |
//! | `GET /status-lists/token-{n}` | the same slots as an IETF Token Status List token (`application/statuslist+jwt`), for SD-JWT VCs |
//! | `POST /credentials/issue` | `{credential, options}` → 201 `{verifiableCredential}` (ISSUER token, where enabled) |
//! | `POST /credentials/verify` | `{verifiableCredential, options}` → the result (status below) |
//! | `POST /presentations/verify` | `{verifiablePresentation, options: {challenge, domain}}` → the result (status below) |
//! | `POST /challenges` | `{domain?}` → 201 `{challenge, domain, expiresAt}` (one use) |
//! | `GET /anchors/{digest}` | where a credential of this node sits on chain: root, leaf index, proof, transaction |
//!
//! The verify endpoints answer with a status a client can act on without reading the body,
//! as the W3C VC API test suites expect (200 verified, 400 not):
//!
//! | status | body | meaning |
//! |---|---|---|
//! | 200 | the result, `verified: true` | verified |
//! | 400 | the result, `verified: false` | judged and not verified: some check is INVALID |
//! | 503 | the result, `verified: false` | not verified because the verifier could not decide (a check is ERROR, none INVALID: an issuer's DID or status list out of reach); ask again later |
//! | 400 | `{"error": …}` naming the field | the request cannot be judged (not JSON, too large, unknown context, no proof) |
//!
//! So 200 always means verified, and a result body always says why. Issuance refuses a
//! credential that breaks VC Data Model 2.0 with a 400 whose fields name the rule broken.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cadena_credentials::json::{self, JsonError};
use cadena_credentials::verification::{Check, Outcome, PresentationReport, VerificationReport};
use cadena_resolvers::ServiceError;
use serde_json::{Value, json};

use super::authentication::{authenticate_header, authorization};
use crate::node::Node;

/// What a VC API request can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// The service refused or failed.
    Service(ServiceError),
    /// The body is not JSON (status and axum's explanation).
    Body(StatusCode, String),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        ApiError::Service(error)
    }
}

/// A VC API error body: `{"error": {"code", "message", "fields"}}` with the matching status.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::Body(status, message) => {
                return (status, Json(json!({"error": {"code": "BAD_REQUEST", "message": message, "fields": []}})))
                    .into_response();
            }
            ApiError::Service(error) => error,
        };
        let status = match &error {
            ServiceError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            ServiceError::Unauthenticated(_) | ServiceError::BadCredentials => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden { .. } | ServiceError::Disabled(_) => StatusCode::FORBIDDEN,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::NotIssuable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::Conflict(_) | ServiceError::IllegalTransition(_) | ServiceError::FourEyes(_) => {
                StatusCode::CONFLICT
            }
            ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::PartnerUnavailable(_) => StatusCode::BAD_GATEWAY,
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let fields: Vec<Value> = match &error {
            ServiceError::InvalidInput(fields) => {
                fields.iter().map(|f| json!({"field": f.field, "message": f.message})).collect()
            }
            _ => Vec::new(),
        };
        let mut response =
            (status, Json(json!({"error": {"code": error.code(), "message": error.to_string(), "fields": fields}})))
                .into_response();
        if let ServiceError::RateLimited { retry_after_secs, .. } = &error {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

/// A JSON object request body, read by `cadena_credentials::json` rather than axum's `Json`:
/// serde_json alone reads `{"$serde_json::private::Number": "1"}` as the number 1, and a
/// document that was not signed would verify. Not JSON (or no JSON media type) is a 4xx that
/// says so; a private key is a 400 naming where it is.
#[derive(Debug)]
pub struct JsonBody(Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let media = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !(media == "application/json" || media.starts_with("application/") && media.ends_with("+json")) {
            return Err(ApiError::Body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|r| ApiError::Body(r.status(), r.body_text()))?;
        match json::from_slice(&bytes) {
            Ok(value) if value.is_object() => Ok(JsonBody(value)),
            Ok(_) => Err(ServiceError::field("body", "must be a JSON object").into()),
            Err(JsonError::PrivateKey { path }) => Err(ServiceError::field(path, json::PRIVATE_KEY_REASON).into()),
            Err(e) => {
                Err(ApiError::Body(StatusCode::BAD_REQUEST, format!("Failed to parse the request body as JSON: {e}")))
            }
        }
    }
}

fn required<'a>(object: &'a Value, name: &str) -> Result<&'a Value, ApiError> {
    object.get(name).ok_or_else(|| ServiceError::field(name, "is required").into())
}

fn ld_json(value: &Value, cache_seconds: u64) -> Response {
    let mut response = Json(value).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={cache_seconds}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// `GET /.well-known/did.json`
#[tracing::instrument(skip_all)]
pub async fn did_document(State(node): State<Node>) -> Response {
    let mut response = ld_json(&node.services.credentials.identity().did_document(), 300);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/did+ld+json"));
    response
}

/// `GET /contexts/aeo/v1`
pub async fn aeo_context() -> Response {
    let context: Value = serde_json::from_str(cadena_credentials::credential::AEO_CONTEXT_DOCUMENT)
        .expect("the shipped context is JSON");
    ld_json(&context, 86_400)
}

/// `GET /status-lists/{name}`
#[tracing::instrument(skip(node))]
pub async fn status_list(State(node): State<Node>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let credentials = &node.services.credentials;
    if name.starts_with(cadena_resolvers::services::credentials::TOKEN_LIST_PREFIX) {
        return match credentials.token_status_list(&name).await? {
            Some(token) => Ok((
                [
                    (header::CONTENT_TYPE, cadena_resolvers::services::credentials::TOKEN_LIST_MEDIA_TYPE.to_owned()),
                    (header::CACHE_CONTROL, format!("max-age={}", credentials.status_list_ttl().as_secs())),
                ],
                token.to_string(),
            )
                .into_response()),
            None => Err(ServiceError::NotFound(format!("status list {name}")).into()),
        };
    }
    match credentials.status_list(&name).await? {
        Some(list) => Ok(ld_json(&list, credentials.status_list_ttl().as_secs())),
        None => Err(ServiceError::NotFound(format!("status list {name}")).into()),
    }
}

/// `POST /credentials/issue`
#[tracing::instrument(skip_all)]
pub async fn issue(
    State(node): State<Node>,
    headers: HeaderMap,
    JsonBody(request): JsonBody,
) -> Result<Response, ApiError> {
    let principal = authenticate_header(&node.services, authorization(&headers)).await?;
    let credential = required(&request, "credential")?;
    let signed = node.services.credentials.issue(principal.as_ref(), credential).await?;
    Ok((StatusCode::CREATED, Json(json!({ "verifiableCredential": signed }))).into_response())
}

/// The VC API's result shape, with cadena's fragments under `report`.
fn summary(checks: &[(&str, &Check)]) -> (Vec<&'static str>, Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (name, check) in checks {
        match check.outcome {
            Outcome::Valid => done.push(match *name {
                "integrity" => "proof",
                "status" => "status",
                "validity" => "validity",
                "issuer" => "issuer",
                "anchor" => "anchor",
                "challenge" => "challenge",
                _ => "holder",
            }),
            Outcome::Invalid => errors.push(format!("{name}: {}", check.reason)),
            Outcome::Error => errors.push(format!("{name}: could not be checked: {}", check.reason)),
            Outcome::Skipped => warnings.push(format!("{name}: skipped: {}", check.reason)),
        }
    }
    (done, errors, warnings)
}

fn credential_checks(report: &VerificationReport) -> [(&'static str, &Check); 5] {
    [
        ("integrity", &report.integrity),
        ("issuer", &report.issuer_trust),
        ("status", &report.status.check),
        ("validity", &report.validity),
        ("anchor", &report.anchor),
    ]
}

fn credential_result(report: &VerificationReport) -> Value {
    let (checks, errors, warnings) = summary(&credential_checks(report));
    json!({ "verified": report.verified, "checks": checks, "errors": errors, "warnings": warnings, "report": report })
}

/// The status of a verification result (the table above): 200 verified; 503 when only the
/// verifier's failures stand in the way; 400 otherwise.
fn verdict(verified: bool, checks: &[&Check]) -> StatusCode {
    if verified {
        StatusCode::OK
    } else if checks.iter().any(|c| c.outcome == Outcome::Error)
        && !checks.iter().any(|c| c.outcome == Outcome::Invalid)
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Admits a verification for the caller: an officer's token (checked) lifts the anonymous rate.
async fn admit_verification(
    node: &Node,
    headers: &HeaderMap,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<(), ApiError> {
    let principal = authenticate_header(&node.services, authorization(headers)).await?;
    let client = client.map(|Extension(ConnectInfo(address))| address.ip());
    Ok(node.services.credentials.admit_verification(principal.as_ref(), client).await?)
}

/// `POST /credentials/verify`
#[tracing::instrument(skip_all)]
pub async fn verify_credential(
    State(node): State<Node>,
    headers: HeaderMap,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    JsonBody(request): JsonBody,
) -> Result<Response, ApiError> {
    admit_verification(&node, &headers, client).await?;
    let credential = required(&request, "verifiableCredential")?;
    let report = node.services.credentials.verify(credential).await?;
    let checks: Vec<&Check> = credential_checks(&report).into_iter().map(|(_, c)| c).collect();
    Ok((verdict(report.verified, &checks), Json(credential_result(&report))).into_response())
}

fn presentation_result(report: &PresentationReport) -> Value {
    let (checks, mut errors, warnings) = summary(&[
        ("integrity", &report.integrity),
        ("challenge", &report.challenge),
        ("holder", &report.holder_binding),
    ]);
    for (i, credential) in report.credentials.iter().enumerate() {
        if !credential.verified {
            errors.push(format!("verifiableCredential[{i}] does not verify"));
        }
    }
    let credentials: Vec<Value> = report.credentials.iter().map(credential_result).collect();
    json!({
        "verified": report.verified, "checks": checks, "errors": errors, "warnings": warnings,
        "credentialResults": credentials, "report": report,
    })
}

/// `POST /presentations/verify`
#[tracing::instrument(skip_all)]
pub async fn verify_presentation(
    State(node): State<Node>,
    headers: HeaderMap,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    JsonBody(request): JsonBody,
) -> Result<Response, ApiError> {
    admit_verification(&node, &headers, client).await?;
    let presentation = required(&request, "verifiablePresentation")?;
    let options = request.get("options").cloned().unwrap_or(Value::Null);
    let challenge = options
        .get("challenge")
        .and_then(Value::as_str)
        .ok_or_else(|| ServiceError::field("options.challenge", "is required (from POST /challenges)"))?;
    let domain = options.get("domain").and_then(Value::as_str);
    let report = node.services.credentials.verify_presentation(presentation, challenge, domain).await?;
    let mut checks = vec![&report.integrity, &report.challenge, &report.holder_binding];
    for credential in &report.credentials {
        checks.extend(credential_checks(credential).into_iter().map(|(_, c)| c));
    }
    Ok((verdict(report.verified, &checks), Json(presentation_result(&report))).into_response())
}

/// `POST /challenges`
#[tracing::instrument(skip_all)]
pub async fn create_challenge(State(node): State<Node>, request: Option<Json<Value>>) -> Result<Response, ApiError> {
    let domain = request.and_then(|Json(v)| v.get("domain").and_then(Value::as_str).map(str::to_owned));
    let c = node.services.credentials.create_challenge(domain).await?;
    let body = json!({ "challenge": c.challenge, "domain": c.domain, "expiresAt": c.expires_at });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /anchors/{digest}`: the anchor proof of one of this node's credentials, by the hex
/// SHA-256 of its canonical JSON. 404 when the node knows no anchor for it (yet).
#[tracing::instrument(skip(node))]
pub async fn anchor_proof(State(node): State<Node>, Path(digest): Path<String>) -> Result<Response, ApiError> {
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ServiceError::field(
            "digest",
            "must be 64 hex digits (SHA-256 of the credential's canonical JSON)",
        )
        .into());
    }
    let Some(anchoring) = &node.services.anchoring else {
        return Err(ServiceError::NotFound("anchors: this node does not anchor".into()).into());
    };
    cadena_resolvers::fault::crash_point("serving-anchor");
    match anchoring.proof_of(&digest.to_ascii_lowercase()).await? {
        Some(proof) => Ok(Json(proof).into_response()),
        None => Err(ServiceError::NotFound(format!("an anchor for {digest}")).into()),
    }
}
