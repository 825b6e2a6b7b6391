//! Test support: [`TestApp`] spawns a real cadena node in-process on port 0, against a fresh
//! SQLite file or a fresh PostgreSQL database migrated by the real migrator, with officers
//! seeded for every role, and talks to it over real HTTP and WebSocket.
//!
//! Logs stay silent unless `TEST_LOG` is set.

pub mod federation;
pub mod following;
pub mod wallets;

use std::collections::HashMap;
use std::sync::Once;

use cadena_credentials::CountryCode;
use cadena_gateway::{Node, NodeConfig};
use cadena_resolvers::auth::Role;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Where PostgreSQL tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("CADENA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the local PostgreSQL server.
    Postgres,
}

/// Every seeded officer's password (tests only).
pub const PASSWORD: &str = "correct horse battery staple";

/// The officers every test node has: username → roles.
pub fn seeded_officers() -> Vec<(&'static str, Role)> {
    vec![
        ("admin", Role::Admin),
        ("registrar", Role::Registrar),
        ("approver", Role::Approver),
        ("approver2", Role::Approver),
        ("risk", Role::RiskOfficer),
        ("auditor", Role::Auditor),
        ("verifier", Role::Verifier),
        ("issuer", Role::Issuer),
    ]
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(cadena_gateway::telemetry::init(cadena_gateway::telemetry::Service::Tool));
        }
    });
}

/// A PostgreSQL database that is dropped when the test ends, pass or fail.
#[derive(Debug)]
struct PgDatabase {
    name: String,
}

impl PgDatabase {
    async fn create() -> PgDatabase {
        use sea_orm::ConnectionTrait;
        let name = format!("cadena_test_{}", uuid::Uuid::new_v4().simple());
        let admin =
            sea_orm::Database::connect(postgres_admin_url()).await.expect("PostgreSQL must run at 127.0.0.1:5432");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        admin.close().await.ok();
        PgDatabase { name }
    }

    fn url(&self) -> String {
        let base = postgres_admin_url();
        let (server, _) = base.rsplit_once('/').expect("URL with a database");
        format!("{server}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                let admin = sea_orm::Database::connect(postgres_admin_url()).await.ok()?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// An empty database (nothing migrated), dropped or deleted when the value is.
#[derive(Debug)]
pub struct EmptyDatabase {
    /// Its URL, for `Storage::connect`.
    pub url: String,
    _postgres: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

impl EmptyDatabase {
    /// A new one on `backend`.
    pub async fn create(backend: Backend) -> EmptyDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => EmptyDatabase {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("node.db").display()),
                _postgres: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let database = PgDatabase::create().await;
                EmptyDatabase { url: database.url(), _postgres: Some(database), _dir: dir }
            }
        }
    }
}

/// Builds a [`TestApp`].
#[derive(Debug)]
pub struct TestAppBuilder {
    backend: Backend,
    country: String,
    max_body_bytes: Option<usize>,
    /// `[events] retain_days`, when not the default.
    event_retain_days: Option<u32>,
    trusted_issuers: Vec<cadena_gateway::config::TrustedIssuer>,
    status_list_ttl_secs: Option<u64>,
    cryptosuite: Option<String>,
    chain: Option<std::sync::Arc<TestChain>>,
    /// (most digests per batch, longest wait in ms)
    anchoring: (usize, u64),
    webhooks: Vec<(String, String, Option<String>)>,
    following: Vec<cadena_resolvers::services::watch_lists::ConfiguredFollow>,
    /// `[limits] follower_events_per_minute`, when not the default.
    follower_events_per_minute: Option<u32>,
    vc_api_issuance: bool,
    /// (private addresses allowed, anonymous introspection, anonymous verifications a minute)
    exposure: (bool, bool, u32),
    /// `[wallets] request_ttl_secs`, when not the default.
    wallet_request_ttl_secs: Option<u64>,
}

impl TestAppBuilder {
    /// Lets ISSUERs sign credentials through `POST /credentials/issue` (off by default, as in
    /// a node's configuration).
    pub fn vc_api_issuance(mut self) -> Self {
        self.vc_api_issuance = true;
        self
    }

    /// As a production config has it: verifications fetch from public addresses only (so from
    /// no test node), anonymous callers cannot introspect, and anonymous verifications are held
    /// to the default rate. Tests otherwise run like `cadena dev`, open on all three.
    pub fn production_exposure(mut self) -> Self {
        let defaults = cadena_gateway::config::CredentialsConfig::default();
        self.exposure = (false, false, defaults.anonymous_verifications_per_minute);
        self
    }

    /// Anonymous clients may ask for `n` verifications a minute.
    pub fn anonymous_verifications_per_minute(mut self, n: u32) -> Self {
        self.exposure.2 = n;
        self
    }

    /// Runs against `backend`.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Certifies for `country`.
    pub fn country(mut self, country: &str) -> Self {
        self.country = country.into();
        self
    }

    /// Keeps events `days` days (0: for ever, so only the test itself prunes the log).
    pub fn event_retain_days(mut self, days: u32) -> Self {
        self.event_retain_days = Some(days);
        self
    }

    /// Caps request bodies.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Trusts another issuer's DID as a customs authority.
    pub fn trust(mut self, did: &str, authority: &str) -> Self {
        self.trusted_issuers
            .push(cadena_gateway::config::TrustedIssuer { did: did.to_owned(), authority: authority.to_owned() });
        self
    }

    /// How long verifiers may cache this node's status lists.
    pub fn status_list_ttl_secs(mut self, secs: u64) -> Self {
        self.status_list_ttl_secs = Some(secs);
        self
    }

    /// Anchors on `chain` (its authority admitted with this node's DID).
    pub fn chain(mut self, chain: &std::sync::Arc<TestChain>) -> Self {
        self.chain = Some(chain.clone());
        self
    }

    /// Batches of at most `max_batch` digests, sent once the oldest waited `max_wait_ms`.
    pub fn anchoring(mut self, max_batch: usize, max_wait_ms: u64) -> Self {
        self.anchoring = (max_batch, max_wait_ms);
        self
    }

    /// Tells a webhook receiver at `url` of every event, signing with `secret`.
    pub fn webhook(mut self, url: &str, secret: &str) -> Self {
        self.webhooks.push((url.to_owned(), secret.to_owned(), None));
        self
    }

    /// A webhook receiver of VERIFIER account `verifier`'s recognition changes.
    pub fn verifier_webhook(mut self, url: &str, secret: &str, verifier: &str) -> Self {
        self.webhooks.push((url.to_owned(), secret.to_owned(), Some(verifier.to_owned())));
        self
    }

    /// `[[following]]`: entries an ADMIN configured for regulated bodies.
    pub fn following(mut self, entries: Vec<cadena_resolvers::services::watch_lists::ConfiguredFollow>) -> Self {
        self.following = entries;
        self
    }

    /// `[limits] follower_events_per_minute` (0: unbounded).
    pub fn follower_events_per_minute(mut self, n: u32) -> Self {
        self.follower_events_per_minute = Some(n);
        self
    }

    /// `[wallets] request_ttl_secs`: how long a presentation request can be answered.
    pub fn wallet_request_ttl_secs(mut self, secs: u64) -> Self {
        self.wallet_request_ttl_secs = Some(secs);
        self
    }

    /// Signs with `ecdsa-rdfc-2019` or `eddsa-rdfc-2022`.
    pub fn cryptosuite(mut self, suite: &str) -> Self {
        self.cryptosuite = Some(suite.to_owned());
        self
    }

    /// Starts the node and seeds the officers.
    pub async fn spawn(self) -> TestApp {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let country = CountryCode::parse(&self.country).expect("test country");
        let mut config = NodeConfig::new(country, format!("Customs of {}", country.name()), dir.path());
        let database = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create().await),
        };
        if let Some(db) = &database {
            config.database_url = Some(cadena_gateway::config::Secret::new(db.url()));
        }
        if let Some(bytes) = self.max_body_bytes {
            config.limits.max_body_bytes = bytes;
        }
        // Bound before the node starts: its DID and status list URLs come from its address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let address = listener.local_addr().expect("local address");
        config.listen = address;
        config.public_url = Some(format!("http://{address}"));
        config.credentials.trusted_issuers = self.trusted_issuers.clone();
        config.credentials.vc_api_issuance = self.vc_api_issuance;
        if let Some(ttl) = self.status_list_ttl_secs {
            config.credentials.status_list_ttl_secs = ttl;
        }
        if let Some(suite) = &self.cryptosuite {
            config.credentials.cryptosuite = suite.clone();
        }
        if let Some(days) = self.event_retain_days {
            config.events.retain_days = days;
        }
        (
            config.credentials.allow_private_addresses,
            config.limits.anonymous_introspection,
            config.credentials.anonymous_verifications_per_minute,
        ) = self.exposure;
        if let Some(chain) = &self.chain {
            let did = cadena_credentials::did::did_web_for_url(&format!("http://{address}")).expect("did:web");
            let anchorer = chain.admit(country, &did).await;
            config.chain = Some(chain.node_config());
            config.anchoring.signer_key = Some(cadena_gateway::config::Secret::new(anchorer));
            config.anchoring.max_wait_ms = self.anchoring.1;
            config.anchoring.max_batch = self.anchoring.0;
        }
        for (url, secret, verifier) in &self.webhooks {
            config.webhooks.push(cadena_gateway::config::WebhookConfig {
                url: url.clone(),
                secret: cadena_gateway::config::Secret::new(secret.clone()),
                verifier: verifier.clone(),
            });
        }
        config.following = self.following.clone();
        if let Some(n) = self.follower_events_per_minute {
            config.limits.follower_events_per_minute = n;
        }
        if let Some(secs) = self.wallet_request_ttl_secs {
            config.wallets.request_ttl_secs = secs;
        }
        TestApp::run(config, listener, database, dir).await
    }
}

impl TestApp {
    /// Starts a node with `config` on `listener` and seeds the officers.
    async fn run(
        config: NodeConfig,
        listener: tokio::net::TcpListener,
        database: Option<PgDatabase>,
        dir: tempfile::TempDir,
    ) -> TestApp {
        let address = listener.local_addr().expect("local address");
        let country = config.country.clone();
        let node = Node::start(config.clone()).await.expect("node starts");
        for (username, role) in seeded_officers() {
            node.services.officers.ensure(username, PASSWORD, &[role]).await.expect("seed officer");
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let server = node.clone();
        let serving = tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        TestApp {
            base: format!("http://{address}"),
            country,
            client: reqwest::Client::new(),
            node,
            tokens: tokio::sync::Mutex::new(HashMap::new()),
            config,
            stop: Some((stop, serving)),
            database,
            dir,
        }
    }

    /// Stops the node (its server and background work), keeping its data for [`Stopped::start`].
    pub async fn stop(mut self) -> Stopped {
        if let Some((stop, serving)) = self.stop.take() {
            let _ = stop.send(());
            let _ = serving.await;
        }
        Stopped { config: self.config.clone(), database: self.database.take(), dir: self.dir }
    }
}

/// A node stopped by [`TestApp::stop`].
#[derive(Debug)]
pub struct Stopped {
    config: NodeConfig,
    database: Option<PgDatabase>,
    dir: tempfile::TempDir,
}

impl Stopped {
    /// With its `[[webhooks]]` removed from the configuration, as an operator would.
    pub fn without_webhooks(mut self) -> Stopped {
        self.config.webhooks.clear();
        self
    }

    /// With `[[following]]` replaced by `entries`, as an ADMIN would.
    pub fn following(mut self, entries: Vec<cadena_resolvers::services::watch_lists::ConfiguredFollow>) -> Stopped {
        self.config.following = entries;
        self
    }

    /// Starts it again on the same address (so the same DID), database and keys.
    pub async fn start(self) -> TestApp {
        let listener = tokio::net::TcpListener::bind(self.config.listen).await.expect("the old address is free again");
        TestApp::run(self.config, listener, self.database, self.dir).await
    }
}

/// A running node.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its country code.
    pub country: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The node itself, for direct checks of storage.
    pub node: Node,
    tokens: tokio::sync::Mutex<HashMap<String, String>>,
    config: NodeConfig,
    stop: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
    database: Option<PgDatabase>,
    dir: tempfile::TempDir,
}

/// A GraphQL answer with its HTTP status.
#[derive(Debug, Clone)]
pub struct GqlResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The JSON body.
    pub body: Value,
}

impl GqlResponse {
    /// `data`, panicking with the errors when there are any.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors (HTTP {}): {}", self.status, self.body);
        &self.body["data"]
    }

    /// The first error's `extensions.code`, panicking when there is none.
    pub fn error_code(&self) -> String {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code, got HTTP {}: {}", self.status, self.body))
            .to_owned()
    }

    /// The first error's message.
    pub fn error_message(&self) -> String {
        self.body["errors"][0]["message"].as_str().unwrap_or_default().to_owned()
    }

    /// The fields named in the first error's `extensions.fields`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"][0]["extensions"]["fields"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    /// A builder: SQLite, Mexico.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            backend: Backend::Sqlite,
            country: "MX".into(),
            max_body_bytes: None,
            event_retain_days: None,
            trusted_issuers: Vec::new(),
            status_list_ttl_secs: None,
            cryptosuite: None,
            chain: None,
            anchoring: (4096, 500),
            webhooks: Vec::new(),
            following: Vec::new(),
            follower_events_per_minute: None,
            vc_api_issuance: false,
            exposure: (true, true, 0),
            wallet_request_ttl_secs: None,
        }
    }

    /// `http://.../graphql`.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.base)
    }

    /// Posts a GraphQL request as `officer` (None: anonymous).
    pub async fn gql(&self, officer: Option<&str>, query: &str, variables: Value) -> GqlResponse {
        let token = match officer {
            Some(officer) => Some(self.token(officer).await),
            None => None,
        };
        self.gql_with_token(token.as_deref(), query, variables).await
    }

    /// Posts a GraphQL request with a bearer token (None: anonymous).
    pub async fn gql_with_token(&self, token: Option<&str>, query: &str, variables: Value) -> GqlResponse {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, content_type, text) = self.gql_text(token, body).await;
        // Read as written: serde_json alone would take a serde_json private key (a number
        // serialised by the wrong serializer) for the number it encodes.
        let body = cadena_credentials::json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON as written (HTTP {status}): {e}: {text}"));
        GqlResponse { status, content_type, body }
    }

    /// Posts the GraphQL request `body` (JSON text, sent as is) with a bearer token; the
    /// status, `Content-Type` and the response text exactly as served.
    pub async fn gql_text(&self, token: Option<&str>, body: String) -> (u16, String, String) {
        let mut request = self
            .client
            .post(self.graphql_url())
            .header("accept", "application/graphql-response+json")
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the node");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, content_type, response.text().await.expect("body"))
    }

    /// Logs in (once per officer) and returns the token.
    pub async fn token(&self, officer: &str) -> String {
        if let Some(token) = self.tokens.lock().await.get(officer) {
            return token.clone();
        }
        let response = self
            .gql_with_token(
                None,
                "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
                json!({ "u": officer, "p": PASSWORD }),
            )
            .await;
        let token = response.data()["login"]["token"].as_str().expect("token").to_owned();
        self.tokens.lock().await.insert(officer.to_owned(), token.clone());
        token
    }

    /// A complete, valid certification input for this node's country.
    pub fn certification_input(&self, number: &str, tin: &str) -> Value {
        json!({
            "certificateNumber": number,
            "issuingCountry": self.country,
            "issuingAuthority": format!("Customs of {}", self.country),
            "operatorName": "Exportadora del Pacífico S.A.",
            "address": { "street": "Av. Central 100", "city": "Capital", "subEntity": "Centro", "postcode": "10101", "country": self.country },
            "tin": tin,
            "certificateType": "SECURITY_AND_SAFETY",
            "roles": ["EXPORTER", "IMPORTER"],
            "authorisationDate": "2026-01-15",
            "validUntil": "2099-12-31"
        })
    }

    /// Submits as `registrar`; returns the response.
    pub async fn submit(&self, input: Value) -> GqlResponse {
        self.gql(
            Some("registrar"),
            "mutation($i: CertificationInput!) { submitCertification(input: $i) { id status tin warnings } }",
            json!({ "i": input }),
        )
        .await
    }

    /// Submits as `registrar` and approves as `approver`; returns the id.
    pub async fn granted(&self, number: &str, tin: &str) -> String {
        let submitted = self.submit(self.certification_input(number, tin)).await;
        let id = submitted.data()["submitCertification"]["id"].as_str().expect("id").to_owned();
        let approved = self.transition("approver", "approveCertification", &id, None).await;
        assert_eq!(approved.data()["approveCertification"]["status"], "GRANTED");
        id
    }

    /// Files an amendment of `id` as `registrar` with the operator renamed to `operator_name`
    /// (the rest as [`TestApp::certification_input`] makes it) and approves it as `approver`;
    /// returns the new version's id.
    pub async fn amended(&self, id: &str, number: &str, tin: &str, operator_name: &str) -> String {
        let mut input = self.certification_input(number, tin);
        input["operatorName"] = json!(operator_name);
        let amended = self
            .gql(
                Some("registrar"),
                "mutation($id: ID!, $i: CertificationInput!) { amendCertification(id: $id, input: $i) { id } }",
                json!({ "id": id, "i": input }),
            )
            .await;
        let new_id = amended.data()["amendCertification"]["id"].as_str().expect("id").to_owned();
        self.transition("approver", "approveCertification", &new_id, None).await.data();
        new_id
    }

    /// Runs a lifecycle mutation (`approveCertification`, `suspendCertification`, ...).
    pub async fn transition(&self, officer: &str, mutation: &str, id: &str, reason: Option<&str>) -> GqlResponse {
        self.transition_as(Some(officer), mutation, id, reason).await
    }

    /// How many certifications (all statuses) the node stores, read straight from the database.
    pub async fn stored_certifications(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        cadena_resolvers::storage::entities::certifications::Entity::find()
            .count(self.node.storage.db())
            .await
            .expect("count")
    }

    /// How many history entries the node stores.
    pub async fn stored_history_entries(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        cadena_resolvers::storage::entities::certification_history::Entity::find()
            .count(self.node.storage.db())
            .await
            .expect("count")
    }

    /// Opens a `graphql-transport-ws` subscription as `officer`; returns a receiver of the
    /// `payload` of every `next` message (or of the `error` message).
    pub async fn subscribe_ws(&self, officer: &str, query: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        let token = self.token(officer).await;
        let url = format!("{}/graphql", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("websocket connects");
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
        socket.send(Message::Text(init.to_string().into())).await.expect("send init");
        loop {
            let message = socket.next().await.expect("ack").expect("ack frame");
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(value["type"], "connection_ack", "{value}");
                break;
            }
        }
        let bus = self.node.services.certifications.bus().clone();
        let listening = bus.receivers();
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
        socket.send(Message::Text(subscribe.to_string().into())).await.expect("send subscribe");
        // graphql-transport-ws acknowledges no subscription: the node listening on its bus is
        // the sign that the subscription has fixed where "now" is, so what the test commits
        // next reaches it. (A subscription that fails at once never listens: bounded wait.)
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while bus.receivers() <= listening && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match value["type"].as_str() {
                        Some("next") => {
                            let _ = tx.send(value["payload"].clone());
                        }
                        Some("error") => {
                            let _ = tx.send(json!({ "errors": value["payload"] }));
                        }
                        Some("complete") => break,
                        _ => {}
                    }
                }
            }
        });
        rx
    }
}

/// Valid trader IDs from the shipped fixtures of `cadena-credentials`, by fixture name.
pub fn valid_tins(fixture: &str) -> Vec<String> {
    let path = format!("{}/../credentials/tests/fixtures/tin-valid/{fixture}.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

impl TestApp {
    /// [`TestApp::transition`] as an optional officer (None: anonymous).
    pub async fn transition_as(
        &self,
        officer: Option<&str>,
        mutation: &str,
        id: &str,
        reason: Option<&str>,
    ) -> GqlResponse {
        let query = match reason {
            Some(_) => format!("mutation($id: ID!, $r: String!) {{ {mutation}(id: $id, reason: $r) {{ id status }} }}"),
            None => format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id status }} }}"),
        };
        self.gql(officer, &query, json!({ "id": id, "r": reason })).await
    }
}

/// `tests/interop/`: the Digital Bazaar harness.
pub(crate) fn interop_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Runs one request through the Digital Bazaar harness (`tests/interop/vc.mjs`, installed with
/// `npm ci` on first use) and returns its answer.
pub async fn digital_bazaar(request: Value) -> Value {
    interop_harness("vc.mjs", request).await
}

/// Digital Bazaar's verdict on the credential at `at` in `served`, the text of a response
/// exactly as a node served it (the harness parses it; nothing re-encodes it on the way).
pub async fn digital_bazaar_on_served(served: &str, at: &[&str], check_status: bool) -> Value {
    digital_bazaar(json!({ "op": "verify-credential", "served": served, "at": at, "checkStatus": check_status })).await
}

/// Runs one request through the jose harness (`tests/interop/jose.mjs`: panva's `jose`) and
/// returns its answer; a token jose refuses is an answer `{"error": {"code", "message"}}`.
pub async fn jose(request: Value) -> Value {
    interop_harness("jose.mjs", request).await
}

/// Runs one request through the graphql-ws harness (`tests/interop/graphql-ws/ws.mjs`: the
/// reference `graphql-transport-ws` client, with its own pinned packages) and returns its answer.
pub async fn graphql_ws(request: Value) -> Value {
    run_harness(interop_dir().join("graphql-ws"), "node_modules/graphql-ws/package.json", "ws.mjs", request).await
}

/// The events of a `text/event-stream` body, as `(event, data)`: the `data:` lines of an event
/// joined by newlines, as the SSE spec reads them.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let (mut event, mut data) = (None, Vec::new());
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            // A block of comments only (keep-alives) is no event.
            (event.is_some() || !data.is_empty()).then(|| (event.unwrap_or_else(|| "message".into()), data.join("\n")))
        })
        .collect()
}

/// Reads a `text/event-stream` response until its `complete` event (at most 10 s).
pub async fn sse_until_complete(response: reqwest::Response) -> Vec<(String, String)> {
    let mut body = response.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !sse_events(&text).iter().any(|(event, _)| event == "complete") {
            match body.next().await {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk"))),
                None => panic!("the stream ended without `complete`: {text}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `complete` event within 10 s: {text}"));
    sse_events(&text)
}

/// Sends a request that must open an event stream (200, `text/event-stream`).
pub async fn open_event_stream(request: reqwest::RequestBuilder) -> reqwest::Response {
    let response = request.header("accept", "text/event-stream").send().await.expect("the server answers");
    assert_eq!(response.status(), 200);
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(media.starts_with("text/event-stream"), "{media}");
    response
}

/// The one result of a query (or of a refused request) over SSE: the stream must be exactly
/// one `next` event and then `complete`, with empty data; returns the `next` event's JSON.
pub async fn sse_single_result(request: reqwest::RequestBuilder) -> Value {
    let events = sse_until_complete(open_event_stream(request).await).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "next", "{events:?}");
    assert_eq!(events[1], ("complete".to_owned(), String::new()));
    serde_json::from_str(&events[0].1).unwrap_or_else(|_| panic!("`next` carries JSON: {events:?}"))
}

/// Runs `graphql-http`'s GraphQL-over-HTTP audits (`tests/interop/graphql_http.mjs`) against
/// the server at `url` and requires every one of them (61 in the pinned version) to be `ok`:
/// not an error, and not a warning (a SHOULD the server does not follow).
pub async fn assert_graphql_http_audits_ok(url: &str) {
    let answer = interop_harness("graphql_http.mjs", json!({ "op": "audit-server", "url": url })).await;
    let results = answer["results"].as_array().unwrap_or_else(|| panic!("no audit results: {answer}"));
    assert_eq!(results.len(), 61, "the pinned suite has 61 audits: {answer}");
    let not_ok: Vec<&Value> = results.iter().filter(|r| r["status"] != "ok").collect();
    assert!(not_ok.is_empty(), "audits not ok at {url}: {not_ok:#?}");
}

/// One request, on stdin, to a harness script of `tests/interop/`; its answer from stdout.
async fn interop_harness(script: &str, request: Value) -> Value {
    // One package.json serves these harnesses; `puppeteer-core` was added to it last, so an
    // install that has it is current.
    run_harness(interop_dir(), "node_modules/puppeteer-core/package.json", script, request).await
}

/// A webhook receiver on a port of its own: its URL, and each call as
/// `{"valid": <its Cadena-Signature checks with secret>, "body": <its JSON>}`.
pub async fn webhook_receiver(secret: &'static str) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use axum::routing::post;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let signature = headers["cadena-signature"].to_str().unwrap().to_owned();
                let t: i64 = signature.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
                let valid = cadena_resolvers::services::webhooks::signature(secret, t, &body) == signature;
                let _ = tx.send(json!({ "valid": valid, "body": serde_json::from_str::<Value>(&body).unwrap() }));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// Runs `request` (`op`, `url` and what the op needs) in a real browser with no internet access
/// (`tests/interop/browser.mjs`: Debian's Chromium over CDP, every request to another origin
/// aborted and reported) and returns its report.
pub async fn in_browser(mut request: Value) -> Value {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "the browser tests need Chromium at {chromium} (apt-get install -y chromium; .ci/run installs it)"
    );
    request["chromium"] = json!(chromium);
    interop_harness("browser.mjs", request).await
}

/// One request, on stdin, to `script` in `dir` (its npm packages installed with `npm ci` on
/// first use, `marker` telling an install that is current); its answer from stdout.
pub(crate) async fn run_harness(dir: std::path::PathBuf, marker: &'static str, script: &str, request: Value) -> Value {
    let install = dir.clone();
    tokio::task::spawn_blocking(move || cadena_contracts::anvil::npm_ci_once(&install, marker))
        .await
        .expect("npm ci task")
        .unwrap_or_else(|e| panic!("npm ci in {}: {e}", dir.display()));
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(request.to_string().as_bytes()).await.expect("write request");
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the harness answers within 60 s")
        .expect("harness output");
    assert!(output.status.success(), "{script} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{script}'s answer is not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}

impl TestApp {
    /// This node's DID.
    pub fn did(&self) -> String {
        self.node.services.credentials.identity().did().to_owned()
    }

    /// Posts JSON to a REST path; returns the status and the JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response =
            self.client.post(format!("{}{path}", self.base)).json(body).send().await.expect("request reaches the node");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, cadena_credentials::json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
    }

    /// The credential of a granted certification, read through GraphQL.
    pub async fn credential_of(&self, id: &str) -> Value {
        let response = self
            .gql(Some("risk"), "query($id: ID!) { certification(id: $id) { credential } }", json!({ "id": id }))
            .await;
        let credential = response.data()["certification"]["credential"].clone();
        assert!(credential.is_object(), "the granted certification has its credential: {}", response.body);
        credential
    }

    /// `POST /credentials/verify`: the report, whose status must agree with it (200 verified,
    /// 400 not, 503 undecided).
    pub async fn verify(&self, credential: &Value) -> Value {
        let (status, body) =
            self.post_json("/credentials/verify", &json!({ "verifiableCredential": credential })).await;
        assert!(body["verified"].is_boolean(), "a report, not an error: {status} {body}");
        assert_eq!(status == 200, body["verified"] == true, "HTTP {status} says otherwise than {body}");
        assert!(matches!(status, 200 | 400 | 503), "{status}: {body}");
        body
    }
}

/// A real anvil with the registries deployed; governance is dev account 0, and each country
/// admitted gets its own anchorer account.
#[derive(Debug)]
pub struct TestChain {
    /// The chain process (stop and restart it to take the chain down).
    pub anvil: tokio::sync::Mutex<cadena_contracts::anvil::Anvil>,
    /// The registries.
    pub contracts: cadena_contracts::ContractAddresses,
    /// A client signing as governance.
    pub governance: cadena_contracts::ChainClient,
    config: cadena_contracts::ChainConfig,
    admitted: tokio::sync::Mutex<Vec<String>>,
}

impl TestChain {
    /// Starts anvil (instant mining) and deploys the registries.
    pub async fn start() -> std::sync::Arc<TestChain> {
        TestChain::start_with(cadena_contracts::anvil::AnvilOptions::default()).await
    }

    /// Starts anvil with `options` and deploys the registries.
    pub async fn start_with(options: cadena_contracts::anvil::AnvilOptions) -> std::sync::Arc<TestChain> {
        let anvil = cadena_contracts::anvil::Anvil::spawn_with(options).await.expect("anvil starts");
        let client =
            cadena_contracts::ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await.expect("connects");
        let deployment = client.deploy(anvil.address(0)).await.expect("deploys");
        let contracts = deployment.addresses();
        let mut config = anvil.chain_config();
        config.contracts = Some(contracts);
        std::sync::Arc::new(TestChain {
            governance: client.with_contracts(contracts),
            anvil: tokio::sync::Mutex::new(anvil),
            contracts,
            config,
            admitted: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// The `[chain]` section of a node's configuration.
    pub fn node_config(&self) -> cadena_contracts::ChainConfig {
        self.config.clone()
    }

    /// One of anvil's JSON-RPC methods (`evm_snapshot`, `evm_revert`, `evm_setAutomine`, ...).
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response: Value =
            reqwest::Client::new().post(&self.config.rpc_url).json(&body).send().await.unwrap().json().await.unwrap();
        assert!(response["error"].is_null(), "{method}: {response}");
        response["result"].clone()
    }

    /// Remembers the chain as it is now, for [`TestChain::roll_back_to`].
    pub async fn snapshot(&self) -> Value {
        self.rpc("evm_snapshot", json!([])).await
    }

    /// Rolls the chain back to a [`TestChain::snapshot`]: every block (and transaction) since
    /// is gone, as after a reorg or a node restored from an older state.
    pub async fn roll_back_to(&self, snapshot: Value) {
        assert_eq!(self.rpc("evm_revert", json!([snapshot])).await, json!(true), "anvil reverted");
    }

    /// Admits `country` with `did` (or points it at `did`) and returns its anchorer's key.
    pub async fn admit(&self, country: CountryCode, did: &str) -> String {
        let mut admitted = self.admitted.lock().await;
        let code: [u8; 2] = country.as_str().as_bytes().try_into().expect("two letters");
        let index = match admitted.iter().position(|c| c == country.as_str()) {
            Some(i) => {
                self.governance.set_did(code, did).await.expect("set DID");
                i + 1
            }
            None => {
                admitted.push(country.as_str().to_owned());
                let index = admitted.len();
                let anchorer = cadena_contracts::anvil::dev_signer(index).address();
                self.governance.admit_authority(code, did, anchorer).await.expect("admit authority");
                index
            }
        };
        cadena_contracts::anvil::DEV_PRIVATE_KEYS[index].to_owned()
    }
}

impl TestApp {
    /// Establishes an MRA proposed by this node's ADMIN to `acceptor`, accepted by its ADMIN,
    /// sharing `scope` (certificate type names), and waits until both nodes see it ACTIVE.
    pub async fn establish_mra(&self, acceptor: &TestApp, scope: Value) {
        let propose = self
            .gql(
                Some("admin"),
                "mutation($p: String!, $s: [CertificateType!]!) { proposeMra(partner: $p, scope: $s) { partner } }",
                json!({ "p": acceptor.country, "s": scope }),
            )
            .await;
        propose.data();
        let accept = acceptor
            .gql(
                Some("admin"),
                "mutation($p: String!, $s: [CertificateType!]!) { acceptMra(partner: $p, scope: $s) { partner } }",
                json!({ "p": self.country, "s": scope }),
            )
            .await;
        accept.data();
        for (app, partner) in [(self, &acceptor.country), (acceptor, &self.country)] {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
            while !app.active_partners().await.contains(partner) {
                assert!(tokio::time::Instant::now() < deadline, "{} sees its MRA with {partner}", app.country);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }

    /// The partners this node has an ACTIVE MRA with.
    pub async fn active_partners(&self) -> Vec<String> {
        let mras = self.gql(Some("risk"), "{ mras { partner state } }", json!({})).await;
        mras.data()["mras"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter(|m| m["state"] == "ACTIVE")
                    .filter_map(|m| m["partner"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}
