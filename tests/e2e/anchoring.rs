//! Anchoring on a real anvil: Merkle batches OpenZeppelin accepts, few transactions for many
//! credentials, issuance while the chain is down, status changes and amendments in chain events
//! and in the history, work queued before the log was read, and a chain that loses blocks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cadena_contracts::B256;
use cadena_credentials::merkle::MerkleTree;
use cadena_resolvers::auth::{Principal, Role, RoleSet};
use cadena_resolvers::services::anchoring::AnchoringService;
use cadena_resolvers::services::outbox::{self, Topic, Work};
use cadena_resolvers::storage::WriteBatch;
use cadena_tests::{Backend, TestApp, TestChain};
use futures::StreamExt;
use serde_json::{Value, json};

/// Waits until `done` holds, polling; panics with `what` after `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn anchoring(app: &TestApp) -> &AnchoringService {
    app.node.services.anchoring.as_ref().expect("the node anchors")
}

async fn anchor_of(app: &TestApp, id: &str) -> Value {
    app.gql(
        Some("risk"),
        "query($id: ID!) { certification(id: $id) { anchor { digest root index proof txHash block confirmations } } }",
        json!({ "id": id }),
    )
    .await
    .data()["certification"]["anchor"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merkle_trees_match_openzeppelin() {
    let digests: Vec<[u8; 32]> = (0..37u32).map(|i| sha2_digest(&i.to_be_bytes())).collect();
    let tree = MerkleTree::build(&digests).unwrap();
    let input = json!({ "digests": digests.iter().map(|d| format!("0x{}", hex::encode(d))).collect::<Vec<_>>() });
    let dir = cadena_contracts::anvil::contracts_dir();
    tokio::task::spawn_blocking(cadena_contracts::anvil::ensure_npm_packages).await.unwrap().unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("scripts/oz-merkle.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes()).await.unwrap();
    drop(child.stdin.take());
    let output = child.wait_with_output().await.unwrap();
    let theirs: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(theirs["root"], format!("0x{}", hex::encode(tree.root())), "same root as StandardMerkleTree");
    for (i, digest) in digests.iter().enumerate() {
        let proof: Vec<String> = tree.proof(i).iter().map(|h| format!("0x{}", hex::encode(h))).collect();
        assert_eq!(theirs["proofs"][format!("0x{}", hex::encode(digest))], json!(proof), "proof of leaf {i}");
    }
}

fn sha2_digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn officer(name: &str, role: Role) -> Principal {
    Principal { officer_id: uuid::Uuid::now_v7(), username: name.to_owned(), roles: RoleSet::new([role]) }
}

/// Submits and approves `count` certifications through the node's services, 4 tasks at once.
async fn grant_many(app: &TestApp, count: usize) -> Vec<uuid::Uuid> {
    let rfcs = cadena_tests::valid_tins("mx-rfc-checkdigit-valid");
    let registrar = officer("registrar", Role::Registrar);
    let approver = officer("approver", Role::Approver);
    let service = app.node.services.certifications.clone();
    futures::stream::iter(0..count)
        .map(|i| {
            let (service, registrar, approver) = (service.clone(), registrar.clone(), approver.clone());
            let mut input: cadena_credentials::AeoDataSetDraft = draft(i, &rfcs[i % rfcs.len()]);
            input.certificate_number = format!("OEA-MX-A{i:06}");
            async move {
                let submitted = service.submit(Some(&registrar), &input).await.expect("submit");
                service.approve(Some(&approver), submitted.id).await.expect("approve").id
            }
        })
        .buffer_unordered(4)
        .collect()
        .await
}

fn draft(i: usize, tin: &str) -> cadena_credentials::AeoDataSetDraft {
    cadena_credentials::AeoDataSetDraft {
        certificate_number: format!("OEA-MX-{i}"),
        issuing_country: "MX".into(),
        issuing_authority: "ANAM".into(),
        operator_name: format!("Operador {i} SA de CV"),
        address: cadena_credentials::AddressDraft {
            street: format!("Calle {i}"),
            city: "Monterrey".into(),
            sub_entity: None,
            postcode: None,
            country: "MX".into(),
        },
        tin: tin.to_owned(),
        partner_identifiers: vec![],
        certificate_type: Some(cadena_credentials::CertificateType::SecurityAndSafety),
        roles: vec![cadena_credentials::SupplyChainRole::Exporter],
        authorisation_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
        valid_from: None,
        valid_until: chrono::NaiveDate::from_ymd_opt(2028, 1, 14),
        last_validation_date: None,
        operator_did: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_credentials_take_at_most_three_transactions() {
    const COUNT: usize = 10_000;
    let chain = TestChain::start().await;
    // Batches of 5,000, or whatever waited a minute: 10,000 grants make two full batches.
    let app = TestApp::builder().chain(&chain).anchoring(5_000, 60_000).spawn().await;
    let ids = grant_many(&app, COUNT).await;
    let country = *b"MX";
    eventually(Duration::from_secs(120), "every credential anchored", || async {
        let head = chain.governance.block_number().await.unwrap();
        let anchored: u32 =
            chain.governance.batch_anchored_by(country, 0, head).await.unwrap().iter().map(|e| e.count).sum();
        anchored as usize == COUNT
    })
    .await;
    let head = chain.governance.block_number().await.unwrap();
    let batches = chain.governance.batch_anchored_by(country, 0, head).await.unwrap();
    assert!(batches.len() <= 3, "{} anchoring transactions for {COUNT} credentials", batches.len());

    // Every credential's proof: checked by the contract's MerkleProof and by cadena.
    let rows = app.node.services.certifications.clone();
    let anchoring = anchoring(&app).clone();
    let roots: HashSet<B256> = batches.iter().map(|b| b.root).collect();
    let checked: Vec<bool> = futures::stream::iter(ids.iter().copied())
        .map(|id| {
            let (rows, anchoring, chain, roots) = (rows.clone(), anchoring.clone(), chain.clone(), roots.clone());
            async move {
                let row = rows.get(Some(&officer("risk", Role::RiskOfficer)), id).await.unwrap().unwrap();
                let credential =
                    rows.credentials().stored(row.credential_id.as_deref().unwrap()).await.unwrap().unwrap();
                let proof = anchoring.proof_of(&credential.digest).await.unwrap().expect("anchored");
                let root: B256 = format!("0x{}", proof.root).parse().unwrap();
                let siblings: Vec<B256> = proof.proof.iter().map(|p| format!("0x{p}").parse().unwrap()).collect();
                let digest: B256 = format!("0x{}", proof.digest).parse().unwrap();
                let leaf = B256::from(cadena_credentials::merkle::leaf_of(&digest.0));
                let on_chain = chain.governance.verify_leaf(root, &siblings, leaf).await.unwrap();
                on_chain && AnchoringService::verify_locally(&proof) && roots.contains(&root)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(checked.iter().filter(|ok| **ok).count(), COUNT, "every proof verifies on chain and in cadena");

    // The verifier's anchor fragment, on a sample, through the VC API.
    for id in ids.iter().step_by(COUNT / 20) {
        let credential = app.credential_of(&id.to_string()).await;
        let report = app.verify(&credential).await;
        assert_eq!(report["report"]["anchor"]["outcome"], "VALID", "{report}");
        assert_eq!(report["verified"], true, "{report}");
    }
}

async fn issuance_goes_on_while_the_chain_is_down(backend: Backend) {
    let chain = TestChain::start().await;
    let app = TestApp::builder().backend(backend).chain(&chain).anchoring(100, 200).spawn().await;
    let first = app.granted("OEA-MX-D0001", "GODE561231GR8").await;
    eventually(Duration::from_secs(30), "the first grant anchored", || async {
        anchor_of(&app, &first).await["txHash"].is_string()
    })
    .await;

    chain.anvil.lock().await.stop().await.unwrap();
    let mut during = Vec::new();
    for i in 0..5 {
        during.push(app.granted(&format!("OEA-MX-D{i:04}X"), "GODE561231GR8").await);
    }
    let id = during[0].clone();
    app.transition("approver", "suspendCertification", &id, Some("audit while the chain is down")).await.data();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &during {
        assert!(anchor_of(&app, id).await["txHash"].is_null(), "nothing reaches a stopped chain");
    }
    // The verifier says it cannot reach the chain (an ERROR, not INVALID) for anchored ones.
    let report = app.verify(&app.credential_of(&first).await).await;
    assert_eq!(report["report"]["anchor"]["outcome"], "ERROR", "{report}");

    chain.anvil.lock().await.restart().await.unwrap();
    eventually(Duration::from_secs(60), "anchoring catches up", || async {
        let mut all = true;
        for id in &during {
            all &= anchor_of(&app, id).await["txHash"].is_string();
        }
        all
    })
    .await;
    let credential = app.credential_of(&id).await;
    let digest = cadena_credentials::credential::credential_digest(&credential);
    eventually(Duration::from_secs(30), "the suspension on chain", || async {
        let head = chain.governance.block_number().await.unwrap();
        let events = chain.governance.status_history(*b"MX", B256::from(digest), 0, head).await.unwrap();
        events.iter().any(|e| e.status == 2)
    })
    .await;
}

async fn status_changes_are_chain_events_and_history_shows_their_blocks(backend: Backend) {
    let chain = TestChain::start().await;
    let app = TestApp::builder().backend(backend).chain(&chain).anchoring(100, 200).spawn().await;
    let id = app.granted("OEA-MX-S0001", "GODE561231GR8").await;
    app.transition("approver", "suspendCertification", &id, Some("audit")).await.data();
    app.transition("approver", "reinstateCertification", &id, Some("fixed")).await.data();
    app.transition("approver", "revokeCertification", &id, Some("fraud")).await.data();
    let credential = app.credential_of(&id).await;
    let digest = B256::from(cadena_credentials::credential::credential_digest(&credential));

    let history_query = "query($id: ID!) { certificationHistory(id: $id) { entries { transition chain { block txHash confirmations } } } }";
    eventually(Duration::from_secs(60), "every chain-recorded transition confirmed", || async {
        let history = app.gql(Some("auditor"), history_query, json!({ "id": id })).await;
        history.data()["certificationHistory"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["transition"] != "SUBMIT")
            .all(|e| e["chain"]["block"].is_i64())
    })
    .await;
    let history = app.gql(Some("auditor"), history_query, json!({ "id": id })).await;
    let entries = history.data()["certificationHistory"]["entries"].as_array().unwrap().clone();
    assert!(entries[0]["chain"].is_null(), "a submission is not on chain");
    let blocks: HashMap<String, i64> = entries[1..]
        .iter()
        .map(|e| (e["transition"].as_str().unwrap().to_owned(), e["chain"]["block"].as_i64().unwrap()))
        .collect();

    let head = chain.governance.block_number().await.unwrap();
    let events = chain.governance.status_history(*b"MX", digest, 0, head).await.unwrap();
    let seen: Vec<(u8, i64)> = events.iter().map(|e| (e.status, e.position.block_number as i64)).collect();
    assert_eq!(
        seen,
        vec![(2, blocks["SUSPEND"]), (3, blocks["REINSTATE"]), (4, blocks["REVOKE"])],
        "suspended, reinstated, revoked, each in the block the history shows"
    );
    let anchor = anchor_of(&app, &id).await;
    assert_eq!(anchor["block"].as_i64(), Some(blocks["APPROVE"]), "the grant's block is its anchor's");
    assert!(anchor["confirmations"].as_i64().unwrap() >= 1);
    assert_eq!(anchor["digest"], hex::encode(digest));

    // A partner's verifier reads the anchor and the chain's status events.
    let partner =
        TestApp::builder().backend(backend).country("CO").chain(&chain).trust(&app.did(), "ANAM").spawn().await;
    let report = partner.verify(&credential).await;
    assert_eq!(report["report"]["anchor"]["outcome"], "VALID", "{report}");
    assert!(report["report"]["anchor"]["reason"].as_str().unwrap().contains("REVOKED"), "{report}");
    assert_eq!(report["report"]["status"]["revoked"], true);
}

/// Anchoring is read from the event log: an amendment's grant anchors the new credential, and
/// the version it replaces goes on chain as AMENDED, each in the block its own history entry
/// shows (the two entries are written in one transaction).
async fn an_amendment_anchors_its_credential_and_the_retired_one(backend: Backend) {
    let chain = TestChain::start().await;
    let app = TestApp::builder().backend(backend).chain(&chain).anchoring(100, 200).spawn().await;
    let id = app.granted("OEA-MX-A0001", "GODE561231GR8").await;
    let old = app.credential_of(&id).await;
    let new_id = app.amended(&id, "OEA-MX-A0001", "GODE561231GR8", "Exportadora del Pacífico Renombrada S.A.").await;

    let history_query =
        "query($id: ID!) { certificationHistory(id: $id) { entries { version transition chain { block } } } }";
    let entries = || async {
        let history = app.gql(Some("auditor"), history_query, json!({ "id": new_id })).await;
        history.data()["certificationHistory"]["entries"].as_array().unwrap().clone()
    };
    eventually(Duration::from_secs(60), "both grants and the retirement confirmed", || async {
        entries().await.iter().filter(|e| e["transition"] != "SUBMIT").all(|e| e["chain"]["block"].is_i64())
    })
    .await;
    let block_of = |entries: &[Value], version: i64, transition: &str| {
        let entry = entries.iter().find(|e| e["version"] == version && e["transition"] == transition);
        entry
            .and_then(|e| e["chain"]["block"].as_i64())
            .unwrap_or_else(|| panic!("{transition} v{version}: {entries:?}"))
    };
    let entries = entries().await;
    let new_anchor = anchor_of(&app, &new_id).await;
    assert_eq!(new_anchor["block"].as_i64(), Some(block_of(&entries, 2, "APPROVE")), "{new_anchor}");
    assert_eq!(anchor_of(&app, &id).await["block"].as_i64(), Some(block_of(&entries, 1, "APPROVE")));

    let digest = B256::from(cadena_credentials::credential::credential_digest(&old));
    let head = chain.governance.block_number().await.unwrap();
    let events = chain.governance.status_history(*b"MX", digest, 0, head).await.unwrap();
    let seen: Vec<(u8, i64)> = events.iter().map(|e| (e.status, e.position.block_number as i64)).collect();
    assert_eq!(seen, [(6, block_of(&entries, 1, "SUPERSEDE"))], "the old credential AMENDED, once");
}

/// A node upgraded from queuing every transition's anchoring in the outbox still anchors what
/// it had queued (here a suspension, as such a node wrote it), beside what it reads from the
/// log, once each.
async fn anchoring_queued_in_the_outbox_before_an_upgrade_is_still_anchored(backend: Backend) {
    let chain = TestChain::start().await;
    let app = TestApp::builder().backend(backend).chain(&chain).anchoring(100, 200).spawn().await;
    let id = app.granted("OEA-MX-U0001", "GODE561231GR8").await;
    let credential = app.credential_of(&id).await;
    let digest = cadena_credentials::credential::credential_digest(&credential);
    let queued = json!({
        "credentialId": credential["id"],
        "digest": hex::encode(digest),
        "statusCode": 2,
        "lineageId": null,
        "historySeq": null,
    });
    let work = Work::new(Topic::Anchor, queued.to_string()).in_stream("STATUS");
    let mut batch = WriteBatch::default();
    batch.push(outbox::enqueue(app.node.storage.backend(), work));
    app.node.storage.apply_alone(batch).await.unwrap();
    let later = app.granted("OEA-MX-U0002", "GODE561231GR8").await;

    eventually(Duration::from_secs(60), "the queued suspension on chain", || async {
        let head = chain.governance.block_number().await.unwrap();
        let events = chain.governance.status_history(*b"MX", B256::from(digest), 0, head).await.unwrap();
        !events.is_empty()
    })
    .await;
    eventually(Duration::from_secs(60), "the later grant anchored", || async {
        anchor_of(&app, &later).await["txHash"].is_string()
    })
    .await;
    let head = chain.governance.block_number().await.unwrap();
    let events = chain.governance.status_history(*b"MX", B256::from(digest), 0, head).await.unwrap();
    assert_eq!(events.iter().map(|e| e.status).collect::<Vec<_>>(), [2], "recorded once");
    let rows = app.node.services.outbox.log(Topic::Anchor, 10).await.unwrap();
    assert!(rows.iter().all(|row| row.state == "DONE"), "{rows:?}");
    let anchored: u32 =
        chain.governance.batch_anchored_by(*b"MX", 0, head).await.unwrap().iter().map(|e| e.count).sum();
    assert_eq!(anchored, 2, "each grant anchored once");
    // Nothing is left waiting (what the anchoring lag is measured from).
    eventually(Duration::from_secs(10), "an empty anchoring backlog", || async {
        anchoring(&app).backlog().await.unwrap() == (0, None)
    })
    .await;
}

/// The chain loses the blocks of confirmed batches (anvil reverted to a snapshot, as a reorg or a
/// Besu node restored from an older state would): the node notices, sends the lost batches again
/// under their own sequence numbers, every credential ends anchored exactly once on the chain as
/// it now is, and in between verification says the anchor is pending, not INVALID.
async fn a_chain_that_rolls_back_gets_its_lost_batches_again(backend: Backend) {
    let chain = TestChain::start().await;
    let app = TestApp::builder().backend(backend).chain(&chain).anchoring(100, 200).spawn().await;
    let tin = "GODE561231GR8";
    let kept = app.granted("OEA-MX-K0001", tin).await;
    eventually(Duration::from_secs(30), "the first grant anchored", || async {
        anchor_of(&app, &kept).await["txHash"].is_string()
    })
    .await;
    let snapshot = chain.snapshot().await;

    // Three batches of grants and one of a status change, each confirmed, then lost.
    let mut lost = Vec::new();
    for i in 1..=3 {
        let id = app.granted(&format!("OEA-MX-K{i:04}X"), tin).await;
        eventually(Duration::from_secs(30), "the grant anchored", || async {
            anchor_of(&app, &id).await["txHash"].is_string()
        })
        .await;
        lost.push(id);
    }
    app.transition("approver", "suspendCertification", &lost[0], Some("audit")).await.data();
    let suspended = cadena_credentials::credential::credential_digest(&app.credential_of(&lost[0]).await);
    let suspension_on_chain = || async {
        let head = chain.governance.block_number().await.unwrap();
        let events = chain.governance.status_history(*b"MX", B256::from(suspended), 0, head).await.unwrap();
        events.iter().filter(|e| e.status == 2).count()
    };
    eventually(Duration::from_secs(30), "the suspension on chain", || async { suspension_on_chain().await == 1 }).await;
    let confirmed_before: u64 = chain.governance.last_sequence(*b"MX").await.unwrap();
    assert!(confirmed_before >= 5, "five batches confirmed: {confirmed_before}");

    // The chain goes back; nothing is mined until the verifier had its look.
    chain.roll_back_to(snapshot).await;
    chain.rpc("evm_setAutomine", json!([false])).await;
    assert_eq!(chain.governance.last_sequence(*b"MX").await.unwrap(), 1, "the chain lost every batch but the first");
    for id in &lost {
        let report = app.verify(&app.credential_of(id).await).await;
        assert_eq!(report["report"]["anchor"]["outcome"], "SKIPPED", "{report}");
        assert!(report["report"]["anchor"]["reason"].as_str().unwrap().contains("anchor pending"), "{report}");
        assert_eq!(report["report"]["integrity"]["outcome"], "VALID", "{report}");
    }
    let report = app.verify(&app.credential_of(&kept).await).await;
    assert_eq!(report["report"]["anchor"]["outcome"], "VALID", "what the chain kept still verifies: {report}");

    chain.rpc("evm_setAutomine", json!([true])).await;
    chain.rpc("evm_mine", json!([])).await;
    eventually(Duration::from_secs(60), "the lost batches anchored again", || async {
        let mut all = true;
        for id in &lost {
            let report = app.verify(&app.credential_of(id).await).await;
            all &= report["report"]["anchor"]["outcome"] == "VALID";
        }
        all && suspension_on_chain().await == 1
    })
    .await;

    // Exactly once on the chain as it now is: every batch the node formed, under its own
    // sequence number, once; every credential's root among them.
    let head = chain.governance.block_number().await.unwrap();
    let anchored = chain.governance.batch_anchored_by(*b"MX", 0, head).await.unwrap();
    let statuses = chain.governance.status_batches_by(*b"MX", 0, head).await.unwrap();
    let mut sequences: Vec<u64> =
        anchored.iter().map(|e| e.sequence).chain(statuses.iter().map(|(sequence, _, _)| *sequence)).collect();
    sequences.sort_unstable();
    let last = chain.governance.last_sequence(*b"MX").await.unwrap();
    assert_eq!(sequences, (1..=last).collect::<Vec<_>>(), "each batch once, none missing");
    assert_eq!(last, confirmed_before, "the same batches, sent again under their own numbers");
    let roots: HashSet<String> = anchored.iter().map(|e| hex::encode(e.root)).collect();
    for id in lost.iter().chain([&kept]) {
        let anchor = anchor_of(&app, id).await;
        let root = anchor["root"].as_str().unwrap().trim_start_matches("0x").to_owned();
        assert!(roots.contains(&root), "{id} anchored on the chain as it now is: {anchor}");
        let block = anchor["block"].as_i64().unwrap() as u64;
        assert!(block <= head, "its block is on the chain: {anchor}");
    }
}

on_both_backends!(
    an_amendment_anchors_its_credential_and_the_retired_one,
    anchoring_queued_in_the_outbox_before_an_upgrade_is_still_anchored,
    issuance_goes_on_while_the_chain_is_down,
    status_changes_are_chain_events_and_history_shows_their_blocks,
    a_chain_that_rolls_back_gets_its_lost_batches_again,
);
