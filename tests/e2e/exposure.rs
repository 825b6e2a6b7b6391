//! What a node does for strangers. The verifier decides trust before it touches the network
//! and then fetches only from the trusted issuer's own origin: a local server that records
//! every request it gets proves which requests a verification makes (none for an untrusted
//! issuer, none for the status list of a broken proof, none off the issuer's origin, no
//! redirect followed elsewhere, nothing on a loopback address under a production config).
//! Anonymous verification is rate-limited, a webhook removed from the configuration is no
//! longer called, and a production config shows its schema to officers only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cadena_credentials::did::{ProofPurpose, did_document, did_web_for_url};
use cadena_credentials::integrity::{Integrity, ProofOptions};
use cadena_credentials::keys::{Cryptosuite, IssuerKeys};
use cadena_credentials::status_list::{Bitstring, StatusEntry, StatusPurpose, status_list_credential};
use cadena_tests::{Backend, TestApp};
use serde_json::{Value, json};

type Answer = Arc<dyn Fn(&str) -> Response + Send + Sync>;

/// A local HTTP server that records the path of every request and answers with `answer`.
struct Recorder {
    base: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start(answer: Answer) -> Recorder {
        Recorder::serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), answer)
    }

    /// Serves on `listener` (bound by the caller, who may need its address for the answers).
    fn serve(listener: tokio::net::TcpListener, answer: Answer) -> Recorder {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        let app = axum::Router::new().fallback(move |request: Request| {
            let (seen, answer) = (seen.clone(), answer.clone());
            async move {
                let path = request.uri().path().to_owned();
                seen.lock().unwrap().push(path.clone());
                answer(&path)
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { base, paths }
    }

    /// Every path asked so far.
    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }

    /// Paths asked that start with `prefix`.
    fn asked(&self, prefix: &str) -> Vec<String> {
        self.paths().into_iter().filter(|p| p.starts_with(prefix)).collect()
    }
}

fn json_response(value: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// An issuer served by a [`Recorder`]: its DID document and status lists (nothing revoked),
/// and `/moved`, which redirects to `redirect_to`.
struct FakeIssuer {
    server: Recorder,
    did: String,
    keys: IssuerKeys,
    integrity: Integrity,
}

impl FakeIssuer {
    async fn start(redirect_to: Option<String>) -> FakeIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let did = did_web_for_url(&base).unwrap();
        let keys = IssuerKeys::generate(Cryptosuite::EdDsaRdfc2022);
        let integrity = Integrity::new();
        let document = did_document(&did, &keys, &[]);
        let mut lists = std::collections::HashMap::new();
        for purpose in StatusPurpose::ALL {
            let url = format!("{base}/status-lists/{}-1", purpose.as_str());
            let list = status_list_credential(&url, &did, purpose, &Bitstring::default(), chrono::Utc::now(), 300_000);
            lists.insert(format!("/status-lists/{}-1", purpose.as_str()), sign(&integrity, &did, &keys, &list));
        }
        let answer: Answer = Arc::new(move |path: &str| match path {
            "/.well-known/did.json" => json_response(&document),
            "/moved" => match &redirect_to {
                Some(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            },
            other => match lists.get(other) {
                Some(list) => json_response(list),
                None => StatusCode::NOT_FOUND.into_response(),
            },
        });
        let server = Recorder::serve(listener, answer);
        FakeIssuer { server, did, keys, integrity }
    }

    /// A credential signed by this issuer whose status entries point at `list_urls`.
    fn credential(&self, list_urls: [&str; 2]) -> Value {
        let status: Vec<Value> = StatusPurpose::ALL
            .into_iter()
            .zip(list_urls)
            .map(|(purpose, url)| StatusEntry { purpose, list_url: url.to_owned(), index: 7 }.to_json())
            .collect();
        let unsigned = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "type": ["VerifiableCredential"],
            "issuer": self.did,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": { "id": "did:example:warehouse-7" },
            "credentialStatus": status,
        });
        sign(&self.integrity, &self.did, &self.keys, &unsigned)
    }

    /// Its own status list URLs.
    fn own_lists(&self) -> [String; 2] {
        StatusPurpose::ALL.map(|p| format!("{}/status-lists/{}-1", self.server.base, p.as_str()))
    }
}

fn sign(integrity: &Integrity, did: &str, keys: &IssuerKeys, unsigned: &Value) -> Value {
    let options = ProofOptions {
        verification_method: format!("{did}#{}", keys.current().fragment),
        purpose: ProofPurpose::AssertionMethod,
        created: chrono::Utc::now(),
        challenge: None,
        domain: None,
    };
    integrity.sign(unsigned, &keys.current().key, &options).unwrap()
}

fn outcome(report: &Value, fragment: &str) -> String {
    let check = if fragment == "status" { &report["report"]["status"]["check"] } else { &report["report"][fragment] };
    check["outcome"].as_str().unwrap_or_else(|| panic!("no {fragment} in {report}")).to_owned()
}

fn reason(report: &Value, fragment: &str) -> String {
    let check = if fragment == "status" { &report["report"]["status"]["check"] } else { &report["report"][fragment] };
    check["reason"].as_str().unwrap_or_default().to_owned()
}

/// An empty recorder: any request to it is one too many.
async fn bystander() -> Recorder {
    Recorder::start(Arc::new(|_: &str| StatusCode::OK.into_response())).await
}

async fn nothing_is_fetched_for_an_untrusted_issuer_or_a_broken_proof(backend: Backend) {
    let issuer = FakeIssuer::start(None).await;
    let lists = issuer.own_lists();
    let credential = issuer.credential([&lists[0], &lists[1]]);

    // Not trusted: not even its DID document is asked for.
    let stranger = TestApp::builder().backend(backend).spawn().await;
    let report = stranger.verify(&credential).await;
    assert_eq!(report["verified"], false);
    assert_eq!(outcome(&report, "issuer_trust"), "INVALID", "{report}");
    assert_eq!(outcome(&report, "integrity"), "SKIPPED", "{report}");
    assert_eq!(outcome(&report, "status"), "SKIPPED", "{report}");
    assert_eq!(issuer.server.paths(), Vec::<String>::new(), "no request for an untrusted issuer");

    // Trusted, but the credential was changed after signing: its DID document is read to check
    // the proof, and no status list is fetched.
    let trusting = TestApp::builder().backend(backend).trust(&issuer.did, "Fake customs").spawn().await;
    let mut broken = credential.clone();
    broken["credentialSubject"]["id"] = json!("did:example:warehouse-8");
    let report = trusting.verify(&broken).await;
    assert_eq!(outcome(&report, "integrity"), "INVALID", "{report}");
    assert_eq!(outcome(&report, "status"), "SKIPPED", "{report}");
    assert_eq!(issuer.server.asked("/status-lists/"), Vec::<String>::new(), "no status list for a broken proof");

    // The same credential intact: its lists are fetched from the issuer, and it verifies.
    let report = trusting.verify(&credential).await;
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(issuer.server.asked("/status-lists/").len(), 2, "{:?}", issuer.server.paths());
}

async fn status_lists_come_only_from_the_issuers_origin(backend: Backend) {
    let elsewhere = bystander().await;
    let issuer = FakeIssuer::start(Some(format!("{}/status-lists/revocation-1", elsewhere.base))).await;
    let app = TestApp::builder().backend(backend).trust(&issuer.did, "Fake customs").spawn().await;
    let own = issuer.own_lists();

    // A list on the issuer's origin that redirects to another host: the redirect is refused.
    let moved = format!("{}/moved", issuer.server.base);
    let report = app.verify(&issuer.credential([&moved, &own[1]])).await;
    assert_eq!(outcome(&report, "status"), "ERROR", "{report}");
    assert!(reason(&report, "status").contains("redirect"), "the report says why: {report}");
    assert_eq!(issuer.server.asked("/moved").len(), 1, "{:?}", issuer.server.paths());
    assert_eq!(elsewhere.paths(), Vec::<String>::new(), "no redirect followed off the issuer's origin");

    // A status list on another host: never asked.
    let off_origin = format!("{}/status-lists/revocation-1", elsewhere.base);
    let report = app.verify(&issuer.credential([&off_origin, &own[1]])).await;
    assert_eq!(outcome(&report, "integrity"), "VALID", "{report}");
    assert_eq!(outcome(&report, "status"), "ERROR", "{report}");
    assert!(reason(&report, "status").contains("origin"), "the report says why: {report}");
    assert_eq!(report["verified"], false);
    assert_eq!(elsewhere.paths(), Vec::<String>::new(), "no request off the issuer's origin");
}

async fn a_production_node_fetches_nothing_from_private_addresses(backend: Backend) {
    let issuer = FakeIssuer::start(None).await;
    let lists = issuer.own_lists();
    let app = TestApp::builder()
        .backend(backend)
        .production_exposure()
        .trust(&issuer.did, "Fake customs on a loopback address")
        .spawn()
        .await;
    let report = app.verify(&issuer.credential([&lists[0], &lists[1]])).await;
    assert_eq!(outcome(&report, "integrity"), "ERROR", "{report}");
    assert!(reason(&report, "integrity").contains("not a public address"), "{report}");
    assert_eq!(issuer.server.paths(), Vec::<String>::new(), "nothing asked of 127.0.0.1");
}

async fn anonymous_verification_is_rate_limited(backend: Backend) {
    let app = TestApp::builder().backend(backend).anonymous_verifications_per_minute(3).spawn().await;
    let credential = app.credential_of(&app.granted("OEA-MX-0700", "GODE561231GR8").await).await;
    let body = json!({ "verifiableCredential": credential });
    for _ in 0..3 {
        let (status, report) = app.post_json("/credentials/verify", &body).await;
        assert_eq!(status, 200, "{report}");
    }
    let response = app.client.post(format!("{}/credentials/verify", app.base)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "RATE_LIMITED", "{refused}");
    // GraphQL shares the allowance.
    let graphql = app
        .gql(None, "query($c: JSON!) { verifyCredential(credential: $c) { verified } }", json!({ "c": credential }))
        .await;
    assert_eq!(graphql.error_code(), "RATE_LIMITED", "{}", graphql.body);
    // Officers are not limited.
    let token = app.token("verifier").await;
    let response = app
        .client
        .post(format!("{}/credentials/verify", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let officer = app
        .gql(
            Some("verifier"),
            "query($c: JSON!) { verifyCredential(credential: $c) { verified } }",
            json!({ "c": credential }),
        )
        .await;
    assert_eq!(officer.data()["verifyCredential"]["verified"], true);
}

async fn a_webhook_removed_from_the_config_is_not_called(backend: Backend) {
    // A receiver that is down: the first delivery fails and waits for its retry.
    let receiver = Recorder::start(Arc::new(|_: &str| StatusCode::SERVICE_UNAVAILABLE.into_response())).await;
    let url = format!("{}/hook", receiver.base);
    let app = TestApp::builder().backend(backend).webhook(&url, "a webhook secret of 16+").spawn().await;
    app.granted("OEA-MX-0800", "GODE561231GR8").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while receiver.paths().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the first delivery is attempted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The operator removes the webhook and restarts the node; the queued retries are dropped.
    let stopped = app.stop().await;
    let called = receiver.paths().len();
    let app = stopped.without_webhooks().start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while deliveries(&app).await.iter().any(|d| d.state == "PENDING") {
        assert!(tokio::time::Instant::now() < deadline, "the queued deliveries are settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled = deliveries(&app).await;
    assert!(!settled.is_empty());
    for delivery in settled {
        assert_eq!(delivery.state, "FAILED");
        assert!(delivery.last_error.as_deref().unwrap_or("").contains("no webhook is configured"), "{delivery:?}");
    }
    assert_eq!(receiver.paths().len(), called, "no call after the webhook was removed: {:?}", receiver.paths());
}

async fn deliveries(app: &TestApp) -> Vec<cadena_resolvers::storage::entities::outbox::Model> {
    use cadena_resolvers::storage::entities::outbox;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    outbox::Entity::find().filter(outbox::Column::Topic.eq("webhook")).all(app.node.storage.db()).await.unwrap()
}

async fn a_production_node_shows_its_schema_to_officers_only(backend: Backend) {
    let app = TestApp::builder().backend(backend).production_exposure().spawn().await;
    for query in ["{ __schema { queryType { name } } }", "{ __type(name: \"Query\") { name } }", "{ _service { sdl } }"]
    {
        let anonymous = app.gql(None, query, json!({})).await;
        assert_eq!(anonymous.error_code(), "UNAUTHENTICATED", "{query}: {}", anonymous.body);
        assert!(anonymous.body.get("data").is_none_or(Value::is_null), "{query}: {}", anonymous.body);
        let officer = app.gql(Some("auditor"), query, json!({})).await;
        officer.data();
    }
    // Plain queries stay anonymous, and `__typename` is no introspection.
    let typename = app.gql(None, "{ __typename issuerDid }", json!({})).await;
    assert_eq!(typename.data()["__typename"], "Query");
    // As `cadena dev` and the tests have it, anonymous callers may introspect.
    let open = TestApp::builder().backend(backend).spawn().await;
    let sdl = open.gql(None, "{ _service { sdl } }", json!({})).await;
    assert!(sdl.data()["_service"]["sdl"].as_str().unwrap().contains("verifyCredential"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_composes_a_production_node_from_its_sdl_file() {
    use cadena_gateway::federated_gateway::{GatewayLimits, SubgraphConfig};
    let app = TestApp::builder().production_exposure().spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.graphql");
    std::fs::write(&file, cadena_resolvers::graphql::sdl()).unwrap();
    let subgraph = SubgraphConfig { name: "node".into(), url: app.graphql_url(), sdl_file: Some(file) };
    let gateway = cadena_tests::federation::spawn_gateway_over(vec![subgraph], GatewayLimits::default(), None).await;
    let answer: Value = app
        .client
        .post(&gateway.url)
        .json(&json!({ "query": "{ issuerDid }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["issuerDid"], app.did(), "{answer}");
}

on_both_backends!(
    nothing_is_fetched_for_an_untrusted_issuer_or_a_broken_proof,
    status_lists_come_only_from_the_issuers_origin,
    a_production_node_fetches_nothing_from_private_addresses,
    anonymous_verification_is_rate_limited,
    a_webhook_removed_from_the_config_is_not_called,
    a_production_node_shows_its_schema_to_officers_only,
);
