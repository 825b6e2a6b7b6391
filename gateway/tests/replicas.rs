//! One node as three replicas (three `cadena node` processes) behind one name, on one
//! PostgreSQL database, with Redis telling them of each other's commits. Officers work on
//! every replica at once; the replica that holds the anchoring lease is SIGKILLed in the
//! middle of a batch. Every credential ends anchored exactly once, every subscriber on every
//! replica hears every event once and in order, and the killed replica's subscriber, resuming
//! by cursor on another replica, misses nothing.

mod processes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cadena_contracts::B256;
use cadena_contracts::anvil::DEV_PRIVATE_KEYS;
use futures::StreamExt;
use processes::{Running, certification_input, create_officers, gql, start, token};
use serde_json::{Value, json};

/// The cursors one SSE subscriber received, and the id of the last one.
#[derive(Default)]
struct Heard {
    cursors: Vec<u64>,
    ended: bool,
}

/// Subscribes over SSE at `graphql` (resuming after `after`) and records every cursor.
async fn subscribe(graphql: String, token: String, after: Option<u64>, heard: Arc<Mutex<Heard>>) {
    let mut request = reqwest::Client::new()
        .post(&graphql)
        .bearer_auth(token)
        .header("accept", "text/event-stream")
        .json(&json!({ "query": "subscription { certificationEvents { cursor transition } }" }));
    if let Some(after) = after {
        request = request.header("last-event-id", after.to_string());
    }
    let response = request.send().await.expect("the replica answers");
    assert_eq!(response.status(), 200);
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some((block, rest)) = text.split_once("\n\n") {
                if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id:")) {
                    heard.lock().unwrap().cursors.push(id.trim().parse().unwrap());
                }
                text = rest.to_owned();
            }
        }
        heard.lock().unwrap().ended = true;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_anchor_once_and_every_subscriber_hears_everything() {
    let dir = tempfile::tempdir().unwrap();
    // One-second blocks: a batch's transaction stays pending long enough to be killed over.
    let (anvil, governance, contracts) = processes::chain(Some(Duration::from_secs(1))).await;

    // Three replicas: one database, one issuer key, one session secret, one public name.
    let replicas = processes::write_replica_configs(dir.path(), "MX", &anvil, contracts, DEV_PRIVATE_KEYS[1], 3);
    governance.admit_authority(*b"MX", &replicas[0].did, anvil.address(1)).await.unwrap();
    // The first replica creates the database's tables and the issuer key; then the officers.
    let mut running: Vec<Option<Running>> = vec![Some(start(&replicas[0], None).await)];
    create_officers(&replicas[0], &[("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("risk", "RISK_OFFICER")])
        .await;
    for files in &replicas[1..] {
        running.push(Some(start(files, None).await));
    }

    // A subscriber on every replica, from now on.
    let client = reqwest::Client::new();
    let mut heard = Vec::new();
    for files in &replicas {
        let risk = token(&client, &files.graphql(), "risk").await.expect("the replica runs");
        let log = Arc::new(Mutex::new(Heard::default()));
        subscribe(files.graphql(), risk, None, log.clone()).await;
        heard.push(log);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Officers submit on one replica and approve on the next; the anchoring lease holder
    // (replica 1, which started first) is killed in the middle of the work.
    let mut granted = HashSet::new();
    for i in 0..30usize {
        if i == 12 {
            processes::kill(running[0].as_mut().unwrap()).await;
            running[0] = None;
        }
        let live: Vec<usize> = (0..3).filter(|r| running[*r].is_some()).collect();
        let (submit_at, approve_at) = (live[i % live.len()], live[(i + 1) % live.len()]);
        let registrar = token(&client, &replicas[submit_at].graphql(), "registrar").await.unwrap();
        let approver = token(&client, &replicas[approve_at].graphql(), "approver").await.unwrap();
        let submitted = gql(
            &client,
            &replicas[submit_at].graphql(),
            Some(&registrar),
            "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
            json!({ "i": certification_input(&format!("OEA-MX-R{i:04}"), "FULL") }),
        )
        .await
        .unwrap();
        let id =
            submitted["data"]["submitCertification"]["id"].as_str().unwrap_or_else(|| panic!("{submitted}")).to_owned();
        let approved = gql(
            &client,
            &replicas[approve_at].graphql(),
            Some(&approver),
            "mutation($id: ID!) { approveCertification(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
        .unwrap();
        assert_eq!(approved["data"]["approveCertification"]["status"], "GRANTED", "{approved}");
        granted.insert(id);
    }
    let events = 2 * granted.len() as u64;

    // The killed replica's subscriber resumes on replica 3 after the last cursor it heard.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !heard[0].lock().unwrap().ended {
        assert!(tokio::time::Instant::now() < deadline, "the killed replica's stream ends");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = heard[0].lock().unwrap().cursors.last().copied();
    let risk = token(&client, &replicas[2].graphql(), "risk").await.unwrap();
    subscribe(replicas[2].graphql(), risk, last, heard[0].clone()).await;

    // Every subscriber: every event once, in commit order.
    let everything: Vec<u64> = (1..=events).collect();
    for (replica, log) in heard.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let cursors = log.lock().unwrap().cursors.clone();
            if cursors.len() as u64 >= events {
                assert_eq!(
                    cursors,
                    everything,
                    "the subscriber of replica {} heard each event once, in order",
                    replica + 1
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the subscriber of replica {} hears all {events} events: {cursors:?}",
                replica + 1
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Every credential anchored exactly once, by whichever replica took the lease over.
    let risk = token(&client, &replicas[1].graphql(), "risk").await.unwrap();
    let query = "{ certifications(first: 500) { nodes { id status anchor { root txHash } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let answer = gql(&client, &replicas[1].graphql(), Some(&risk), query, json!({})).await.unwrap();
        let nodes: Vec<Value> = answer["data"]["certifications"]["nodes"].as_array().unwrap().clone();
        if nodes.iter().filter(|n| n["status"] == "GRANTED").all(|n| n["anchor"]["txHash"].is_string()) {
            assert_eq!(nodes.iter().filter(|n| n["status"] == "GRANTED").count(), granted.len());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "everything anchored within 120 s (logs in {})",
            dir.path().display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let head = governance.block_number().await.unwrap();
    let batches = governance.batch_anchored_by(*b"MX", 0, head).await.unwrap();
    let sequences: Vec<u64> = batches.iter().map(|b| b.sequence).collect();
    assert_eq!(sequences, (1..=batches.len() as u64).collect::<Vec<_>>(), "no gap, no repeat");
    let roots: HashSet<B256> = batches.iter().map(|b| b.root).collect();
    assert_eq!(roots.len(), batches.len(), "each root once");
    let anchored: u32 = batches.iter().map(|b| b.count).sum();
    assert_eq!(anchored as usize, granted.len(), "each credential anchored exactly once");

    // The replicas grant an anonymous client its verifications once between them (through
    // Redis): 60 a minute from one address in all, not 60 from each replica still running.
    let mut admitted = 0;
    for i in 0..80 {
        let url = format!("{}/credentials/verify", replicas[1 + i % 2].url);
        let response = client.post(url).json(&json!({})).send().await.unwrap();
        admitted += usize::from(response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS);
    }
    assert!((60..=62).contains(&admitted), "{admitted} of 80 anonymous verifications admitted");
}
