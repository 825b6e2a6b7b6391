//! Anchoring on chain: every credential's digest and every status change leave a proof on the
//! chain, in batches, each exactly once, whatever crashes in between.
//!
//! 1. **What to anchor** is read from the node's event log, which every transition writes in
//!    its own transaction: a grant's credential (`ANCHOR`) and the later status changes of a
//!    granted credential (`STATUS`). Nothing reaches the chain that did not commit, and nothing
//!    that committed is forgotten: the former's cursor moves only with the batches it formed.
//!    Credentials no event tells of (the VC API's, a wallet's) queue `anchor` work in the
//!    node's one outbox, in the transaction that issues them ([`work`]).
//! 2. **Forming a batch** ([`Former`], `forming.rs`): once a batch's worth waits, or the oldest
//!    entry waited `max_wait`, it builds the Merkle tree (ANCHOR), and in one transaction stores
//!    each batch under the next sequence number (with its root) and its entries
//!    (`anchor_batch_entries`) in the order of the tree's leaves, with the outbox rows marked
//!    done and the cursor past the events read. A batch is formed once; from then on it is only
//!    sent. A credential's Merkle proof is not stored: it is computed when asked for, from its
//!    batch's entries (a tree of 4,096 leaves takes milliseconds; the last trees are kept), so
//!    forming a batch writes one small row per credential on the writer that issuance waits for.
//! 3. **Sending** is idempotent because the contract accepts each sequence number once: before
//!    sending, the worker asks the chain whether the sequence is already there (a send that
//!    landed before a crash), and a resend that races a landed one fails with `BadSequence`;
//!    either way the batch is confirmed from the chain's `BatchAnchored` event. A dropped or
//!    unmined transaction is simply sent again. Transient failures back off and retry.
//! 4. **Indexing** follows this authority's `BatchAnchored` events from a checkpoint kept in the
//!    database, confirming batches whichever way they landed.
//! 5. **Verifying** against the chain (the anchor fragment, trust in registered authorities)
//!    is `chain_checks.rs`.
//!
//! Digest: SHA-256 of the RFC 8785 canonical JSON of the signed credential
//! ([`cadena_credentials::credential::credential_digest`]); leaf and tree as OpenZeppelin's
//! `StandardMerkleTree` ([`cadena_credentials::merkle`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cadena_contracts::{B256, ChainClient, ChainError};
use cadena_credentials::merkle::{self, MerkleTree};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use serde::Serialize;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::errors::ServiceError;
use crate::fault::crash_point;
use crate::services::lease::Lease;
use crate::services::outbox::{Outbox, Topic};
use crate::services::retry::Backoff;
use crate::storage::entities::{
    anchor_batch_entries, anchor_batches, certification_events, chain_checkpoints, event_cursors,
};
use crate::storage::{ApplyError, Storage, WriteBatch};

mod chain_checks;
mod forming;

pub use chain_checks::{ChainAnchorCheck, RegistryTrust};
pub use forming::{Former, work};

/// The stream (and batch kind) of new credentials' digests.
pub const ANCHOR: &str = "ANCHOR";
/// The stream (and batch kind) of status changes.
pub const STATUS: &str = "STATUS";
const FORMED: &str = "FORMED";
const CONFIRMED: &str = "CONFIRMED";
const CHECKPOINT: &str = "anchors";

/// Status codes of `AnchorRegistry.StatusChanged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum ChainStatus {
    /// Issued (the anchor itself; not sent as a status event).
    Issued = 1,
    /// Suspended.
    Suspended = 2,
    /// Reinstated.
    Reinstated = 3,
    /// Revoked.
    Revoked = 4,
    /// Annulled.
    Annulled = 5,
    /// Replaced by an amendment.
    Amended = 6,
    /// Expired.
    Expired = 7,
}

impl ChainStatus {
    /// The name of a code.
    pub fn name(code: u8) -> &'static str {
        match code {
            1 => "ISSUED",
            2 => "SUSPENDED",
            3 => "REINSTATED",
            4 => "REVOKED",
            5 => "ANNULLED",
            6 => "AMENDED",
            7 => "EXPIRED",
            _ => "UNKNOWN",
        }
    }
}

/// How batches are formed and the chain polled.
#[derive(Clone, Debug)]
pub struct AnchoringSettings {
    /// Most digests per Merkle batch.
    pub max_batch: usize,
    /// Most status changes per status batch (each costs ~3,100 gas).
    pub max_status_batch: usize,
    /// A batch goes out once its oldest entry waited this long, full or not.
    pub max_wait: Duration,
    /// Pause between rounds when there is nothing to do.
    pub poll: Duration,
    /// Longest pause after repeated failures.
    pub max_backoff: Duration,
    /// Confirmed batches whose block lies within this many blocks of the head are checked again
    /// (every `recheck_every`, and at once when the head goes back): a reorg or a restored node
    /// can take them away, and then they are sent again.
    pub recheck_depth: u64,
    /// How often recent confirmed batches are checked against the chain.
    pub recheck_every: Duration,
}

impl Default for AnchoringSettings {
    fn default() -> Self {
        AnchoringSettings {
            max_batch: 4096,
            max_status_batch: 256,
            max_wait: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            recheck_depth: 256,
            recheck_every: Duration::from_secs(10),
        }
    }
}

/// Why a round of the worker failed.
#[derive(Debug, thiserror::Error)]
pub enum AnchoringError {
    /// The chain failed or refused.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] ServiceError),
    /// The chain and this node disagree about what was anchored: needs an operator.
    #[error("inconsistent with the chain: {0}")]
    Inconsistent(String),
}

impl From<sea_orm::DbErr> for AnchoringError {
    fn from(error: sea_orm::DbErr) -> Self {
        AnchoringError::Storage(error.into())
    }
}

/// Where one credential sits on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorProof {
    /// The credential.
    pub credential_id: String,
    /// Its digest (hex).
    pub digest: String,
    /// The batch's sequence number.
    pub batch_sequence: i64,
    /// The Merkle root (hex).
    pub root: String,
    /// Its leaf index.
    pub leaf_index: i32,
    /// Sibling hashes, leaf to root (hex).
    pub proof: Vec<String>,
    /// The anchoring transaction, once confirmed.
    pub tx_hash: Option<String>,
    /// Its block, once confirmed.
    pub block_number: Option<i64>,
    /// Blocks on top of it, counting its own (0 before confirmation).
    pub confirmations: u64,
}

/// When the chain confirmed one history entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainConfirmation {
    /// The batch's sequence number.
    pub batch_sequence: i64,
    /// The transaction.
    pub tx_hash: String,
    /// Its block.
    pub block_number: i64,
    /// Blocks on top of it, counting its own.
    pub confirmations: u64,
}

/// The anchoring worker and its reads.
#[derive(Clone, Debug)]
pub struct AnchoringService {
    storage: Storage,
    chain: ChainClient,
    country: [u8; 2],
    settings: AnchoringSettings,
    /// The chain head the worker saw last (for confirmation counts without a chain call).
    head: Arc<AtomicU64>,
    /// Whether the node was found to serve the configured chain id.
    chain_checked: Arc<std::sync::atomic::AtomicBool>,
    /// When recent confirmed batches were last checked against the chain.
    last_recheck: Arc<std::sync::Mutex<Option<tokio::time::Instant>>>,
    /// Told when the former formed a batch: the chain loop sends it at once.
    formed: Arc<tokio::sync::Notify>,
    /// The Merkle trees of the batches whose proofs were asked for last.
    trees: moka::future::Cache<i64, Arc<MerkleTree>>,
}

/// How many batches' trees are kept for proofs (a tree of 4,096 leaves is ~300 KB).
const KEPT_TREES: u64 = 16;

fn hex32(text: &str) -> Result<B256, AnchoringError> {
    text.parse::<B256>()
        .or_else(|_| format!("0x{text}").parse::<B256>())
        .map_err(|_| AnchoringError::Inconsistent(format!("stored hash {text} is not 32 bytes of hex")))
}

fn parse_digest(text: &str) -> Result<[u8; 32], AnchoringError> {
    Ok(hex32(text)?.0)
}

impl AnchoringService {
    /// The worker of the authority of `country`, anchoring through `chain` (which knows the
    /// registries' addresses and signs as the authority's anchorer).
    pub fn new(
        storage: Storage,
        chain: ChainClient,
        country: [u8; 2],
        settings: AnchoringSettings,
    ) -> AnchoringService {
        AnchoringService {
            storage,
            chain,
            country,
            settings,
            head: Arc::new(AtomicU64::new(0)),
            chain_checked: Arc::default(),
            last_recheck: Arc::default(),
            formed: Arc::default(),
            trees: moka::future::Cache::new(KEPT_TREES),
        }
    }

    /// The chain client.
    pub fn chain(&self) -> &ChainClient {
        &self.chain
    }

    /// What waits to be formed into batches: the log's events after the former's cursor (not
    /// all of which anchor anything: submissions and refusals are read past) and the outbox's
    /// `anchor` rows, how many and since when the oldest (the anchoring lag).
    pub async fn backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), ServiceError> {
        let db = self.storage.db();
        let cursor =
            event_cursors::Entity::find_by_id(forming::READER.to_owned()).one(db).await?.map_or(0, |c| c.cursor);
        let unread = certification_events::Entity::find().filter(certification_events::Column::Seq.gt(cursor));
        let events = unread.clone().count(db).await?;
        let oldest_event =
            unread.order_by_asc(certification_events::Column::Seq).one(db).await?.map(|e| e.committed_at);
        let (rows, oldest_row) = Outbox::backlog_of(&self.storage, Topic::Anchor).await?;
        Ok((events + rows, oldest_event.into_iter().chain(oldest_row).min()))
    }

    /// Runs the chain loop until `shutdown` completes: sending formed batches, following the
    /// chain. Failures back off (the one [`Backoff`], from `poll` up to `max_backoff`) and are
    /// logged, never fatal: the batches keep everything until it lands. Batches are formed by
    /// the [`Former`].
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let backoff = Backoff { base: self.settings.poll, max: self.settings.max_backoff };
        let lease = Lease::new(self.storage.clone(), "anchoring");
        let mut failures = 0;
        loop {
            // Another replica anchors while it holds the lease.
            let round = if lease.hold().await { self.round().await } else { Ok(false) };
            let pause = match round {
                Ok(busy) => {
                    failures = 0;
                    if busy { Duration::ZERO } else { self.settings.poll }
                }
                Err(error) => {
                    let pause = backoff.after(failures);
                    failures += 1;
                    tracing::warn!(%error, retry_in = ?pause, "anchoring round failed");
                    pause
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
                _ = self.formed.notified() => {}
            }
        }
    }

    /// One round: index the chain, then send the oldest unconfirmed batch.
    /// Returns whether it did something (the caller then goes again at once).
    // At debug level: a round runs every poll, and only what it sends belongs in a trace.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn round(&self) -> Result<bool, AnchoringError> {
        if !self.chain_checked.load(Ordering::Relaxed) {
            self.chain.check_chain_id().await?;
            self.chain_checked.store(true, Ordering::Relaxed);
        }
        let head = self.chain.block_number().await?;
        let previous = self.head.swap(head, Ordering::Relaxed);
        self.recheck(head, head < previous).await?;
        self.index(head).await?;
        if let Some(batch) = self.oldest_unconfirmed().await? {
            self.send(batch).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Reads this authority's `BatchAnchored` events after the checkpoint and confirms what
    /// they name.
    async fn index(&self, head: u64) -> Result<(), AnchoringError> {
        let db = self.storage.db();
        let from = chain_checkpoints::next_block(db, CHECKPOINT).await?;
        if from > head {
            return Ok(());
        }
        let mut landed: Vec<(u64, Option<B256>, String, u64)> = self
            .chain
            .batch_anchored_by(self.country, from, head)
            .await?
            .into_iter()
            .map(|e| (e.sequence, Some(e.root), e.position.tx_hash.to_string(), e.position.block_number))
            .collect();
        landed.extend(
            self.chain
                .status_batches_by(self.country, from, head)
                .await?
                .into_iter()
                .map(|(sequence, _, position)| (sequence, None, position.tx_hash.to_string(), position.block_number)),
        );
        for (sequence, root, tx_hash, block) in landed {
            let sequence = sequence as i64;
            let Some(batch) = anchor_batches::Entity::find_by_id(sequence).one(db).await? else {
                return Err(AnchoringError::Inconsistent(format!(
                    "the chain holds batch {sequence} of this authority, which this node never formed"
                )));
            };
            if let (Some(formed), Some(anchored)) = (&batch.root, root)
                && hex32(formed)? != anchored
            {
                return Err(AnchoringError::Inconsistent(format!(
                    "batch {sequence} is anchored with root {anchored} but was formed with {formed}"
                )));
            }
            if batch.state != CONFIRMED {
                self.confirm(sequence, &tx_hash, block, None).await?;
            }
        }
        let mut batch = WriteBatch::default();
        batch.push(chain_checkpoints::save(CHECKPOINT, head, self.storage.backend()));
        self.apply(batch).await
    }

    /// Finds confirmed batches that the chain as it is now no longer holds (a reorg, a restored
    /// node, a chain reset) and puts them back to be sent again under their own sequence
    /// numbers: the lost batches are the newest, so the contract's next sequence is the first of
    /// them. Their credentials keep their Merkle proofs (same root, same leaf) and verify as
    /// "anchor pending" meanwhile. Runs every `recheck_every`, and at once when the head went
    /// back.
    async fn recheck(&self, head: u64, went_back: bool) -> Result<(), AnchoringError> {
        {
            let mut last = self.last_recheck.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !went_back && last.is_some_and(|at| at.elapsed() < self.settings.recheck_every) {
                return Ok(());
            }
            *last = Some(tokio::time::Instant::now());
        }
        let db = self.storage.db();
        let since = head.saturating_sub(self.settings.recheck_depth) as i64;
        let recent = anchor_batches::Entity::find()
            .filter(anchor_batches::Column::State.eq(CONFIRMED))
            .filter(anchor_batches::Column::BlockNumber.gt(since))
            .order_by_asc(anchor_batches::Column::Sequence)
            .all(db)
            .await?;
        let backend = self.storage.backend();
        let mut writes = WriteBatch::default();
        let mut lost = Vec::new();
        let mut lowest_lost_block = u64::MAX;
        for batch in recent {
            let (Some(tx_hash), Some(block)) = (batch.tx_hash.as_deref(), batch.block_number) else { continue };
            match self.chain.mined_in(hex32(tx_hash)?).await? {
                Some(now) if now as i64 == block => {}
                // Re-mined in another block by a reorg: still anchored, elsewhere.
                Some(now) => writes.push(
                    anchor_batches::Entity::update_many()
                        .col_expr(anchor_batches::Column::BlockNumber, Expr::value(now as i64))
                        .filter(anchor_batches::Column::Sequence.eq(batch.sequence))
                        .build(backend),
                ),
                None => {
                    lowest_lost_block = lowest_lost_block.min(block as u64);
                    lost.push(batch.sequence);
                    writes.push(
                        anchor_batches::Entity::update_many()
                            .col_expr(anchor_batches::Column::State, Expr::value(FORMED))
                            .col_expr(anchor_batches::Column::TxHash, Expr::value(Option::<String>::None))
                            .col_expr(anchor_batches::Column::BlockNumber, Expr::value(Option::<i64>::None))
                            .col_expr(anchor_batches::Column::GasUsed, Expr::value(Option::<i64>::None))
                            .col_expr(anchor_batches::Column::ConfirmedAt, Expr::value(Option::<DateTime<Utc>>::None))
                            .filter(anchor_batches::Column::Sequence.eq(batch.sequence))
                            .filter(anchor_batches::Column::State.eq(CONFIRMED))
                            .build(backend),
                    );
                }
            }
        }
        // The indexer must read again whatever lies past the chain as it is now: the batches
        // sent again land there, and "already on chain" relies on their events being indexed.
        let read_up_to = chain_checkpoints::next_block(db, CHECKPOINT).await?.checked_sub(1);
        if let Some(read_up_to) = read_up_to {
            let rewound = read_up_to.min(head).min(lowest_lost_block.saturating_sub(1));
            if rewound < read_up_to {
                writes.push(chain_checkpoints::save(CHECKPOINT, rewound, backend));
            }
        }
        if !lost.is_empty() {
            tracing::warn!(?lost, head, "the chain no longer holds these confirmed batches; sending them again");
        }
        self.apply(writes).await
    }

    async fn apply(&self, batch: WriteBatch) -> Result<(), AnchoringError> {
        self.storage.apply_alone(batch).await.map_err(|e| match e {
            ApplyError::Db(db) => db.into(),
            ApplyError::Conflict(c) => AnchoringError::Inconsistent(c.to_owned()),
        })
    }

    async fn oldest_unconfirmed(&self) -> Result<Option<anchor_batches::Model>, AnchoringError> {
        Ok(anchor_batches::Entity::find()
            .filter(anchor_batches::Column::State.eq(FORMED))
            .order_by_asc(anchor_batches::Column::Sequence)
            .one(self.storage.db())
            .await?)
    }

    /// Sends a formed batch, unless the chain already has it; confirms it either way. Its span
    /// continues the trace of the outbox round that formed it.
    async fn send(&self, batch: anchor_batches::Model) -> Result<(), AnchoringError> {
        let span = tracing::info_span!(
            "anchor batch",
            otel.kind = "client",
            sequence = batch.sequence,
            kind = %batch.kind,
            count = batch.count,
            tx_hash = tracing::field::Empty,
            block = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        if let Some(formed_in) = &batch.trace_context {
            crate::trace_context::continue_stored(&span, formed_in);
        }
        crate::trace_context::record_trace_id(&span);
        self.send_now(batch).instrument(span).await
    }

    async fn send_now(&self, batch: anchor_batches::Model) -> Result<(), AnchoringError> {
        let sequence = batch.sequence as u64;
        let last = self.chain.last_sequence(self.country).await?;
        if last >= sequence {
            // It landed (before a crash, or a send whose answer was lost). Its event lies after
            // the checkpoint (an event seen before would have confirmed it), so the next
            // round's indexing confirms it.
            tracing::info!(sequence, "batch already on chain; confirming from its event");
            return Ok(());
        }
        if last + 1 != sequence {
            return Err(AnchoringError::Inconsistent(format!(
                "the chain's last batch of this authority is {last}, this node's next is {sequence}"
            )));
        }
        crash_point("sending");
        let sent = if batch.kind == ANCHOR {
            let root = hex32(batch.root.as_deref().unwrap_or_default())?;
            self.chain.anchor_batch(root, batch.count as u32, sequence).await
        } else {
            let rows = anchor_batch_entries::Entity::find()
                .filter(anchor_batch_entries::Column::BatchSequence.eq(batch.sequence))
                .order_by_asc(anchor_batch_entries::Column::Id)
                .all(self.storage.db())
                .await?;
            let digests = rows.iter().map(|r| hex32(&r.digest)).collect::<Result<Vec<_>, _>>()?;
            let statuses: Vec<u8> = rows.iter().map(|r| r.status_code.unwrap_or(0) as u8).collect();
            self.chain.record_status_batch(sequence, &digests, &statuses).await
        };
        match sent {
            Ok(outcome) => {
                crash_point("sent");
                let span = tracing::Span::current();
                span.record("tx_hash", tracing::field::display(&outcome.tx_hash));
                span.record("block", outcome.block_number);
                tracing::info!(sequence, tx = %outcome.tx_hash, block = outcome.block_number, gas = outcome.gas_used, "batch anchored");
                self.confirm(batch.sequence, &outcome.tx_hash.to_string(), outcome.block_number, Some(outcome.gas_used))
                    .await
            }
            // Another send of this batch landed first: indexing confirms it.
            Err(ChainError::BadSequence { expected, got }) if expected == got + 1 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn confirm(&self, sequence: i64, tx_hash: &str, block: u64, gas: Option<u64>) -> Result<(), AnchoringError> {
        let mut update = anchor_batches::Entity::update_many()
            .col_expr(anchor_batches::Column::State, Expr::value(CONFIRMED))
            .col_expr(anchor_batches::Column::TxHash, Expr::value(tx_hash))
            .col_expr(anchor_batches::Column::BlockNumber, Expr::value(block as i64))
            .col_expr(anchor_batches::Column::ConfirmedAt, Expr::value(Utc::now()))
            .filter(anchor_batches::Column::Sequence.eq(sequence));
        if let Some(gas) = gas {
            update = update.col_expr(anchor_batches::Column::GasUsed, Expr::value(gas as i64));
        }
        let mut batch = WriteBatch::default();
        batch.push(update.build(self.storage.backend()));
        self.apply(batch).await
    }

    /// Where a credential of this node sits on chain: None until its batch is formed (or when
    /// this node never anchored it). The proof is computed from the batch's entries.
    pub async fn proof_of(&self, digest: &str) -> Result<Option<AnchorProof>, ServiceError> {
        let db = self.storage.db();
        let Some(entry) = anchor_batch_entries::Entity::find()
            .filter(anchor_batch_entries::Column::Digest.eq(digest))
            .filter(anchor_batch_entries::Column::Kind.eq(ANCHOR))
            .order_by_asc(anchor_batch_entries::Column::Id)
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let Some(sequence) = entry.batch_sequence else { return Ok(None) };
        let batch = anchor_batches::Entity::find_by_id(sequence)
            .one(db)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("batch {sequence} is missing").into()))?;
        let wanted = parse_digest(digest).map_err(ServiceError::internal)?;
        let (leaf_index, proof) = self
            .tree_of(sequence)
            .await?
            .find(&wanted)
            .ok_or_else(|| ServiceError::Internal(format!("batch {sequence} lacks its entry {digest}").into()))?;
        Ok(Some(AnchorProof {
            credential_id: entry.credential_id,
            digest: digest.to_owned(),
            batch_sequence: batch.sequence,
            root: batch.root.unwrap_or_default(),
            leaf_index: leaf_index as i32,
            proof: proof.iter().map(hex::encode).collect(),
            tx_hash: batch.tx_hash,
            confirmations: self.confirmations(batch.block_number),
            block_number: batch.block_number,
        }))
    }

    /// The Merkle tree of ANCHOR batch `sequence`, rebuilt from its entries (a formed batch never
    /// changes, so the trees asked for last are kept).
    async fn tree_of(&self, sequence: i64) -> Result<Arc<MerkleTree>, ServiceError> {
        let storage = self.storage.clone();
        self.trees
            .try_get_with(sequence, async move {
                let digests = anchor_batch_entries::Entity::find()
                    .select_only()
                    .column(anchor_batch_entries::Column::Digest)
                    .filter(anchor_batch_entries::Column::BatchSequence.eq(sequence))
                    .order_by_asc(anchor_batch_entries::Column::Id)
                    .into_tuple::<String>()
                    .all(storage.db())
                    .await?
                    .iter()
                    .map(|d| parse_digest(d))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(ServiceError::internal)?;
                Ok::<_, ServiceError>(Arc::new(MerkleTree::build(&digests).map_err(ServiceError::internal)?))
            })
            .await
            .map_err(|e: Arc<ServiceError>| ServiceError::Internal(e.to_string().into()))
    }

    fn confirmations(&self, block: Option<i64>) -> u64 {
        match block {
            Some(block) => self.head.load(Ordering::Relaxed).saturating_sub(block as u64) + 1,
            None => 0,
        }
    }

    /// The chain confirmation of the history entry `(lineage, seq)`, when it has one.
    pub async fn confirmation_of(&self, lineage: Uuid, seq: i64) -> Result<Option<ChainConfirmation>, ServiceError> {
        let db = self.storage.db();
        let Some(row) = anchor_batch_entries::Entity::find()
            .filter(anchor_batch_entries::Column::LineageId.eq(lineage))
            .filter(anchor_batch_entries::Column::HistorySeq.eq(seq))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let Some(sequence) = row.batch_sequence else { return Ok(None) };
        let batch = anchor_batches::Entity::find_by_id(sequence).one(db).await?;
        Ok(batch.and_then(|b| match (b.tx_hash, b.block_number) {
            (Some(tx_hash), Some(block)) => Some(ChainConfirmation {
                batch_sequence: b.sequence,
                tx_hash,
                block_number: block,
                confirmations: self.confirmations(Some(block)),
            }),
            _ => None,
        }))
    }

    /// Checks a proof locally: the same computation `MerkleProof.verify` does on chain.
    pub fn verify_locally(proof: &AnchorProof) -> bool {
        let (Ok(root), Ok(digest)) = (parse_digest(&proof.root), parse_digest(&proof.digest)) else { return false };
        let siblings: Result<Vec<[u8; 32]>, _> = proof.proof.iter().map(|p| parse_digest(p)).collect();
        siblings.is_ok_and(|s| merkle::verify(&root, &s, &digest))
    }
}
