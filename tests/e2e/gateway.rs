//! The federation gateway over MX's node and an external risk subgraph: one query returns the
//! operator's local data, the risk system's field and its recognition at every MRA partner;
//! with a partner down the query still answers, with an error for it. Subscriptions pass
//! through over SSE and WebSocket, authenticated when they open; limits refuse what is too
//! deep or costly. GraphQL over HTTP and over SSE are served as the node serves them, and
//! `graphql-http`'s audits are all ok.

use std::time::Duration;

use cadena_gateway::config::Secret;
use cadena_gateway::federated_gateway::{GatewayConfig, GatewayLimits, GatewayRedisConfig, SubgraphConfig};
use cadena_tests::federation::{
    RunningGateway, spawn_gateway, spawn_gateway_over, spawn_gateway_with, spawn_risk_subgraph,
};
use cadena_tests::{
    Backend, TestApp, TestChain, assert_graphql_http_audits_ok, open_event_stream, sse_events, sse_single_result,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn gateway(node: &TestApp, risk: &str, limits: GatewayLimits) -> RunningGateway {
    spawn_gateway(&[("node", &node.graphql_url()), ("risk", risk)], limits).await
}

async fn post(url: &str, token: Option<&str>, query: &str) -> (u16, Value) {
    post_with_variables(url, token, query, json!({})).await
}

/// Posts as a client of `application/graphql-response+json`, which reads request errors by
/// their 400 (an `application/json` client gets them with 200).
async fn post_with_variables(url: &str, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
    let body = json!({ "query": query, "variables": variables });
    let mut request =
        reqwest::Client::new().post(url).header("accept", "application/graphql-response+json").json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

const OPERATOR: &str = r#"{ operator(country: "MX", tin: "GODE561231GR8") {
    legalName riskScore certifications { status issuingCountry }
    recognition { partner status recognised verified } } }"#;

async fn one_query_spans_node_risk_system_and_partners(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    let cr = spawn("CR").spawn().await;
    let all = json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"]);
    mx.establish_mra(&co, all.clone()).await;
    mx.establish_mra(&cr, all).await;
    let id = mx.granted("OEA-MX-G0001", "GODE561231GR8").await;
    for partner in [&co, &cr] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
        loop {
            let held = partner
                .gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id }))
                .await;
            if held.data()["certification"]["status"] == "GRANTED" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} holds MX's grant", partner.country);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let risk = spawn_risk_subgraph().await;
    let gw = gateway(&mx, &risk, GatewayLimits::default()).await;
    let token = mx.token("risk").await;

    let (status, body) = post(&gw.url, Some(&token), OPERATOR).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let operator = &body["data"]["operator"];
    assert_eq!(operator["legalName"], "Exportadora del Pacífico S.A.");
    assert!(operator["riskScore"].is_i64(), "the risk subgraph's field: {body}");
    assert_eq!(operator["certifications"], json!([{ "status": "GRANTED", "issuingCountry": "MX" }]));
    assert_eq!(
        operator["recognition"],
        json!([
            { "partner": "CO", "status": "GRANTED", "recognised": true, "verified": true },
            { "partner": "CR", "status": "GRANTED", "recognised": true, "verified": true }
        ])
    );

    // CR goes down: the query still answers, CO's recognition included, an error for CR.
    let _cr_stopped = cr.stop().await;
    let (status, body) = post(&gw.url, Some(&token), OPERATOR).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["operator"]["recognition"],
        json!([{ "partner": "CO", "status": "GRANTED", "recognised": true, "verified": true }])
    );
    assert_eq!(body["data"]["operator"]["legalName"], "Exportadora del Pacífico S.A.");
    let errors = body["errors"].as_array().expect("an error for the partner that is down");
    assert!(errors.iter().any(|e| e["message"].as_str().unwrap_or_default().contains("CR")), "{body}");

    // Without a token the node refuses its fields; the risk field alone still comes back.
    let (_, anonymous) = post(&gw.url, None, "{ riskModel }").await;
    assert_eq!(anonymous["data"]["riskModel"], "aduana-riesgo-v3");
    let (_, refused) = post(&gw.url, None, OPERATOR).await;
    assert!(refused["errors"].to_string().contains("authentication required"), "{refused}");

    // Subscriptions over SSE and WebSocket reach the node's events through the gateway.
    let subscription = "subscription { certificationEvents { transition certification { id } } }";
    let sse = reqwest::Client::new()
        .post(&gw.url)
        .header("accept", "text/event-stream")
        .bearer_auth(&token)
        .json(&json!({ "query": subscription }))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut sse_body = sse.bytes_stream();
    let mut request = gw.url.replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    mx.transition("approver", "suspendCertification", &id, Some("gateway test")).await.data();
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = socket.next().await.unwrap().unwrap();
            if message.to_string().contains("\"next\"") {
                return message.to_string();
            }
        }
    })
    .await
    .expect("a WebSocket event within 10 s");
    assert!(next.contains("SUSPEND") && next.contains(&id), "{next}");
    // Fields in the order selected (`transition` first), not sorted by name.
    let in_order = |text: &str| text.find("\"transition\"").unwrap() < text.find("\"certification\"").unwrap();
    assert!(in_order(&next), "{next}");
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !text.contains("SUSPEND") {
            text.push_str(&String::from_utf8_lossy(&sse_body.next().await.unwrap().unwrap()));
        }
    })
    .await
    .expect("an SSE event within 10 s");
    assert!(in_order(&text), "{text}");

    // A WebSocket with a bad token is closed before anything runs.
    let mut request = gw.url.replace("http://", "ws://").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged" } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer");
    assert!(!matches!(&answer, Some(Ok(Message::Text(t))) if t.contains("connection_ack")), "{answer:?}");
}

async fn limits_refuse_deep_costly_and_frequent_requests(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let risk = spawn_risk_subgraph().await;
    let limits = GatewayLimits { max_depth: 4, max_cost: 40, requests_per_minute: 20, ..GatewayLimits::default() };
    let gw = gateway(&mx, &risk, limits).await;
    let token = mx.token("risk").await;
    let (status, body) = post(
        &gw.url,
        Some(&token),
        r#"{ certifications { nodes { operator { certifications { operator { tin } } } } } }"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("levels deep"), "{body}");
    let costly: String = (0..10).map(|i| format!("a{i}: certifications {{ nodes {{ id }} }} ")).collect();
    let (status, body) = post(&gw.url, Some(&token), &format!("{{ {costly} }}")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("costs"), "{body}");
    // A page size given by a variable counts at its value in each request: 1 + 2 + 2 is
    // admitted, then the same text with 100 costs 1 + 100 + 100.
    let paged = "query($n: Int) { certifications(first: $n) { nodes { id } } }";
    let (status, body) = post_with_variables(&gw.url, Some(&token), paged, json!({ "n": 2 })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_with_variables(&gw.url, Some(&token), paged, json!({ "n": 100 })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "the operation costs 201; at most 40 is allowed (a trusted document is not held to it)",
        "{body}"
    );
    // A document that does not parse is a parse failure, with its location, not a limit.
    let (status, body) = post(&gw.url, Some(&token), "{ certifications(first: ").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{body}");
    assert!(body["errors"][0]["locations"][0]["line"].is_number(), "{body}");
    let mut limited = false;
    for _ in 0..25 {
        let (status, _) = post(&gw.url, Some(&token), "{ riskModel }").await;
        limited |= status == 429;
    }
    assert!(limited, "more than 20 requests a minute are refused");
}

/// Two replicas of one gateway sharing Redis grant a client its rate once between them, not
/// once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_replicas_grant_a_client_its_rate_once() {
    let mx = TestApp::builder().spawn().await;
    let risk = spawn_risk_subgraph().await;
    let subgraphs = || {
        vec![
            SubgraphConfig { name: "node".into(), url: mx.graphql_url(), sdl_file: None },
            SubgraphConfig { name: "risk".into(), url: risk.clone(), sdl_file: None },
        ]
    };
    let limits = GatewayLimits { requests_per_minute: 10, ..GatewayLimits::default() };
    let redis = GatewayRedisConfig {
        url: Secret::new("redis://127.0.0.1:6379"),
        namespace: format!("e2e-{}", uuid::Uuid::new_v4().simple()),
    };
    let first = spawn_gateway_over(subgraphs(), limits.clone(), Some(redis.clone())).await;
    let second = spawn_gateway_over(subgraphs(), limits, Some(redis)).await;
    let token = mx.token("risk").await;
    let mut admitted = 0;
    for _ in 0..8 {
        for gateway in [&first, &second] {
            let (status, body) = post(&gateway.url, Some(&token), "{ riskModel }").await;
            match status {
                200 => admitted += 1,
                429 => assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}"),
                other => panic!("HTTP {other}: {body}"),
            }
        }
    }
    // 10 a minute in bursts of 10; one more comes due every 6 s while the test runs. Each
    // gateway alone would have admitted all 16.
    assert!((10..=11).contains(&admitted), "{admitted} of 16 requests admitted");
}

async fn http_and_sse_are_served_as_the_node_serves_them(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let risk = spawn_risk_subgraph().await;
    let gw = gateway(&mx, &risk, GatewayLimits::default()).await;
    let token = mx.token("risk").await;
    let client = reqwest::Client::new();

    assert_graphql_http_audits_ok(&gw.url).await;

    // GraphiQL at the gateway's root, with its files from the gateway itself.
    let base = gw.url.strip_suffix("/graphql").expect("the GraphQL endpoint");
    let page = client.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
    crate::graphql_over_http::assert_page_assets_served(&client, base, &page).await;

    // A body that is not declared JSON is refused, not run.
    let plain = client.post(&gw.url).header("content-type", "text/plain").body(r#"{"query":"{ riskModel }"}"#);
    assert_eq!(plain.send().await.unwrap().status(), 415);

    // A wrong token is 401 (the node's answer), over HTTP and SSE, even for the risk
    // subgraph's own field: never anonymous, never a gateway failure.
    let subscription = "subscription { certificationEvents { transition certification { certificateNumber } } }";
    for (accept, query) in [
        ("application/json", "{ riskModel }"),
        ("text/event-stream", "{ riskModel }"),
        ("text/event-stream", subscription),
    ] {
        let response = client
            .post(&gw.url)
            .header("accept", accept)
            .bearer_auth("not.a.token")
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{accept} {query}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    }

    // GraphQL request errors: 200 to an application/json client, 400 to an
    // application/graphql-response+json one, as on the node.
    for request in crate::graphql_over_http::graphql_request_errors() {
        for (accept, expected) in [("application/json", 200), ("application/graphql-response+json", 400)] {
            let response = client.post(&gw.url).header("accept", accept).json(&request).send().await.unwrap();
            assert_eq!(response.status(), expected, "{accept} {request}");
            assert_eq!(response.headers()["content-type"], accept);
            let body: Value = response.json().await.unwrap();
            assert!(body["errors"][0]["message"].is_string() && body.get("data").is_none(), "{body}");
        }
    }

    // A query over SSE is an event stream: its result as `next`, then `complete`.
    let query = client.post(&gw.url).bearer_auth(&token).json(&json!({ "query": "{ riskModel nodeCountry }" }));
    let next = sse_single_result(query).await;
    assert_eq!(next, json!({ "data": { "riskModel": "aduana-riesgo-v3", "nodeCountry": "MX" } }));
    // A refused document over SSE: the errors as a `next` event.
    let next = sse_single_result(client.get(&gw.url).query(&[("query", "{")])).await;
    assert_eq!(next["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{next}");

    // A subscription over GET (an EventSource's only method) streams its events.
    let request = client.get(&gw.url).query(&[("query", subscription)]).bearer_auth(&token);
    let mut body = open_event_stream(request).await.bytes_stream();
    tokio::time::sleep(Duration::from_millis(300)).await;
    mx.submit(mx.certification_input("OEA-GW-SSE-1", "GODE561231GR8")).await.data();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        // The whole event: its data line ends with a blank line.
        while !(text.contains("OEA-GW-SSE-1") && text.ends_with("\n\n")) {
            text.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("an event within 10 s: {text}"));
    let events = sse_events(&text);
    assert_eq!(events[0].0, "next", "{text}");
    let next: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(next["data"]["certificationEvents"]["certification"]["certificateNumber"], "OEA-GW-SSE-1", "{next}");
    // A subscription to a client that does not take an event stream: a request error, as the
    // node answers it, not a stream it did not ask for.
    let response = client
        .post(&gw.url)
        .header("accept", "application/json")
        .bearer_auth(&token)
        .json(&json!({ "query": subscription }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (response.status().as_u16(), response.headers()["content-type"].to_str().unwrap()),
        (200, "application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("text/event-stream"), "{body}");
    // A mutation over GET stays refused.
    let response = client
        .get(&gw.url)
        .query(&[("query", "mutation { login(username: \"a\", password: \"b\") { token } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

on_both_backends!(
    one_query_spans_node_risk_system_and_partners,
    limits_refuse_deep_costly_and_frequent_requests,
    http_and_sse_are_served_as_the_node_serves_them
);

/// A subgraph's federation SDL, as a composer elsewhere would read it.
async fn subgraph_sdl(url: &str) -> String {
    let (_, body) = post(url, None, "{ _service { sdl } }").await;
    body["data"]["_service"]["sdl"].as_str().expect("the subgraph's SDL").to_owned()
}

#[tokio::test]
async fn a_supergraph_file_is_taken_and_reloaded_under_load_and_trusted_documents_pass_the_cost_limit() {
    let mx = TestApp::builder().spawn().await;
    let risk = spawn_risk_subgraph().await;
    let node = cadena_gateway::federation::Subgraph {
        name: "node".into(),
        url: mx.graphql_url(),
        sdl: subgraph_sdl(&mx.graphql_url()).await,
    };
    let risk =
        cadena_gateway::federation::Subgraph { name: "risk".into(), url: risk.clone(), sdl: subgraph_sdl(&risk).await };
    // Composed apart from the gateway, as `rover` or Hive would: first the node alone.
    let node_only = cadena_gateway::federation::compose(std::slice::from_ref(&node)).await.unwrap();
    let with_risk = cadena_gateway::federation::compose(&[node.clone(), risk]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("supergraph.graphql");
    std::fs::write(&file, &node_only).unwrap();
    // A known application's costly query, trusted (a persisted-documents map).
    let costly = "{ certifications(first: 500) { nodes { id tin status issuingCountry certificateNumber operatorName \
        validFrom validUntil certificateType issuingAuthority } } }";
    let trusted = dir.path().join("trusted-documents.json");
    std::fs::write(&trusted, json!({ "risk-dashboard-1": costly }).to_string()).unwrap();
    let gw = spawn_gateway_with(GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        subgraphs: vec![SubgraphConfig { name: "node".into(), url: node.url.clone(), sdl_file: None }],
        supergraph_file: Some(file.clone()),
        trusted_documents: Some(trusted.clone()),
        limits: GatewayLimits { max_cost: 5_000, requests_per_minute: 0, ..GatewayLimits::default() },
        redis: None,
    })
    .await;
    let token = mx.token("risk").await;
    // The trusted document runs whatever its cost; the same with one character more is an
    // unknown operation, held to the cost limit (1 + 500 + 10 × 500 = 5,501 > 5,000).
    let (status, body) = post(&gw.url, Some(&token), costly).await;
    assert_eq!((status, body["data"]["certifications"]["nodes"].is_array()), (200, true), "{body}");
    let (status, body) = post(&gw.url, Some(&token), &format!("{costly} ")).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (400, &json!("LIMIT_EXCEEDED")), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("5501"), "{body}");
    let (_, before) = post(&gw.url, Some(&token), "{ riskModel }").await;
    assert_eq!(before["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{before}");

    // Under load, the file changes: first to something that is no supergraph (a half-written
    // file), then to the supergraph with the risk system. No request fails meanwhile.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, token, stop) = (gw.url.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut answered, mut failed) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, body) = post(&url, Some(&token), "{ nodeCountry }").await;
                    if status == 200 && body["data"]["nodeCountry"] == "MX" {
                        answered += 1;
                    } else {
                        failed.push((status, body));
                    }
                }
                (answered, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::fs::write(&file, &with_risk[..with_risk.len() / 2]).unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, still) = post(&gw.url, Some(&token), "{ nodeCountry }").await;
    assert_eq!(still["data"]["nodeCountry"], "MX", "a broken file leaves the supergraph in force: {still}");
    std::fs::write(&file, &with_risk).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, after) = post(&gw.url, Some(&token), "{ riskModel nodeCountry }").await;
        if after["data"]["riskModel"] == "aduana-riesgo-v3" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new supergraph never took force: {after}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = 0;
    for task in load {
        let (ok, failed) = task.await.unwrap();
        assert!(failed.is_empty(), "requests failed across the reload: {failed:?}");
        answered += ok;
    }
    assert!(answered > 50, "the load ran: {answered} requests");
}
