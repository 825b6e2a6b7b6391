//! The W3C VC API surface of a node, and what verifiers fetch from it:
//!
//! | path | what |
//! |---|---|
//! | `GET /.well-known/did.json` | the node's did:web document |
//! | `GET /contexts/aeo/v1` | the AEO JSON-LD context (`https://w3id.org/cadena/aeo/v1`) |
//! | `GET /status-lists/{purpose}-{n}` | a signed `BitstringStatusListCredential`, cacheable for its TTL |
//! | `POST /credentials/issue` | `{credential, options}` → 201 `{verifiableCredential}` (APPROVER token) |
//! | `POST /credentials/verify` | `{verifiableCredential, options}` → 200 report |
//! | `POST /presentations/verify` | `{verifiablePresentation, options: {challenge, domain}}` → 200 report |
//! | `POST /challenges` | `{domain?}` → 201 `{challenge, domain, expiresAt}` (one use) |
//!
//! A credential that does not verify is a 200 report with `verified: false`, never a 5xx; a
//! request that cannot be judged (not JSON, too large, unknown context, no proof) is a 400
//! naming the field.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cadena_credentials::verification::{Check, Outcome, PresentationReport, VerificationReport};
use cadena_resolvers::ServiceError;
use serde_json::{Value, json};

use super::authentication::{authenticate_header, authorization};
use crate::node::Node;

/// A VC API error body: `{"error": {"code", "message", "fields"}}` with the matching status.
fn error_response(error: &ServiceError) -> Response {
    let status = match error {
        ServiceError::InvalidInput(_) => StatusCode::BAD_REQUEST,
        ServiceError::Unauthenticated(_) | ServiceError::BadCredentials => StatusCode::UNAUTHORIZED,
        ServiceError::Forbidden { .. } => StatusCode::FORBIDDEN,
        ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
        ServiceError::Conflict(_) | ServiceError::IllegalTransition(_) | ServiceError::FourEyes(_) => {
            StatusCode::CONFLICT
        }
        ServiceError::Internal(source) => {
            tracing::error!(error = %source, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let fields: Vec<Value> = match error {
        ServiceError::InvalidInput(fields) => {
            fields.iter().map(|f| json!({"field": f.field, "message": f.message})).collect()
        }
        _ => Vec::new(),
    };
    (status, Json(json!({"error": {"code": error.code(), "message": error.to_string(), "fields": fields}})))
        .into_response()
}

/// A body that is not JSON (or not an object) is a 400 that says so.
fn body(request: Result<Json<Value>, JsonRejection>) -> Result<Value, Response> {
    match request {
        Ok(Json(value)) if value.is_object() => Ok(value),
        Ok(_) => Err(error_response(&ServiceError::field("body", "must be a JSON object"))),
        Err(rejection) => {
            let status = rejection.status();
            let message = rejection.body_text();
            Err((status, Json(json!({"error": {"code": "BAD_REQUEST", "message": message, "fields": []}})))
                .into_response())
        }
    }
}

fn required<'a>(object: &'a Value, name: &str) -> Result<&'a Value, Response> {
    object.get(name).ok_or_else(|| error_response(&ServiceError::field(name, "is required")))
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
pub async fn status_list(State(node): State<Node>, Path(name): Path<String>) -> Response {
    let credentials = &node.services.credentials;
    match credentials.status_list(&name).await {
        Ok(Some(list)) => ld_json(&list, credentials.status_list_ttl().as_secs()),
        Ok(None) => error_response(&ServiceError::NotFound(format!("status list {name}"))),
        Err(error) => error_response(&error),
    }
}

/// `POST /credentials/issue`
#[tracing::instrument(skip_all)]
pub async fn issue(
    State(node): State<Node>,
    headers: HeaderMap,
    request: Result<Json<Value>, JsonRejection>,
) -> Response {
    let request = match body(request) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let principal = match authenticate_header(&node.services, authorization(&headers)).await {
        Ok(p) => p,
        Err(error) => return error_response(&error),
    };
    let credential = match required(&request, "credential") {
        Ok(c) => c,
        Err(response) => return response,
    };
    match node.services.credentials.issue(principal.as_ref(), credential).await {
        Ok(signed) => (StatusCode::CREATED, Json(json!({ "verifiableCredential": signed }))).into_response(),
        Err(error) => error_response(&error),
    }
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

fn credential_result(report: &VerificationReport) -> Value {
    let (checks, errors, warnings) = summary(&[
        ("integrity", &report.integrity),
        ("issuer", &report.issuer_trust),
        ("status", &report.status.check),
        ("validity", &report.validity),
        ("anchor", &report.anchor),
    ]);
    json!({ "verified": report.verified, "checks": checks, "errors": errors, "warnings": warnings, "report": report })
}

/// `POST /credentials/verify`
#[tracing::instrument(skip_all)]
pub async fn verify_credential(State(node): State<Node>, request: Result<Json<Value>, JsonRejection>) -> Response {
    let request = match body(request) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let credential = match required(&request, "verifiableCredential") {
        Ok(c) => c,
        Err(response) => return response,
    };
    match node.services.credentials.verify(credential).await {
        Ok(report) => Json(credential_result(&report)).into_response(),
        Err(error) => error_response(&error),
    }
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
pub async fn verify_presentation(State(node): State<Node>, request: Result<Json<Value>, JsonRejection>) -> Response {
    let request = match body(request) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let presentation = match required(&request, "verifiablePresentation") {
        Ok(p) => p,
        Err(response) => return response,
    };
    let options = request.get("options").cloned().unwrap_or(Value::Null);
    let Some(challenge) = options.get("challenge").and_then(Value::as_str) else {
        return error_response(&ServiceError::field("options.challenge", "is required (from POST /challenges)"));
    };
    let domain = options.get("domain").and_then(Value::as_str);
    match node.services.credentials.verify_presentation(presentation, challenge, domain).await {
        Ok(report) => Json(presentation_result(&report)).into_response(),
        Err(error) => error_response(&error),
    }
}

/// `POST /challenges`
#[tracing::instrument(skip_all)]
pub async fn create_challenge(State(node): State<Node>, request: Option<Json<Value>>) -> Response {
    let domain = request.and_then(|Json(v)| v.get("domain").and_then(Value::as_str).map(str::to_owned));
    match node.services.credentials.create_challenge(domain).await {
        Ok(c) => (
            StatusCode::CREATED,
            Json(json!({ "challenge": c.challenge, "domain": c.domain, "expiresAt": c.expires_at })),
        )
            .into_response(),
        Err(error) => error_response(&error),
    }
}
