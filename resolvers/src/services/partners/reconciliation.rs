//! Reconciliation: partners compare what they hold with what this node told them, find any
//! divergence, repair it and report it.
//!
//! The sender answers `GET /partner/state` with what the calling partner must hold: the state
//! its messages leave, replayed in order (each message's status for its credential, and
//! AMENDED for the credential an amendment replaces), leaving out the messages the partner
//! refused (those are reported as refusals on both sides). The receiver compares once it has
//! taken every message numbered so far (`through`); for every credential that differs it takes
//! the sender's messages about it again from the feed (verified in full, as on arrival), and
//! reports what differed and what the repair left.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::feed::success_json;
use super::inbox::Verdict;
use super::{ChannelError, InboxError, PartnerService};
use crate::errors::ServiceError;
use crate::storage::WriteBatch;
use crate::storage::entities::{mra_partners, partner_certifications, partner_events, partner_messages};

/// What a partner must hold of the sender's certifications, as the sender sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerState {
    /// The last number the sender gave a message for this partner.
    pub through: i64,
    /// Credential id → status.
    pub holdings: BTreeMap<String, String>,
}

/// One credential held otherwise than the sender says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// The credential.
    pub credential_id: String,
    /// The status the sender's messages give it (None: the sender never sent it).
    pub expected: Option<String>,
    /// The status held here (None: not held).
    pub held: Option<String>,
}

/// The outcome of one reconciliation with one partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// The partner.
    pub partner: String,
    /// Whether the states were compared (false while messages are still on their way, or
    /// while the partner does not see the MRA active yet).
    pub compared: bool,
    /// What differed before the repair.
    pub found: Vec<Divergence>,
    /// What still differs after it.
    pub remaining: Vec<Divergence>,
}

fn differences(expected: &BTreeMap<String, String>, held: &BTreeMap<String, String>) -> Vec<Divergence> {
    let ids: BTreeSet<&String> = expected.keys().chain(held.keys()).collect();
    ids.into_iter()
        .filter(|id| expected.get(*id) != held.get(*id))
        .map(|id| Divergence {
            credential_id: id.clone(),
            expected: expected.get(id).cloned(),
            held: held.get(id).cloned(),
        })
        .collect()
}

impl PartnerService {
    /// What the partner authenticated by `token` (for `path`) must hold (`GET /partner/state`).
    pub async fn state_for(&self, token: &str, path: &str) -> Result<PartnerState, InboxError> {
        let partner = self.authenticate(token, path).await?;
        let db = self.storage.db();
        let rows = partner_messages::Entity::find()
            .filter(partner_messages::Column::Partner.eq(&partner.country))
            .order_by_asc(partner_messages::Column::Seq)
            .all(db)
            .await
            .map_err(ServiceError::from)?;
        let through = rows.last().map_or(0, |r| r.seq);
        let ids: Vec<i64> = rows.iter().filter(|r| r.refusal.is_none()).map(|r| r.event_id).collect();
        let mut events: HashMap<i64, partner_events::Model> = HashMap::new();
        for chunk in ids.chunks(500) {
            for event in partner_events::Entity::find()
                .filter(partner_events::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await
                .map_err(ServiceError::from)?
            {
                events.insert(event.id, event);
            }
        }
        let mut holdings = BTreeMap::new();
        for row in rows.iter().filter(|r| r.refusal.is_none()) {
            let Some(event) = events.get(&row.event_id) else { continue };
            let body: Value = serde_json::from_str(&event.event).map_err(ServiceError::internal)?;
            if let Some(replaced) = body["replaces"].as_str() {
                holdings.insert(replaced.to_owned(), cadena_credentials::Status::Amended.as_str().to_owned());
            }
            if let Some(status) = body["status"].as_str() {
                holdings.insert(event.credential_id.clone(), status.to_owned());
            }
        }
        Ok(PartnerState { through, holdings })
    }

    /// Reconciles with every active partner; failures are logged and tried again next time.
    pub(super) async fn reconcile_all(&self) {
        let Ok(partners) =
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(self.storage.db()).await
        else {
            return;
        };
        for partner in partners {
            if let Err(error) = self.reconcile(&partner).await {
                tracing::warn!(partner = %partner.country, %error, "reconciling with the partner failed");
            }
        }
    }

    /// Compares what this node holds of `partner`'s certifications with what `partner` says it
    /// sent, and repairs what differs.
    #[tracing::instrument(skip(self, partner), fields(partner = %partner.country))]
    pub async fn reconcile(&self, partner: &mra_partners::Model) -> Result<Reconciliation, ChannelError> {
        let (url, response) = self.signed_get(partner, "/partner/state").await?;
        let mut report =
            Reconciliation { partner: partner.country.clone(), compared: false, found: vec![], remaining: vec![] };
        if response.status() == reqwest::StatusCode::FORBIDDEN {
            // The partner does not see the MRA active yet (it follows the chain too): next time.
            tracing::info!("the partner does not answer as an MRA partner yet; reconciling later");
            return Ok(report);
        }
        let state: PartnerState = success_json(url, response).await?;
        let last = self.last_received(&partner.country).await?;
        if state.through != last {
            // Messages are still on their way (or a gap is being filled): compare next time.
            return Ok(report);
        }
        report.compared = true;
        report.found = differences(&state.holdings, &self.held_from(&partner.country).await?);
        if report.found.is_empty() {
            return Ok(report);
        }
        tracing::warn!(differing = report.found.len(), "holdings differ from what the partner sent; repairing");
        let wanted: BTreeSet<String> = report.found.iter().map(|d| d.credential_id.clone()).collect();
        self.take_again(partner, &wanted, state.through).await?;
        report.remaining = differences(&state.holdings, &self.held_from(&partner.country).await?);
        if report.remaining.is_empty() {
            tracing::info!(repaired = report.found.len(), "holdings repaired");
        } else {
            tracing::error!(remaining = ?report.remaining, "holdings still differ after the repair");
        }
        Ok(report)
    }

    /// Credential id → status of what this node holds from `partner`.
    async fn held_from(&self, partner: &str) -> Result<BTreeMap<String, String>, ServiceError> {
        Ok(partner_certifications::Entity::find()
            .filter(partner_certifications::Column::Partner.eq(partner))
            .all(self.storage.db())
            .await?
            .into_iter()
            .map(|r| (r.credential_id, r.status))
            .collect())
    }

    /// Takes again, in order, the partner's messages (from its feed, up to `through`) about the
    /// credentials in `wanted` or replacing one of them: verified in full, written as on arrival
    /// (record, webhooks, event), without touching the numbers already taken.
    async fn take_again(
        &self,
        partner: &mra_partners::Model,
        wanted: &BTreeSet<String>,
        through: i64,
    ) -> Result<(), ChannelError> {
        let mut after = 0;
        while after < through {
            let messages = self.feed_page(partner, after).await?;
            if messages.is_empty() {
                break;
            }
            for jwe in messages {
                let (from, message) = self.open(&jwe).await.map_err(ChannelError::NotTaken)?;
                after = message.seq;
                let concerns = |v: &Value| v.as_str().is_some_and(|id| wanted.contains(id));
                if from.country != partner.country
                    || !(concerns(&message.credential["id"]) || concerns(&message.event["replaces"]))
                {
                    continue;
                }
                match self.judge(&from, &message).await.map_err(ChannelError::NotTaken)? {
                    Verdict::Accept(record) => {
                        let mut batch = WriteBatch::default();
                        self.take(&record, &message, &mut batch);
                        self.apply(batch).await?;
                        self.bus.committed();
                    }
                    Verdict::Refuse(reason) | Verdict::Undecided(reason) => {
                        return Err(ChannelError::NotTakenAgain { seq: message.seq, reason });
                    }
                }
            }
        }
        Ok(())
    }
}
