//! Wallets in the console: an officer sends a granted certification to the firm's wallet (the
//! offer's QR code and link, with the transaction code to give the firm apart), and a VERIFIER
//! account asks a firm's wallet for proof (the request's QR code and link) and reads the report
//! in words, checked again on demand. The same services, and role checks, as GraphQL's
//! `offerCredentialToWallet`, `requestPresentation` and `presentationRequest`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cadena_credentials::verification::PresentationReport;
use cadena_resolvers::auth::Operation;
use cadena_resolvers::services::wallets::presentation::{DISCLOSABLE_CLAIMS, WalletFormat};
use serde::Deserialize;

use super::pages::{Chrome, render};
use super::verify::{Verdict, presentation_words};
use super::{Visitor, failure, parse_id};
use crate::node::Node;

#[derive(Template)]
#[template(path = "wallet_offer.html")]
struct OfferPage {
    chrome: Chrome,
    id: uuid::Uuid,
    number: String,
    qr_svg: String,
    link: String,
    tx_code: String,
    expires: String,
}

/// A request as its page shows it.
struct RequestView {
    id: uuid::Uuid,
    state: &'static str,
    link: String,
    qr_svg: String,
    expires: String,
    disclosed: String,
    verdict: Option<Verdict>,
}

#[derive(Template)]
#[template(path = "wallet_request.html")]
struct RequestPage {
    chrome: Chrome,
    claims: &'static [&'static str],
    request: Option<RequestView>,
}

/// `link` as an SVG QR code (none if it cannot be drawn: the link is shown beside it anyway).
fn qr(link: &str) -> String {
    cadena_resolvers::services::wallets::qr_svg(link).unwrap_or_default()
}

/// The form fields of `body`, repeated names kept (`claim` may be given many times).
fn fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// `POST /console/certifications/{id}/wallet-offer`.
pub async fn offer(State(node): State<Node>, visitor: Visitor, Path(id): Path<String>, body: Bytes) -> Response {
    let principal = match visitor.allowed(&node, Operation::OfferToWallet) {
        Ok(principal) => principal.clone(),
        Err(response) => return response,
    };
    if let Err(refused) = visitor.form_of_this_session(&node, field(&fields(&body), "csrf")) {
        return refused;
    }
    let lang = visitor.lang;
    let id = match parse_id(lang, &node, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let offer = match node.services.wallets.offer(Some(&principal), id).await {
        Ok(offer) => offer,
        Err(error) => return failure(lang, &node, &error),
    };
    let number = match node.services.certifications.get(Some(&principal), id).await {
        Ok(Some(row)) => row.certificate_number,
        _ => id.to_string(),
    };
    let page = OfferPage {
        chrome: visitor.chrome(&node),
        id,
        number,
        qr_svg: qr(&offer.link),
        link: offer.link,
        tx_code: offer.tx_code,
        expires: lang.moment(offer.expires_at),
    };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}

/// `GET /console/wallet-requests`: the form.
pub async fn form(State(node): State<Node>, visitor: Visitor) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::RequestPresentation) {
        return response;
    }
    let page = RequestPage { chrome: visitor.chrome(&node), claims: &DISCLOSABLE_CLAIMS, request: None };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}

/// `POST /console/wallet-requests`: creates the request, then shows it.
pub async fn create(State(node): State<Node>, visitor: Visitor, body: Bytes) -> Response {
    let principal = match visitor.allowed(&node, Operation::RequestPresentation) {
        Ok(principal) => principal.clone(),
        Err(response) => return response,
    };
    let fields = fields(&body);
    if let Err(refused) = visitor.form_of_this_session(&node, field(&fields, "csrf")) {
        return refused;
    }
    let format = if field(&fields, "format") == "LDP_VC" { WalletFormat::LdpVc } else { WalletFormat::SdJwtVc };
    let claims = fields.iter().filter(|(k, _)| k == "claim").map(|(_, v)| v.clone()).collect();
    match node.services.presentations.create(Some(&principal), format, claims).await {
        Ok(request) => Redirect::to(&format!("/console/wallet-requests/{}", request.id)).into_response(),
        Err(error) => failure(visitor.lang, &node, &error),
    }
}

/// `?recheck=1` on a request's page.
#[derive(Debug, Default, Deserialize)]
pub struct Recheck {
    recheck: Option<String>,
}

/// `GET /console/wallet-requests/{id}`: the request, and the report once answered.
pub async fn show(
    State(node): State<Node>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(recheck): Query<Recheck>,
) -> Response {
    let principal = match visitor.allowed(&node, Operation::RequestPresentation) {
        Ok(principal) => principal.clone(),
        Err(response) => return response,
    };
    let lang = visitor.lang;
    let id = match parse_id(lang, &node, &id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let presentations = &node.services.presentations;
    let outcome = match presentations.outcome(Some(&principal), id, recheck.recheck.is_some()).await {
        Ok(outcome) => outcome,
        Err(error) => return failure(lang, &node, &error),
    };
    let report = outcome.report.clone().unwrap_or_default();
    let verdict =
        serde_json::from_value::<PresentationReport>(report.clone()).ok().map(|r| presentation_words(lang, r));
    let disclosed = report["disclosed"]
        .as_array()
        .map(|names| names.iter().filter_map(|n| n.as_str()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    // The link is rebuilt only while the request can still be answered.
    let link = if outcome.state == "PENDING" { presentations.link_of(&outcome.request) } else { String::new() };
    let view = RequestView {
        id,
        state: outcome.state,
        qr_svg: if link.is_empty() { String::new() } else { qr(&link) },
        link,
        expires: lang.moment(outcome.request.expires_at),
        disclosed,
        verdict,
    };
    let page = RequestPage { chrome: visitor.chrome(&node), claims: &DISCLOSABLE_CLAIMS, request: Some(view) };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}
