//! The one error type of the chain client, and the mapping from transport and revert errors to it.

use std::time::Duration;

use alloy::primitives::{B256, Bytes};
use alloy::sol_types::SolInterface;
use alloy::transports::{RpcError, TransportError, TransportErrorKind};

use crate::bindings::{AnchorRegistry::AnchorRegistryErrors, AuthorityRegistry::AuthorityRegistryErrors};

/// What went wrong talking to the chain.
///
/// The anchoring worker's idempotency rests on [`ChainError::AlreadyAnchored`] and
/// [`ChainError::BadSequence`], which are lifted out of [`AnchorRegistryErrors`] so they can be
/// matched without reaching into the generated bindings. [`ChainError::Unreachable`],
/// [`ChainError::NotMined`] and [`ChainError::NotConfirmed`] are the "try again later" family.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node did not answer: connection refused or reset, request timeout, or a 502/503/504
    /// from a proxy in front of it. Retry later. If it happened while sending, the transaction
    /// may still have reached the node; resending an anchor is safe (see
    /// [`ChainError::BadSequence`]).
    #[error("chain unreachable at {url}: {message}")]
    Unreachable {
        /// The RPC endpoint.
        url: String,
        /// What the HTTP client reported.
        message: String,
    },
    /// `AnchorRegistry.AlreadyAnchored(root)`: the sequence was right but the root is on chain
    /// already, under an earlier sequence or by another authority. (A plain resend of a batch
    /// that landed gets [`ChainError::BadSequence`] instead: the contract checks the sequence
    /// first.)
    #[error("root {root} is already anchored")]
    AlreadyAnchored {
        /// The root.
        root: B256,
    },
    /// `AnchorRegistry.BadSequence(expected, got)`: the authority's next sequence number is
    /// `expected`, the transaction carried `got`. `expected == got + 1` after a resend of a batch
    /// that did land: `anchor_of(root)` then shows it under `got`.
    #[error("bad sequence: the chain expects {expected}, got {got}")]
    BadSequence {
        /// The sequence number the contract would accept.
        expected: u64,
        /// The sequence number sent.
        got: u64,
    },
    /// Any other custom error of `AnchorRegistry` (never `AlreadyAnchored` or `BadSequence`,
    /// which have their own variants).
    #[error("AnchorRegistry reverted: {0:?}")]
    AnchorRegistry(AnchorRegistryErrors),
    /// A custom error of `AuthorityRegistry`.
    #[error("AuthorityRegistry reverted: {0:?}")]
    AuthorityRegistry(AuthorityRegistryErrors),
    /// The call reverted with data that is not one of the target contract's custom errors
    /// (`Error(string)`, a panic, or nothing).
    #[error("reverted: {reason}")]
    Reverted {
        /// Raw revert data (empty when the node gave none).
        data: Bytes,
        /// Decoded `Error(string)` / panic reason, or the node's message.
        reason: String,
    },
    /// The transaction was mined with status 0, and replaying it at its block showed no reason.
    #[error("transaction {tx_hash} failed in block {block_number} (gas used {gas_used})")]
    TxFailed {
        /// The transaction hash.
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// Gas it used.
        gas_used: u64,
    },
    /// The node accepted the transaction but no receipt appeared within `tx_timeout`. It may still
    /// be mined: a resend of an anchor then fails with `BadSequence` (see there).
    #[error("transaction {tx_hash} not mined within {waited:?}")]
    NotMined {
        /// The hash the node returned.
        tx_hash: B256,
        /// How long the client waited.
        waited: Duration,
    },
    /// The transaction was mined but the chain did not reach `confirmations` further blocks
    /// within `tx_timeout`.
    #[error("transaction {tx_hash} mined in block {block_number} but not confirmed by {confirmations} blocks")]
    NotConfirmed {
        /// The transaction hash.
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// Confirmations required.
        confirmations: u64,
    },
    /// The node refused a request with a JSON-RPC error that is not a revert (nonce too low,
    /// transaction underpriced, method not found, ...).
    #[error("node error {code}: {message}")]
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// JSON-RPC error message.
        message: String,
    },
    /// Any other transport failure (malformed response, unexpected HTTP status).
    #[error("transport error: {0}")]
    Transport(#[source] TransportError),
    /// The node serves another chain than the configured one.
    #[error("wrong chain: configured {expected}, node reports {actual}")]
    WrongChain {
        /// `ChainConfig::chain_id`.
        expected: u64,
        /// What `eth_chainId` answered.
        actual: u64,
    },
    /// The client has no contract addresses (configure them, or deploy first).
    #[error("no contract addresses configured")]
    NoContracts,
    /// A deployment receipt carried no contract address.
    #[error("deployment {tx_hash} produced no contract address")]
    NoContractAddress {
        /// The deployment transaction.
        tx_hash: B256,
    },
    /// Bad configuration or signer key (the message never contains key material).
    #[error("invalid chain configuration: {0}")]
    Config(String),
    /// A node answer could not be decoded (ABI, log or missing receipt fields).
    #[error("cannot decode chain data: {0}")]
    Decode(String),
    /// Signing a transaction failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// Which contract a call went to, so its revert data is decoded against the right error set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `AuthorityRegistry` (also deployments of it).
    Authority,
    /// `AnchorRegistry` (also deployments of it).
    Anchor,
}

impl ChainError {
    /// Maps a transport error: reverts become typed contract errors, connection problems
    /// become [`ChainError::Unreachable`].
    pub(crate) fn from_transport(err: TransportError, url: &str, target: Target) -> Self {
        if let Some(payload) = err.as_error_resp() {
            if let Some(data) = payload.as_revert_data() {
                return Self::from_revert(data, target, &payload.message);
            }
            // Besu and anvil say "execution reverted" (sometimes without data, e.g. `revert()`).
            if payload.message.to_ascii_lowercase().contains("revert") {
                return Self::Reverted { data: Bytes::new(), reason: payload.message.to_string() };
            }
            return Self::Rpc { code: payload.code, message: payload.message.to_string() };
        }
        if is_unreachable(&err) {
            return Self::Unreachable { url: url.to_owned(), message: error_chain(&err) };
        }
        Self::Transport(err)
    }

    /// Decodes revert data against the target contract's custom errors.
    pub(crate) fn from_revert(data: Bytes, target: Target, node_message: &str) -> Self {
        match target {
            Target::Anchor => match AnchorRegistryErrors::abi_decode(&data) {
                Ok(AnchorRegistryErrors::AlreadyAnchored(e)) => return Self::AlreadyAnchored { root: e.root },
                Ok(AnchorRegistryErrors::BadSequence(e)) => {
                    return Self::BadSequence { expected: e.expected, got: e.got };
                }
                Ok(other) => return Self::AnchorRegistry(other),
                Err(_) => {}
            },
            Target::Authority => {
                if let Ok(e) = AuthorityRegistryErrors::abi_decode(&data) {
                    return Self::AuthorityRegistry(e);
                }
            }
        }
        let reason = alloy::sol_types::decode_revert_reason(&data).unwrap_or_else(|| node_message.to_owned());
        Self::Reverted { data, reason }
    }

    /// Whether retrying later may succeed without changing anything (node down, transaction
    /// not mined or not confirmed in time).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::NotMined { .. } | Self::NotConfirmed { .. })
    }
}

/// Connection refused/reset, timeouts, and gateway errors: the node is not there (right now).
fn is_unreachable(err: &TransportError) -> bool {
    let RpcError::Transport(kind) = err else { return false };
    match kind {
        TransportErrorKind::BackendGone => true,
        TransportErrorKind::HttpError(http) => matches!(http.status, 502..=504),
        TransportErrorKind::HttpErrorWithRetryAfter { error, .. } => matches!(error.status, 502..=504),
        TransportErrorKind::Custom(inner) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
            while let Some(e) = source {
                if let Some(r) = e.downcast_ref::<alloy::transports::http::reqwest::Error>() {
                    // `is_request` covers "connection closed before message completed" when the
                    // node dies mid-request; builder/decode errors are our side and stay Transport.
                    if r.is_connect() || r.is_timeout() || r.is_request() {
                        return true;
                    }
                }
                if let Some(io) = e.downcast_ref::<std::io::Error>() {
                    use std::io::ErrorKind::*;
                    if matches!(
                        io.kind(),
                        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe | TimedOut
                    ) {
                        return true;
                    }
                }
                source = e.source();
            }
            false
        }
        _ => false,
    }
}

/// "outer: inner: innermost", so the root cause (e.g. "Connection refused") shows up in logs.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// Why a local anvil could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// `CADENA_ANVIL` names a file that does not exist.
    #[error("CADENA_ANVIL={0} is not a file")]
    BinaryMissing(std::path::PathBuf),
    /// `npm ci` failed (or npm is not installed), so the packages (anvil, …) are missing.
    #[error("`npm ci --prefix {dir}` failed: {message}")]
    Npm {
        /// The contracts directory.
        dir: std::path::PathBuf,
        /// Exit status or spawn error.
        message: String,
    },
    /// Starting, signalling or waiting for the process failed.
    #[error("anvil process: {0}")]
    Io(#[from] std::io::Error),
    /// anvil exited before it answered `eth_chainId`.
    #[error("anvil exited early ({status}); log tail:\n{log}")]
    Exited {
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of its output.
        log: String,
    },
    /// anvil did not answer `eth_chainId` in time.
    #[error("anvil on port {port} not ready after {waited:?}; log tail:\n{log}")]
    NotReady {
        /// The port it was started on.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The end of its output.
        log: String,
    },
    /// The port stayed taken (restart on the same port, or every free-port attempt lost a race).
    #[error("port {0} is in use")]
    PortInUse(u16),
    /// The operation needs a running anvil.
    #[error("anvil is not running")]
    NotRunning,
}
