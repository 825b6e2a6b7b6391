//! Signed webhooks to risk-management systems: every certification event (this node's and its
//! partners') is queued, in the transaction that records it, for every configured receiver,
//! and delivered with retries; the delivery log stays in `webhook_deliveries`.
//!
//! Each POST carries `Cadena-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` (the receiver recomputes it with the shared secret and refuses stale `t`)
//! and `Cadena-Delivery: <id>` (the same id on every retry, so receivers can de-duplicate).

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement};
use serde_json::Value;
use sha2::Sha256;

use crate::errors::ServiceError;
use crate::storage::entities::webhook_deliveries;
use crate::storage::{ApplyError, Storage, WriteBatch};

/// A configured receiver.
#[derive(Clone)]
pub struct WebhookTarget {
    /// Where to POST.
    pub url: String,
    /// The HMAC secret shared with the receiver.
    pub secret: String,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Attempts before a delivery is given up (about a day of backoff).
const MAX_ATTEMPTS: i32 = 20;

/// The `Cadena-Signature` header value for `body` at unix time `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues and delivers webhook calls.
#[derive(Clone, Debug)]
pub struct WebhookService {
    storage: Storage,
    targets: Vec<WebhookTarget>,
    http: reqwest::Client,
}

impl WebhookService {
    /// Deliveries to `targets` (none: nothing is queued).
    pub fn new(storage: Storage, targets: Vec<WebhookTarget>) -> WebhookService {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        WebhookService { storage, targets, http }
    }

    /// The rows queuing `payload` for every receiver, for the caller's transaction.
    pub fn enqueue_statements(&self, payload: &Value) -> Vec<Statement> {
        let body = payload.to_string();
        self.targets
            .iter()
            .map(|target| {
                webhook_deliveries::Entity::insert(webhook_deliveries::ActiveModel {
                    url: Set(target.url.clone()),
                    payload: Set(body.clone()),
                    attempts: Set(0),
                    state: Set("PENDING".into()),
                    last_status: Set(None),
                    last_error: Set(None),
                    next_attempt_at: Set(Utc::now()),
                    delivered_at: Set(None),
                    created_at: Set(Utc::now()),
                    ..Default::default()
                })
                .build(self.storage.backend())
            })
            .collect()
    }

    /// Delivers until `shutdown`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let lease = crate::services::lease::Lease::new(self.storage.clone(), "webhooks");
        loop {
            // Another replica delivers while it holds the lease.
            let round = if lease.hold().await { self.deliver_due().await } else { Ok(0) };
            let pause = match round {
                Ok(0) => Duration::from_millis(200),
                Ok(_) => Duration::ZERO,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Attempts every due delivery once; returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, ServiceError> {
        let due = webhook_deliveries::Entity::find()
            .filter(webhook_deliveries::Column::State.eq("PENDING"))
            .filter(webhook_deliveries::Column::NextAttemptAt.lte(Utc::now()))
            .order_by_asc(webhook_deliveries::Column::Id)
            .limit(50)
            .all(self.storage.db())
            .await?;
        for delivery in &due {
            // A delivery queued for a receiver that has since left the configuration is not
            // sent: there is no secret to sign it with, and that URL is no longer ours to call.
            let Some(target) = self.targets.iter().find(|t| t.url == delivery.url) else {
                self.drop_unconfigured(delivery).await?;
                continue;
            };
            let outcome = self.attempt(target, delivery).await;
            self.record(delivery, outcome).await?;
        }
        Ok(due.len())
    }

    async fn attempt(
        &self,
        target: &WebhookTarget,
        delivery: &webhook_deliveries::Model,
    ) -> Result<u16, (Option<u16>, String)> {
        let t = Utc::now().timestamp();
        let response = self
            .http
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("cadena-signature", signature(&target.secret, t, &delivery.payload))
            .header("cadena-delivery", delivery.id.to_string())
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| (None, e.to_string()))?;
        let status = response.status().as_u16();
        if response.status().is_success() { Ok(status) } else { Err((Some(status), format!("HTTP {status}"))) }
    }

    /// Marks a delivery whose URL is no longer configured FAILED, without sending it.
    async fn drop_unconfigured(&self, delivery: &webhook_deliveries::Model) -> Result<(), ServiceError> {
        tracing::warn!(url = %delivery.url, id = delivery.id, "webhook delivery dropped: its URL is no longer configured");
        let update = webhook_deliveries::Entity::update_many()
            .col_expr(webhook_deliveries::Column::State, Expr::value("FAILED"))
            .col_expr(
                webhook_deliveries::Column::LastError,
                Expr::value("not sent: no webhook is configured for this URL any more"),
            )
            .filter(webhook_deliveries::Column::Id.eq(delivery.id));
        self.apply(update.build(self.storage.backend())).await
    }

    async fn apply(&self, statement: Statement) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(statement);
        let mut gate = self.storage.write_gate().await;
        self.storage.apply(&mut gate, batch).await.map_err(|e| match e {
            ApplyError::Db(db) => db.into(),
            ApplyError::Conflict(c) => ServiceError::Conflict(c.into()),
        })
    }

    async fn record(
        &self,
        delivery: &webhook_deliveries::Model,
        outcome: Result<u16, (Option<u16>, String)>,
    ) -> Result<(), ServiceError> {
        let attempts = delivery.attempts + 1;
        let mut update = webhook_deliveries::Entity::update_many()
            .col_expr(webhook_deliveries::Column::Attempts, Expr::value(attempts))
            .filter(webhook_deliveries::Column::Id.eq(delivery.id));
        match outcome {
            Ok(status) => {
                update = update
                    .col_expr(webhook_deliveries::Column::State, Expr::value("DELIVERED"))
                    .col_expr(webhook_deliveries::Column::LastStatus, Expr::value(i32::from(status)))
                    .col_expr(webhook_deliveries::Column::DeliveredAt, Expr::value(Utc::now()));
            }
            Err((status, error)) => {
                let wait = crate::services::retry::Backoff::WEBHOOK.after(delivery.attempts.max(0) as u32);
                let state = if attempts >= MAX_ATTEMPTS { "FAILED" } else { "PENDING" };
                tracing::warn!(url = %delivery.url, id = delivery.id, attempts, %error, "webhook delivery failed");
                update = update
                    .col_expr(webhook_deliveries::Column::State, Expr::value(state))
                    .col_expr(webhook_deliveries::Column::LastStatus, Expr::value(status.map(i32::from)))
                    .col_expr(webhook_deliveries::Column::LastError, Expr::value(error))
                    .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(Utc::now() + wait));
            }
        }
        self.apply(update.build(self.storage.backend())).await
    }

    /// The delivery log, newest first.
    pub async fn log(&self, first: u64) -> Result<Vec<webhook_deliveries::Model>, ServiceError> {
        Ok(webhook_deliveries::Entity::find()
            .order_by_desc(webhook_deliveries::Column::Id)
            .limit(first)
            .all(self.storage.db())
            .await?)
    }
}

/// The JSON body webhook receivers get for one of this node's own transitions.
pub fn local_payload(event: &crate::events::CertificationEvent) -> Value {
    serde_json::json!({
        "type": "certification.event",
        "origin": event.origin,
        "transition": event.transition.as_str(),
        "status": event.to.as_str(),
        "at": event.at,
        "reason": event.reason,
        "certification": {
            "id": event.certification.id,
            "issuingCountry": event.certification.issuing_country,
            "tin": event.certification.tin,
            "operatorName": event.certification.operator_name,
            "certificateType": event.certification.certificate_type,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_time_and_body() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
