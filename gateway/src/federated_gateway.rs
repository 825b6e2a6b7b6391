//! `cadena gateway`: one GraphQL endpoint over a supergraph composed from subgraphs (the
//! customs node's own, and any other, such as a risk system adding fields to `Operator`),
//! planned and executed by [`crate::federation`].
//!
//! Cross-partner fields (`Operator.recognition`) are resolved by the node subgraph, which
//! fans out to its MRA partners with a timeout and a circuit breaker per partner and
//! re-verifies what comes back; a partner that fails is an error beside the others' answers.
//!
//! | path | what |
//! |---|---|
//! | `POST/GET /graphql` | GraphQL over HTTP (`application/json` or `application/graphql-response+json`; 400 for requests that cannot run; GET runs queries only) |
//! | `POST /graphql` with `Accept: text/event-stream` | a subscription over SSE |
//! | WebSocket upgrade on `/graphql` | any operation over `graphql-transport-ws` ([`crate::graphql_ws`], shared with the node) |
//! | `GET /` | GraphiQL |
//! | `GET /healthz` | the process is up |
//!
//! Clients authenticate with the node's bearer tokens: the gateway forwards `Authorization` to
//! the subgraphs, and checks a WebSocket's token once, when it opens (`connection_init`, or
//! the upgrade request's header), against the node (`me`). Subscriptions are authorised by role at the node. Before anything
//! runs, each operation is held to limits on depth, aliases and cost (every field counted once
//! per object it may be resolved on, lists multiplying by their page size: see
//! [`crate::operation_limits`]), and each client (by token, else by address) to a request rate.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use lru::LruCache;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::federation::{Engine, EngineOptions, GraphQLRequest, ResponseBody, Subgraph};
use crate::going_away::GoingAway;
use crate::graphql_ws::{self, Execution, Operation, Operations};
use crate::http::graphql_over_http::{MediaType, negotiate, request_error};
use crate::operation_limits::{Admission, Limits, OperationLimits, Refusal};

/// A subgraph of the gateway's supergraph.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgraphConfig {
    /// Its name in the supergraph.
    pub name: String,
    /// Its GraphQL endpoint; its SDL is read from it (`_service { sdl }`) at start-up, unless
    /// `sdl_file` is given.
    pub url: String,
    /// A file holding its federation SDL, read instead of asking the subgraph: a production
    /// node answers `_service { sdl }` to officers only (`cadena schema print` writes it).
    #[serde(default)]
    pub sdl_file: Option<std::path::PathBuf>,
}

/// Limits per operation and per client.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayLimits {
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Most aliases.
    pub max_aliases: usize,
    /// Highest cost: fields selected, each counted once per object it may be resolved on.
    pub max_cost: u64,
    /// The page size assumed for a list field without a `first`, `last` or `limit` argument.
    pub assumed_list_size: u64,
    /// Requests per client per minute.
    pub requests_per_minute: u32,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time limit of each subgraph request, in milliseconds.
    pub subgraph_timeout_ms: u64,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            max_depth: 12,
            max_aliases: 30,
            max_cost: 5_000,
            assumed_list_size: 10,
            requests_per_minute: 6_000,
            max_body_bytes: 256 * 1024,
            subgraph_timeout_ms: 10_000,
        }
    }
}

/// `gateway.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The subgraphs, the node's first.
    pub subgraphs: Vec<SubgraphConfig>,
    /// Limits.
    #[serde(default)]
    pub limits: GatewayLimits,
}

impl GatewayConfig {
    /// Loads a TOML file (with `CADENA_GATEWAY_*` environment overrides).
    pub fn load(file: &Path) -> anyhow::Result<GatewayConfig> {
        use figment::Figment;
        use figment::providers::{Env, Format, Toml};
        let config: GatewayConfig = Figment::new()
            .merge(Toml::file_exact(file))
            .merge(Env::prefixed("CADENA_GATEWAY_").split("__"))
            .extract()
            .map_err(|e| anyhow::anyhow!("gateway configuration: {e}"))?;
        anyhow::ensure!(!config.subgraphs.is_empty(), "gateway configuration: subgraphs: name at least one");
        Ok(config)
    }
}

/// A fixed-window rate limiter per client.
#[derive(Debug, Default)]
struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    fn allow(&self, client: &str, per_minute: u32) -> bool {
        let mut windows = self.windows.lock().expect("lock");
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| start.elapsed() < Duration::from_secs(60));
        }
        let entry = windows.entry(client.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

/// A running gateway's shared state.
#[derive(Clone)]
pub struct Gateway {
    engine: Engine,
    limits: GatewayLimits,
    operation_limits: Arc<OperationLimits>,
    rate: Arc<RateLimiter>,
    /// Where `me` is asked to check a WebSocket's token: the first subgraph, the node.
    node_url: String,
    http: reqwest::Client,
    /// Operations (text, name) that passed the limits, with their kind: clients repeat a few
    /// operations with new variables, and each is measured once (again each time only when a
    /// variable sets a page size).
    admitted: Arc<Mutex<AdmittedOperations>>,
    /// Announced when the gateway stops: its subscriptions end.
    going_away: GoingAway,
}

/// (operation text, operation name) → its kind (`query`, `mutation`, `subscription`) and its
/// admission.
type AdmittedOperations = LruCache<(String, Option<String>), (&'static str, Admission)>;

/// How many admitted operations the gateway remembers.
const ADMITTED_OPERATIONS: usize = 1024;

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("node_url", &self.node_url).finish_non_exhaustive()
    }
}

async fn fetch_sdl(http: &reqwest::Client, subgraph: &SubgraphConfig) -> anyhow::Result<String> {
    let answer: Value = http
        .post(&subgraph.url)
        .json(&json!({ "query": "{ _service { sdl } }" }))
        .send()
        .await
        .with_context(|| format!("subgraph {} at {}", subgraph.name, subgraph.url))?
        .json()
        .await
        .with_context(|| format!("subgraph {}: not a GraphQL answer", subgraph.name))?;
    answer["data"]["_service"]["sdl"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("subgraph {} did not give its SDL: {answer}", subgraph.name))
}

impl Gateway {
    /// Reads every subgraph's SDL, composes the supergraph and builds the engine.
    pub async fn start(config: &GatewayConfig) -> anyhow::Result<Gateway> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let mut subgraphs = Vec::new();
        for subgraph in &config.subgraphs {
            let sdl = match &subgraph.sdl_file {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("subgraph {}: reading its SDL from {}", subgraph.name, file.display()))?,
                None => fetch_sdl(&http, subgraph).await?,
            };
            subgraphs.push(Subgraph { name: subgraph.name.clone(), url: subgraph.url.clone(), sdl });
        }
        let supergraph = crate::federation::compose(&subgraphs).await.context("composing the supergraph")?;
        let options = EngineOptions {
            request_timeout: Duration::from_millis(config.limits.subgraph_timeout_ms),
            ..EngineOptions::default()
        };
        let engine = Engine::with_options(&supergraph, options).context("building the federation engine")?;
        let limits = &config.limits;
        let operation_limits = OperationLimits::new(
            &engine.api_schema_sdl(),
            Limits {
                max_depth: limits.max_depth,
                max_aliases: limits.max_aliases,
                max_cost: limits.max_cost,
                assumed_list_size: limits.assumed_list_size,
            },
        )
        .map_err(|e| anyhow::anyhow!("operation limits: {e}"))?;
        tracing::info!(subgraphs = subgraphs.len(), "supergraph composed");
        Ok(Gateway {
            engine,
            limits: config.limits.clone(),
            operation_limits: Arc::new(operation_limits),
            rate: Arc::default(),
            node_url: config.subgraphs[0].url.clone(),
            http,
            admitted: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(ADMITTED_OPERATIONS).expect("a positive capacity"),
            ))),
            going_away: GoingAway::default(),
        })
    }

    /// The router.
    pub fn router(self) -> Router {
        let body_limit = self.limits.max_body_bytes;
        Router::new()
            .route("/", get(|| async { Html(include_str!("../../playground/graphiql.html")) }))
            .route("/graphql", get(get_graphql).post(post_graphql))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit))
            .with_state(self)
    }

    /// Serves on `listener` until `shutdown`; then ends its subscriptions (WebSockets close
    /// with `1001`, which drops their streams from the subgraphs) within seconds.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let going_away = self.going_away.clone();
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        going_away.serve(axum::serve(listener, app).with_graceful_shutdown(going_away.after(shutdown))).await?;
        Ok(())
    }

    /// Refuses an operation over the limits, before anything runs.
    fn check_limits(&self, request: &GraphQLRequest) -> Result<Admission, Refusal> {
        self.operation_limits.check(&request.query, request.operation_name.as_deref(), &request.variables)
    }

    /// The 400 answer to a refused operation: a syntax error as the engine reports it (with
    /// its location), a limit as `LIMIT_EXCEEDED`.
    fn refuse(media: MediaType, request: &GraphQLRequest, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Syntax(message) => match Engine::operation_kind(request) {
                Err(error) => federation_error(media, &error),
                // The engine's parser took what the limits' could not: refused all the same,
                // since it could not be measured.
                Ok(_) => request_error(StatusCode::BAD_REQUEST, media, "GRAPHQL_PARSE_FAILED", message),
            },
            Refusal::OverLimit(message) => request_error(StatusCode::BAD_REQUEST, media, "LIMIT_EXCEEDED", message),
        }
    }

    /// The 429 refusal when this client (its bearer token, or its address when anonymous) is
    /// over its rate; `None` admits the request.
    fn refuse_over_rate(&self, headers: &HeaderMap, peer: IpAddr) -> Option<Response> {
        let client = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| peer.to_string());
        if self.rate.allow(&client, self.limits.requests_per_minute) {
            None
        } else {
            let mut response = request_error(
                StatusCode::TOO_MANY_REQUESTS,
                MediaType::Json,
                "RATE_LIMITED",
                format!("more than {} requests a minute", self.limits.requests_per_minute),
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            Some(response)
        }
    }

    async fn run(&self, headers: &HeaderMap, media: MediaType, request: GraphQLRequest, get: bool) -> Response {
        let key = (request.query.clone(), request.operation_name.clone());
        let admitted = self.admitted.lock().expect("admitted lock").get(&key).copied();
        let kind = match admitted {
            Some((kind, admission)) if !admission.depends_on_variables => kind,
            Some((kind, _)) => {
                if let Err(refusal) = self.check_limits(&request) {
                    return Gateway::refuse(media, &request, refusal);
                }
                kind
            }
            None => {
                let admission = match self.check_limits(&request) {
                    Ok(admission) => admission,
                    Err(refusal) => return Gateway::refuse(media, &request, refusal),
                };
                let kind = match Engine::operation_kind(&request) {
                    Ok(kind) => kind,
                    Err(error) => return federation_error(media, &error),
                };
                self.admitted.lock().expect("admitted lock").put(key, (kind, admission));
                kind
            }
        };
        if get && kind != "query" {
            let mut response =
                request_error(StatusCode::METHOD_NOT_ALLOWED, media, "METHOD_NOT_ALLOWED", "GET runs queries only");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        if kind == "subscription" {
            return self.sse(headers, request).await;
        }
        match self.engine.execute(request, forwarded(headers)).await {
            Ok(body) => {
                let mut response = (StatusCode::OK, body.to_string()).into_response();
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
                response
            }
            Err(error) => federation_error(media, &error),
        }
    }

    async fn sse(&self, headers: &HeaderMap, request: GraphQLRequest) -> Response {
        match self.engine.subscribe(request, forwarded(headers)).await {
            Ok(stream) => {
                let going_away = self.going_away.clone();
                let events = stream
                    .map(|body| Ok::<_, Infallible>(Event::default().event("next").data(body.to_string())))
                    .chain(futures::stream::once(async { Ok(Event::default().event("complete").data("")) }))
                    // A stopping gateway ends the stream, or its graceful shutdown would wait
                    // for it for ever.
                    .take_until(async move { going_away.announced().await });
                Sse::new(events).keep_alive(KeepAlive::default()).into_response()
            }
            Err(error) => federation_error(MediaType::Json, &error),
        }
    }

    /// Checks a bearer token with the node (`me`): a WebSocket is authenticated once, when it
    /// opens.
    async fn authenticate(&self, authorization: &str) -> Result<(), graphql_ws::Refusal> {
        let answer: Value = self
            .http
            .post(&self.node_url)
            .header(header::AUTHORIZATION, authorization)
            .json(&json!({ "query": "{ me { username } }" }))
            .send()
            .await
            .map_err(|e| graphql_ws::Refusal::Unavailable(format!("the node cannot be asked: {e}")))?
            .json()
            .await
            .map_err(|e| graphql_ws::Refusal::Unavailable(format!("the node answered strangely: {e}")))?;
        if answer["data"]["me"]["username"].is_string() {
            Ok(())
        } else {
            Err(graphql_ws::Refusal::Forbidden(
                answer["errors"][0]["message"].as_str().unwrap_or("invalid token").to_owned(),
            ))
        }
    }
}

/// The headers forwarded to subgraphs.
fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut forwarded = HeaderMap::new();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        forwarded.insert(header::AUTHORIZATION, value.clone());
    }
    forwarded
}

fn federation_error(media: MediaType, error: &crate::federation::FederationError) -> Response {
    let status = if error.is_request_error() { StatusCode::BAD_REQUEST } else { StatusCode::INTERNAL_SERVER_ERROR };
    if status.is_server_error() {
        tracing::error!(%error, "gateway failure");
    }
    let mut response = (status, error.response_body().to_string()).into_response();
    let media = if media == MediaType::EventStream { MediaType::Json } else { media };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    response
}

/// GET parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
}

async fn get_graphql(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    if headers.get(header::UPGRADE).is_some() {
        let going_away = gateway.going_away.clone();
        return graphql_ws::upgrade(request, Arc::new(GatewayOperations(gateway)), going_away).await;
    }
    let Some(media) = negotiate(&headers) else {
        return request_error(StatusCode::NOT_ACCEPTABLE, MediaType::Json, "NOT_ACCEPTABLE", "accept application/json");
    };
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()) {
        return response;
    }
    let Query(params) = match Query::<GetParams>::try_from_uri(request.uri()) {
        Ok(q) => q,
        Err(e) => return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", e.body_text()),
    };
    let Some(query) = params.query else {
        return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", "`query` is required");
    };
    let variables = match params.variables.as_deref().map(cadena_credentials::json::from_str) {
        None => Value::Null,
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                format!("`variables` is not JSON: {e}"),
            );
        }
    };
    gateway.run(&headers, media, GraphQLRequest { query, operation_name: params.operation_name, variables }, true).await
}

async fn post_graphql(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return request_error(StatusCode::NOT_ACCEPTABLE, MediaType::Json, "NOT_ACCEPTABLE", "accept application/json");
    };
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()) {
        return response;
    }
    // Read as written: serde_json alone would forward a private number key as the number.
    let request: GraphQLRequest = match cadena_credentials::json::from_slice_as(&body) {
        Ok(r) => r,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                format!("the body is not a GraphQL request: {e}"),
            );
        }
    };
    gateway.run(&headers, media, request, false).await
}

/// The gateway's side of `graphql-transport-ws`: tokens checked with the node and forwarded
/// to the subgraphs, operations held to the limits and run by the engine.
struct GatewayOperations(Gateway);

impl Operations for GatewayOperations {
    /// The `Authorization` value forwarded to the subgraphs.
    type Session = Option<String>;

    async fn connect(&self, authorization: Option<String>) -> Result<Option<String>, graphql_ws::Refusal> {
        if let Some(token) = &authorization {
            self.0.authenticate(token).await?;
        }
        Ok(authorization)
    }

    async fn execute(&self, authorization: Option<String>, operation: Operation) -> Execution {
        let request = GraphQLRequest {
            query: operation.query,
            operation_name: operation.operation_name,
            variables: operation.variables.map(Value::Object).unwrap_or(Value::Null),
        };
        let refused = |errors: &Value| Execution::Refused(json_text(errors));
        let kind = match Engine::operation_kind(&request) {
            Ok(kind) => kind,
            Err(error) => return refused(&error.response_body()["errors"]),
        };
        if let Err(refusal) = self.0.check_limits(&request) {
            let code = match refusal {
                Refusal::Syntax(_) => "GRAPHQL_PARSE_FAILED",
                Refusal::OverLimit(_) => "LIMIT_EXCEEDED",
            };
            return refused(&json!([{ "message": refusal.to_string(), "extensions": { "code": code } }]));
        }
        let mut headers = HeaderMap::new();
        if let Some(token) = authorization.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(header::AUTHORIZATION, token);
        }
        let raw = |body: ResponseBody| json_text(&body);
        if kind == "subscription" {
            match self.0.engine.subscribe(request, headers).await {
                Ok(events) => Execution::Results(events.map(raw).boxed()),
                Err(error) => refused(&error.response_body()["errors"]),
            }
        } else {
            match self.0.engine.execute(request, headers).await {
                Ok(body) => Execution::Results(futures::stream::once(async move { raw(body) }).boxed()),
                Err(error) => refused(&error.response_body()["errors"]),
            }
        }
    }
}

fn json_text(value: &impl serde::Serialize) -> graphql_ws::Json {
    serde_json::value::to_raw_value(value).expect("JSON values and response bodies serialise")
}
