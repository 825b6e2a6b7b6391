//! OpenID4VP 1.0 verifier for VERIFIER accounts (insurers, banks, other customs): a request
//! for the AEO credential (a DCQL query, a nonce, `direct_post` to this node), shown as a link
//! or QR code; the wallet's one answer, verified fragment by fragment (integrity, issuer trust
//! from the on-chain registry, status, anchor, holder binding, nonce, disclosed claims); the
//! report over GraphQL, the account's signed webhook and the console.
//!
//! The request goes by value and unsigned, with the client identifier prefix `redirect_uri:`
//! (OpenID4VP 1.0 §5.9.3): the identifier is the response URI itself, so a wallet posts only
//! where the identifier says, and the key-binding JWT (or the Data Integrity proof's `domain`)
//! names it, so an answer made for one verifier cannot be replayed to another.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{WalletError, WalletSettings};
use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::services::credentials::CredentialService;
use crate::services::outbox;
use crate::services::secrets::random_token;
use crate::services::webhooks::WebhookService;
use crate::storage::entities::presentation_requests;
use crate::storage::{ApplyError, Storage, WriteBatch};
use cadena_credentials::sd_jwt_vc::AEO_VCT;

/// The DCQL credential query's id in every request.
pub const QUERY_ID: &str = "aeo";
/// The expanded types a Data Integrity AEO credential has (DCQL `type_values`).
const LDP_TYPES: [&str; 2] = [
    "https://www.w3.org/2018/credentials#VerifiableCredential",
    "https://w3id.org/cadena/aeo#AEOCertificationCredential",
];

/// The claims of the AEO credential a verifier may ask a firm to disclose (SD-JWT VC).
pub const DISCLOSABLE_CLAIMS: [&str; 12] = [
    "legalName",
    "traderIdentificationNumber",
    "traderIdentificationScheme",
    "address",
    "certificateNumber",
    "certificateVersion",
    "certificateType",
    "supplyChainRoles",
    "issuingCountry",
    "issuingAuthority",
    "authorisationDate",
    "lastValidationDate",
];

/// Which credential format a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletFormat {
    /// `dc+sd-jwt`: the firm discloses only the claims asked for.
    SdJwtVc,
    /// `ldp_vc`: the whole Data Integrity credential, in a signed presentation.
    LdpVc,
}

impl WalletFormat {
    /// The OpenID4VP format identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletFormat::SdJwtVc => "dc+sd-jwt",
            WalletFormat::LdpVc => "ldp_vc",
        }
    }
}

/// A request as the verifier shows it to the firm.
#[derive(Clone, Debug)]
pub struct PresentationRequest {
    /// Its id (to read the answer's report).
    pub id: Uuid,
    /// `openid4vp://?…`: the link, or the QR code's content.
    pub link: String,
    /// The authorisation request's parameters.
    pub request: Value,
    /// When it stops being answerable.
    pub expires_at: DateTime<Utc>,
}

/// An answered (or not yet answered) request, as its VERIFIER account reads it.
#[derive(Clone, Debug)]
pub struct PresentationOutcome {
    /// The request.
    pub request: presentation_requests::Model,
    /// PENDING, ANSWERED or EXPIRED.
    pub state: &'static str,
    /// The report: as of the answer, or checked again now when asked to.
    pub report: Option<Value>,
}

/// The OpenID4VP verifier of one node.
#[derive(Clone, Debug)]
pub struct PresentationVerifier {
    storage: Storage,
    credentials: CredentialService,
    webhooks: WebhookService,
    settings: WalletSettings,
}

impl PresentationVerifier {
    /// The verifier of the node whose verification is `credentials`.
    pub fn new(
        storage: Storage,
        credentials: CredentialService,
        webhooks: WebhookService,
        settings: WalletSettings,
    ) -> Self {
        PresentationVerifier { storage, credentials, webhooks, settings }
    }

    fn response_uri(&self, id: Uuid) -> String {
        format!("{}/openid4vp/responses/{id}", self.credentials.identity().base_url())
    }

    /// The client identifier of request `id`.
    pub fn client_id(&self, id: Uuid) -> String {
        format!("redirect_uri:{}", self.response_uri(id))
    }

    /// A request for the AEO credential in `format`, asking for the claims `claims` (SD-JWT VC
    /// only; none: status and validity only), by this VERIFIER account.
    #[tracing::instrument(skip(self, principal))]
    pub async fn create(
        &self,
        principal: Option<&Principal>,
        format: WalletFormat,
        claims: Vec<String>,
    ) -> Result<PresentationRequest, ServiceError> {
        let (verifier, _) = authorize(principal, Operation::RequestPresentation)?;
        if let Some((i, claim)) = claims.iter().enumerate().find(|(_, c)| !DISCLOSABLE_CLAIMS.contains(&c.as_str())) {
            return Err(ServiceError::field(
                format!("claims[{i}]"),
                format!("{claim:?} is not a claim of the AEO credential a verifier may ask for"),
            ));
        }
        if format == WalletFormat::LdpVc && !claims.is_empty() {
            return Err(ServiceError::field("claims", "an ldp_vc is shown whole; ask for claims with SD_JWT_VC"));
        }
        let id = Uuid::now_v7();
        let (nonce, state) = (random_token(), random_token());
        let now = Utc::now();
        let expires_at = now + self.settings.request_ttl;
        let mut batch = WriteBatch::default();
        batch.push(
            presentation_requests::Entity::insert(presentation_requests::ActiveModel {
                id: Set(id),
                verifier: Set(verifier.username.clone()),
                format: Set(format.as_str().to_owned()),
                claims: Set(json!(claims).to_string()),
                nonce: Set(nonce.clone()),
                state: Set(state.clone()),
                created_at: Set(now),
                expires_at: Set(expires_at),
                answered_at: Set(None),
                verified: Set(None),
                presentation: Set(None),
                report: Set(None),
            })
            .build(self.storage.backend()),
        );
        self.storage.apply_alone(batch).await?;
        let row = presentation_requests::Entity::find_by_id(id)
            .one(self.storage.db())
            .await?
            .ok_or_else(|| ServiceError::Internal("the request just stored is missing".into()))?;
        let (request, link) = self.authorization_request(&row);
        Ok(PresentationRequest { id, link, request, expires_at })
    }

    /// The link of a stored request (to show it again while it can be answered).
    pub fn link_of(&self, row: &presentation_requests::Model) -> String {
        self.authorization_request(row).1
    }

    /// The authorisation request of `row` (OpenID4VP 1.0 §5, by value), and its
    /// `openid4vp://` link.
    fn authorization_request(&self, row: &presentation_requests::Model) -> (Value, String) {
        let claims: Vec<String> = serde_json::from_str(&row.claims).unwrap_or_default();
        let query = if row.format == WalletFormat::LdpVc.as_str() {
            json!({ "id": QUERY_ID, "format": "ldp_vc", "meta": { "type_values": [LDP_TYPES] } })
        } else {
            let mut query = json!({ "id": QUERY_ID, "format": "dc+sd-jwt", "meta": { "vct_values": [AEO_VCT] } });
            if !claims.is_empty() {
                query["claims"] = claims.iter().map(|c| json!({ "path": [c] })).collect();
            }
            query
        };
        let algs = json!(["EdDSA", "ES256"]);
        let request = json!({
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "client_id": self.client_id(row.id),
            "response_uri": self.response_uri(row.id),
            "nonce": row.nonce,
            "state": row.state,
            "dcql_query": { "credentials": [query] },
            "client_metadata": { "vp_formats_supported": {
                "dc+sd-jwt": { "sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs },
                "ldp_vc": { "proof_type_values": ["DataIntegrityProof"], "cryptosuite_values": ["eddsa-rdfc-2022", "ecdsa-rdfc-2019"] },
            } },
        });
        let mut link = form_urlencoded::Serializer::new(String::new());
        for (name, value) in request.as_object().expect("an object") {
            match value {
                Value::String(text) => link.append_pair(name, text),
                other => link.append_pair(name, &other.to_string()),
            };
        }
        (request, format!("openid4vp://?{}", link.finish()))
    }

    /// The response endpoint (`direct_post`): the wallet's one answer to request `id`.
    #[tracing::instrument(skip(self, vp_token, state))]
    pub async fn answer(&self, id: Uuid, vp_token: Option<&str>, state: Option<&str>) -> Result<Value, WalletError> {
        let request = presentation_requests::Entity::find_by_id(id)
            .one(self.storage.db())
            .await?
            .ok_or_else(|| WalletError::bad("invalid_request", "no such presentation request"))?;
        if state != Some(request.state.as_str()) {
            return Err(WalletError::bad("invalid_request", "state does not match the request's"));
        }
        let now = Utc::now();
        if request.answered_at.is_some() {
            return Err(WalletError::bad(
                "invalid_request",
                "this request was already answered; responses are single use",
            ));
        }
        if request.expires_at <= now {
            return Err(WalletError::bad("invalid_request", "this request has expired"));
        }
        let vp_token = vp_token.ok_or_else(|| WalletError::bad("invalid_request", "vp_token is required"))?;
        let presentation = presented(vp_token)?;
        let report = self.verify(&request, &presentation, now).await?;
        let verified = report["verified"].as_bool().unwrap_or(false);
        let spend = presentation_requests::Entity::update_many()
            .col_expr(presentation_requests::Column::AnsweredAt, Expr::value(now))
            .col_expr(presentation_requests::Column::Verified, Expr::value(verified))
            .col_expr(presentation_requests::Column::Presentation, Expr::value(presentation.to_string()))
            .col_expr(presentation_requests::Column::Report, Expr::value(report.to_string()))
            .filter(presentation_requests::Column::Id.eq(id))
            .filter(presentation_requests::Column::AnsweredAt.is_null())
            .build(self.storage.backend());
        let mut batch = WriteBatch::default();
        batch.push_guarded(spend, "this request was already answered; responses are single use");
        let payload = json!({
            "type": "presentation.verified",
            "verifier": request.verifier,
            "request": id.to_string(),
            "verified": verified,
            "report": report,
        });
        for work in self.webhooks.work_for_verifier(&request.verifier, &payload) {
            batch.push(outbox::enqueue(self.storage.backend(), work));
        }
        match self.storage.apply_alone(batch).await {
            Ok(()) => Ok(json!({})),
            Err(ApplyError::Conflict(why)) => Err(WalletError::bad("invalid_request", why)),
            Err(ApplyError::Db(e)) => Err(e.into()),
        }
    }

    /// Request `id` of this VERIFIER account, with its report; `recheck` verifies the answer
    /// again now (status and validity as they are now; the key binding as it was answered).
    pub async fn outcome(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        recheck: bool,
    ) -> Result<PresentationOutcome, ServiceError> {
        let (verifier, _) = authorize(principal, Operation::RequestPresentation)?;
        let request = presentation_requests::Entity::find_by_id(id)
            .one(self.storage.db())
            .await?
            .filter(|r| r.verifier == verifier.username)
            .ok_or_else(|| ServiceError::NotFound(format!("presentation request {id}")))?;
        let state = match (request.answered_at, request.expires_at <= Utc::now()) {
            (Some(_), _) => "ANSWERED",
            (None, true) => "EXPIRED",
            (None, false) => "PENDING",
        };
        let report = match (&request.presentation, request.answered_at, recheck) {
            (Some(presentation), Some(at), true) => {
                let presentation: Value = serde_json::from_str(presentation).map_err(ServiceError::internal)?;
                Some(
                    self.verify(&request, &presentation, at)
                        .await
                        .map_err(|e| ServiceError::field("presentation", e.description))?,
                )
            }
            _ => request.report.as_deref().map(serde_json::from_str).transpose().map_err(ServiceError::internal)?,
        };
        Ok(PresentationOutcome { request, state, report })
    }

    /// The report of `presentation` (an SD-JWT VC string, or a presentation object) made at
    /// `presented_at` for `request`.
    async fn verify(
        &self,
        request: &presentation_requests::Model,
        presentation: &Value,
        presented_at: DateTime<Utc>,
    ) -> Result<Value, WalletError> {
        let client_id = self.client_id(request.id);
        let asked: Vec<String> = serde_json::from_str(&request.claims).unwrap_or_default();
        match (request.format.as_str(), presentation) {
            ("dc+sd-jwt", Value::String(text)) => {
                let outcome = self
                    .credentials
                    .verify_sd_jwt_presentation(text, &client_id, &request.nonce, presented_at)
                    .await
                    .map_err(|e| WalletError::bad("invalid_request", e.to_string()))?;
                let missing: Vec<&String> = asked.iter().filter(|c| !outcome.disclosed.contains(c)).collect();
                let mut report = serde_json::to_value(&outcome.report).map_err(ServiceError::internal)?;
                report["disclosed"] = json!(outcome.disclosed);
                report["claims"] = Value::Object(outcome.claims);
                report["requestedClaims"] = if missing.is_empty() {
                    json!({ "outcome": "VALID", "reason": "every claim asked for is disclosed" })
                } else {
                    report["verified"] = json!(false);
                    json!({ "outcome": "INVALID", "reason": format!("not disclosed: {missing:?}") })
                };
                Ok(report)
            }
            ("ldp_vc", Value::Object(_)) => {
                let report = self
                    .credentials
                    .verify_presentation_once(presentation, &request.nonce, &client_id)
                    .await
                    .map_err(|e| WalletError::bad("invalid_request", e.to_string()))?;
                let mut report = serde_json::to_value(&report).map_err(ServiceError::internal)?;
                report["disclosed"] = json!(["the whole credential"]);
                Ok(report)
            }
            (format, _) => Err(WalletError::bad(
                "invalid_request",
                format!("vp_token.{QUERY_ID}[0]: this request asked for {format}, and this is not one"),
            )),
        }
    }
}

/// The one presentation in `vp_token` (OpenID4VP 1.0 §8.1: a JSON object from credential query
/// ids to arrays of presentations): a string (an SD-JWT VC), or an object (a Data Integrity
/// presentation), which some wallets send as a JSON string.
fn presented(vp_token: &str) -> Result<Value, WalletError> {
    let bad = |why: &str| WalletError::bad("invalid_request", format!("vp_token: {why}"));
    let token: Value = serde_json::from_str(vp_token).map_err(|_| bad("is not a JSON object"))?;
    let answers = token.get(QUERY_ID).and_then(Value::as_array).ok_or_else(|| bad("has no array under \"aeo\""))?;
    let [presentation] = answers.as_slice() else {
        return Err(bad("must hold exactly one presentation under \"aeo\""));
    };
    Ok(match presentation {
        Value::String(text) if text.trim_start().starts_with('{') => {
            serde_json::from_str(text).map_err(|_| bad("the presentation is not JSON"))?
        }
        other => other.clone(),
    })
}
