//! The node's event log: every certification event (this node's transitions and what MRA
//! partners sent) is appended in the transaction that causes it, under a cursor assigned in
//! commit order. One reader per process follows the log and fans each event out to that
//! process's subscribers ([`EventBus`]); a subscriber that reconnects, to this replica or
//! another, or falls behind, reads what it missed from the log by cursor.
//!
//! Cursors are `MAX + 1` inside the writing transaction. SQLite has one writer at a time; on
//! PostgreSQL every transaction that logs events first takes one transaction-scoped advisory
//! lock, so the replicas of a node assign cursors one transaction at a time and a cursor is
//! visible before the next is assigned: a reader that saw cursor n has seen every cursor below.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement};

use crate::errors::ServiceError;
use crate::events::{CertificationEvent, EventBus};
use crate::storage::Storage;
use crate::storage::entities::certification_events;

/// The advisory lock that serialises the writers of events on PostgreSQL ("cadena").
const EVENT_WRITERS_LOCK: i64 = 0x0000_6361_6465_6e61;

/// How often the reader looks at the log when nothing woke it: another replica's commits
/// arrive within this even when Redis does not tell of them sooner.
const POLL: Duration = Duration::from_millis(250);

/// Events read from the log at a time.
pub const PAGE: u64 = 500;

/// The statements appending `events` to the log, to run in the transaction that causes them.
pub fn append_statements(backend: DbBackend, events: &[CertificationEvent]) -> Vec<Statement> {
    if events.is_empty() {
        return Vec::new();
    }
    let mut statements = Vec::with_capacity(events.len() + 1);
    // VALUES, not INSERT … SELECT: PostgreSQL gets the batch as text with the values written
    // in, and only in VALUES does a quoted literal take its column's type.
    let insert = match backend {
        DbBackend::Postgres => {
            statements
                .push(Statement::from_string(backend, format!("SELECT pg_advisory_xact_lock({EVENT_WRITERS_LOCK})")));
            "INSERT INTO certification_events (seq, event, committed_at) \
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM certification_events), $1, $2)"
        }
        _ => {
            "INSERT INTO certification_events (seq, event, committed_at) \
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM certification_events), ?, ?)"
        }
    };
    let now = Utc::now();
    for event in events {
        let json = serde_json::to_string(event).expect("events serialise");
        statements.push(Statement::from_sql_and_values(backend, insert, [json.into(), now.into()]));
    }
    statements
}

/// Reads the log and feeds this process's [`EventBus`].
#[derive(Clone, Debug)]
pub struct EventLog {
    storage: Storage,
    bus: EventBus,
}

impl EventLog {
    /// The log in `storage`, feeding `bus`.
    pub fn new(storage: Storage, bus: EventBus) -> EventLog {
        EventLog { storage, bus }
    }

    /// The bus it feeds.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Up to `limit` events after cursor `after`, in order.
    pub async fn after(&self, after: u64, limit: u64) -> Result<Vec<Arc<CertificationEvent>>, ServiceError> {
        let rows = certification_events::Entity::find()
            .filter(certification_events::Column::Seq.gt(after as i64))
            .order_by_asc(certification_events::Column::Seq)
            .limit(limit)
            .all(self.storage.db())
            .await?;
        rows.into_iter()
            .map(|row| {
                let mut event: CertificationEvent = serde_json::from_str(&row.event).map_err(ServiceError::internal)?;
                event.sequence = row.seq as u64;
                Ok(Arc::new(event))
            })
            .collect()
    }

    /// The newest cursor (0 for an empty log).
    pub async fn newest(&self) -> Result<u64, ServiceError> {
        let newest: Option<i64> = certification_events::Entity::find()
            .select_only()
            .column_as(certification_events::Column::Seq.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten();
        Ok(newest.unwrap_or(0) as u64)
    }

    /// Follows the log until `shutdown`, publishing every event committed after it started, in
    /// order: woken by this process's commits and (through Redis) other replicas' at once, and
    /// every [`POLL`] in any case.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut last = loop {
            match self.newest().await {
                Ok(newest) => break newest,
                Err(error) => {
                    tracing::warn!(%error, "reading the event log failed");
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut commits = self.bus.commits();
        loop {
            match self.after(last, PAGE).await {
                Ok(events) => {
                    let full = events.len() as u64 == PAGE;
                    for event in events {
                        last = event.sequence;
                        self.bus.publish(event);
                    }
                    if full {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "reading the event log failed"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = commits.changed() => {}
                _ = self.bus.wait_elsewhere() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
