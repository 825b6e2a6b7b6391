//! Insurers and banks following the firms they cover, in the subgraph: the consent flow
//! (challenge, the firm's presentation, withdrawal), the watch list, the consent log and the
//! delivery log for auditors, and `recognitionChanges` (in `subscription.rs`), status only.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::credentials::PresentationChallenge;
use super::scalars::{Date, Json};
use super::{principal, services};
use crate::errors::GqlResult;
use crate::services::recognition_webhooks::RecognitionChange;
use crate::storage::entities::{consent_log, follower_deliveries, watch_list};

/// An operator a VERIFIER account follows, with the firm's consent.
#[derive(SimpleObject, Clone, Debug)]
pub struct FollowedOperator {
    /// Issuing country.
    pub country: String,
    /// Trader ID.
    pub tin: String,
    /// The last day of the firm's consent.
    pub until: Date,
    /// The firm's DID, which signed its consent.
    pub holder: String,
    /// When it consented.
    pub consented_at: DateTime<Utc>,
}

impl From<watch_list::Model> for FollowedOperator {
    fn from(row: watch_list::Model) -> Self {
        FollowedOperator {
            country: row.country,
            tin: row.tin,
            until: Date(row.consented_until),
            holder: row.holder,
            consented_at: row.consented_at,
        }
    }
}

/// One consent or withdrawal, or an entry an ADMIN configured.
#[derive(SimpleObject, Clone, Debug)]
pub struct ConsentRecord {
    /// The VERIFIER account.
    pub verifier: String,
    /// Issuing country.
    pub country: String,
    /// Trader ID.
    pub tin: String,
    /// CONSENTED or WITHDRAWN (by the firm); CONFIGURED or UNCONFIGURED (by an ADMIN's
    /// `[[following]]`).
    pub action: String,
    /// The last day consented to (or configured).
    pub until: Option<Date>,
    /// The firm's DID (`configuration` for a configured entry).
    pub holder: Option<String>,
    /// The mandate of a configured entry.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A status change told to a VERIFIER account.
#[derive(SimpleObject, Clone, Debug)]
pub struct FollowerDelivery {
    /// The VERIFIER account.
    pub verifier: String,
    /// Issuing country.
    pub country: String,
    /// Trader ID.
    pub tin: String,
    /// The event's cursor.
    pub cursor: String,
    /// The status told.
    pub status: String,
    /// SUBSCRIPTION (sent to a subscriber) or WEBHOOK (queued for the account's receiver).
    pub channel: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<follower_deliveries::Model> for FollowerDelivery {
    fn from(row: follower_deliveries::Model) -> Self {
        FollowerDelivery {
            verifier: row.verifier,
            country: row.country,
            tin: row.tin,
            cursor: row.cursor.to_string(),
            status: row.status,
            channel: row.channel,
            at: row.at,
        }
    }
}

impl From<consent_log::Model> for ConsentRecord {
    fn from(row: consent_log::Model) -> Self {
        ConsentRecord {
            verifier: row.verifier,
            country: row.country,
            tin: row.tin,
            action: row.action,
            until: row.until.map(Date),
            holder: row.holder,
            reason: row.reason,
            at: row.at,
        }
    }
}

/// A status change of a followed operator: status and validity, nothing else.
#[derive(SimpleObject, Clone, Debug)]
pub struct RecognitionChangeObject {
    /// Resume after it with `recognitionChanges(after:)`.
    pub cursor: String,
    /// Issuing country.
    pub issuing_country: String,
    /// Issuing customs authority.
    pub issuing_authority: String,
    /// Trader ID.
    pub tin: String,
    /// Certificate type.
    pub certificate_type: String,
    /// Effective status after the change.
    pub status: String,
    /// Whether it confers AEO benefits now.
    pub confers_benefits: bool,
    /// First day of validity.
    pub valid_from: Date,
    /// Last day of validity.
    pub valid_until: Option<Date>,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
    /// The MRA partner the change came from; null for this node's own certifications.
    pub source: Option<String>,
}

impl From<RecognitionChange> for RecognitionChangeObject {
    fn from(change: RecognitionChange) -> Self {
        RecognitionChangeObject {
            cursor: change.cursor.to_string(),
            issuing_country: change.issuing_country,
            issuing_authority: change.issuing_authority,
            tin: change.tin,
            certificate_type: change.certificate_type,
            status: change.status,
            confers_benefits: change.confers_benefits,
            valid_from: Date(change.valid_from),
            valid_until: change.valid_until.map(Date),
            changed_at: change.changed_at,
            source: change.source,
        }
    }
}

fn challenge_object(challenge: crate::services::Challenge) -> PresentationChallenge {
    PresentationChallenge { challenge: challenge.challenge, domain: challenge.domain, expires_at: challenge.expires_at }
}

/// Watch-list queries, merged into `Query`.
#[derive(Debug, Default)]
pub struct WatchQuery;

#[Object]
impl WatchQuery {
    /// The operators this account (VERIFIER) follows now.
    async fn followed_operators(&self, ctx: &Context<'_>) -> Result<Vec<FollowedOperator>> {
        let rows = services(ctx).watch_lists.followed(principal(ctx)).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Every consent and withdrawal, and every configured entry, newest first (AUDITOR).
    async fn consent_log(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<ConsentRecord>> {
        let first = first.unwrap_or(50).clamp(1, 500) as u64;
        let rows = services(ctx).watch_lists.consent_log(principal(ctx), first).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Every status change told to VERIFIER accounts (of `verifier` only, if given), newest
    /// first (AUDITOR).
    async fn follower_deliveries(
        &self,
        ctx: &Context<'_>,
        verifier: Option<String>,
        first: Option<i32>,
    ) -> Result<Vec<FollowerDelivery>> {
        let first = first.unwrap_or(50).clamp(1, 500) as u64;
        let deliveries = services(ctx).watch_lists.deliveries();
        let rows = deliveries.list(principal(ctx), verifier.as_deref(), first).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// Watch-list mutations, merged into `Mutation`.
#[derive(Debug, Default)]
pub struct WatchMutation;

#[Object]
impl WatchMutation {
    /// A one-time challenge for a firm to consent to this account (VERIFIER) following its
    /// status until `until`: the firm's wallet presents its AEO credential over it (the
    /// challenge's domain names the account and the day).
    async fn consent_challenge(&self, ctx: &Context<'_>, until: Date) -> Result<PresentationChallenge> {
        let challenge = services(ctx).watch_lists.consent_challenge(principal(ctx), until.0).await.gql()?;
        Ok(challenge_object(challenge))
    }

    /// Follows the operators of the firm's presentation over a consent challenge of this
    /// account (VERIFIER); nothing is recorded unless it verifies.
    async fn follow_operator(
        &self,
        ctx: &Context<'_>,
        presentation: Json,
        challenge: String,
    ) -> Result<Vec<FollowedOperator>> {
        let rows = services(ctx).watch_lists.follow(principal(ctx), &presentation.0, &challenge).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A one-time challenge for a firm to withdraw its consent to account `verifier`.
    async fn withdrawal_challenge(&self, ctx: &Context<'_>, verifier: String) -> Result<PresentationChallenge> {
        let challenge = services(ctx).watch_lists.withdrawal_challenge(&verifier).await.gql()?;
        Ok(challenge_object(challenge))
    }

    /// The firm's withdrawal, by its presentation over a withdrawal challenge: the account stops
    /// following it at once.
    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        presentation: Json,
        challenge: String,
    ) -> Result<Vec<FollowedOperator>> {
        let rows = services(ctx).watch_lists.withdraw(&presentation.0, &challenge).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
