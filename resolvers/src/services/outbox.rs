//! One transactional outbox for every kind of deferred work: delivering partner messages,
//! webhooks, anchoring what no event tells of, and whatever comes next. (Work that follows
//! from a certification's transition and needs nothing beyond it is read from the event log
//! instead: dispatching to partners, anchoring on chain, followers' webhooks.)
//!
//! **Enqueue.** A state change describes the work it calls for as a [`Work`] (a topic, a
//! payload, optionally a stream and a subject) and adds [`enqueue`]'s statement to its own
//! write batch: the work exists if and only if the change committed.
//!
//! **One worker loop.** [`Outbox::run`] takes the rows of one topic and hands them to that
//! topic's [`Handler`], the same loop for every topic. How rows are handed over is the topic's
//! [`Intake`]: each due row on its own (webhooks), or each stream's rows in order, a stream
//! stopping at its first row not done (a partner's numbered messages). The handler's outcome
//! for a row is written with the handler's own writes in one transaction, so work and its
//! record of being done cannot part. (The anchoring former takes its topic's rows itself,
//! [`Outbox::pending_of`] and [`mark_done`], in the transactions that form its batches.)
//!
//! **Retries.** A failed row is tried again after the one [`Backoff`] (exponential, capped,
//! jittered) of its topic, and given up after the topic's attempts, if it has a limit.
//!
//! **Several workers.** Each topic's loop runs on the replica holding the topic's lease
//! ([`Lease`]); a killed holder's lease expires and another replica takes the rows no one holds.
//! Marking a row done is guarded (it must still be PENDING): work another worker finished
//! meanwhile fails the whole transaction instead of being recorded twice.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
    Statement,
};
use tracing::Instrument as _;

use crate::errors::ServiceError;
use crate::events::EventBus;
use crate::services::lease::Lease;
use crate::services::retry::Backoff;
use crate::storage::entities::outbox;
use crate::storage::{Storage, WriteBatch};

/// A row of the outbox.
pub type Row = outbox::Model;

const PENDING: &str = "PENDING";
const DONE: &str = "DONE";
const FAILED: &str = "FAILED";
/// The conflict when a row's outcome was written by another worker first.
const DECIDED_ELSEWHERE: &str = "outbox work was decided by another worker";

/// What kind of work a row is: which handler takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// A credential that no event tells of (the VC API's, a wallet's) to anchor on chain
    /// (stream `ANCHOR`; rows a node queued before it read transitions from the log may be
    /// status changes, stream `STATUS`).
    Anchor,
    /// A numbered message to deliver to a partner (stream: the partner's country).
    PartnerMessage,
    /// A webhook call (subject: the URL; payload: the body).
    Webhook,
}

impl Topic {
    /// Its name in the `topic` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::Anchor => "anchor",
            Topic::PartnerMessage => "partner.message",
            Topic::Webhook => "webhook",
        }
    }

    /// The lease under which one replica handles it.
    const fn lease(self) -> &'static str {
        match self {
            Topic::Anchor => "outbox:anchor",
            Topic::PartnerMessage => "outbox:partner.message",
            Topic::Webhook => "outbox:webhook",
        }
    }
}

/// A piece of work to commit with the state change that calls for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    topic: Topic,
    stream: Option<String>,
    subject: Option<String>,
    payload: String,
}

impl Work {
    /// Work of `topic` with `payload` (the handler's input).
    pub fn new(topic: Topic, payload: impl Into<String>) -> Work {
        Work { topic, stream: None, subject: None, payload: payload.into() }
    }

    /// Handled in order with the rest of `stream`.
    pub fn in_stream(mut self, stream: impl Into<String>) -> Work {
        self.stream = Some(stream.into());
        self
    }

    /// About `subject` (to be found by it).
    pub fn about(mut self, subject: impl Into<String>) -> Work {
        self.subject = Some(subject.into());
        self
    }
}

/// The statement queuing `work`, for the caller's transaction.
pub fn enqueue(backend: DbBackend, work: Work) -> Statement {
    let now = Utc::now();
    outbox::Entity::insert(outbox::ActiveModel {
        topic: Set(work.topic.as_str().to_owned()),
        stream: Set(work.stream),
        subject: Set(work.subject),
        payload: Set(work.payload),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        last_status: Set(None),
        last_error: Set(None),
        next_attempt_at: Set(now),
        done_at: Set(None),
        created_at: Set(now),
        trace_context: Set(crate::trace_context::traceparent()),
        ..Default::default()
    })
    .build(backend)
}

/// Adds to `writes` the statements marking the rows `ids` done (the far side answered
/// `status`, if any), guarded: rows another worker decided meanwhile fail the whole write. One
/// statement per thousand rows (a batch of 5,000 digests is five statements, not 5,000).
pub fn mark_done(writes: &mut WriteBatch, backend: DbBackend, ids: &[i64], status: Option<u16>) {
    let now = Utc::now();
    for chunk in ids.chunks(1000) {
        let update = outbox::Entity::update_many()
            .filter(outbox::Column::Id.is_in(chunk.to_vec()))
            .filter(outbox::Column::State.eq(PENDING))
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .col_expr(outbox::Column::State, Expr::value(DONE))
            .col_expr(outbox::Column::LastStatus, Expr::value(status.map(i32::from)))
            .col_expr(outbox::Column::LastError, Expr::value(Option::<String>::None))
            .col_expr(outbox::Column::DoneAt, Expr::value(now));
        writes.push_guarded(update.build(backend), DECIDED_ELSEWHERE);
    }
}

/// The span of one handling of `rows`: it continues the trace of the request that queued the
/// first of them and links the others' (a batch is done once for many traces).
fn handling_span(topic: Topic, rows: &[Row]) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox",
        otel.name = format!("outbox {}", topic.as_str()),
        outbox.topic = topic.as_str(),
        outbox.rows = rows.len(),
        outbox.attempt = rows.first().map_or(0, |row| row.attempts + 1),
        trace_id = tracing::field::Empty,
    );
    let mut queued_by = rows.iter().filter_map(|row| row.trace_context.as_deref());
    if let Some(first) = queued_by.next() {
        crate::trace_context::continue_stored(&span, first);
        for other in queued_by {
            crate::trace_context::link_stored(&span, other);
        }
    }
    crate::trace_context::record_trace_id(&span);
    span
}

/// What became of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done for good, with the far side's answer.
    Done {
        /// The far side's status (HTTP), if it answered.
        status: Option<u16>,
    },
    /// Failed this time: tried again after the topic's backoff, or given up after its attempts.
    Failed {
        /// The far side's status (HTTP), if it answered.
        status: Option<u16>,
        /// Why.
        error: String,
    },
    /// Given up at once: no attempt can succeed.
    GiveUp {
        /// Why.
        error: String,
    },
}

/// A handler's answer for the rows it was handed: an outcome for each row it decided (a row
/// without one stays as it was, and its stream stops there), and its own writes, committed with
/// the outcomes.
#[derive(Debug, Default)]
pub struct Handled {
    /// Outcomes by row id.
    pub outcomes: Vec<(i64, Outcome)>,
    /// The handler's writes.
    pub writes: WriteBatch,
}

impl Handled {
    /// One row's outcome, without writes of its own.
    pub fn one(id: i64, outcome: Outcome) -> Handled {
        Handled { outcomes: vec![(id, outcome)], writes: WriteBatch::default() }
    }
}

/// How a topic's rows are handed to its handler.
#[derive(Clone, Debug)]
pub enum Intake {
    /// Every due row on its own, oldest first, up to `limit` a round.
    Each {
        /// Rows per round.
        limit: u64,
    },
    /// Each stream's rows one by one in order, from its first pending row once that is due; a
    /// stream stops at its first row not done.
    InOrder {
        /// Rows read per round (across streams).
        limit: u64,
    },
}

/// The handler of one topic.
pub trait Handler: Send + Sync + 'static {
    /// The topic it handles.
    const TOPIC: Topic;

    /// How rows are handed over.
    fn intake(&self) -> Intake;

    /// How failed rows back off.
    fn backoff(&self) -> Backoff;

    /// Attempts before a row is given up; None: never.
    fn max_attempts(&self) -> Option<i32> {
        None
    }

    /// Handles `rows` (one row, or a stream's batch; oldest first).
    fn handle(&self, rows: Vec<Row>) -> impl Future<Output = Result<Handled, ServiceError>> + Send;

    /// The longest pause between rounds when nothing wakes the loop.
    fn poll(&self) -> Duration {
        Duration::from_millis(200)
    }
}

/// The outbox: its loops and its reads.
#[derive(Clone, Debug)]
pub struct Outbox {
    storage: Storage,
    bus: EventBus,
    /// Bumped when a loop committed work that may have queued more (a dispatched event queues
    /// messages): every loop looks again.
    handled: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl Outbox {
    /// The outbox of the node writing to `storage`, whose commits `bus` announces.
    pub fn new(storage: Storage, bus: EventBus) -> Outbox {
        Outbox { storage, bus, handled: std::sync::Arc::new(tokio::sync::watch::channel(0).0) }
    }

    /// Runs `handler`'s loop until `shutdown`: a round whenever a commit may have queued work,
    /// and at least every [`Handler::poll`].
    pub async fn run<H: Handler>(self, handler: H, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let poll = handler.poll();
        let lease = Lease::new(self.storage.clone(), H::TOPIC.lease());
        // This process's commits wake the loop at once; events any replica committed reach it
        // through the log's reader.
        let mut commits = self.bus.commits();
        let mut events = self.bus.subscribe();
        let mut handled = self.handled.subscribe();
        let mut failures = 0;
        let round_backoff = Backoff { base: poll, max: Duration::from_secs(5) };
        loop {
            // Another replica handles the topic while it holds the lease.
            let round = if lease.hold().await { self.round(&handler).await } else { Ok(0) };
            let pause = match round {
                Ok(0) => {
                    failures = 0;
                    poll
                }
                Ok(_) => {
                    failures = 0;
                    self.handled.send_modify(|n| *n += 1);
                    Duration::ZERO
                }
                Err(error) => {
                    let pause = round_backoff.after(failures);
                    failures += 1;
                    tracing::warn!(topic = H::TOPIC.as_str(), %error, retry_in = ?pause, "outbox round failed");
                    pause
                }
            };
            if pause.is_zero() {
                // Busy: go again at once, unless stopping.
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    _ = tokio::task::yield_now() => continue,
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
                _ = commits.changed() => {}
                _ = events.recv() => {}
                _ = handled.changed() => {}
            }
            // One round answers every event that arrived meanwhile.
            use tokio::sync::broadcast::error::TryRecvError;
            while !matches!(events.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
        }
    }

    /// One round of `handler`'s topic; returns how many rows were decided.
    pub async fn round<H: Handler>(&self, handler: &H) -> Result<usize, ServiceError> {
        let decided = match handler.intake() {
            Intake::Each { limit } => {
                let mut decided = 0;
                for row in self.due(H::TOPIC, limit).await? {
                    decided += self.handle(handler, vec![row]).await?;
                }
                decided
            }
            Intake::InOrder { limit } => self.round_in_order(handler, limit).await?,
        };
        Ok(decided)
    }

    async fn round_in_order<H: Handler>(&self, handler: &H, limit: u64) -> Result<usize, ServiceError> {
        let now = Utc::now();
        let mut streams: Vec<(Option<String>, Vec<Row>)> = Vec::new();
        for row in Self::pending_of(&self.storage, H::TOPIC, limit).await? {
            match streams.iter_mut().find(|(stream, _)| *stream == row.stream) {
                Some((_, rows)) => rows.push(row),
                None => streams.push((row.stream.clone(), vec![row])),
            }
        }
        let mut decided = 0;
        for (_, rows) in streams {
            // A stream waits behind its first pending row while that one backs off.
            if rows.first().is_some_and(|first| first.next_attempt_at > now) {
                continue;
            }
            for row in rows {
                let handled = self.handle_in_order(handler, row).await?;
                decided += usize::from(handled.is_some());
                if handled != Some(true) {
                    break;
                }
            }
        }
        Ok(decided)
    }

    /// Handles one row of an ordered stream: Some(true) done, Some(false) failed, None undecided.
    async fn handle_in_order<H: Handler>(&self, handler: &H, row: Row) -> Result<Option<bool>, ServiceError> {
        let span = handling_span(H::TOPIC, std::slice::from_ref(&row));
        async {
            let id = row.id;
            let attempts = HashMap::from([(id, row.attempts)]);
            let handled = handler.handle(vec![row]).await?;
            let done = handled.outcomes.iter().find(|(i, _)| *i == id).map(|(_, o)| matches!(o, Outcome::Done { .. }));
            self.record::<H>(handler, handled, &attempts).await?;
            Ok(done)
        }
        .instrument(span)
        .await
    }

    async fn handle<H: Handler>(&self, handler: &H, rows: Vec<Row>) -> Result<usize, ServiceError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let span = handling_span(H::TOPIC, &rows);
        async {
            let attempts: HashMap<i64, i32> = rows.iter().map(|r| (r.id, r.attempts)).collect();
            let handled = handler.handle(rows).await?;
            self.record::<H>(handler, handled, &attempts).await
        }
        .instrument(span)
        .await
    }

    /// Writes the outcomes with the handler's writes, in one transaction.
    async fn record<H: Handler>(
        &self,
        handler: &H,
        handled: Handled,
        attempts: &HashMap<i64, i32>,
    ) -> Result<usize, ServiceError> {
        let Handled { outcomes, mut writes } = handled;
        if outcomes.is_empty() {
            return Ok(0);
        }
        let backend = self.storage.backend();
        let now = Utc::now();
        // Rows done alike are marked in one statement per thousand (a batch of 5,000 digests is
        // five statements, not 5,000).
        let mut done: HashMap<Option<u16>, Vec<i64>> = HashMap::new();
        for (id, outcome) in &outcomes {
            let tried = attempts.get(id).copied().unwrap_or(0);
            let update = outbox::Entity::update_many()
                .filter(outbox::Column::Id.eq(*id))
                .filter(outbox::Column::State.eq(PENDING))
                .col_expr(outbox::Column::Attempts, Expr::value(tried + 1));
            let update = match outcome {
                Outcome::Done { status } => {
                    done.entry(*status).or_default().push(*id);
                    continue;
                }
                Outcome::Failed { status, error } => {
                    let spent = handler.max_attempts().is_some_and(|max| tried + 1 >= max);
                    let next = now + handler.backoff().after(u32::try_from(tried).unwrap_or(0));
                    tracing::warn!(topic = H::TOPIC.as_str(), id, attempts = tried + 1, %error, "outbox work failed");
                    update
                        .col_expr(outbox::Column::State, Expr::value(if spent { FAILED } else { PENDING }))
                        .col_expr(outbox::Column::LastStatus, Expr::value(status.map(i32::from)))
                        .col_expr(outbox::Column::LastError, Expr::value(error.clone()))
                        .col_expr(outbox::Column::NextAttemptAt, Expr::value(next))
                }
                Outcome::GiveUp { error } => {
                    tracing::warn!(topic = H::TOPIC.as_str(), id, %error, "outbox work given up");
                    update
                        .col_expr(outbox::Column::State, Expr::value(FAILED))
                        .col_expr(outbox::Column::LastError, Expr::value(error.clone()))
                }
            };
            writes.push_guarded(update.build(backend), DECIDED_ELSEWHERE);
        }
        for (status, ids) in done {
            mark_done(&mut writes, backend, &ids, status);
        }
        self.storage.apply_alone(writes).await?;
        Ok(outcomes.len())
    }

    /// The pending rows of `topic`.
    fn pending_rows(topic: Topic) -> sea_orm::Select<outbox::Entity> {
        outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic.as_str()))
            .filter(outbox::Column::State.eq(PENDING))
    }

    /// Up to `limit` pending rows of `topic` in `storage`, oldest first: for the topic's loop,
    /// and for a worker that takes them itself rather than through a [`Handler`] (the anchoring
    /// former, which also follows the event log) and marks them done with [`mark_done`] in its
    /// own write.
    pub async fn pending_of(storage: &Storage, topic: Topic, limit: u64) -> Result<Vec<Row>, ServiceError> {
        let query = Self::pending_rows(topic).order_by_asc(outbox::Column::Id).limit(limit);
        Ok(query.all(storage.db()).await?)
    }

    /// Pending rows of `topic` that are due, oldest first.
    async fn due(&self, topic: Topic, limit: u64) -> Result<Vec<Row>, ServiceError> {
        let query = Self::pending_rows(topic).filter(outbox::Column::NextAttemptAt.lte(Utc::now()));
        Ok(query.order_by_asc(outbox::Column::Id).limit(limit).all(self.storage.db()).await?)
    }

    /// The newest `first` rows of `topic`.
    pub async fn log(&self, topic: Topic, first: u64) -> Result<Vec<Row>, ServiceError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic.as_str()))
            .order_by_desc(outbox::Column::Id)
            .limit(first)
            .all(self.storage.db())
            .await?)
    }

    /// How much work of `topic` waits: how many rows, and since when the oldest (how far
    /// behind the topic's worker is).
    pub async fn backlog(&self, topic: Topic) -> Result<(u64, Option<DateTime<Utc>>), ServiceError> {
        Self::backlog_of(&self.storage, topic).await
    }

    /// [`Outbox::backlog`] in `storage`.
    pub async fn backlog_of(storage: &Storage, topic: Topic) -> Result<(u64, Option<DateTime<Utc>>), ServiceError> {
        let db = storage.db();
        let waiting = Self::pending_rows(topic).count(db).await?;
        let oldest = Self::pending_rows(topic).order_by_asc(outbox::Column::Id).one(db).await?;
        Ok((waiting, oldest.map(|row| row.created_at)))
    }

    /// The partner messages' rows about `subjects` (`partner/seq`).
    pub async fn partner_deliveries(&self, subjects: Vec<String>) -> Result<Vec<Row>, ServiceError> {
        let mut rows = Vec::new();
        for chunk in subjects.chunks(500) {
            rows.extend(
                outbox::Entity::find()
                    // Literally, as the partial index `ix_outbox_partner_deliveries` (migration 18) says:
                    // SQLite's planner uses it only for a query that names the same topic.
                    .filter(Expr::cust("topic = 'partner.message'"))
                    .filter(outbox::Column::Subject.is_in(chunk.to_vec()))
                    .all(self.storage.db())
                    .await?,
            );
        }
        Ok(rows)
    }
}
