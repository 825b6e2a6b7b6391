//! cadena's chain client.
//!
//! This crate owns everything between a customs node and the public chain (LACChain, i.e.
//! Hyperledger Besu with IBFT 2.0 and the gas model; anvil locally):
//!
//! - the Solidity contracts (`solidity/`), their committed solc artifacts (`artifacts/`, checked
//!   by `node compile.mjs --check`) and the Rust [`bindings`] generated from those artifacts;
//! - [`ChainClient`]: deploys `AuthorityRegistry` + `AnchorRegistry`, admits authorities and
//!   rotates anchorers, anchors Merkle roots of credential-digest batches, records status
//!   batches, runs the MRA life cycle, reads the registries back and queries their events;
//! - transaction building for both chains ([`TxMode`]): ordinary EIP-155 transactions, and
//!   LACChain's gas model ([`lacchain`]), byte-identical to `@lacchain/gas-model-provider`;
//! - [`ChainError`]: reverts decoded into the contracts' custom errors, with
//!   [`ChainError::AlreadyAnchored`] and [`ChainError::BadSequence`] on top for the anchoring
//!   worker's idempotency, and distinct "unreachable" / "not mined" errors for its retries;
//! - [`anvil::Anvil`]: a local chain for tests and `cadena dev`, which can be stopped and
//!   restarted with its state.
//!
//! It does not build Merkle trees or decide what to anchor: that is the anchoring worker's job.
//! Everything here is `async` on tokio; the only blocking part is the one-off `npm ci` that
//! [`anvil::anvil_binary`] may run (on a blocking thread).

pub mod anvil;
pub mod bindings;
pub mod client;
pub mod config;
pub mod errors;
pub mod lacchain;

pub use alloy::primitives::{Address, B256, Bytes};
pub use alloy::signers::local::PrivateKeySigner;
pub use client::{
    AnchorRecord, AnchorerRole, AuthorityRecord, BatchAnchoredEvent, ChainClient, Deployment, LogPosition, MraChange,
    MraEvent, MraRecord, MraState, StatusChangedEvent, TxOutcome,
};
pub use config::{ChainConfig, ContractAddresses, SignerKey, TxMode};
pub use errors::{AnvilError, ChainError};
