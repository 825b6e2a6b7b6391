//! The console's pages: what each shows, read through the same services (and the same role
//! checks) as the GraphQL API, rendered by the templates in `playground/console/`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use cadena_resolvers::auth::{Operation, Principal};
use cadena_resolvers::errors::ServiceError;
use cadena_resolvers::services::certifications::{confers_benefits, effective_status, is_partner_record};
use cadena_resolvers::services::console_sessions::OpenSession;
use cadena_resolvers::services::{CertificationFilter, Listing};
use cadena_resolvers::storage::entities::certifications;
use chrono::Utc;
use serde::Deserialize;

use super::decisions::{Decision, decisions_for};
use super::registrar::may_amend;
use super::texts::{Lang, Texts};
use super::{Visitor, failure, may, parse_id};
use crate::node::Node;

/// What every page shows around its content.
#[derive(Debug)]
pub struct Chrome {
    pub lang: Lang,
    pub texts: &'static Texts,
    /// The customs authority (the node's configuration).
    pub authority: String,
    /// Whether `[console] logo` is configured.
    pub has_logo: bool,
    /// The officer signed in.
    pub officer: Option<String>,
    /// The token forms carry.
    pub csrf: String,
    pub may_read_certifications: bool,
    pub may_read_recognition: bool,
    pub may_submit: bool,
    pub may_approve: bool,
    pub may_follow_partners: bool,
    pub may_administer: bool,
    pub may_request_presentations: bool,
}

impl Chrome {
    pub fn new(lang: Lang, node: &Node, session: Option<&OpenSession>) -> Chrome {
        let principal = session.map(|s| &s.principal);
        Chrome {
            lang,
            texts: lang.texts(),
            authority: node.config.authority.clone(),
            has_logo: node.config.console.logo.is_some(),
            officer: principal.map(|p| p.username.clone()),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            may_read_certifications: may(principal, Operation::ReadCertifications),
            may_read_recognition: may(principal, Operation::ReadRecognition),
            may_submit: may(principal, Operation::SubmitCertification),
            may_approve: may(principal, Operation::ApproveCertification),
            may_follow_partners: may(principal, Operation::SubscribeEvents),
            may_administer: may(principal, Operation::ReadMras),
            may_request_presentations: may(principal, Operation::RequestPresentation),
        }
    }
}

/// A page, never cached (it shows what one officer may see).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                // Everything comes from the node: no other origin, no inline script, no framing.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                ),
            ],
            Html(html),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering a console page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct Problem<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// A page saying what went wrong.
pub fn problem(chrome: Chrome, status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &Problem { chrome, title, message })
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    chrome: Chrome,
    failed: bool,
    username: &'a str,
}

/// The login page.
pub fn login(chrome: Chrome, failed: bool, username: &str) -> Response {
    let status = if failed { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    render(status, &Login { chrome, failed, username })
}

/// One certification in a list.
struct Row {
    id: uuid::Uuid,
    number: String,
    operator: String,
    tin: String,
    certificate_type: &'static str,
    status_code: &'static str,
    status: &'static str,
    valid_until: String,
    /// The MRA partner that sent it (verified on receipt); None for this node's own.
    partner: Option<String>,
}

#[derive(Template)]
#[template(path = "certifications.html")]
struct Certifications {
    chrome: Chrome,
    title: &'static str,
    /// Where the search form goes; None for a list without search.
    search: Option<&'static str>,
    params: ListParams,
    rows: Vec<Row>,
}

/// The search of the list: country, trader ID, words of the name.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    country: String,
    #[serde(default)]
    tin: String,
    #[serde(default)]
    name: String,
}

fn valid_until(lang: Lang, row: &certifications::Model) -> String {
    row.valid_until.map_or_else(|| lang.texts().open_ended.to_owned(), |d| lang.date(d))
}

/// `GET /console`: certifications, here and from partners, newest first, searchable by
/// operator (country, trader ID, name).
pub async fn certifications(State(node): State<Node>, visitor: Visitor, Query(params): Query<ListParams>) -> Response {
    let principal = match visitor.officer() {
        Ok(principal) => principal.clone(),
        Err(redirect) => return redirect,
    };
    // A verifier's console is the recognition page.
    if !may(Some(&principal), Operation::ReadCertifications) && may(Some(&principal), Operation::ReadRecognition) {
        return (visitor.answer_jar(), Redirect::to("/console/recognition")).into_response();
    }
    let given = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = CertificationFilter {
        country: given(&params.country).map(|c| c.to_uppercase()),
        tin: given(&params.tin),
        operator_name: given(&params.name),
        ..Default::default()
    };
    let title = visitor.lang.texts().certifications_title;
    list(node, visitor, principal, filter, title, Some("/console"), params).await
}

/// `GET /console/submissions`: what this officer submitted, newest first.
pub async fn submissions(State(node): State<Node>, visitor: Visitor) -> Response {
    let principal = match visitor.allowed(&node, Operation::SubmitCertification) {
        Ok(principal) => principal.clone(),
        Err(response) => return response,
    };
    let filter = CertificationFilter { submitted_by: Some(principal.username.clone()), ..Default::default() };
    let title = visitor.lang.texts().submissions_title;
    list(node, visitor, principal, filter, title, None, ListParams::default()).await
}

async fn list(
    node: Node,
    visitor: Visitor,
    principal: Principal,
    filter: CertificationFilter,
    title: &'static str,
    search: Option<&'static str>,
    params: ListParams,
) -> Response {
    let lang = visitor.lang;
    let page = match node.services.certifications.list(Some(&principal), &filter, Some(100), Listing::NewestFirst).await
    {
        Ok(page) => page,
        Err(ServiceError::InvalidInput(fields)) => {
            let message = fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            return problem(visitor.chrome(&node), StatusCode::BAD_REQUEST, lang.texts().bad_request_title, &message);
        }
        Err(error) => return failure(lang, &node, &error),
    };
    let now = Utc::now();
    let rows = page
        .items
        .iter()
        .map(|row| {
            let status = effective_status(row, now);
            Row {
                id: row.id,
                number: row.certificate_number.clone(),
                operator: row.operator_name.clone(),
                tin: row.tin.clone(),
                certificate_type: lang.certificate_type(&row.certificate_type),
                status_code: status.as_str(),
                status: lang.status(status.as_str()),
                valid_until: valid_until(lang, row),
                partner: is_partner_record(row).then(|| row.issuing_country.clone()),
            }
        })
        .collect();
    let page = Certifications { chrome: visitor.chrome(&node), title, search, params, rows };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}

/// One entry of a history timeline.
struct Entry {
    to: &'static str,
    at: String,
    at_iso: String,
    officer: String,
    role: String,
    reason: Option<String>,
    hash: String,
    /// (block, transaction) once anchored.
    chain: Option<(i64, String)>,
}

struct History {
    entries: Vec<Entry>,
    chain_break: Option<String>,
}

#[derive(Template)]
#[template(path = "certification.html")]
struct Certification {
    chrome: Chrome,
    id: uuid::Uuid,
    number: String,
    partner: bool,
    status_code: &'static str,
    status: &'static str,
    operator: String,
    tin: String,
    issuing_country: String,
    issuing_authority: String,
    certificate_type: &'static str,
    roles: String,
    version: i32,
    valid_from: String,
    valid_until: String,
    confers_benefits: &'static str,
    submitted_by: String,
    has_credential: bool,
    may_amend: bool,
    /// Granted, and the officer may send it to the firm's wallet.
    may_offer_to_wallet: bool,
    decisions: Vec<Decision>,
    own_submission: bool,
    decision_error: Option<String>,
    history: Option<History>,
}

/// `GET /console/certifications/{id}`.
pub async fn certification(State(node): State<Node>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let (principal, row) = match certification_of(&node, &visitor, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    certification_page(&node, &visitor, principal, row, StatusCode::OK, None).await
}

/// A certification's page: its data, status, validity, the decisions the officer may take
/// (with `decision_error` beside them when one was just refused), and its history.
pub async fn certification_page(
    node: &Node,
    visitor: &Visitor,
    principal: &Principal,
    row: certifications::Model,
    status_code: StatusCode,
    decision_error: Option<String>,
) -> Response {
    let lang = visitor.lang;
    let partner = is_partner_record(&row);
    let history = if partner || !may(Some(principal), Operation::ReadHistory) {
        None
    } else {
        match history(node, principal, &row, lang).await {
            Ok(history) => Some(history),
            Err(error) => return failure(lang, node, &error),
        }
    };
    let now = Utc::now();
    let status = effective_status(&row, now);
    let texts = lang.texts();
    let (decisions, own_submission) = decisions_for(principal, &row, lang);
    let page = Certification {
        chrome: visitor.chrome(node),
        id: row.id,
        number: row.certificate_number.clone(),
        partner,
        status_code: status.as_str(),
        status: lang.status(status.as_str()),
        operator: row.operator_name.clone(),
        tin: row.tin.clone(),
        issuing_country: row.issuing_country.clone(),
        issuing_authority: row.issuing_authority.clone(),
        certificate_type: lang.certificate_type(&row.certificate_type),
        roles: row.roles.split(',').filter(|r| !r.is_empty()).map(|r| lang.role(r)).collect::<Vec<_>>().join(", "),
        version: row.version,
        valid_from: lang.date(row.valid_from),
        valid_until: valid_until(lang, &row),
        confers_benefits: if confers_benefits(&row, now) { texts.yes } else { texts.no },
        submitted_by: row.submitted_by.clone(),
        has_credential: row.credential_id.is_some(),
        may_amend: !partner && may_amend(principal, &row),
        may_offer_to_wallet: !partner
            && status == cadena_credentials::Status::Granted
            && may(Some(principal), Operation::OfferToWallet),
        decisions,
        own_submission,
        decision_error,
        history,
    };
    (visitor.answer_jar(), render(status_code, &page)).into_response()
}

/// The session's officer and the certification `id` of the path, as they may read it; else
/// the page to answer with (the login, 404, 403).
async fn certification_of<'a>(
    node: &Node,
    visitor: &'a Visitor,
    id: &str,
) -> Result<(&'a Principal, certifications::Model), Response> {
    let principal = visitor.officer()?;
    let id = parse_id(visitor.lang, node, id)?;
    match node.services.certifications.get(Some(principal), id).await {
        Ok(Some(row)) => Ok((principal, row)),
        Ok(None) => Err(failure(visitor.lang, node, &ServiceError::NotFound(format!("certification {id}")))),
        Err(error) => Err(failure(visitor.lang, node, &error)),
    }
}

async fn history(
    node: &Node,
    principal: &Principal,
    row: &certifications::Model,
    lang: Lang,
) -> Result<History, ServiceError> {
    let view = node.services.certifications.history(Some(principal), row.id).await?;
    let mut entries = Vec::with_capacity(view.entries.len());
    for entry in view.entries {
        let chain = match &node.services.anchoring {
            Some(anchoring) => {
                anchoring.confirmation_of(row.lineage_id, entry.seq).await?.map(|c| (c.block_number, c.tx_hash))
            }
            None => None,
        };
        entries.push(Entry {
            to: lang.status(entry.to.as_str()),
            at: lang.moment(entry.at),
            at_iso: entry.at.to_rfc3339(),
            officer: entry.actor,
            role: entry.actor_role,
            reason: entry.reason,
            hash: entry.hash,
            chain,
        });
    }
    // Newest first, as a timeline reads.
    entries.reverse();
    Ok(History { entries, chain_break: view.chain_break })
}

/// `GET /console/certifications/{id}/credential.json`: the signed credential, to download.
pub async fn credential(State(node): State<Node>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let (_, row) = match certification_of(&node, &visitor, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (lang, id) = (visitor.lang, row.id);
    let missing = || ServiceError::NotFound(format!("the credential of certification {id}"));
    let document = match row.credential_id {
        Some(credential) if is_partner_record(&row) => {
            node.services.certifications.partner_credential(&credential).await.map(|c| c.map(|c| c.to_string()))
        }
        Some(credential) => node.services.credentials.stored(&credential).await.map(|c| c.map(|c| c.document)),
        None => Ok(None),
    };
    match document {
        Ok(Some(document)) => (
            [
                (header::CONTENT_TYPE, "application/vc+ld+json".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.json\"")),
            ],
            document,
        )
            .into_response(),
        Ok(None) => failure(lang, &node, &missing()),
        Err(error) => failure(lang, &node, &error),
    }
}

/// One recognition (status and validity only).
struct Recognised {
    issuing_country: String,
    issuing_authority: String,
    certificate_type: &'static str,
    status_code: &'static str,
    status: &'static str,
    confers_benefits: &'static str,
    valid_from: String,
    valid_until: String,
    source: &'static str,
}

#[derive(Template)]
#[template(path = "recognition.html")]
struct RecognitionPage {
    chrome: Chrome,
    country: String,
    tin: String,
    asked: bool,
    error: Option<String>,
    rows: Vec<Recognised>,
}

/// `?country=&tin=` of the recognition page.
#[derive(Debug, Default, Deserialize)]
pub struct RecognitionParams {
    country: Option<String>,
    tin: Option<String>,
}

/// `GET /console/recognition`: whether an operator is a recognised AEO, here and at partners
/// (what `recognition(country, tin)` answers: status and validity, nothing else).
pub async fn recognition(
    State(node): State<Node>,
    visitor: Visitor,
    Query(params): Query<RecognitionParams>,
) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::ReadRecognition) {
        return response;
    }
    let lang = visitor.lang;
    let country = params.country.unwrap_or_default().trim().to_uppercase();
    let tin = params.tin.unwrap_or_default().trim().to_owned();
    let asked = !country.is_empty() && !tin.is_empty();
    let (mut rows, mut error) = (Vec::new(), None);
    if asked {
        match node.services.certifications.by_operator_unchecked(&country, &tin).await {
            Ok(found) => {
                let (now, texts) = (Utc::now(), lang.texts());
                rows = found
                    .iter()
                    .map(|row| {
                        let status = effective_status(row, now);
                        Recognised {
                            issuing_country: row.issuing_country.clone(),
                            issuing_authority: row.issuing_authority.clone(),
                            certificate_type: lang.certificate_type(&row.certificate_type),
                            status_code: status.as_str(),
                            status: lang.status(status.as_str()),
                            confers_benefits: if confers_benefits(row, now) { texts.yes } else { texts.no },
                            valid_from: lang.date(row.valid_from),
                            valid_until: valid_until(lang, row),
                            source: if is_partner_record(row) { texts.source_partner } else { texts.source_local },
                        }
                    })
                    .collect();
            }
            Err(ServiceError::InvalidInput(fields)) => {
                error = Some(fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
            }
            Err(other) => return failure(lang, &node, &other),
        }
    }
    let page = RecognitionPage { chrome: visitor.chrome(&node), country, tin, asked, error, rows };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}
