//! Anchoring cost and overhead, on a real anvil:
//!
//! 1. Issuance throughput (submit + approve, each grant signing its credential) with anchoring
//!    off, then on (the former reading the event log into batches and the chain loop sending
//!    them, beside the issuance), same machine, same run, in three rounds whose times are
//!    added. Target: on >= 90% of off. The log's reader runs in both, as in every node (it feeds
//!    subscriptions, partners and followers whether the node anchors or not).
//! 2. Transactions and gas to anchor 10,000 credentials. Target: <= 100 gas per credential.
//!
//! Run: `cargo bench -p cadena-resolvers --bench anchoring`.

use std::collections::HashMap;
use std::error::Error;
use std::time::{Duration, Instant};

use cadena_contracts::ChainClient;
use cadena_contracts::anvil::Anvil;
use cadena_credentials::fixtures::numbered_draft;
use cadena_credentials::keys::Cryptosuite;
use cadena_credentials::{AeoDataSetDraft, CountryCode};
use cadena_resolvers::auth::{Principal, Role, RoleSet};
use cadena_resolvers::events::EventBus;
use cadena_resolvers::services::anchoring::{AnchoringService, AnchoringSettings, Former};
use cadena_resolvers::services::{CertificationService, CredentialService, CredentialSettings};
use cadena_resolvers::storage::Storage;
use cadena_resolvers::storage::entities::anchor_batches;
use futures::StreamExt;
use sea_orm::EntityTrait;
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const CREDENTIALS: usize = 10_000;
const TASKS: usize = 4;
/// Rounds of off then on, each on its own chain and databases.
const ROUNDS: u32 = 3;
const GAS_TARGET: f64 = 100.0;
const OVERHEAD_TARGET: f64 = 0.90;
const RFCS: &str = include_str!("../../credentials/tests/fixtures/tin-valid/mx-rfc-checkdigit-valid.txt");

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> BenchResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

fn officer(name: &str, role: Role) -> Principal {
    Principal { officer_id: Uuid::now_v7(), username: name.into(), roles: RoleSet::new([role]) }
}

fn draft(i: usize, tin: &str) -> AeoDataSetDraft {
    numbered_draft("OEA-MX-G", i, tin)
}

/// A fresh node database and its services, anchoring or not.
async fn node(dir: &std::path::Path, anchoring: bool) -> BenchResult<(Storage, CertificationService)> {
    let storage =
        Storage::connect_and_migrate(&format!("sqlite://{}?mode=rwc", dir.join("node.sqlite").display())).await?;
    let settings = CredentialSettings {
        base_url: "https://aduanas.example".into(),
        key_file: dir.join("issuer-keys.json"),
        cryptosuite: Cryptosuite::EdDsaRdfc2022,
        trusted_issuers: HashMap::new(),
        status_list_ttl: Duration::from_secs(300),
        challenge_ttl: Duration::from_secs(300),
        anchoring,
        vc_api_issuance: false,
        allow_private_addresses: false,
        anonymous_verifications_per_minute: 0,
    };
    let credentials = CredentialService::new(storage.clone(), settings, None)?;
    let country = CountryCode::parse("MX")?;
    Ok((storage.clone(), CertificationService::new(storage, EventBus::default(), country, credentials)))
}

/// Grants `CREDENTIALS` certifications from `TASKS` tasks; returns the wall time.
async fn grant_all(service: &CertificationService) -> BenchResult<Duration> {
    let rfcs: Vec<&str> = RFCS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let registrar = officer("registrar", Role::Registrar);
    let approver = officer("approver", Role::Approver);
    let started = Instant::now();
    let results: Vec<BenchResult<()>> = futures::stream::iter(0..CREDENTIALS)
        .map(|i| {
            let (service, registrar, approver) = (service.clone(), registrar.clone(), approver.clone());
            let draft = draft(i, rfcs[i % rfcs.len()]);
            async move {
                let submitted = service.submit(Some(&registrar), &draft).await?;
                service.approve(Some(&approver), submitted.id).await?;
                Ok(())
            }
        })
        .buffer_unordered(TASKS)
        .collect()
        .await;
    results.into_iter().collect::<BenchResult<Vec<()>>>()?;
    Ok(started.elapsed())
}

/// One round's figures: issuance time off and on, how long the last anchor took after the
/// last grant, the batches formed, and the leaves on chain.
struct Round {
    off: Duration,
    on: Duration,
    drained: Duration,
    batches: Vec<anchor_batches::Model>,
    on_chain: u32,
}

/// A round on its own chain: grants with anchoring off, then on, each into a fresh database.
async fn round() -> BenchResult<Round> {
    let anvil = Anvil::spawn().await?;
    let governance = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await?;
    let contracts = governance.deploy(anvil.address(0)).await?.addresses();
    let governance = governance.with_contracts(contracts);
    governance.admit_authority(*b"MX", "did:web:aduanas.example", anvil.address(1)).await?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };

    // 1a. Anchoring off.
    let off_dir = tempfile::tempdir()?;
    let (_, service) = node(off_dir.path(), false).await?;
    let reading_off = tokio::spawn(service.event_log().run(0, None, until_stopped()));
    let off = grant_all(&service).await?;

    // 1b. Anchoring on: the former reading the log into batches, the chain loop sending them.
    let on_dir = tempfile::tempdir()?;
    let (storage, service) = node(on_dir.path(), true).await?;
    let anchorer = ChainClient::connect(anvil.chain_config(), anvil.signer(1)).await?.with_contracts(contracts);
    let settings = AnchoringSettings { max_batch: 5_000, max_wait: Duration::from_secs(2), ..Default::default() };
    let worker = AnchoringService::new(storage.clone(), anchorer, *b"MX", settings);
    // As in a node: the former's cursor is saved before anything is issued.
    let former = Former::new(worker.clone(), service.event_log());
    former.cursor().await?;
    let reading_on = tokio::spawn(service.event_log().run(0, None, until_stopped()));
    let forming = tokio::spawn(former.run(until_stopped()));
    let running = tokio::spawn(worker.clone().run(until_stopped()));
    let on = grant_all(&service).await?;
    let issued_at = Instant::now();
    let batches = loop {
        let batches = anchor_batches::Entity::find().all(storage.db()).await?;
        let confirmed: i32 = batches.iter().filter(|b| b.tx_hash.is_some()).map(|b| b.count).sum();
        if confirmed as usize == CREDENTIALS {
            break batches;
        }
        if issued_at.elapsed() > Duration::from_secs(120) {
            return Err(format!("only {confirmed} of {CREDENTIALS} anchored after 120 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drained = issued_at.elapsed();
    let _ = stop.send(true);
    running.await?;
    forming.await?;
    reading_on.await?;
    reading_off.await?;

    let head = governance.block_number().await?;
    let on_chain: u32 = governance.batch_anchored_by(*b"MX", 0, head).await?.iter().map(|e| e.count).sum();
    Ok(Round { off, on, drained, batches, on_chain })
}

async fn run() -> BenchResult<()> {
    println!(
        "cadena anchoring benchmark ({CREDENTIALS} credentials, SQLite, {TASKS} tasks, anvil; {ROUNDS} rounds of off then on)\n"
    );
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(round().await?);
    }
    let rate = |d: Duration| CREDENTIALS as f64 / d.as_secs_f64();
    // Each phase lasts a few seconds, so one pair of them swings by several percent: the ratio
    // is of the rounds' total times, and each round's is printed beside it.
    let (off, on): (Duration, Duration) = (rounds.iter().map(|r| r.off).sum(), rounds.iter().map(|r| r.on).sum());
    let ratio = off.as_secs_f64() / on.as_secs_f64();
    println!("1. issuance (submit + approve + signed credential)");
    for (number, round) in rounds.iter().enumerate() {
        println!(
            "   round {}: off {:>5.0}, on {:>5.0} grants/s ({:.0}%); last anchor {:.2} s after the last grant",
            number + 1,
            rate(round.off),
            rate(round.on),
            100.0 * round.off.as_secs_f64() / round.on.as_secs_f64(),
            round.drained.as_secs_f64()
        );
    }
    println!("   anchoring off:            {:>7.0} grants/s", ROUNDS as f64 * CREDENTIALS as f64 / off.as_secs_f64());
    println!(
        "   anchoring on:             {:>7.0} grants/s  ({:.0}% of off; target >= {:.0}%: {})",
        ROUNDS as f64 * CREDENTIALS as f64 / on.as_secs_f64(),
        ratio * 100.0,
        OVERHEAD_TARGET * 100.0,
        if ratio >= OVERHEAD_TARGET { "met" } else { "MISSED" }
    );

    let Round { batches, on_chain, .. } = rounds.pop().expect("rounds ran");
    let gas: i64 = batches.iter().filter_map(|b| b.gas_used).sum();
    let per_credential = gas as f64 / CREDENTIALS as f64;
    println!("\n2. anchoring {CREDENTIALS} credentials (the last round)");
    println!(
        "   transactions:             {:>7}  (batches of up to 5,000; {} leaves on chain)",
        batches.len(),
        on_chain
    );
    println!("   total gas:                {:>7}", gas);
    println!(
        "   gas per credential:       {:>7.1}  (target <= {GAS_TARGET}: {})",
        per_credential,
        if per_credential <= GAS_TARGET { "met" } else { "MISSED" }
    );
    if on_chain as usize != CREDENTIALS {
        return Err(format!("{on_chain} leaves anchored, expected {CREDENTIALS}").into());
    }
    Ok(())
}
