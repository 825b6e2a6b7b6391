//! Plans and executes GraphQL operations over a composed supergraph with the split
//! hive-router crates (see the module docs of [`super`]).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::BoxStream;
use graphql_tools::validation::rules::default_rules_validation_plan;
use graphql_tools::validation::validate::{ValidationPlan, validate};
use hive_router_config::override_subgraph_urls::OverrideSubgraphUrlsConfig;
use hive_router_config::subscriptions::SupergraphSubscriptionsConfig;
use hive_router_config::traffic_shaping::{
    DurationOrExpression, SupergraphTrafficShapingConfig, TrafficShapingExecutorSubgraphConfig,
};
use hive_router_internal::telemetry::TelemetryContext;
use hive_router_internal::telemetry::traces::spans::graphql::GraphQLOperationSpan;
use hive_router_plan_executor::SubgraphExecutorMap;
use hive_router_plan_executor::execution::client_request_details::{
    ClientRequestDetails, JwtRequestDetails, OperationDetails, PathParams,
};
use hive_router_plan_executor::execution::operation_name::{OperationNameFactory, OperationNameForwardConfig};
use hive_router_plan_executor::execution::plan::{
    CoerceVariablesPayload, ExecutionResultExtensions, QueryPlanExecutionOpts, QueryPlanExecutionResult,
    execute_query_plan,
};
use hive_router_plan_executor::extensions::plan::ExtensionsPlan;
use hive_router_plan_executor::headers::plan::{HeaderRulesPlan, RequestHeaderRule, RequestPropagateNamed};
use hive_router_plan_executor::headers::response::ResponseHeaderSink;
use hive_router_plan_executor::introspection::partition::partition_operation;
use hive_router_plan_executor::introspection::resolve::IntrospectionContext;
use hive_router_plan_executor::introspection::schema::{SchemaMetadata, SchemaWithMetadata};
use hive_router_plan_executor::projection::plan::FieldProjectionPlan;
use hive_router_plan_executor::variables::collect_variables;
use hive_router_query_planner::ast::normalization::normalize_operation;
use hive_router_query_planner::ast::operation::OperationDefinition;
use hive_router_query_planner::planner::plan_nodes::QueryPlan;
use hive_router_query_planner::planner::query_plan::QUERY_PLAN_KIND;
use hive_router_query_planner::planner::{Planner, QueryPlannerOptions};
use hive_router_query_planner::state::supergraph_state::OperationKind;
use hive_router_query_planner::utils::cancellation::CancellationToken;
use hive_router_query_planner::utils::parsing::{safe_parse_operation, safe_parse_schema};
use http::{HeaderMap, HeaderName, Method, Uri};
use lru::LruCache;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::task::LocalSet;
use tokio_stream::wrappers::ReceiverStream;

use super::error::{FederationError, RequestError};

/// A GraphQL request as it arrives over HTTP (`{"query", "operationName", "variables"}`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphQLRequest {
    /// The GraphQL document.
    pub query: String,
    /// Which operation of the document to run (required when it has several).
    #[serde(default)]
    pub operation_name: Option<String>,
    /// The variables: a JSON object, or `null` for none.
    #[serde(default)]
    pub variables: serde_json::Value,
}

/// How the engine reaches subgraphs and what it lets through.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Subgraph name → URL, replacing the URL recorded in the supergraph (`join__graph`).
    pub subgraph_urls: HashMap<String, String>,
    /// Time limit of each subgraph request (for a subscription: until its response headers).
    pub request_timeout: Duration,
    /// Subgraph name → its own time limit, replacing [`EngineOptions::request_timeout`].
    pub subgraph_timeouts: HashMap<String, Duration>,
    /// Client request headers passed on to every subgraph, when present. The node subgraph
    /// authorises by bearer token, so `Authorization` is the default.
    pub forwarded_headers: Vec<HeaderName>,
    /// Answer `__schema` / `__type` (from the supergraph's API schema, in the gateway).
    pub introspection: bool,
    /// Time limit of planning one operation; a pathological operation fails instead of
    /// holding a worker.
    pub planning_timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            subgraph_urls: HashMap::new(),
            request_timeout: Duration::from_secs(30),
            subgraph_timeouts: HashMap::new(),
            forwarded_headers: vec![http::header::AUTHORIZATION],
            introspection: true,
            planning_timeout: Duration::from_secs(5),
        }
    }
}

/// A stream of GraphQL response bodies, one per subscription event; it ends when the subgraph
/// completes the subscription or after an error event.
pub type SubscriptionStream = BoxStream<'static, ResponseBody>;

/// A GraphQL response body (`data`, `errors`) as the executor wrote it: JSON text with the
/// fields in the order the operation selected them, as the GraphQL spec asks of ordered
/// formats. (Parsed into a `serde_json::Value` they would come out sorted by name.) A query's
/// body is the executor's text as is (it writes JSON; scanning a large response again would
/// cost more than planning it), a subscription's events are checked.
#[derive(Clone, Debug)]
pub struct ResponseBody(String);

impl ResponseBody {
    /// The executor's bytes, checked to be JSON; anything else becomes an error body.
    fn from_executor(body: &[u8]) -> ResponseBody {
        let checked = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<&RawValue>(text).map(|_| text).map_err(|e| e.to_string()));
        match checked {
            Ok(text) => ResponseBody(text.to_owned()),
            Err(e) => {
                let body = serde_json::json!({ "errors": [{
                    "message": format!("executor produced invalid JSON: {e}"),
                    "extensions": { "code": "INTERNAL_SERVER_ERROR" },
                }] });
                ResponseBody(body.to_string())
            }
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, without a copy.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Parsed, for reading fields (their order is lost).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).expect("the executor writes JSON")
    }
}

impl std::fmt::Display for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialises as the JSON it holds, verbatim (to a string or writer; a `serde_json::Value`
/// made from it sorts its fields).
impl serde::Serialize for ResponseBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Executes GraphQL operations against a supergraph: built once per supergraph, shared by all
/// requests (`Clone` is cheap).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    planner: Planner,
    metadata: Arc<SchemaMetadata>,
    validation_plan: ValidationPlan,
    executors: Arc<SubgraphExecutorMap>,
    headers_plan: Arc<HeaderRulesPlan>,
    extensions_plan: Arc<ExtensionsPlan>,
    operation_names: Arc<OperationNameForwardConfig>,
    subgraph_urls: HashMap<String, String>,
    options: EngineOptions,
    /// Started by the first subscription; see [`SubscriptionThread`].
    subscription_thread: OnceLock<SubscriptionThread>,
    /// Prepared operations by text; only operations that prepared without error are kept.
    operations: Mutex<LruCache<OperationKey, Arc<PreparedOperation>>>,
}

/// A job for the subscription thread: builds its (non-`Send`) future there.
type LocalJob = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()> + Send>;

/// The executor drives a subgraph subscription's stream with `ntex::rt::spawn`, which on
/// tokio is `spawn_local`: it panics outside a `LocalSet`, and an axum handler's future must be
/// `Send`. So subscriptions run on one thread of their own (a current-thread runtime inside a
/// `LocalSet`) and their events come back over a channel. The thread ends when the engine is
/// dropped and its last subscription has ended.
struct SubscriptionThread {
    jobs: mpsc::UnboundedSender<LocalJob>,
}

impl SubscriptionThread {
    fn start() -> Result<SubscriptionThread, FederationError> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<LocalJob>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| FederationError::Execution(format!("subscription runtime: {e}")))?;
        std::thread::Builder::new()
            .name("federation-subscriptions".into())
            .spawn(move || {
                LocalSet::new().block_on(&runtime, async move {
                    while let Some(job) = queue.recv().await {
                        tokio::task::spawn_local(job());
                    }
                });
            })
            .map_err(|e| FederationError::Execution(format!("subscription thread: {e}")))?;
        Ok(SubscriptionThread { jobs })
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("subgraph_urls", &self.inner.subgraph_urls)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// What an operation's text (and name) determines: parsed, validated, normalised, split from
/// introspection and planned. Kept in [`Inner::operations`] and reused by every request with
/// the same text, so a repeated operation costs only its variables and its execution.
struct PreparedOperation {
    kind: OperationKind,
    operation_name: Option<String>,
    root_type_name: String,
    projection_plan: Arc<Vec<FieldProjectionPlan>>,
    operation_for_plan: Arc<OperationDefinition>,
    introspection: Option<Arc<OperationDefinition>>,
    plan: QueryPlan,
}

/// A request ready to run: its prepared operation and its checked variables.
struct Prepared {
    operation: Arc<PreparedOperation>,
    variables: Arc<CoerceVariablesPayload>,
}

/// How many prepared operations the engine keeps (least recently used go first). Clients send
/// a bounded set of operations with varying variables; one that invents a new text per request
/// only churns this cache, it cannot grow it.
const PREPARED_OPERATIONS: usize = 1024;

/// The cache key: the operation's text and the operation it names.
type OperationKey = (String, Option<String>);

fn kind_name(kind: &OperationKind) -> &'static str {
    match kind {
        OperationKind::Query => "query",
        OperationKind::Mutation => "mutation",
        OperationKind::Subscription => "subscription",
    }
}

impl Engine {
    /// An engine for `supergraph_sdl` (from [`super::compose()`]) with default options and the
    /// subgraph URLs in `overrides` (subgraph name → URL) replacing the supergraph's.
    pub fn new(supergraph_sdl: &str, overrides: HashMap<String, String>) -> Result<Engine, FederationError> {
        Engine::with_options(supergraph_sdl, EngineOptions { subgraph_urls: overrides, ..EngineOptions::default() })
    }

    /// An engine for `supergraph_sdl` with `options`.
    ///
    /// Parses the supergraph and builds the planner once (the planner's graph of the
    /// supergraph is the expensive part), then one HTTP client per subgraph.
    #[tracing::instrument(skip_all)]
    pub fn with_options(supergraph_sdl: &str, options: EngineOptions) -> Result<Engine, FederationError> {
        let document = safe_parse_schema(supergraph_sdl).map_err(|e| FederationError::Supergraph(e.to_string()))?;
        // The planner's constructor unwraps on some malformed supergraphs (no join__Graph, a
        // dangling join directive): a bad supergraph file must not take the process down.
        let planner = std::panic::catch_unwind(AssertUnwindSafe(|| {
            Planner::new_from_supergraph(&document, QueryPlannerOptions::default())
        }))
        .map_err(|panic| FederationError::Supergraph(panic_message(&panic)))?
        .map_err(|e| FederationError::Supergraph(e.to_string()))?;
        let metadata = Arc::new(planner.consumer_schema.schema_metadata());

        let mut subgraph_urls = planner.supergraph.subgraph_endpoint_map.clone();
        if subgraph_urls.is_empty() {
            return Err(FederationError::Supergraph("no subgraphs (join__Graph is empty)".into()));
        }
        for (name, url) in &options.subgraph_urls {
            let slot = subgraph_urls.get_mut(name).ok_or_else(|| FederationError::UnknownSubgraph(name.clone()))?;
            slot.clone_from(url);
        }
        for name in options.subgraph_timeouts.keys() {
            if !subgraph_urls.contains_key(name) {
                return Err(FederationError::UnknownSubgraph(name.clone()));
            }
        }
        for (name, url) in &subgraph_urls {
            // The executor only finds a bad URL at the first request; say it now, by name.
            url.parse::<Uri>()
                .ok()
                .filter(|uri| uri.scheme().is_some() && uri.authority().is_some())
                .ok_or_else(|| FederationError::Executors(format!("subgraph `{name}`: bad URL `{url}`")))?;
        }

        let mut traffic_shaping = SupergraphTrafficShapingConfig::default();
        traffic_shaping.all.request_timeout = DurationOrExpression::Duration(options.request_timeout);
        for (name, timeout) in &options.subgraph_timeouts {
            traffic_shaping.subgraphs.insert(name.clone(), subgraph_timeout(*timeout));
        }
        install_crypto_provider();
        let telemetry = TelemetryContext::from_propagation_config(&Default::default(), &Default::default());
        let executors = SubgraphExecutorMap::from_http_endpoint_map(
            &subgraph_urls,
            traffic_shaping,
            // The overrides are already applied to the map above.
            OverrideSubgraphUrlsConfig::default(),
            // Subscriptions over HTTP (SSE or multipart) for every subgraph; no WebSocket.
            SupergraphSubscriptionsConfig::default(),
            None,
            Arc::new(telemetry),
            Default::default(),
        )
        .map_err(|e| FederationError::Executors(e.to_string()))?;

        let headers_plan = HeaderRulesPlan {
            request: hive_router_plan_executor::headers::plan::RequestHeaderRules {
                global: vec![RequestHeaderRule::PropagateNamed(RequestPropagateNamed {
                    names: options.forwarded_headers.clone(),
                    default: None,
                    rename: None,
                })],
                by_subgraph: Default::default(),
            },
            // Subgraph response headers stay with the subgraph: the gateway answers on its own.
            response: Default::default(),
        };

        tracing::info!(subgraphs = ?subgraph_urls, "federation engine ready");
        Ok(Engine {
            inner: Arc::new(Inner {
                planner,
                metadata,
                validation_plan: default_rules_validation_plan(),
                executors: Arc::new(executors),
                headers_plan: Arc::new(headers_plan),
                // No subgraph response extensions reach the client (propagate: None).
                extensions_plan: Arc::new(ExtensionsPlan::default()),
                operation_names: Arc::new(OperationNameForwardConfig::None),
                subgraph_urls,
                options,
                subscription_thread: OnceLock::new(),
                operations: Mutex::new(LruCache::new(
                    NonZeroUsize::new(PREPARED_OPERATIONS).expect("a positive capacity"),
                )),
            }),
        })
    }

    /// Subgraph name → the URL the engine sends its fetches to.
    pub fn subgraph_urls(&self) -> &HashMap<String, String> {
        &self.inner.subgraph_urls
    }

    /// The supergraph's API schema (what clients see) as SDL.
    pub fn api_schema_sdl(&self) -> String {
        self.inner.planner.consumer_schema.document.to_string()
    }

    /// Runs a query or mutation and returns its GraphQL response body (`data`, `errors`).
    ///
    /// `headers` are the client's request headers; those named in
    /// [`EngineOptions::forwarded_headers`] (`Authorization`) go to every subgraph fetch.
    ///
    /// `Err` means nothing was executed: [`FederationError::is_request_error`] tells a request
    /// the client must fix (HTTP 400, body [`FederationError::response_body`]) from a gateway
    /// failure (HTTP 500). A subgraph that is down or answers with errors still gives `Ok`:
    /// the fields it owed are `null` (propagated per nullability) and `errors` says why, with
    /// `extensions.code` `SUBGRAPH_REQUEST_FAILURE` and `extensions.service`.
    #[tracing::instrument(skip_all, fields(operation = request.operation_name.as_deref()))]
    pub async fn execute(&self, request: GraphQLRequest, headers: HeaderMap) -> Result<ResponseBody, FederationError> {
        let prepared = self.prepare(&request)?;
        if matches!(prepared.operation.kind, OperationKind::Subscription) {
            return Err(FederationError::WrongOperationKind { actual: "subscription", expected: "query or mutation" });
        }
        match self.run(&request, &prepared, headers).await? {
            QueryPlanExecutionResult::Single(output) => String::from_utf8(output.body)
                .map(ResponseBody)
                .map_err(|e| FederationError::Execution(format!("executor produced invalid UTF-8: {e}"))),
            QueryPlanExecutionResult::Stream(_) => {
                Err(FederationError::Execution("executor streamed a query or mutation".into()))
            }
        }
    }

    /// Starts a subscription and returns its stream of GraphQL response bodies, one per event.
    ///
    /// The subscribed subgraph must serve subscriptions over HTTP: `text/event-stream`
    /// (graphql-sse distinct connections, as the node does) or Apollo's multipart protocol.
    /// Entity fields from other subgraphs are fetched for each event. Errors as in
    /// [`Engine::execute`]; a subgraph that cannot be reached, or that drops the stream, gives
    /// one last body with `errors` and the stream ends. Dropping the stream ends the
    /// subscription at the subgraph.
    ///
    /// The executor reads subgraph streams on tasks it spawns with `ntex::rt::spawn` (tokio's
    /// `spawn_local`), so subscriptions run on a thread of the engine's own (started on first
    /// use, inside a `LocalSet`); the returned stream is `Send` and can feed an axum SSE or
    /// WebSocket response directly.
    #[tracing::instrument(skip_all, fields(operation = request.operation_name.as_deref()))]
    pub async fn subscribe(
        &self,
        request: GraphQLRequest,
        headers: HeaderMap,
    ) -> Result<SubscriptionStream, FederationError> {
        let prepared = self.prepare(&request)?;
        if !matches!(prepared.operation.kind, OperationKind::Subscription) {
            return Err(FederationError::WrongOperationKind {
                actual: kind_name(&prepared.operation.kind),
                expected: "subscription",
            });
        }
        let thread = match self.inner.subscription_thread.get() {
            Some(thread) => thread,
            None => {
                let started = SubscriptionThread::start()?;
                // Two first subscriptions at once: the loser's thread ends as its sender drops.
                let _ = self.inner.subscription_thread.set(started);
                self.inner.subscription_thread.get().expect("set just above")
            }
        };
        let (started_tx, started_rx) = oneshot::channel::<Result<(), FederationError>>();
        let (events_tx, events_rx) = mpsc::channel::<ResponseBody>(SUBSCRIPTION_CHANNEL);
        let engine = self.clone();
        let job: LocalJob = Box::new(move || {
            Box::pin(async move {
                let output = match engine.run(&request, &prepared, headers).await {
                    Err(error) => {
                        let _ = started_tx.send(Err(error));
                        return;
                    }
                    Ok(QueryPlanExecutionResult::Single(output)) => {
                        // Answered at once (an executor-level failure rendered as a body).
                        let _ = started_tx.send(Ok(()));
                        let _ = events_tx.send(ResponseBody::from_executor(&output.body)).await;
                        return;
                    }
                    Ok(QueryPlanExecutionResult::Stream(output)) => output,
                };
                let _ = started_tx.send(Ok(()));
                let mut bodies = output.body;
                loop {
                    tokio::select! {
                        body = bodies.next() => match body {
                            Some(body) => {
                                if events_tx.send(ResponseBody::from_executor(&body)).await.is_err() {
                                    break;
                                }
                            }
                            None => break,
                        },
                        // The client went away: dropping `bodies` closes the subgraph stream.
                        () = events_tx.closed() => break,
                    }
                }
            })
        });
        thread.jobs.send(job).map_err(|_| FederationError::Execution("the subscription thread has stopped".into()))?;
        started_rx
            .await
            .map_err(|_| FederationError::Execution("the subscription ended before it started".into()))??;
        Ok(ReceiverStream::new(events_rx).boxed())
    }

    /// The kind of the operation `request` selects: `"query"`, `"mutation"` or
    /// `"subscription"`, for the transport to route it before running anything (GET allows
    /// queries only; subscriptions go to [`Engine::subscribe`]). Only parses: whatever else is
    /// wrong with the request, [`Engine::execute`] reports in full.
    pub fn operation_kind(request: &GraphQLRequest) -> Result<&'static str, FederationError> {
        use graphql_tools::parser::query::{Definition, OperationDefinition as Op};
        let document = safe_parse_operation(&request.query).map_err(parse_error)?;
        let operations: Vec<(Option<&str>, &'static str)> = document
            .definitions
            .iter()
            .filter_map(|definition| match definition {
                Definition::Operation(Op::SelectionSet(_)) => Some((None, "query")),
                Definition::Operation(Op::Query(q)) => Some((q.name.as_deref(), "query")),
                Definition::Operation(Op::Mutation(m)) => Some((m.name.as_deref(), "mutation")),
                Definition::Operation(Op::Subscription(s)) => Some((s.name.as_deref(), "subscription")),
                Definition::Fragment(_) => None,
            })
            .collect();
        let selected = match (&request.operation_name, operations.as_slice()) {
            (None, [(_, kind)]) => Some(*kind),
            (Some(wanted), _) => {
                operations.iter().find(|(name, _)| *name == Some(wanted.as_str())).map(|(_, kind)| *kind)
            }
            (None, _) => None,
        };
        selected.ok_or_else(|| {
            FederationError::Request(vec![RequestError::new(
                "OPERATION_RESOLUTION_FAILURE",
                match &request.operation_name {
                    Some(name) => format!("no operation named `{name}` in the document"),
                    None => "the document must hold exactly one operation, or operationName must name one".into(),
                },
            )])
        })
    }

    /// The request's prepared operation (from the cache, or prepared now) and its variables,
    /// checked against the operation's definitions.
    fn prepare(&self, request: &GraphQLRequest) -> Result<Prepared, FederationError> {
        let key: OperationKey = (request.query.clone(), request.operation_name.clone());
        let cached = self.inner.operations.lock().expect("operation cache lock").get(&key).cloned();
        let operation = match cached {
            Some(operation) => operation,
            None => {
                // Prepared outside the lock: two first requests for one text both plan, and
                // the second insert wins; neither waits on the other's planning.
                let operation = Arc::new(self.prepare_operation(request)?);
                self.inner.operations.lock().expect("operation cache lock").put(key, operation.clone());
                operation
            }
        };
        let request_error = |code, message: String| FederationError::Request(vec![RequestError::new(code, message)]);
        // Through JSON text, not `sonic_rs::to_value`: with serde_json's `arbitrary_precision`
        // (which the DID crates turn on for the whole build) a serde_json number serialises as
        // a private map, and every `Int` variable would be refused as an object.
        let mut variables: HashMap<String, sonic_rs::Value> = match &request.variables {
            serde_json::Value::Null => HashMap::new(),
            serde_json::Value::Object(_) => sonic_rs::from_str(&request.variables.to_string())
                .map_err(|e| request_error("BAD_REQUEST", format!("variables: {e}")))?,
            _ => return Err(request_error("BAD_REQUEST", "variables must be a JSON object".into())),
        };
        // Validates the values against the variable definitions and fills in defaults; values
        // pass through as given (no coercion: `Int` must be a JSON integer, and input objects
        // are not checked field by field, the owning subgraph does that).
        let variables = collect_variables(&operation.operation_for_plan, &mut variables, &self.inner.metadata)
            .map_err(|e| request_error("BAD_USER_INPUT", e.to_string()))?;
        Ok(Prepared { operation, variables: Arc::new(CoerceVariablesPayload { variables_map: variables }) })
    }

    /// Parse, validate, normalise, split off introspection, plan.
    fn prepare_operation(&self, request: &GraphQLRequest) -> Result<PreparedOperation, FederationError> {
        let inner = &*self.inner;
        let request_error = |code, message: String| FederationError::Request(vec![RequestError::new(code, message)]);

        let document = safe_parse_operation(&request.query).map_err(parse_error)?;
        let errors = validate(&inner.planner.consumer_schema.document, &document, &inner.validation_plan);
        if !errors.is_empty() {
            return Err(FederationError::Request(
                errors
                    .iter()
                    .map(|e| RequestError {
                        message: e.message.clone(),
                        locations: e.locations.iter().map(|p| (p.line, p.column)).collect(),
                        code: "GRAPHQL_VALIDATION_FAILED",
                    })
                    .collect(),
            ));
        }
        let normalized = normalize_operation(&inner.planner.supergraph, &document, request.operation_name.as_deref())
            .map_err(|e| request_error("OPERATION_RESOLUTION_FAILURE", e.to_string()))?;
        let operation = normalized.operation;
        let kind = operation.operation_kind.clone().unwrap_or(OperationKind::Query);
        let (root_type_name, projection_plan) = FieldProjectionPlan::from_operation(&operation, &inner.metadata);
        let root_type_name = root_type_name.to_owned();
        let partitioned = partition_operation(operation);
        if partitioned.introspection_operation.is_some() && !inner.options.introspection {
            return Err(request_error("INTROSPECTION_DISABLED", "introspection is disabled".into()));
        }

        let operation_for_plan = partitioned.downstream_operation;
        // An operation that only asks for introspection (or `__typename`) has nothing to fetch;
        // the planner would fail on an empty selection.
        let plan = if operation_for_plan.selection_set.is_empty() {
            QueryPlan { kind: QUERY_PLAN_KIND, node: None }
        } else {
            inner
                .planner
                .plan_from_normalized_operation(
                    &operation_for_plan,
                    Default::default(),
                    &CancellationToken::with_timeout(inner.options.planning_timeout),
                )
                .map_err(|e| FederationError::Planning(e.to_string()))?
        };
        tracing::debug!(plan = %serde_json::to_string(&plan).unwrap_or_default(), "query plan");

        Ok(PreparedOperation {
            kind,
            operation_name: normalized.operation_name,
            root_type_name,
            projection_plan: Arc::new(projection_plan),
            operation_for_plan: Arc::new(operation_for_plan),
            introspection: partitioned.introspection_operation.map(Arc::new),
            plan,
        })
    }

    async fn run(
        &self,
        request: &GraphQLRequest,
        prepared: &Prepared,
        headers: HeaderMap,
    ) -> Result<QueryPlanExecutionResult, FederationError> {
        let inner = &*self.inner;
        // The executor reads the client's request through this (header rules, URL and timeout
        // expressions); the method and URL are placeholders since none of those use them here.
        let method = Method::POST;
        let url = Uri::from_static("/graphql");
        let client_request = ClientRequestDetails {
            method: &method,
            url: &url,
            headers: Arc::new(headers.into()),
            operation: OperationDetails {
                name: prepared.operation.operation_name.as_deref(),
                query: &request.query,
                kind: kind_name(&prepared.operation.kind),
            },
            jwt: Arc::new(JwtRequestDetails::Unauthenticated),
            path_params: PathParams::default(),
        };
        let introspection_context = IntrospectionContext {
            query: prepared.operation.introspection.clone(),
            schema: inner.planner.consumer_schema.document.clone(),
            metadata: inner.metadata.clone(),
            variables: prepared.variables.clone(),
        };
        let opts = QueryPlanExecutionOpts {
            query_plan: &prepared.operation.plan,
            operation_for_plan: prepared.operation.operation_for_plan.clone(),
            projection_plan: prepared.operation.projection_plan.clone(),
            headers_plan: inner.headers_plan.clone(),
            extensions_plan: inner.extensions_plan.clone(),
            variable_values: prepared.variables.clone(),
            extensions: ExecutionResultExtensions::default(),
            client_request: Arc::new(client_request),
            introspection_context: Arc::new(introspection_context),
            operation_type_name: prepared.operation.root_type_name.clone(),
            operation_kind: prepared.operation.kind.clone(),
            executors: inner.executors.clone(),
            jwt_auth_forwarding: None,
            graphql_error_recorder: None,
            demand_control_context: None,
            initial_errors: Vec::new(),
            span: GraphQLOperationSpan::default(),
            plugin_req_state: None,
            operation_name_factory: OperationNameFactory::new(
                inner.operation_names.clone(),
                prepared.operation.operation_name.as_deref(),
            ),
            response_header_sink: ResponseHeaderSink::default(),
            error_masking_runtime: Arc::new(None),
            connection_fingerprint: None,
        };
        execute_query_plan(opts).await.map_err(|e| FederationError::Execution(e.to_string()))
    }
}

/// The executor builds its TLS client with `rustls::ClientConfig::builder()`, which needs a
/// process-wide crypto provider once both ring (reqwest) and aws-lc-rs (the executor's
/// hyper-rustls) are compiled in: without one it panics. Installs ring unless something else
/// already installed a provider (which then stays).
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn parse_error(error: graphql_tools::parser::query::ParseError) -> FederationError {
    let position = error.0.position;
    FederationError::Request(vec![RequestError {
        message: format!("syntax error: {error}").replace('\n', " ").trim().to_owned(),
        locations: vec![(position.line, position.column)],
        code: "GRAPHQL_PARSE_FAILED",
    }])
}

/// Events waiting for a slow client; beyond it the executor's own buffer (1024 events per
/// subgraph subscription) takes over, and that one drops the newest events when full.
const SUBSCRIPTION_CHANNEL: usize = 64;

fn subgraph_timeout(timeout: Duration) -> TrafficShapingExecutorSubgraphConfig {
    TrafficShapingExecutorSubgraphConfig {
        pool_idle_timeout: None,
        dedupe_enabled: None,
        request_timeout: Some(DurationOrExpression::Duration(timeout)),
        circuit_breaker: None,
        tls: None,
        allow_only_http2: None,
        forward_operation_name: None,
        websocket: None,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("the planner panicked: {message}")
}
