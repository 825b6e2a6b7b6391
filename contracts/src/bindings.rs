//! Rust bindings generated from the committed solc artifacts (`artifacts/*.json`).
//!
//! The artifacts, not the Solidity sources, are the input: they are what `compile.mjs --check`
//! guards in CI, so the bindings, the bytecode deployed by [`crate::ChainClient::deploy`] and the
//! contracts the smoke test exercises are always the same bytes.
//!
//! Each `sol!` invocation yields a module named after the contract with call structs
//! (`anchorBatchCall`), event structs (`BatchAnchored`), the custom-error enum
//! (`AnchorRegistryErrors`), the creation `BYTECODE` and an RPC instance type.

// The generated code has items without docs; that is alloy's output, not ours.
#![allow(missing_docs)]

use alloy::sol;

sol!(
    #[sol(rpc, all_derives)]
    AuthorityRegistry,
    "artifacts/AuthorityRegistry.json"
);

sol!(
    #[sol(rpc, all_derives)]
    AnchorRegistry,
    "artifacts/AnchorRegistry.json"
);

sol!(
    /// TEST ONLY: mimics LACChain's RelayHub (stores the original sender for `getMsgSender()`,
    /// appends the 64-byte gas-model suffix). Anyone can claim any sender through it.
    #[sol(rpc, all_derives)]
    LacchainRelayHubMock,
    "artifacts/test/LacchainRelayHubMock.json"
);
