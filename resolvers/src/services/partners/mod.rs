//! The MRA partner network: who this node's partners are (from the chain), telling them of
//! every certification event over an encrypted, authenticated channel, and receiving theirs.
//!
//! **Partners.** The authority registry holds the MRAs; this node follows its MRA events and
//! keeps `mra_partners` (state, scope, the partner's DID) current. A partner's key-agreement
//! key and inbox come from its DID document.
//!
//! **Sending.** A grant, status change or amendment writes a `partner_events` row in the
//! transition's transaction. A dispatcher (one task, so numbering cannot race) queues each
//! event for every ACTIVE partner whose MRA scope covers the certificate type, numbering
//! messages per partner from 1 without gaps, in one transaction with marking the event
//! dispatched. A sender delivers each partner's queue in order: the message (the event, the
//! signed credential, its anchor proof, the current signed status lists) is signed by this
//! node (JWS, EdDSA or ES256) and encrypted to the partner's X25519 key (JWE, ECDH-ES +
//! A256GCM), and POSTed to the partner's `/partner/inbox`. Grants wait until their credential
//! is anchored, so the partner can verify everything. Failures retry with backoff; a partner
//! down for an hour gets everything, in order, when it is back.
//!
//! **Receiving.** The inbox decrypts, checks the signature against the sender's DID document,
//! the sender against the MRA (active, in scope), the number against what was received
//! (the same message again is acknowledged; another one under a used number is a replay; a
//! number past the next is a gap, answered with the number expected, and the receiver pulls
//! the missing messages from the sender's authenticated `/partner/feed`). The credential is
//! verified in full (proof, issuer per the registry, anchor on chain, status) before it is
//! stored as a read-only partner record; the event then goes to `certificationEvents`
//! subscribers and to the signed webhooks.
//!
//! **Refusal is not delivery.** The inbox acknowledges a message only once it holds it for
//! good: taken, or refused for a reason no resend can change (forged, another issuer, not an
//! AEO certification, out of scope), and then the refusal is recorded on both sides
//! ([`message_log`]). A message that cannot be judged now (the sender's DID document or
//! anchor proof unreachable because the sender died mid-delivery, the chain unreachable, an
//! anchor pending after a rollback) is answered 503: nothing is stored, its number stays open,
//! and the sender sends it again. Every five minutes (and when an ADMIN asks) each partner's
//! holdings are reconciled with what the sender says it sent ([`reconciliation`]).

mod message_log;
mod reconciliation;
pub use message_log::{MessageDirection, MessageLogEntry};
pub use reconciliation::{Divergence, PartnerState, Reconciliation};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cadena_contracts::{ChainClient, MraState};
use cadena_credentials::jose;
use cadena_credentials::keys::PublicKey;
use cadena_credentials::validity::ValidityPeriod;
use cadena_credentials::verification::Outcome;
use cadena_credentials::{CertificateType, CountryCode, Status, Transition};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::errors::ServiceError;
use crate::events::{CertificationEvent, EventBus};
use crate::services::anchoring::AnchoringService;
use crate::services::credentials::CredentialService;
use crate::services::retry::Backoff;
use crate::services::webhooks::WebhookService;
use crate::storage::entities::{
    certifications, chain_checkpoints, mra_partners, partner_certifications, partner_events, partner_inbox,
    partner_outbox,
};
use crate::storage::{ApplyError, Storage, WriteBatch};

/// The message type partners exchange.
pub const MESSAGE_TYPE: &str = "cadena.partner.certification-event/v1";
const CHECKPOINT: &str = "mras";
/// How far a partner's feed request's `iat` may be from now.
const FEED_CLOCK_SKEW: i64 = 60;
/// How often holdings are reconciled with each partner.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);

/// The bit of a certificate type in an MRA scope.
pub fn scope_bit(certificate_type: &str) -> i16 {
    match CertificateType::parse(certificate_type) {
        Some(CertificateType::SecurityAndSafety) => 1,
        Some(CertificateType::CustomsSimplifications) => 2,
        Some(CertificateType::Full) => 4,
        None => 0,
    }
}

/// The `partner_events` row of a transition partners hear of (a grant, amendment or status
/// change), to commit with the transition.
pub fn event_statement(
    backend: DbBackend,
    row: &certifications::Model,
    entry: &cadena_credentials::HistoryEntry,
    credential_id: &str,
    replaces: Option<&str>,
) -> Statement {
    let event = json!({
        "transition": entry.transition.as_str(),
        "status": entry.to.as_str(),
        "at": entry.at,
        "reason": entry.reason,
        "certificationId": row.id,
        "lineageId": row.lineage_id,
        "version": row.version,
        "credentialId": credential_id,
        "replaces": replaces,
    });
    partner_events::Entity::insert(partner_events::ActiveModel {
        certification_id: Set(row.id),
        credential_id: Set(credential_id.to_owned()),
        certificate_type: Set(row.certificate_type.clone()),
        event: Set(event.to_string()),
        dispatched: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .build(backend)
}

/// The statement queuing `event` for `partner` as message `seq`; a grant waits for its
/// credential's anchor.
fn queue_statement(backend: DbBackend, partner: &str, seq: i64, event: &partner_events::Model) -> Statement {
    let is_grant = serde_json::from_str::<Value>(&event.event).ok().is_some_and(|e| e["transition"] == "APPROVE");
    partner_outbox::Entity::insert(partner_outbox::ActiveModel {
        partner: Set(partner.to_owned()),
        seq: Set(seq),
        event_id: Set(event.id),
        needs_anchor: Set(is_grant),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(Utc::now()),
        delivered_at: Set(None),
        refusal: Set(None),
        created_at: Set(Utc::now()),
    })
    .build(backend)
}

/// A message between partners, before signing and encryption.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerMessage {
    /// [`MESSAGE_TYPE`].
    #[serde(rename = "type")]
    pub message_type: String,
    /// Sender's country.
    pub from: String,
    /// Recipient's country.
    pub to: String,
    /// The sender's number for this recipient, from 1.
    pub seq: i64,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// The transition (see [`event_statement`]).
    pub event: Value,
    /// The signed credential.
    pub credential: Value,
    /// The credential's anchor proof.
    pub anchor: Option<crate::services::anchoring::AnchorProof>,
    /// The sender's current signed status list credentials of the credential's entries.
    pub status_lists: Vec<Value>,
}

/// Why a partner message was refused. Each says what and why; the inbox logs every one.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// Not a JWE for this node, or tampered with.
    #[error("cannot decrypt: {0}")]
    Undecryptable(String),
    /// The signature does not verify with the sender's DID document.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The sender is not an active MRA partner of this node.
    #[error("{0} is not an active MRA partner of this authority")]
    NotPartner(String),
    /// The message is malformed or addressed elsewhere.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A different message under a number already used.
    #[error("replay: message {seq} from {partner} was already received with different content")]
    Replay {
        /// The partner.
        partner: String,
        /// The number.
        seq: i64,
    },
    /// A number past the next one: earlier messages are missing.
    #[error("gap: expected message {expected} from {partner}, got {got}")]
    Gap {
        /// The partner.
        partner: String,
        /// The number expected next.
        expected: i64,
        /// The number received.
        got: i64,
    },
    /// The certificate type is not shared under the MRA.
    #[error("out of scope: {certificate_type} certificates are not shared under the MRA with {partner}")]
    OutOfScope {
        /// The partner.
        partner: String,
        /// The type.
        certificate_type: String,
    },
    /// The message cannot be judged now (the sender's documents or the chain unreachable, its
    /// anchor pending): nothing was stored, its number stays open, and the sender sends it again.
    #[error("the message cannot be judged now, send it again later: {0}")]
    Undecided(String),
    /// This node failed (storage, chain).
    #[error("internal error")]
    Internal(#[from] ServiceError),
}

/// What the receiver makes of a message it could read.
#[derive(Debug)]
enum Verdict {
    /// Verified: the partner record to store.
    Accept(Box<partner_certifications::Model>),
    /// Refused for a reason a resend cannot change (forged, another issuer, not an AEO
    /// certification): the number is spent and the refusal recorded on both sides.
    Refuse(String),
    /// Not decided (a fragment could not be checked, or the anchor is pending): nothing is
    /// stored and the sender tries again.
    Undecided(String),
}

/// The inbox's answer to a message it took.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InboxAck {
    /// The number acknowledged.
    pub seq: i64,
    /// Whether its content was accepted (a refused one is still consumed, and recorded with its
    /// reason on both sides; one that could not be judged is not acknowledged at all).
    pub accepted: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// Sending, receiving and following MRAs.
#[derive(Clone)]
pub struct PartnerService {
    /// Circuit breakers of live questions to partners.
    breakers: Arc<Mutex<Breakers>>,
    storage: Storage,
    chain: ChainClient,
    country: CountryCode,
    credentials: CredentialService,
    anchoring: AnchoringService,
    bus: EventBus,
    webhooks: WebhookService,
    http: reqwest::Client,
    /// Feed request ids seen recently (a request cannot be replayed).
    seen_feed_requests: Arc<Mutex<HashMap<String, i64>>>,
    /// Serialises message processing per partner: numbers are checked and stored in order.
    inbox_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for PartnerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerService").field("country", &self.country.as_str()).finish_non_exhaustive()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn code(country: &str) -> [u8; 2] {
    let bytes = country.as_bytes();
    [bytes.first().copied().unwrap_or(b'?'), bytes.get(1).copied().unwrap_or(b'?')]
}

fn country_of(code: [u8; 2]) -> String {
    String::from_utf8_lossy(&code).into_owned()
}

impl PartnerService {
    /// The partner network of the node of `country`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        storage: Storage,
        chain: ChainClient,
        country: CountryCode,
        credentials: CredentialService,
        anchoring: AnchoringService,
        bus: EventBus,
        webhooks: WebhookService,
    ) -> PartnerService {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        PartnerService {
            storage,
            chain,
            country,
            credentials,
            anchoring,
            bus,
            webhooks,
            http,
            seen_feed_requests: Arc::default(),
            inbox_lock: Arc::default(),
            breakers: Arc::default(),
        }
    }

    /// The chain client (MRA transactions sign with the authority's anchorer key).
    pub fn chain(&self) -> &ChainClient {
        &self.chain
    }

    async fn apply(&self, batch: WriteBatch) -> Result<(), ServiceError> {
        let mut gate = self.storage.write_gate().await;
        self.storage.apply(&mut gate, batch).await.map_err(|e| match e {
            ApplyError::Db(db) => db.into(),
            ApplyError::Conflict(c) => ServiceError::Conflict(c.into()),
        })
    }

    /// Runs the partner loops until `shutdown`: following MRAs, dispatching events, delivering
    /// messages, and pulling from partners' feeds now and then (the safety net for anything a
    /// partner could not push).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        // A local transition wakes the loop at once: partners hear of it without a poll's delay.
        let mut transitions = self.bus.subscribe();
        // The first round pulls at once: a node back from downtime catches up without waiting.
        let mut last_pull: Option<tokio::time::Instant> = None;
        let mut last_follow: Option<tokio::time::Instant> = None;
        let mut last_reconciliation: Option<tokio::time::Instant> = None;
        let lease = crate::services::lease::Lease::new(self.storage.clone(), "partners");
        loop {
            let mut busy = false;
            // Another replica talks to partners while it holds the lease.
            if !lease.hold().await {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                continue;
            }
            if last_follow.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                last_follow = Some(tokio::time::Instant::now());
                if let Err(error) = self.follow_mras().await {
                    tracing::warn!(%error, "following MRAs failed");
                }
            }
            match self.dispatch().await {
                Ok(n) => busy |= n > 0,
                Err(error) => tracing::warn!(%error, "dispatching partner events failed"),
            }
            match self.deliver().await {
                Ok(n) => busy |= n > 0,
                Err(error) => tracing::warn!(%error, "delivering partner messages failed"),
            }
            if last_pull.is_none_or(|at| at.elapsed() > Duration::from_secs(30)) {
                last_pull = Some(tokio::time::Instant::now());
                if let Err(error) = self.pull_all().await {
                    tracing::warn!(%error, "pulling partner feeds failed");
                }
            }
            if last_reconciliation.is_none_or(|at| at.elapsed() > RECONCILE_EVERY) {
                last_reconciliation = Some(tokio::time::Instant::now());
                self.reconcile_all().await;
            }
            let pause = if busy { Duration::ZERO } else { Duration::from_millis(500) };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(pause) => {}
                _ = transitions.recv() => {}
            }
        }
    }

    // ---------------------------------------------------------------- MRAs

    /// Reads MRA events after the checkpoint and refreshes the partners they concern from the
    /// registry's current state.
    async fn follow_mras(&self) -> Result<(), ServiceError> {
        let db = self.storage.db();
        let chain_error = |e: cadena_contracts::ChainError| ServiceError::Internal(Box::new(e));
        let head = self.chain.block_number().await.map_err(chain_error)?;
        let from = chain_checkpoints::next_block(db, CHECKPOINT).await?;
        if from > head {
            return Ok(());
        }
        let own = code(self.country.as_str());
        let mut partners = Vec::new();
        for event in self.chain.mra_events(from, head).await.map_err(chain_error)? {
            // The event only says which pair changed; the registry says what it is now.
            let partner = if event.low == own {
                event.high
            } else if event.high == own {
                event.low
            } else {
                continue;
            };
            if !partners.contains(&partner) {
                partners.push(partner);
            }
        }
        for partner in partners {
            self.refresh_partner(partner).await?;
        }
        self.save_checkpoint(head).await
    }

    async fn save_checkpoint(&self, head: u64) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(chain_checkpoints::save(CHECKPOINT, head, self.storage.backend()));
        self.apply(batch).await
    }

    /// Reads the MRA with `partner` and its authority's DID from the chain into `mra_partners`.
    pub async fn refresh_partner(&self, partner: [u8; 2]) -> Result<(), ServiceError> {
        let chain_error = |e: cadena_contracts::ChainError| ServiceError::Internal(Box::new(e));
        let own = code(self.country.as_str());
        let mra = self.chain.mra(own, partner).await.map_err(chain_error)?;
        let authority = self.chain.authority(partner).await.map_err(chain_error)?;
        let state = match mra.state {
            MraState::None => "NONE",
            MraState::Proposed => "PROPOSED",
            MraState::Active => "ACTIVE",
            MraState::Suspended => "SUSPENDED",
            MraState::Terminated => "TERMINATED",
        };
        let row = mra_partners::ActiveModel {
            country: Set(country_of(partner)),
            state: Set(state.to_owned()),
            scope: Set(mra.scope as i16),
            did: Set(authority.map(|a| a.did).unwrap_or_default()),
            since_block: Set(mra.since_block as i64),
            updated_at: Set(Utc::now()),
        };
        let previous = mra_partners::Entity::find_by_id(country_of(partner)).one(self.storage.db()).await?;
        let mut batch = WriteBatch::default();
        // Becoming active (or sharing more types): the partner is told the current state of every
        // certification it had not heard of, in the same transaction as the MRA's new state.
        if state == "ACTIVE" {
            let shared_before = previous.as_ref().filter(|p| p.state == "ACTIVE").map_or(0, |p| p.scope);
            if (mra.scope as i16) & !shared_before != 0 {
                self.backfill(&country_of(partner), mra.scope as i16, &mut batch).await?;
            }
        }
        batch.push(
            mra_partners::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(mra_partners::Column::Country)
                        .update_columns([
                            mra_partners::Column::State,
                            mra_partners::Column::Scope,
                            mra_partners::Column::Did,
                            mra_partners::Column::SinceBlock,
                            mra_partners::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .build(self.storage.backend()),
        );
        tracing::info!(partner = %country_of(partner), state, scope = mra.scope, "MRA partner refreshed");
        self.apply(batch).await
    }

    /// Queues for `partner` (sharing `scope`) the newest event of every credential in scope
    /// that it was not sent, oldest first, numbered after its last message: what it must hold
    /// from now on, as if it had heard everything (events not yet dispatched reach it normally).
    async fn backfill(&self, partner: &str, scope: i16, batch: &mut WriteBatch) -> Result<(), ServiceError> {
        let db = self.storage.db();
        let events = partner_events::Entity::find()
            .filter(partner_events::Column::Dispatched.eq(true))
            .order_by_asc(partner_events::Column::Id)
            .all(db)
            .await?;
        let sent: std::collections::HashSet<i64> = partner_outbox::Entity::find()
            .filter(partner_outbox::Column::Partner.eq(partner))
            .all(db)
            .await?
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        // The newest event of each credential, if the partner never got that one.
        let mut newest: HashMap<&str, &partner_events::Model> = HashMap::new();
        for event in events.iter().filter(|e| scope & scope_bit(&e.certificate_type) != 0) {
            newest.insert(&event.credential_id, event);
        }
        let mut due: Vec<&partner_events::Model> = newest.into_values().filter(|e| !sent.contains(&e.id)).collect();
        due.sort_by_key(|e| e.id);
        let last = self.last_numbered(partner).await?;
        let backend = self.storage.backend();
        for (n, event) in due.iter().enumerate() {
            batch.push(queue_statement(backend, partner, last + 1 + n as i64, event));
        }
        if !due.is_empty() {
            tracing::info!(partner, certifications = due.len(), "the partner is told what it had not heard");
        }
        Ok(())
    }

    /// The last number given to a message for `partner` (0: none yet).
    async fn last_numbered(&self, partner: &str) -> Result<i64, ServiceError> {
        Ok(partner_outbox::Entity::find()
            .select_only()
            .column_as(partner_outbox::Column::Seq.max(), "max")
            .filter(partner_outbox::Column::Partner.eq(partner))
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten()
            .unwrap_or(0))
    }

    /// This node's MRAs as last read from the chain.
    pub async fn partners(&self) -> Result<Vec<mra_partners::Model>, ServiceError> {
        Ok(mra_partners::Entity::find().order_by_asc(mra_partners::Column::Country).all(self.storage.db()).await?)
    }

    async fn active_partner_by_did(&self, did: &str) -> Result<Option<mra_partners::Model>, ServiceError> {
        Ok(mra_partners::Entity::find()
            .filter(mra_partners::Column::Did.eq(did))
            .filter(mra_partners::Column::State.eq("ACTIVE"))
            .one(self.storage.db())
            .await?)
    }

    // ---------------------------------------------------------------- sending

    /// Queues undispatched events for the partners they concern; returns how many events.
    async fn dispatch(&self) -> Result<usize, ServiceError> {
        let db = self.storage.db();
        let events = partner_events::Entity::find()
            .filter(partner_events::Column::Dispatched.eq(false))
            .order_by_asc(partner_events::Column::Id)
            .limit(100)
            .all(db)
            .await?;
        if events.is_empty() {
            return Ok(0);
        }
        let partners: Vec<mra_partners::Model> =
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(db).await?;
        let mut next: HashMap<String, i64> = HashMap::new();
        for partner in &partners {
            next.insert(partner.country.clone(), self.last_numbered(&partner.country).await? + 1);
        }
        let backend = self.storage.backend();
        let count = events.len();
        for event in events {
            let mut batch = WriteBatch::default();
            let bit = scope_bit(&event.certificate_type);
            for partner in partners.iter().filter(|p| p.scope & bit != 0) {
                let seq = next.get_mut(&partner.country).expect("numbered above");
                batch.push(queue_statement(backend, &partner.country, *seq, &event));
                *seq += 1;
            }
            batch.push_guarded(
                partner_events::Entity::update_many()
                    .col_expr(partner_events::Column::Dispatched, Expr::value(true))
                    .filter(partner_events::Column::Id.eq(event.id))
                    .filter(partner_events::Column::Dispatched.eq(false))
                    .build(backend),
                "the event was dispatched twice",
            );
            self.apply(batch).await?;
        }
        Ok(count)
    }

    /// Builds the message `seq` for `partner`, or None while its credential waits for its anchor.
    async fn message(&self, row: &partner_outbox::Model) -> Result<Option<PartnerMessage>, ServiceError> {
        let db = self.storage.db();
        let event = partner_events::Entity::find_by_id(row.event_id)
            .one(db)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("partner event {} is missing", row.event_id).into()))?;
        let stored =
            self.credentials.stored(&event.credential_id).await?.ok_or_else(|| {
                ServiceError::Internal(format!("credential {} is missing", event.credential_id).into())
            })?;
        let anchor = self.anchoring.proof_of(&stored.digest).await?;
        if row.needs_anchor && anchor.as_ref().is_none_or(|a| a.tx_hash.is_none()) {
            return Ok(None);
        }
        let credential: Value = serde_json::from_str(&stored.document).map_err(ServiceError::internal)?;
        let mut status_lists = Vec::new();
        for purpose in ["revocation", "suspension"] {
            if let Some(list) = self.credentials.status_list(&format!("{purpose}-{}", stored.status_list)).await? {
                status_lists.push(list.as_ref().clone());
            }
        }
        Ok(Some(PartnerMessage {
            message_type: MESSAGE_TYPE.to_owned(),
            from: self.country.as_str().to_owned(),
            to: row.partner.clone(),
            seq: row.seq,
            sent_at: Utc::now(),
            event: serde_json::from_str(&event.event).map_err(ServiceError::internal)?,
            credential,
            anchor,
            status_lists,
        }))
    }

    /// The partner's key-agreement key and its id, from its DID document.
    async fn agreement_key_of(&self, did: &str) -> Result<(String, x25519_dalek::PublicKey), String> {
        let document = self.credentials.resolve_did(did, false).await.map_err(|e| e.to_string())?;
        let method = document["keyAgreement"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|m| m.as_str().map(str::to_owned).or_else(|| m["id"].as_str().map(str::to_owned)))
            .ok_or_else(|| format!("{did} has no keyAgreement key"))?;
        let method = if method.starts_with('#') { format!("{did}{method}") } else { method };
        let entry = document["verificationMethod"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(document["keyAgreement"].as_array().into_iter().flatten())
            .find(|m| {
                m["id"].as_str().map(|id| if id.starts_with('#') { format!("{did}{id}") } else { id.to_owned() })
                    == Some(method.clone())
            })
            .ok_or_else(|| format!("{method} is not in {did}'s document"))?;
        let multibase =
            entry["publicKeyMultibase"].as_str().ok_or_else(|| format!("{method} has no publicKeyMultibase"))?;
        let key = cadena_credentials::keys::x25519_from_multibase(multibase).map_err(|e| e.to_string())?;
        Ok((method, key))
    }

    /// Signs and encrypts a message for a partner.
    async fn seal(&self, partner: &mra_partners::Model, message: &PartnerMessage) -> Result<String, String> {
        let (recipient_kid, recipient) = self.agreement_key_of(&partner.did).await?;
        let (kid, key) = self.credentials.identity().signing_key();
        let payload = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        jose::seal(&payload, &key, &kid, &recipient, &recipient_kid).map_err(|e| e.to_string())
    }

    /// The base URL of a did:web.
    fn base_url(did: &str) -> Result<String, String> {
        let document = cadena_credentials::did::did_web_document_url(did).map_err(|e| e.to_string())?;
        Ok(document
            .strip_suffix("/.well-known/did.json")
            .or_else(|| document.strip_suffix("/did.json"))
            .unwrap_or(&document)
            .to_owned())
    }

    /// Delivers what is due, in order per partner; returns how many were delivered.
    async fn deliver(&self) -> Result<usize, ServiceError> {
        let db = self.storage.db();
        let partners: Vec<mra_partners::Model> = mra_partners::Entity::find().all(db).await?;
        let mut delivered = 0;
        for partner in partners {
            loop {
                let Some(row) = partner_outbox::Entity::find()
                    .filter(partner_outbox::Column::Partner.eq(&partner.country))
                    .filter(partner_outbox::Column::DeliveredAt.is_null())
                    .order_by_asc(partner_outbox::Column::Seq)
                    .one(db)
                    .await?
                else {
                    break;
                };
                if row.next_attempt_at > Utc::now() {
                    break;
                }
                // Later messages wait behind the first undelivered one: the partner applies
                // them in order.
                let Some(message) = self.message(&row).await? else { break };
                match self.send(&partner, &message).await {
                    Ok(refusal) => {
                        if let Some(reason) = &refusal {
                            tracing::warn!(partner = %partner.country, seq = row.seq, %reason, "the partner refused the message");
                        }
                        self.mark_delivered(&row, refusal.as_deref()).await?;
                        delivered += 1;
                    }
                    Err(error) => {
                        tracing::warn!(partner = %partner.country, seq = row.seq, %error, "partner delivery failed");
                        self.mark_failed(&row, &error).await?;
                        break;
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// Sends one message; Ok once the partner holds it for good, with the partner's reason when
    /// it refused it (a refusal no resend can change). Anything else, a 503 from a partner that
    /// could not judge it yet included, is an error: the message is sent again.
    async fn send(&self, partner: &mra_partners::Model, message: &PartnerMessage) -> Result<Option<String>, String> {
        let jwe = self.seal(partner, message).await?;
        let url = format!("{}/partner/inbox", Self::base_url(&partner.did)?);
        let response = self
            .http
            .post(&url)
            .header("content-type", "application/jose")
            .body(jwe)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            200 => match serde_json::from_value::<InboxAck>(body.clone()) {
                Ok(ack) if ack.seq == message.seq => {
                    Ok((!ack.accepted).then(|| ack.reason.unwrap_or_else(|| "refused without a reason".into())))
                }
                _ => Err(format!("POST {url}: HTTP 200 without an acknowledgement of {}: {body}", message.seq)),
            },
            // Spent and recorded as refused at the partner (outside the MRA's scope).
            422 => Ok(Some(body["error"]["message"].as_str().unwrap_or("out of scope").to_owned())),
            // The partner already has it (a replay of the same message is acknowledged too).
            409 if body["expected"].as_i64().is_some_and(|e| e > message.seq) => Ok(None),
            _ => Err(format!("POST {url}: HTTP {status}: {body}")),
        }
    }

    async fn mark_delivered(&self, row: &partner_outbox::Model, refusal: Option<&str>) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(
            partner_outbox::Entity::update_many()
                .col_expr(partner_outbox::Column::DeliveredAt, Expr::value(Utc::now()))
                .col_expr(partner_outbox::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(partner_outbox::Column::Refusal, Expr::value(refusal.map(str::to_owned)))
                .filter(partner_outbox::Column::Partner.eq(&row.partner))
                .filter(partner_outbox::Column::Seq.eq(row.seq))
                .build(self.storage.backend()),
        );
        self.apply(batch).await
    }

    async fn mark_failed(&self, row: &partner_outbox::Model, error: &str) -> Result<(), ServiceError> {
        let next = Utc::now() + Backoff::PARTNER.after(row.attempts.max(0) as u32);
        let mut batch = WriteBatch::default();
        batch.push(
            partner_outbox::Entity::update_many()
                .col_expr(partner_outbox::Column::Attempts, Expr::value(row.attempts + 1))
                .col_expr(partner_outbox::Column::LastError, Expr::value(error))
                .col_expr(partner_outbox::Column::NextAttemptAt, Expr::value(next))
                .filter(partner_outbox::Column::Partner.eq(&row.partner))
                .filter(partner_outbox::Column::Seq.eq(row.seq))
                .build(self.storage.backend()),
        );
        self.apply(batch).await
    }

    // ---------------------------------------------------------------- the feed

    /// A signed token authenticating this node to a partner's feed for `path`.
    fn feed_token(&self, audience: &str, path: &str) -> Result<String, String> {
        let (kid, key) = self.credentials.identity().signing_key();
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut jti);
        let claims = json!({
            "iss": self.credentials.identity().did(), "aud": audience, "path": path,
            "iat": Utc::now().timestamp(), "jti": hex::encode(jti),
        });
        Ok(jose::sign_jws(claims.to_string().as_bytes(), &key, &kid))
    }

    /// The messages for the partner authenticated by `token` after number `after`, sealed for
    /// it (at most 100). The token is a JWS by the partner over `{iss, aud, path, iat, jti}`.
    pub async fn feed(&self, token: &str, path: &str, after: i64) -> Result<Vec<String>, InboxError> {
        let partner = self.authenticate(token, path).await?;
        let rows = partner_outbox::Entity::find()
            .filter(partner_outbox::Column::Partner.eq(&partner.country))
            .filter(partner_outbox::Column::Seq.gt(after))
            .order_by_asc(partner_outbox::Column::Seq)
            .limit(100)
            .all(self.storage.db())
            .await
            .map_err(ServiceError::from)?;
        let mut sealed = Vec::new();
        for row in rows {
            // The feed stops where the queue waits (an unanchored grant): order is kept.
            let Some(message) = self.message(&row).await? else { break };
            sealed.push(
                self.seal(&partner, &message)
                    .await
                    .map_err(|e| InboxError::Internal(ServiceError::Internal(e.into())))?,
            );
        }
        Ok(sealed)
    }

    /// Reconciles with every active partner (see [`reconciliation`]); failures are logged and
    /// tried again next time.
    async fn reconcile_all(&self) {
        let Ok(partners) =
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(self.storage.db()).await
        else {
            return;
        };
        for partner in partners {
            if let Err(error) = self.reconcile(&partner).await {
                tracing::warn!(partner = %partner.country, %error, "reconciling with the partner failed");
            }
        }
    }

    /// Pulls every active partner's feed after what was received.
    async fn pull_all(&self) -> Result<(), ServiceError> {
        for partner in
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(self.storage.db()).await?
        {
            if let Err(error) = self.pull(&partner).await {
                tracing::warn!(partner = %partner.country, %error, "pulling the partner's feed failed");
            }
        }
        Ok(())
    }

    /// GETs `path` (percent-encoded, with its query) from `partner`'s node, authenticated by a
    /// token for that path; the URL (for messages) and the response, whatever its status.
    async fn signed_get(
        &self,
        partner: &mra_partners::Model,
        path: &str,
    ) -> Result<(String, reqwest::Response), String> {
        let token = self.feed_token(&partner.did, path)?;
        let url = format!("{}{path}", Self::base_url(&partner.did)?);
        let response = self
            .http
            .get(&url)
            .header("authorization", format!("Cadena-Partner {token}"))
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok((url, response))
    }

    /// The sealed messages `partner`'s feed has for this node after number `after` (one page).
    async fn feed_page(&self, partner: &mra_partners::Model, after: i64) -> Result<Vec<String>, String> {
        let (url, response) = self.signed_get(partner, &format!("/partner/feed?after={after}")).await?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let body: Value = response.json().await.map_err(|e| format!("GET {url}: {e}"))?;
        body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m.as_str().map(str::to_owned).ok_or_else(|| "feed entries are JWE strings".to_owned()))
            .collect()
    }

    /// Pulls and processes what `partner` has after the last message received from it.
    pub async fn pull(&self, partner: &mra_partners::Model) -> Result<usize, String> {
        let last = self.last_received(&partner.country).await.map_err(|e| e.to_string())?;
        let mut taken = 0;
        for jwe in self.feed_page(partner, last).await? {
            match self.receive(&jwe).await {
                Ok(_) => taken += 1,
                Err(error) => return Err(format!("feed message refused: {error}")),
            }
        }
        if taken > 0 {
            tracing::info!(partner = %partner.country, taken, "pulled missed messages from the partner's feed");
        }
        Ok(taken)
    }

    async fn last_received(&self, partner: &str) -> Result<i64, ServiceError> {
        Ok(partner_inbox::Entity::find()
            .select_only()
            .column_as(partner_inbox::Column::Seq.max(), "max")
            .filter(partner_inbox::Column::Partner.eq(partner))
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten()
            .unwrap_or(0))
    }

    /// The key of a verification method named by a partner (from its DID document, re-read once
    /// if the method is not there: the partner may have rotated). A document that cannot be
    /// fetched now leaves the message undecided; a key that is not in it is a bad signature.
    async fn signing_key_of(&self, kid: &str) -> Result<PublicKey, InboxError> {
        let did = cadena_credentials::did::did_of(kid);
        for fresh in [false, true] {
            let document = self
                .credentials
                .resolve_did(did, fresh)
                .await
                .map_err(|e| InboxError::Undecided(format!("the sender's DID document cannot be read now: {e}")))?;
            match cadena_credentials::did::key_in_document(
                &document,
                kid,
                cadena_credentials::did::ProofPurpose::AssertionMethod,
            ) {
                Ok(key) => return Ok(key),
                Err(cadena_credentials::did::DidError::MethodNotFound { .. }) if !fresh => continue,
                Err(error) => return Err(InboxError::BadSignature(error.to_string())),
            }
        }
        Err(InboxError::BadSignature(format!("{kid} not found")))
    }

    // ---------------------------------------------------------------- receiving

    /// Decrypts a partner's message and checks who sent it, for whom, and what it is: an active
    /// MRA partner's signature, addressed to this node.
    async fn open(&self, jwe: &str) -> Result<(mra_partners::Model, PartnerMessage), InboxError> {
        let (own_kid, secret) = self.credentials.identity().agreement();
        let (_, jws) = jose::decrypt_jwe(jwe, &secret).map_err(|e| InboxError::Undecryptable(e.to_string()))?;
        let jws =
            String::from_utf8(jws).map_err(|_| InboxError::Undecryptable("the inner message is not text".into()))?;
        let header = jws_header(&jws).map_err(InboxError::BadSignature)?;
        let kid =
            header["kid"].as_str().ok_or_else(|| InboxError::BadSignature("the message has no kid".into()))?.to_owned();
        let did = cadena_credentials::did::did_of(&kid).to_owned();
        let partner = self.active_partner_by_did(&did).await?.ok_or_else(|| InboxError::NotPartner(did.clone()))?;
        let key = self.signing_key_of(&kid).await?;
        let (signed, payload) = jose::verify_jws(&jws, |k| (k == kid).then(|| key.clone()))
            .map_err(|e| InboxError::BadSignature(e.to_string()))?;
        // Signed for this node: a partner cannot re-encrypt another node's message to us.
        if signed.aud.as_deref() != Some(own_kid.as_str()) {
            return Err(InboxError::BadSignature(format!(
                "the message was signed for {:?}, not for this node",
                signed.aud
            )));
        }
        // Read as written: serde_json alone would take a private number key for the number.
        let message: PartnerMessage =
            cadena_credentials::json::from_slice_as(&payload).map_err(|e| InboxError::Malformed(e.to_string()))?;
        if message.message_type != MESSAGE_TYPE {
            return Err(InboxError::Malformed(format!("unknown message type {}", message.message_type)));
        }
        if message.to != self.country.as_str() || message.from != partner.country {
            return Err(InboxError::Malformed(format!(
                "message from {} to {} reached {} from {}",
                message.from,
                message.to,
                self.country.as_str(),
                partner.country
            )));
        }
        Ok((partner, message))
    }

    /// Takes one message from a partner (see the module docs for every check).
    #[tracing::instrument(skip_all)]
    pub async fn receive(&self, jwe: &str) -> Result<InboxAck, InboxError> {
        let (partner, message) = self.open(jwe).await?;
        // What the number stands for: the event and the credential. A resend of the same
        // message differs in its send time and its freshly signed status lists, never in these.
        let digest = sha256_hex(
            json!({ "from": message.from, "to": message.to, "seq": message.seq, "event": message.event, "credential": message.credential["id"] })
                .to_string()
                .as_bytes(),
        );
        // One message at a time: numbers are checked against what is stored.
        let _order = self.inbox_lock.lock().await;
        let db = self.storage.db();
        if let Some(seen) = partner_inbox::Entity::find_by_id((partner.country.clone(), message.seq))
            .one(db)
            .await
            .map_err(ServiceError::from)?
        {
            if seen.digest == digest {
                return Ok(InboxAck { seq: message.seq, accepted: seen.outcome == "ACCEPTED", reason: seen.reason });
            }
            tracing::warn!(partner = %partner.country, seq = message.seq, "replayed message number refused");
            return Err(InboxError::Replay { partner: partner.country.clone(), seq: message.seq });
        }
        let expected = self.last_received(&partner.country).await? + 1;
        if message.seq != expected {
            return Err(InboxError::Gap { partner: partner.country.clone(), expected, got: message.seq });
        }
        let certificate_type =
            message.credential["credentialSubject"]["certificateType"].as_str().unwrap_or_default().to_owned();
        if partner.scope & scope_bit(&certificate_type) == 0 {
            // Consumed (the number is used) but refused: logged with its reason.
            let error = InboxError::OutOfScope { partner: partner.country.clone(), certificate_type };
            self.record(&partner.country, message.seq, &digest, Err(error.to_string())).await?;
            return Err(error);
        }
        let seq = message.seq;
        let outcome = match self.judge(&partner, &message).await? {
            Verdict::Accept(record) => Ok((*record, message)),
            Verdict::Refuse(reason) => Err(reason),
            Verdict::Undecided(reason) => {
                tracing::info!(partner = %partner.country, seq = message.seq, %reason, "partner message not judged yet; the sender retries");
                return Err(InboxError::Undecided(reason));
            }
        };
        let ack = InboxAck { seq, accepted: outcome.is_ok(), reason: outcome.as_ref().err().cloned() };
        self.record(&partner.country, ack.seq, &digest, outcome).await?;
        Ok(ack)
    }

    /// Verifies the message's credential in full. A fragment that is INVALID refuses it for
    /// good; one that could not be checked (ERROR), or an anchor still pending (SKIPPED), leaves
    /// it undecided: the sender dying mid-verification, or a chain that rolled back, must not
    /// cost a partner a message.
    async fn judge(&self, partner: &mra_partners::Model, message: &PartnerMessage) -> Result<Verdict, InboxError> {
        let lists: HashMap<String, Arc<Value>> = message
            .status_lists
            .iter()
            .filter_map(|l| l["id"].as_str().map(|id| (id.to_owned(), Arc::new(l.clone()))))
            .collect();
        let report = match self.credentials.verify_with_lists(&message.credential, lists).await {
            Ok(report) => report,
            Err(error) => return Ok(Verdict::Refuse(format!("the credential cannot be read: {error}"))),
        };
        if report.issuer.as_deref() != Some(partner.did.as_str()) {
            return Ok(Verdict::Refuse(format!(
                "the credential is issued by {:?}, not by the partner {}",
                report.issuer, partner.did
            )));
        }
        for (name, check) in
            [("integrity", &report.integrity), ("issuer", &report.issuer_trust), ("anchor", &report.anchor)]
        {
            match check.outcome {
                Outcome::Valid => {}
                Outcome::Invalid => return Ok(Verdict::Refuse(format!("{name}: {}", check.reason))),
                Outcome::Error | Outcome::Skipped => {
                    return Ok(Verdict::Undecided(format!("{name}: {}", check.reason)));
                }
            }
        }
        if !cadena_credentials::credential::claims_aeo_certification(&message.credential) {
            return Ok(Verdict::Refuse(
                "the credential is not an AEO certification (a VC API credential, or untyped)".into(),
            ));
        }
        let subject = &message.credential["credentialSubject"];
        let event = &message.event;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let date = |v: &Value| v.as_str().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok());
        let parse_uuid = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
        let (Some(certification_id), Some(lineage_id), Some(valid_from)) = (
            parse_uuid(&event["certificationId"]),
            parse_uuid(&event["lineageId"]),
            date(&message.credential["validFrom"]),
        ) else {
            return Ok(Verdict::Refuse("the event lacks its certification ids or the credential its validFrom".into()));
        };
        Ok(Verdict::Accept(Box::new(partner_certifications::Model {
            credential_id: text(&message.credential["id"]),
            partner: partner.country.clone(),
            certification_id,
            lineage_id,
            version: event["version"].as_i64().unwrap_or(1) as i32,
            issuing_country: text(&subject["issuingCountry"]),
            tin: text(&subject["traderIdentificationNumber"]),
            operator_name: text(&subject["legalName"]),
            certificate_type: text(&subject["certificateType"]),
            status: text(&event["status"]),
            valid_from,
            valid_until: date(&message.credential["validUntil"]),
            credential: message.credential.to_string(),
            verification: serde_json::to_string(&report).unwrap_or_default(),
            last_seq: message.seq,
            updated_at: Utc::now(),
        })))
    }

    /// Stores a received message's number and outcome, and on acceptance the partner record,
    /// the webhook deliveries and (after commit) the event for subscribers; all in one
    /// transaction.
    async fn record(
        &self,
        partner: &str,
        seq: i64,
        digest: &str,
        outcome: Result<(partner_certifications::Model, PartnerMessage), String>,
    ) -> Result<(), InboxError> {
        let backend = self.storage.backend();
        let mut batch = WriteBatch::default();
        let reason = outcome.as_ref().err().cloned();
        batch.push(
            partner_inbox::Entity::insert(partner_inbox::ActiveModel {
                partner: Set(partner.to_owned()),
                seq: Set(seq),
                digest: Set(digest.to_owned()),
                outcome: Set(if outcome.is_ok() { "ACCEPTED" } else { "REFUSED" }.to_owned()),
                reason: Set(reason.clone()),
                received_at: Set(Utc::now()),
            })
            .build(backend),
        );
        let taken = outcome.is_ok();
        match outcome {
            Ok((record, message)) => self.take(&record, &message, &mut batch),
            Err(_) => tracing::warn!(partner, seq, reason = ?reason, "partner message refused"),
        }
        self.apply(batch).await?;
        if taken {
            self.bus.committed();
        }
        Ok(())
    }

    /// What holding a taken message writes: the partner record (and the replaced one marked
    /// AMENDED), its webhook calls and its event in the log.
    fn take(&self, record: &partner_certifications::Model, message: &PartnerMessage, batch: &mut WriteBatch) {
        let backend = self.storage.backend();
        if let Some(replaced) = message.event["replaces"].as_str() {
            batch.push(
                partner_certifications::Entity::update_many()
                    .col_expr(partner_certifications::Column::Status, Expr::value(Status::Amended.as_str()))
                    .filter(partner_certifications::Column::CredentialId.eq(replaced))
                    .build(backend),
            );
        }
        batch.push(
            partner_certifications::Entity::insert(partner_certifications::ActiveModel::from(record.clone()))
                .on_conflict(
                    OnConflict::column(partner_certifications::Column::CredentialId)
                        .update_columns([
                            partner_certifications::Column::Status,
                            partner_certifications::Column::Verification,
                            partner_certifications::Column::LastSeq,
                            partner_certifications::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .build(backend),
        );
        let event = partner_event(record, message);
        batch.extend(self.webhooks.enqueue_statements(&webhook_payload(&event, message)));
        batch.extend(crate::event_log::append_statements(backend, std::slice::from_ref(&event)));
    }

    /// The partner record of certification `id`, if this node holds one.
    pub async fn record_of(&self, id: Uuid) -> Result<Option<certifications::Model>, ServiceError> {
        Ok(partner_certifications::Entity::find()
            .filter(partner_certifications::Column::CertificationId.eq(id))
            .order_by_desc(partner_certifications::Column::Version)
            .one(self.storage.db())
            .await?
            .map(|r| partner_record_as_certification(&r)))
    }
}

/// The protected header of a compact JWS, unverified (to find the key it names).
fn jws_header(jws: &str) -> Result<Value, String> {
    let header = jws.split('.').next().ok_or("not a compact JWS")?;
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| "the JWS header is not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|_| "the JWS header is not JSON".to_owned())
}

/// A partner record in the shape of this node's certifications, for reads and events: the data
/// comes from the partner's signed credential.
pub fn partner_record_as_certification(record: &partner_certifications::Model) -> certifications::Model {
    let credential: Value = serde_json::from_str(&record.credential).unwrap_or(Value::Null);
    let subject = &credential["credentialSubject"];
    let address = &subject["address"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let optional = |v: &Value| v.as_str().map(str::to_owned);
    let date = |v: &Value| v.as_str().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok());
    let roles = subject["supplyChainRoles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).fold(String::from(","), |acc, role| format!("{acc}{role},")))
        .unwrap_or_else(|| ",".into());
    let partner_identifiers: Vec<Value> = subject["partnerIdentifiers"]
        .as_array()
        .map(|ids| {
            ids.iter().map(|p| json!({"scheme": p["identifierScheme"], "value": p["identifierValue"]})).collect()
        })
        .unwrap_or_default();
    certifications::Model {
        id: record.certification_id,
        lineage_id: record.lineage_id,
        version: record.version,
        previous_version_id: None,
        certificate_number: text(&subject["certificateNumber"]),
        issuing_country: record.issuing_country.clone(),
        issuing_authority: text(&subject["issuingAuthority"]),
        operator_name: record.operator_name.clone(),
        street: text(&address["streetAddress"]),
        city: text(&address["addressLocality"]),
        sub_entity: optional(&address["addressRegion"]),
        postcode: optional(&address["postalCode"]),
        address_country: text(&address["addressCountry"]),
        tin: record.tin.clone(),
        tin_scheme: text(&subject["traderIdentificationScheme"]),
        partner_identifiers: Value::Array(partner_identifiers),
        certificate_type: record.certificate_type.clone(),
        roles,
        authorisation_date: date(&subject["authorisationDate"]).unwrap_or(record.valid_from),
        valid_from: record.valid_from,
        valid_until: record.valid_until,
        last_validation_date: date(&subject["lastValidationDate"]),
        status: record.status.clone(),
        submitted_by: format!("partner:{}", record.partner),
        approved_by: None,
        created_at: record.updated_at,
        status_changed_at: record.updated_at,
        history_seq: record.last_seq,
        history_head: String::new(),
        operator_did: subject["id"].as_str().filter(|id| id.starts_with("did:")).map(str::to_owned),
        credential_id: Some(record.credential_id.clone()),
    }
}

fn partner_event(record: &partner_certifications::Model, message: &PartnerMessage) -> CertificationEvent {
    let event = &message.event;
    CertificationEvent {
        sequence: 0,
        transition: event["transition"].as_str().and_then(Transition::parse).unwrap_or(Transition::Approve),
        from: None,
        to: Status::parse(&record.status).unwrap_or(Status::Granted),
        actor: format!("partner:{}", record.partner),
        actor_role: "PARTNER".into(),
        at: event["at"].as_str().and_then(|a| a.parse().ok()).unwrap_or_else(Utc::now),
        reason: event["reason"].as_str().map(str::to_owned),
        certification: partner_record_as_certification(record),
        origin: Some(record.partner.clone()),
    }
}

/// The JSON body webhook receivers get for a partner's event: the local shape plus the
/// partner's message number.
fn webhook_payload(event: &CertificationEvent, message: &PartnerMessage) -> Value {
    let mut payload = crate::services::webhooks::local_payload(event);
    payload["partnerSeq"] = json!(message.seq);
    payload
}

/// What one partner holds about an operator this node certified.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerHolding {
    /// The credential the partner received.
    pub credential: Value,
    /// The status the partner applies.
    pub status: String,
    /// When it last changed there.
    pub updated_at: DateTime<Utc>,
}

/// An operator's recognition at one partner, its credentials re-verified here.
#[derive(Clone, Debug)]
pub struct Recognition {
    /// The partner.
    pub partner: String,
    /// The status it applies (of the newest version it holds).
    pub status: Option<String>,
    /// Whether it grants benefits (GRANTED there and in force).
    pub recognised: bool,
    /// Whether every credential it returned verifies here (proof, issuer, anchor).
    pub verified: bool,
    /// The credential ids it holds.
    pub credential_ids: Vec<String>,
}

/// Consecutive failures after which a partner is not asked for a while.
const BREAKER_THRESHOLD: u32 = 3;
/// How long a tripped breaker stays open.
const BREAKER_OPEN: Duration = Duration::from_secs(30);
/// How long a partner gets to answer a live question.
const PARTNER_TIMEOUT: Duration = Duration::from_secs(2);

/// Per-partner circuit breakers: (consecutive failures, open until).
type Breakers = HashMap<String, (u32, Option<tokio::time::Instant>)>;

impl PartnerService {
    /// What the partner authenticated by `token` may know of operator `(country, tin)`: the
    /// records this node holds that the partner itself issued. Nothing of other partners'.
    pub async fn holdings_for(
        &self,
        token: &str,
        path: &str,
        country: &str,
        tin: &str,
    ) -> Result<Vec<PartnerHolding>, InboxError> {
        let partner = self.authenticate(token, path).await?;
        let rows = partner_certifications::Entity::find()
            .filter(partner_certifications::Column::Partner.eq(&partner.country))
            .filter(partner_certifications::Column::IssuingCountry.eq(country))
            .filter(partner_certifications::Column::Tin.eq(tin))
            .order_by_asc(partner_certifications::Column::Version)
            .all(self.storage.db())
            .await
            .map_err(ServiceError::from)?;
        Ok(rows
            .into_iter()
            .map(|r| PartnerHolding {
                credential: serde_json::from_str(&r.credential).unwrap_or(Value::Null),
                status: r.status,
                updated_at: r.updated_at,
            })
            .collect())
    }

    /// Checks a partner request token (a JWS by the partner over `{iss, aud, path, iat, jti}`)
    /// and returns the partner.
    async fn authenticate(&self, token: &str, path: &str) -> Result<mra_partners::Model, InboxError> {
        let header = jws_header(token).map_err(InboxError::BadSignature)?;
        let kid = header["kid"].as_str().ok_or_else(|| InboxError::BadSignature("the token has no kid".into()))?;
        let did = cadena_credentials::did::did_of(kid).to_owned();
        let partner = self.active_partner_by_did(&did).await?.ok_or_else(|| InboxError::NotPartner(did.clone()))?;
        let key = self.signing_key_of(kid).await?;
        let (_, claims) = jose::verify_jws(token, |k| (k == kid).then(|| key.clone()))
            .map_err(|e| InboxError::BadSignature(e.to_string()))?;
        let claims: Value = serde_json::from_slice(&claims).map_err(|e| InboxError::Malformed(e.to_string()))?;
        let now = Utc::now().timestamp();
        let fresh = claims["iat"].as_i64().is_some_and(|iat| (now - iat).abs() <= FEED_CLOCK_SKEW);
        if claims["aud"] != self.credentials.identity().did()
            || claims["path"] != path
            || claims["iss"] != did
            || !fresh
        {
            return Err(InboxError::BadSignature("the token is for another node, path or time".into()));
        }
        let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
        let mut seen = self.seen_feed_requests.lock().expect("lock");
        seen.retain(|_, at| now - *at <= 2 * FEED_CLOCK_SKEW);
        if seen.insert(jti, now).is_some() {
            return Err(InboxError::Replay { partner: partner.country.clone(), seq: 0 });
        }
        Ok(partner)
    }

    /// Asks every active partner, at once, what it holds of operator `(country, tin)`, and
    /// re-verifies what comes back. Each partner answers within [`PARTNER_TIMEOUT`] or counts as
    /// failed; a partner failing [`BREAKER_THRESHOLD`] times in a row is not asked for
    /// [`BREAKER_OPEN`]. The result has one entry per partner: its recognition, or its error.
    pub async fn recognition(
        &self,
        country: &str,
        tin: &str,
    ) -> Result<Vec<Result<Recognition, String>>, ServiceError> {
        let breakers = &self.breakers;
        let partners = mra_partners::Entity::find()
            .filter(mra_partners::Column::State.eq("ACTIVE"))
            .order_by_asc(mra_partners::Column::Country)
            .all(self.storage.db())
            .await?;
        let asks = partners.into_iter().map(|partner| async move {
            let open = breakers.lock().expect("lock").get(&partner.country).and_then(|(_, until)| *until);
            if open.is_some_and(|until| tokio::time::Instant::now() < until) {
                return Err(format!("{}: not asked (circuit open after repeated failures)", partner.country));
            }
            let answer = tokio::time::timeout(PARTNER_TIMEOUT, self.ask(&partner, country, tin)).await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(_) => Err(format!("no answer within {PARTNER_TIMEOUT:?}")),
            };
            let mut breakers = breakers.lock().expect("lock");
            let entry = breakers.entry(partner.country.clone()).or_insert((0, None));
            match &answer {
                Ok(_) => *entry = (0, None),
                Err(_) => {
                    entry.0 += 1;
                    if entry.0 >= BREAKER_THRESHOLD {
                        entry.1 = Some(tokio::time::Instant::now() + BREAKER_OPEN);
                    }
                }
            }
            answer.map_err(|e| format!("{}: {e}", partner.country))
        });
        Ok(futures::future::join_all(asks).await)
    }

    async fn ask(&self, partner: &mra_partners::Model, country: &str, tin: &str) -> Result<Recognition, String> {
        // The token covers the path as it travels, percent-encoded.
        let mut url = reqwest::Url::parse(&format!("{}/partner/recognition", Self::base_url(&partner.did)?))
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("country", country).append_pair("tin", tin);
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let (url, response) = self.signed_get(partner, &path).await?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
        let holdings: Vec<PartnerHolding> =
            cadena_credentials::json::from_slice_as(&body).map_err(|e| format!("GET {url}: {e}"))?;
        // What comes back is this node's own credentials: verify them as anyone would.
        let mut verified = true;
        for holding in &holdings {
            let report = self.credentials.verify(&holding.credential).await.map_err(|e| e.to_string())?;
            verified &= report.integrity.outcome == Outcome::Valid
                && report.issuer_trust.outcome == Outcome::Valid
                && cadena_credentials::credential::claims_aeo_certification(&holding.credential);
        }
        let newest = holdings.iter().max_by_key(|h| h.credential["credentialSubject"]["certificateVersion"].as_i64());
        // The partner's status, read by the rule every other reader applies: expired once the
        // credential's validity ended, benefits only while it is in force.
        let now = Utc::now();
        let standing = newest.map(|h| match (Status::parse(&h.status), ValidityPeriod::of_credential(&h.credential)) {
            (Some(status), Ok(period)) => {
                (status.effective(&period, now).as_str().to_owned(), status.confers_benefits(&period, now))
            }
            // A status or dates this node cannot read confer nothing.
            _ => (h.status.clone(), false),
        });
        Ok(Recognition {
            partner: partner.country.clone(),
            status: standing.as_ref().map(|(status, _)| status.clone()),
            recognised: standing.is_some_and(|(_, benefits)| benefits) && verified,
            verified,
            credential_ids: holdings.iter().filter_map(|h| h.credential["id"].as_str().map(str::to_owned)).collect(),
        })
    }
}
