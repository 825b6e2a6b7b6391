//! What an operator scrapes: `/metrics` on each node of an MRA pair, after a certification went
//! from MX to CO, carries every metric the operations team watches, with the values the flow
//! left (a series per outbox kind and per partner, verification fragments by outcome, a
//! subscriber connected).

use std::time::Duration;

use cadena_tests::{Backend, TestApp, TestChain};
use serde_json::json;

on_both_backends!(each_node_exposes_what_operators_watch);

/// The value of the sample `series` (name and labels as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn scrape(node: &TestApp) -> String {
    let response = node.client.get(format!("{}/metrics", node.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

async fn each_node_exposes_what_operators_watch(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    let _listening = co.subscribe_ws("risk", "subscription { certificationEvents { transition } }").await;
    let id = mx.granted("OEA-MX-M0001", "GODE561231GR8").await;
    let credential = mx.credential_of(&id).await;
    // CO holds it once it verified it; the verification counted at CO.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held =
            co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
        if held.data()["certification"]["status"] == "GRANTED" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "CO never held the grant");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    co.verify(&credential).await;

    let mx_text = scrape(&mx).await;
    let co_text = scrape(&co).await;
    for text in [&mx_text, &co_text] {
        for topic in ["anchor", "partner.message", "webhook"] {
            assert!(sample(text, &format!("cadena_outbox_depth{{topic=\"{topic}\"}}")).is_some(), "{topic}:\n{text}");
            assert!(
                sample(text, &format!("cadena_outbox_oldest_age_seconds{{topic=\"{topic}\"}}")).is_some(),
                "{text}"
            );
        }
        for name in ["cadena_anchoring_lag_blocks", "cadena_anchoring_lag_seconds", "cadena_subscribers"] {
            assert!(sample(text, name).is_some(), "{name}:\n{text}");
        }
        assert!(
            text.contains(
                "cadena_http_request_duration_seconds_count{method=\"POST\",route=\"/graphql\",status=\"200\"}"
            ),
            "{text}"
        );
        assert!(text.contains("cadena_graphql_operation_duration_seconds_count{operation=\"anonymous\"}"), "{text}");
    }
    // MX's partner, delivered and unrefused: its series at 0.
    assert_eq!(sample(&mx_text, "cadena_partner_delivery_lag_seconds{partner=\"CO\"}"), Some(0.0), "{mx_text}");
    assert_eq!(sample(&mx_text, "cadena_partner_refusals{partner=\"CO\"}"), Some(0.0), "{mx_text}");
    // CO verified MX's credential: each fragment counted by outcome; a subscriber is connected.
    let valid = sample(&co_text, "cadena_verifications_total{fragment=\"integrity\",outcome=\"VALID\"}");
    assert!(valid.is_some_and(|n| n >= 1.0), "{co_text}");
    assert!(co_text.contains("cadena_verifications_total{fragment=\"anchor\""), "{co_text}");
    assert!(sample(&co_text, "cadena_subscribers").is_some_and(|n| n >= 1.0), "{co_text}");
}
