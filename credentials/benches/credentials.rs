//! Issue and verify throughput of the AEO credential: cadena's path against plain ssi calls,
//! in the same run, on distinct credentials (no credential is verified twice).
//!
//! cadena's verifier does the whole report (proof, issuer trust, both status lists, validity)
//! with its caches warm, as a node runs: processed contexts and document shapes, the DID
//! document, the verified status lists. Plain ssi checks the proof only. Target: cadena
//! verifies at least 5× as many per second, and at least half as many as the raw signature checks
//! of the same key (the rest of a verification costs no more than the signature itself).
//!
//! Run: `cargo bench -p cadena-credentials --bench credentials`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cadena_credentials::did::{ProofPurpose, did_document};
use cadena_credentials::fixtures::aeo_credential;
use cadena_credentials::integrity::reference::ReferenceVerifier;
use cadena_credentials::integrity::{Integrity, ProofOptions};
use cadena_credentials::keys::{Cryptosuite, IssuerKeys};
use cadena_credentials::status_list::{Bitstring, StatusPurpose, status_list_credential};
use cadena_credentials::verification::{
    DidResolver, IssuerTrust, ResolutionError, StatusListSource, TrustList, Verifier,
};
use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

const DID: &str = "did:web:aduanas.example";
const BASE: &str = "https://aduanas.example";
const COUNT: usize = 1_000;
const SPEEDUP_TARGET: f64 = 5.0;

/// Documents already fetched (a node's HTTP caches, warm).
struct Fetched(HashMap<String, Arc<Value>>);

impl DidResolver for Fetched {
    fn resolve<'a>(&'a self, did: &'a str, _fresh: bool) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move { self.0.get(did).cloned().ok_or_else(|| ResolutionError(format!("unknown {did}"))) })
    }
}

impl StatusListSource for Fetched {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move { self.0.get(url).cloned().ok_or_else(|| ResolutionError(format!("unknown {url}"))) })
    }
}

fn per_second(count: usize, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    for suite in [Cryptosuite::EdDsaRdfc2022, Cryptosuite::EcdsaRdfc2019] {
        let keys = IssuerKeys::generate(suite);
        let key = &keys.current().key;
        let method = format!("{DID}#{}", keys.current().fragment);
        let did_doc = did_document(DID, &keys, &[]);
        let integrity = Arc::new(Integrity::new());
        let options = || ProofOptions {
            verification_method: method.clone(),
            purpose: ProofPurpose::AssertionMethod,
            created: Utc::now(),
            challenge: None,
            domain: None,
        };
        let unsigned: Vec<Value> = (0..COUNT).map(|n| aeo_credential(n, DID, BASE).to_json()).collect();

        // Issue: cadena.
        integrity.sign(&unsigned[0], key, &options()).expect("warm-up");
        let started = Instant::now();
        let ours: Vec<Value> = unsigned.iter().map(|u| integrity.sign(u, key, &options()).expect("sign")).collect();
        let cadena_issue = per_second(COUNT, started);

        // Issue: plain ssi.
        let reference = ReferenceVerifier::new(&HashMap::from([(DID.to_owned(), did_doc.clone())]));
        let started = Instant::now();
        let mut theirs = Vec::new();
        for u in &unsigned[..COUNT / 4] {
            theirs.push(reference.sign(u, key, &method).await.expect("ssi signs"));
        }
        let ssi_issue = per_second(COUNT / 4, started);

        // Status lists, signed by the same issuer.
        let mut documents = HashMap::from([(DID.to_owned(), Arc::new(did_doc.clone()))]);
        for purpose in StatusPurpose::ALL {
            let url = format!("{BASE}/status-lists/{}-1", purpose.as_str());
            let mut bits = Bitstring::default();
            bits.set(3, true).expect("in range");
            let list = status_list_credential(&url, DID, purpose, &bits, Utc::now(), 300_000);
            documents.insert(url, Arc::new(integrity.sign(&list, key, &options()).expect("list signs")));
        }
        let fetched = Arc::new(Fetched(documents));
        let trust: Arc<dyn IssuerTrust> =
            Arc::new(TrustList(HashMap::from([(DID.to_owned(), "Aduana de ejemplo".to_owned())])));
        let verifier = Verifier::new(integrity.clone(), fetched.clone(), fetched, trust, None);

        // Verify: cadena, the whole report, each credential once.
        let now = Utc::now();
        let warm = verifier.verify_credential(&ours[0], now, "credential").await.expect("report");
        assert!(warm.verified, "{warm:?}");
        let started = Instant::now();
        let mut verified = 0;
        for credential in &ours[1..] {
            let report = verifier.verify_credential(credential, now, "credential").await.expect("report");
            verified += usize::from(report.verified);
        }
        let cadena_verify = per_second(COUNT - 1, started);
        // Credential 3 is revoked and suspended in the lists.
        assert_eq!(verified, COUNT - 2, "every credential but the revoked one verifies");

        // Verify: plain ssi, proof only.
        let started = Instant::now();
        for credential in &ours[..COUNT / 4] {
            reference.verify(credential).await.expect("ssi runs").expect("ssi accepts");
        }
        let ssi_verify = per_second(COUNT / 4, started);
        // And cadena accepts what ssi signed.
        for credential in &theirs[..10] {
            assert!(verifier.integrity().prepare(credential, "c").is_ok());
        }

        // Raw signature checks of the same key, over 64-byte messages (what eddsa-rdfc-2022 signs:
        // the proof configuration's hash and the document's), each message distinct.
        let messages: Vec<Vec<u8>> = (0..COUNT).map(|n| [n.to_le_bytes().as_slice(), &[7u8; 56]].concat()).collect();
        let signatures: Vec<Vec<u8>> = messages.iter().map(|m| key.sign(m)).collect();
        let public = key.public();
        let started = Instant::now();
        for (message, signature) in messages.iter().zip(&signatures) {
            assert!(public.verify(message, signature));
        }
        let raw_verify = per_second(COUNT, started);

        let speedup = cadena_verify / ssi_verify;
        println!("AEO credential, {} (one core, {COUNT} distinct credentials):", suite.as_str());
        println!(
            "  issue   cadena {cadena_issue:>8.0}/s   plain ssi {ssi_issue:>6.0}/s   ({:.1}x)",
            cadena_issue / ssi_issue
        );
        println!(
            "  verify  cadena {cadena_verify:>8.0}/s   plain ssi {ssi_verify:>6.0}/s   ({speedup:.1}x; target >= {SPEEDUP_TARGET}x: {})",
            if speedup >= SPEEDUP_TARGET { "met" } else { "MISSED" }
        );
        println!("          (cadena: proof + issuer trust + revocation + suspension + validity; ssi: proof only)");
        let share = cadena_verify / raw_verify;
        println!(
            "  raw signature check {raw_verify:>8.0}/s: cadena's whole verification is {:.0}% of it (target >= 50%: {})",
            share * 100.0,
            if share >= 0.5 { "met" } else { "MISSED" }
        );
    }
}
