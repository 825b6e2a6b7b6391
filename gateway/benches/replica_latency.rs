//! A node run as three replicas (three `cadena node` processes on one PostgreSQL, Redis between
//! them) and its MRA partner (one process), on a real chain (anvil), over loopback:
//!
//! - **A→B latency**: a status change committed on a random MX replica, timed from just before
//!   the mutation is sent to the moment CO's subscriber reads the event; that is MX's commit,
//!   its event log, the partner outbox (on the lease holder), sealing, CO's full verification
//!   of the credential (proof, issuer, status lists, anchor on chain) and CO's event log;
//!   p50/p99 over 100 changes one at a time.
//! - **Events/s through the outbox**: 300 status changes sent at once from the three replicas,
//!   until CO's subscriber has read them all.
//!
//! The certifications are granted and anchored before measuring, so block time is excluded.
//! Run: `cargo bench -p cadena-gateway --bench replica_latency` (`--profile dev` for a quick
//! figure with optimised dependencies and unoptimised cadena).

#[path = "../tests/processes/mod.rs"]
mod processes;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cadena_contracts::anvil::DEV_PRIVATE_KEYS;
use futures::StreamExt;
use processes::{Extra, NodeFiles, certification_input, create_officers, gql, start, token};
use serde_json::json;

const CERTIFICATIONS: usize = 30;
const SEQUENTIAL: usize = 100;
const BURST: usize = 300;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CO's subscriber: the instant each SUSPEND/REINSTATE event from MX arrives.
async fn subscribe(co: &NodeFiles, arrivals: tokio::sync::mpsc::UnboundedSender<Instant>) {
    let client = reqwest::Client::new();
    let risk = token(&client, &co.graphql(), "risk").await.expect("CO runs");
    let query = "subscription { certificationEvents(filter: { transitions: [SUSPEND, REINSTATE] }) { cursor } }";
    let response = client
        .post(co.graphql())
        .bearer_auth(risk)
        .header("accept", "text/event-stream")
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("CO answers");
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some((block, rest)) = text.split_once("\n\n") {
                if block.lines().any(|l| l.starts_with("id:")) {
                    let _ = arrivals.send(Instant::now());
                }
                text = rest.to_owned();
            }
        }
    });
}

/// An officer's token on each replica.
async fn tokens(replicas: &[NodeFiles], username: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for replica in replicas {
        tokens.push(token(&client, &replica.graphql(), username).await.expect("the replica runs"));
    }
    tokens
}

/// Suspends a granted certification or reinstates a suspended one, on `replica`.
async fn change(client: &reqwest::Client, replica: &NodeFiles, approver: &str, id: &str, suspended: &mut bool) {
    let mutation = if *suspended { "reinstateCertification" } else { "suspendCertification" };
    let answer = gql(
        client,
        &replica.graphql(),
        Some(approver),
        &format!("mutation($id: ID!) {{ {mutation}(id: $id, reason: \"benchmark\") {{ status }} }}"),
        json!({ "id": id }),
    )
    .await
    .expect("the replica answers");
    assert!(answer["errors"].is_null(), "{answer}");
    *suspended = !*suspended;
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (anvil, governance, contracts) = processes::chain(None).await;
    let replicas = processes::write_replica_configs(dir.path(), "MX", &anvil, contracts, DEV_PRIVATE_KEYS[1], 3);
    let co_tables = "[credentials]\nallow_private_addresses = true\n";
    let co = processes::write_node_config(
        dir.path(),
        "CO",
        &anvil,
        contracts,
        DEV_PRIVATE_KEYS[2],
        Extra { tables: co_tables, ..Default::default() },
    );
    governance.admit_authority(*b"MX", &replicas[0].did, anvil.address(1)).await.expect("admit MX");
    governance.admit_authority(*b"CO", &co.did, anvil.address(2)).await.expect("admit CO");
    let mut running = vec![start(&replicas[0], None).await];
    create_officers(&replicas[0], &[("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("admin", "ADMIN")]).await;
    for replica in &replicas[1..] {
        running.push(start(replica, None).await);
    }
    create_officers(&co, &[("admin", "ADMIN"), ("risk", "RISK_OFFICER")]).await;
    running.push(start(&co, None).await);

    let client = reqwest::Client::new();
    let scope = json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"]);
    let mx_admin = token(&client, &replicas[0].graphql(), "admin").await.expect("MX runs");
    let co_admin = token(&client, &co.graphql(), "admin").await.expect("CO runs");
    let proposal = "mutation($p: String!, $s: [CertificateType!]!) { proposeMra(partner: $p, scope: $s) { partner } }";
    let acceptance = "mutation($p: String!, $s: [CertificateType!]!) { acceptMra(partner: $p, scope: $s) { partner } }";
    gql(&client, &replicas[0].graphql(), Some(&mx_admin), proposal, json!({ "p": "CO", "s": scope }))
        .await
        .expect("propose");
    gql(&client, &co.graphql(), Some(&co_admin), acceptance, json!({ "p": "MX", "s": scope })).await.expect("accept");

    // Grants on every replica, held (anchored, verified) at CO before measuring.
    let registrars = tokens(&replicas, "registrar").await;
    let approvers = tokens(&replicas, "approver").await;
    let mut granted = Vec::new();
    for i in 0..CERTIFICATIONS {
        let r = i % replicas.len();
        let submitted = gql(
            &client,
            &replicas[r].graphql(),
            Some(&registrars[r]),
            "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
            json!({ "i": certification_input(&format!("OEA-MX-B{i:04}"), "FULL") }),
        )
        .await
        .expect("submit");
        let id = submitted["data"]["submitCertification"]["id"].as_str().expect("id").to_owned();
        let a = (r + 1) % replicas.len();
        gql(
            &client,
            &replicas[a].graphql(),
            Some(&approvers[a]),
            "mutation($id: ID!) { approveCertification(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
        .expect("approve");
        granted.push(id);
    }
    let co_risk = token(&client, &co.graphql(), "risk").await.expect("CO runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held = gql(
            &client,
            &co.graphql(),
            Some(&co_risk),
            "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { certifications { id } } }",
            json!({}),
        )
        .await
        .expect("CO answers");
        let count = held["data"]["operator"]["certifications"].as_array().map_or(0, Vec::len);
        if count == CERTIFICATIONS {
            break;
        }
        assert!(Instant::now() < deadline, "CO holds MX's {CERTIFICATIONS} grants within 120 s ({count})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    subscribe(&co, tx).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut suspended: HashMap<String, bool> = granted.iter().map(|id| (id.clone(), false)).collect();

    // A→B, one change at a time, each on a random replica.
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let r = rand::random_range(0..replicas.len());
        let id = &granted[i % granted.len()];
        let started = Instant::now();
        change(&client, &replicas[r], &approvers[r], id, suspended.get_mut(id).expect("granted")).await;
        let arrived = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
            .await
            .expect("CO hears the change within 30 s")
            .expect("subscribed");
        latencies.push(arrived.duration_since(started).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);

    // Events/s: a burst from the three replicas at once.
    let started = Instant::now();
    let mut burst = Vec::new();
    for r in 0..replicas.len() {
        let (client, replica, approver) = (client.clone(), replicas[r].clone(), approvers[r].clone());
        let mut mine: Vec<(String, bool)> = granted
            .iter()
            .enumerate()
            .filter(|(i, _)| i % replicas.len() == r)
            .map(|(_, id)| (id.clone(), suspended[id]))
            .collect();
        burst.push(tokio::spawn(async move {
            for k in 0..BURST / 3 {
                let n = mine.len();
                let (id, state) = &mut mine[k % n];
                change(&client, &replica, &approver, id, state).await;
            }
        }));
    }
    for worker in burst {
        worker.await.expect("burst");
    }
    let committed = started.elapsed();
    for _ in 0..BURST {
        tokio::time::timeout(Duration::from_secs(120), arrivals.recv())
            .await
            .expect("CO hears the burst")
            .expect("open");
    }
    let through = started.elapsed();

    println!("replica_latency: MX as 3 replicas (PostgreSQL + Redis), CO one node, anvil, loopback");
    println!(
        "  A→B status change, {SEQUENTIAL} one at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    println!(
        "  outbox: {BURST} changes committed in {:.2} s ({:.0}/s), all at CO's subscriber after {:.2} s: {:.0} events/s through the partner outbox",
        committed.as_secs_f64(),
        BURST as f64 / committed.as_secs_f64(),
        through.as_secs_f64(),
        BURST as f64 / through.as_secs_f64()
    );
    drop(running);
}
