//! `cadena dev` as a real process: three nodes and the gateway come up on embedded defaults,
//! `network.json` lists them with working credentials, the MX node certifies end to end, its
//! partners hold the grant, the gateway answers across them, and SIGTERM shuts everything down
//! cleanly, within 10 s even with subscribers connected.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The `cadena` binary, built by cargo for this test.
fn cadena_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cadena"))
}

async fn graphql(client: &reqwest::Client, url: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Starts `cadena dev` for `countries` (comma-separated) in `dir`; returns the process and its
/// `network.json`.
async fn start_dev(dir: &Path, countries: &str) -> (tokio::process::Child, Value) {
    let child = tokio::process::Command::new(cadena_binary())
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args(["--countries", countries, "--port-base", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let network_path = dir.join("network.json");
    let network: Value = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(bytes) = std::fs::read(&network_path)
                && let Ok(v) = serde_json::from_slice(&bytes)
            {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("network.json within 60 s");
    (child, network)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_network_brings_up_mx_co_cr_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, network) = start_dev(dir.path(), "MX,CO,CR").await;
    let network_path = dir.path().join("network.json");

    let nodes = network["nodes"].as_array().unwrap();
    let countries: Vec<&str> = nodes.iter().map(|n| n["country"].as_str().unwrap()).collect();
    assert_eq!(countries, ["MX", "CO", "CR"]);
    let client = reqwest::Client::new();
    for node in nodes {
        let url = node["graphql"].as_str().unwrap();
        let users = node["users"].as_array().unwrap();
        let roles: Vec<&str> = users.iter().map(|u| u["roles"][0].as_str().unwrap()).collect();
        for role in ["ADMIN", "REGISTRAR", "APPROVER", "RISK_OFFICER"] {
            assert!(roles.contains(&role), "{} seeds a {role}", node["country"]);
        }
        for user in users {
            let login = graphql(
                &client,
                url,
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { officer { roles } } }",
                json!({ "u": user["username"], "p": user["password"] }),
            )
            .await;
            assert_eq!(login["data"]["login"]["officer"]["roles"], user["roles"], "{login}");
        }
        let country = graphql(&client, url, None, "{ nodeCountry }", json!({})).await;
        assert_eq!(country["data"]["nodeCountry"], node["country"]);
    }

    // The MX registrar certifies and the MX approver grants, on the real binary.
    let mx = &nodes[0];
    let token = |role: &str| {
        let user = mx["users"].as_array().unwrap().iter().find(|u| u["roles"][0] == role).unwrap().clone();
        let client = client.clone();
        let url = mx["graphql"].as_str().unwrap().to_owned();
        async move {
            let login = graphql(
                &client,
                &url,
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                json!({ "u": user["username"], "p": user["password"] }),
            )
            .await;
            login["data"]["login"]["token"].as_str().unwrap().to_owned()
        }
    };
    let registrar = token("REGISTRAR").await;
    let approver = token("APPROVER").await;
    let url = mx["graphql"].as_str().unwrap();
    let input = json!({
        "certificateNumber": "OEA-DEV-1", "issuingCountry": "MX", "issuingAuthority": "ANAM",
        "operatorName": "Dev SA", "address": { "street": "Calle 1", "city": "CDMX", "country": "MX" },
        "tin": "GODE561231GR8", "certificateType": "FULL", "roles": ["MANUFACTURER"], "authorisationDate": "2026-02-01"
    });
    let submitted = graphql(
        &client,
        url,
        Some(&registrar),
        "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
        json!({ "i": input }),
    )
    .await;
    let id = submitted["data"]["submitCertification"]["id"].as_str().unwrap().to_owned();
    let approved = graphql(
        &client,
        url,
        Some(&approver),
        "mutation($id: ID!) { approveCertification(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(approved["data"]["approveCertification"]["status"], "GRANTED", "{approved}");

    // The grant issued a credential signed by MX's did:web, which CO (trusting MX) verifies.
    for node in nodes {
        let did = node["did"].as_str().unwrap();
        let expected =
            format!("did:web:{}", node["url"].as_str().unwrap().trim_start_matches("http://").replace(':', "%3A"));
        assert_eq!(did, expected);
    }
    let risk = token("RISK_OFFICER").await;
    let credential = graphql(
        &client,
        url,
        Some(&risk),
        "query($id: ID!) { certification(id: $id) { credential } }",
        json!({ "id": id }),
    )
    .await["data"]["certification"]["credential"]
        .clone();
    assert_eq!(credential["issuer"], mx["did"]);
    let co = graphql(
        &client,
        nodes[1]["graphql"].as_str().unwrap(),
        None,
        "query($c: JSON!) { verifyCredential(credential: $c) { verified issuerTrust { reason } } }",
        json!({ "c": credential }),
    )
    .await;
    assert_eq!(co["data"]["verifyCredential"]["verified"], true, "{co}");

    // network.json names the local chain, and the grant is anchored on it within seconds.
    assert_eq!(network["chain"]["chainId"], 31337);
    assert!(network["chain"]["contracts"]["anchorRegistry"].as_str().unwrap().starts_with("0x"));
    let anchored = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let answer = graphql(
                &client,
                url,
                Some(&risk),
                "query($id: ID!) { certification(id: $id) { anchor { txHash block confirmations } } }",
                json!({ "id": id }),
            )
            .await;
            let anchor = answer["data"]["certification"]["anchor"].clone();
            if anchor["txHash"].is_string() {
                return anchor;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("the grant is anchored within 30 s");
    assert!(anchored["block"].as_i64().unwrap() > 0);
    let co = graphql(
        &client,
        nodes[1]["graphql"].as_str().unwrap(),
        None,
        "query($c: JSON!) { verifyCredential(credential: $c) { verified anchor { outcome reason } } }",
        json!({ "c": credential }),
    )
    .await;
    assert_eq!(co["data"]["verifyCredential"]["anchor"]["outcome"], "VALID", "{co}");

    // MRAs MX–CO and MX–CR are in force, none between CO and CR; CO holds MX's grant.
    let mras = graphql(&client, url, Some(&risk), "{ mras { partner state } }", json!({})).await;
    assert_eq!(
        mras["data"]["mras"],
        json!([{ "partner": "CO", "state": "ACTIVE" }, { "partner": "CR", "state": "ACTIVE" }]),
        "{mras}"
    );
    let co_user =
        nodes[1]["users"].as_array().unwrap().iter().find(|u| u["roles"][0] == "RISK_OFFICER").unwrap().clone();
    let co_url = nodes[1]["graphql"].as_str().unwrap();
    let co_login = graphql(
        &client,
        co_url,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": co_user["username"], "p": co_user["password"] }),
    )
    .await;
    let co_risk = co_login["data"]["login"]["token"].as_str().unwrap().to_owned();
    let co_mras = graphql(&client, co_url, Some(&co_risk), "{ mras { partner state } }", json!({})).await;
    assert_eq!(co_mras["data"]["mras"], json!([{ "partner": "MX", "state": "ACTIVE" }]), "{co_mras}");
    let held = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let answer = graphql(
                &client,
                co_url,
                Some(&co_risk),
                "query($id: ID!) { certification(id: $id) { status issuingCountry } }",
                json!({ "id": id }),
            )
            .await;
            if answer["data"]["certification"]["status"] == "GRANTED" {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("CO holds MX's grant within 30 s");
    assert_eq!(held["data"]["certification"]["issuingCountry"], "MX");

    // The gateway fronts MX: one query gives the operator and its recognition at CO and CR.
    assert_eq!(network["gateway"]["fronts"], "MX");
    let gateway = network["gateway"]["graphql"].as_str().unwrap();
    let recognition = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let answer = graphql(
                &client,
                gateway,
                Some(&risk),
                r#"{ operator(country: "MX", tin: "GODE561231GR8") { legalName recognition { partner status verified } } }"#,
                json!({}),
            )
            .await;
            let recognition = answer["data"]["operator"]["recognition"].clone();
            if recognition.as_array().is_some_and(|r| r.len() == 2 && r.iter().all(|p| p["status"] == "GRANTED")) {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("recognition at CO and CR through the gateway within 30 s");
    assert_eq!(recognition["data"]["operator"]["legalName"], "Dev SA", "{recognition}");
    assert_eq!(
        recognition["data"]["operator"]["recognition"],
        json!([
            { "partner": "CO", "status": "GRANTED", "verified": true },
            { "partner": "CR", "status": "GRANTED", "verified": true }
        ])
    );

    terminate(&mut child).await;

    // A restart on the same directory keeps the data and the credentials.
    let before = std::fs::read_to_string(&network_path).unwrap();
    let mut again = tokio::process::Command::new(cadena_binary())
        .args(["dev", "--data-dir"])
        .arg(dir.path())
        .args(["--countries", "MX,CO,CR", "--port-base", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let restarted: Value = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&network_path)
                && text != before
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("restarted network.json");
    let old: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(restarted["nodes"][0]["users"], old["nodes"][0]["users"], "passwords survive a restart");
    let url = restarted["nodes"][0]["graphql"].as_str().unwrap();
    let user =
        restarted["nodes"][0]["users"].as_array().unwrap().iter().find(|u| u["roles"][0] == "RISK_OFFICER").unwrap();
    let login = graphql(
        &client,
        url,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": user["username"], "p": user["password"] }),
    )
    .await;
    let risk = login["data"]["login"]["token"].as_str().unwrap();
    let found = graphql(
        &client,
        url,
        Some(risk),
        "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { certifications { status } } }",
        json!({}),
    )
    .await;
    assert_eq!(found["data"]["operator"]["certifications"], json!([{ "status": "GRANTED" }]));
    // SIGTERM again, not SIGKILL: a killed `cadena dev` cannot stop its anvil, which would
    // outlive the test.
    terminate(&mut again).await;
    // Everything it started stopped with it: the chain no longer answers.
    let rpc = restarted["chain"]["rpc"].as_str().unwrap();
    let chain = client.post(rpc).json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_chainId" })).send().await;
    assert!(chain.is_err(), "anvil outlived cadena dev: {chain:?}");
}

/// Sends SIGTERM and waits for a clean exit.
async fn terminate(child: &mut tokio::process::Child) {
    let pid = child.id().expect("running") as i32;
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
}

// SIGTERM with subscribers connected, to its gateway and its nodes (over WebSocket and SSE):
// each socket is closed with `1001 Going Away`, the process exits cleanly within 10 s, and its
// chain goes down with it.

const EVENTS: &str = "subscription { certificationEvents { transition } }";

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` socket to `url`, acknowledged, with one subscription running.
async fn subscriber(url: &str, authorization: &str) -> WebSocket {
    let mut request = url.replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": authorization } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    socket
}

/// The close code the server ends `socket` with (None: it ended without a close frame).
async fn close_code(mut socket: WebSocket) -> Option<CloseCode> {
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cadena_dev_within_10_s_with_subscribers_connected() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, network) = start_dev(dir.path(), "MX,CO").await;
    let mx = &network["nodes"][0];
    let user = mx["users"].as_array().unwrap().iter().find(|u| u["roles"][0] == "RISK_OFFICER").unwrap();
    let client = reqwest::Client::new();
    let login: Value = client
        .post(mx["graphql"].as_str().unwrap())
        .json(&json!({
            "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
            "variables": { "u": user["username"], "p": user["password"] }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["login"]["token"].as_str().unwrap().to_owned();
    let authorization = format!("Bearer {token}");

    let gateway = network["gateway"]["graphql"].as_str().unwrap();
    let node = mx["graphql"].as_str().unwrap();
    let sockets = vec![subscriber(gateway, &authorization).await, subscriber(node, &authorization).await];
    let mut streams = Vec::new();
    for url in [gateway, node] {
        let response = client
            .post(url)
            .header("accept", "text/event-stream")
            .bearer_auth(&token)
            .json(&json!({ "query": EVENTS }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response.bytes_stream());
    }
    // Give the subscriptions a moment to reach the node's event bus.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let closes: Vec<_> = sockets.into_iter().map(|socket| tokio::spawn(close_code(socket))).collect();
    let sse_ends: Vec<_> = streams
        .into_iter()
        .map(|mut stream| tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} }))
        .collect();
    let pid = child.id().expect("running").to_string();
    let sent = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("cadena dev exits within 10 s of SIGTERM, subscribers connected")
        .unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?} after {:?}", sent.elapsed());
    for close in closes {
        assert_eq!(close.await.unwrap(), Some(CloseCode::Away), "WebSockets close with 1001 Going Away");
    }
    for end in sse_ends {
        tokio::time::timeout(Duration::from_secs(1), end).await.expect("SSE streams ended").unwrap();
    }
    let rpc = network["chain"]["rpc"].as_str().unwrap();
    let chain = client.post(rpc).json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_chainId" })).send().await;
    assert!(chain.is_err(), "anvil outlived cadena dev: {chain:?}");
}
