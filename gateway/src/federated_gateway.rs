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
//! | WebSocket upgrade on `/graphql` | any operation over `graphql-transport-ws` ([`crate::graphql_ws`], shared with the node) |
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

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use lru::LruCache;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::federation::{Engine, GraphQLRequest, ResponseBody, Subgraph};
use crate::going_away::GoingAway;
use crate::graphql_ws::{self, Execution, Operation, Operations};
use crate::http::graphql_over_http::{
    GraphqlParams, MediaType, accepted_media, event_stream, graphql_request_error, graphql_response, mutation_over_get,
    read_get, read_post, request_error,
};
use crate::operation_limits::{Admission, Refusal};
use cadena_resolvers::rate_limit::RateLimiter;

mod serving;
mod supergraph;
mod tokens;
pub mod trusted_documents;

use supergraph::{InForce, Planned};
use tokens::{TokenCheck, TokenRefusal};

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
    /// Highest cost: fields selected, each counted once per object it may be resolved on. The
    /// default (25,000) lets cadena's own operations and federated queries of the shape
    /// customs authorities run (a 3-subgraph query measured at 17,282) through, and
    /// refuses what unknown clients could make of nested unbounded lists (The Guild's
    /// benchmark operation costs 102,927): an application's known operations that cost more
    /// are listed as trusted documents.
    pub max_cost: u64,
    /// The page size assumed for a list field without a `first`, `last` or `limit` argument.
    pub assumed_list_size: u64,
    /// Requests per client per minute, in bursts of as many (0: not limited).
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
            max_cost: 25_000,
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
    /// The subgraphs, the node's first (it checks clients' tokens). With `supergraph_file`,
    /// their URLs replace those the supergraph records, and their SDLs are not read.
    pub subgraphs: Vec<SubgraphConfig>,
    /// A supergraph SDL composed elsewhere (Apollo's `rover`, Hive, `cadena`'s own), taken
    /// instead of composing the subgraphs, and again whenever the file changes. Absent: the
    /// gateway composes its subgraphs itself at start.
    #[serde(default)]
    pub supergraph_file: Option<std::path::PathBuf>,
    /// The operations of known applications, exempt from the cost limit (a persisted-documents
    /// map or a persisted query manifest: [`trusted_documents`]).
    #[serde(default)]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// Limits.
    #[serde(default)]
    pub limits: GatewayLimits,
    /// The Redis the gateway's replicas share (`[redis]`): they grant each client its request
    /// rate once between them. Absent: each gateway process grants it.
    #[serde(default)]
    pub redis: Option<GatewayRedisConfig>,
}

/// `[redis]` of `gateway.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRedisConfig {
    /// `redis://host:port/db` (`CADENA_GATEWAY_REDIS__URL`).
    pub url: crate::config::Secret,
    /// The name the replicas of this gateway share, keeping their keys apart from other
    /// deployments' on the same Redis.
    #[serde(default = "GatewayRedisConfig::default_namespace")]
    pub namespace: String,
}

impl GatewayRedisConfig {
    fn default_namespace() -> String {
        "gateway".into()
    }
}

impl GatewayConfig {
    /// Loads a TOML file (with `CADENA_GATEWAY_*` environment overrides).
    pub fn load(file: &Path) -> anyhow::Result<GatewayConfig> {
        use figment::Figment;
        use figment::providers::{Format, Toml};
        let config: GatewayConfig = Figment::new()
            .merge(Toml::file_exact(file))
            .merge(crate::config::env_overrides::<GatewayConfig>("CADENA_GATEWAY_"))
            .extract()
            .map_err(|e| anyhow::anyhow!("gateway configuration: {e}"))?;
        anyhow::ensure!(!config.subgraphs.is_empty(), "gateway configuration: subgraphs: name at least one");
        Ok(config)
    }
}

/// A running gateway's shared state.
#[derive(Clone)]
pub struct Gateway {
    /// The supergraph in force: engine, limits, admitted operations.
    in_force: InForce,
    limits: GatewayLimits,
    /// The supergraph file watched for changes, with the config to build it by.
    watched: Option<(std::path::PathBuf, GatewayConfig, String)>,
    /// Requests per client (None: not limited), shared with the other replicas through Redis.
    rate: Option<Arc<RateLimiter>>,
    /// Checks clients' tokens with the node.
    tokens: Arc<TokenCheck>,
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
    /// Reads the supergraph file, or every subgraph's SDL and composes them; builds the
    /// engine.
    pub async fn start(config: &GatewayConfig) -> anyhow::Result<Gateway> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let supergraph = match &config.supergraph_file {
            Some(file) => {
                std::fs::read_to_string(file).with_context(|| format!("supergraph_file: reading {}", file.display()))?
            }
            None => {
                let mut subgraphs = Vec::new();
                for subgraph in &config.subgraphs {
                    let sdl = match &subgraph.sdl_file {
                        Some(file) => std::fs::read_to_string(file).with_context(|| {
                            format!("subgraph {}: reading its SDL from {}", subgraph.name, file.display())
                        })?,
                        None => fetch_sdl(&http, subgraph).await?,
                    };
                    subgraphs.push(Subgraph { name: subgraph.name.clone(), url: subgraph.url.clone(), sdl });
                }
                let composed = crate::federation::compose(&subgraphs).await.context("composing the supergraph")?;
                tracing::info!(subgraphs = subgraphs.len(), "supergraph composed");
                composed
            }
        };
        let in_force = InForce::new(Planned::build(&supergraph, config)?);
        let rate = NonZeroU32::new(config.limits.requests_per_minute).map(RateLimiter::new);
        if let (Some(rate), Some(redis)) = (&rate, &config.redis) {
            let client = redis::Client::open(redis.url.expose()).context("[redis] url")?;
            rate.share(client, &format!("gateway:{}", redis.namespace));
        }
        Ok(Gateway {
            in_force,
            limits: config.limits.clone(),
            watched: config.supergraph_file.clone().map(|file| (file, config.clone(), supergraph)),
            rate: rate.map(Arc::new),
            tokens: Arc::new(TokenCheck::new(http, config.subgraphs[0].url.clone())),
            going_away: GoingAway::default(),
        })
    }

    /// The router.
    pub fn router(self) -> Router {
        let body_limit = self.limits.max_body_bytes;
        Router::new()
            .route("/", get(crate::http::assets::graphiql))
            .route("/assets/{name}", get(crate::http::assets::asset))
            .route("/graphql", get(get_graphql).post(post_graphql))
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit))
            .layer(crate::telemetry::trace_layer())
            .with_state(self)
    }

    /// Follows the supergraph file, if the gateway was started from one, until it stops.
    fn watch_supergraph(&self) {
        if let Some((file, config, loaded)) = self.watched.clone() {
            let stopping = self.going_away.clone();
            let in_force = self.in_force.clone();
            tokio::spawn(async move {
                supergraph::watch(file, config, in_force, loaded, async move { stopping.announced().await }).await;
            });
        }
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
    async fn refuse_over_rate(&self, headers: &HeaderMap, peer: IpAddr) -> Option<Response> {
        let rate = self.rate.as_ref()?;
        let client = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| peer.to_string());
        let over = rate.check(&client).await.err()?;
        let mut response = request_error(
            StatusCode::TOO_MANY_REQUESTS,
            MediaType::Json,
            "RATE_LIMITED",
            format!("more than {} requests a minute", rate.per_minute()),
        );
        let retry_after = over.retry_after.as_secs().max(1);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        Some(response)
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
        let planned = self.in_force.get();
        let key = (request.query.clone(), request.operation_name.clone());
        let admitted = planned.admitted.lock().expect("admitted lock").get(&key).copied();
        let kind = match admitted {
            Some((kind, admission)) if !admission.depends_on_variables => kind,
            Some((kind, _)) => {
                if let Err(refusal) = planned.check_limits(&request) {
                    return Gateway::refuse(media, &request, refusal);
                }
                kind
            }
            None => {
                let admission = match planned.check_limits(&request) {
                    Ok(admission) => admission,
                    Err(refusal) => return Gateway::refuse(media, &request, refusal),
                };
                let kind = match Engine::operation_kind(&request) {
                    Ok(kind) => kind,
                    Err(error) => return federation_error(media, &error),
                };
                planned.admitted.lock().expect("admitted lock").put(key, (kind, admission));
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
            return match planned.engine.subscribe(request, forwarded(headers)).await {
                Ok(stream) => {
                    // A stopping gateway ends the stream, or its graceful shutdown would wait for
                    // it for ever.
                    let going_away = self.going_away.clone();
                    event_stream(
                        stream
                            .map(|body| (None, body.to_string()))
                            .take_until(async move { going_away.announced().await }),
                    )
                }
                Err(error) => federation_error(media, &error),
            };
        }
        match planned.engine.execute(request, forwarded(headers)).await {
            Ok(body) => graphql_response(media, body.into_string(), true),
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
        let going_away = gateway.going_away.clone();
        return graphql_ws::upgrade(request, Arc::new(GatewayOperations(gateway)), going_away).await;
    }
    let media = match accepted_media(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()).await {
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
    if let Some(response) = gateway.refuse_over_rate(&headers, peer.ip()).await {
        return response;
    }
    match read_post(request, media).await {
        Ok(params) => gateway.run(&headers, media, params.into(), false).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The gateway's side of `graphql-transport-ws`: tokens checked with the node and forwarded
/// to the subgraphs, operations held to the limits and run by the engine.
struct GatewayOperations(Gateway);

impl Operations for GatewayOperations {
    /// The `Authorization` value forwarded to the subgraphs.
    type Session = Option<String>;

    async fn connect(&self, authorization: Option<String>) -> Result<Option<String>, graphql_ws::Refusal> {
        if let Some(token) = &authorization {
            self.0.authenticate(token).await.map_err(|refusal| match refusal {
                TokenRefusal::Invalid { message, .. } => graphql_ws::Refusal::Forbidden(message),
                TokenRefusal::Unchecked(why) => graphql_ws::Refusal::Unavailable(why),
            })?;
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
        let planned = self.0.in_force.get();
        if let Err(refusal) = planned.check_limits(&request) {
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
            match planned.engine.subscribe(request, headers).await {
                Ok(events) => Execution::Results(events.map(raw).boxed()),
                Err(error) => refused(&error.response_body()["errors"]),
            }
        } else {
            match planned.engine.execute(request, headers).await {
                Ok(body) => Execution::Results(futures::stream::once(async move { raw(body) }).boxed()),
                Err(error) => refused(&error.response_body()["errors"]),
            }
        }
    }
}

fn json_text(value: &impl serde::Serialize) -> graphql_ws::Json {
    serde_json::value::to_raw_value(value).expect("JSON values and response bodies serialise")
}
