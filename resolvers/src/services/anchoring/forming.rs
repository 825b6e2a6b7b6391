//! Forming batches: what to anchor, gathered into Merkle batches under consecutive sequence
//! numbers, each formed once, whatever crashes.
//!
//! What a certification's transition anchors is read from the node's event log, which the
//! transition writes anyway, from a cursor saved in `event_cursors` ([`READER`]): a grant's
//! credential (an `ANCHOR` entry), and the status changes of a granted credential (`STATUS`:
//! suspended, reinstated, revoked, annulled, replaced by an amendment). A transition therefore
//! writes nothing for the chain in its own transaction (issuance waits on the database's one
//! writer), and the former reads many events at once. Credentials that are not certifications
//! (the VC API's, a wallet's) have no event: their issuance queues `anchor` work in the outbox
//! ([`work`]), which the former takes in the same rounds.
//!
//! A round forms once the waiting entries fill a batch, or the oldest of them (log or outbox)
//! waited `max_wait`: then every waiting entry is formed, `ANCHOR` before `STATUS`, in batches
//! of at most `max_batch` and `max_status_batch`, and in one transaction the batches, their
//! entries in leaf order (`anchor_batch_entries`), the outbox rows marked done and the cursor
//! past the events read are written. The cursor's move is guarded, so a second former (a lease
//! lost mid-round) fails instead of forming the same events twice; a crash before the commit
//! forms them again from the saved cursor, a crash after it finds them formed.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use cadena_credentials::Transition;
use cadena_credentials::merkle::MerkleTree;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{ANCHOR, AnchoringError, AnchoringService, ChainStatus, FORMED, STATUS, parse_digest};
use crate::errors::ServiceError;
use crate::event_log::EventLog;
use crate::events::CertificationEvent;
use crate::fault::crash_point;
use crate::services::lease::{Lease, read_while_held};
use crate::services::outbox::{self, Topic, Work};
use crate::storage::WriteBatch;
use crate::storage::entities::{anchor_batch_entries, anchor_batches, credentials, event_cursors};

/// The former's name, for its cursor and its lease.
pub const READER: &str = "anchor-forming";
/// The pause before the former starts again after a failure.
const RETRY: Duration = Duration::from_secs(1);
/// The conflict when another former moved the cursor first.
const MOVED_ELSEWHERE: &str = "the anchoring cursor was moved by another former";

/// The outbox work anchoring a credential that is not a certification (no event tells of it).
pub fn work(credential_id: &str, digest: &str) -> Work {
    let entry = Entry {
        credential_id: credential_id.to_owned(),
        digest: digest.to_owned(),
        status_code: None,
        lineage_id: None,
        history_seq: None,
    };
    let payload = serde_json::to_string(&entry).expect("serialisable");
    Work::new(Topic::Anchor, payload).in_stream(ANCHOR).about(credential_id)
}

/// One entry of a future batch; also what an `anchor` outbox row carries (rows queued before
/// transitions were read from the log carry status changes too).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    credential_id: String,
    /// Empty for an entry read from the log until its batch is formed.
    digest: String,
    status_code: Option<i16>,
    lineage_id: Option<Uuid>,
    history_seq: Option<i64>,
}

/// What `event` anchors, if anything: this node's grants, and the status changes of a granted
/// credential (a partner's events are anchored by the partner).
fn entry_of(event: &CertificationEvent) -> Option<Entry> {
    if event.origin.is_some() {
        return None;
    }
    let credential_id = event.certification.credential_id.clone()?;
    let status = match event.transition {
        Transition::Approve => None,
        Transition::Suspend => Some(ChainStatus::Suspended),
        Transition::Reinstate => Some(ChainStatus::Reinstated),
        Transition::Revoke => Some(ChainStatus::Revoked),
        Transition::Annul => Some(ChainStatus::Annulled),
        Transition::Supersede => Some(ChainStatus::Amended),
        Transition::Submit | Transition::Reject => return None,
    };
    Some(Entry {
        credential_id,
        digest: String::new(),
        status_code: status.map(|s| s as i16),
        lineage_id: Some(event.certification.lineage_id),
        history_seq: (event.entry_seq > 0).then_some(event.entry_seq),
    })
}

/// The entries read from the log and not yet formed.
#[derive(Default)]
struct Waiting {
    anchors: Vec<Entry>,
    statuses: Vec<Entry>,
    /// When the oldest of them happened.
    since: Option<DateTime<Utc>>,
    /// The `traceparent` of the request that caused the oldest, when known.
    traceparent: Option<String>,
}

/// The former: follows the log (and the outbox's `anchor` rows) and forms batches.
#[derive(Clone, Debug)]
pub struct Former {
    anchoring: AnchoringService,
    log: EventLog,
}

impl Former {
    /// Forms the batches `anchoring` sends, from the events of `log`.
    pub fn new(anchoring: AnchoringService, log: EventLog) -> Former {
        Former { anchoring, log }
    }

    /// The former's cursor, saved at the log's newest event if the node never had one: until
    /// then transitions queued their anchoring in the outbox, which the former still takes. The
    /// node calls this before it serves, so no transition commits before the starting point.
    pub async fn cursor(&self) -> Result<u64, ServiceError> {
        self.log.saved_cursor(READER).await
    }

    /// Forms batches until `shutdown`, on the replica holding the former's lease.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let lease = Lease::new(self.anchoring.storage.clone(), READER);
        read_while_held(RETRY, "forming anchor batches", || self.read(&lease), shutdown).await;
    }

    /// Reads the log from the saved cursor while this replica holds the lease, forming when a
    /// batch is full or its oldest entry waited `max_wait`; the outbox's rows are looked at
    /// every `poll`.
    async fn read(&self, lease: &Lease) -> Result<(), ServiceError> {
        if !lease.hold().await {
            return Ok(());
        }
        let settings = &self.anchoring.settings;
        let max_wait = chrono::Duration::from_std(settings.max_wait).unwrap_or(chrono::Duration::MAX);
        let mut cursor = self.cursor().await?;
        let mut read_to = cursor;
        let mut waiting = Waiting::default();
        let mut looked_at = tokio::time::Instant::now();
        let events = self.log.follow(cursor);
        futures::pin_mut!(events);
        loop {
            let until_due = waiting.since.map_or(settings.poll, |since| {
                (since + max_wait - Utc::now()).to_std().unwrap_or_default().min(settings.poll)
            });
            let quiet = tokio::select! {
                next = events.next() => match next {
                    Some(event) => {
                        let event = event?;
                        read_to = event.sequence;
                        if let Some(entry) = entry_of(&event) {
                            if waiting.since.is_none() {
                                waiting.since = Some(event.at);
                                waiting.traceparent = event.trace_context.clone();
                            }
                            match entry.status_code {
                                None => waiting.anchors.push(entry),
                                Some(_) => waiting.statuses.push(entry),
                            }
                        }
                        false
                    }
                    None => return Ok(()),
                },
                _ = tokio::time::sleep(until_due) => true,
            };
            let full =
                waiting.anchors.len() >= settings.max_batch || waiting.statuses.len() >= settings.max_status_batch;
            let late = waiting.since.is_some_and(|since| Utc::now() - since >= max_wait);
            let look = quiet || looked_at.elapsed() >= settings.poll;
            if !(full || late || look) {
                continue;
            }
            if !lease.hold().await {
                return Ok(());
            }
            looked_at = tokio::time::Instant::now();
            let queued = self.queued().await?;
            let oldest_queued = queued.iter().map(|row| row.created_at).min();
            let since = waiting.since.into_iter().chain(oldest_queued).min();
            if full || since.is_some_and(|since| Utc::now() - since >= max_wait) {
                let waited = std::mem::take(&mut waiting);
                let traceparent = queued.first().and_then(|row| row.trace_context.clone());
                let span = forming_span(traceparent.or_else(|| waited.traceparent.clone()).as_deref());
                self.form(waited, queued, cursor, read_to).instrument(span).await?;
                cursor = read_to;
            } else if since.is_none() && read_to > cursor {
                // Nothing to anchor among the events read: the cursor moves on alone (at most
                // every `poll`), so neither the log's retention nor the anchoring lag is held
                // back by them.
                let mut writes = WriteBatch::default();
                let advance = event_cursors::advance(READER, cursor, read_to, self.anchoring.storage.backend());
                writes.push_guarded(advance, MOVED_ELSEWHERE);
                self.anchoring.storage.apply_alone(writes).await?;
                cursor = read_to;
            }
        }
    }

    /// The outbox's pending `anchor` rows, oldest first: the VC API's and wallets' credentials
    /// (and, after an upgrade, what transitions queued before the log was read).
    async fn queued(&self) -> Result<Vec<outbox::Row>, ServiceError> {
        let limit = (self.anchoring.settings.max_batch + self.anchoring.settings.max_status_batch) as u64;
        outbox::Outbox::pending_of(&self.anchoring.storage, Topic::Anchor, limit).await
    }

    /// Forms every waiting entry (the outbox's `queued` rows first: they are older) and moves
    /// the cursor from `cursor` to `read_to`, in one transaction.
    async fn form(
        &self,
        waiting: Waiting,
        queued: Vec<outbox::Row>,
        cursor: u64,
        read_to: u64,
    ) -> Result<(), ServiceError> {
        let storage = &self.anchoring.storage;
        let backend = storage.backend();
        let (mut anchors, mut statuses) = (Vec::new(), Vec::new());
        for row in &queued {
            let entry: Entry = serde_json::from_str(&row.payload).map_err(|e| {
                ServiceError::Internal(format!("outbox row {} is not an anchor entry: {e}", row.id).into())
            })?;
            match entry.status_code {
                None => anchors.push(entry),
                Some(_) => statuses.push(entry),
            }
        }
        let (mut logged_anchors, mut logged_statuses) = (waiting.anchors, waiting.statuses);
        self.fill_digests(logged_anchors.iter_mut().chain(logged_statuses.iter_mut())).await?;
        anchors.append(&mut logged_anchors);
        statuses.append(&mut logged_statuses);

        let mut writes = WriteBatch::default();
        let mut sequence = anchor_batches::Entity::find()
            .select_only()
            .column_as(anchor_batches::Column::Sequence.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(storage.db())
            .await?
            .flatten()
            .unwrap_or(0);
        let settings = &self.anchoring.settings;
        for (kind, entries, size) in
            [(ANCHOR, &anchors, settings.max_batch), (STATUS, &statuses, settings.max_status_batch)]
        {
            for chunk in entries.chunks(size.max(1)) {
                sequence += 1;
                batch_statements(&mut writes, backend, kind, chunk, sequence).map_err(ServiceError::internal)?;
            }
        }
        let ids: Vec<i64> = queued.iter().map(|row| row.id).collect();
        outbox::mark_done(&mut writes, backend, &ids, None);
        if read_to > cursor {
            writes.push_guarded(event_cursors::advance(READER, cursor, read_to, backend), MOVED_ELSEWHERE);
        }
        storage.apply_alone(writes).await?;
        crash_point("formed");
        self.anchoring.formed.notify_one();
        Ok(())
    }

    /// Reads the digests of entries read from the log: their credentials committed with the
    /// events that named them.
    async fn fill_digests<'a>(&self, entries: impl Iterator<Item = &'a mut Entry>) -> Result<(), ServiceError> {
        let entries: Vec<&mut Entry> = entries.collect();
        let mut digests: HashMap<String, String> = HashMap::with_capacity(entries.len());
        let ids: Vec<String> = entries.iter().map(|e| e.credential_id.clone()).collect();
        for chunk in ids.chunks(500) {
            let found = credentials::Entity::find()
                .select_only()
                .columns([credentials::Column::Id, credentials::Column::Digest])
                .filter(credentials::Column::Id.is_in(chunk.to_vec()))
                .into_tuple::<(String, String)>()
                .all(self.anchoring.storage.db())
                .await?;
            digests.extend(found);
        }
        for entry in entries {
            entry.digest = digests.get(&entry.credential_id).cloned().ok_or_else(|| {
                ServiceError::Internal(format!("credential {} is missing", entry.credential_id).into())
            })?;
        }
        Ok(())
    }
}

/// The span of one forming round: it continues the trace of the request that caused its
/// oldest entry, when one is known (the batches store it, and their sending continues it).
fn forming_span(traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!("anchor forming", trace_id = tracing::field::Empty);
    if let Some(traceparent) = traceparent {
        crate::trace_context::continue_stored(&span, traceparent);
    }
    crate::trace_context::record_trace_id(&span);
    span
}

/// Adds batch `sequence` of `kind` (ANCHOR: with its Merkle root) and its entries, in leaf
/// order, to `writes`.
fn batch_statements(
    writes: &mut WriteBatch,
    backend: sea_orm::DbBackend,
    kind: &str,
    entries: &[Entry],
    sequence: i64,
) -> Result<(), AnchoringError> {
    let root = if kind == ANCHOR {
        let digests = entries.iter().map(|e| parse_digest(&e.digest)).collect::<Result<Vec<_>, _>>()?;
        let tree = MerkleTree::build(&digests).map_err(|e| AnchoringError::Inconsistent(e.to_string()))?;
        Some(hex::encode(tree.root()))
    } else {
        None
    };
    writes.push(
        anchor_batches::Entity::insert(anchor_batches::ActiveModel {
            sequence: Set(sequence),
            kind: Set(kind.to_owned()),
            root: Set(root.clone()),
            count: Set(entries.len() as i32),
            state: Set(FORMED.to_owned()),
            tx_hash: Set(None),
            block_number: Set(None),
            gas_used: Set(None),
            formed_at: Set(Utc::now()),
            confirmed_at: Set(None),
            trace_context: Set(crate::trace_context::traceparent()),
        })
        .build(backend),
    );
    // The entries in batch order (by id): a STATUS batch is sent from them, and an ANCHOR
    // batch's are its tree's leaves.
    let now = Utc::now();
    for chunk in entries.chunks(1000) {
        let models = chunk.iter().map(|entry| anchor_batch_entries::ActiveModel {
            kind: Set(kind.to_owned()),
            credential_id: Set(entry.credential_id.clone()),
            digest: Set(entry.digest.clone()),
            status_code: Set(entry.status_code),
            lineage_id: Set(entry.lineage_id),
            history_seq: Set(entry.history_seq),
            batch_sequence: Set(Some(sequence)),
            created_at: Set(now),
            ..Default::default()
        });
        writes.push(anchor_batch_entries::Entity::insert_many(models).build(backend));
    }
    tracing::info!(sequence, kind, count = entries.len(), root = ?root, "batch formed");
    Ok(())
}
