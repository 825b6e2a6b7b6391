//! The dev network's chain: a local anvil (from npm, state kept in `DIR/chain/`), the registries
//! deployed once, each country's authority admitted with its node's DID and its own anchorer
//! account, and MRAs between the first country and each other one (none among the others).
//!
//! anvil's dev accounts: 0 is governance (deploys and admits), 1.. anchor for the countries in
//! the order given.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cadena_contracts::anvil::{Anvil, AnvilOptions, DEV_PRIVATE_KEYS};
use cadena_contracts::{ChainClient, ChainConfig, ContractAddresses};
use cadena_credentials::CountryCode;
use serde::{Deserialize, Serialize};

/// `chain` in `network.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// JSON-RPC URL.
    pub rpc: String,
    /// Chain id.
    pub chain_id: u64,
    /// The registries.
    pub contracts: ContractsInfo,
}

/// Registry addresses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContractsInfo {
    /// `AuthorityRegistry`.
    pub authority_registry: String,
    /// `AnchorRegistry`.
    pub anchor_registry: String,
}

/// A running dev chain.
#[derive(Debug)]
pub struct DevChain {
    /// The anvil process (stopped, with its state written, by [`DevChain::stop`]).
    pub anvil: Anvil,
    /// The registries.
    pub contracts: ContractAddresses,
}

/// Every certificate type: security and safety, customs simplifications, full.
const ALL_TYPES: u8 = 1 | 2 | 4;

fn anvil_config(anvil: &Anvil, contracts: ContractAddresses) -> ChainConfig {
    let mut config = anvil.chain_config();
    config.contracts = Some(contracts);
    config
}

fn deployment_file(dir: &Path) -> PathBuf {
    dir.join("deployment.json")
}

impl DevChain {
    /// Starts anvil on `port` (None: any), deploys the registries unless the kept state has them,
    /// and admits (or updates) each `(country, did)` with anchorer account `i + 1`.
    pub async fn start(
        data_dir: &Path,
        port: Option<u16>,
        authorities: &[(CountryCode, String)],
    ) -> anyhow::Result<DevChain> {
        let dir = data_dir.join("chain");
        std::fs::create_dir_all(&dir)?;
        let options = AnvilOptions { port, state_path: Some(dir.join("anvil-state.json")), ..Default::default() };
        let anvil = Anvil::spawn_with(options).await.context("starting anvil")?;
        let governance = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await?;
        let kept: Option<ContractsInfo> =
            std::fs::read(deployment_file(&dir)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let contracts = match kept.map(|k| -> anyhow::Result<ContractAddresses> {
            Ok(ContractAddresses {
                authority_registry: k.authority_registry.parse()?,
                anchor_registry: k.anchor_registry.parse()?,
            })
        }) {
            Some(Ok(contracts)) if governance.with_contracts(contracts).last_sequence(*b"ZZ").await.is_ok() => {
                contracts
            }
            _ => {
                let deployment = governance.deploy(anvil.address(0)).await.context("deploying the registries")?;
                let contracts = deployment.addresses();
                let info = ContractsInfo {
                    authority_registry: contracts.authority_registry.to_string(),
                    anchor_registry: contracts.anchor_registry.to_string(),
                };
                std::fs::write(deployment_file(&dir), serde_json::to_vec_pretty(&info)?)?;
                contracts
            }
        };
        let governance = governance.with_contracts(contracts);
        for (i, (country, did)) in authorities.iter().enumerate() {
            let code: [u8; 2] = country.as_str().as_bytes().try_into().expect("two letters");
            let anchorer = anvil.address(i + 1);
            match governance.authority(code).await? {
                None => {
                    governance
                        .admit_authority(code, did, anchorer)
                        .await
                        .with_context(|| format!("admitting {country}"))?;
                }
                Some(existing) if existing.did != *did => {
                    governance.set_did(code, did).await.with_context(|| format!("updating the DID of {country}"))?;
                }
                Some(_) => {}
            }
        }
        // MRAs: the first country with each of the others, sharing every certificate type;
        // none between the others (MX–CO, MX–CR, and no CO–CR, for MX,CO,CR).
        let config = anvil_config(&anvil, contracts);
        let anchorer = |i: usize| ChainClient::connect(config.clone(), anvil.signer(i + 1));
        if let Some((hub, others)) = authorities.split_first() {
            let hub_code: [u8; 2] = hub.0.as_str().as_bytes().try_into().expect("two letters");
            let hub_client = anchorer(0).await?;
            for (j, (country, _)) in others.iter().enumerate() {
                let code: [u8; 2] = country.as_str().as_bytes().try_into().expect("two letters");
                let current = governance.mra(hub_code, code).await?;
                if current.state == cadena_contracts::MraState::Active {
                    continue;
                }
                if current.state != cadena_contracts::MraState::Proposed {
                    hub_client
                        .propose_mra(code, ALL_TYPES)
                        .await
                        .with_context(|| format!("proposing the MRA {}–{country}", hub.0))?;
                }
                anchorer(j + 1)
                    .await?
                    .accept_mra(hub_code, ALL_TYPES)
                    .await
                    .with_context(|| format!("accepting the MRA {}–{country}", hub.0))?;
            }
        }
        Ok(DevChain { anvil, contracts })
    }

    /// The chain section of a node's configuration.
    pub fn node_config(&self) -> ChainConfig {
        anvil_config(&self.anvil, self.contracts)
    }

    /// The anchorer key of the `i`th country.
    pub fn anchorer_key(i: usize) -> &'static str {
        DEV_PRIVATE_KEYS[i + 1]
    }

    /// What `network.json` says of the chain.
    pub fn info(&self) -> ChainInfo {
        ChainInfo {
            rpc: self.anvil.rpc_url(),
            chain_id: self.anvil.chain_id(),
            contracts: ContractsInfo {
                authority_registry: self.contracts.authority_registry.to_string(),
                anchor_registry: self.contracts.anchor_registry.to_string(),
            },
        }
    }

    /// Stops anvil, writing its state for the next start.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.anvil.stop().await?;
        Ok(())
    }
}
