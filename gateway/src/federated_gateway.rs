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
//! | `POST/GET /graphql` | GraphQL over HTTP, read and answered as the node does ([`crate::http::graphql_over_http`]); GET runs no mutations |
//! | `POST/GET /graphql` with `Accept: text/event-stream` | any operation over SSE (distinct connections mode) |
//! | WebSocket upgrade on `/graphql` | subscriptions over `graphql-transport-ws` |
//! | `GET /` | GraphiQL |
//! | `GET /healthz` | the process is up |
//!
//! Clients authenticate with the node's bearer tokens: the gateway forwards `Authorization` to
//! the subgraphs, and checks the token with the node (`me`) before anything runs (401 when
//! it is wrong, as on the node), on each HTTP or SSE request and once per WebSocket, when it
//! opens (`connection_init`). Subscriptions are authorised by role at the node. Before anything
//! runs, each operation is held to limits on depth, aliases and cost (every field counted once
//! per object it may be resolved on, lists multiplying by their page size: see
//! [`crate::operation_limits`]), and each client (by token, else by address) to a request rate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use lru::LruCache;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::federation::{Engine, EngineOptions, GraphQLRequest, ResponseBody, Subgraph};
use crate::http::graphql_over_http::{
    GraphqlParams, MediaType, accepted_media, event_stream, graphql_request_error, graphql_response, mutation_over_get,
    read_get, read_post, request_error,
};
use crate::operation_limits::{Admission, Limits, OperationLimits, Refusal};

mod tokens;

use tokens::{TokenCheck, TokenRefusal};

/// A subgraph of the gateway's supergraph.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgraphConfig {
    /// Its name in the supergraph.
    pub name: String,
    /// Its GraphQL endpoint; its SDL is read from it (`_service { sdl }`) at start-up.
    pub url: String,
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
    /// Checks clients' tokens with the node.
    tokens: Arc<TokenCheck>,
    /// Operations (text, name) that passed the limits, with their kind: clients repeat a few
    /// operations with new variables, and each is measured once (again each time only when a
    /// variable sets a page size).
    admitted: Arc<Mutex<AdmittedOperations>>,
}

/// (operation text, operation name) → its kind (`query`, `mutation`, `subscription`) and its
/// admission.
type AdmittedOperations = LruCache<(String, Option<String>), (&'static str, Admission)>;

/// How many admitted operations the gateway remembers.
const ADMITTED_OPERATIONS: usize = 1024;

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("tokens", &self.tokens).finish_non_exhaustive()
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
            let sdl = fetch_sdl(&http, subgraph).await?;
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
            tokens: Arc::new(TokenCheck::new(http, config.subgraphs[0].url.clone())),
            admitted: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(ADMITTED_OPERATIONS).expect("a positive capacity"),
            ))),
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

    /// Serves on `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        Ok(())
    }

    /// Refuses an operation over the limits, before anything runs.
    fn check_limits(&self, request: &GraphQLRequest) -> Result<Admission, Refusal> {
        self.operation_limits.check(&request.query, request.operation_name.as_deref(), &request.variables)
    }

    /// The answer to a refused operation, a GraphQL request error: a syntax error as the
    /// engine reports it (with its location), a limit as `LIMIT_EXCEEDED`.
    fn refuse(media: MediaType, request: &GraphQLRequest, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Syntax(message) => match Engine::operation_kind(request) {
                Err(error) => federation_error(media, &error),
                // The engine's parser took what the limits' could not: refused all the same,
                // since it could not be measured.
                Ok(_) => graphql_request_error(media, "GRAPHQL_PARSE_FAILED", message),
            },
            Refusal::OverLimit(message) => graphql_request_error(media, "LIMIT_EXCEEDED", message),
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

    /// Runs one checked request: its token confirmed, its operation within the limits, a
    /// mutation only over POST, a subscription only over SSE; answered in `media`.
    async fn run(&self, headers: &HeaderMap, media: MediaType, request: GraphQLRequest, get: bool) -> Response {
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let checked = match authorization.to_str() {
                Ok(value) => self.authenticate(value).await,
                Err(_) => Err(TokenRefusal::Invalid {
                    code: "UNAUTHENTICATED".into(),
                    message: "the Authorization header must be `Bearer <token>`".into(),
                }),
            };
            match checked {
                Ok(()) => {}
                Err(TokenRefusal::Invalid { code, message }) => {
                    return request_error(StatusCode::UNAUTHORIZED, media, &code, message);
                }
                Err(refusal @ TokenRefusal::Unchecked(_)) => {
                    tracing::error!(%refusal, "gateway cannot check a token");
                    return request_error(StatusCode::BAD_GATEWAY, media, "BAD_GATEWAY", refusal.to_string());
                }
            }
        }
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
        if get && kind == "mutation" {
            return mutation_over_get(media);
        }
        if kind == "subscription" {
            if media != MediaType::EventStream {
                // As the node answers: the operation is fine, this transport cannot carry it.
                let message = "a subscription needs Accept: text/event-stream, or a WebSocket";
                return graphql_request_error(media, "BAD_REQUEST", message);
            }
            return match self.engine.subscribe(request, forwarded(headers)).await {
                Ok(stream) => event_stream(stream.map(|body| body.to_string())),
                Err(error) => federation_error(media, &error),
            };
        }
        match self.engine.execute(request, forwarded(headers)).await {
            Ok(body) => graphql_response(media, body.to_string(), true),
            Err(error) => federation_error(media, &error),
        }
    }

    /// Checks a bearer token (an `Authorization` value) with the node.
    async fn authenticate(&self, authorization: &str) -> Result<(), TokenRefusal> {
        self.tokens.check(authorization).await
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

/// The answer to an operation the engine refused: a GraphQL request error, or a failure of
/// the gateway (500).
fn federation_error(media: MediaType, error: &crate::federation::FederationError) -> Response {
    if error.is_request_error() {
        return graphql_response(media, error.response_body().to_string(), false);
    }
    tracing::error!(%error, "gateway failure");
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, error.response_body().to_string()).into_response();
    let media = if media == MediaType::EventStream { MediaType::Json } else { media };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    response
}

impl From<GraphqlParams> for GraphQLRequest {
    fn from(params: GraphqlParams) -> Self {
        GraphQLRequest {
            query: params.query,
            operation_name: params.operation_name,
            variables: params.variables.map_or(Value::Null, Value::Object),
        }
    }
}

async fn get_graphql(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Response {
    if headers.get(header::UPGRADE).is_some() {
        let (mut parts, _) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade
                .protocols(["graphql-transport-ws"])
                .on_upgrade(move |socket| websocket(gateway, socket))
                .into_response(),
            Err(rejection) => rejection.into_response(),
        };
    }
    let media = match accepted_media(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()) {
        return response;
    }
    match read_get(request.uri(), media) {
        Ok(params) => gateway.run(&headers, media, params.into(), true).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn post_graphql(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let headers = request.headers().clone();
    let media = match accepted_media(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()) {
        return response;
    }
    match read_post(request, media).await {
        Ok(params) => gateway.run(&headers, media, params.into(), false).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// `graphql-transport-ws`: `connection_init` authenticates (its `authorization`), then each
/// `subscribe` runs through the engine until `complete` or the socket closes.
async fn websocket(gateway: Gateway, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = tokio::sync::mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(Message::Text(message.into())).await.is_err() {
                break;
            }
        }
    });
    let mut authorization: Option<String> = None;
    let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(message) = serde_json::from_str::<Value>(&text) else { break };
        match message["type"].as_str() {
            Some("connection_init") => {
                let token =
                    message["payload"]["authorization"].as_str().or(message["payload"]["Authorization"].as_str());
                match token {
                    Some(token) => match gateway.authenticate(token).await {
                        Ok(()) => {
                            authorization = Some(token.to_owned());
                            let _ = out.send(json!({ "type": "connection_ack" }).to_string()).await;
                        }
                        Err(why) => {
                            tracing::warn!(%why, "gateway WebSocket refused");
                            break;
                        }
                    },
                    None => {
                        let _ = out.send(json!({ "type": "connection_ack" }).to_string()).await;
                    }
                }
            }
            Some("ping") => {
                let _ = out.send(json!({ "type": "pong" }).to_string()).await;
            }
            Some("subscribe") => {
                let id = message["id"].as_str().unwrap_or_default().to_owned();
                let Ok(request) = serde_json::from_value::<GraphQLRequest>(message["payload"].clone()) else {
                    let _ = out.send(json!({ "type": "error", "id": id, "payload": [{ "message": "malformed subscribe payload" }] }).to_string()).await;
                    continue;
                };
                if let Err(why) = gateway.check_limits(&request) {
                    let _ = out
                        .send(
                            json!({ "type": "error", "id": id, "payload": [{ "message": why.to_string() }] })
                                .to_string(),
                        )
                        .await;
                    continue;
                }
                let mut headers = HeaderMap::new();
                if let Some(token) = authorization.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
                    headers.insert(header::AUTHORIZATION, token);
                }
                let (gateway, out) = (gateway.clone(), out.clone());
                let task_id = id.clone();
                running.insert(
                    id,
                    tokio::spawn(async move {
                        match gateway.engine.subscribe(request, headers).await {
                            Ok(mut events) => {
                                while let Some(body) = events.next().await {
                                    if out.send(next_message(&task_id, &body)).await.is_err() {
                                        return;
                                    }
                                }
                                let _ = out.send(json!({ "type": "complete", "id": task_id }).to_string()).await;
                            }
                            Err(error) => {
                                let payload = error.response_body()["errors"].clone();
                                let _ = out
                                    .send(json!({ "type": "error", "id": task_id, "payload": payload }).to_string())
                                    .await;
                            }
                        }
                    }),
                );
            }
            Some("complete") => {
                if let Some(task) = message["id"].as_str().and_then(|id| running.remove(id)) {
                    task.abort();
                }
            }
            _ => {}
        }
    }
    for (_, task) in running {
        task.abort();
    }
    drop(out);
    let _ = writer.await;
}

/// A `next` message with its payload written verbatim, so the fields keep the order the
/// operation selected them in.
fn next_message(id: &str, payload: &ResponseBody) -> String {
    #[derive(serde::Serialize)]
    struct Next<'a> {
        r#type: &'static str,
        id: &'a str,
        payload: &'a ResponseBody,
    }
    serde_json::to_string(&Next { r#type: "next", id, payload }).expect("strings and JSON text serialise")
}
