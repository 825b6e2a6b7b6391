//! The partner network in the subgraph: MRAs (read, and managed by ADMIN on chain), an
//! operator's recognition (status only, for VERIFIER accounts too), and the webhook log.

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::Date;
use super::types::CertificateType;
use super::{principal, services};
use crate::auth::Operation;
use crate::auth::roles::authorize;
use crate::errors::{GqlResult, ServiceError};
use crate::services::certifications::{confers_benefits, effective_status, is_partner_record};
use crate::services::outbox::Topic;
use crate::services::partners::{self as partner_services, MessageDirection, MraChange};

/// An MRA of this node's customs authority, as the chain records it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Mra {
    /// The partner's country.
    pub partner: String,
    /// PROPOSED, ACTIVE, SUSPENDED or TERMINATED.
    pub state: String,
    /// Certificate types shared.
    pub scope: Vec<CertificateType>,
    /// The partner authority's DID.
    pub did: String,
    /// Block of the last change.
    pub since_block: i64,
}

/// Where a recognition comes from.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecognitionSource {
    /// This node certified it.
    Local,
    /// An MRA partner certified it; this node verified and holds it.
    Partner,
}

/// Whether an operator is a recognised AEO, without its address or other identifiers.
#[derive(SimpleObject, Clone, Debug)]
pub struct RecognitionStatus {
    /// The certifying country.
    pub issuing_country: String,
    /// The certifying authority.
    pub issuing_authority: String,
    /// The certificate type.
    pub certificate_type: Option<CertificateType>,
    /// Its status today.
    pub status: super::types::CertificationStatus,
    /// Whether it confers AEO benefits now: GRANTED and in force (validFrom reached,
    /// validUntil not passed).
    pub confers_benefits: bool,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity, if any.
    pub valid_until: Option<Date>,
    /// Local, or from an MRA partner.
    pub source: RecognitionSource,
}

/// An operator's recognition at one MRA partner, asked live.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartnerRecognition {
    /// The partner.
    pub partner: String,
    /// The status the partner applies, EXPIRED once its validity ended (null: it holds nothing
    /// of this operator).
    pub status: Option<String>,
    /// Whether the partner grants the benefits now: GRANTED there, in force (validFrom reached,
    /// validUntil not passed) and verified.
    pub recognised: bool,
    /// Whether the credentials the partner holds verify here.
    pub verified: bool,
    /// The credentials it holds.
    pub credential_ids: Vec<String>,
}

/// One webhook delivery.
#[derive(SimpleObject, Clone, Debug)]
pub struct WebhookDelivery {
    /// Delivery id (the `Cadena-Delivery` header).
    pub id: i64,
    /// Receiver.
    pub url: String,
    /// PENDING, DELIVERED or FAILED.
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Last HTTP status.
    pub last_status: Option<i32>,
    /// Last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body sent.
    pub payload: String,
}

fn scope_types(scope: i16) -> Vec<CertificateType> {
    partner_services::scope_types(scope).into_iter().map(Into::into).collect()
}

fn partner_code(partner: &str) -> Result<[u8; 2], ServiceError> {
    let code =
        cadena_credentials::CountryCode::parse(partner).map_err(|e| ServiceError::field("partner", e.to_string()))?;
    Ok(code.as_str().as_bytes().try_into().expect("two letters"))
}

fn partners<'a>(ctx: &'a Context<'_>) -> Result<&'a crate::services::partners::PartnerService, ServiceError> {
    services(ctx)
        .partners
        .as_ref()
        .ok_or_else(|| ServiceError::NotFound("the partner network (this node has no chain configured)".into()))
}

/// Which way a partner message went.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerMessageDirection {
    /// From a partner to this node.
    Received,
    /// From this node to a partner.
    Sent,
}

/// What became of a partner message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerMessageOutcome {
    /// Held for good and taken.
    Accepted,
    /// Held for good and refused, for a reason no resend can change.
    Refused,
    /// Sent, not yet held by the partner (it retries).
    Pending,
}

/// One message between this node and an MRA partner.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartnerMessage {
    /// Which way it went.
    pub direction: PartnerMessageDirection,
    /// The partner's country.
    pub partner: String,
    /// Its number (per partner and direction, from 1, without gaps).
    pub seq: i64,
    /// What became of it.
    pub outcome: PartnerMessageOutcome,
    /// Why it was refused, or (PENDING) why its last delivery failed.
    pub reason: Option<String>,
    /// Delivery attempts so far (SENT only).
    pub attempts: Option<i32>,
    /// When it was received, delivered, or queued.
    pub at: DateTime<Utc>,
}

/// Partner queries, merged into `Query`.
#[derive(Debug, Default)]
pub struct PartnerQuery;

#[Object]
impl PartnerQuery {
    /// This authority's MRAs.
    async fn mras(&self, ctx: &Context<'_>) -> Result<Vec<Mra>> {
        authorize(principal(ctx), Operation::ReadMras).gql()?;
        let Some(partners) = &services(ctx).partners else { return Ok(Vec::new()) };
        Ok(partners
            .partners()
            .await
            .gql()?
            .into_iter()
            .map(|m| Mra {
                partner: m.country,
                state: m.state,
                scope: scope_types(m.scope),
                did: m.did,
                since_block: m.since_block,
            })
            .collect())
    }

    /// Whether operator `(country, tin)` is a recognised AEO here: this node's certifications
    /// and its MRA partners' (verified on arrival). Status and validity only.
    async fn recognition(&self, ctx: &Context<'_>, country: String, tin: String) -> Result<Vec<RecognitionStatus>> {
        authorize(principal(ctx), Operation::ReadRecognition).gql()?;
        let rows = services(ctx).certifications.by_operator_unchecked(&country, &tin).await.gql()?;
        let now = Utc::now();
        Ok(rows
            .into_iter()
            .map(|row| {
                let status = effective_status(&row, now);
                RecognitionStatus {
                    source: if is_partner_record(&row) { RecognitionSource::Partner } else { RecognitionSource::Local },
                    issuing_country: row.issuing_country.clone(),
                    issuing_authority: row.issuing_authority.clone(),
                    certificate_type: cadena_credentials::CertificateType::parse(&row.certificate_type).map(Into::into),
                    confers_benefits: confers_benefits(&row, now),
                    status: status.into(),
                    valid_from: Date(row.valid_from),
                    valid_until: row.valid_until.map(Date),
                }
            })
            .collect())
    }

    /// Messages between this node and its MRA partners, newest first: what partners sent
    /// (RECEIVED: taken, or refused with the reason) and what this node sent (SENT: held by the
    /// partner, refused by it with its reason, or PENDING with the last delivery error).
    async fn partner_messages(
        &self,
        ctx: &Context<'_>,
        direction: PartnerMessageDirection,
        partner: Option<String>,
        #[graphql(default = false)] refused_only: bool,
        first: Option<i32>,
    ) -> Result<Vec<PartnerMessage>> {
        authorize(principal(ctx), Operation::ReadPartnerMessages).gql()?;
        let Some(partners) = &services(ctx).partners else { return Ok(Vec::new()) };
        if let Some(partner) = &partner {
            partner_code(partner).gql()?;
        }
        let first = first.unwrap_or(100).clamp(1, 1000) as u64;
        let direction = match direction {
            PartnerMessageDirection::Received => MessageDirection::Received,
            PartnerMessageDirection::Sent => MessageDirection::Sent,
        };
        Ok(partners
            .message_log(direction, partner.as_deref(), refused_only, first)
            .await
            .gql()?
            .into_iter()
            .map(|m| PartnerMessage {
                direction: match m.direction {
                    MessageDirection::Received => PartnerMessageDirection::Received,
                    MessageDirection::Sent => PartnerMessageDirection::Sent,
                },
                partner: m.partner,
                seq: m.seq,
                outcome: match m.outcome {
                    "ACCEPTED" => PartnerMessageOutcome::Accepted,
                    "REFUSED" => PartnerMessageOutcome::Refused,
                    _ => PartnerMessageOutcome::Pending,
                },
                reason: m.reason,
                attempts: m.attempts,
                at: m.at,
            })
            .collect())
    }

    /// The webhook delivery log, newest first.
    async fn webhook_deliveries(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<WebhookDelivery>> {
        authorize(principal(ctx), Operation::ReadWebhookLog).gql()?;
        let first = first.unwrap_or(50).clamp(1, 500) as u64;
        Ok(services(ctx)
            .outbox
            .log(Topic::Webhook, first)
            .await
            .gql()?
            .into_iter()
            .map(|d| {
                let delivered = d.state == "DONE";
                WebhookDelivery {
                    id: d.id,
                    url: d.subject.unwrap_or_default(),
                    state: if delivered { "DELIVERED".to_owned() } else { d.state },
                    attempts: d.attempts,
                    last_status: d.last_status,
                    last_error: d.last_error,
                    delivered_at: d.done_at.filter(|_| delivered),
                    payload: d.payload,
                }
            })
            .collect())
    }
}

/// MRA mutations (ADMIN; sent to the chain with the authority's anchorer key), merged into
/// `Mutation`.
#[derive(Debug, Default)]
pub struct PartnerMutation;

async fn mra_change(ctx: &Context<'_>, partner: &str, change: MraChange) -> Result<Vec<Mra>> {
    // Refused before anything is said of this node's chain.
    authorize(principal(ctx), Operation::ManageMras).gql()?;
    partners(ctx).gql()?.change_mra(principal(ctx), partner, change).await.gql()?;
    PartnerQuery.mras(ctx).await
}

#[Object]
impl PartnerMutation {
    /// Proposes an MRA to `partner`, sharing the `scope` certificate types.
    async fn propose_mra(&self, ctx: &Context<'_>, partner: String, scope: Vec<CertificateType>) -> Result<Vec<Mra>> {
        mra_change(ctx, &partner, MraChange::Propose(scope.into_iter().map(Into::into).collect())).await
    }

    /// Accepts `partner`'s proposal (the scope must be the one proposed).
    async fn accept_mra(&self, ctx: &Context<'_>, partner: String, scope: Vec<CertificateType>) -> Result<Vec<Mra>> {
        mra_change(ctx, &partner, MraChange::Accept(scope.into_iter().map(Into::into).collect())).await
    }

    /// Suspends the MRA with `partner` (only this party may resume it).
    async fn suspend_mra(&self, ctx: &Context<'_>, partner: String) -> Result<Vec<Mra>> {
        mra_change(ctx, &partner, MraChange::Suspend).await
    }

    /// Resumes an MRA this party suspended.
    async fn resume_mra(&self, ctx: &Context<'_>, partner: String) -> Result<Vec<Mra>> {
        mra_change(ctx, &partner, MraChange::Resume).await
    }

    /// Terminates the MRA with `partner` (or withdraws or declines a proposal).
    async fn terminate_mra(&self, ctx: &Context<'_>, partner: String) -> Result<Vec<Mra>> {
        mra_change(ctx, &partner, MraChange::Terminate).await
    }

    /// Compares what this node holds of `partner`'s certifications with what `partner` says it
    /// sent, now, and repairs any difference by taking the partner's messages about it again
    /// (it also runs every five minutes).
    async fn reconcile_partner(&self, ctx: &Context<'_>, partner: String) -> Result<PartnerReconciliation> {
        authorize(principal(ctx), Operation::ManageMras).gql()?;
        partner_code(&partner).gql()?;
        let service = partners(ctx).gql()?;
        let model = service
            .partners()
            .await
            .gql()?
            .into_iter()
            .find(|m| m.country == partner && m.state == "ACTIVE")
            .ok_or_else(|| ServiceError::field("partner", format!("{partner} is no active MRA partner")))
            .gql()?;
        let report =
            service.reconcile(&model).await.map_err(|e| ServiceError::PartnerUnavailable(e.to_string())).gql()?;
        let divergence = |d: crate::services::partners::Divergence| PartnerDivergence {
            credential_id: d.credential_id,
            expected: d.expected,
            held: d.held,
        };
        Ok(PartnerReconciliation {
            partner: report.partner,
            compared: report.compared,
            found: report.found.into_iter().map(divergence).collect(),
            remaining: report.remaining.into_iter().map(divergence).collect(),
        })
    }
}

/// One credential held otherwise than the partner says it sent.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartnerDivergence {
    /// The credential.
    pub credential_id: String,
    /// The status the partner's messages give it (null: never sent).
    pub expected: Option<String>,
    /// The status held here (null: not held).
    pub held: Option<String>,
}

/// The outcome of reconciling with one partner.
#[derive(SimpleObject, Clone, Debug)]
pub struct PartnerReconciliation {
    /// The partner.
    pub partner: String,
    /// Whether the holdings were compared (false while messages are still on their way, or
    /// while the partner does not see the MRA active yet).
    pub compared: bool,
    /// What differed.
    pub found: Vec<PartnerDivergence>,
    /// What still differs after the repair (empty: repaired).
    pub remaining: Vec<PartnerDivergence>,
}

/// `Operator.recognition`: asks every MRA partner live; a partner that fails or times out is
/// an error in the response's `errors`, beside the others' answers.
pub async fn recognition_at_partners(ctx: &Context<'_>, country: &str, tin: &str) -> Result<Vec<PartnerRecognition>> {
    authorize(principal(ctx), Operation::ReadRecognition).gql()?;
    let Some(partners) = &services(ctx).partners else { return Ok(Vec::new()) };
    let answers = partners.recognition(country, tin).await.gql()?;
    let mut found = Vec::new();
    for answer in answers {
        match answer {
            Ok(r) => found.push(PartnerRecognition {
                partner: r.partner,
                status: r.status,
                recognised: r.recognised,
                verified: r.verified,
                credential_ids: r.credential_ids,
            }),
            Err(error) => {
                let mut error =
                    async_graphql::ServerError::new(format!("partner unavailable: {error}"), Some(ctx.item.pos));
                if let Some(node) = ctx.path_node {
                    error.path = node.to_string_vec().into_iter().map(async_graphql::PathSegment::Field).collect();
                }
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", "PARTNER_UNAVAILABLE");
                error.extensions = Some(extensions);
                ctx.add_error(error);
            }
        }
    }
    Ok(found)
}
