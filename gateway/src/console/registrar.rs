//! The registrar's pages: the AEO data set as a form (a new certification, or an amendment of
//! a granted or suspended one) whose fields the server checks before anything is filed, each
//! error shown beside its field as the service words it (the trader-ID check included), and
//! "my submissions". The form's field names are the API's input paths (`tin`,
//! `address.street`…), so the service's field errors land where they belong.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cadena_credentials::{AddressDraft, AeoDataSetDraft, CertificateType, FieldError, SupplyChainRole};
use cadena_resolvers::auth::{Operation, Principal};
use cadena_resolvers::errors::ServiceError;
use cadena_resolvers::services::certifications::effective_status;
use cadena_resolvers::storage::entities::certifications;
use chrono::NaiveDate;

use super::pages::{Chrome, render};
use super::{Visitor, failure, parse_id};
use crate::node::Node;

/// The prefix of the service's field paths (`input.tin`).
const INPUT: &str = "input.";

/// The data set as typed into the form: every field as text, so what was typed comes back
/// as it was beside its error.
#[derive(Debug, Default)]
pub struct DataSetFields {
    pub certificate_number: String,
    pub issuing_authority: String,
    pub operator_name: String,
    pub street: String,
    pub city: String,
    pub sub_entity: String,
    pub postcode: String,
    pub address_country: String,
    pub tin: String,
    pub certificate_type: String,
    pub roles: Vec<String>,
    pub authorisation_date: String,
    pub valid_from: String,
    pub valid_until: String,
    pub last_validation_date: String,
    pub operator_did: String,
}

/// What a posted form holds besides the data set.
struct Posted {
    csrf: String,
    /// `check` (only check) or `submit`.
    action: String,
    fields: DataSetFields,
}

impl DataSetFields {
    /// A blank form for this node: its country, its authority.
    fn blank(node: &Node) -> DataSetFields {
        DataSetFields {
            issuing_authority: node.config.authority.clone(),
            address_country: node.config.country.clone(),
            certificate_type: CertificateType::SecurityAndSafety.as_str().to_owned(),
            ..Default::default()
        }
    }

    /// The form of an amendment: the current version's data.
    fn of(row: &certifications::Model) -> DataSetFields {
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        DataSetFields {
            certificate_number: row.certificate_number.clone(),
            issuing_authority: row.issuing_authority.clone(),
            operator_name: row.operator_name.clone(),
            street: row.street.clone(),
            city: row.city.clone(),
            sub_entity: row.sub_entity.clone().unwrap_or_default(),
            postcode: row.postcode.clone().unwrap_or_default(),
            address_country: row.address_country.clone(),
            tin: row.tin.clone(),
            certificate_type: row.certificate_type.clone(),
            roles: row.roles.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
            authorisation_date: row.authorisation_date.to_string(),
            valid_from: row.valid_from.to_string(),
            valid_until: date(row.valid_until),
            last_validation_date: date(row.last_validation_date),
            operator_did: row.operator_did.clone().unwrap_or_default(),
        }
    }

    /// Reads a posted form (`application/x-www-form-urlencoded`; `roles` repeats).
    fn posted(body: &[u8]) -> Posted {
        let mut posted = Posted { csrf: String::new(), action: String::new(), fields: DataSetFields::default() };
        let f = &mut posted.fields;
        for (name, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match name.as_ref() {
                "csrf" => posted.csrf = value,
                "action" => posted.action = value,
                "certificateNumber" => f.certificate_number = value,
                "issuingAuthority" => f.issuing_authority = value,
                "operatorName" => f.operator_name = value,
                "address.street" => f.street = value,
                "address.city" => f.city = value,
                "address.subEntity" => f.sub_entity = value,
                "address.postcode" => f.postcode = value,
                "address.country" => f.address_country = value,
                "tin" => f.tin = value,
                "certificateType" => f.certificate_type = value,
                "roles" => f.roles.push(value),
                "authorisationDate" => f.authorisation_date = value,
                "validFrom" => f.valid_from = value,
                "validUntil" => f.valid_until = value,
                "lastValidationDate" => f.last_validation_date = value,
                "operatorDid" => f.operator_did = value,
                _ => {}
            }
        }
        posted
    }

    /// The draft the service judges, with what the form alone can tell is wrong (a date that
    /// is not one, a type or role the console does not offer).
    fn draft(&self, country: &str) -> (AeoDataSetDraft, Vec<FieldError>) {
        let mut errors = Vec::new();
        let mut date = |field: &str, value: &str| {
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map_err(|_| errors.push(FieldError::new(format!("{INPUT}{field}"), "is not a date (YYYY-MM-DD)")))
                .ok()
        };
        let authorisation_date = date("authorisationDate", &self.authorisation_date);
        let valid_from = date("validFrom", &self.valid_from);
        let valid_until = date("validUntil", &self.valid_until);
        let last_validation_date = date("lastValidationDate", &self.last_validation_date);
        let certificate_type = CertificateType::parse(&self.certificate_type);
        if certificate_type.is_none() {
            errors.push(FieldError::new(format!("{INPUT}certificateType"), "choose one of the types"));
        }
        let mut roles = Vec::new();
        for role in &self.roles {
            match SupplyChainRole::parse(role) {
                Some(role) => roles.push(role),
                None => errors.push(FieldError::new(format!("{INPUT}roles"), format!("{role} is not a role"))),
            }
        }
        let optional = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let draft = AeoDataSetDraft {
            certificate_number: self.certificate_number.trim().to_owned(),
            issuing_country: country.to_owned(),
            issuing_authority: self.issuing_authority.clone(),
            operator_name: self.operator_name.clone(),
            address: AddressDraft {
                street: self.street.clone(),
                city: self.city.clone(),
                sub_entity: optional(&self.sub_entity),
                postcode: optional(&self.postcode),
                country: self.address_country.trim().to_uppercase(),
            },
            tin: self.tin.clone(),
            partner_identifiers: Vec::new(),
            certificate_type,
            roles,
            authorisation_date,
            valid_from,
            valid_until,
            last_validation_date,
            operator_did: optional(&self.operator_did),
        };
        (draft, errors)
    }
}

/// One option of a choice in the form.
struct Choice {
    code: &'static str,
    name: &'static str,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "data_set_form.html")]
struct DataSetPage {
    chrome: Chrome,
    /// Where the form posts.
    action: String,
    title: &'static str,
    /// The certificate number cannot change in an amendment.
    amending: bool,
    fields: DataSetFields,
    types: Vec<Choice>,
    roles: Vec<Choice>,
    /// Field errors by form field name.
    errors: Vec<FieldError>,
    /// The form was checked and every field is valid.
    checked_ok: bool,
    /// An error that belongs to no field (a conflict, a refusal).
    problem: Option<String>,
}

impl DataSetPage {
    /// The error of form field `name`, if any.
    fn error_of(&self, name: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == name).map(|e| e.message.as_str())
    }
}

fn page(
    chrome: Chrome,
    action: String,
    amending: bool,
    fields: DataSetFields,
    outcome: Result<bool, ServiceError>,
) -> DataSetPage {
    let lang = chrome.lang;
    let (mut errors, mut problem, mut checked_ok) = (Vec::new(), None, false);
    match outcome {
        Ok(ok) => checked_ok = ok,
        Err(ServiceError::InvalidInput(fields)) => {
            errors = fields
                .into_iter()
                .map(|e| FieldError { field: e.field.strip_prefix(INPUT).unwrap_or(&e.field).to_owned(), ..e })
                .collect();
        }
        Err(other) => problem = Some(other.to_string()),
    }
    let types = CertificateType::ALL
        .iter()
        .map(|t| Choice {
            code: t.as_str(),
            name: lang.certificate_type(t.as_str()),
            chosen: fields.certificate_type == t.as_str(),
        })
        .collect();
    let roles = SupplyChainRole::ALL
        .iter()
        .map(|r| Choice {
            code: r.as_str(),
            name: lang.role(r.as_str()),
            chosen: fields.roles.iter().any(|x| x == r.as_str()),
        })
        .collect();
    let texts = lang.texts();
    let title = if amending { texts.amend_title } else { texts.submit_title };
    DataSetPage { chrome, action, title, amending, fields, types, roles, errors, checked_ok, problem }
}

fn respond(visitor: &Visitor, page: &DataSetPage) -> Response {
    let status = if page.errors.is_empty() && page.problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (visitor.answer_jar(), render(status, page)).into_response()
}

/// `GET /console/submit`: a blank form.
pub async fn new_form(State(node): State<Node>, visitor: Visitor) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::SubmitCertification) {
        return response;
    }
    let page = page(visitor.chrome(&node), "/console/submit".into(), false, DataSetFields::blank(&node), Ok(false));
    respond(&visitor, &page)
}

/// `POST /console/submit`: checks the form (`action=check`) or files it.
pub async fn submit(State(node): State<Node>, visitor: Visitor, body: Bytes) -> Response {
    let (principal, posted) = match posted(&node, &visitor, Operation::SubmitCertification, &body) {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let certifications = &node.services.certifications;
    let filing = |draft: AeoDataSetDraft| async move { certifications.submit(Some(principal), &draft).await };
    answer_posted(&node, &visitor, principal, posted, "/console/submit".into(), false, filing).await
}

/// The session's officer, if allowed `operation`, and their form, if it carries the session's
/// token; else the page to answer with.
#[allow(clippy::result_large_err)]
fn posted<'a>(
    node: &Node,
    visitor: &'a Visitor,
    operation: Operation,
    body: &[u8],
) -> Result<(&'a Principal, Posted), Response> {
    let principal = visitor.allowed(node, operation)?;
    let posted = DataSetFields::posted(body);
    visitor.form_of_this_session(node, &posted.csrf)?;
    Ok((principal, posted))
}

/// Checks the posted form and, when it is valid and `action=submit`, files it with `filing`
/// and leads to the certification filed; else the form again with what the check found.
async fn answer_posted<F, Fut>(
    node: &Node,
    visitor: &Visitor,
    principal: &Principal,
    posted: Posted,
    path: String,
    amending: bool,
    filing: F,
) -> Response
where
    F: FnOnce(AeoDataSetDraft) -> Fut,
    Fut: std::future::Future<Output = Result<certifications::Model, ServiceError>>,
{
    let outcome = match checked(node, principal, &posted.fields) {
        Ok(draft) if posted.action == "submit" => match filing(draft).await {
            Ok(filed) => return (visitor.answer_jar(), certification_page(filed.id)).into_response(),
            Err(error) => Err(error),
        },
        Ok(_) => Ok(true),
        Err(error) => Err(error),
    };
    let page = page(visitor.chrome(node), path, amending, posted.fields, outcome);
    respond(visitor, &page)
}

/// The draft of `fields` as the service judges it (the form's own errors first).
fn checked(node: &Node, principal: &Principal, fields: &DataSetFields) -> Result<AeoDataSetDraft, ServiceError> {
    let (draft, form_errors) = fields.draft(&node.config.country);
    let judged = node.services.certifications.check(Some(principal), &draft);
    match (judged, form_errors.is_empty()) {
        (Ok(_), true) => Ok(draft),
        (Ok(_), false) => Err(ServiceError::InvalidInput(form_errors)),
        (Err(ServiceError::InvalidInput(mut errors)), _) => {
            // A date the form could not read reached the service as missing: say what was typed.
            errors.retain(|e| !form_errors.iter().any(|f| f.field == e.field));
            errors.extend(form_errors);
            Err(ServiceError::InvalidInput(errors))
        }
        (Err(other), _) => Err(other),
    }
}

fn certification_page(id: uuid::Uuid) -> Redirect {
    Redirect::to(&format!("/console/certifications/{id}"))
}

/// `GET /console/certifications/{id}/amend`: the current version's data, to change.
pub async fn amend_form(State(node): State<Node>, visitor: Visitor, Path(id): Path<String>) -> Response {
    let principal = match visitor.allowed(&node, Operation::AmendCertification) {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let row = match amendable(&node, &visitor, principal, &id).await {
        Ok(row) => row,
        Err(response) => return response,
    };
    let page = page(visitor.chrome(&node), amend_path(row.id), true, DataSetFields::of(&row), Ok(false));
    respond(&visitor, &page)
}

/// `POST /console/certifications/{id}/amend`.
pub async fn amend(State(node): State<Node>, visitor: Visitor, Path(id): Path<String>, body: Bytes) -> Response {
    let (principal, posted) = match posted(&node, &visitor, Operation::AmendCertification, &body) {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let row = match amendable(&node, &visitor, principal, &id).await {
        Ok(row) => row,
        Err(response) => return response,
    };
    let certifications = &node.services.certifications;
    let filing = |draft: AeoDataSetDraft| async move { certifications.amend(Some(principal), row.id, &draft).await };
    answer_posted(&node, &visitor, principal, posted, amend_path(row.id), true, filing).await
}

fn amend_path(id: uuid::Uuid) -> String {
    format!("/console/certifications/{id}/amend")
}

/// The certification of the path, if it is this node's own.
async fn amendable(
    node: &Node,
    visitor: &Visitor,
    principal: &Principal,
    id: &str,
) -> Result<certifications::Model, Response> {
    let id = parse_id(visitor.lang, node, id)?;
    match node.services.certifications.get(Some(principal), id).await {
        Ok(Some(row)) if !cadena_resolvers::services::certifications::is_partner_record(&row) => Ok(row),
        Ok(_) => Err(failure(visitor.lang, node, &ServiceError::NotFound(format!("certification {id}")))),
        Err(error) => Err(failure(visitor.lang, node, &error)),
    }
}

/// Whether the registrar may start an amendment of `row` now (the page offers the link).
pub fn may_amend(principal: &Principal, row: &certifications::Model) -> bool {
    principal.authorize(Operation::AmendCertification).is_ok()
        && matches!(
            effective_status(row, chrono::Utc::now()),
            cadena_credentials::Status::Granted | cadena_credentials::Status::Suspended
        )
}
