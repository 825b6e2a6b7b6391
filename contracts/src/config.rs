//! Chain configuration as a node's TOML embeds it (`[chain]`), and the signer key kept apart.
//!
//! ```toml
//! [chain]
//! rpc_url = "http://127.0.0.1:8545"
//! chain_id = 648540
//! confirmations = 0            # IBFT 2.0 is final on inclusion
//! poll_interval_ms = 500
//!
//! [chain.mode]
//! kind = "lacchain"
//! node_address = "0xc6e2459991BfE27cca6d86722F35da23A1E4Cb97"
//! expiration_secs = 300
//!
//! [chain.contracts]
//! authority_registry = "0x..."
//! anchor_registry = "0x..."
//! ```

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use serde::Deserialize;

use crate::errors::ChainError;

/// Where and how the client talks to the chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (HTTP), e.g. the LACChain writer node.
    pub rpc_url: String,
    /// Expected chain id; [`crate::ChainClient::connect`] refuses a node that reports another one
    /// (648529 LACChain mainnet, 648540 open pro-testnet, 31337 anvil).
    pub chain_id: u64,
    /// Blocks required on top of a transaction's block before it counts as done
    /// (0: the receipt is enough, right for IBFT 2.0 finality).
    #[serde(default)]
    pub confirmations: u64,
    /// How transactions are built and signed.
    #[serde(default)]
    pub mode: TxMode,
    /// Interval between receipt / block-number polls.
    #[serde(rename = "poll_interval_ms", with = "millis", default = "default_poll_interval")]
    pub poll_interval: Duration,
    /// How long to wait for a receipt (and the confirmations) before giving up with
    /// [`ChainError::NotMined`] / [`ChainError::NotConfirmed`].
    #[serde(rename = "tx_timeout_secs", with = "secs", default = "default_tx_timeout")]
    pub tx_timeout: Duration,
    /// Per-request HTTP timeout; a node that accepts connections but never answers becomes
    /// [`ChainError::Unreachable`] after this long instead of hanging the caller.
    #[serde(rename = "request_timeout_secs", with = "secs", default = "default_request_timeout")]
    pub request_timeout: Duration,
    /// Addresses of the deployed registries, when known.
    #[serde(default)]
    pub contracts: Option<ContractAddresses>,
}

impl ChainConfig {
    /// A configuration with the defaults for everything but the endpoint and chain id.
    pub fn new(rpc_url: impl Into<String>, chain_id: u64) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            chain_id,
            confirmations: 0,
            mode: TxMode::Standard,
            poll_interval: default_poll_interval(),
            tx_timeout: default_tx_timeout(),
            request_timeout: default_request_timeout(),
            contracts: None,
        }
    }
}

/// How transactions are built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TxMode {
    /// Ordinary signed transactions (EIP-155): EIP-1559 when the latest block has a base fee,
    /// legacy with `eth_gasPrice` otherwise. Deployments use `address(0)` as forwarder.
    #[default]
    Standard,
    /// LACChain's gas model: legacy, gas price 0, `abi.encode(node_address, expiration)` appended
    /// to the calldata, pre-EIP-155 signature (see [`crate::lacchain`]).
    #[serde(rename = "lacchain")]
    LacChain {
        /// The writer node whose gas allowance pays (the `nodeAddress` of the suffix).
        node_address: Address,
        /// Validity of each transaction: `expiration = now + expiration_secs` (unix seconds).
        expiration_secs: u64,
        /// The RelayHub that contracts deployed by this client trust as forwarder. Needed only for
        /// [`crate::ChainClient::deploy`]; without it that refuses (a registry deployed with
        /// forwarder `address(0)` on LACChain would see the RelayHub as every caller).
        #[serde(default)]
        relay_hub: Option<Address>,
    },
}

/// Addresses of a deployed pair of registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractAddresses {
    /// The `AuthorityRegistry`.
    pub authority_registry: Address,
    /// The `AnchorRegistry` (bound to that authority registry).
    pub anchor_registry: Address,
}

/// Where the signer's secp256k1 key comes from. Kept out of [`ChainConfig`] so a config can be
/// logged; `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SignerKey {
    /// The key as hex (32 bytes, `0x` optional), e.g. from an environment variable.
    Hex(String),
    /// A file holding the key as hex (surrounding whitespace ignored).
    File(PathBuf),
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hex(_) => f.write_str("SignerKey::Hex(<redacted>)"),
            Self::File(path) => f.debug_tuple("SignerKey::File").field(path).finish(),
        }
    }
}

impl SignerKey {
    /// Loads the key. Errors name the file but never echo key material.
    pub fn load(&self) -> Result<PrivateKeySigner, ChainError> {
        match self {
            Self::Hex(hex) => parse_key(hex),
            Self::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ChainError::Config(format!("cannot read key file {}: {e}", path.display())))?;
                parse_key(&text)
                    .map_err(|_| ChainError::Config(format!("key file {} does not hold a hex key", path.display())))
            }
        }
    }
}

fn parse_key(text: &str) -> Result<PrivateKeySigner, ChainError> {
    // alloy's parse error would quote the offending character: say nothing about the input.
    text.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::Config("signer key is not a 32-byte hex secp256k1 key".into()))
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(500)
}

fn default_tx_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Durations as whole milliseconds, the unit operators write for poll intervals.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Durations as whole seconds, like the gateway's `*_secs` settings.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}
