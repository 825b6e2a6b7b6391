//! The partner channel's errors: what a partner's message or request is refused for
//! ([`InboxError`], answered with an HTTP status by the gateway), and why a request this node
//! makes of a partner failed ([`ChannelError`], retried or reported per partner).

use std::time::Duration;

use cadena_credentials::did::DidError;
use cadena_credentials::jose::JoseError;
use cadena_credentials::verification::ResolutionError;

use crate::errors::ServiceError;

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

/// Why a request this node made of a partner's node (a message, a feed page, its state, an
/// operator's recognition) failed. Nothing this node holds changes: a message is sent again
/// with backoff, a feed or state is read again at the next round, a recognition is reported
/// as that partner's error.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The partner's DID is not a did:web, so it has no address.
    #[error("the partner's DID has no web address: {0}")]
    Address(#[from] DidError),
    /// The partner's DID document could not be read.
    #[error("the partner's DID document cannot be read: {0}")]
    Resolution(#[from] ResolutionError),
    /// The partner's DID document has no usable key-agreement key.
    #[error("{0}")]
    AgreementKey(String),
    /// Signing or encrypting for the partner failed.
    #[error("sealing for the partner failed: {0}")]
    Seal(#[from] JoseError),
    /// The request did not reach the partner, or its answer did not arrive whole.
    #[error("{method} {url}: {source}")]
    Transport {
        /// GET or POST.
        method: &'static str,
        /// Where to.
        url: String,
        /// What happened.
        #[source]
        source: reqwest::Error,
    },
    /// The partner answered with a status that is not the request's success.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// GET or POST.
        method: &'static str,
        /// Where to.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The partner's body, for the log (empty when there was none).
        body: String,
    },
    /// The partner's answer is not what the protocol says.
    #[error("{url}: {reason}")]
    Malformed {
        /// Where it came from.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A message the partner's feed served could not be taken here.
    #[error("a message from the partner's feed was not taken: {0}")]
    NotTaken(#[source] InboxError),
    /// A message taken again during reconciliation was refused or could not be judged.
    #[error("message {seq} cannot be taken again: {reason}")]
    NotTakenAgain {
        /// Its number.
        seq: i64,
        /// Why.
        reason: String,
    },
    /// The partner did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Not asked: the partner failed too often in a row lately.
    #[error("not asked (circuit open after repeated failures)")]
    CircuitOpen,
    /// This node failed (storage, its own verifier).
    #[error(transparent)]
    Node(#[from] ServiceError),
}

/// One partner's failure among several asked at once.
#[derive(Debug, thiserror::Error)]
#[error("{partner}: {error}")]
pub struct PartnerFailure {
    /// The partner's country.
    pub partner: String,
    /// What failed.
    pub error: ChannelError,
}
