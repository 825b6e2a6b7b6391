//! The MRA partner network: who this node's partners are (from the chain), telling them of
//! every certification event over an encrypted, authenticated channel, and receiving theirs.
//!
//! **Partners.** The authority registry holds the MRAs; this node follows its MRA events and
//! keeps `mra_partners` (state, scope, the partner's DID) current. A partner's key-agreement
//! key and inbox come from its DID document ([`mras`]).
//!
//! **Sending.** A grant, status change or amendment is written to the node's event log in the
//! transition's transaction. The dispatcher (one at a time, under its lease) reads the log from
//! its saved cursor, records each such event in `partner_events` and numbers it for every
//! ACTIVE partner whose MRA scope covers the certificate type (`partner_messages`, per partner
//! from 1 without gaps), queuing a `partner.message` delivery for each in the node's one
//! outbox, in one transaction with the cursor past the events ([`dispatch`]). The sender, the
//! outbox's handler of those, delivers each partner's stream in order: the message (the event, the
//! signed credential, its anchor proof, the current signed status lists) is signed by this
//! node (JWS, EdDSA or ES256) and encrypted to the partner's X25519 key (JWE, ECDH-ES +
//! A256GCM), and POSTed to the partner's `/partner/inbox`. Grants wait until their credential
//! is anchored, so the partner can verify everything. Failures retry with backoff; a partner
//! down for an hour gets everything, in order, when it is back ([`outbox`]).
//!
//! **Receiving.** The inbox decrypts, checks the signature against the sender's DID document,
//! the sender against the MRA (active, in scope), the number against what was received
//! (the same message again is acknowledged; another one under a used number is a replay; a
//! number past the next is a gap, answered with the number expected, and the receiver pulls
//! the missing messages from the sender's authenticated `/partner/feed`, [`feed`]). The credential is
//! verified in full (proof, issuer per the registry, anchor on chain, status) before it is
//! stored as a read-only partner record; the event then goes to `certificationEvents`
//! subscribers and to the signed webhooks ([`inbox`]).
//!
//! **Refusal is not delivery.** The inbox acknowledges a message only once it holds it for
//! good: taken, or refused for a reason no resend can change (forged, another issuer, not an
//! AEO certification, out of scope), and then the refusal is recorded on both sides
//! ([`message_log`]). A message that cannot be judged now (the sender's DID document or
//! anchor proof unreachable because the sender died mid-delivery, the chain unreachable, an
//! anchor pending after a rollback) is answered 503: nothing is stored, its number stays open,
//! and the sender sends it again. Every five minutes (and when an ADMIN asks) each partner's
//! holdings are reconciled with what the sender says it sent ([`reconciliation`]).
//!
//! **Asking.** An officer's `Operator.recognition` asks every partner live what it holds of an
//! operator this node certified ([`recognition`]). Requests this node makes of a partner fail
//! with a [`ChannelError`]; what a partner's message or request is refused for is an
//! [`InboxError`] ([`error`]).

mod dispatch;
mod error;
mod feed;
mod inbox;
mod message_log;
mod mras;
mod outbox;
mod recognition;
mod reconciliation;
pub use dispatch::{Dispatcher, heard_by_partners};
pub use error::{ChannelError, InboxError, PartnerFailure};
pub use inbox::{InboxAck, partner_record_as_certification};
pub use message_log::{MessageDirection, MessageLogEntry};
pub use mras::{MraChange, scope_bit, scope_of, scope_types};
pub use outbox::Sender;
pub use recognition::{PartnerHolding, Recognition};
pub use reconciliation::{Divergence, PartnerState, Reconciliation};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cadena_contracts::ChainClient;
use cadena_credentials::CountryCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::errors::ServiceError;
use crate::events::EventBus;
use crate::services::anchoring::AnchoringService;
use crate::services::credentials::CredentialService;
use crate::services::webhooks::WebhookService;
use crate::storage::{Storage, WriteBatch};
use recognition::Breakers;

/// The message type partners exchange.
pub const MESSAGE_TYPE: &str = "cadena.partner.certification-event/v1";
/// How often holdings are reconciled with each partner.
const RECONCILE_EVERY: Duration = Duration::from_secs(300);

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
    /// The transition (see [`event_work`]).
    pub event: Value,
    /// The signed credential.
    pub credential: Value,
    /// The credential's anchor proof.
    pub anchor: Option<crate::services::anchoring::AnchorProof>,
    /// The sender's current signed status list credentials of the credential's entries.
    pub status_lists: Vec<Value>,
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
        Ok(self.storage.apply_alone(batch).await?)
    }

    /// Runs the partner loop until `shutdown`: following MRAs, pulling from partners' feeds now
    /// and then (the safety net for anything a partner could not push) and reconciling.
    /// Dispatching and delivering are [`Dispatcher`]'s and the outbox's ([`Sender`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        // The first round pulls at once: a node back from downtime catches up without waiting.
        let mut last_pull: Option<tokio::time::Instant> = None;
        let mut last_follow: Option<tokio::time::Instant> = None;
        let mut last_reconciliation: Option<tokio::time::Instant> = None;
        let lease = crate::services::lease::Lease::new(self.storage.clone(), "partners");
        loop {
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
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// The protected header of a compact JWS, unverified (to find the key it names).
fn jws_header(jws: &str) -> Result<Value, InboxError> {
    let unreadable = |why: &str| InboxError::BadSignature(format!("the JWS header is not {why}"));
    let header = jws.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| unreadable("base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| unreadable("JSON"))
}
