//! From a status change at MX to the event at CO's subscribers, with 1,000 WebSocket
//! subscribers connected at CO, on a real chain (anvil) and real nodes over loopback: first
//! 1,000 officers' risk systems (`certificationEvents`), then 1,000 subscribers of an insurer's
//! account that follows the firm with its consent (`recognitionChanges`, status only; each
//! event is checked against the account's watch list for each subscriber, and recorded in the
//! delivery log; the account's rate bound is off, as 1,000 subscribers of one account would
//! otherwise be paced by design).
//!
//! The certification is granted (and anchored) before measuring, so the figures exclude block
//! time: a status change of an anchored credential goes to partners at once. Each change is
//! timed from just before MX's mutation is sent to the moment each CO subscriber reads the
//! event. Target: p99 <= 50 ms.
//!
//! Run: `cargo bench -p cadena-tests --bench partner_latency`.

use std::time::{Duration, Instant};

use cadena_tests::{TestApp, TestChain};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SUBSCRIBERS: usize = 1_000;
const CHANGES: usize = 100;
const P99_TARGET_MS: f64 = 50.0;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

/// Opens a graphql-transport-ws subscription to `query` and reports the instant each event
/// arrives.
async fn subscriber(
    url: String,
    token: String,
    query: &'static str,
    arrivals: tokio::sync::mpsc::UnboundedSender<Instant>,
) {
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.expect("init");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    let mut subscribed = false;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            if text.contains("connection_ack") && !subscribed {
                socket.send(Message::Text(subscribe.to_string().into())).await.expect("subscribe");
                subscribed = true;
                let _ = arrivals.send(Instant::now());
            } else if text.contains("\"next\"") {
                let _ = arrivals.send(Instant::now());
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run() {
    let chain = TestChain::start().await;
    let mx = TestApp::builder().country("MX").chain(&chain).anchoring(100, 100).spawn().await;
    // One account's 1,000 subscribers would be 1,000 deliveries a change to one account: over
    // its default rate, paced on purpose. The figures here are delivery's, so no rate.
    let co =
        TestApp::builder().country("CO").chain(&chain).anchoring(100, 100).follower_events_per_minute(0).spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    let seed = [7u8; 32];
    let (id, credential) = mx.granted_to_holder("OEA-MX-L0001", "GODE561231GR8", seed).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held =
            co.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
        if held.data()["certification"]["status"] == "GRANTED" {
            break;
        }
        assert!(Instant::now() < deadline, "CO holds the grant");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let followed = co.followed_with_consent("verifier", seed, &credential).await;
    assert_eq!(followed.as_array().map(Vec::len), Some(1), "the insurer follows the firm: {followed}");

    println!("partner event latency: status change at MX -> event at CO subscribers");
    println!("  {SUBSCRIBERS} WebSocket subscribers at CO, {CHANGES} status changes each");
    let events = "subscription { certificationEvents(filter: { transitions: [SUSPEND, REINSTATE] }) { transition } }";
    measure(&mx, &co, &id, "risk", events, "risk systems, certificationEvents").await;
    let changes = "subscription { recognitionChanges { status } }";
    measure(&mx, &co, &id, "verifier", changes, "an insurer's account, recognitionChanges").await;
}

/// Connects `SUBSCRIBERS` subscribers of `account` to `query` at CO, makes `CHANGES` status
/// changes at MX and prints when the subscribers heard them; then disconnects them.
async fn measure(mx: &TestApp, co: &TestApp, id: &str, account: &str, query: &'static str, label: &str) {
    let token = co.token(account).await;
    let url = format!("{}/graphql", co.base.replace("http://", "ws://"));
    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let subscribers: Vec<_> =
        (0..SUBSCRIBERS).map(|_| tokio::spawn(subscriber(url.clone(), token.clone(), query, tx.clone()))).collect();
    for _ in 0..SUBSCRIBERS {
        arrivals.recv().await.expect("every subscriber subscribes");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latencies = Vec::with_capacity(SUBSCRIBERS * CHANGES);
    let mut first_arrivals = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let mutation = if i % 2 == 0 { "suspendCertification" } else { "reinstateCertification" };
        let started = Instant::now();
        mx.transition("approver", mutation, id, Some("benchmark")).await.data();
        let mut first = None;
        for _ in 0..SUBSCRIBERS {
            let at = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await
                .expect("the event within 10 s")
                .expect("open");
            let ms = at.duration_since(started).as_secs_f64() * 1000.0;
            first.get_or_insert(ms);
            latencies.push(ms);
        }
        first_arrivals.push(first.unwrap_or_default());
    }
    for subscriber in subscribers {
        subscriber.abort();
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    first_arrivals.sort_by(|a, b| a.total_cmp(b));
    let p99 = percentile(&latencies, 0.99);
    println!("  {label} ({} deliveries):", latencies.len());
    println!(
        "    first subscriber:  p50 {:>6.1} ms   p99 {:>6.1} ms",
        percentile(&first_arrivals, 0.5),
        percentile(&first_arrivals, 0.99)
    );
    println!(
        "    all subscribers:   p50 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms   (target p99 <= {P99_TARGET_MS} ms: {})",
        percentile(&latencies, 0.5),
        p99,
        latencies.last().copied().unwrap_or_default(),
        if p99 <= P99_TARGET_MS { "met" } else { "MISSED" }
    );
}
