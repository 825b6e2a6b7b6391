//! Certification events: written to the event log in the transaction that causes them
//! ([`crate::event_log`]), then fanned out in-process over a broadcast channel by the log's
//! reader, each stamped with its cursor. Every subscriber sees every event in commit order; one
//! that falls behind the channel catches up from the log.

use std::sync::Arc;

use cadena_credentials::{Status, Transition};
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast, watch};

use crate::storage::entities::certifications;

/// One transition of one certification, as subscribers receive it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CertificationEvent {
    /// The event's cursor in the node's log: increasing in commit order, from 1, kept across
    /// restarts and shared by every replica (0 until the log assigned it).
    #[serde(skip)]
    pub sequence: u64,
    /// What happened.
    pub transition: Transition,
    /// Status before (None for a submission).
    pub from: Option<Status>,
    /// Status after.
    pub to: Status,
    /// Who did it.
    pub actor: String,
    /// Under which role.
    pub actor_role: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
    /// The certification after the transition.
    pub certification: certifications::Model,
    /// The seq of this event's own entry in its lineage's history (0 for a partner's event):
    /// the certification's head may be a later entry written in the same transaction (an
    /// amendment's grant follows the retired version's).
    #[serde(default)]
    pub entry_seq: i64,
    /// The MRA partner that sent it; None for this node's own certifications.
    pub origin: Option<String>,
    /// The `traceparent` of the request that caused it, kept in the log so the readers that act
    /// on it (the partner dispatcher) continue that request's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<String>,
}

/// Fans events out to every current subscriber of this process.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<CertificationEvent>>,
    /// Counts this process's commits that logged events: the log's reader (and a replica
    /// relay) wake on each.
    commits: Arc<watch::Sender<u64>>,
    /// Rung when another replica committed events (told through Redis).
    elsewhere: Arc<Notify>,
}

impl EventBus {
    /// A bus whose subscribers may fall `capacity` events behind before they catch up from the
    /// log.
    pub fn new(capacity: usize) -> EventBus {
        let (sender, _) = broadcast::channel(capacity);
        EventBus { sender, commits: Arc::new(watch::channel(0).0), elsewhere: Arc::default() }
    }

    /// Sends an event read from the log (its `sequence` set) to every subscriber.
    pub fn publish(&self, event: Arc<CertificationEvent>) {
        // No subscriber is not an error: events are also in the log.
        let _ = self.sender.send(event);
    }

    /// Says that a transaction of this process with events committed.
    pub fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes on every [`EventBus::committed`].
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Says that another replica of this node committed events.
    pub fn committed_elsewhere(&self) {
        self.elsewhere.notify_one();
    }

    /// Waits for [`EventBus::committed_elsewhere`].
    pub async fn wait_elsewhere(&self) {
        self.elsewhere.notified().await
    }

    /// How many receivers are open: every `certificationEvents` subscription, and the
    /// node's own workers that listen. A subscription whose client went away must not count.
    pub fn receivers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// A new subscription, starting with the next event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CertificationEvent>> {
        self.sender.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(4096)
    }
}
