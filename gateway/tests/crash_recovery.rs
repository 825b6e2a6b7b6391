//! A real `cadena node` process, anchoring on a real anvil, is killed with SIGKILL in the middle
//! of anchoring, again and again, at different points: after a batch is formed, just before
//! its transaction, after the transaction is mined but before the node recorded it, and at a
//! random moment. After the last restart every credential is anchored exactly once.

use std::collections::HashSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cadena_contracts::anvil::{Anvil, AnvilOptions, DEV_PRIVATE_KEYS};
use cadena_contracts::{B256, ChainClient};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough password";

fn cadena() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cadena"))
}

struct Running {
    child: tokio::process::Child,
    graphql: String,
}

async fn start(config: &Path, fault: Option<&str>, log_path: &Path, graphql: &str) -> Running {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).unwrap();
    let mut command = tokio::process::Command::new(cadena());
    command
        .args(["node", "--config"])
        .arg(config)
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(point) = fault {
        command.env("FAULT_INJECTION_SIGKILL_AT", point);
    }
    let mut child = command.spawn().unwrap();
    let health = graphql.replace("/graphql", "/healthz");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        // A fault point can be reached before the first request: a dead node is up to the caller.
        if client.get(&health).send().await.is_ok_and(|r| r.status().is_success())
            || child.try_wait().unwrap().is_some()
        {
            return Running { child, graphql: graphql.to_owned() };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(log_path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    panic!("the node did not come up; its log ends:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
}

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, reqwest::Error> {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await?.json().await
}

/// A session token, or None when the node is not there.
async fn token(client: &reqwest::Client, url: &str, username: &str) -> Option<String> {
    let login = gql(
        client,
        url,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": PASSWORD }),
    )
    .await
    .ok()?;
    Some(login["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {login}")).to_owned())
}

/// Submits and approves certifications until `count` are granted or the node dies.
async fn grant(node: &Running, first: usize, count: usize) -> usize {
    let client = reqwest::Client::new();
    let (Some(registrar), Some(approver)) =
        (token(&client, &node.graphql, "registrar").await, token(&client, &node.graphql, "approver").await)
    else {
        return 0;
    };
    for i in first..first + count {
        let input = json!({
            "certificateNumber": format!("OEA-MX-K{i:05}"), "issuingCountry": "MX", "issuingAuthority": "ANAM",
            "operatorName": format!("Operador {i}"), "address": { "street": "Calle 1", "city": "CDMX", "country": "MX" },
            "tin": "GODE561231GR8", "certificateType": "FULL", "roles": ["EXPORTER"], "authorisationDate": "2026-02-01"
        });
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

async fn wait_killed(node: &mut Running, within: Duration) -> bool {
    match tokio::time::timeout(within, node.child.wait()).await {
        Ok(Ok(status)) => status.signal() == Some(9),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batch_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // One-second blocks: a sent transaction stays pending long enough to be killed over.
    let anvil = Anvil::spawn_with(AnvilOptions { block_time: Some(Duration::from_secs(1)), ..Default::default() })
        .await
        .unwrap();
    let governance = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await.unwrap();
    let contracts = governance.deploy(anvil.address(0)).await.unwrap().addresses();
    let governance = governance.with_contracts(contracts);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let did = cadena_credentials::did::did_web_for_url(&url).unwrap();
    governance.admit_authority(*b"MX", &did, anvil.address(1)).await.unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            r#"country = "MX"
authority = "Agencia Nacional de Aduanas de México (ANAM)"
listen = "127.0.0.1:{port}"
data_dir = "{data}"
public_url = "{url}"

[chain]
rpc_url = "{rpc}"
chain_id = {chain_id}
poll_interval_ms = 200

[chain.contracts]
authority_registry = "{authority}"
anchor_registry = "{anchor}"

[anchoring]
signer_key = "{key}"
max_batch = 25
max_wait_ms = 300
"#,
            data = dir.path().join("data").display(),
            rpc = anvil.rpc_url(),
            chain_id = anvil.chain_id(),
            authority = contracts.authority_registry,
            anchor = contracts.anchor_registry,
            key = DEV_PRIVATE_KEYS[1],
        ),
    )
    .unwrap();
    for (username, role) in [("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("risk", "RISK_OFFICER")] {
        let mut officer = tokio::process::Command::new(cadena())
            .args(["officer", "--config"])
            .arg(&config)
            .args(["--username", username, "--roles", role])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(officer.stdin.as_mut().unwrap(), format!("{PASSWORD}\n").as_bytes())
            .await
            .unwrap();
        assert!(officer.wait().await.unwrap().success(), "cadena officer {username}");
    }
    let graphql = format!("{url}/graphql");
    let log = dir.path().join("node.log");

    let mut next = 0;
    // Deterministic points first, then an outside SIGKILL at a moment the node cannot see coming.
    for (round, point) in ["formed", "sending", "sent"].into_iter().enumerate() {
        let mut node = start(&config, Some(point), &log, &graphql).await;
        // A number whose request was cut off may have committed: never reuse it.
        next += grant(&node, next, 40).await + 1;
        assert!(wait_killed(&mut node, Duration::from_secs(30)).await, "round {round}: killed at {point}");
    }
    for delay in [400u64, 1_300] {
        let mut node = start(&config, None, &log, &graphql).await;
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
    let node = start(&config, None, &log, &graphql).await;
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
