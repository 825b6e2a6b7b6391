//! Wallets in the subgraph: an officer's credential offer to the firm's wallet (OpenID4VCI),
//! a VERIFIER account's presentation request and its report (OpenID4VP), and the
//! certification's wallet log (`Certification.walletEvents`, in `types.rs`).

use async_graphql::{ComplexObject, Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::Json;
use super::{principal, services};
use crate::errors::{GqlResult, ServiceError};
use crate::services::wallets::presentation::{PresentationOutcome, WalletFormat};
use crate::services::wallets::qr_svg;
use crate::storage::entities::wallet_events;

/// One step of a certification's delivery to wallets.
#[derive(SimpleObject, Clone, Debug)]
pub struct WalletEvent {
    /// OFFERED, TOKEN_ISSUED, CREDENTIAL_ISSUED or REFUSED.
    pub event: String,
    /// The offer it belongs to.
    pub offer_id: Option<ID>,
    /// What it concerned: who offered and until when, the format and holder issued to, why a
    /// request was refused.
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<wallet_events::Model> for WalletEvent {
    fn from(row: wallet_events::Model) -> Self {
        WalletEvent {
            event: row.event,
            offer_id: row.offer_id.map(|id| ID(id.to_string())),
            detail: row.detail,
            at: row.at,
        }
    }
}

/// A credential offer for the firm's wallet.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct WalletOffer {
    /// The offer's id (in `walletEvents`).
    pub id: ID,
    /// `openid-credential-offer://…`: open it in the wallet, or show it as a QR code.
    pub link: String,
    /// The transaction code: give it to the firm out of band (not with the link).
    pub tx_code: String,
    /// The offer stops being redeemable then; it is redeemed once.
    pub expires_at: DateTime<Utc>,
    /// The credential offer object.
    pub credential_offer: Json,
}

/// A credential format a verifier asks a wallet for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WalletFormatInput {
    /// SD-JWT VC (`dc+sd-jwt`): the firm discloses only the claims asked for.
    SdJwtVc,
    /// Data Integrity credential (`ldp_vc`), shown whole.
    LdpVc,
}

/// A presentation request for a wallet.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct WalletPresentationRequest {
    /// Its id: read the answer with `presentationRequest(id:)`.
    pub id: ID,
    /// `openid4vp://…`: open it in the wallet, or show it as a QR code.
    pub link: String,
    /// It can be answered once, until then.
    pub expires_at: DateTime<Utc>,
    /// The authorisation request's parameters.
    pub request: Json,
}

/// A presentation request and the report of its answer.
#[derive(SimpleObject, Clone, Debug)]
pub struct WalletPresentationResult {
    /// The request's id.
    pub id: ID,
    /// PENDING, ANSWERED or EXPIRED.
    pub state: String,
    /// The format asked for.
    pub format: String,
    /// When the wallet answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether the answer verified (null before it).
    pub verified: Option<bool>,
    /// The report by fragment: integrity, issuer trust, status, validity, anchor, holder
    /// binding, the request's nonce and audience, and the disclosed claims.
    pub report: Option<Json>,
}

impl From<PresentationOutcome> for WalletPresentationResult {
    fn from(outcome: PresentationOutcome) -> Self {
        let verified = outcome.report.as_ref().and_then(|r| r["verified"].as_bool()).or(outcome.request.verified);
        WalletPresentationResult {
            id: ID(outcome.request.id.to_string()),
            state: outcome.state.to_owned(),
            format: outcome.request.format,
            answered_at: outcome.request.answered_at,
            verified,
            report: outcome.report.map(Json),
        }
    }
}

#[ComplexObject]
impl WalletOffer {
    /// The link as a QR code (SVG).
    async fn qr_svg(&self) -> Result<String> {
        qr_svg(&self.link).gql()
    }
}

#[ComplexObject]
impl WalletPresentationRequest {
    /// The link as a QR code (SVG).
    async fn qr_svg(&self) -> Result<String> {
        qr_svg(&self.link).gql()
    }
}

fn uuid(id: &ID, field: &str) -> Result<uuid::Uuid, ServiceError> {
    uuid::Uuid::parse_str(id).map_err(|_| ServiceError::field(field, "is not an id"))
}

/// Wallet queries, merged into `Query`.
#[derive(Debug, Default)]
pub struct WalletQuery;

#[Object]
impl WalletQuery {
    /// A presentation request of this account (VERIFIER) and its answer's report; `recheck`
    /// verifies the answer again now (status as it is now: a suspension since shows).
    async fn presentation_request(
        &self,
        ctx: &Context<'_>,
        id: ID,
        recheck: Option<bool>,
    ) -> Result<WalletPresentationResult> {
        let id = uuid(&id, "id").gql()?;
        let outcome = services(ctx).presentations.outcome(principal(ctx), id, recheck.unwrap_or(false)).await.gql()?;
        Ok(outcome.into())
    }
}

/// Wallet mutations, merged into `Mutation`.
#[derive(Debug, Default)]
pub struct WalletMutation;

#[Object]
impl WalletMutation {
    /// Offers a GRANTED certification to the firm's wallet (REGISTRAR or APPROVER): a link or
    /// QR code for the wallet and a transaction code for the firm, redeemable once.
    async fn offer_credential_to_wallet(&self, ctx: &Context<'_>, certification_id: ID) -> Result<WalletOffer> {
        let id = uuid(&certification_id, "certificationId").gql()?;
        let offer = services(ctx).wallets.offer(principal(ctx), id).await.gql()?;
        Ok(WalletOffer {
            id: ID(offer.id.to_string()),
            link: offer.link,
            tx_code: offer.tx_code,
            expires_at: offer.expires_at,
            credential_offer: Json(offer.offer),
        })
    }

    /// Asks a firm's wallet for its AEO credential (VERIFIER): in `format` (SD_JWT_VC by
    /// default), with the `claims` the firm must disclose (none: status and validity only).
    async fn request_presentation(
        &self,
        ctx: &Context<'_>,
        format: Option<WalletFormatInput>,
        claims: Option<Vec<String>>,
    ) -> Result<WalletPresentationRequest> {
        let format = match format.unwrap_or(WalletFormatInput::SdJwtVc) {
            WalletFormatInput::SdJwtVc => WalletFormat::SdJwtVc,
            WalletFormatInput::LdpVc => WalletFormat::LdpVc,
        };
        let request =
            services(ctx).presentations.create(principal(ctx), format, claims.unwrap_or_default()).await.gql()?;
        Ok(WalletPresentationRequest {
            id: ID(request.id.to_string()),
            link: request.link,
            expires_at: request.expires_at,
            request: Json(request.request),
        })
    }
}
