//! The officer console's server-side page time with 100,000 certifications stored, on a real
//! node over loopback HTTP: the certification list (`GET /console`, the newest 100) and one
//! certification with its history (`GET /console/certifications/{id}`).
//!
//! The certifications are stored as a node's register fills: submitted by `registrar` and
//! approved by `approver` through `CertificationService`, from 8 concurrent tasks, so each
//! granted one has its two history entries and a signed credential (one in 20 is left
//! submitted, awaiting approval). Certificate numbers are unique; the trader IDs are the real
//! RFCs of the `cadena-credentials` fixtures, each holding several certifications.
//!
//! Then `approver` logs in through the console's form, and each page is asked for 50 times to
//! warm up, then 1,000 times, one request at a time (the certification page for a certification
//! picked at random among the stored ones), each timed from sending the request to reading the
//! whole body. Target: p99 <= 50 ms per page. The run is on SQLite, then on PostgreSQL when the
//! server the tests use answers (`CADENA_TEST_POSTGRES_URL`, else 127.0.0.1:5432); the client,
//! the node and its database share this machine's cores.
//!
//! Run: `cargo bench -p cadena-tests --bench console_render`. It prints figures; it fails only
//! when the service misbehaves (an error while storing, a page that does not answer 200 or does
//! not show the certification asked for), not when a target is missed.

use std::time::{Duration, Instant};

use cadena_credentials::fixtures::numbered_draft;
use cadena_credentials::{AeoDataSetDraft, CertificateType};
use cadena_resolvers::auth::Principal;
use cadena_tests::{Backend, PASSWORD, TestApp};
use uuid::Uuid;

const STORED: usize = 100_000;
const TASKS: usize = 8;
/// One certification in this many stays submitted (pending approval).
const PENDING_EVERY: usize = 20;
const WARM_UP: usize = 50;
const REQUESTS: usize = 1_000;
const P99_TARGET_MS: f64 = 50.0;

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let tins = cadena_tests::valid_tins("mx-rfc-checkdigit-valid");
    println!("console render: {STORED} certifications stored, loopback HTTP, one request at a time");
    bench(Backend::Sqlite, &tins).await;
    match sea_orm::Database::connect(cadena_tests::postgres_admin_url()).await {
        Ok(probe) => {
            probe.close().await.ok();
            bench(Backend::Postgres, &tins).await;
        }
        Err(error) => println!("  PostgreSQL: skipped (the tests' server does not answer: {error})"),
    }
    match peak_rss_mib() {
        Some(mib) => println!("  peak RSS (VmHWM, client and nodes): {mib:.1} MiB"),
        None => println!("  peak RSS: unavailable (no VmHWM in /proc/self/status)"),
    }
}

/// One certification stored: its id and certificate number.
struct Stored {
    id: Uuid,
    number: String,
}

async fn bench(backend: Backend, tins: &[String]) {
    let app = TestApp::builder().backend(backend).spawn().await;
    println!("  {backend:?}:");

    let started = Instant::now();
    let stored = seed(&app, tins).await;
    let seeding = started.elapsed().as_secs_f64();
    assert_eq!(app.stored_certifications().await, STORED as u64, "every certification stored");
    println!(
        "    seeding: {seeding:.1} s ({:.0} certifications/s; submit + approve through the services, {TASKS} tasks)",
        STORED as f64 / seeding
    );

    let console = Console::log_in(&app, "approver").await;
    // The list shows the newest first (ids are UUIDv7): the newest stored must be on it.
    let newest = stored.iter().max_by_key(|s| s.id).expect("certifications stored");
    let list = time_pages(&console, |_| ("/console".to_owned(), newest.number.as_str())).await;
    let mut rng = SplitMix64(0xCADE_2026);
    let picks: Vec<&Stored> = (0..WARM_UP + REQUESTS).map(|_| &stored[rng.below(stored.len())]).collect();
    let one = time_pages(&console, |n| {
        let pick = picks[n];
        (format!("/console/certifications/{}", pick.id), pick.number.as_str())
    })
    .await;
    print_latencies("GET /console", &list);
    print_latencies("GET /console/certifications/{id}", &one);
}

/// Submits `STORED` certifications as `registrar` and approves all but one in
/// `PENDING_EVERY` as `approver`, from `TASKS` tasks.
async fn seed(app: &TestApp, tins: &[String]) -> Vec<Stored> {
    let registrar = principal(app, "registrar").await;
    let approver = principal(app, "approver").await;
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let service = app.node.services.certifications.clone();
        let (registrar, approver) = (registrar.clone(), approver.clone());
        let drafts: Vec<(usize, AeoDataSetDraft)> =
            (task..STORED).step_by(TASKS).map(|i| (i, draft(i, tins))).collect();
        handles.push(tokio::spawn(async move {
            let mut stored = Vec::with_capacity(drafts.len());
            for (i, draft) in drafts {
                let number = draft.certificate_number.clone();
                let submitted = service
                    .submit(Some(&registrar), &draft)
                    .await
                    .unwrap_or_else(|e| panic!("submitting {number}: {e}"));
                if i % PENDING_EVERY != 0 {
                    service
                        .approve(Some(&approver), submitted.id)
                        .await
                        .unwrap_or_else(|e| panic!("approving {number}: {e}"));
                }
                stored.push(Stored { id: submitted.id, number });
            }
            stored
        }));
    }
    let mut stored = Vec::with_capacity(STORED);
    for handle in handles {
        stored.extend(handle.await.expect("seeding task"));
    }
    stored
}

/// The seeded officer `username` as the services see it once logged in.
async fn principal(app: &TestApp, username: &str) -> Principal {
    let token = app.token(username).await;
    app.node.services.officers.authenticate(&token).await.expect("the seeded officer authenticates")
}

fn draft(i: usize, tins: &[String]) -> AeoDataSetDraft {
    // A few hundred real RFCs: each holds several certifications, of every type.
    AeoDataSetDraft {
        certificate_type: Some(CertificateType::ALL[i % CertificateType::ALL.len()]),
        ..numbered_draft("OEA-MX-R", i, &tins[i % tins.len()])
    }
}

/// A browser on the console: its session cookie, no redirects followed.
struct Console {
    base: String,
    client: reqwest::Client,
    cookie: String,
}

impl Console {
    /// Logs `username` in through the form, as a browser does.
    async fn log_in(app: &TestApp, username: &str) -> Console {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("HTTP client");
        let form = client.get(format!("{}/console/login", app.base)).send().await.expect("the node answers");
        assert_eq!(form.status(), 200, "the login form");
        let login_cookie = cookie(&form, "cadena_console_login").expect("the login form sets its cookie");
        let body = form.text().await.expect("body");
        let field = "name=\"csrf\" value=\"";
        let at = body.find(field).unwrap_or_else(|| panic!("a form with a csrf field: {body}")) + field.len();
        let csrf = &body[at..at + body[at..].find('"').expect("the csrf value ends")];
        let answer = client
            .post(format!("{}/console/login", app.base))
            .header("cookie", format!("cadena_console_login={login_cookie}"))
            .form(&[("csrf", csrf), ("username", username), ("password", PASSWORD)])
            .send()
            .await
            .expect("the node answers");
        let status = answer.status();
        let Some(session) = cookie(&answer, "cadena_console") else {
            panic!("login as {username}: HTTP {status} without a session: {}", answer.text().await.unwrap_or_default())
        };
        assert_eq!(status, 303, "login as {username}");
        Console { base: app.base.clone(), client, cookie: format!("cadena_console={session}") }
    }

    /// `GET path`, which must answer 200 with `expected` in the page; the time it took.
    async fn get(&self, path: &str, expected: &str) -> Duration {
        let started = Instant::now();
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_else(|e| panic!("GET {path}: body: {e}"));
        let elapsed = started.elapsed();
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(body.contains(expected), "GET {path} does not show {expected}: {body}");
        elapsed
    }
}

/// The value of cookie `name` that `response` sets.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all("set-cookie").iter().find_map(|set| {
        let set = set.to_str().ok()?;
        let (n, value) = set.split_once(';').map_or(set, |(pair, _)| pair).split_once('=')?;
        (n == name && !value.is_empty()).then(|| value.to_owned())
    })
}

/// `WARM_UP` then `REQUESTS` pages, the `n`th at the path `page(n)` returns (with the text it
/// must show); the sorted times of the timed ones, in ms.
async fn time_pages<'a>(console: &Console, page: impl Fn(usize) -> (String, &'a str)) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(REQUESTS);
    for n in 0..WARM_UP + REQUESTS {
        let (path, expected) = page(n);
        let elapsed = console.get(&path, expected).await;
        if n >= WARM_UP {
            latencies.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    latencies
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn print_latencies(page: &str, sorted: &[f64]) {
    let p99 = percentile(sorted, 0.99);
    println!(
        "    {page:<34} p50 {:>6.2} ms   p99 {p99:>6.2} ms   max {:>6.2} ms   (target p99 <= {P99_TARGET_MS} ms: {})",
        percentile(sorted, 0.5),
        sorted.last().copied().unwrap_or_default(),
        if p99 <= P99_TARGET_MS { "met" } else { "MISSED" }
    );
}

/// A small deterministic generator (SplitMix64): the same picks every run, so runs compare.
struct SplitMix64(u64);

impl SplitMix64 {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Peak resident set size of this process (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
