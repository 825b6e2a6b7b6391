//! The administration page: the node's identity (DID, keys, chain, anchoring lag), officers and
//! their roles (create, disable, enable), the MRAs (propose, accept, suspend, resume,
//! terminate, with their scope) and the webhook deliveries. Each section shows to whom the
//! API's policy lets read it, and each action goes through the same service call as its
//! mutation.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cadena_credentials::CertificateType;
use cadena_resolvers::auth::{Operation, Principal, Role};
use cadena_resolvers::errors::ServiceError;
use cadena_resolvers::services::outbox::Topic;
use cadena_resolvers::services::partners::{MraChange, scope_types};
use chrono::Utc;

use super::pages::{Chrome, render};
use super::texts::Lang;
use super::{Visitor, failure, may};
use crate::node::Node;

/// How many webhook deliveries the page shows.
const DELIVERIES: u64 = 50;

struct Identity {
    did: String,
    signing_key: String,
    agreement_key: String,
    /// (authority registry, anchor registry) when anchoring.
    contracts: Option<(String, String)>,
    /// Anchoring work waiting, and since how many seconds the oldest.
    anchoring_waiting: u64,
    anchoring_lag_secs: Option<i64>,
}

struct OfficerRow {
    username: String,
    roles: String,
    disabled: bool,
}

struct MraRow {
    partner: String,
    state: String,
    scope: String,
    did: String,
    since_block: i64,
}

struct DeliveryRow {
    id: i64,
    url: String,
    state: String,
    attempts: i32,
    last_status: String,
    last_error: String,
    at: String,
}

/// A role or certificate type offered as a checkbox.
struct Choice {
    code: &'static str,
    name: &'static str,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    problem: Option<String>,
    identity: Option<Identity>,
    officers: Option<Vec<OfficerRow>>,
    mras: Option<Vec<MraRow>>,
    may_manage_mras: bool,
    deliveries: Option<Vec<DeliveryRow>>,
    roles: Vec<Choice>,
    types: Vec<Choice>,
}

/// `GET /console/admin`.
pub async fn page(State(node): State<Node>, visitor: Visitor) -> Response {
    show(&node, &visitor, StatusCode::OK, None).await
}

async fn show(node: &Node, visitor: &Visitor, status: StatusCode, problem: Option<String>) -> Response {
    // Whoever may read the MRAs may read some section (the others need more).
    let principal = match visitor.allowed(node, Operation::ReadMras) {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let lang = visitor.lang;
    match sections(node, principal, lang).await {
        Ok(mut page) => {
            page.chrome = visitor.chrome(node);
            page.problem = problem;
            (visitor.answer_jar(), render(status, &page)).into_response()
        }
        Err(error) => failure(lang, node, &error),
    }
}

async fn sections(node: &Node, principal: &Principal, lang: Lang) -> Result<AdminPage, ServiceError> {
    let admin = may(Some(principal), Operation::ManageOfficers);
    let identity = if admin {
        let id = node.services.credentials.identity();
        let (anchoring_waiting, oldest) = match &node.services.anchoring {
            Some(anchoring) => anchoring.backlog().await?,
            None => (0, None),
        };
        Some(Identity {
            did: id.did().to_owned(),
            signing_key: id.signing_key().0,
            agreement_key: id.agreement_public_multibase(),
            contracts: node
                .services
                .partners
                .as_ref()
                .and_then(|p| p.chain().contracts())
                .map(|c| (c.authority_registry.to_string(), c.anchor_registry.to_string())),
            anchoring_waiting,
            anchoring_lag_secs: oldest.map(|at| (Utc::now() - at).num_seconds().max(0)),
        })
    } else {
        None
    };
    let officers = if admin {
        let rows = node.services.officers.list(Some(principal)).await?;
        Some(
            rows.into_iter()
                .map(|o| OfficerRow { username: o.username, roles: o.roles.replace(',', " "), disabled: o.disabled })
                .collect(),
        )
    } else {
        None
    };
    let mras = if may(Some(principal), Operation::ReadMras) {
        let rows = match &node.services.partners {
            Some(partners) => partners.partners().await?,
            None => Vec::new(),
        };
        Some(
            rows.into_iter()
                .map(|m| MraRow {
                    partner: m.country,
                    state: m.state,
                    scope: scope_types(m.scope)
                        .iter()
                        .map(|t| lang.certificate_type(t.as_str()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    did: m.did,
                    since_block: m.since_block,
                })
                .collect(),
        )
    } else {
        None
    };
    let deliveries = if may(Some(principal), Operation::ReadWebhookLog) {
        let rows = node.services.outbox.log(Topic::Webhook, DELIVERIES).await?;
        Some(
            rows.into_iter()
                .map(|d| DeliveryRow {
                    id: d.id,
                    url: d.subject.unwrap_or_default(),
                    state: d.state,
                    attempts: d.attempts,
                    last_status: d.last_status.map(|s| s.to_string()).unwrap_or_default(),
                    last_error: d.last_error.unwrap_or_default(),
                    at: lang.moment(d.done_at.unwrap_or(d.created_at)),
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(AdminPage {
        chrome: Chrome::new(lang, node, None),
        problem: None,
        identity,
        officers,
        mras,
        may_manage_mras: may(Some(principal), Operation::ManageMras),
        deliveries,
        roles: Role::ALL.iter().map(|r| Choice { code: r.as_str(), name: r.as_str() }).collect(),
        types: CertificateType::ALL
            .iter()
            .map(|t| Choice { code: t.as_str(), name: lang.certificate_type(t.as_str()) })
            .collect(),
    })
}

/// A posted form's fields (`roles` and `scope` repeat).
fn fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn all<'a>(fields: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `POST /console/admin`: one action (`action` names it), then the page again.
pub async fn act(State(node): State<Node>, visitor: Visitor, body: Bytes) -> Response {
    let principal = match visitor.officer() {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let form = fields(&body);
    if let Err(refused) = visitor.form_of_this_session(&node, field(&form, "csrf")) {
        return refused;
    }
    let p = Some(principal);
    let officers = &node.services.officers;
    let username = field(&form, "username");
    let outcome = match field(&form, "action") {
        "create-officer" => {
            let roles: Vec<Role> = all(&form, "roles").filter_map(Role::parse).collect();
            officers.create(p, username, field(&form, "password"), &roles).await.map(drop)
        }
        "disable-officer" => officers.set_disabled(p, username, true).await.map(drop),
        "enable-officer" => officers.set_disabled(p, username, false).await.map(drop),
        mra @ ("propose-mra" | "accept-mra" | "suspend-mra" | "resume-mra" | "terminate-mra") => {
            let scope: Vec<CertificateType> = all(&form, "scope").filter_map(CertificateType::parse).collect();
            let change = match mra {
                "propose-mra" => MraChange::Propose(scope),
                "accept-mra" => MraChange::Accept(scope),
                "suspend-mra" => MraChange::Suspend,
                "resume-mra" => MraChange::Resume,
                _ => MraChange::Terminate,
            };
            match &node.services.partners {
                Some(partners) => partners.change_mra(p, field(&form, "partner"), change).await,
                // Refused before anything is said of this node's chain.
                None => principal
                    .authorize(Operation::ManageMras)
                    .and(Err(ServiceError::NotFound("the partner network (this node has no chain configured)".into()))),
            }
        }
        other => Err(ServiceError::field("action", format!("{other:?} is not an action of this page"))),
    };
    match outcome {
        Ok(()) => (visitor.answer_jar(), Redirect::to("/console/admin")).into_response(),
        Err(error @ ServiceError::Forbidden { .. }) => failure(visitor.lang, &node, &error),
        Err(error) => {
            let status = match error {
                ServiceError::Conflict(_) => StatusCode::CONFLICT,
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            show(&node, &visitor, status, Some(error.to_string())).await
        }
    }
}
