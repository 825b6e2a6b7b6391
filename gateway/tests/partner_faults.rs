//! Partners never diverge, whatever dies: three real `cadena node` processes (MX, CO, CR) on a
//! real anvil. MX certifies and changes statuses continuously while each of the three is
//! SIGKILLed several times at random moments, MX also just after an approval, and twice exactly
//! while a partner verifies its message (a crash point as it serves the anchor proof).
//! At the end every partner holds exactly MX's certifications that its MRA shares, with MX's
//! current status; no partner refused any of MX's messages; every webhook receiver heard every
//! message a partner took once (after de-duplicating retries by `Cadena-Delivery`), in order.

mod processes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cadena_contracts::anvil::DEV_PRIVATE_KEYS;
use processes::{NodeFiles, Running, certification_input, create_officers, gql, start, token};
use rand::Rng;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "the risk system's webhook secret";
const ALL_TYPES: [&str; 3] = ["FULL", "CUSTOMS_SIMPLIFICATIONS", "SECURITY_AND_SAFETY"];

/// Webhook calls received: (receiver path, delivery id, body).
type Heard = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn webhook_receiver() -> (String, Heard) {
    let heard: Heard = Arc::default();
    let store = heard.clone();
    let app = axum::Router::new().route(
        "/{receiver}",
        axum::routing::post(
            move |axum::extract::Path(receiver): axum::extract::Path<String>,
                  headers: axum::http::HeaderMap,
                  body: String| {
                let store = store.clone();
                async move {
                    let delivery =
                        headers.get("cadena-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    store.lock().unwrap().push((receiver, delivery, body));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, heard)
}

/// Runs GraphQL as `username` on the node at `url`, logging in again when needed; None while
/// the node is down (the caller tries again later).
struct Officer {
    client: reqwest::Client,
    url: String,
    username: &'static str,
    token: Option<String>,
}

impl Officer {
    fn new(files: &NodeFiles, username: &'static str) -> Officer {
        Officer { client: reqwest::Client::new(), url: files.graphql(), username, token: None }
    }

    async fn call(&mut self, query: &str, variables: Value) -> Option<Value> {
        if self.token.is_none() {
            self.token = token(&self.client, &self.url, self.username).await;
        }
        let answer = gql(&self.client, &self.url, self.token.as_deref(), query, variables).await.ok()?;
        if answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" {
            self.token = None;
            return None;
        }
        Some(answer)
    }

    /// Calls until the node answers (it may be down for a while).
    async fn call_until_answered(&mut self, query: &str, variables: Value) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(answer) = self.call(query, variables.clone()).await {
                return answer;
            }
            assert!(tokio::time::Instant::now() < deadline, "{} answers within 60 s", self.url);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// MX's work: grants of every type and status changes of earlier grants, until `stop`. Each
/// approval is announced on `approved`. Requests cut off by a kill are not retried under the
/// same number (they may have committed); the truth is read from MX at the end.
async fn certify_and_change(
    mx: NodeFiles,
    approved: Arc<tokio::sync::Notify>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut registrar = Officer::new(&mx, "registrar");
    let mut approver = Officer::new(&mx, "approver");
    let mut granted: Vec<String> = Vec::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let certificate_type = ALL_TYPES[n % ALL_TYPES.len()];
        let submitted = registrar
            .call(
                "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
                json!({ "i": certification_input(&format!("OEA-MX-F{n:05}"), certificate_type) }),
            )
            .await;
        let Some(id) = submitted.as_ref().and_then(|s| s["data"]["submitCertification"]["id"].as_str()) else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let approval =
            approver.call("mutation($id: ID!) { approveCertification(id: $id) { status } }", json!({ "id": id })).await;
        if approval.is_some_and(|a| a["data"]["approveCertification"]["status"] == "GRANTED") {
            granted.push(id.to_owned());
            approved.notify_waiters();
        }
        if n % 2 == 0 && !granted.is_empty() {
            let target = granted[rand::rng().random_range(0..granted.len())].clone();
            let mutation = ["suspendCertification", "reinstateCertification", "revokeCertification"]
                [rand::rng().random_range(0..3)];
            // Illegal ones (reinstating a granted one, anything after revocation) are refused
            // by the lifecycle, which is fine: MX's state stays the truth.
            let _ = approver
                .call(
                    &format!("mutation($id: ID!, $r: String) {{ {mutation}(id: $id, reason: $r) {{ status }} }}"),
                    json!({ "id": target, "r": "fault test" }),
                )
                .await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// MX's certifications that were ever granted: id → (status, type).
async fn truth(mx: &mut Officer) -> BTreeMap<String, (String, String)> {
    let answer = mx
        .call_until_answered("{ certifications(first: 500) { nodes { id status certificateType } } }", json!({}))
        .await;
    answer["data"]["certifications"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .filter(|n| matches!(n["status"].as_str(), Some("GRANTED" | "SUSPENDED" | "REVOKED")))
        .map(|n| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&n["id"]), (text(&n["status"]), text(&n["certificateType"])))
        })
        .collect()
}

/// What a partner holds of MX's operator: id → status.
async fn held(partner: &mut Officer) -> BTreeMap<String, String> {
    let answer = partner
        .call_until_answered(
            "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { certifications { id status } } }",
            json!({}),
        )
        .await;
    answer["data"]["operator"]["certifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), c["status"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_end_with_the_issuers_truth_through_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let (anvil, governance, contracts) = processes::chain(None).await;
    let (hooks, heard) = webhook_receiver().await;

    let mut files = HashMap::new();
    for (index, country) in ["MX", "CO", "CR"].into_iter().enumerate() {
        let extra = format!(
            "[credentials]\nallow_private_addresses = true\n\n[[webhooks]]\nurl = \"{hooks}/{country}\"\nsecret = \"{WEBHOOK_SECRET}\"\n"
        );
        let extra = processes::Extra { tables: &extra, ..Default::default() };
        let node =
            processes::write_node_config(dir.path(), country, &anvil, contracts, DEV_PRIVATE_KEYS[index + 1], extra);
        let code: [u8; 2] = country.as_bytes().try_into().unwrap();
        governance.admit_authority(code, &node.did, anvil.address(index + 1)).await.unwrap();
        let officers: &[(&str, &str)] = if country == "MX" {
            &[("registrar", "REGISTRAR"), ("approver", "APPROVER"), ("admin", "ADMIN"), ("auditor", "AUDITOR")]
        } else {
            &[("admin", "ADMIN"), ("auditor", "AUDITOR"), ("risk", "RISK_OFFICER")]
        };
        create_officers(&node, officers).await;
        files.insert(country, node);
    }
    let mut running: HashMap<&str, Running> = HashMap::new();
    for country in ["MX", "CO", "CR"] {
        running.insert(country, start(&files[country], None).await);
    }

    // MX–CO shares every type, MX–CR customs simplifications only.
    let scopes: HashMap<&str, Vec<&str>> =
        HashMap::from([("CO", ALL_TYPES.to_vec()), ("CR", vec!["CUSTOMS_SIMPLIFICATIONS"])]);
    let mut mx_admin = Officer::new(&files["MX"], "admin");
    for partner in ["CO", "CR"] {
        let scope = json!(scopes[partner]);
        let proposed = mx_admin
            .call_until_answered(
                "mutation($p: String!, $s: [CertificateType!]!) { proposeMra(partner: $p, scope: $s) { partner } }",
                json!({ "p": partner, "s": scope }),
            )
            .await;
        assert!(proposed["errors"].is_null(), "{proposed}");
        let accepted = Officer::new(&files[partner], "admin")
            .call_until_answered(
                "mutation($p: String!, $s: [CertificateType!]!) { acceptMra(partner: $p, scope: $s) { partner } }",
                json!({ "p": "MX", "s": scope }),
            )
            .await;
        assert!(accepted["errors"].is_null(), "{accepted}");
    }
    for (country, expected) in [("MX", 2), ("CO", 1), ("CR", 1)] {
        let mut admin = Officer::new(&files[country], "admin");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mras = admin.call_until_answered("{ mras { partner state } }", json!({})).await;
            let active =
                mras["data"]["mras"].as_array().into_iter().flatten().filter(|m| m["state"] == "ACTIVE").count();
            if active == expected {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{country} sees its MRAs: {mras}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // MX works; meanwhile each node is killed three times at random moments, MX's last kills
    // just after an approval (its partners are then fetching its documents to verify).
    let approved = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let work = tokio::spawn(certify_and_change(files["MX"].clone(), approved.clone(), stop.clone()));
    let mut victims = ["MX", "CO", "CR", "MX", "CO", "CR", "CO", "CR", "MX"];
    {
        use rand::seq::SliceRandom;
        victims[..6].shuffle(&mut rand::rng());
    }
    for (round, victim) in victims.into_iter().enumerate() {
        let pause = rand::rng().random_range(500..3_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if victim == "MX" && round >= 6 {
            approved.notified().await;
            tokio::time::sleep(Duration::from_millis(rand::rng().random_range(200..900))).await;
        }
        let node = running.get_mut(victim).unwrap();
        processes::kill(node).await;
        tokio::time::sleep(Duration::from_millis(rand::rng().random_range(200..2_000))).await;
        running.insert(victim, start(&files[victim], None).await);
    }
    // Twice, MX dies exactly while a partner verifies its message: the crash point kills it
    // as it serves the partner its anchor proof.
    for _ in 0..2 {
        processes::kill(running.get_mut("MX").unwrap()).await;
        let mut mx = start(&files["MX"], Some("serving-anchor")).await;
        assert!(
            processes::wait_killed(&mut mx, Duration::from_secs(60)).await,
            "a partner asked MX for an anchor proof while verifying"
        );
        running.insert("MX", start(&files["MX"], None).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    work.await.unwrap();

    // Convergence: each partner holds exactly MX's shared certifications with MX's status.
    let mut mx_reader = Officer::new(&files["MX"], "registrar");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let truth = truth(&mut mx_reader).await;
        let mut converged = true;
        let mut report = String::new();
        for partner in ["CO", "CR"] {
            let expected: BTreeMap<String, String> = truth
                .iter()
                .filter(|(_, (_, certificate_type))| scopes[partner].contains(&certificate_type.as_str()))
                .map(|(id, (status, _))| (id.clone(), status.clone()))
                .collect();
            let holding = held(&mut Officer::new(&files[partner], "risk")).await;
            if holding != expected {
                converged = false;
                let differ: Vec<_> =
                    expected.iter().filter(|(id, status)| holding.get(*id) != Some(status)).take(5).collect();
                report.push_str(&format!(
                    "{partner}: holds {} of {}, differing e.g. {differ:?}; ",
                    holding.len(),
                    expected.len()
                ));
            }
        }
        if converged {
            assert!(truth.len() >= 10, "MX granted enough to test: {}", truth.len());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partners converge on MX's truth within 180 s: {report} (logs in {})",
            dir.path().display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // How often the partners met MX dead in the middle of verifying (answered 503, kept the
    // numbers open): the situation that lost messages before.
    let mut undecided = 0;
    for partner in ["CO", "CR"] {
        let log = std::fs::read_to_string(&files[partner].log).unwrap_or_default();
        // On arrival, or when reconciliation took a message again.
        let count = log.matches("not judged yet").count() + log.matches("cannot be taken again").count();
        let repairs = log.matches("holdings differ").count();
        eprintln!(
            "{partner}: {count} of MX's messages could not be judged at once and were taken later; {repairs} reconciliation repairs"
        );
        undecided += count;
    }
    // Not asserted: the crash point fires on any request for an anchor proof, and which
    // verifier asked (a partner's inbox, its feed pull, its reconciliation) varies from run to
    // run; that it fired twice is asserted above.
    eprintln!("{undecided} verifications interrupted in all");

    // Nothing refused, and every message a partner took reached its webhook receiver.
    for partner in ["CO", "CR"] {
        let mut auditor = Officer::new(&files[partner], "auditor");
        let log = auditor
            .call_until_answered(
                "{ partnerMessages(direction: RECEIVED, first: 1000) { seq outcome reason } }",
                json!({}),
            )
            .await;
        let messages = log["data"]["partnerMessages"].as_array().unwrap_or_else(|| panic!("{log}")).clone();
        let refused: Vec<&Value> = messages.iter().filter(|m| m["outcome"] != "ACCEPTED").collect();
        assert!(refused.is_empty(), "{partner} refused none of MX's messages: {refused:?}");
        let mut taken: Vec<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
        taken.sort_unstable();
        assert_eq!(taken, (1..=taken.len() as i64).collect::<Vec<_>>(), "{partner}: every number once");

        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let calls: Vec<(String, Value)> = heard
                .lock()
                .unwrap()
                .iter()
                .filter(|(receiver, _, body)| receiver == partner && body["origin"] == "MX")
                .map(|(_, delivery, body)| (delivery.clone(), body.clone()))
                .collect();
            let mut seen = HashSet::new();
            let first_arrivals: Vec<i64> = calls
                .iter()
                .filter(|(delivery, _)| seen.insert(delivery.clone()))
                .filter_map(|(_, body)| body["partnerSeq"].as_i64())
                .collect();
            if first_arrivals.len() >= taken.len() {
                assert_eq!(first_arrivals, taken, "{partner}'s receiver heard each taken message once, in order");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{partner}'s receiver hears all {} messages: {first_arrivals:?}",
                taken.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
