//! LACChain gas-model transactions, byte for byte as `@lacchain/gas-model-provider` 1.2.1 signs them.
//!
//! What the package does (see `scripts/lacchain-tx.mjs`, which runs its code): `LacchainSigner`
//! wraps the populated request in a `LacchainTransactionRequest` whose getters
//! - append `AbiCoder.encode(["address", "uint256"], [nodeAddress, expiration])` (64 bytes) to
//!   `data`, for calls and deployments alike;
//! - report `chainId` 0, so ethers serialises and hashes the legacy transaction the pre-EIP-155
//!   way: the signing hash is `keccak256(rlp([nonce, gasPrice, gasLimit, to, value, data]))` and
//!   `v` is 27 or 28, whatever chain the node runs;
//!
//! and ethers' `populateTransaction` against a LACChain node yields a type-0 transaction with gas
//! price 0 (Besu's free-gas network has no EIP-1559 fee data) and value 0. alloy's `TxLegacy`
//! with `chain_id: None` is exactly that transaction, and RFC 6979 signing with low-s
//! normalisation (k256 here, noble-curves in ethers) makes the signature deterministic, so the
//! raw bytes are identical; the integration tests compare them with the script's output.
//!
//! The writer node relays the transaction through its RelayHub and answers
//! `eth_sendRawTransaction` with the hash to track; [`LacchainTx::hash`] is `keccak256(raw)`,
//! which is what the package (and anvil) report.

use alloy::consensus::{SignableTransaction, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolValue;

use crate::errors::ChainError;

/// A signed gas-model transaction, ready for `eth_sendRawTransaction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LacchainTx {
    /// RLP of the signed legacy transaction.
    pub raw: Bytes,
    /// `keccak256(raw)`.
    pub hash: B256,
}

/// The 64-byte gas-model suffix: `abi.encode(address nodeAddress, uint256 expiration)`.
pub fn gas_model_suffix(node_address: Address, expiration: u64) -> [u8; 64] {
    let encoded = (node_address, U256::from(expiration)).abi_encode();
    let mut suffix = [0u8; 64];
    suffix.copy_from_slice(&encoded);
    suffix
}

/// `data` with the gas-model suffix appended: what the contract (through the RelayHub) receives.
pub fn with_gas_model_suffix(data: &[u8], node_address: Address, expiration: u64) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(data);
    out.extend_from_slice(&gas_model_suffix(node_address, expiration));
    out.into()
}

/// Signs a LACChain gas-model transaction: legacy, gas price 0, value 0, `data` (calldata, or
/// creation code with constructor arguments when `to` is `None`) followed by
/// `abi.encode(node_address, expiration)`, pre-EIP-155 signature.
///
/// `data` is given without the suffix; `expiration` is a unix time in seconds.
pub fn sign_lacchain_tx(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Option<Address>,
    data: &[u8],
    gas_limit: u64,
    node_address: Address,
    expiration: u64,
) -> Result<LacchainTx, ChainError> {
    let tx = TxLegacy {
        // None = the package's chainId 0: pre-EIP-155 signing hash and v = 27/28.
        chain_id: None,
        nonce,
        gas_price: 0,
        gas_limit,
        to: to.map_or(TxKind::Create, TxKind::Call),
        value: U256::ZERO,
        input: with_gas_model_suffix(data, node_address, expiration),
    };
    // sign_hash_sync rather than sign_transaction_sync: the latter would stamp the signer's
    // chain id (if it has one) into the transaction and turn it into an EIP-155 one.
    let signature = signer.sign_hash_sync(&tx.signature_hash())?;
    let signed = tx.into_signed(signature);
    let hash = *signed.hash();
    let raw: Bytes = signed.encoded_2718().into();
    debug_assert_eq!(hash, alloy::primitives::keccak256(&raw));
    Ok(LacchainTx { raw, hash })
}
