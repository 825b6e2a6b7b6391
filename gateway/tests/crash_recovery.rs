//! A real `cadena node` process, anchoring on a real anvil, is killed with SIGKILL in the middle
//! of anchoring, again and again, at different points: after a batch is formed, just before
//! its transaction, after the transaction is mined but before the node recorded it, and at a
//! random moment. After the last restart every credential is anchored exactly once.

mod processes;

use std::collections::HashSet;
use std::time::Duration;

use cadena_contracts::B256;
use cadena_contracts::anvil::DEV_PRIVATE_KEYS;
use processes::{Running, certification_input, create_officers, gql, start, token, wait_killed};
use serde_json::{Value, json};

/// Submits and approves certifications until `count` are granted or the node dies.
async fn grant(node: &Running, first: usize, count: usize) -> usize {
    let client = reqwest::Client::new();
    let (Some(registrar), Some(approver)) =
        (token(&client, &node.graphql, "registrar").await, token(&client, &node.graphql, "approver").await)
    else {
        return 0;
    };
    for i in first..first + count {
        let input = certification_input(&format!("OEA-MX-K{i:05}"), "FULL");
        let Ok(submitted) = gql(
            &client,
            &node.graphql,
            Some(&registrar),
            "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await
        else {
            return i - first;
        };
        let Some(id) = submitted["data"]["submitCertification"]["id"].as_str() else { return i - first };
        let approved = gql(
            &client,
            &node.graphql,
            Some(&approver),
            "mutation($id: ID!) { approveCertification(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
        if approved.is_err() {
            return i - first;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // One-second blocks: a sent transaction stays pending long enough to be killed over.
    let (anvil, governance, contracts) = processes::chain(Some(Duration::from_secs(1))).await;

    let files =
        processes::write_node_config(dir.path(), "MX", &anvil, contracts, DEV_PRIVATE_KEYS[1], Default::default());
    governance.admit_authority(*b"MX", &files.did, anvil.address(1)).await.unwrap();
    create_officers(&files, &[("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("risk", "RISK_OFFICER")]).await;
    let log = files.log.clone();

    let mut next = 0;
    // Deterministic points first, then an outside SIGKILL at a moment the node cannot see coming.
    for (round, point) in ["formed", "sending", "sent"].into_iter().enumerate() {
        let mut node = start(&files, Some(point)).await;
        // A number whose request was cut off may have committed: never reuse it.
        next += grant(&node, next, 40).await + 1;
        assert!(wait_killed(&mut node, Duration::from_secs(30)).await, "round {round}: killed at {point}");
    }
    for delay in [400u64, 1_300] {
        let mut node = start(&files, None).await;
        let issuing = grant(&node, next, 1_000);
        let granted = tokio::select! {
            granted = issuing => granted,
            _ = tokio::time::sleep(Duration::from_millis(delay)) => 0,
        };
        next += granted + 1;
        let pid = node.child.id().unwrap().to_string();
        std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(wait_killed(&mut node, Duration::from_secs(10)).await);
    }

    // The last start runs undisturbed until everything that was granted is anchored.
    let node = start(&files, None).await;
    grant(&node, next, 10).await;
    let client = reqwest::Client::new();
    let risk = token(&client, &node.graphql, "risk").await.expect("the last node runs");
    let query = "{ certifications(first: 500) { nodes { id status anchor { digest root index proof txHash } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let granted = loop {
        let answer = gql(&client, &node.graphql, Some(&risk), query, json!({})).await.unwrap();
        let nodes = answer["data"]["certifications"]["nodes"].as_array().unwrap().clone();
        let granted: Vec<Value> = nodes.into_iter().filter(|n| n["status"] == "GRANTED").collect();
        if granted.iter().all(|n| n["anchor"]["txHash"].is_string()) {
            break granted;
        }
        assert!(tokio::time::Instant::now() < deadline, "everything anchored within 120 s; see {}", log.display());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(granted.len() >= 40, "the rounds granted credentials: {}", granted.len());

    // Exactly once: the chain's batches are numbered without gaps, each root once, and their
    // leaves add up to the number of credentials, each of which proves membership in one.
    let head = governance.block_number().await.unwrap();
    let batches = governance.batch_anchored_by(*b"MX", 0, head).await.unwrap();
    let sequences: Vec<u64> = batches.iter().map(|b| b.sequence).collect();
    assert_eq!(sequences, (1..=batches.len() as u64).collect::<Vec<_>>(), "no gap, no repeat");
    let roots: HashSet<B256> = batches.iter().map(|b| b.root).collect();
    assert_eq!(roots.len(), batches.len(), "each root anchored once");
    let anchored: u32 = batches.iter().map(|b| b.count).sum();
    assert_eq!(anchored as usize, granted.len(), "each credential anchored exactly once ({} batches)", batches.len());
    for certification in &granted {
        let anchor = &certification["anchor"];
        let root: B256 = format!("0x{}", anchor["root"].as_str().unwrap()).parse().unwrap();
        assert!(roots.contains(&root));
        let digest: B256 = format!("0x{}", anchor["digest"].as_str().unwrap()).parse().unwrap();
        let proof: Vec<B256> = anchor["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("0x{}", p.as_str().unwrap()).parse().unwrap())
            .collect();
        let leaf = B256::from(cadena_credentials::merkle::leaf_of(&digest.0));
        assert!(governance.verify_leaf(root, &proof, leaf).await.unwrap(), "{certification}");
    }
}
