//! Certification events, published after the transaction that caused them commits.
//!
//! In-process fan-out over a broadcast channel: every subscriber sees every event in commit
//! order. A subscriber too slow to keep up loses its place and is told so (its stream ends with
//! an error) rather than silently missing transitions; it can re-read `certificationHistory`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cadena_credentials::{Status, Transition};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::storage::entities::certifications;

/// One transition of one certification, as subscribers receive it.
#[derive(Clone, Debug)]
pub struct CertificationEvent {
    /// Node-local sequence number, increasing in commit order from 1 at start-up.
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
    /// The MRA partner that sent it; None for this node's own certifications.
    pub origin: Option<String>,
}

/// Publishes events to every current subscriber.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<CertificationEvent>>,
    sequence: Arc<AtomicU64>,
}

impl EventBus {
    /// A bus whose subscribers may fall `capacity` events behind before they are cut off.
    pub fn new(capacity: usize) -> EventBus {
        let (sender, _) = broadcast::channel(capacity);
        EventBus { sender, sequence: Arc::new(AtomicU64::new(0)) }
    }

    /// Stamps the event with the next sequence number and sends it to every subscriber.
    pub fn publish(&self, mut event: CertificationEvent) {
        event.sequence = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        // No subscriber is not an error: events are also in the history.
        let _ = self.sender.send(Arc::new(event));
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
