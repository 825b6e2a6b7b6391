//! The chain client against real anvils (one per test, on free ports, in parallel), the node
//! scripts (gas-model package, OpenZeppelin Merkle tree, solc) run as subprocesses, and the
//! configuration parsing. The only test binary of this crate.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::consensus::{Transaction as _, Typed2718 as _};
use alloy::network::TransactionResponse;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::sol_types::{SolCall, SolConstructor};
use cadena_contracts::anvil::{self, Anvil, AnvilOptions, DEV_PRIVATE_KEYS};
use cadena_contracts::bindings::{AnchorRegistry, AuthorityRegistry, LacchainRelayHubMock};
use cadena_contracts::lacchain::{self, sign_lacchain_tx};
use cadena_contracts::{
    ChainClient, ChainConfig, ChainError, ContractAddresses, Deployment, MraChange, MraState, SignerKey, TxMode,
};

const MX: [u8; 2] = *b"MX";
const CO: [u8; 2] = *b"CO";
const CL: [u8; 2] = *b"CL";
const NODE: Address = alloy::primitives::address!("c6e2459991BfE27cca6d86722F35da23A1E4Cb97");

// ---------------------------------------------------------------------------- helpers

/// An anvil with both registries deployed by dev account 0 (governance), MX admitted with
/// account 1 as anchorer and CO with account 2.
struct Net {
    anvil: Anvil,
    gov: ChainClient,
    deployment: Deployment,
}

impl Net {
    async fn start() -> Self {
        Self::start_with(AnvilOptions::default()).await
    }

    async fn start_with(options: AnvilOptions) -> Self {
        let anvil = Anvil::spawn_with(options).await.expect("anvil starts");
        let gov = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await.expect("connects");
        let deployment = gov.deploy(gov.address()).await.expect("deploys");
        let gov = gov.with_contracts(deployment.addresses());
        gov.admit_authority(MX, "did:web:aduana.mx", anvil.address(1)).await.expect("admit MX");
        gov.admit_authority(CO, "did:web:dian.gov.co", anvil.address(2)).await.expect("admit CO");
        Self { anvil, gov, deployment }
    }

    /// A client for dev account `index`, bound to the registries.
    async fn client(&self, index: usize) -> ChainClient {
        self.client_with(index, self.anvil.chain_config()).await
    }

    async fn client_with(&self, index: usize, mut config: ChainConfig) -> ChainClient {
        config.contracts = Some(self.deployment.addresses());
        ChainClient::connect(config, self.anvil.signer(index)).await.expect("connects")
    }
}

fn digest(n: u8) -> B256 {
    B256::repeat_byte(n)
}

/// OpenZeppelin StandardMerkleTree leaf for encoding ["bytes32"]: keccak256(keccak256(abi.encode(d))).
fn leaf(d: B256) -> B256 {
    keccak256(keccak256(d))
}

/// Sorted-pair keccak256, as MerkleProof does.
fn node(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    keccak256([lo.as_slice(), hi.as_slice()].concat())
}

/// Runs a node script in contracts/ with `input` on stdin; returns stdout.
fn node_script(args: &[&str], input: &str) -> String {
    anvil::ensure_npm_packages().expect("npm packages");
    let mut child = Command::new("node")
        .args(args)
        .current_dir(anvil::contracts_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "node {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn b256(v: &serde_json::Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

// ---------------------------------------------------------------------------- pure parts

#[test]
fn config_embeds_in_a_node_toml() {
    use figment::providers::{Format, Toml};

    #[derive(Debug, serde::Deserialize)]
    struct NodeToml {
        chain: ChainConfig,
    }
    let parse = |text: &str| figment::Figment::from(Toml::string(text)).extract::<NodeToml>().expect("parses").chain;

    let c = parse("[chain]\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337\n");
    assert_eq!(c, ChainConfig::new("http://127.0.0.1:8545", 31337));
    assert_eq!(c.mode, TxMode::Standard);
    assert_eq!(c.poll_interval, Duration::from_millis(500));

    let c = parse(
        r#"
        [chain]
        rpc_url = "http://writer:4545"
        chain_id = 648540
        confirmations = 1
        poll_interval_ms = 250
        tx_timeout_secs = 30
        request_timeout_secs = 5
        [chain.mode]
        kind = "lacchain"
        node_address = "0xc6e2459991BfE27cca6d86722F35da23A1E4Cb97"
        expiration_secs = 300
        [chain.contracts]
        authority_registry = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        anchor_registry = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        "#,
    );
    assert_eq!(c.confirmations, 1);
    assert_eq!(c.poll_interval, Duration::from_millis(250));
    assert_eq!(c.tx_timeout, Duration::from_secs(30));
    assert_eq!(c.request_timeout, Duration::from_secs(5));
    assert_eq!(c.mode, TxMode::LacChain { node_address: NODE, expiration_secs: 300, relay_hub: None });
    assert_eq!(
        c.contracts,
        Some(ContractAddresses {
            authority_registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap(),
            anchor_registry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".parse().unwrap(),
        })
    );

    let typo = figment::Figment::from(Toml::string("[chain]\nrpc_url = \"x\"\nchain_id = 1\nconfirmation = 2\n"))
        .extract::<NodeToml>();
    assert!(typo.is_err(), "unknown keys are refused");
}

#[test]
fn signer_key_is_never_printed() {
    let key = SignerKey::Hex(DEV_PRIVATE_KEYS[0].into());
    assert!(!format!("{key:?}").contains("ac0974"));
    let signer = key.load().unwrap();
    assert!(!format!("{signer:?}").contains("ac0974"));
    assert_eq!(signer.address(), anvil::dev_signer(0).address());

    let bad = SignerKey::Hex("0xzz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".into());
    let err = bad.load().unwrap_err().to_string();
    assert!(!err.contains("0974") && !err.contains("zz"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anchorer.key");
    std::fs::write(&path, "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a\n").unwrap();
    assert_eq!(SignerKey::File(path).load().unwrap().address(), anvil::dev_signer(2).address());
}

/// The fixture shipped in @lacchain/gas-model-provider (dist/test/fixtures.js), natively.
#[test]
fn lacchain_reproduces_the_package_fixture() {
    let signer = "9ea92b45be8c30b18da6857cf60cfec534c0d612af34b291fd022ac4573e617c".parse().unwrap();
    let data = alloy::hex::decode("0x52c28fab000000000000000000000000e81d7e5cd979be0a7f6b6c98957a66fdf6240273000000000000000000000000410bd47227a5ea8af81995fa3d66b770af6f85e2").unwrap();
    let to = "0x4F3F9061c42B396746Bb9A232089703E4f9DBF76".parse().unwrap();
    let tx = sign_lacchain_tx(&signer, 71, Some(to), &data, 1234, NODE, 1836394529).unwrap();
    let expected = "0xf8e447808204d2944f3f9061c42b396746bb9a232089703e4f9dbf7680b88452c28fab000000000000000000000000e81d7e5cd979be0a7f6b6c98957a66fdf6240273000000000000000000000000410bd47227a5ea8af81995fa3d66b770af6f85e2000000000000000000000000c6e2459991bfe27cca6d86722f35da23a1e4cb97000000000000000000000000000000000000000000000000000000006d7528211ba0c82f7051ffec883df1a1ce7fbe735cbd61900b8957362709b3614bd3c3309418a03f6b1897320a809a93c17ccc26130a0918a995cfb14fcd7c4108b35778003ab7";
    assert_eq!(tx.raw.to_string(), expected);
    assert_eq!(tx.hash, keccak256(&tx.raw));
}

/// Our bytes against `node scripts/lacchain-tx.mjs` (the package's own signer) for calls,
/// deployments, empty and long data, big nonces and gas limits, several keys.
#[test]
fn lacchain_bytes_match_the_gas_model_package() {
    let anchor_call = AnchorRegistry::anchorBatchCall { root: digest(8), count: 5, sequence: 2 }.abi_encode();
    let mut deploy_code = AuthorityRegistry::BYTECODE.to_vec();
    deploy_code.extend(
        AuthorityRegistry::constructorCall {
            initialGovernance: anvil::dev_signer(0).address(),
            forwarder: Address::ZERO,
        }
        .abi_encode(),
    );
    let long: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let registry: Address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512".parse().unwrap();
    struct Case {
        key: usize,
        nonce: u64,
        to: Option<Address>,
        data: Vec<u8>,
        gas_limit: u64,
        node_address: Address,
        expiration: u64,
    }
    let case = |key, nonce, to, data, gas_limit, node_address, expiration| Case {
        key,
        nonce,
        to,
        data,
        gas_limit,
        node_address,
        expiration,
    };
    let cases = [
        case(1, 0, Some(registry), anchor_call.clone(), 200_000, NODE, 1_736_790_000),
        case(2, 71, Some(registry), vec![], 21_000, NODE, 1_836_394_529),
        case(5, (1 << 32) + 5, Some(NODE), long, 30_000_000, registry, u64::from(u32::MAX) * 300),
        case(0, 3, None, deploy_code, 3_000_000, NODE, 1_736_790_000),
        case(9, 1_000_000, Some(registry), anchor_call, 1, Address::ZERO, 0),
    ];
    for Case { key, nonce, to, data, gas_limit, node_address, expiration } in cases {
        let ours =
            sign_lacchain_tx(&anvil::dev_signer(key), nonce, to, &data, gas_limit, node_address, expiration).unwrap();
        let input = serde_json::json!({
            "privateKey": DEV_PRIVATE_KEYS[key],
            "chainId": 648540,
            "nonce": nonce,
            "to": to.map(|a| a.to_string()),
            "data": Bytes::from(data.clone()).to_string(),
            "gasLimit": gas_limit.to_string(),
            "nodeAddress": node_address.to_string(),
            "expiration": expiration,
        });
        let theirs: serde_json::Value =
            serde_json::from_str(&node_script(&["scripts/lacchain-tx.mjs"], &input.to_string())).unwrap();
        assert_eq!(ours.raw.to_string(), theirs["raw"].as_str().unwrap(), "raw for nonce {nonce}, to {to:?}");
        assert_eq!(ours.hash, b256(&theirs["hash"]));
        assert_eq!(
            theirs["calldata"].as_str().unwrap(),
            lacchain::with_gas_model_suffix(&data, node_address, expiration).to_string()
        );
    }
}

/// The committed artifacts are what the Solidity sources compile to (the bindings and the
/// deployed bytecode come from them).
#[test]
fn artifacts_match_the_solidity_sources() {
    anvil::ensure_npm_packages().expect("npm packages");
    let out =
        Command::new("node").args(["compile.mjs", "--check"]).current_dir(anvil::contracts_dir()).output().unwrap();
    assert!(
        out.status.success(),
        "artifact drift: run `node compile.mjs` in contracts/\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------- against anvil

#[tokio::test]
async fn dev_keys_are_anvils_funded_accounts() {
    let anvil = Anvil::spawn().await.unwrap();
    let provider = ProviderBuilder::new().connect_http(anvil.rpc_url().parse().unwrap());
    let accounts = provider.get_accounts().await.unwrap();
    let ours: Vec<Address> = (0..10).map(|i| anvil.address(i)).collect();
    assert_eq!(accounts, ours);
    assert_eq!(anvil.chain_id(), 31337);
}

#[tokio::test]
async fn deploy_admit_anchor_and_read_back() {
    let net = Net::start().await;
    let gov = &net.gov;
    eprintln!(
        "gas: deploy AuthorityRegistry {} / AnchorRegistry {}",
        net.deployment.authority_registry_tx.gas_used, net.deployment.anchor_registry_tx.gas_used
    );

    let mx = gov.authority(MX).await.unwrap().expect("MX admitted");
    assert_eq!(mx.did, "did:web:aduana.mx");
    assert_eq!(mx.anchorer, net.anvil.address(1));
    assert!(mx.active);
    assert!(mx.admitted_at_block >= net.deployment.block);
    assert_eq!(gov.authority(CL).await.unwrap(), None);
    let role = gov.authority_of(net.anvil.address(1)).await.unwrap().unwrap();
    assert_eq!((role.country, role.active), (MX, true));
    assert_eq!(gov.authority_of(net.anvil.address(7)).await.unwrap(), None);

    // Governance only.
    let err = net.client(3).await.admit_authority(CL, "did:web:x", net.anvil.address(4)).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AuthorityRegistry(AuthorityRegistry::AuthorityRegistryErrors::NotGovernance(ref e)) if e.caller == net.anvil.address(3)),
        "{err:?}"
    );

    let mx_client = net.client(1).await;
    assert_eq!(mx_client.last_sequence(MX).await.unwrap(), 0);
    let root = B256::repeat_byte(0xa1);
    let first = mx_client.anchor_batch(root, 3, 1).await.unwrap();
    let second = mx_client.anchor_batch(B256::repeat_byte(0xa2), 1000, 2).await.unwrap();
    let third = mx_client.anchor_batch(B256::repeat_byte(0xa3), 7, 3).await.unwrap();
    eprintln!(
        "gas: anchorBatch first of an authority {}, steady state {} / {}",
        first.gas_used, second.gas_used, third.gas_used
    );

    let record = gov.anchor_of(root).await.unwrap().expect("anchored");
    assert_eq!(record.country, MX);
    assert_eq!(record.anchorer, net.anvil.address(1));
    assert_eq!((record.count, record.sequence, record.block_number), (3, 1, first.block_number));
    assert!(record.timestamp > 0);
    assert_eq!(gov.anchor_of(B256::repeat_byte(0xee)).await.unwrap(), None);
    assert_eq!(gov.last_sequence(MX).await.unwrap(), 3);
    assert_eq!(gov.last_sequence(CO).await.unwrap(), 0);

    let head = gov.block_number().await.unwrap();
    assert_eq!(head, third.block_number);
    let events = gov.batch_anchored(net.deployment.block, head).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!((events[0].country, events[0].sequence, events[0].root, events[0].count), (MX, 1, root, 3));
    assert_eq!(events[0].position.block_number, first.block_number);
    assert_eq!(events[0].position.tx_hash, first.tx_hash);
    assert_eq!(events[2].position.tx_hash, third.tx_hash);
    // A scan with nothing new (from = last scanned + 1 > head) asks the node nothing.
    assert!(gov.batch_anchored(head + 1, head).await.unwrap().is_empty());
    assert_eq!(gov.batch_anchored(first.block_number, first.block_number).await.unwrap().len(), 1);

    // The two errors the anchoring worker relies on, typed.
    let err = mx_client.anchor_batch(root, 3, 4).await.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyAnchored { root: r } if r == root), "{err:?}");
    let err = mx_client.anchor_batch(B256::repeat_byte(0xa4), 3, 9).await.unwrap_err();
    assert!(matches!(err, ChainError::BadSequence { expected: 4, got: 9 }), "{err:?}");
    let err = mx_client.anchor_batch(B256::repeat_byte(0xa4), 3, 3).await.unwrap_err();
    assert!(matches!(err, ChainError::BadSequence { expected: 4, got: 3 }), "{err:?}");
    let err = mx_client.anchor_batch(B256::ZERO, 3, 4).await.unwrap_err();
    assert!(matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::ZeroRoot(_))), "{err:?}");

    // A non-anchorer is refused.
    let stranger = net.client(6).await;
    let err = stranger.anchor_batch(B256::repeat_byte(0xa5), 1, 1).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::NotAnchorer(ref e)) if e.caller == net.anvil.address(6)),
        "{err:?}"
    );
    // Refused reverts never reached the chain: the sequence is where it was.
    assert_eq!(gov.last_sequence(MX).await.unwrap(), 3);

    // A suspended authority cannot anchor.
    gov.suspend_authority(MX).await.unwrap();
    let err = mx_client.anchor_batch(B256::repeat_byte(0xa5), 1, 4).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::AuthorityNotActive(_))),
        "{err:?}"
    );
    gov.reinstate_authority(MX).await.unwrap();
    mx_client.anchor_batch(B256::repeat_byte(0xa5), 1, 4).await.unwrap();
}

#[tokio::test]
async fn verify_leaf_with_openzeppelin_trees() {
    let net = Net::start().await;
    let c = &net.gov;
    for d in [digest(1), digest(0xb2)] {
        assert_eq!(c.leaf_of(d).await.unwrap(), leaf(d));
    }

    // Two leaves: root = H(l0, l1); each proof is the other leaf.
    let (l0, l1) = (leaf(digest(1)), leaf(digest(2)));
    let root2 = node(l0, l1);
    assert!(c.verify_leaf(root2, &[l1], l0).await.unwrap());
    assert!(c.verify_leaf(root2, &[l0], l1).await.unwrap());
    assert!(!c.verify_leaf(root2, &[l0], l0).await.unwrap(), "wrong proof");
    assert!(!c.verify_leaf(root2, &[l1], leaf(digest(3))).await.unwrap(), "leaf not in the tree");

    // Three leaves, laid out as StandardMerkleTree does: sorted leaves at the end of the array
    // tree [root, n1, s0, s1, s2] reversed, i.e. tree[4] = s0, tree[3] = s1, tree[2] = s2.
    let digests = [digest(0xa1), digest(0xb2), digest(0xc3)];
    let mut s: Vec<B256> = digests.iter().map(|d| leaf(*d)).collect();
    s.sort();
    let n1 = node(s[1], s[0]);
    let root3 = node(n1, s[2]);
    let proofs = [vec![s[1], s[2]], vec![s[0], s[2]], vec![n1]];
    for (l, proof) in s.iter().zip(&proofs) {
        assert!(c.verify_leaf(root3, proof, *l).await.unwrap());
    }
    assert!(!c.verify_leaf(root3, &proofs[0], s[1]).await.unwrap(), "proof of another leaf");
    assert!(!c.verify_leaf(root3, &[s[1]], s[0]).await.unwrap(), "truncated proof");
    assert!(!c.verify_leaf(root2, &proofs[2], s[2]).await.unwrap(), "other root");

    // Same tree as @openzeppelin/merkle-tree (scripts/oz-merkle.mjs) builds.
    let input = serde_json::json!({ "digests": digests.iter().map(|d| d.to_string()).collect::<Vec<_>>() });
    let oz: serde_json::Value =
        serde_json::from_str(&node_script(&["scripts/oz-merkle.mjs"], &input.to_string())).unwrap();
    assert_eq!(b256(&oz["root"]), root3);
    for d in digests {
        let key = d.to_string();
        assert_eq!(b256(&oz["leaves"][&key]), leaf(d));
        let proof: Vec<B256> = oz["proofs"][&key].as_array().unwrap().iter().map(b256).collect();
        assert!(c.verify_leaf(root3, &proof, leaf(d)).await.unwrap());
    }
}

#[tokio::test]
async fn status_batch_emits_one_event_per_digest() {
    let net = Net::start().await;
    let mx = net.client(1).await;
    mx.anchor_batch(B256::repeat_byte(0x11), 3, 1).await.unwrap();

    let digests = [digest(0xd1), digest(0xd2), digest(0xd3)];
    let outcome = mx.record_status_batch(2, &digests, &[1, 2, 4]).await.unwrap();
    eprintln!("gas: recordStatusBatch 3 entries {}", outcome.gas_used);
    assert_eq!(mx.last_sequence(MX).await.unwrap(), 2, "status batches share the anchor sequence");

    let events = mx.status_changed(outcome.block_number, outcome.block_number).await.unwrap();
    assert_eq!(events.len(), 3);
    for (i, e) in events.iter().enumerate() {
        assert_eq!((e.country, e.digest, e.sequence), (MX, digests[i], 2));
        assert_eq!(e.position.tx_hash, outcome.tx_hash);
    }
    assert_eq!(events.iter().map(|e| e.status).collect::<Vec<_>>(), [1, 2, 4]);
    assert!(events.windows(2).all(|w| w[0].position.log_index < w[1].position.log_index));

    let many: Vec<B256> = (0..100u8).map(digest).collect();
    let statuses: Vec<u8> = (0..100u8).map(|i| 1 + i % 7).collect();
    let big = mx.record_status_batch(3, &many, &statuses).await.unwrap();
    eprintln!(
        "gas: recordStatusBatch 100 entries {} ({} per entry)",
        big.gas_used,
        (big.gas_used - outcome.gas_used) / 97
    );
    assert_eq!(mx.status_changed(big.block_number, big.block_number).await.unwrap().len(), 100);

    let err = mx.record_status_batch(4, &digests[..2], &[1, 0]).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::InvalidStatus(ref e)) if e.index == U256::from(1) && e.status == 0),
        "{err:?}"
    );
    let err = mx.record_status_batch(4, &digests, &[1]).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::LengthMismatch(_))),
        "{err:?}"
    );
    let err = mx.record_status_batch(3, &digests, &[1, 1, 1]).await.unwrap_err();
    assert!(matches!(err, ChainError::BadSequence { expected: 4, got: 3 }), "{err:?}");
}

#[tokio::test]
async fn anchorer_rotation() {
    let net = Net::start().await;
    let (old, new) = (net.client(1).await, net.client(5).await);
    let r1 = B256::repeat_byte(0x51);
    old.anchor_batch(r1, 1, 1).await.unwrap();

    let rotated = old.rotate_anchorer(MX, new.address()).await.unwrap();
    eprintln!("gas: rotateAnchorer {}", rotated.gas_used);
    let err = old.anchor_batch(B256::repeat_byte(0x52), 1, 2).await.unwrap_err();
    assert!(matches!(err, ChainError::AnchorRegistry(AnchorRegistry::AnchorRegistryErrors::NotAnchorer(_))), "{err:?}");
    let r2 = B256::repeat_byte(0x52);
    let after = new.anchor_batch(r2, 1, 2).await.unwrap();
    eprintln!("gas: anchorBatch first after a rotation {}", after.gas_used);

    assert_eq!(new.anchor_of(r1).await.unwrap().unwrap().anchorer, old.address(), "old roots keep their anchorer");
    assert_eq!(new.anchor_of(r2).await.unwrap().unwrap().anchorer, new.address());
    assert_eq!(new.authority(MX).await.unwrap().unwrap().anchorer, new.address());
    assert_eq!(new.authority_of(old.address()).await.unwrap(), None);

    // An anchorer of another authority cannot be taken over.
    let err = net.gov.rotate_anchorer(CO, new.address()).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AuthorityRegistry(AuthorityRegistry::AuthorityRegistryErrors::AnchorerInUse(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn mra_life_cycle_with_events() {
    let net = Net::start().await;
    let (mx, co) = (net.client(1).await, net.client(2).await);
    let from = mx.block_number().await.unwrap() + 1;
    assert_eq!(mx.mra(MX, CO).await.unwrap().state, MraState::None);

    let proposed = co.propose_mra(MX, 1).await.unwrap();
    let m = mx.mra(MX, CO).await.unwrap();
    assert_eq!((m.state, m.scope, m.proposer, m.since_block), (MraState::Proposed, 1, CO, proposed.block_number));

    let err = mx.accept_mra(CO, 3).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AuthorityRegistry(AuthorityRegistry::AuthorityRegistryErrors::ScopeMismatch(ref e)) if e.proposed == 1 && e.offered == 3),
        "{err:?}"
    );
    let accepted = mx.accept_mra(CO, 1).await.unwrap();
    assert_eq!(co.mra(CO, MX).await.unwrap().state, MraState::Active, "symmetric");
    let suspended = mx.suspend_mra(CO).await.unwrap();
    assert_eq!(co.mra(CO, MX).await.unwrap().state, MraState::Suspended);
    let err = co.resume_mra(MX).await.unwrap_err();
    assert!(
        matches!(err, ChainError::AuthorityRegistry(AuthorityRegistry::AuthorityRegistryErrors::NotSuspender(_))),
        "{err:?}"
    );
    let resumed = mx.resume_mra(CO).await.unwrap();
    let terminated = co.terminate_mra(MX).await.unwrap();
    assert_eq!(mx.mra(MX, CO).await.unwrap().state, MraState::Terminated);
    eprintln!(
        "gas: proposeMra {} acceptMra {} suspendMra {} resumeMra {} terminateMra {}",
        proposed.gas_used, accepted.gas_used, suspended.gas_used, resumed.gas_used, terminated.gas_used
    );

    let events = mx.mra_events(from, mx.block_number().await.unwrap()).await.unwrap();
    // "CO" < "MX": the pair is indexed (low, high) = (CO, MX) whoever acts.
    assert!(events.iter().all(|e| (e.low, e.high) == (CO, MX)));
    assert_eq!(
        events.iter().map(|e| e.change).collect::<Vec<_>>(),
        [
            MraChange::Proposed { proposer: CO, scope: 1 },
            MraChange::Accepted { acceptor: MX, scope: 1 },
            MraChange::Suspended { by: MX },
            MraChange::Resumed { by: MX },
            MraChange::Terminated { by: CO },
        ]
    );
    let hashes: Vec<B256> = events.iter().map(|e| e.position.tx_hash).collect();
    assert_eq!(hashes, [proposed.tx_hash, accepted.tx_hash, suspended.tx_hash, resumed.tx_hash, terminated.tx_hash]);
}

/// LACChain mode end to end on anvil (no RelayHub there, so the contracts see the signer as
/// msg.sender): raw gas-model transactions for a deployment and for anchorBatch are mined.
#[tokio::test]
async fn lacchain_mode_transactions_are_mined() {
    let net = Net::start().await;
    let mut config = net.anvil.chain_config();
    config.mode = TxMode::LacChain { node_address: NODE, expiration_secs: 300, relay_hub: None };
    let mx = net.client_with(1, config.clone()).await;

    let first = mx.anchor_batch(B256::repeat_byte(0x60), 4, 1).await.unwrap();
    let root = B256::repeat_byte(0x61);
    let outcome = mx.anchor_batch(root, 4, 2).await.unwrap();
    eprintln!(
        "gas: anchorBatch as a gas-model transaction (64-byte suffix): first of an authority {}, steady state {}",
        first.gas_used, outcome.gas_used
    );
    let record = mx.anchor_of(root).await.unwrap().unwrap();
    assert_eq!((record.country, record.anchorer, record.count, record.sequence), (MX, mx.address(), 4, 2));

    let tx = mx.provider().get_transaction_by_hash(outcome.tx_hash).await.unwrap().unwrap();
    let inner = tx.as_ref();
    assert_eq!(inner.gas_price(), Some(0), "gas price 0");
    assert_eq!(inner.chain_id(), None, "pre-EIP-155 signature (v = 27/28)");
    let input = inner.input();
    assert_eq!(input.len(), 4 + 3 * 32 + 64);
    assert_eq!(&input[4 + 96..4 + 96 + 32], NODE.into_word().as_slice(), "node address in the suffix");
    let exp = U256::from_be_slice(&input[input.len() - 32..]).to::<u64>();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!((now + 290..=now + 310).contains(&exp), "expiration = now + 300");
    assert_eq!(tx.from(), mx.address());

    // Typed reverts come back in this mode too (from the estimate, before anything is sent).
    let err = mx.anchor_batch(root, 4, 3).await.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyAnchored { .. }), "{err:?}");

    // A deployment (to: null) in this mode, constructor arguments followed by the suffix.
    let lac_gov = ChainClient::connect(config.clone(), net.anvil.signer(0)).await.unwrap();
    let err = lac_gov.deploy(lac_gov.address()).await.unwrap_err();
    assert!(matches!(err, ChainError::Config(_)), "no relay_hub, no LACChain deploy: {err:?}");
    let d = lac_gov.deploy_with_forwarder(lac_gov.address(), Address::ZERO).await.unwrap();
    let lac_gov = lac_gov.with_contracts(d.addresses());
    lac_gov.admit_authority(CL, "did:web:aduana.cl", net.anvil.address(3)).await.unwrap();
    assert_eq!(lac_gov.authority(CL).await.unwrap().unwrap().anchorer, net.anvil.address(3));
    let tx = lac_gov.provider().get_transaction_by_hash(d.anchor_registry_tx.tx_hash).await.unwrap().unwrap();
    assert_eq!(tx.as_ref().to(), None);
    assert_eq!(tx.as_ref().chain_id(), None);
}

/// Registries deployed with a forwarder honour the RelayHub's `getMsgSender()` (test hub).
#[tokio::test]
async fn registries_deployed_with_a_forwarder_trust_the_relay_hub() {
    let anvil = Anvil::spawn().await.unwrap();
    let wallet = ProviderBuilder::new().wallet(anvil.signer(4)).connect_http(anvil.rpc_url().parse().unwrap());
    let hub = LacchainRelayHubMock::deploy(&wallet).await.unwrap();

    let gov = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await.unwrap();
    let d = gov.deploy_with_forwarder(gov.address(), *hub.address()).await.unwrap();
    let gov = gov.with_contracts(d.addresses());
    gov.admit_authority(CL, "did:web:aduana.cl", anvil.address(3)).await.unwrap();

    // Account 4 relays an anchorBatch for CL's anchorer (account 3), as a writer node would.
    let root = B256::repeat_byte(0x71);
    let data = AnchorRegistry::anchorBatchCall { root, count: 2, sequence: 1 }.abi_encode();
    let receipt = hub
        .relay(d.anchor_registry, data.into(), anvil.address(3), NODE, U256::from(1_736_790_000u64))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let record = gov.anchor_of(root).await.unwrap().unwrap();
    assert_eq!((record.country, record.anchorer), (CL, anvil.address(3)));
}

/// Standard mode picks EIP-1559 where blocks have a base fee and legacy (EIP-155) where not.
#[tokio::test]
async fn standard_mode_follows_the_fee_model() {
    for (options, expect_type, expect_chain_id) in [
        (AnvilOptions { ethereum_fees: true, ..Default::default() }, 2u8, Some(31337)),
        (AnvilOptions { hardfork: Some("berlin".into()), ..Default::default() }, 0u8, Some(31337)),
    ] {
        let net = Net::start_with(options).await;
        let mx = net.client(1).await;
        let outcome = mx.anchor_batch(B256::repeat_byte(0x81), 1, 1).await.unwrap();
        let tx = mx.provider().get_transaction_by_hash(outcome.tx_hash).await.unwrap().unwrap();
        assert_eq!(tx.as_ref().ty(), expect_type);
        assert_eq!(tx.as_ref().chain_id(), expect_chain_id);
    }
}

/// With interval mining and `confirmations = 1`, anchor_batch returns only once a further
/// block is on top.
#[tokio::test]
async fn waits_for_confirmations() {
    let net =
        Net::start_with(AnvilOptions { block_time: Some(Duration::from_millis(300)), ..Default::default() }).await;
    let mut config = net.anvil.chain_config();
    config.confirmations = 1;
    let mx = net.client_with(1, config).await;
    let outcome = mx.anchor_batch(B256::repeat_byte(0x91), 1, 1).await.unwrap();
    assert!(mx.block_number().await.unwrap() > outcome.block_number);
}

/// A transaction that is never mined gives NotMined (the worker resends); once it is mined after
/// all, the resend comes back BadSequence { expected: sequence + 1 } (the contract checks the
/// sequence before the root), and anchor_of(root) shows the batch is on chain under that sequence.
#[tokio::test]
async fn unmined_transaction_times_out_and_resend_is_idempotent() {
    let net = Net::start().await;
    let mut config = net.anvil.chain_config();
    config.tx_timeout = Duration::from_millis(700);
    let mx = net.client_with(1, config).await;
    mx.provider().raw_request::<_, ()>("evm_setAutomine".into(), (false,)).await.unwrap();

    let root = B256::repeat_byte(0x95);
    let started = Instant::now();
    let err = mx.anchor_batch(root, 1, 1).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let ChainError::NotMined { tx_hash, .. } = err else { panic!("{err:?}") };
    assert!(started.elapsed() < Duration::from_secs(5));

    mx.provider().raw_request::<_, ()>("evm_setAutomine".into(), (true,)).await.unwrap();
    mx.provider().raw_request::<_, ()>("anvil_mine".into(), ("0x1", "0x0")).await.unwrap();
    let receipt = mx.provider().get_transaction_receipt(tx_hash).await.unwrap().expect("mined late");
    assert!(receipt.status());
    let err = mx.anchor_batch(root, 1, 1).await.unwrap_err();
    assert!(matches!(err, ChainError::BadSequence { expected: 2, got: 1 }), "{err:?}");
    assert_eq!(mx.anchor_of(root).await.unwrap().map(|a| (a.country, a.sequence)), Some((MX, 1)));
    // The same root under the next sequence (a batch rebuilt after a crash): AlreadyAnchored.
    let err = mx.anchor_batch(root, 1, 2).await.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyAnchored { root: r } if r == root), "{err:?}");
}

/// The chain goes away: calls fail fast with Unreachable (no hang), and everything works again
/// once the chain is back, with its state.
#[tokio::test]
async fn chain_down_is_unreachable_and_recovers() {
    let mut net = Net::start().await;
    let mx = net.client(1).await;
    mx.anchor_batch(B256::repeat_byte(0xc1), 1, 1).await.unwrap();
    let head = mx.block_number().await.unwrap();

    net.anvil.stop().await.unwrap();
    assert!(!net.anvil.is_running());
    let started = Instant::now();
    let err = mx.last_sequence(MX).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
    let err = mx.anchor_batch(B256::repeat_byte(0xc2), 1, 2).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    let err = mx.block_number().await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    let err = ChainClient::connect(net.anvil.chain_config(), net.anvil.signer(1)).await.unwrap_err();
    assert!(matches!(err, ChainError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());

    let port = net.anvil.port();
    net.anvil.restart().await.unwrap();
    assert_eq!(net.anvil.port(), port);
    assert_eq!(mx.block_number().await.unwrap(), head, "same chain");
    assert_eq!(mx.last_sequence(MX).await.unwrap(), 1);
    mx.anchor_batch(B256::repeat_byte(0xc2), 1, 2).await.unwrap();
    assert_eq!(mx.batch_anchored(0, head + 1).await.unwrap().len(), 2, "logs survive the restart");
}

#[tokio::test]
async fn wrong_chain_id_is_refused() {
    let anvil = Anvil::spawn_with(AnvilOptions { chain_id: Some(648540), ..Default::default() }).await.unwrap();
    assert_eq!(anvil.chain_id(), 648540);
    let mut config = anvil.chain_config();
    config.chain_id = 648529;
    let err = ChainClient::connect(config, anvil.signer(0)).await.unwrap_err();
    assert!(matches!(err, ChainError::WrongChain { expected: 648529, actual: 648540 }), "{err:?}");
}

/// Two authorities race for the same root in one block: the loser's transaction is mined with
/// status 0, and replaying it at its block names the reason (AlreadyAnchored), typed.
#[tokio::test]
async fn mined_failure_is_replayed_for_its_reason() {
    let net = Net::start().await;
    let co = net.client(2).await;
    co.provider().raw_request::<_, ()>("evm_setAutomine".into(), (false,)).await.unwrap();
    let co_nonce = co.provider().get_transaction_count(co.address()).await.unwrap();

    let root = B256::repeat_byte(0xd0);
    let overtake = async {
        // CO's transaction is in the pool; MX's, with a higher tip, goes before it in the block.
        // Its gas limit is fixed: an estimate would already see CO's pending anchor and revert.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let wallet =
            ProviderBuilder::new().wallet(net.anvil.signer(1)).connect_http(net.anvil.rpc_url().parse().unwrap());
        let pending = AnchorRegistry::new(net.deployment.anchor_registry, &wallet)
            .anchorBatch(root, 1, 1)
            .gas(200_000)
            .max_fee_per_gas(2_000_000_000)
            .max_priority_fee_per_gas(1_000_000_000)
            .send()
            .await
            .unwrap();
        co.provider().raw_request::<_, ()>("anvil_mine".into(), ("0x1", "0x0")).await.unwrap();
        let receipt = co.provider().get_transaction_receipt(*pending.tx_hash()).await.unwrap().unwrap();
        assert!(receipt.status(), "MX's anchor went first");
    };
    let (result, ()) = tokio::join!(co.anchor_batch(root, 1, 1), overtake);
    let err = result.unwrap_err();
    assert!(matches!(err, ChainError::AlreadyAnchored { root: r } if r == root), "{err:?}");
    assert_eq!(
        co.provider().get_transaction_count(co.address()).await.unwrap(),
        co_nonce + 1,
        "CO's transaction was mined (and failed), not refused by the estimate"
    );
    assert_eq!(co.anchor_of(root).await.unwrap().map(|a| a.country), Some(MX));
}
