//! [`ChainClient`]: deploys and drives the registries, reads them back, queries their events.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::consensus::{SignableTransaction, TxEip1559, TxLegacy};
use alloy::eips::eip2718::Encodable2718;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, FixedBytes, TxKind, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::{Filter, Log, TransactionReceipt, TransactionRequest};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent};
use alloy::transports::http::{Http, reqwest};

use crate::bindings::{AnchorRegistry, AuthorityRegistry};
use crate::config::{ChainConfig, ContractAddresses, TxMode};
use crate::errors::{ChainError, Target};
use crate::lacchain;

/// Widest block range per `eth_getLogs` request; Besu and hosted nodes refuse or time out on
/// unbounded ranges, so longer ranges are split.
const LOG_RANGE: u64 = 5_000;

/// A connected client: one signer, one chain, optionally the registries' addresses.
///
/// Cheap to clone and share: clones share the HTTP connection pool and a send lock that
/// serialises "read nonce, sign, send" so two tasks never sign with the same nonce.
#[derive(Clone)]
pub struct ChainClient {
    inner: Arc<Inner>,
    contracts: Option<ContractAddresses>,
}

struct Inner {
    config: ChainConfig,
    provider: RootProvider,
    signer: PrivateKeySigner,
    send_lock: tokio::sync::Mutex<()>,
    fee_model: tokio::sync::OnceCell<FeeModel>,
}

/// How Standard-mode transactions are priced, decided once from the latest block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeeModel {
    Eip1559,
    Legacy,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately not the signer: only its address.
        f.debug_struct("ChainClient")
            .field("rpc_url", &self.inner.config.rpc_url)
            .field("chain_id", &self.inner.config.chain_id)
            .field("mode", &self.inner.config.mode)
            .field("signer", &self.inner.signer.address())
            .field("contracts", &self.contracts)
            .finish()
    }
}

/// The two registries as deployed by [`ChainClient::deploy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The `AuthorityRegistry`.
    pub authority_registry: Address,
    /// The `AnchorRegistry`.
    pub anchor_registry: Address,
    /// Block of the first deployment: scan events from here.
    pub block: u64,
    /// The `AuthorityRegistry` deployment transaction.
    pub authority_registry_tx: TxOutcome,
    /// The `AnchorRegistry` deployment transaction.
    pub anchor_registry_tx: TxOutcome,
}

impl Deployment {
    /// The addresses, for [`ChainClient::with_contracts`] or a node's `[chain.contracts]`.
    pub fn addresses(&self) -> ContractAddresses {
        ContractAddresses { authority_registry: self.authority_registry, anchor_registry: self.anchor_registry }
    }
}

/// A mined, successful transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxOutcome {
    /// The hash the node returned for it.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
    /// Gas it used.
    pub gas_used: u64,
}

/// An anchored root (`AnchorRegistry.anchorOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The anchoring authority.
    pub country: [u8; 2],
    /// The address that anchored it.
    pub anchorer: Address,
    /// Number of leaves.
    pub count: u32,
    /// The authority's sequence number for it.
    pub sequence: u64,
    /// Block it was anchored in.
    pub block_number: u64,
    /// That block's timestamp (unix seconds).
    pub timestamp: u64,
}

/// An admitted authority (`AuthorityRegistry.authority`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityRecord {
    /// Its DID.
    pub did: String,
    /// Its current anchorer.
    pub anchorer: Address,
    /// Whether it is active (not suspended).
    pub active: bool,
    /// Block of admission.
    pub admitted_at_block: u64,
}

/// The authority an address currently anchors for (`AuthorityRegistry.authorityOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorerRole {
    /// The authority.
    pub country: [u8; 2],
    /// Whether that authority is active.
    pub active: bool,
}

/// State of an MRA between two authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MraState {
    /// Never proposed.
    None,
    /// Proposed, waiting for the other party.
    Proposed,
    /// In force.
    Active,
    /// Suspended by one party (only it may resume).
    Suspended,
    /// Terminated (or a proposal withdrawn/declined); may be proposed again.
    Terminated,
}

impl MraState {
    fn from_code(code: u8) -> Result<Self, ChainError> {
        Ok(match code {
            0 => Self::None,
            1 => Self::Proposed,
            2 => Self::Active,
            3 => Self::Suspended,
            4 => Self::Terminated,
            other => return Err(ChainError::Decode(format!("unknown MRA state {other}"))),
        })
    }
}

/// An MRA (`AuthorityRegistry.mra`; symmetric in its two countries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MraRecord {
    /// Its state.
    pub state: MraState,
    /// Scope bitmask: 1 security and safety, 2 customs simplifications, 4 full.
    pub scope: u8,
    /// Country that made the (last) proposal.
    pub proposer: [u8; 2],
    /// Block of the last state change.
    pub since_block: u64,
}

/// Where a log sits on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// Block number.
    pub block_number: u64,
    /// Transaction that emitted it.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
}

/// A `BatchAnchored` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAnchoredEvent {
    /// The anchoring authority.
    pub country: [u8; 2],
    /// Its sequence number.
    pub sequence: u64,
    /// The batch root.
    pub root: B256,
    /// Number of leaves.
    pub count: u32,
    /// Where the log is.
    pub position: LogPosition,
}

/// A `StatusChanged` event (one per entry of a status batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChangedEvent {
    /// The recording authority.
    pub country: [u8; 2],
    /// The credential digest.
    pub digest: B256,
    /// 1 ISSUED, 2 SUSPENDED, 3 REINSTATED, 4 REVOKED, 5 ANNULLED, 6 AMENDED, 7 EXPIRED.
    pub status: u8,
    /// Sequence number of the status batch.
    pub sequence: u64,
    /// Where the log is.
    pub position: LogPosition,
}

/// What happened to an MRA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MraChange {
    /// `MraProposed`.
    Proposed {
        /// The proposing country.
        proposer: [u8; 2],
        /// Proposed scope.
        scope: u8,
    },
    /// `MraAccepted`.
    Accepted {
        /// The accepting country.
        acceptor: [u8; 2],
        /// Agreed scope.
        scope: u8,
    },
    /// `MraSuspended`.
    Suspended {
        /// The suspending country.
        by: [u8; 2],
    },
    /// `MraResumed`.
    Resumed {
        /// The resuming country.
        by: [u8; 2],
    },
    /// `MraTerminated`.
    Terminated {
        /// The terminating country.
        by: [u8; 2],
    },
}

/// An MRA event; the pair is in ascending byte order, as the contract indexes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MraEvent {
    /// The lower country code of the pair.
    pub low: [u8; 2],
    /// The higher country code of the pair.
    pub high: [u8; 2],
    /// What happened.
    pub change: MraChange,
    /// Where the log is.
    pub position: LogPosition,
}

/// A mined transaction, with the created contract for deployments.
struct Mined {
    outcome: TxOutcome,
    contract_address: Option<Address>,
}

/// An HTTP provider whose requests give up after `request_timeout` (reqwest has no timeout by
/// default, so a node that accepts connections but never answers would hang callers forever).
pub(crate) fn http_provider(url: reqwest::Url, request_timeout: Duration) -> RootProvider {
    let client = reqwest::Client::builder()
        .connect_timeout(request_timeout)
        .timeout(request_timeout)
        .build()
        // Only fails when the TLS backend cannot initialise, which no caller could handle.
        .expect("HTTP client with default TLS");
    let is_local = alloy::transports::utils::guess_local_url(url.as_str());
    RootProvider::new(RpcClient::new(Http::with_client(client, url), is_local))
}

impl ChainClient {
    /// Connects and checks that the node serves `config.chain_id`. Contract addresses come from
    /// `config.contracts` (or later [`ChainClient::with_contracts`]).
    #[tracing::instrument(skip_all, fields(rpc_url = %config.rpc_url, chain_id = config.chain_id))]
    pub async fn connect(config: ChainConfig, signer: PrivateKeySigner) -> Result<Self, ChainError> {
        let client = Self::offline(config, signer)?;
        client.check_chain_id().await?;
        Ok(client)
    }

    /// A client that has not talked to the node yet: a service that must start while the chain
    /// is down builds this and calls [`ChainClient::check_chain_id`] once it answers.
    pub fn offline(config: ChainConfig, signer: PrivateKeySigner) -> Result<Self, ChainError> {
        let url = config
            .rpc_url
            .parse()
            .map_err(|e| ChainError::Config(format!("rpc_url {:?} is not a URL: {e}", config.rpc_url)))?;
        if config.poll_interval.is_zero() || config.request_timeout.is_zero() {
            return Err(ChainError::Config("poll_interval_ms and request_timeout_secs must be positive".into()));
        }
        let provider = http_provider(url, config.request_timeout);
        let contracts = config.contracts;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                provider,
                signer,
                send_lock: tokio::sync::Mutex::new(()),
                fee_model: tokio::sync::OnceCell::new(),
            }),
            contracts,
        })
    }

    /// Checks that the node serves the configured chain id.
    pub async fn check_chain_id(&self) -> Result<(), ChainError> {
        let config = &self.inner.config;
        let actual = self
            .inner
            .provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::from_transport(e, &config.rpc_url, Target::Anchor))?;
        if actual != config.chain_id {
            return Err(ChainError::WrongChain { expected: config.chain_id, actual });
        }
        Ok(())
    }

    /// The same client (sharing connection and send lock) bound to these registries.
    pub fn with_contracts(&self, contracts: ContractAddresses) -> Self {
        Self { inner: Arc::clone(&self.inner), contracts: Some(contracts) }
    }

    /// The registries this client is bound to.
    pub fn contracts(&self) -> Option<ContractAddresses> {
        self.contracts
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.inner.signer.address()
    }

    /// The configuration it was connected with.
    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    /// The underlying provider, for reads this client does not wrap.
    pub fn provider(&self) -> &RootProvider {
        &self.inner.provider
    }

    // ------------------------------------------------------------------ deployment

    /// Deploys `AuthorityRegistry(governance, forwarder)` then `AnchorRegistry(registry,
    /// forwarder)`, where the forwarder is `address(0)` in Standard mode and the configured
    /// `relay_hub` in LACChain mode (refused without one).
    pub async fn deploy(&self, governance: Address) -> Result<Deployment, ChainError> {
        let forwarder = match &self.inner.config.mode {
            TxMode::Standard => Address::ZERO,
            TxMode::LacChain { relay_hub: Some(hub), .. } => *hub,
            TxMode::LacChain { relay_hub: None, .. } => {
                return Err(ChainError::Config(
                    "deploying in LACChain mode needs mode.relay_hub (the trusted forwarder)".into(),
                ));
            }
        };
        self.deploy_with_forwarder(governance, forwarder).await
    }

    /// Deploys both registries with an explicit trusted forwarder (`address(0)`: none).
    #[tracing::instrument(skip(self))]
    pub async fn deploy_with_forwarder(
        &self,
        governance: Address,
        forwarder: Address,
    ) -> Result<Deployment, ChainError> {
        let mut code = AuthorityRegistry::BYTECODE.to_vec();
        code.extend(AuthorityRegistry::constructorCall { initialGovernance: governance, forwarder }.abi_encode());
        let auth = self.transact(None, code.into(), Target::Authority).await?;
        let authority_registry =
            auth.contract_address.ok_or(ChainError::NoContractAddress { tx_hash: auth.outcome.tx_hash })?;

        let mut code = AnchorRegistry::BYTECODE.to_vec();
        code.extend(AnchorRegistry::constructorCall { authorityRegistry: authority_registry, forwarder }.abi_encode());
        let anchor = self.transact(None, code.into(), Target::Anchor).await?;
        let anchor_registry =
            anchor.contract_address.ok_or(ChainError::NoContractAddress { tx_hash: anchor.outcome.tx_hash })?;

        tracing::info!(%authority_registry, %anchor_registry, "registries deployed");
        Ok(Deployment {
            authority_registry,
            anchor_registry,
            block: auth.outcome.block_number,
            authority_registry_tx: auth.outcome,
            anchor_registry_tx: anchor.outcome,
        })
    }

    // ------------------------------------------------------------------ AuthorityRegistry writes

    /// Governance: admits `country` (ISO alpha-2, upper case) with its DID and first anchorer.
    #[tracing::instrument(skip(self), fields(country = %show(country)))]
    pub async fn admit_authority(
        &self,
        country: [u8; 2],
        did: &str,
        anchorer: Address,
    ) -> Result<TxOutcome, ChainError> {
        let call =
            AuthorityRegistry::admitAuthorityCall { country: FixedBytes(country), did: did.to_owned(), anchorer };
        self.send_authority(&call).await
    }

    /// Governance: sets the DID of `country`'s authority (its node moved, say).
    pub async fn set_did(&self, country: [u8; 2], did: &str) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::setDidCall { country: FixedBytes(country), did: did.to_owned() }).await
    }

    /// Governance, or the current anchorer of an active authority: replaces its anchorer.
    #[tracing::instrument(skip(self), fields(country = %show(country)))]
    pub async fn rotate_anchorer(&self, country: [u8; 2], new_anchorer: Address) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::rotateAnchorerCall {
            country: FixedBytes(country),
            newAnchorer: new_anchorer,
        })
        .await
    }

    /// Governance: suspends an authority (it can no longer anchor or record status changes).
    #[tracing::instrument(skip(self), fields(country = %show(country)))]
    pub async fn suspend_authority(&self, country: [u8; 2]) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::suspendAuthorityCall { country: FixedBytes(country) }).await
    }

    /// Governance: reinstates a suspended authority.
    #[tracing::instrument(skip(self), fields(country = %show(country)))]
    pub async fn reinstate_authority(&self, country: [u8; 2]) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::reinstateAuthorityCall { country: FixedBytes(country) }).await
    }

    /// Anchorer: proposes an MRA with `partner` (scope bitmask 1|2|4).
    #[tracing::instrument(skip(self), fields(partner = %show(partner)))]
    pub async fn propose_mra(&self, partner: [u8; 2], scope: u8) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::proposeMraCall { partner: FixedBytes(partner), scope }).await
    }

    /// Anchorer: accepts `proposer`'s proposal; `scope` must equal the proposed one.
    #[tracing::instrument(skip(self), fields(proposer = %show(proposer)))]
    pub async fn accept_mra(&self, proposer: [u8; 2], scope: u8) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::acceptMraCall { proposer: FixedBytes(proposer), scope }).await
    }

    /// Anchorer of either party: suspends the active MRA with `partner`.
    #[tracing::instrument(skip(self), fields(partner = %show(partner)))]
    pub async fn suspend_mra(&self, partner: [u8; 2]) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::suspendMraCall { partner: FixedBytes(partner) }).await
    }

    /// Anchorer of the party that suspended: resumes the MRA with `partner`.
    #[tracing::instrument(skip(self), fields(partner = %show(partner)))]
    pub async fn resume_mra(&self, partner: [u8; 2]) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::resumeMraCall { partner: FixedBytes(partner) }).await
    }

    /// Anchorer of either party: terminates the MRA (or withdraws/declines a proposal).
    #[tracing::instrument(skip(self), fields(partner = %show(partner)))]
    pub async fn terminate_mra(&self, partner: [u8; 2]) -> Result<TxOutcome, ChainError> {
        self.send_authority(&AuthorityRegistry::terminateMraCall { partner: FixedBytes(partner) }).await
    }

    // ------------------------------------------------------------------ AnchorRegistry writes

    /// Anchorer: anchors a batch root as the authority's next sequence number. Returns once the
    /// transaction is mined and confirmed.
    ///
    /// Idempotency: the contract checks the sequence before the root, so resending a batch that
    /// did land fails with [`ChainError::BadSequence`] `{ expected: sequence + 1, got: sequence }`
    /// (confirm with [`ChainClient::anchor_of`]); [`ChainError::AlreadyAnchored`] means the
    /// sequence was free but the root was anchored before under another sequence.
    #[tracing::instrument(skip(self))]
    pub async fn anchor_batch(&self, root: B256, count: u32, sequence: u64) -> Result<TxOutcome, ChainError> {
        self.send_anchor(&AnchorRegistry::anchorBatchCall { root, count, sequence }).await
    }

    /// Anchorer: records status changes (`statuses[i]` for `digests[i]`, codes 1-7) as the
    /// authority's next sequence number; the chain emits one `StatusChanged` per entry.
    #[tracing::instrument(skip(self, digests, statuses), fields(entries = digests.len()))]
    pub async fn record_status_batch(
        &self,
        sequence: u64,
        digests: &[B256],
        statuses: &[u8],
    ) -> Result<TxOutcome, ChainError> {
        let call =
            AnchorRegistry::recordStatusBatchCall { sequence, digests: digests.to_vec(), statuses: statuses.to_vec() };
        self.send_anchor(&call).await
    }

    // ------------------------------------------------------------------ views

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.inner.provider.get_block_number().await.map_err(|e| self.transport_error(e, Target::Anchor))
    }

    /// The block that holds transaction `tx_hash` on the chain as it is now; `None` when the
    /// chain does not hold it (never mined, or taken away by a reorg or a restored node).
    pub async fn mined_in(&self, tx_hash: B256) -> Result<Option<u64>, ChainError> {
        let receipt = self
            .inner
            .provider
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(|e| self.transport_error(e, Target::Anchor))?;
        Ok(receipt.and_then(|r| r.block_number))
    }

    /// The last sequence number `country` used (0 before its first batch).
    pub async fn last_sequence(&self, country: [u8; 2]) -> Result<u64, ChainError> {
        self.anchor_registry()?
            .lastSequence(FixedBytes(country))
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Anchor))
    }

    /// What is known about `root`; `None` when it was never anchored.
    pub async fn anchor_of(&self, root: B256) -> Result<Option<AnchorRecord>, ChainError> {
        let r = self
            .anchor_registry()?
            .anchorOf(root)
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Anchor))?;
        Ok((r.sequence != 0).then_some(AnchorRecord {
            country: r.country.0,
            anchorer: r.anchorer,
            count: r.count,
            sequence: r.sequence,
            block_number: r.blockNumber,
            timestamp: r.timestamp,
        }))
    }

    /// The authority of `country`; `None` when it was never admitted.
    pub async fn authority(&self, country: [u8; 2]) -> Result<Option<AuthorityRecord>, ChainError> {
        let r = self
            .authority_registry()?
            .authority(FixedBytes(country))
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Authority))?;
        Ok((r.anchorer != Address::ZERO).then_some(AuthorityRecord {
            did: r.did,
            anchorer: r.anchorer,
            active: r.active,
            admitted_at_block: r.admittedAtBlock,
        }))
    }

    /// Every admitted authority's country, in admission order.
    pub async fn countries(&self) -> Result<Vec<[u8; 2]>, ChainError> {
        let list = self
            .authority_registry()?
            .countries()
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Authority))?;
        Ok(list.into_iter().map(|c| c.0).collect())
    }

    /// The authority `anchorer` currently anchors for; `None` when it is no current anchorer.
    pub async fn authority_of(&self, anchorer: Address) -> Result<Option<AnchorerRole>, ChainError> {
        let r = self
            .authority_registry()?
            .authorityOf(anchorer)
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Authority))?;
        Ok((r.country != FixedBytes::ZERO).then_some(AnchorerRole { country: r.country.0, active: r.active }))
    }

    /// The MRA between `a` and `b` (either order).
    pub async fn mra(&self, a: [u8; 2], b: [u8; 2]) -> Result<MraRecord, ChainError> {
        let r = self
            .authority_registry()?
            .mra(FixedBytes(a), FixedBytes(b))
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Authority))?;
        Ok(MraRecord {
            state: MraState::from_code(r.state)?,
            scope: r.scope,
            proposer: r.proposer.0,
            since_block: r.sinceBlock,
        })
    }

    /// On-chain check of an OpenZeppelin `StandardMerkleTree` proof (sorted-pair keccak256).
    pub async fn verify_leaf(&self, root: B256, proof: &[B256], leaf: B256) -> Result<bool, ChainError> {
        self.anchor_registry()?
            .verifyLeaf(root, proof.to_vec(), leaf)
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Anchor))
    }

    /// The tree leaf the contract derives from a digest:
    /// `keccak256(bytes.concat(keccak256(abi.encode(digest))))`.
    pub async fn leaf_of(&self, digest: B256) -> Result<B256, ChainError> {
        self.anchor_registry()?
            .leafOf(digest)
            .block(BlockId::latest())
            .call()
            .await
            .map_err(|e| self.contract_error(e, Target::Anchor))
    }

    // ------------------------------------------------------------------ events

    /// `BatchAnchored` events in blocks `from..=to`, in chain order.
    pub async fn batch_anchored(&self, from: u64, to: u64) -> Result<Vec<BatchAnchoredEvent>, ChainError> {
        let address = self.require_contracts()?.anchor_registry;
        let logs = self.logs(address, vec![AnchorRegistry::BatchAnchored::SIGNATURE_HASH], from, to).await?;
        logs.iter()
            .map(|log| {
                let e = decode::<AnchorRegistry::BatchAnchored>(log)?;
                Ok(BatchAnchoredEvent {
                    country: e.country.0,
                    sequence: e.sequence,
                    root: e.root,
                    count: e.count,
                    position: position(log)?,
                })
            })
            .collect()
    }

    /// `StatusChanged` events in blocks `from..=to`, in chain order.
    pub async fn status_changed(&self, from: u64, to: u64) -> Result<Vec<StatusChangedEvent>, ChainError> {
        let address = self.require_contracts()?.anchor_registry;
        let logs = self.logs(address, vec![AnchorRegistry::StatusChanged::SIGNATURE_HASH], from, to).await?;
        logs.iter()
            .map(|log| {
                let e = decode::<AnchorRegistry::StatusChanged>(log)?;
                Ok(StatusChangedEvent {
                    country: e.country.0,
                    digest: e.digest,
                    status: e.status,
                    sequence: e.sequence,
                    position: position(log)?,
                })
            })
            .collect()
    }

    /// `BatchAnchored` events of one authority in blocks `from..=to` (filtered by the node).
    pub async fn batch_anchored_by(
        &self,
        country: [u8; 2],
        from: u64,
        to: u64,
    ) -> Result<Vec<BatchAnchoredEvent>, ChainError> {
        let address = self.require_contracts()?.anchor_registry;
        let topics = [Some(country_topic(country)), None];
        let logs =
            self.logs_where(address, vec![AnchorRegistry::BatchAnchored::SIGNATURE_HASH], topics, from, to).await?;
        logs.iter()
            .map(|log| {
                let e = decode::<AnchorRegistry::BatchAnchored>(log)?;
                Ok(BatchAnchoredEvent {
                    country: e.country.0,
                    sequence: e.sequence,
                    root: e.root,
                    count: e.count,
                    position: position(log)?,
                })
            })
            .collect()
    }

    /// `StatusBatchRecorded` events of one authority in blocks `from..=to`: (sequence, count,
    /// position).
    pub async fn status_batches_by(
        &self,
        country: [u8; 2],
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, u32, LogPosition)>, ChainError> {
        let address = self.require_contracts()?.anchor_registry;
        let topics = [Some(country_topic(country)), None];
        let logs = self
            .logs_where(address, vec![AnchorRegistry::StatusBatchRecorded::SIGNATURE_HASH], topics, from, to)
            .await?;
        logs.iter()
            .map(|log| {
                let e = decode::<AnchorRegistry::StatusBatchRecorded>(log)?;
                Ok((e.sequence, e.count, position(log)?))
            })
            .collect()
    }

    /// `StatusChanged` events of one credential digest by `country` in blocks `from..=to`:
    /// the credential's status history on chain, oldest first.
    pub async fn status_history(
        &self,
        country: [u8; 2],
        digest: B256,
        from: u64,
        to: u64,
    ) -> Result<Vec<StatusChangedEvent>, ChainError> {
        let address = self.require_contracts()?.anchor_registry;
        let topics = [Some(country_topic(country)), Some(digest)];
        let logs =
            self.logs_where(address, vec![AnchorRegistry::StatusChanged::SIGNATURE_HASH], topics, from, to).await?;
        logs.iter()
            .map(|log| {
                let e = decode::<AnchorRegistry::StatusChanged>(log)?;
                Ok(StatusChangedEvent {
                    country: e.country.0,
                    digest: e.digest,
                    status: e.status,
                    sequence: e.sequence,
                    position: position(log)?,
                })
            })
            .collect()
    }

    /// All MRA events (proposed, accepted, suspended, resumed, terminated) in blocks
    /// `from..=to`, in chain order.
    pub async fn mra_events(&self, from: u64, to: u64) -> Result<Vec<MraEvent>, ChainError> {
        use AuthorityRegistry::{MraAccepted, MraProposed, MraResumed, MraSuspended, MraTerminated};
        let address = self.require_contracts()?.authority_registry;
        let signatures = vec![
            MraProposed::SIGNATURE_HASH,
            MraAccepted::SIGNATURE_HASH,
            MraSuspended::SIGNATURE_HASH,
            MraResumed::SIGNATURE_HASH,
            MraTerminated::SIGNATURE_HASH,
        ];
        let logs = self.logs(address, signatures, from, to).await?;
        logs.iter()
            .map(|log| {
                let topic = log.topic0().copied().unwrap_or_default();
                let (low, high, change) = if topic == MraProposed::SIGNATURE_HASH {
                    let e = decode::<MraProposed>(log)?;
                    (e.low, e.high, MraChange::Proposed { proposer: e.proposer.0, scope: e.scope })
                } else if topic == MraAccepted::SIGNATURE_HASH {
                    let e = decode::<MraAccepted>(log)?;
                    (e.low, e.high, MraChange::Accepted { acceptor: e.acceptor.0, scope: e.scope })
                } else if topic == MraSuspended::SIGNATURE_HASH {
                    let e = decode::<MraSuspended>(log)?;
                    (e.low, e.high, MraChange::Suspended { by: e.by.0 })
                } else if topic == MraResumed::SIGNATURE_HASH {
                    let e = decode::<MraResumed>(log)?;
                    (e.low, e.high, MraChange::Resumed { by: e.by.0 })
                } else {
                    let e = decode::<MraTerminated>(log)?;
                    (e.low, e.high, MraChange::Terminated { by: e.by.0 })
                };
                Ok(MraEvent { low: low.0, high: high.0, change, position: position(log)? })
            })
            .collect()
    }

    /// `eth_getLogs` over `from..=to` in chunks of [`LOG_RANGE`] blocks.
    async fn logs(&self, address: Address, signatures: Vec<B256>, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        self.logs_where(address, signatures, [None, None], from, to).await
    }

    /// Logs of these events with their first two indexed topics optionally fixed.
    async fn logs_where(
        &self,
        address: Address,
        signatures: Vec<B256>,
        topics: [Option<B256>; 2],
        from: u64,
        to: u64,
    ) -> Result<Vec<Log>, ChainError> {
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = start.saturating_add(LOG_RANGE - 1).min(to);
            let mut filter =
                Filter::new().address(address).event_signature(signatures.clone()).from_block(start).to_block(end);
            if let Some(topic) = topics[0] {
                filter = filter.topic1(topic);
            }
            if let Some(topic) = topics[1] {
                filter = filter.topic2(topic);
            }
            let logs =
                self.inner.provider.get_logs(&filter).await.map_err(|e| self.transport_error(e, Target::Anchor))?;
            out.extend(logs);
            if end == u64::MAX {
                break;
            }
            start = end + 1;
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ sending

    fn require_contracts(&self) -> Result<ContractAddresses, ChainError> {
        self.contracts.ok_or(ChainError::NoContracts)
    }

    fn anchor_registry(&self) -> Result<AnchorRegistry::AnchorRegistryInstance<&RootProvider>, ChainError> {
        Ok(AnchorRegistry::new(self.require_contracts()?.anchor_registry, &self.inner.provider))
    }

    fn authority_registry(&self) -> Result<AuthorityRegistry::AuthorityRegistryInstance<&RootProvider>, ChainError> {
        Ok(AuthorityRegistry::new(self.require_contracts()?.authority_registry, &self.inner.provider))
    }

    async fn send_authority<C: SolCall>(&self, call: &C) -> Result<TxOutcome, ChainError> {
        let to = self.require_contracts()?.authority_registry;
        Ok(self.transact(Some(to), call.abi_encode().into(), Target::Authority).await?.outcome)
    }

    async fn send_anchor<C: SolCall>(&self, call: &C) -> Result<TxOutcome, ChainError> {
        let to = self.require_contracts()?.anchor_registry;
        Ok(self.transact(Some(to), call.abi_encode().into(), Target::Anchor).await?.outcome)
    }

    fn transport_error(&self, e: alloy::transports::TransportError, target: Target) -> ChainError {
        ChainError::from_transport(e, &self.inner.config.rpc_url, target)
    }

    fn contract_error(&self, e: alloy::contract::Error, target: Target) -> ChainError {
        match e {
            alloy::contract::Error::TransportError(e) => self.transport_error(e, target),
            other => ChainError::Decode(other.to_string()),
        }
    }

    /// Builds, signs and sends one transaction, then waits for its receipt and confirmations.
    ///
    /// `data` is the calldata (or creation code) without any gas-model suffix. The gas estimate
    /// doubles as a dry run: a transaction that would revert is never sent, and its custom error
    /// comes back typed.
    async fn transact(&self, to: Option<Address>, data: Bytes, target: Target) -> Result<Mined, ChainError> {
        let inner = &self.inner;
        let from = inner.signer.address();
        let map = |e| self.transport_error(e, target);

        let (tx_hash, sent_data) = {
            // Held until the node has the transaction, so the next sender sees it in `pending`.
            let _guard = inner.send_lock.lock().await;
            let nonce = inner.provider.get_transaction_count(from).pending().await.map_err(map)?;
            // Gas model: (node address, expiration), fixed once so the estimate and the signed
            // transaction carry the same suffix.
            let gas_model = match &inner.config.mode {
                TxMode::Standard => None,
                TxMode::LacChain { node_address, expiration_secs, .. } => {
                    Some((*node_address, expiration(*expiration_secs)))
                }
            };
            let sent_data = match gas_model {
                None => data.clone(),
                Some((node, exp)) => lacchain::with_gas_model_suffix(&data, node, exp),
            };
            let mut request = TransactionRequest::default().from(from).input(sent_data.clone().into());
            if let Some(to) = to {
                request = request.to(to);
            }
            let estimate = inner.provider.estimate_gas(request).await.map_err(map)?;
            let (raw, local_hash) = match gas_model {
                Some((node, exp)) => {
                    // The RelayHub's own work comes on top of the contract call; gas is free on
                    // LACChain (price 0), so be generous rather than run out.
                    let gas_limit = estimate.saturating_mul(3) / 2;
                    let tx = lacchain::sign_lacchain_tx(&inner.signer, nonce, to, &data, gas_limit, node, exp)?;
                    (tx.raw, tx.hash)
                }
                None => {
                    // Margin for state that changes between estimate and inclusion.
                    let gas_limit = estimate.saturating_mul(6) / 5;
                    self.sign_standard(nonce, to, sent_data.clone(), gas_limit).await?
                }
            };
            let pending = inner.provider.send_raw_transaction(&raw).await.map_err(map)?;
            let tx_hash = *pending.tx_hash();
            if tx_hash != local_hash {
                // LACChain writer nodes may answer with the hash of their relay transaction:
                // that is the one to follow.
                tracing::debug!(%tx_hash, %local_hash, "node returned another hash than keccak256(raw)");
            }
            tracing::debug!(%tx_hash, nonce, gas_estimate = estimate, "transaction sent");
            (tx_hash, sent_data)
        };

        let receipt = self.wait_for_receipt(tx_hash).await?;
        let block_number =
            receipt.block_number.ok_or_else(|| ChainError::Decode("receipt without block number".into()))?;
        if !receipt.status() {
            return Err(self.failure_reason(from, to, sent_data, &receipt, block_number, target).await);
        }
        self.wait_for_confirmations(tx_hash, block_number).await?;
        Ok(Mined {
            outcome: TxOutcome { tx_hash, block_number, gas_used: receipt.gas_used },
            contract_address: receipt.contract_address,
        })
    }

    /// Signs a Standard-mode transaction (EIP-155 chain id): EIP-1559 where the chain has a base
    /// fee, legacy otherwise. Returns the raw bytes and their hash.
    async fn sign_standard(
        &self,
        nonce: u64,
        to: Option<Address>,
        input: Bytes,
        gas_limit: u64,
    ) -> Result<(Bytes, B256), ChainError> {
        let inner = &self.inner;
        let map = |e| self.transport_error(e, Target::Anchor);
        let kind = to.map_or(TxKind::Create, TxKind::Call);
        let chain_id = inner.config.chain_id;
        let model = *inner
            .fee_model
            .get_or_try_init(|| async {
                let block = inner.provider.get_block_by_number(BlockNumberOrTag::Latest).await.map_err(map)?;
                let base_fee = block.and_then(|b| b.header.base_fee_per_gas);
                Ok::<_, ChainError>(if base_fee.is_some() { FeeModel::Eip1559 } else { FeeModel::Legacy })
            })
            .await?;
        match model {
            FeeModel::Eip1559 => {
                let fees = inner.provider.estimate_eip1559_fees().await.map_err(map)?;
                let tx = TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: fees.max_fee_per_gas,
                    max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
                    to: kind,
                    value: U256::ZERO,
                    access_list: Default::default(),
                    input,
                };
                let signature = inner.signer.sign_hash_sync(&tx.signature_hash())?;
                let signed = tx.into_signed(signature);
                Ok((signed.encoded_2718().into(), *signed.hash()))
            }
            FeeModel::Legacy => {
                let gas_price = inner.provider.get_gas_price().await.map_err(map)?;
                let tx = TxLegacy {
                    chain_id: Some(chain_id),
                    nonce,
                    gas_price,
                    gas_limit,
                    to: kind,
                    value: U256::ZERO,
                    input,
                };
                let signature = inner.signer.sign_hash_sync(&tx.signature_hash())?;
                let signed = tx.into_signed(signature);
                Ok((signed.encoded_2718().into(), *signed.hash()))
            }
        }
    }

    /// Polls for the receipt until `tx_timeout`. An unreachable node while waiting is not fatal:
    /// the transaction is out there, and the node may come back within the timeout.
    async fn wait_for_receipt(&self, tx_hash: B256) -> Result<TransactionReceipt, ChainError> {
        let config = &self.inner.config;
        let started = Instant::now();
        loop {
            match self.inner.provider.get_transaction_receipt(tx_hash).await {
                Ok(Some(receipt)) if receipt.block_number.is_some() => return Ok(receipt),
                Ok(_) => {}
                Err(e) => match self.transport_error(e, Target::Anchor) {
                    e @ ChainError::Unreachable { .. } => tracing::warn!(%tx_hash, "waiting for receipt: {e}"),
                    e => return Err(e),
                },
            }
            let waited = started.elapsed();
            if waited >= config.tx_timeout {
                return Err(ChainError::NotMined { tx_hash, waited });
            }
            tokio::time::sleep(config.poll_interval.min(config.tx_timeout - waited)).await;
        }
    }

    /// Waits until `confirmations` blocks sit on top of `block_number` (no-op for 0).
    async fn wait_for_confirmations(&self, tx_hash: B256, block_number: u64) -> Result<(), ChainError> {
        let config = &self.inner.config;
        if config.confirmations == 0 {
            return Ok(());
        }
        let started = Instant::now();
        loop {
            match self.inner.provider.get_block_number().await {
                Ok(head) if head >= block_number.saturating_add(config.confirmations) => return Ok(()),
                Ok(_) => {}
                Err(e) => match self.transport_error(e, Target::Anchor) {
                    e @ ChainError::Unreachable { .. } => tracing::warn!(%tx_hash, "waiting for confirmations: {e}"),
                    e => return Err(e),
                },
            }
            let waited = started.elapsed();
            if waited >= config.tx_timeout {
                return Err(ChainError::NotConfirmed { tx_hash, block_number, confirmations: config.confirmations });
            }
            tokio::time::sleep(config.poll_interval.min(config.tx_timeout - waited)).await;
        }
    }

    /// Why a mined transaction failed: replays it with `eth_call` on the state after its block
    /// (where a competing anchor of the same root or sequence is already visible) and decodes the
    /// revert; [`ChainError::TxFailed`] when the replay does not revert (e.g. out of gas).
    async fn failure_reason(
        &self,
        from: Address,
        to: Option<Address>,
        data: Bytes,
        receipt: &TransactionReceipt,
        block_number: u64,
        target: Target,
    ) -> ChainError {
        let failed =
            ChainError::TxFailed { tx_hash: receipt.transaction_hash, block_number, gas_used: receipt.gas_used };
        let mut request = TransactionRequest::default().from(from).input(data.into());
        if let Some(to) = to {
            request = request.to(to);
        }
        match self.inner.provider.call(request).block(BlockId::number(block_number)).await {
            Err(e) => match self.transport_error(e, target) {
                e @ (ChainError::AlreadyAnchored { .. }
                | ChainError::BadSequence { .. }
                | ChainError::AnchorRegistry(_)
                | ChainError::AuthorityRegistry(_)
                | ChainError::Reverted { .. }) => e,
                _ => failed,
            },
            Ok(_) => failed,
        }
    }
}

/// `now + secs` as unix seconds (the gas model's `expiration`).
fn expiration(secs: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    now.saturating_add(secs)
}

fn decode<E: SolEvent>(log: &Log) -> Result<E, ChainError> {
    log.log_decode::<E>().map(|l| l.inner.data).map_err(|e| ChainError::Decode(format!("{}: {e}", E::SIGNATURE)))
}

fn position(log: &Log) -> Result<LogPosition, ChainError> {
    match (log.block_number, log.transaction_hash, log.log_index) {
        (Some(block_number), Some(tx_hash), Some(log_index)) => Ok(LogPosition { block_number, tx_hash, log_index }),
        _ => Err(ChainError::Decode("log without block number, transaction hash or index".into())),
    }
}

/// "MX" for logs (or the hex of a non-ASCII code).
fn show(country: [u8; 2]) -> String {
    match std::str::from_utf8(&country) {
        Ok(s) if country.iter().all(u8::is_ascii_graphic) => s.to_owned(),
        _ => format!("0x{:02x}{:02x}", country[0], country[1]),
    }
}

/// An indexed `bytes2` as its topic: the two bytes left-aligned in a zeroed word.
fn country_topic(country: [u8; 2]) -> B256 {
    let mut word = [0u8; 32];
    word[..2].copy_from_slice(&country);
    B256::from(word)
}
