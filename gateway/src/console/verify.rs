//! The verifier's check: a credential or presentation pasted (or read from a file by the page)
//! is verified by the node's own verifier, the same calls as `POST /credentials/verify` and
//! `POST /presentations/verify`, and its report shown fragment by fragment in plain words:
//! whether the proof holds, whether the issuer is a trusted customs authority, the status, the
//! validity period, the on-chain anchor; for a presentation also the holder's proof over the
//! one-time challenge the page gave (the firm's wallet signs it) and the holder binding.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cadena_credentials::verification::{Check, Outcome, PresentationReport, VerificationReport};
use cadena_resolvers::auth::Operation;
use cadena_resolvers::errors::ServiceError;
use serde::Deserialize;

use super::pages::{Chrome, render};
use super::texts::Lang;
use super::{Visitor, failure};
use crate::node::Node;

/// One fragment of the report, in words.
pub(super) struct Fragment {
    pub(super) name: &'static str,
    pub(super) outcome_code: &'static str,
    pub(super) outcome: &'static str,
    pub(super) reason: String,
}

/// The report, in words.
pub(super) struct Verdict {
    pub(super) verified: bool,
    aeo_certification: bool,
    pub(super) issuer: String,
    /// The presenting firm's DID (a presentation).
    pub(super) holder: Option<String>,
    pub(super) fragments: Vec<Fragment>,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: Chrome,
    document: String,
    /// The one-time challenge a presentation must answer, and until when.
    challenge: String,
    challenge_expires: String,
    /// Why the document could not be judged at all.
    problem: Option<String>,
    verdict: Option<Verdict>,
}

/// The check's form.
#[derive(Debug, Deserialize)]
pub struct VerifyForm {
    csrf: String,
    #[serde(default)]
    challenge: String,
    document: String,
}

fn fragment(lang: Lang, name: &'static str, check: Check) -> Fragment {
    let t = lang.texts();
    let (outcome_code, outcome) = match check.outcome {
        Outcome::Valid => ("VALID", t.outcome_valid),
        Outcome::Invalid => ("INVALID", t.outcome_invalid),
        Outcome::Skipped => ("SKIPPED", t.outcome_skipped),
        Outcome::Error => ("ERROR", t.outcome_error),
    };
    Fragment { name, outcome_code, outcome, reason: check.reason }
}

fn credential_fragments(lang: Lang, report: VerificationReport) -> Vec<Fragment> {
    let t = lang.texts();
    vec![
        fragment(lang, t.fragment_integrity, report.integrity),
        fragment(lang, t.fragment_issuer, report.issuer_trust),
        fragment(lang, t.fragment_status, report.status.check),
        fragment(lang, t.fragment_validity, report.validity),
        fragment(lang, t.fragment_anchor, report.anchor),
    ]
}

fn credential_words(lang: Lang, report: VerificationReport) -> Verdict {
    Verdict {
        verified: report.verified,
        aeo_certification: report.aeo_certification,
        issuer: report.issuer.clone().unwrap_or_default(),
        holder: None,
        fragments: credential_fragments(lang, report),
    }
}

/// A presentation's own fragments, then each credential's.
pub(super) fn presentation_words(lang: Lang, report: PresentationReport) -> Verdict {
    let t = lang.texts();
    let mut fragments = vec![
        fragment(lang, t.fragment_holder_proof, report.integrity),
        fragment(lang, t.fragment_challenge, report.challenge),
        fragment(lang, t.fragment_holder_binding, report.holder_binding),
    ];
    let aeo_certification = !report.credentials.is_empty() && report.credentials.iter().all(|c| c.aeo_certification);
    let issuer = report.credentials.first().and_then(|c| c.issuer.clone()).unwrap_or_default();
    for credential in report.credentials {
        fragments.extend(credential_fragments(lang, credential));
    }
    Verdict { verified: report.verified, aeo_certification, issuer, holder: report.holder, fragments }
}

/// Whether `document` is a presentation (by its `type`).
fn is_presentation(document: &serde_json::Value) -> bool {
    match &document["type"] {
        serde_json::Value::String(t) => t == "VerifiablePresentation",
        serde_json::Value::Array(types) => types.iter().any(|t| t == "VerifiablePresentation"),
        _ => false,
    }
}

/// The page, with a fresh one-time challenge for a presentation.
async fn answer(
    node: &Node,
    visitor: &Visitor,
    status: StatusCode,
    document: String,
    problem: Option<String>,
    verdict: Option<Verdict>,
) -> Response {
    let challenge = match node.services.credentials.create_challenge(None).await {
        Ok(challenge) => challenge,
        Err(error) => return failure(visitor.lang, node, &error),
    };
    let page = VerifyPage {
        chrome: visitor.chrome(node),
        document,
        challenge: challenge.challenge,
        challenge_expires: visitor.lang.moment(challenge.expires_at),
        problem,
        verdict,
    };
    (visitor.answer_jar(), render(status, &page)).into_response()
}

/// `GET /console/verify`.
pub async fn form(State(node): State<Node>, visitor: Visitor) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::ReadRecognition) {
        return response;
    }
    answer(&node, &visitor, StatusCode::OK, String::new(), None, None).await
}

/// `POST /console/verify`: the report of the pasted credential.
pub async fn check(State(node): State<Node>, visitor: Visitor, Form(form): Form<VerifyForm>) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::ReadRecognition) {
        return response;
    }
    let lang = visitor.lang;
    if let Err(refused) = visitor.form_of_this_session(&node, &form.csrf) {
        return refused;
    }
    let (mut problem, mut verdict) = (None, None);
    match serde_json::from_str::<serde_json::Value>(&form.document) {
        Err(error) => problem = Some(format!("document: {} ({error})", lang.texts().not_json)),
        Ok(document) => {
            let credentials = &node.services.credentials;
            let judged = if is_presentation(&document) {
                credentials
                    .verify_presentation(&document, &form.challenge, None)
                    .await
                    .map(|report| presentation_words(lang, report))
            } else {
                credentials.verify(&document).await.map(|report| credential_words(lang, report))
            };
            match judged {
                Ok(judged) => verdict = Some(judged),
                Err(ServiceError::InvalidInput(fields)) => {
                    problem = Some(fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                }
                Err(error) => return failure(lang, &node, &error),
            }
        }
    }
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    answer(&node, &visitor, status, form.document, problem, verdict).await
}
