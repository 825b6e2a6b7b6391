//! Live questions to partners: what each holds of an operator this node certified
//! (`Operator.recognition`), answered within a deadline, behind a circuit breaker per partner,
//! and the answer this node gives a partner that asks.

use std::collections::HashMap;
use std::time::Duration;

use cadena_credentials::Status;
use cadena_credentials::validity::ValidityPeriod;
use cadena_credentials::verification::Outcome;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::feed::success_json;
use super::{ChannelError, InboxError, PartnerFailure, PartnerService};
use crate::errors::ServiceError;
use crate::storage::entities::{mra_partners, partner_certifications};

/// What one partner holds about an operator this node certified.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerHolding {
    /// The credential the partner received.
    pub credential: Value,
    /// The status the partner applies.
    pub status: String,
    /// When it last changed there.
    pub updated_at: DateTime<Utc>,
}

/// An operator's recognition at one partner, its credentials re-verified here.
#[derive(Clone, Debug)]
pub struct Recognition {
    /// The partner.
    pub partner: String,
    /// The status it applies (of the newest version it holds).
    pub status: Option<String>,
    /// Whether it grants benefits (GRANTED there and in force).
    pub recognised: bool,
    /// Whether every credential it returned verifies here (proof, issuer, anchor).
    pub verified: bool,
    /// The credential ids it holds.
    pub credential_ids: Vec<String>,
}

/// Consecutive failures after which a partner is not asked for a while.
const BREAKER_THRESHOLD: u32 = 3;
/// How long a tripped breaker stays open.
const BREAKER_OPEN: Duration = Duration::from_secs(30);
/// How long a partner gets to answer a live question.
const PARTNER_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-partner circuit breakers: (consecutive failures, open until).
pub(super) type Breakers = HashMap<String, (u32, Option<tokio::time::Instant>)>;

impl PartnerService {
    /// What the partner authenticated by `token` may know of operator `(country, tin)`: the
    /// records this node holds that the partner itself issued. Nothing of other partners'.
    pub async fn holdings_for(
        &self,
        token: &str,
        path: &str,
        country: &str,
        tin: &str,
    ) -> Result<Vec<PartnerHolding>, InboxError> {
        let partner = self.authenticate(token, path).await?;
        let rows = partner_certifications::Entity::find()
            .filter(partner_certifications::Column::Partner.eq(&partner.country))
            .filter(partner_certifications::Column::IssuingCountry.eq(country))
            .filter(partner_certifications::Column::Tin.eq(tin))
            .order_by_asc(partner_certifications::Column::Version)
            .all(self.storage.db())
            .await
            .map_err(ServiceError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| PartnerHolding {
                credential: serde_json::from_str(&r.credential).unwrap_or(Value::Null),
                status: r.status,
                updated_at: r.updated_at,
            })
            .collect())
    }

    /// Asks every active partner, at once, what it holds of operator `(country, tin)`, and
    /// re-verifies what comes back. Each partner answers within [`PARTNER_TIMEOUT`] or counts as
    /// failed; a partner failing [`BREAKER_THRESHOLD`] times in a row is not asked for
    /// [`BREAKER_OPEN`]. The result has one entry per partner: its recognition, or its error.
    pub async fn recognition(
        &self,
        country: &str,
        tin: &str,
    ) -> Result<Vec<Result<Recognition, PartnerFailure>>, ServiceError> {
        let breakers = &self.breakers;
        let partners = mra_partners::Entity::find()
            .filter(mra_partners::Column::State.eq("ACTIVE"))
            .order_by_asc(mra_partners::Column::Country)
            .all(self.storage.db())
            .await?;
        let asks = partners.into_iter().map(|partner| async move {
            let open = breakers.lock().expect("lock").get(&partner.country).and_then(|(_, until)| *until);
            if open.is_some_and(|until| tokio::time::Instant::now() < until) {
                return Err(PartnerFailure { partner: partner.country.clone(), error: ChannelError::CircuitOpen });
            }
            let answer = tokio::time::timeout(PARTNER_TIMEOUT, self.ask(&partner, country, tin)).await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(_) => Err(ChannelError::Timeout(PARTNER_TIMEOUT)),
            };
            let mut breakers = breakers.lock().expect("lock");
            let entry = breakers.entry(partner.country.clone()).or_insert((0, None));
            match &answer {
                Ok(_) => *entry = (0, None),
                Err(_) => {
                    entry.0 += 1;
                    if entry.0 >= BREAKER_THRESHOLD {
                        entry.1 = Some(tokio::time::Instant::now() + BREAKER_OPEN);
                    }
                }
            }
            answer.map_err(|error| PartnerFailure { partner: partner.country.clone(), error })
        });
        Ok(futures::future::join_all(asks).await)
    }

    async fn ask(&self, partner: &mra_partners::Model, country: &str, tin: &str) -> Result<Recognition, ChannelError> {
        // The token covers the path as it travels, percent-encoded.
        let base = Self::base_url(&partner.did)?;
        let mut url = reqwest::Url::parse(&format!("{base}/partner/recognition"))
            .map_err(|e| ChannelError::Malformed { url: base.clone(), reason: e.to_string() })?;
        url.query_pairs_mut().append_pair("country", country).append_pair("tin", tin);
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let (url, response) = self.signed_get(partner, &path).await?;
        let holdings: Vec<PartnerHolding> = success_json(url, response).await?;
        // What comes back is this node's own credentials: verify them as anyone would.
        let mut verified = true;
        for holding in &holdings {
            let report = self.credentials.verify(&holding.credential).await?;
            verified &= report.integrity.outcome == Outcome::Valid
                && report.issuer_trust.outcome == Outcome::Valid
                && cadena_credentials::credential::claims_aeo_certification(&holding.credential);
        }
        let newest = holdings.iter().max_by_key(|h| h.credential["credentialSubject"]["certificateVersion"].as_i64());
        // The partner's status, read by the rule every other reader applies: expired once the
        // credential's validity ended, benefits only while it is in force.
        let now = Utc::now();
        let standing = newest.map(|h| match (Status::parse(&h.status), ValidityPeriod::of_credential(&h.credential)) {
            (Some(status), Ok(period)) => {
                (status.effective(&period, now).as_str().to_owned(), status.confers_benefits(&period, now))
            }
            // A status or dates this node cannot read confer nothing.
            _ => (h.status.clone(), false),
        });
        Ok(Recognition {
            partner: partner.country.clone(),
            status: standing.as_ref().map(|(status, _)| status.clone()),
            recognised: standing.is_some_and(|(_, benefits)| benefits) && verified,
            verified,
            credential_ids: holdings.iter().filter_map(|h| h.credential["id"].as_str().map(str::to_owned)).collect(),
        })
    }
}
