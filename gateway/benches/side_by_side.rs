//! cadena's gateway beside Hive Router's own binary, in one run: the same supergraph (The
//! Guild's federation benchmark subgraphs, accounts, products, inventory and reviews, served
//! here), the same operation (the benchmark's, across all four, `@requires` included), the same
//! client and concurrency. Both run as their own processes; each prints requests/s, latency
//! p50/p95/p99 and CPU time per request of the gateway process. Target: cadena ≥ 1.0× Hive
//! Router's throughput.
//!
//! Hive Router is `$HIVE_ROUTER`, else `~/.cache/hive-router/bin/hive_router`, installed there
//! on first run (`cargo install hive-router --locked --ignore-rust-version --features graphiql`, its own target dir;
//! it needs a newer rustc than this workspace pins). The operation costs 102,927 under cadena's
//! cost model, over the default limit: it is a trusted document here, as a deployment running
//! it would list it.
//!
//! Run: `cargo bench -p cadena-gateway --bench side_by_side` (`--profile dev` for a quick
//! figure with optimised dependencies and unoptimised cadena).

#[path = "side_by_side/subgraphs.rs"]
mod subgraphs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const QUERY: &str = r#"fragment User on User { id username name }
fragment Review on Review { id body }
fragment Product on Product { inStock name price shippingEstimate upc weight }
query TestQuery {
  users { ...User reviews { ...Review product { ...Product reviews { ...Review author { ...User reviews { ...Review product { ...Product } } } } } } }
  topProducts { ...Product reviews { ...Review author { ...User reviews { ...Review product { ...Product } } } } }
}"#;
const CONCURRENCY: usize = 32;
const WARM_UP: Duration = Duration::from_secs(3);
/// Each gateway is measured in `ROUNDS` turns of `TURN`, the two alternating, so neither gains
/// from going second (warmer subgraphs, a quieter machine).
const ROUNDS: u32 = 3;
const TURN: Duration = Duration::from_secs(5);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

/// A gateway process, killed when dropped.
struct Gateway {
    name: &'static str,
    url: String,
    child: Child,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port()
}

/// Hive Router's binary, installed into its own directory the first time.
fn hive_router_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HIVE_ROUTER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/hive-router");
    let binary = root.join("bin/hive_router");
    if !binary.exists() {
        eprintln!("installing hive-router into {} (once; it takes a while)", root.display());
        let status = Command::new("cargo")
            // `graphiql` swaps the router's bundled laboratory (fetched from npm by its build
            // script, and gone from the registry) for a plain page.
            .args(["install", "hive-router", "--locked", "--ignore-rust-version", "--features", "graphiql", "--root"])
            .arg(&root)
            .arg("--target-dir")
            .arg(root.join("target"))
            .status()
            .expect("cargo runs");
        assert!(status.success() && binary.exists(), "hive-router installs into {}", root.display());
    }
    binary
}

fn start_hive_router(dir: &Path) -> Gateway {
    let port = free_port();
    std::fs::write(dir.join("router.config.yaml"), "supergraph:\n  source: file\n  path: supergraph.graphql\n")
        .expect("writes the router's config");
    let child = Command::new(hive_router_binary())
        .current_dir(dir)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("hive-router starts");
    Gateway { name: "Hive Router", url: format!("http://127.0.0.1:{port}/graphql"), child }
}

fn start_cadena(dir: &Path, subgraphs: &[subgraphs::Served]) -> Gateway {
    let port = free_port();
    std::fs::write(dir.join("trusted.json"), json!({ "benchmark": QUERY }).to_string()).expect("writes");
    let mut config = format!(
        "listen = \"127.0.0.1:{port}\"\nsupergraph_file = \"{}\"\ntrusted_documents = \"{}\"\n[limits]\nrequests_per_minute = 0\n",
        dir.join("supergraph.graphql").display(),
        dir.join("trusted.json").display()
    );
    for subgraph in subgraphs {
        config.push_str(&format!("[[subgraphs]]\nname = \"{}\"\nurl = \"{}\"\n", subgraph.name, subgraph.url));
    }
    std::fs::write(dir.join("gateway.toml"), config).expect("writes the gateway's config");
    let child = Command::new(env!("CARGO_BIN_EXE_cadena"))
        .args(["gateway", "--config"])
        .arg(dir.join("gateway.toml"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .expect("cadena gateway starts");
    Gateway { name: "cadena gateway", url: format!("http://127.0.0.1:{port}/graphql"), child }
}

async fn ask(client: &reqwest::Client, url: &str) -> reqwest::Result<Value> {
    client.post(url).json(&json!({ "query": QUERY })).send().await?.error_for_status()?.json().await
}

/// Waits until `gateway` answers the operation; returns its answer.
async fn ready(client: &reqwest::Client, gateway: &Gateway) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(answer) = ask(client, &gateway.url).await {
            return answer;
        }
        assert!(Instant::now() < deadline, "{} never answered at {}", gateway.name, gateway.url);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The CPU time (user + system) a process has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    // Fields after the command (which may hold spaces) start at state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One turn of `CONCURRENCY` clients on `gateway` for `length`: each request's latency (ms),
/// and the gateway process's CPU time (ms).
async fn turn(client: &reqwest::Client, gateway: &Gateway, length: Duration) -> (Vec<f64>, f64) {
    let until = Instant::now() + length;
    let cpu_before = cpu_time(gateway.child.id());
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url) = (client.clone(), gateway.url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let answer = ask(&client, &url).await.expect("answers");
                    assert!(answer.get("errors").is_none(), "{answer}");
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client"));
    }
    (all, (cpu_time(gateway.child.id()) - cpu_before).as_secs_f64() * 1000.0)
}

async fn run() {
    let subgraphs = subgraphs::serve_all().await;
    let composed: Vec<_> = subgraphs
        .iter()
        .map(|s| cadena_gateway::federation::Subgraph { name: s.name.into(), url: s.url.clone(), sdl: s.sdl.clone() })
        .collect();
    let supergraph = cadena_gateway::federation::compose(&composed).await.expect("the subgraphs compose");
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("supergraph.graphql"), supergraph).expect("writes the supergraph");

    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().expect("client");
    let hive = start_hive_router(dir.path());
    let cadena = start_cadena(dir.path(), &subgraphs);
    let (from_hive, from_cadena) = (ready(&client, &hive).await, ready(&client, &cadena).await);
    assert!(from_hive.get("errors").is_none(), "Hive Router: {from_hive}");
    assert_eq!(from_cadena, from_hive, "both gateways give the same answer");

    println!("gateways side by side: The Guild's federation benchmark operation over 4 subgraphs");
    println!(
        "  {CONCURRENCY} concurrent clients, {ROUNDS} alternating turns of {}s each after {}s warm-up",
        TURN.as_secs(),
        WARM_UP.as_secs()
    );
    let gateways = [&hive, &cadena];
    for gateway in gateways {
        turn(&client, gateway, WARM_UP).await;
    }
    // (latencies, seconds, CPU ms) per gateway, over its turns.
    let mut totals = [(Vec::new(), 0.0, 0.0), (Vec::new(), 0.0, 0.0)];
    for _ in 0..ROUNDS {
        for (gateway, total) in gateways.iter().zip(totals.iter_mut()) {
            let (latencies, cpu) = turn(&client, gateway, TURN).await;
            total.0.extend(latencies);
            total.1 += TURN.as_secs_f64();
            total.2 += cpu;
        }
    }
    let mut throughput = Vec::new();
    for (gateway, (mut latencies, seconds, cpu)) in gateways.into_iter().zip(totals) {
        latencies.sort_by(|a, b| a.total_cmp(b));
        let requests = latencies.len() as f64;
        let rps = requests / seconds;
        println!(
            "  {:<15} {rps:>8.0} req/s   p50 {:>6.1} ms   p95 {:>6.1} ms   p99 {:>6.1} ms   {:.3} CPU ms/request",
            gateway.name,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.95),
            percentile(&latencies, 0.99),
            cpu / requests
        );
        throughput.push(rps);
    }
    let ratio = throughput[1] / throughput[0];
    println!(
        "  cadena / Hive Router throughput: {ratio:.2}x (target >= 1.0x: {})",
        if ratio >= 1.0 { "met" } else { "MISSED" }
    );
}
