//! What VERIFIER accounts were told, for auditors: one row per status change delivered to an
//! account. A webhook's row commits with the webhook's outbox work (exactly what was queued).
//! A subscription's rows are written by one background writer in batches, so a thousand
//! subscribers hearing one change cost a few transactions, not a thousand; a crash may lose
//! the rows of the last moment's sends (the subscriber resumes by cursor, and the webhook's
//! rows stay exact).

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement};
use tokio::sync::mpsc;

use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::services::recognition_webhooks::RecognitionChange;
use crate::storage::entities::follower_deliveries;
use crate::storage::{Storage, WriteBatch};

/// Sends a writer keeps before a subscriber waits for it to catch up.
const QUEUE: usize = 16_384;
/// Rows in one of the writer's transactions at most.
const BATCH: usize = 2_000;
/// The pause before the writer tries a failed batch again.
const RETRY: Duration = Duration::from_secs(1);

/// How a change reached the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Sent to a subscriber of `recognitionChanges`.
    Subscription,
    /// Queued for the account's webhook receiver.
    Webhook,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Subscription => "SUBSCRIPTION",
            Channel::Webhook => "WEBHOOK",
        }
    }
}

/// The audit log of deliveries to VERIFIER accounts.
#[derive(Clone, Debug)]
pub struct FollowerDeliveries {
    storage: Storage,
    sent: mpsc::Sender<follower_deliveries::ActiveModel>,
}

/// The writer of subscriptions' rows; runs until shutdown, then writes what is left.
#[derive(Debug)]
pub struct DeliveryWriter {
    storage: Storage,
    sent: mpsc::Receiver<follower_deliveries::ActiveModel>,
}

impl FollowerDeliveries {
    /// The log in `storage`, and the writer the caller runs for it.
    pub fn new(storage: Storage) -> (FollowerDeliveries, DeliveryWriter) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (FollowerDeliveries { storage: storage.clone(), sent: tx }, DeliveryWriter { storage, sent: rx })
    }

    /// Records that `change` was sent to a subscriber of `verifier` (written shortly).
    pub async fn streamed(&self, verifier: &str, change: &RecognitionChange) {
        // The writer is gone only when the node stops.
        let _ = self.sent.send(row(verifier, change, Channel::Subscription)).await;
    }

    /// The statement recording that `change` was queued for `verifier`'s webhook, for the
    /// transaction that queues it.
    pub fn webhook_queued(&self, verifier: &str, change: &RecognitionChange) -> Statement {
        follower_deliveries::Entity::insert(row(verifier, change, Channel::Webhook)).build(self.storage.backend())
    }

    /// Deliveries newest first, of `verifier` or of every account (AUDITOR).
    pub async fn list(
        &self,
        principal: Option<&Principal>,
        verifier: Option<&str>,
        first: u64,
    ) -> Result<Vec<follower_deliveries::Model>, ServiceError> {
        authorize(principal, Operation::ReadConsentLog)?;
        Ok(follower_deliveries::Entity::find()
            .apply_if(verifier, |q, v| q.filter(follower_deliveries::Column::Verifier.eq(v)))
            .order_by_desc(follower_deliveries::Column::Id)
            .limit(first)
            .all(self.storage.db())
            .await?)
    }
}

impl DeliveryWriter {
    /// Writes the subscriptions' rows in batches until `shutdown`, then what was sent before.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        loop {
            let mut rows = Vec::new();
            tokio::select! {
                _ = &mut shutdown => {
                    self.sent.close();
                    while let Some(row) = self.sent.recv().await {
                        rows.push(row);
                    }
                    for chunk in rows.chunks(BATCH) {
                        if let Err(error) = self.write(chunk.to_vec()).await {
                            tracing::warn!(%error, rows = chunk.len(), "subscription deliveries not recorded at stop");
                        }
                    }
                    return;
                }
                received = self.sent.recv_many(&mut rows, BATCH) => {
                    if received == 0 {
                        return;
                    }
                }
            }
            while let Err(error) = self.write(rows.clone()).await {
                tracing::warn!(%error, rows = rows.len(), "recording subscription deliveries failed; trying again");
                tokio::select! {
                    _ = &mut shutdown => {
                        tracing::warn!(rows = rows.len(), "subscription deliveries not recorded at stop");
                        return;
                    }
                    _ = tokio::time::sleep(RETRY) => {}
                }
            }
        }
    }

    async fn write(&self, rows: Vec<follower_deliveries::ActiveModel>) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(follower_deliveries::Entity::insert_many(rows).build(self.storage.backend()));
        Ok(self.storage.apply_alone(batch).await?)
    }
}

fn row(verifier: &str, change: &RecognitionChange, channel: Channel) -> follower_deliveries::ActiveModel {
    follower_deliveries::ActiveModel {
        verifier: Set(verifier.to_owned()),
        country: Set(change.issuing_country.clone()),
        tin: Set(change.tin.clone()),
        cursor: Set(change.cursor as i64),
        status: Set(change.status.clone()),
        channel: Set(channel.as_str().to_owned()),
        at: Set(Utc::now()),
        ..Default::default()
    }
}
