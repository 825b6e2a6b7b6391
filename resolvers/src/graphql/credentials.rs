//! Verifiable credentials in the subgraph: verification reports, presentation challenges, and
//! the resolvers that mirror the VC API (`verifyCredential`, `presentationChallenge`,
//! `verifyPresentation`).

use super::scalars::Json;
use super::{ClientAddress, principal, services};
use crate::errors::GqlResult;
use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use cadena_credentials::verification;
use chrono::{DateTime, Utc};

/// Admits one verification for this request's caller (anonymous ones are rate-limited).
async fn admit(ctx: &Context<'_>) -> Result<()> {
    let client = ctx.data_opt::<ClientAddress>().and_then(|c| c.0);
    services(ctx).credentials.admit_verification(principal(ctx), client).await.gql()
}

/// Outcome of one fragment of a verification.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "cadena_credentials::verification::Outcome", name = "CheckOutcome")]
pub enum CheckOutcome {
    /// Checked and good.
    Valid,
    /// Checked and bad.
    Invalid,
    /// Not checked.
    Skipped,
    /// Could not be checked (the verifier failed, e.g. a DID that does not resolve).
    Error,
}

/// One fragment of a verification.
#[derive(SimpleObject, Clone, Debug)]
pub struct Check {
    /// The outcome.
    pub outcome: CheckOutcome,
    /// Why.
    pub reason: String,
}

impl From<verification::Check> for Check {
    fn from(check: verification::Check) -> Self {
        Check { outcome: check.outcome.into(), reason: check.reason }
    }
}

/// Revocation and suspension.
#[derive(SimpleObject, Clone, Debug)]
pub struct StatusCheck {
    /// VALID when neither is set.
    pub outcome: CheckOutcome,
    /// Why.
    pub reason: String,
    /// The revocation bit (null when not read).
    pub revoked: Option<bool>,
    /// The suspension bit (null when not read).
    pub suspended: Option<bool>,
}

/// A credential's verification report.
#[derive(SimpleObject, Clone, Debug)]
pub struct VerificationReport {
    /// Every fragment is VALID or SKIPPED, and the proof is VALID.
    pub verified: bool,
    /// The credential's id.
    pub credential_id: Option<String>,
    /// The issuer's DID.
    pub issuer: Option<String>,
    /// The proof.
    pub integrity: Check,
    /// Whether the issuer is a trusted customs authority.
    pub issuer_trust: Check,
    /// Revocation and suspension, from the issuer's status lists.
    pub status: StatusCheck,
    /// validFrom / validUntil.
    pub validity: Check,
    /// The on-chain anchor.
    pub anchor: Check,
    /// Verified, and an AEO certification (typed AEOCertificationCredential under the AEO
    /// context; never a credential issued through a VC API). Grant AEO benefits on this.
    pub aeo_certification: bool,
}

impl From<verification::VerificationReport> for VerificationReport {
    fn from(r: verification::VerificationReport) -> Self {
        VerificationReport {
            verified: r.verified,
            credential_id: r.credential_id,
            issuer: r.issuer,
            integrity: r.integrity.into(),
            issuer_trust: r.issuer_trust.into(),
            status: StatusCheck {
                outcome: r.status.check.outcome.into(),
                reason: r.status.check.reason,
                revoked: r.status.revoked,
                suspended: r.status.suspended,
            },
            validity: r.validity.into(),
            anchor: r.anchor.into(),
            aeo_certification: r.aeo_certification,
        }
    }
}

/// A presentation's verification report.
#[derive(SimpleObject, Clone, Debug)]
pub struct PresentationReport {
    /// Proof, challenge, holder binding and every credential are good.
    pub verified: bool,
    /// The holder's DID.
    pub holder: Option<String>,
    /// The presentation's proof by the holder.
    pub integrity: Check,
    /// The proof answers the challenge (once: a replay is INVALID).
    pub challenge: Check,
    /// Each credential about a DID is presented by that DID.
    pub holder_binding: Check,
    /// Each credential's report.
    pub credentials: Vec<VerificationReport>,
}

impl From<verification::PresentationReport> for PresentationReport {
    fn from(r: verification::PresentationReport) -> Self {
        PresentationReport {
            verified: r.verified,
            holder: r.holder,
            integrity: r.integrity.into(),
            challenge: r.challenge.into(),
            holder_binding: r.holder_binding.into(),
            credentials: r.credentials.into_iter().map(Into::into).collect(),
        }
    }
}

/// A one-time challenge for a presentation.
#[derive(SimpleObject, Clone, Debug)]
pub struct PresentationChallenge {
    /// Put it in the presentation's proof.
    pub challenge: String,
    /// The domain the proof must name, if any.
    pub domain: Option<String>,
    /// When it stops being answerable.
    pub expires_at: DateTime<Utc>,
}

/// A credential signed through the VC API, as the audit trail recorded it.
#[derive(SimpleObject, Clone, Debug)]
pub struct VcApiIssuance {
    /// The credential's id.
    pub credential_id: String,
    /// The ISSUER who asked for it (username at the time).
    pub officer: String,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// Its types (always including the VC API's own).
    pub types: Vec<String>,
    /// Its subjects' ids.
    pub subjects: Vec<String>,
    /// Hex SHA-256 of its canonical JSON (as anchored).
    pub digest: String,
}

/// Credential queries, merged into `Query`.
#[derive(Debug, Default)]
pub struct CredentialQuery;

#[Object]
impl CredentialQuery {
    /// This node's DID (its credentials' issuer).
    async fn issuer_did(&self, ctx: &Context<'_>) -> String {
        services(ctx).credentials.identity().did().to_owned()
    }

    /// Verifies a credential (anyone may): proof, issuer trust, status, validity, anchor.
    async fn verify_credential(&self, ctx: &Context<'_>, credential: Json) -> Result<VerificationReport> {
        admit(ctx).await?;
        Ok(services(ctx).credentials.verify(&credential.0).await.gql()?.into())
    }

    /// The credentials signed through the VC API (`POST /credentials/issue`), newest first
    /// (AUDITOR).
    async fn vc_api_issuances(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<VcApiIssuance>> {
        let rows = services(ctx).credentials.issuances(principal(ctx), first).await.gql()?;
        Ok(rows
            .into_iter()
            .map(|row| VcApiIssuance {
                credential_id: row.credential_id,
                officer: row.username,
                issued_at: row.issued_at,
                types: serde_json::from_str(&row.types).unwrap_or_default(),
                subjects: serde_json::from_str(&row.subjects).unwrap_or_default(),
                digest: row.digest,
            })
            .collect())
    }
}

/// Credential mutations, merged into `Mutation`.
#[derive(Debug, Default)]
pub struct CredentialMutation;

#[Object]
impl CredentialMutation {
    /// A one-time challenge for an AEO firm's presentation, optionally bound to a domain.
    async fn presentation_challenge(&self, ctx: &Context<'_>, domain: Option<String>) -> Result<PresentationChallenge> {
        let challenge = services(ctx).credentials.create_challenge(domain).await.gql()?;
        Ok(PresentationChallenge {
            challenge: challenge.challenge,
            domain: challenge.domain,
            expires_at: challenge.expires_at,
        })
    }

    /// Verifies a presentation answering `challenge`; the challenge is spent by it.
    async fn verify_presentation(
        &self,
        ctx: &Context<'_>,
        presentation: Json,
        challenge: String,
        domain: Option<String>,
    ) -> Result<PresentationReport> {
        admit(ctx).await?;
        let report = services(ctx)
            .credentials
            .verify_presentation(&presentation.0, &challenge, domain.as_deref())
            .await
            .gql()?;
        Ok(report.into())
    }
}
