//! `graphql-transport-ws` on the node and on the gateway, one implementation behind both:
//! every close code of the protocol as the reference client (npm `graphql-ws`) sees it,
//! queries and mutations as single results, nothing after `complete`, and subscriptions that
//! end at the node as soon as their clients vanish (the gateway used to keep a duplicated
//! id's first subscription, and with it the client's socket, for ever).

use std::time::Duration;

use cadena_gateway::federated_gateway::GatewayLimits;
use cadena_tests::federation::{RunningGateway, spawn_gateway};
use cadena_tests::{Backend, TestApp, graphql_ws};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const EVENTS: &str = "subscription { certificationEvents { transition certification { id } } }";

fn ws_url(http: &str) -> String {
    http.replace("http://", "ws://")
}

async fn gateway_over(mx: &TestApp) -> RunningGateway {
    spawn_gateway(&[("node", &mx.graphql_url())], GatewayLimits::default()).await
}

async fn close_codes_follow_the_protocol_on_node_and_gateway(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let gw = gateway_over(&mx).await;
    let authorization = format!("Bearer {}", mx.token("risk").await);
    for (server, url) in [("node", ws_url(&mx.graphql_url())), ("gateway", ws_url(&gw.url))] {
        let answer = graphql_ws(json!({
            "op": "close-codes", "url": url, "authorization": authorization, "subscription": EVENTS
        }))
        .await;
        for (scenario, code) in [
            ("forbidden", 4403),
            ("forbiddenUpgrade", 4403),
            ("initTimeout", 4408),
            ("badMessage", 4400),
            ("duplicateId", 4409),
            ("unauthorized", 4401),
            ("tooManyInits", 4429),
            ("notJson", 4400),
            ("serverMessage", 4400),
        ] {
            assert_eq!(answer[scenario]["code"], code, "{server} {scenario}: {answer}");
        }
        assert_eq!(answer["duplicateId"]["reason"], "Subscriber for twin already exists", "{server}: {answer}");
        assert_eq!(answer["initTimeout"]["reason"], "Connection initialisation timeout", "{server}: {answer}");
        assert_eq!(answer["tooManyInits"]["reason"], "Too many initialisation requests", "{server}: {answer}");
        assert_eq!(answer["unauthorized"]["reason"], "Unauthorized", "{server}: {answer}");
        // 4400's reason names what was wrong.
        let bad = answer["badMessage"]["reason"].as_str().unwrap();
        assert!(bad.contains("payload.query"), "{server}: {answer}");
        assert!(answer["forbidden"]["reason"].as_str().unwrap().starts_with("Forbidden"), "{server}: {answer}");

        // Queries and mutations run too, each one `next` and `complete`; a document that does
        // not validate is one `error` message.
        let operate = |query: &str, variables: Value| {
            graphql_ws(json!({
                "op": "operate", "url": url, "authorization": authorization, "query": query, "variables": variables
            }))
        };
        let query = operate("{ nodeCountry }", json!({})).await;
        assert_eq!(query, json!({ "results": [{ "data": { "nodeCountry": "MX" } }], "error": null }), "{server}");
        let login = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { officer { username } } }";
        let mutation = operate(login, json!({ "u": "auditor", "p": cadena_tests::PASSWORD })).await;
        assert_eq!(mutation["results"][0]["data"]["login"]["officer"]["username"], "auditor", "{server}: {mutation}");
        assert_eq!(mutation["error"], Value::Null, "{server}: {mutation}");
        let invalid = operate("{ noSuchField }", json!({})).await;
        assert_eq!(invalid["results"], json!([]), "{server}: {invalid}");
        assert!(invalid["error"][0]["message"].as_str().unwrap().contains("noSuchField"), "{server}: {invalid}");

        // Only graphql-transport-ws is served (not the legacy subscriptions-transport-ws).
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-ws".parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 400, "{server}");
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                assert!(body.contains("graphql-transport-ws"), "{server}: {body}");
            }
            other => panic!("{server}: a legacy subprotocol is refused, got {other:?}"),
        }
    }
}

/// A socket acknowledged with `authorization`.
async fn connect(url: &str, authorization: &str) -> WebSocket {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "authorization": authorization } });
    socket.send(Message::Text(init.to_string().into())).await.unwrap();
    assert_eq!(next_message(&mut socket).await["type"], "connection_ack");
    socket
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_message(socket: &mut WebSocket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a message within 10 s") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn subscribe(socket: &mut WebSocket, id: &str) {
    let subscribe = json!({ "id": id, "type": "subscribe", "payload": { "query": EVENTS } });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
}

/// Waits until the node's event bus has `expected` receivers.
async fn receivers_become(mx: &TestApp, expected: usize, what: &str) {
    let bus = mx.node.services.certifications.bus();
    let reached = tokio::time::timeout(Duration::from_secs(10), async {
        while bus.receivers() != expected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "{what}: the node has {} event receivers, expected {expected}", bus.receivers());
}

async fn nothing_is_sent_after_complete(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let gw = gateway_over(&mx).await;
    let authorization = format!("Bearer {}", mx.token("risk").await);
    let id = mx.granted("OEA-WS-1", "GODE561231GR8").await;
    let baseline = mx.node.services.certifications.bus().receivers();
    for url in [ws_url(&mx.graphql_url()), ws_url(&gw.url)] {
        let mut socket = connect(&url, &authorization).await;
        subscribe(&mut socket, "stopped").await;
        subscribe(&mut socket, "running").await;
        receivers_become(&mx, baseline + 2, &url).await;
        let complete = json!({ "id": "stopped", "type": "complete" });
        socket.send(Message::Text(complete.to_string().into())).await.unwrap();
        // The completed subscription ends at the node, not only on the socket.
        receivers_become(&mx, baseline + 1, &url).await;
        mx.transition("approver", "suspendCertification", &id, Some("websocket test")).await.data();
        let event = next_message(&mut socket).await;
        assert_eq!(event["id"], "running", "{url}: only the running subscription hears of it: {event}");
        assert_eq!(event["payload"]["data"]["certificationEvents"]["transition"], "SUSPEND", "{event}");
        // A completed id is free again.
        subscribe(&mut socket, "stopped").await;
        receivers_become(&mx, baseline + 2, &url).await;
        mx.transition("approver", "reinstateCertification", &id, Some("websocket test")).await.data();
        let mut heard = [next_message(&mut socket).await, next_message(&mut socket).await].map(|m| m["id"].clone());
        heard.sort_by_key(|id| id.to_string());
        assert_eq!(heard, ["running", "stopped"], "{url}");
        drop(socket);
        receivers_become(&mx, baseline, &url).await;
    }
}

async fn subscriptions_end_at_the_node_when_clients_vanish(backend: Backend) {
    let mx = TestApp::builder().backend(backend).spawn().await;
    let gw = gateway_over(&mx).await;
    let token = mx.token("risk").await;
    let authorization = format!("Bearer {token}");
    let baseline = mx.node.services.certifications.bus().receivers();
    let mut sockets = Vec::new();
    for url in [ws_url(&gw.url), ws_url(&gw.url), ws_url(&mx.graphql_url())] {
        let mut socket = connect(&url, &authorization).await;
        subscribe(&mut socket, "1").await;
        sockets.push(socket);
    }
    let mut streams = Vec::new();
    for url in [&gw.url, &mx.graphql_url()] {
        let response = reqwest::Client::new()
            .post(url)
            .header("accept", "text/event-stream")
            .bearer_auth(&token)
            .json(&json!({ "query": EVENTS }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    receivers_become(&mx, baseline + 5, "three WebSocket and two SSE subscribers").await;
    // The clients vanish without a word (no close frame, no `complete`): their TCP connections
    // just close.
    drop(sockets);
    drop(streams);
    receivers_become(&mx, baseline, "every subscriber gone").await;

    // A client that subscribes twice under one id is closed (4409) with both subscriptions
    // ended: neither may outlive it, at the gateway or upstream at the node.
    let mut socket = connect(&ws_url(&gw.url), &authorization).await;
    subscribe(&mut socket, "twin").await;
    receivers_become(&mx, baseline + 1, "the first of the twins").await;
    subscribe(&mut socket, "twin").await;
    drop(socket);
    receivers_become(&mx, baseline, "the twins' client gone").await;
}

on_both_backends!(
    close_codes_follow_the_protocol_on_node_and_gateway,
    nothing_is_sent_after_complete,
    subscriptions_end_at_the_node_when_clients_vanish
);
