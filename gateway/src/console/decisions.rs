//! The approver's pages: the queue of submitted certifications (oldest first, as they are
//! decided), and the decisions a certification's page offers (approve, reject, suspend,
//! reinstate, revoke, annul with a reason). Four eyes is visible: an approver's own submission
//! shows who must decide instead of the approve button, and the service refuses it anyway.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cadena_credentials::{Status, Transition};
use cadena_resolvers::auth::{Operation, Principal};
use cadena_resolvers::services::certifications::{effective_status, is_partner_record};
use cadena_resolvers::services::{CertificationFilter, Listing};
use cadena_resolvers::storage::entities::certifications;
use chrono::Utc;
use serde::Deserialize;

use super::pages::{Chrome, certification_page, render};
use super::texts::Lang;
use super::{Visitor, failure, parse_id};
use crate::node::Node;

/// The decisions, with the operation that allows each and its form's name.
const DECISIONS: [(Transition, Operation, &str); 6] = [
    (Transition::Approve, Operation::ApproveCertification, "approve"),
    (Transition::Reject, Operation::RejectCertification, "reject"),
    (Transition::Suspend, Operation::SuspendCertification, "suspend"),
    (Transition::Reinstate, Operation::ReinstateCertification, "reinstate"),
    (Transition::Revoke, Operation::RevokeCertification, "revoke"),
    (Transition::Annul, Operation::AnnulCertification, "annul"),
];

/// A decision the page offers.
pub struct Decision {
    pub code: &'static str,
    pub label: &'static str,
    /// Approving takes no reason; the others record one.
    pub with_reason: bool,
}

/// What an officer may decide on `row` now, and whether four eyes keeps them from approving
/// it (their own submission).
pub fn decisions_for(principal: &Principal, row: &certifications::Model, lang: Lang) -> (Vec<Decision>, bool) {
    if is_partner_record(row) {
        return (Vec::new(), false);
    }
    let texts = lang.texts();
    let from = effective_status(row, Utc::now());
    let mut own = false;
    let mut offered = Vec::new();
    for (transition, operation, code) in DECISIONS {
        if principal.authorize(operation).is_err() || transition.apply(from).is_err() {
            continue;
        }
        if transition == Transition::Approve && row.submitted_by == principal.username {
            own = true;
            continue;
        }
        let label = match transition {
            Transition::Approve => texts.approve,
            Transition::Reject => texts.reject,
            Transition::Suspend => texts.suspend,
            Transition::Reinstate => texts.reinstate,
            Transition::Revoke => texts.revoke,
            _ => texts.annul,
        };
        offered.push(Decision { code, label, with_reason: transition != Transition::Approve });
    }
    (offered, own)
}

/// A decision's form.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

/// `POST /console/certifications/{id}/decision`: the decision, through the same service call
/// (and checks) as the API's mutation; then the certification's page.
pub async fn decide(
    State(node): State<Node>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let principal = match visitor.officer() {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    if let Err(refused) = visitor.form_of_this_session(&node, &form.csrf) {
        return refused;
    }
    let id = match parse_id(visitor.lang, &node, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
    let service = &node.services.certifications;
    let p = Some(principal);
    let outcome = match form.decision.as_str() {
        "approve" => service.approve(p, id).await,
        "reject" => service.reject(p, id, reason).await,
        "suspend" => service.suspend(p, id, reason).await,
        "reinstate" => service.reinstate(p, id, reason).await,
        "revoke" => service.revoke(p, id, reason).await,
        "annul" => service.annul(p, id, reason).await,
        other => {
            let error =
                cadena_resolvers::errors::ServiceError::field("decision", format!("{other:?} is not a decision"));
            return failure(visitor.lang, &node, &error);
        }
    };
    match outcome {
        Ok(row) => (visitor.answer_jar(), Redirect::to(&format!("/console/certifications/{}", row.id))).into_response(),
        // The page again, with why the decision was not recorded beside its forms.
        Err(error) => match service.get(p, id).await {
            Ok(Some(row)) => {
                let status = match &error {
                    cadena_resolvers::errors::ServiceError::Forbidden { .. }
                    | cadena_resolvers::errors::ServiceError::FourEyes(_) => StatusCode::FORBIDDEN,
                    cadena_resolvers::errors::ServiceError::Conflict(_)
                    | cadena_resolvers::errors::ServiceError::IllegalTransition(_) => StatusCode::CONFLICT,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                certification_page(&node, &visitor, principal, row, status, Some(error.to_string())).await
            }
            _ => failure(visitor.lang, &node, &error),
        },
    }
}

/// One submitted certification in the queue.
struct Waiting {
    id: uuid::Uuid,
    number: String,
    operator: String,
    tin: String,
    version: i32,
    submitted_by: String,
    submitted_at: String,
    own: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct Queue {
    chrome: Chrome,
    rows: Vec<Waiting>,
}

/// `GET /console/queue`: what waits for an approver, oldest first.
pub async fn queue(State(node): State<Node>, visitor: Visitor) -> Response {
    let principal = match visitor.allowed(&node, Operation::ApproveCertification) {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let lang = visitor.lang;
    let filter = CertificationFilter { status: Some(Status::Submitted), ..Default::default() };
    let page = match node.services.certifications.list(Some(principal), &filter, Some(100), Listing::After(None)).await
    {
        Ok(page) => page,
        Err(error) => return failure(lang, &node, &error),
    };
    let rows = page
        .items
        .into_iter()
        .filter(|row| !is_partner_record(row))
        .map(|row| Waiting {
            id: row.id,
            own: row.submitted_by == principal.username,
            number: row.certificate_number,
            operator: row.operator_name,
            tin: row.tin,
            version: row.version,
            submitted_by: row.submitted_by,
            submitted_at: lang.moment(row.created_at),
        })
        .collect();
    (visitor.answer_jar(), render(StatusCode::OK, &Queue { chrome: visitor.chrome(&node), rows })).into_response()
}
