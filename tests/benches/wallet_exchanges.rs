//! Wallet exchanges per second on a real node over loopback HTTP, for both formats:
//!
//! - issuance, offer → credential: an officer's `offerCredentialToWallet` (GraphQL), the token
//!   request, the nonce, and the credential request with a key proof (OpenID4VCI 1.0), each
//!   offer redeemed for one credential, bound to a fresh holder key;
//! - presentation: a VERIFIER's `requestPresentation` (GraphQL) and the wallet's `direct_post`
//!   answer, verified by the node (signature, issuer trust, status list, validity, holder
//!   binding, nonce) and its report stored; and the node's verification alone, in process,
//!   of the same presentations.
//!
//! The wallet side is Rust here (the interop tests use the npm libraries), so the figures are
//! the node's. Offers and requests are taken as links, as an e-mail or a wallet app gets them;
//! the QR code (`qrSvg`) is rendered only when asked for, and its time is printed apart. 8
//! concurrent tasks; the client and the node share this machine's cores. The run
//! is on SQLite, then on PostgreSQL when the tests' server answers. The issue sets no target.
//!
//! Run: `cargo bench -p cadena-tests --bench wallet_exchanges`.

use std::sync::Arc;
use std::time::Instant;

use cadena_credentials::credential::VC_V2_CONTEXT;
use cadena_credentials::did::{ProofPurpose, did_key_for};
use cadena_credentials::integrity::ProofOptions;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use cadena_credentials::sd_jwt_vc::{key_binding_jwt, select_disclosures};
use cadena_tests::{Backend, TestApp};
use chrono::Utc;
use serde_json::{Value, json};

const TASKS: usize = 8;
const ISSUED: usize = 400;
const PRESENTED: usize = 400;
/// Offers made one at a time to time the QR code.
const QR_OFFERS: usize = 50;
const LDP_VC: &str = "AEOCertification_ldp_vc";
const SD_JWT_VC: &str = "AEOCertification_dc+sd-jwt";

/// The `cadena` binary's allocator (gateway/src/main.rs), so the node code measured here
/// allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    println!("wallet exchanges: loopback HTTP, {TASKS} tasks");
    bench(Backend::Sqlite).await;
    match sea_orm::Database::connect(cadena_tests::postgres_admin_url()).await {
        Ok(probe) => {
            probe.close().await.ok();
            bench(Backend::Postgres).await;
        }
        Err(error) => println!("  PostgreSQL: skipped (the tests' server does not answer: {error})"),
    }
}

async fn bench(backend: Backend) {
    let node = Arc::new(TestApp::builder().backend(backend).spawn().await);
    let id = node.granted("OEA-MX-B0001", "GODE561231GR8").await;
    // Warm the officer's token and the paths once.
    receive(&node, &id, LDP_VC).await;
    receive(&node, &id, SD_JWT_VC).await;
    // An offer with and without its QR code, one at a time.
    let mut per_offer = Vec::new();
    for fields in ["link txCode", "link txCode qrSvg"] {
        let query = format!("mutation($id: ID!) {{ offerCredentialToWallet(certificationId: $id) {{ {fields} }} }}");
        let started = Instant::now();
        for _ in 0..QR_OFFERS {
            node.gql(Some("registrar"), &query, json!({ "id": id })).await.data();
        }
        per_offer.push(started.elapsed().as_secs_f64() * 1000.0 / QR_OFFERS as f64);
    }
    println!(
        "  {backend:?} one offer: {:.2} ms as a link, {:.2} ms with its QR code (one at a time)",
        per_offer[0], per_offer[1]
    );
    for configuration in [LDP_VC, SD_JWT_VC] {
        let started = Instant::now();
        let held = in_tasks(ISSUED, {
            let (node, id) = (node.clone(), id.clone());
            move |_| {
                let (node, id) = (node.clone(), id.clone());
                async move { receive(&node, &id, configuration).await }
            }
        })
        .await;
        let per_second = ISSUED as f64 / started.elapsed().as_secs_f64();
        println!("  {backend:?} issuance {configuration}: {per_second:.0} offers → credentials/s ({ISSUED})");

        let format = if configuration == LDP_VC { "LDP_VC" } else { "SD_JWT_VC" };
        let held = Arc::new(held);
        let requests = in_tasks(PRESENTED, {
            let node = node.clone();
            move |_| {
                let node = node.clone();
                async move { request(&node, format).await }
            }
        })
        .await;
        let requests = Arc::new(requests);
        let started = Instant::now();
        let answers = in_tasks(PRESENTED, {
            let (node, held, requests) = (node.clone(), held.clone(), requests.clone());
            move |i| {
                let (node, held, requests) = (node.clone(), held.clone(), requests.clone());
                async move { answer(&node, &requests[i], &held[i % held.len()]).await }
            }
        })
        .await;
        let per_second = PRESENTED as f64 / started.elapsed().as_secs_f64();
        let verified = answers.iter().filter(|ok| **ok).count();
        println!(
            "  {backend:?} presentation {format}: {per_second:.0} answers verified and recorded/s ({verified}/{PRESENTED} verified)"
        );
        assert_eq!(verified, PRESENTED, "every presentation verifies");
    }
}

/// Runs `n` jobs on [`TASKS`] tasks; their results in job order.
async fn in_tasks<T, F, Fut>(n: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return done;
                    }
                    done.push((i, job(i).await));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for handle in handles {
        all.extend(handle.await.expect("task"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// What a wallet holds: its key and a credential.
struct Held {
    key: SecretKey,
    credential: Value,
}

/// Offer → token → nonce → credential, for a fresh holder key.
async fn receive(node: &TestApp, id: &str, configuration: &str) -> Held {
    // The offer as a wallet link (sent to the firm): no QR code rendered.
    let query = "mutation($id: ID!) { offerCredentialToWallet(certificationId: $id) { link txCode credentialOffer } }";
    let offered = node.gql(Some("registrar"), query, json!({ "id": id })).await;
    let offer = &offered.data()["offerCredentialToWallet"];
    let grants = &offer["credentialOffer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"];
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:pre-authorized_code"),
        ("pre-authorized_code", grants["pre-authorized_code"].as_str().unwrap()),
        ("tx_code", offer["txCode"].as_str().unwrap()),
    ];
    let token: Value = post(node.client.post(format!("{}/openid4vci/token", node.base)).form(&form)).await;
    let nonce: Value = post(node.client.post(format!("{}/openid4vci/nonce", node.base))).await;
    let key = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
    let (_, method) = did_key_for(&key.public());
    let proof = cadena_credentials::jwt::sign(
        json!({ "typ": "openid4vci-proof+jwt", "kid": method }),
        &json!({ "aud": node.base, "iat": Utc::now().timestamp(), "nonce": nonce["c_nonce"] }),
        &key,
    );
    let request = json!({ "credential_configuration_id": configuration, "proofs": { "jwt": [proof] } });
    let issued: Value = post(
        node.client
            .post(format!("{}/openid4vci/credential", node.base))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .json(&request),
    )
    .await;
    Held { key, credential: issued["credentials"][0]["credential"].clone() }
}

/// A VERIFIER's request for `format`, as a link (no QR code rendered).
async fn request(node: &TestApp, format: &str) -> Value {
    let query = format!("mutation {{ requestPresentation(format: {format}) {{ id link request }} }}");
    node.gql(Some("verifier"), &query, json!({})).await.data()["requestPresentation"].clone()
}

/// The wallet's answer to `request`; whether the node's report says verified.
async fn answer(node: &TestApp, request: &Value, held: &Held) -> bool {
    let parameters = &request["request"];
    let (client_id, nonce) = (parameters["client_id"].as_str().unwrap(), parameters["nonce"].as_str().unwrap());
    let presentation = match &held.credential {
        Value::String(sd_jwt) => {
            let shown = select_disclosures(sd_jwt, &[]).unwrap();
            json!(format!("{shown}{}", key_binding_jwt(&shown, &held.key, client_id, nonce, Utc::now())))
        }
        credential => {
            let (holder, method) = did_key_for(&held.key.public());
            let unsigned = json!({
                "@context": [VC_V2_CONTEXT], "type": ["VerifiablePresentation"], "holder": holder,
                "verifiableCredential": [credential],
            });
            let options = ProofOptions {
                verification_method: method,
                purpose: ProofPurpose::Authentication,
                created: Utc::now(),
                challenge: Some(nonce.to_owned()),
                domain: Some(client_id.to_owned()),
            };
            node.node.services.credentials.integrity().sign(&unsigned, &held.key, &options).unwrap()
        }
    };
    let vp_token = json!({ "aeo": [presentation] }).to_string();
    let form = [("vp_token", vp_token.as_str()), ("state", parameters["state"].as_str().unwrap())];
    let _: Value = post(node.client.post(parameters["response_uri"].as_str().unwrap()).form(&form)).await;
    let result = node.presentation_result("verifier", &request["id"], false).await;
    result["verified"] == true
}

async fn post(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("the node answers");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{status}: {body}");
    body
}
