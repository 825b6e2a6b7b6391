//! What insurers and banks follow. A VERIFIER account follows an operator (country and trader
//! ID) only with the firm's consent: the account asks for a consent challenge naming itself and
//! the last day of the consent; the firm's wallet presents its AEO credential over that
//! challenge (its signature covers the challenge's domain, so the account and the period are
//! what the firm agreed to); the account hands the presentation in, and the node records the
//! entry when the presentation verifies (integrity, issuer trust, status, holder binding, the
//! challenge answered once). The firm withdraws the same way, over a withdrawal challenge. Every
//! consent and withdrawal is in `consent_log`, for auditors. An ADMIN may also configure
//! entries for regulated bodies (`[[following]]`, with the mandate as the reason): applied at
//! start, logged as CONFIGURED, and UNCONFIGURED once gone from the configuration; the firm
//! cannot withdraw those.
//!
//! Bounds per account: the operators it follows (`max_followed`) and the changes it is told
//! a minute (`events_per_minute`, shared by the replicas over Redis like every rate): a burst
//! beyond it is paced, not dropped, so a subscriber or receiver still hears every change.
//! Every change told is in `follower_deliveries` ([`FollowerDeliveries`]).
//!
//! What a follower then hears is status only ([`RecognitionChange`]), for the operators it
//! follows now: from the subscription `recognitionChanges`, and from its account's webhooks
//! ([`RecognitionWebhooks`]).
//!
//! [`RecognitionChange`]: crate::services::recognition_webhooks::RecognitionChange
//! [`RecognitionWebhooks`]: crate::services::recognition_webhooks::RecognitionWebhooks

use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::rate_limit::RateLimiter;
use crate::services::credentials::{Challenge, CredentialService};
use crate::services::follower_deliveries::{DeliveryWriter, FollowerDeliveries};
use crate::services::recognition_webhooks::RecognitionChange;
use crate::storage::entities::{consent_log, presentation_challenges, watch_list};
use crate::storage::{Storage, WriteBatch};

/// The domain prefix of a consent challenge: `cadena-consent:<account>:<last day>`.
const CONSENT: &str = "cadena-consent";
/// The domain prefix of a withdrawal challenge: `cadena-withdraw:<account>`.
const WITHDRAWAL: &str = "cadena-withdraw";
/// The longest consent a firm may give at once.
const LONGEST_CONSENT_DAYS: i64 = 5 * 366;
/// Events' watch-list decisions kept for the subscribers still to hear them.
const DECISIONS: u64 = 100_000;
/// The holder (and credential) of an entry an ADMIN configured: no firm's key matches it.
const CONFIGURATION: &str = "configuration";

/// The bounds of one VERIFIER account.
#[derive(Clone, Copy, Debug)]
pub struct FollowerLimits {
    /// The most operators one account may follow.
    pub max_followed: u64,
    /// The most changes one account is told a minute (0: unbounded); more are paced.
    pub events_per_minute: u32,
}

/// An entry an ADMIN configured for a regulated body (`[[following]]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredFollow {
    /// The VERIFIER account.
    pub verifier: String,
    /// The operator's issuing country and trader ID.
    pub country: String,
    pub tin: String,
    /// The last day of the mandate.
    pub until: NaiveDate,
    /// The mandate (law, regulation, contract), kept in the log.
    pub reason: String,
}

/// The watch lists of VERIFIER accounts.
#[derive(Clone, Debug)]
pub struct WatchLists {
    storage: Storage,
    credentials: CredentialService,
    limits: FollowerLimits,
    rate: Option<Arc<RateLimiter>>,
    deliveries: FollowerDeliveries,
    /// Whether (account, country, trader ID) was followed at event (cursor): asked of the
    /// database once per event, however many of the account's subscribers hear it.
    decisions: moka::future::Cache<(String, String, String, u64), bool>,
}

impl WatchLists {
    /// Watch lists bounded by `limits`, and the writer of their delivery log for the caller
    /// to run.
    pub fn new(
        storage: Storage,
        credentials: CredentialService,
        limits: FollowerLimits,
    ) -> (WatchLists, DeliveryWriter) {
        let rate = NonZeroU32::new(limits.events_per_minute).map(|n| Arc::new(RateLimiter::new(n)));
        let (deliveries, writer) = FollowerDeliveries::new(storage.clone());
        let decisions = moka::future::Cache::builder()
            .max_capacity(DECISIONS)
            .time_to_live(std::time::Duration::from_secs(60))
            .build();
        (WatchLists { storage, credentials, limits, rate, deliveries, decisions }, writer)
    }

    /// The rate of changes per account, for the replicas to share.
    pub fn rate(&self) -> Option<&RateLimiter> {
        self.rate.as_deref()
    }

    /// The log of what accounts were told.
    pub fn deliveries(&self) -> &FollowerDeliveries {
        &self.deliveries
    }

    /// Waits until `verifier` may be told one more change.
    pub async fn pace(&self, verifier: &str) {
        let Some(rate) = &self.rate else { return };
        while let Err(over) = rate.check(&format!("follower:{verifier}")).await {
            tokio::time::sleep(over.retry_after).await;
        }
    }

    /// Paces, then records, a change sent to a subscriber of `verifier`.
    pub async fn streaming(&self, verifier: &str, change: &RecognitionChange) {
        self.pace(verifier).await;
        self.deliveries.streamed(verifier, change).await;
    }

    /// A one-time challenge for a firm to consent to this account (VERIFIER) following it
    /// until `until` (inclusive): the firm's wallet presents its credential over it.
    pub async fn consent_challenge(
        &self,
        principal: Option<&Principal>,
        until: NaiveDate,
    ) -> Result<Challenge, ServiceError> {
        let (verifier, _) = authorize(principal, Operation::FollowOperators)?;
        let today = Utc::now().date_naive();
        if until < today || (until - today).num_days() > LONGEST_CONSENT_DAYS {
            return Err(ServiceError::field(
                "until",
                format!("must be between today and {LONGEST_CONSENT_DAYS} days from now"),
            ));
        }
        self.credentials.create_challenge(Some(format!("{CONSENT}:{}:{until}", verifier.username))).await
    }

    /// A one-time challenge for a firm to withdraw its consent to `verifier` (anyone may ask:
    /// only the firm's signature over it counts).
    pub async fn withdrawal_challenge(&self, verifier: &str) -> Result<Challenge, ServiceError> {
        if verifier.is_empty() || verifier.contains(':') {
            return Err(ServiceError::field("verifier", "is not an account name"));
        }
        self.credentials.create_challenge(Some(format!("{WITHDRAWAL}:{verifier}"))).await
    }

    /// The firm's consent, from its presentation over a consent challenge this account
    /// (VERIFIER) asked for: the operators of the AEO credentials presented join the account's
    /// watch list until the day the challenge names. Nothing is recorded unless the
    /// presentation verifies.
    pub async fn follow(
        &self,
        principal: Option<&Principal>,
        presentation: &Value,
        challenge: &str,
    ) -> Result<Vec<watch_list::Model>, ServiceError> {
        let (verifier, _) = authorize(principal, Operation::FollowOperators)?;
        let domain = self.domain_of(challenge).await?;
        let until = domain
            .strip_prefix(CONSENT)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|rest| rest.rsplit_once(':'))
            .filter(|(account, _)| *account == verifier.username)
            .and_then(|(_, until)| until.parse::<NaiveDate>().ok())
            .ok_or_else(|| ServiceError::field("challenge", "is not a consent challenge of this account"))?;
        let (holder, operators) = self.presented(presentation, challenge).await?;
        let now = Utc::now();
        let rows: Vec<watch_list::Model> = operators
            .into_iter()
            .map(|(country, tin, credential_id)| watch_list::Model {
                verifier: verifier.username.clone(),
                country,
                tin,
                consented_at: now,
                consented_until: until,
                credential_id,
                holder: holder.clone(),
                withdrawn_at: None,
            })
            .collect();
        let followed = watch_list::Entity::find()
            .filter(watch_list::Column::Verifier.eq(&verifier.username))
            .filter(watch_list::Column::WithdrawnAt.is_null())
            .count(self.storage.db())
            .await?;
        if followed + rows.len() as u64 > self.limits.max_followed {
            return Err(ServiceError::Conflict(format!(
                "this account follows {followed} operators; at most {} are allowed",
                self.limits.max_followed
            )));
        }
        let mut batch = WriteBatch::default();
        for row in &rows {
            batch.push(self.upsert(row));
            batch.push(self.logged(row, "CONSENTED", None, now));
        }
        self.storage.apply_alone(batch).await?;
        Ok(rows)
    }

    /// The firm's withdrawal, from its presentation over a withdrawal challenge: the account
    /// the challenge names stops following the operators presented, if this holder consented.
    pub async fn withdraw(
        &self,
        presentation: &Value,
        challenge: &str,
    ) -> Result<Vec<watch_list::Model>, ServiceError> {
        let domain = self.domain_of(challenge).await?;
        let verifier = domain
            .strip_prefix(WITHDRAWAL)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(|| ServiceError::field("challenge", "is not a withdrawal challenge"))?
            .to_owned();
        let (holder, operators) = self.presented(presentation, challenge).await?;
        let now = Utc::now();
        let mut withdrawn = Vec::new();
        let mut batch = WriteBatch::default();
        for (country, tin, _) in operators {
            let found = watch_list::Entity::find_by_id((verifier.clone(), country, tin))
                .filter(watch_list::Column::Holder.eq(&holder))
                .filter(watch_list::Column::WithdrawnAt.is_null())
                .one(self.storage.db())
                .await?;
            let Some(mut row) = found else { continue };
            row.withdrawn_at = Some(now);
            batch.push(self.withdrawal(&row, now));
            batch.push(self.logged(&row, "WITHDRAWN", None, now));
            withdrawn.push(row);
        }
        if withdrawn.is_empty() {
            return Err(ServiceError::NotFound(format!("a consent of this holder to {verifier}")));
        }
        self.storage.apply_alone(batch).await?;
        Ok(withdrawn)
    }

    /// Applies the entries an ADMIN configured: each one not yet in force is (re)written and
    /// logged as CONFIGURED with its reason; each configured entry no longer listed stops, logged
    /// as UNCONFIGURED. A bad entry refuses the whole list, naming it.
    pub async fn configure(&self, entries: &[ConfiguredFollow]) -> Result<(), ServiceError> {
        for (i, entry) in entries.iter().enumerate() {
            let field = |name: &str| format!("following[{i}].{name}");
            if entry.verifier.is_empty() || entry.verifier.contains(':') {
                return Err(ServiceError::field(field("verifier"), "is not an account name"));
            }
            if entry.country.len() != 2 || !entry.country.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ServiceError::field(field("country"), "must be two capital letters (ISO 3166-1)"));
            }
            if entry.tin.is_empty() || entry.tin.len() > 32 {
                return Err(ServiceError::field(field("tin"), "must have 1 to 32 characters"));
            }
            if entry.reason.trim().is_empty() {
                return Err(ServiceError::field(field("reason"), "must name the mandate"));
            }
        }
        let in_force = watch_list::Entity::find()
            .filter(watch_list::Column::Holder.eq(CONFIGURATION))
            .filter(watch_list::Column::WithdrawnAt.is_null())
            .all(self.storage.db())
            .await?;
        let now = Utc::now();
        let mut batch = WriteBatch::default();
        for entry in entries {
            let same = |row: &&watch_list::Model| {
                (&row.verifier, &row.country, &row.tin) == (&entry.verifier, &entry.country, &entry.tin)
            };
            if in_force.iter().find(same).is_some_and(|row| row.consented_until == entry.until) {
                continue;
            }
            let row = watch_list::Model {
                verifier: entry.verifier.clone(),
                country: entry.country.clone(),
                tin: entry.tin.clone(),
                consented_at: now,
                consented_until: entry.until,
                credential_id: CONFIGURATION.to_owned(),
                holder: CONFIGURATION.to_owned(),
                withdrawn_at: None,
            };
            batch.push(self.upsert(&row));
            batch.push(self.logged(&row, "CONFIGURED", Some(&entry.reason), now));
        }
        for row in &in_force {
            let listed =
                entries.iter().any(|e| (&e.verifier, &e.country, &e.tin) == (&row.verifier, &row.country, &row.tin));
            if !listed {
                batch.push(self.withdrawal(row, now));
                batch.push(self.logged(row, "UNCONFIGURED", None, now));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        Ok(self.storage.apply_alone(batch).await?)
    }

    /// Whether `verifier` followed operator (`country`, `tin`) at the event of cursor `at`:
    /// decided once, when its first subscriber asks (a consent withdrawn counts from the next
    /// event on).
    pub async fn followed_at(&self, verifier: &str, country: &str, tin: &str, at: u64) -> Result<bool, ServiceError> {
        let key = (verifier.to_owned(), country.to_owned(), tin.to_owned(), at);
        self.decisions.try_get_with(key, self.follows(verifier, country, tin)).await.map_err(ServiceError::internal)
    }

    /// Whether `verifier` follows operator (`country`, `tin`) now.
    pub async fn follows(&self, verifier: &str, country: &str, tin: &str) -> Result<bool, ServiceError> {
        let row = watch_list::Entity::find_by_id((verifier.to_owned(), country.to_owned(), tin.to_owned()))
            .one(self.storage.db())
            .await?;
        Ok(row.is_some_and(|row| row.withdrawn_at.is_none() && row.consented_until >= Utc::now().date_naive()))
    }

    /// The operators this account (VERIFIER) follows now.
    pub async fn followed(&self, principal: Option<&Principal>) -> Result<Vec<watch_list::Model>, ServiceError> {
        let (verifier, _) = authorize(principal, Operation::FollowOperators)?;
        Ok(watch_list::Entity::find()
            .filter(watch_list::Column::Verifier.eq(&verifier.username))
            .filter(watch_list::Column::WithdrawnAt.is_null())
            .filter(watch_list::Column::ConsentedUntil.gte(Utc::now().date_naive()))
            .order_by_asc(watch_list::Column::Country)
            .order_by_asc(watch_list::Column::Tin)
            .all(self.storage.db())
            .await?)
    }

    /// Every consent and withdrawal, newest first (AUDITOR).
    pub async fn consent_log(
        &self,
        principal: Option<&Principal>,
        first: u64,
    ) -> Result<Vec<consent_log::Model>, ServiceError> {
        authorize(principal, Operation::ReadConsentLog)?;
        Ok(consent_log::Entity::find()
            .order_by_desc(consent_log::Column::Id)
            .limit(first)
            .all(self.storage.db())
            .await?)
    }

    /// The domain a challenge was issued for.
    async fn domain_of(&self, challenge: &str) -> Result<String, ServiceError> {
        presentation_challenges::Entity::find_by_id(challenge.to_owned())
            .one(self.storage.db())
            .await?
            .and_then(|issued| issued.domain)
            .ok_or_else(|| ServiceError::field("challenge", "was not issued by this node for a consent"))
    }

    /// The holder and the operators (country, trader ID, credential id) of a presentation that
    /// verifies over `challenge`, of AEO certifications only; else why not.
    async fn presented(
        &self,
        presentation: &Value,
        challenge: &str,
    ) -> Result<(String, Vec<(String, String, String)>), ServiceError> {
        let report = self.credentials.verify_presentation(presentation, challenge, None).await?;
        if !report.verified {
            let checks = [&report.integrity, &report.challenge, &report.holder_binding];
            let why = checks
                .into_iter()
                .chain(report.credentials.iter().flat_map(|c| [&c.integrity, &c.issuer_trust, &c.status.check]))
                .find(|c| c.outcome != cadena_credentials::verification::Outcome::Valid)
                .map_or_else(|| "it does not verify".to_owned(), |c| c.reason.clone());
            return Err(ServiceError::field("presentation", format!("does not verify: {why}")));
        }
        let holder = report.holder.clone().ok_or_else(|| ServiceError::field("presentation", "names no holder"))?;
        let credentials = match &presentation["verifiableCredential"] {
            Value::Array(all) => all.clone(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => Vec::new(),
        };
        let operators: Vec<_> = credentials
            .iter()
            .zip(&report.credentials)
            .filter(|(_, verified)| verified.aeo_certification)
            .filter_map(|(credential, _)| {
                let subject = &credential["credentialSubject"];
                Some((
                    subject["issuingCountry"].as_str()?.to_owned(),
                    subject["traderIdentificationNumber"].as_str()?.to_owned(),
                    credential["id"].as_str()?.to_owned(),
                ))
            })
            .collect();
        if operators.is_empty() {
            return Err(ServiceError::field("presentation", "holds no AEO certification"));
        }
        Ok((holder, operators))
    }

    /// The statement writing `row` over any entry of the same account and operator.
    fn upsert(&self, row: &watch_list::Model) -> sea_orm::Statement {
        watch_list::Entity::insert(watch_list::ActiveModel::from(row.clone()))
            .on_conflict(
                OnConflict::columns([
                    watch_list::Column::Verifier,
                    watch_list::Column::Country,
                    watch_list::Column::Tin,
                ])
                .update_columns([
                    watch_list::Column::ConsentedAt,
                    watch_list::Column::ConsentedUntil,
                    watch_list::Column::CredentialId,
                    watch_list::Column::Holder,
                    watch_list::Column::WithdrawnAt,
                ])
                .to_owned(),
            )
            .build(self.storage.backend())
    }

    /// The statement ending `row` at `at`.
    fn withdrawal(&self, row: &watch_list::Model, at: DateTime<Utc>) -> sea_orm::Statement {
        watch_list::Entity::update_many()
            .col_expr(watch_list::Column::WithdrawnAt, Expr::value(at))
            .filter(watch_list::Column::Verifier.eq(&row.verifier))
            .filter(watch_list::Column::Country.eq(&row.country))
            .filter(watch_list::Column::Tin.eq(&row.tin))
            .build(self.storage.backend())
    }

    /// The log's record of `action` on `row` (its period for a consent or a configuration).
    fn logged(
        &self,
        row: &watch_list::Model,
        action: &str,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> sea_orm::Statement {
        let given = matches!(action, "CONSENTED" | "CONFIGURED");
        consent_log::Entity::insert(consent_log::ActiveModel {
            verifier: Set(row.verifier.clone()),
            country: Set(row.country.clone()),
            tin: Set(row.tin.clone()),
            action: Set(action.to_owned()),
            until: Set(given.then_some(row.consented_until)),
            credential_id: Set(Some(row.credential_id.clone())),
            holder: Set(Some(row.holder.clone())),
            reason: Set(reason.map(str::to_owned)),
            at: Set(at),
            ..Default::default()
        })
        .build(self.storage.backend())
    }
}
