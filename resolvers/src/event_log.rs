//! The node's event log: every certification event (this node's transitions and what MRA
//! partners sent) is appended in the transaction that causes it, under a cursor assigned in
//! commit order. One reader per process follows the log and fans each event out to that
//! process's subscribers ([`EventBus`]); a subscriber that reconnects, to this replica or
//! another, or falls behind, reads what it missed from the log by cursor.
//!
//! Events older than the node's retention are deleted (the newest always stays: it carries the
//! numbering on), unless a reader that saves its cursor (`event_cursors`) has not handled them;
//! a cursor older than what is kept is refused rather than resumed with a hole.
//!
//! Cursors are `MAX + 1`, assigned one transaction at a time, so they have no gaps and a
//! reader that saw cursor n has seen every cursor below:
//! - SQLite has one writer: events are numbered inside the transaction that causes them.
//! - PostgreSQL: numbering there would hold every transition's commit behind the previous one's
//!   (the number must stay taken until it is visible). So a transition appends its events to
//!   `certification_events_pending` without a lock, and the sequencer ([`EventLog::sequence`])
//!   moves committed pending events into the log under the next cursors, in one transaction
//!   under an advisory lock, whichever replica runs it. Each replica's reader sequences before
//!   it reads, and a subscription "from now" sequences before it reads where now is, so an
//!   event committed before the subscription is never delivered to it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::Stream;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement,
};
use tokio::sync::broadcast::error::RecvError;

use crate::errors::ServiceError;
use crate::events::{CertificationEvent, EventBus};
use crate::storage::entities::{certification_events, event_cursors};
use crate::storage::{Storage, WriteBatch};

/// The advisory lock that serialises the sequencers of events on PostgreSQL ("cadena").
const EVENT_SEQUENCER_LOCK: i64 = 0x0000_6361_6465_6e61;

/// Whether events wait to be numbered (PostgreSQL): through the key's index (MIN), not a scan,
/// since the table's pages hold every moved event until vacuum.
const ANY_PENDING: &str = "(SELECT MIN(id) FROM certification_events_pending) IS NOT NULL";

/// Pending events numbered per sequencing transaction.
const SEQUENCE_BATCH: u64 = 2_000;

/// How often the reader looks at the log when nothing woke it: another replica's commits
/// arrive within this even when Redis does not tell of them sooner.
const POLL: Duration = Duration::from_millis(250);

/// The reader's shortest pause between two reads: what a subscriber may wait beyond the commit
/// when commits stream in; a commit after a quiet spell is read at once.
const READ_AT_MOST_EVERY: Duration = Duration::from_millis(10);

/// Events read from the log at a time.
pub const PAGE: u64 = 500;

/// How often each replica deletes what the retention no longer keeps (deleting twice is
/// harmless, so every replica does it).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The statements appending `events` to the log, to run in the transaction that causes them.
pub fn append_statements(backend: DbBackend, events: &[CertificationEvent]) -> Vec<Statement> {
    let insert = match backend {
        DbBackend::Postgres => "INSERT INTO certification_events_pending (event, committed_at) VALUES ($1, $2)",
        _ => {
            "INSERT INTO certification_events (seq, event, committed_at) \
             VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM certification_events), ?, ?)"
        }
    };
    let now = Utc::now();
    events
        .iter()
        .map(|event| {
            let json = serde_json::to_string(event).expect("events serialise");
            Statement::from_sql_and_values(backend, insert, [json.into(), now.into()])
        })
        .collect()
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

    /// Numbers the events committed and still pending (PostgreSQL; on SQLite every event is
    /// numbered when it commits), oldest first, under the next cursors; returns how many.
    pub async fn sequence(&self) -> Result<u64, ServiceError> {
        if self.storage.backend() != DbBackend::Postgres || !self.any_pending().await? {
            return Ok(0);
        }
        self.number_pending().await
    }

    /// Whether events wait to be numbered (PostgreSQL): one read, no transaction, no lock.
    async fn any_pending(&self) -> Result<bool, ServiceError> {
        let pending = self
            .storage
            .db()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, format!("SELECT {ANY_PENDING} AS pending")))
            .await?
            .map(|row| row.try_get::<bool>("", "pending"))
            .transpose()?;
        Ok(pending == Some(true))
    }

    /// [`EventLog::sequence`] once events are known to wait: numbers them in batches until
    /// none waits.
    async fn number_pending(&self) -> Result<u64, ServiceError> {
        let mut numbered = 0;
        loop {
            let batch = self.number_batch().await?.len() as u64;
            numbered += batch;
            if batch < SEQUENCE_BATCH {
                return Ok(numbered);
            }
        }
    }

    /// One batch of pending events numbered ([`EventLog::number_batch`]): at once when the
    /// last round numbered some (`eager`), else only if any wait.
    async fn number_waiting(&self, eager: bool) -> Result<Vec<(i64, String)>, ServiceError> {
        if !eager && !self.any_pending().await? {
            return Ok(Vec::new());
        }
        self.number_batch().await
    }

    /// Numbers up to [`SEQUENCE_BATCH`] pending events (PostgreSQL), oldest first, in one
    /// transaction under the sequencers' advisory lock, sent as one message (the server runs it
    /// as one implicit transaction; the move reads the newest cursor after the lock is taken,
    /// since each statement reads what was committed before it began). Returns the events it
    /// numbered (cursor and JSON), in order, committed: the reader publishes them without
    /// reading them back.
    async fn number_batch(&self) -> Result<Vec<(i64, String)>, ServiceError> {
        use sea_orm::sqlx::{self, Row as _};
        let pool = self.storage.db().get_postgres_connection_pool();
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({EVENT_SEQUENCER_LOCK})::text; \
             WITH moved AS (DELETE FROM certification_events_pending WHERE id IN \
               (SELECT id FROM certification_events_pending ORDER BY id LIMIT {SEQUENCE_BATCH}) \
               RETURNING id, event, committed_at), \
             base AS (SELECT COALESCE(MAX(seq), 0) AS seq FROM certification_events), \
             numbered AS (INSERT INTO certification_events (seq, event, committed_at) \
               SELECT base.seq + ROW_NUMBER() OVER (ORDER BY moved.id), moved.event, moved.committed_at \
               FROM moved, base RETURNING seq, event) \
             SELECT seq, event FROM numbered ORDER BY seq"
        )))
        .fetch_all(pool)
        .await
        .map_err(crate::storage::sqlx_err)?;
        // The lock's row comes first, then the numbered events.
        rows.iter()
            .skip(1)
            .map(|row| {
                Ok((
                    row.try_get("seq").map_err(ServiceError::internal)?,
                    row.try_get("event").map_err(ServiceError::internal)?,
                ))
            })
            .collect()
    }

    /// Up to `limit` events after cursor `after`, in order.
    pub async fn after(&self, after: u64, limit: u64) -> Result<Vec<Arc<CertificationEvent>>, ServiceError> {
        let rows = certification_events::Entity::find()
            .filter(certification_events::Column::Seq.gt(after as i64))
            .order_by_asc(certification_events::Column::Seq)
            .limit(limit)
            .all(self.storage.db())
            .await?;
        rows.into_iter().map(|row| decoded(row.seq, &row.event)).collect()
    }

    /// Where "now" is for a subscription that starts from now: the newest cursor once every
    /// event committed so far is numbered (PostgreSQL numbers after commit), so none of them
    /// reaches it. One query when nothing waits to be numbered, as on SQLite.
    pub async fn now(&self) -> Result<u64, ServiceError> {
        if self.storage.backend() == DbBackend::Postgres {
            let row = self
                .storage
                .db()
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("SELECT {ANY_PENDING} AS pending, (SELECT MAX(seq) FROM certification_events) AS newest"),
                ))
                .await?;
            if let Some(row) = row
                && !row.try_get::<bool>("", "pending")?
            {
                return Ok(row.try_get::<Option<i64>>("", "newest")?.unwrap_or(0) as u64);
            }
            self.number_pending().await?;
        }
        self.newest().await
    }

    /// The saved cursor of `reader` (a reader that acts on every event once: the partner
    /// dispatcher, the anchoring former, followers' webhooks), saved at [`EventLog::now`] the
    /// first time: what came before was not for it. Another replica starting at the same time
    /// may save its own first; the first one stays.
    pub async fn saved_cursor(&self, reader: &str) -> Result<u64, ServiceError> {
        let db = self.storage.db();
        if let Some(saved) = event_cursors::Entity::find_by_id(reader.to_owned()).one(db).await? {
            return Ok(saved.cursor as u64);
        }
        let now = self.now().await?;
        let first = event_cursors::Entity::insert(event_cursors::ActiveModel {
            name: Set(reader.to_owned()),
            cursor: Set(now as i64),
        })
        .on_conflict(OnConflict::column(event_cursors::Column::Name).do_nothing().to_owned())
        .build(self.storage.backend());
        let mut batch = WriteBatch::default();
        batch.push(first);
        self.storage.apply_alone(batch).await?;
        let saved = event_cursors::Entity::find_by_id(reader.to_owned()).one(db).await?;
        Ok(saved.map_or(now, |saved| saved.cursor as u64))
    }

    /// The newest cursor (0 for an empty log).
    pub async fn newest(&self) -> Result<u64, ServiceError> {
        Ok(self.cursor_bound(certification_events::Column::Seq.max()).await?.unwrap_or(0))
    }

    /// The oldest cursor the log keeps (None for an empty log).
    pub async fn oldest(&self) -> Result<Option<u64>, ServiceError> {
        self.cursor_bound(certification_events::Column::Seq.min()).await
    }

    async fn cursor_bound(&self, aggregate: impl sea_orm::ColumnAsExpr) -> Result<Option<u64>, ServiceError> {
        let bound: Option<i64> = certification_events::Entity::find()
            .select_only()
            .column_as(aggregate, "bound")
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten();
        Ok(bound.map(|seq| seq as u64))
    }

    /// Every event after cursor `after`, in order, as it commits: read from the log while
    /// behind, then from this process's bus. The bus is listened to before this returns, so no
    /// event committed from now on is missed; a gap in the cursors means the retention deleted
    /// events this stream had not read, and ends it with that error. The one way subscribers
    /// (GraphQL subscriptions, the console's live feed) follow the log.
    pub fn follow(&self, after: u64) -> impl Stream<Item = Result<Arc<CertificationEvent>, ServiceError>> + use<> {
        let log = self.clone();
        let mut receiver = self.bus.subscribe();
        let (mut last, mut behind) = (after, true);
        async_stream::stream! {
            loop {
                if behind {
                    match log.after(last, PAGE).await {
                        Ok(events) => {
                            behind = events.len() as u64 == PAGE;
                            // Cursors have no gaps: one here means the retention deleted events
                            // this stream had not read yet.
                            if events.first().is_some_and(|e| e.sequence > last + 1)
                                && let Err(error) = log.resumable_after(last).await
                            {
                                yield Err(error);
                                break;
                            }
                            for event in events {
                                last = event.sequence;
                                yield Ok(event);
                            }
                        }
                        Err(error) => {
                            yield Err(error);
                            break;
                        }
                    }
                    continue;
                }
                match receiver.recv().await {
                    Ok(event) if event.sequence <= last => {}
                    Ok(event) if event.sequence == last + 1 => {
                        last = event.sequence;
                        yield Ok(event);
                    }
                    // Events before this one were published before this stream listened, or
                    // while it lagged: the log has them all.
                    Ok(_) | Err(RecvError::Lagged(_)) => behind = true,
                    Err(RecvError::Closed) => break,
                }
            }
        }
    }

    /// Refuses to resume after `after` when events after it are no longer kept: the subscriber
    /// would miss them without knowing.
    pub async fn resumable_after(&self, after: u64) -> Result<(), ServiceError> {
        match self.oldest().await? {
            Some(oldest) if after + 1 < oldest => Err(ServiceError::field(
                "after",
                format!(
                    "events after cursor {after} are no longer kept (the oldest kept is {oldest}): \
                     resume after {} or later, or subscribe from now",
                    oldest - 1
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Deletes the events committed more than `retention` ago, except the newest and those a
    /// reader with a saved cursor (the partner dispatcher, the followers' webhooks) has not
    /// handled yet; returns how many.
    pub async fn prune(&self, retention: Duration) -> Result<u64, ServiceError> {
        let newest = self.newest().await?;
        let handled: Option<i64> = event_cursors::Entity::find()
            .select_only()
            .column_as(event_cursors::Column::Cursor.min(), "handled")
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten();
        let keep_from = handled.map_or(newest as i64, |handled| handled.saturating_add(1).min(newest as i64));
        let cutoff = Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let deleted = certification_events::Entity::delete_many()
            .filter(certification_events::Column::CommittedAt.lt(cutoff))
            .filter(certification_events::Column::Seq.lt(keep_from))
            .exec(self.storage.db())
            .await?;
        Ok(deleted.rows_affected)
    }

    /// Follows the log until `shutdown`, publishing every event after cursor `from`, in order:
    /// woken by this process's commits and (through Redis) other replicas' at once, and every
    /// [`POLL`] in any case. With a `retention`, deletes older events every [`PRUNE_EVERY`].
    ///
    /// `from` is the log's newest cursor taken before any follower of the bus starts (the
    /// process's start): a follower that read the log up to some event then waits on the bus for
    /// the next, and the bus must carry it; a reader that began at a newer cursor would skip it,
    /// and the follower would hear of it only when a later event comes, if one ever does.
    pub async fn run(self, from: u64, retention: Option<Duration>, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut last = from;
        let mut commits = self.bus.commits();
        let mut pruned_at: Option<tokio::time::Instant> = None;
        let mut read_at = tokio::time::Instant::now();
        // Whether the last round numbered events: under a stream of commits the next round
        // numbers at once, without first asking whether any wait (one round trip fewer).
        let mut numbered = false;
        loop {
            if let Some(retention) = retention.filter(|_| pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY)) {
                pruned_at = Some(tokio::time::Instant::now());
                match self.prune(retention).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, ?retention, "events older than the retention deleted"),
                    Err(error) => tracing::warn!(%error, "deleting old events failed"),
                }
            }
            // PostgreSQL numbers what waits first. When the events it numbers come right after
            // `last` (no other replica numbered some in between), they are published as
            // numbered, without reading them back: nothing newer is in the log yet.
            let (mut read, mut more) = (true, false);
            if self.storage.backend() == DbBackend::Postgres {
                match self.number_waiting(numbered).await {
                    Ok(events) => {
                        numbered = !events.is_empty();
                        more = events.len() as u64 == SEQUENCE_BATCH;
                        if events.first().is_some_and(|(seq, _)| *seq as u64 == last + 1) {
                            read = false;
                            for (seq, json) in events {
                                match decoded(seq, &json) {
                                    Ok(event) => {
                                        last = event.sequence;
                                        self.bus.publish(event);
                                    }
                                    // Left to the read from the log below, which meets it too.
                                    Err(error) => {
                                        tracing::warn!(%error, "reading the event log failed");
                                        read = true;
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(error) => {
                        numbered = false;
                        tracing::warn!(%error, "numbering pending events failed");
                    }
                }
            }
            if read {
                match self.after(last, PAGE).await {
                    Ok(events) => {
                        more |= events.len() as u64 == PAGE;
                        for event in events {
                            last = event.sequence;
                            self.bus.publish(event);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reading the event log failed"),
                }
            }
            if more {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = commits.changed() => {}
                _ = self.bus.wait_elsewhere() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            // Under a stream of commits, one read per [`READ_AT_MOST_EVERY`] takes them all,
            // instead of one read (and on PostgreSQL one numbering) per commit.
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep_until(read_at + READ_AT_MOST_EVERY) => {}
            }
            read_at = tokio::time::Instant::now();
        }
    }
}

/// The event stored as `json` under cursor `seq`.
fn decoded(seq: i64, json: &str) -> Result<Arc<CertificationEvent>, ServiceError> {
    let mut event: CertificationEvent = serde_json::from_str(json).map_err(ServiceError::internal)?;
    event.sequence = seq as u64;
    Ok(Arc::new(event))
}
