//! The federation gateway's requests per second against calling the node directly, on a real
//! node (SQLite) and over loopback:
//!
//! - **node direct**: the operator's local data, posted to the node;
//! - **gateway, one subgraph**: the same query through the gateway (plan, one fetch);
//! - **gateway, federated**: the same plus `riskScore` from an external risk subgraph (plan,
//!   a fetch from the node, an entity fetch from the risk subgraph, merge).
//!
//! Each runs `CLIENTS` concurrent clients for `WINDOW`, after a warm-up, twice: every client
//! asking about its own operator (distinct requests), and every client asking about the same
//! one (identical requests, which the executor coalesces into one subgraph fetch while one is
//! in flight). Load generator, gateway, node and risk subgraph share this machine's cores, so
//! the figures are a floor.
//!
//! Run: `cargo bench -p cadena-tests --bench gateway_throughput`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cadena_gateway::federated_gateway::GatewayLimits;
use cadena_tests::TestApp;
use cadena_tests::federation::{spawn_gateway, spawn_risk_subgraph};
use serde_json::{Value, json};

const CLIENTS: usize = 16;
const WINDOW: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_secs(1);

const LOCAL: &str = r#"query($tin: String!) { operator(country: "MX", tin: $tin) {
    legalName certifications { status issuingCountry } } }"#;
const FEDERATED: &str = r#"query($tin: String!) { operator(country: "MX", tin: $tin) {
    legalName riskScore certifications { status issuingCountry } } }"#;

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

/// Requests per second and latency percentiles (ms) of `query` at `url`, client `i` asking
/// about `tins[i % tins.len()]`.
async fn measure(url: &str, token: &str, query: &str, tins: &[String]) -> (f64, f64, f64) {
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..CLIENTS {
        let body = Arc::new(json!({ "query": query, "variables": { "tin": tins[i % tins.len()] } }).to_string());
        let check = post(&client, url, token, &body).await;
        assert!(check.get("errors").is_none() && !check["data"]["operator"].is_null(), "{check}");
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        let (stop, counting, done) = (stop.clone(), counting.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = post(&client, &url, &token, &body).await;
                assert!(answer.get("errors").is_none(), "{answer}");
                if counting.load(Ordering::Relaxed) {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    (done.load(Ordering::Relaxed) as f64 / elapsed, at(0.5), at(0.99))
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Arc<String>) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.as_str().to_owned())
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON")
}

async fn run() {
    let mx = TestApp::builder().country("MX").spawn().await;
    let tins: Vec<String> = cadena_tests::valid_tins("mx-rfc-checkdigit-valid").into_iter().take(CLIENTS).collect();
    for (i, tin) in tins.iter().enumerate() {
        mx.granted(&format!("OEA-MX-T{i:04}"), tin).await;
    }
    let risk = spawn_risk_subgraph().await;
    // The benchmark measures throughput, not the rate limiter.
    let limits = GatewayLimits { requests_per_minute: u32::MAX, ..GatewayLimits::default() };
    let gateway = spawn_gateway(&[("node", &mx.graphql_url()), ("risk", &risk)], limits).await;
    let token = mx.token("risk").await;

    println!("gateway throughput: {CLIENTS} concurrent clients, {} s each, loopback", WINDOW.as_secs());
    for (requests, tins) in
        [("distinct requests (one operator per client)", &tins[..]), ("identical requests", &tins[..1])]
    {
        let direct = measure(&mx.graphql_url(), &token, LOCAL, tins).await;
        let passthrough = measure(&gateway.url, &token, LOCAL, tins).await;
        let federated = measure(&gateway.url, &token, FEDERATED, tins).await;
        println!("  {requests}:");
        for (name, (rps, p50, p99)) in
            [("node direct", direct), ("gateway, one subgraph", passthrough), ("gateway, federated (+risk)", federated)]
        {
            println!(
                "    {name:<28} {rps:>8.0} req/s   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   ({:>3.0}% of direct)",
                rps / direct.0 * 100.0
            );
        }
    }
}
