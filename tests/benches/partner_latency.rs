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
//! Run: `cargo bench -p cadena-tests --bench partner_latency`. `CADENA_BENCH_SUBSCRIBERS=10000`
//! (and `CADENA_BENCH_CHANGES`, 100 by default) sizes it; past 2,000 subscribers their
//! connections live in child processes of this benchmark (at most 5,000 each: a process here may
//! hold 20,000 descriptors, and the node's end of each connection is one too), which tell each
//! arrival by the wall clock the parent reads too.

use std::time::{Duration, Instant, SystemTime};

use cadena_tests::{TestApp, TestChain};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const P99_TARGET_MS: f64 = 50.0;
/// Past this many subscribers, their connections are held by child processes.
const IN_PROCESS_MAX: usize = 2_000;
/// Connections per child process.
const PER_FARM: usize = 5_000;

/// `name` from the environment, else `default`.
fn sized(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--subscriber-farm") {
        runtime.block_on(farm(&args[2..]));
    } else {
        runtime.block_on(run());
    }
}

/// A child's part: `n` subscribers of `query` at `url`; prints `ready` once all are subscribed,
/// then each arrival as nanoseconds since the epoch, one per line.
async fn farm(args: &[String]) {
    use std::io::Write as _;
    let [url, token, query, n] = args else { panic!("--subscriber-farm url token query n") };
    let n: usize = n.parse().expect("n");
    let query: &'static str = Box::leak(query.clone().into_boxed_str());
    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    // In rounds of 500, each subscribed before the next connects (the listen backlog is finite).
    let mut connected = 0;
    while connected < n {
        let round = (n - connected).min(500);
        for _ in 0..round {
            tokio::spawn(subscriber(url.clone(), token.clone(), query, tx.clone()));
        }
        for _ in 0..round {
            arrivals.recv().await.expect("every subscriber subscribes");
        }
        connected += round;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    while let Some(at) = arrivals.recv().await {
        let nanos = at.duration_since(SystemTime::UNIX_EPOCH).expect("after the epoch").as_nanos();
        writeln!(out, "{nanos}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// `n` subscribers in child processes of this benchmark, their arrivals forwarded to `arrivals`.
async fn farms(
    url: &str,
    token: &str,
    query: &str,
    n: usize,
    arrivals: tokio::sync::mpsc::UnboundedSender<SystemTime>,
) -> Vec<tokio::process::Child> {
    use tokio::io::AsyncBufReadExt as _;
    let exe = std::env::current_exe().expect("this benchmark");
    let mut children = Vec::new();
    let mut left = n;
    while left > 0 {
        let take = left.min(PER_FARM);
        left -= take;
        let mut child = tokio::process::Command::new(&exe)
            .args(["--subscriber-farm", url, token, query, &take.to_string()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("a subscriber farm starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = lines.next_line().await.expect("the farm reports").expect("the farm reports");
        assert_eq!(ready, "ready");
        for _ in 0..take {
            arrivals.send(SystemTime::now()).expect("open");
        }
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let nanos: u64 = line.parse().expect("nanoseconds");
                let _ = arrivals.send(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos));
            }
        });
        children.push(child);
    }
    children
}

/// Opens a graphql-transport-ws subscription to `query` and reports the instant each event
/// arrives.
async fn subscriber(
    url: String,
    token: String,
    query: &'static str,
    arrivals: tokio::sync::mpsc::UnboundedSender<SystemTime>,
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
                let _ = arrivals.send(SystemTime::now());
            } else if text.contains("\"next\"") {
                let _ = arrivals.send(SystemTime::now());
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

    let (subscribers, changes) = (sized("CADENA_BENCH_SUBSCRIBERS", 1_000), sized("CADENA_BENCH_CHANGES", 100));
    println!("partner event latency: status change at MX -> event at CO subscribers");
    println!("  {subscribers} WebSocket subscribers at CO, {changes} status changes each");
    let events = "subscription { certificationEvents(filter: { transitions: [SUSPEND, REINSTATE] }) { transition } }";
    let sizes = (subscribers, changes);
    measure(&mx, &co, &id, sizes, "risk", events, "risk systems, certificationEvents").await;
    let recognition = "subscription { recognitionChanges { status } }";
    measure(&mx, &co, &id, sizes, "verifier", recognition, "an insurer's account, recognitionChanges").await;
}

/// Connects `subscribers` subscribers of `account` to `query` at CO (in child processes past
/// [`IN_PROCESS_MAX`]), makes `changes` status changes at MX and prints when the subscribers
/// heard them; then disconnects them.
async fn measure(
    mx: &TestApp,
    co: &TestApp,
    id: &str,
    (subscribers, changes): (usize, usize),
    account: &str,
    query: &'static str,
    label: &str,
) {
    let token = co.token(account).await;
    let url = format!("{}/graphql", co.base.replace("http://", "ws://"));
    let (tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let (in_process, children) = if subscribers <= IN_PROCESS_MAX {
        let tasks: Vec<_> =
            (0..subscribers).map(|_| tokio::spawn(subscriber(url.clone(), token.clone(), query, tx.clone()))).collect();
        (tasks, Vec::new())
    } else {
        (Vec::new(), farms(&url, &token, query, subscribers, tx.clone()).await)
    };
    for _ in 0..subscribers {
        arrivals.recv().await.expect("every subscriber subscribes");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latencies = Vec::with_capacity(subscribers * changes);
    let mut first_arrivals = Vec::with_capacity(changes);
    for i in 0..changes {
        let mutation = if i % 2 == 0 { "suspendCertification" } else { "reinstateCertification" };
        let started = SystemTime::now();
        mx.transition("approver", mutation, id, Some("benchmark")).await.data();
        let mut first = None;
        for _ in 0..subscribers {
            let at = tokio::time::timeout(Duration::from_secs(30), arrivals.recv())
                .await
                .expect("the event within 30 s")
                .expect("open");
            let ms = at.duration_since(started).unwrap_or_default().as_secs_f64() * 1000.0;
            first.get_or_insert(ms);
            latencies.push(ms);
        }
        first_arrivals.push(first.unwrap_or_default());
    }
    for subscriber in in_process {
        subscriber.abort();
    }
    drop(children);
    // The node's ends close as the farms exit.
    tokio::time::sleep(Duration::from_secs(1)).await;
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
