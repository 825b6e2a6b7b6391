//! Status-only webhooks of VERIFIER accounts: a receiver configured for an account
//! (`[[webhooks]] verifier = "<account>"`) gets, signed like every webhook, each status change
//! of the operators the account follows with their consent, and nothing else. One reader
//! follows the event log from a saved cursor; each event's deliveries and the cursor past it
//! commit together, so a change is queued once, whatever crashes, and delivered by the outbox's
//! `webhook` loop with its retries. Each queued change is in the accounts' delivery log, in
//! the same transaction.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use cadena_credentials::lifecycle::Status;

use crate::errors::ServiceError;
use crate::event_log::EventLog;
use crate::events::CertificationEvent;
use crate::services::certifications::{confers_benefits, effective_status};
use crate::services::lease::{Lease, read_while_held};
use crate::services::outbox::{self, Topic, Work};
use crate::services::watch_lists::WatchLists;
use crate::storage::entities::event_cursors;
use crate::storage::{Storage, WriteBatch};

/// The reader's name, for its cursor and its lease.
const READER: &str = "recognition-webhooks";
/// The pause before the reader starts again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// A status change as a follower hears it: never the data set, the history or who decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecognitionChange {
    /// The event's cursor in the node's log.
    pub cursor: u64,
    pub issuing_country: String,
    pub issuing_authority: String,
    pub tin: String,
    pub certificate_type: String,
    /// The effective status after the change.
    pub status: String,
    pub confers_benefits: bool,
    pub valid_from: chrono::NaiveDate,
    pub valid_until: Option<chrono::NaiveDate>,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    /// The MRA partner that sent it; None for this node's own certifications.
    pub source: Option<String>,
}

impl RecognitionChange {
    /// What a follower hears of `event`: nothing of a submission or its rejection (an
    /// application is not a recognition, and a pending one is the firm's business), every change
    /// from the grant on.
    pub fn of(event: &CertificationEvent) -> Option<RecognitionChange> {
        if matches!(event.to, Status::Submitted | Status::Rejected) {
            return None;
        }
        let row = &event.certification;
        Some(RecognitionChange {
            cursor: event.sequence,
            issuing_country: row.issuing_country.clone(),
            issuing_authority: row.issuing_authority.clone(),
            tin: row.tin.clone(),
            certificate_type: row.certificate_type.clone(),
            status: effective_status(row, event.at).as_str().to_owned(),
            confers_benefits: confers_benefits(row, event.at),
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            changed_at: event.at,
            source: event.origin.clone(),
        })
    }
}

/// A receiver of one account's recognition changes.
#[derive(Clone, Debug)]
pub struct FollowerWebhook {
    /// The VERIFIER account.
    pub verifier: String,
    /// Where to POST (its secret is the webhook service's).
    pub url: String,
}

/// The reader that queues the followers' webhooks.
#[derive(Clone, Debug)]
pub struct RecognitionWebhooks {
    storage: Storage,
    log: EventLog,
    watch_lists: WatchLists,
    receivers: Vec<FollowerWebhook>,
}

impl RecognitionWebhooks {
    /// Queues recognition changes for `receivers`.
    pub fn new(
        storage: Storage,
        log: EventLog,
        watch_lists: WatchLists,
        receivers: Vec<FollowerWebhook>,
    ) -> RecognitionWebhooks {
        RecognitionWebhooks { storage, log, watch_lists, receivers }
    }

    /// Follows the log until `shutdown`, on the replica holding the reader's lease.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        if self.receivers.is_empty() {
            return shutdown.await;
        }
        let lease = Lease::new(self.storage.clone(), READER);
        read_while_held(RETRY, "queuing followers' webhooks", || self.read(&lease), shutdown).await;
    }

    /// Reads the log from the saved cursor (from now, the first time) while this replica holds
    /// the lease.
    async fn read(&self, lease: &Lease) -> Result<(), ServiceError> {
        if !lease.hold().await {
            return Ok(());
        }
        let start = self.log.saved_cursor(READER).await?;
        let events = self.log.follow(start);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            let event = event?;
            if !lease.hold().await {
                return Ok(());
            }
            let mut batch = WriteBatch::default();
            let row = &event.certification;
            if let Some(change) = RecognitionChange::of(&event) {
                for receiver in &self.receivers {
                    if !self.watch_lists.follows(&receiver.verifier, &row.issuing_country, &row.tin).await? {
                        continue;
                    }
                    // A burst beyond the account's rate waits here: paced, never dropped.
                    self.watch_lists.pace(&receiver.verifier).await;
                    let payload = serde_json::json!({
                        "type": "recognition.change",
                        "verifier": receiver.verifier,
                        "change": change,
                    });
                    let work = Work::new(Topic::Webhook, payload.to_string()).about(receiver.url.clone());
                    batch.push(outbox::enqueue(self.storage.backend(), work));
                    batch.push(self.watch_lists.deliveries().webhook_queued(&receiver.verifier, &change));
                }
            }
            batch.push(event_cursors::save(READER, event.sequence, self.storage.backend()));
            self.storage.apply_alone(batch).await?;
        }
        Ok(())
    }
}
