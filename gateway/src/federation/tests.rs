//! The engine against two in-process async-graphql subgraphs: `node` owns `Operator`
//! (`@key(fields: "country tin")`) and `Query.operator`, `risk` adds `Operator.riskScore`
//! through its entity resolver.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_graphql::{EmptyMutation, EmptySubscription, Object, ObjectType, Schema, SimpleObject, SubscriptionType};
use axum::Json;
use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, header};
use serde_json::json;

use super::{CompositionError, Engine, EngineOptions, FederationError, GraphQLRequest, Subgraph, compose};

#[derive(SimpleObject, Clone)]
struct Operator {
    country: String,
    tin: String,
    legal_name: Option<String>,
}

fn operator(country: &str, tin: &str) -> Operator {
    Operator { country: country.into(), tin: tin.into(), legal_name: Some(format!("{country}-{tin} S.A.")) }
}

struct NodeQuery;

/// Federation SDL prints no `schema {}` block: the root types must carry the default names.
#[Object(name = "Query")]
impl NodeQuery {
    async fn operator(&self, country: String, tin: String) -> Option<Operator> {
        Some(operator(&country, &tin))
    }

    /// Echoes its arguments. (No `Float`: async-graphql itself refuses fractional variables
    /// when serde_json's `arbitrary_precision` is on, async-graphql#1719; the node has none.)
    async fn echo(&self, count: i32, big: i64, flag: bool, names: Vec<String>) -> String {
        format!("{count} {big} {flag} {}", names.join(","))
    }

    #[graphql(entity)]
    async fn find_operator(&self, country: String, tin: String) -> Operator {
        operator(&country, &tin)
    }
}

struct NodeSubscription;

#[async_graphql::Subscription(name = "Subscription")]
impl NodeSubscription {
    async fn operator_changed(&self) -> impl Stream<Item = Operator> {
        futures::stream::iter([operator("MX", "X"), operator("CO", "Y")])
    }
}

/// `Operator` as the risk subgraph sees it: the key and its own field.
#[derive(SimpleObject)]
#[graphql(name = "Operator")]
struct RiskOperator {
    country: String,
    tin: String,
    risk_score: Option<i32>,
}

struct RiskQuery;

#[Object(name = "Query")]
impl RiskQuery {
    /// A root field of its own: a subgraph's `Query` cannot be empty.
    async fn risk_model(&self) -> &'static str {
        "v1"
    }

    #[graphql(entity)]
    async fn find_operator(&self, country: String, tin: String) -> RiskOperator {
        let risk_score = Some(if country == "MX" { 42 } else { 7 });
        RiskOperator { country, tin, risk_score }
    }
}

/// A subgraph served by axum on a free port: POST JSON, or `text/event-stream` (graphql-sse
/// distinct connections, as the node serves) when asked for.
struct TestSubgraph {
    url: String,
    /// The headers of every request it received.
    requests: Arc<Mutex<Vec<HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestSubgraph {
    /// The `Authorization` header of every request it received.
    fn authorizations(&self) -> Vec<Option<String>> {
        let requests = self.requests.lock().unwrap();
        requests.iter().map(|h| h.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_owned())).collect()
    }
}

impl Drop for TestSubgraph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<Q, M, S>(schema: Schema<Q, M, S>, delay: Duration) -> TestSubgraph
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let handler = move |headers: HeaderMap, Json(request): Json<async_graphql::Request>| {
        let schema = schema.clone();
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(headers.clone());
            tokio::time::sleep(delay).await;
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept.contains("text/event-stream") {
                let events = schema
                    .execute_stream(request)
                    .map(|response| Ok::<_, Infallible>(Event::default().event("next").json_data(response).unwrap()))
                    .chain(futures::stream::once(async { Ok(Event::default().event("complete").data("")) }));
                return Sse::new(events).into_response();
            }
            Json(schema.execute(request).await).into_response()
        }
    };
    let app = axum::Router::new().route("/graphql", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestSubgraph { url, requests, task }
}

fn node_schema() -> Schema<NodeQuery, EmptyMutation, NodeSubscription> {
    Schema::build(NodeQuery, EmptyMutation, NodeSubscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .finish()
}

fn risk_schema() -> Schema<RiskQuery, EmptyMutation, EmptySubscription> {
    Schema::build(RiskQuery, EmptyMutation, EmptySubscription).enable_federation().finish()
}

/// What `_service { sdl }` answers (as `cadena schema print` does for the node).
fn federation_sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    schema.sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

/// A URL where nothing listens: a port the OS just handed out and took back.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}/graphql")
}

async fn supergraph(node_url: &str, risk_url: &str) -> String {
    compose(&[
        Subgraph { name: "node".into(), url: node_url.into(), sdl: federation_sdl(&node_schema()) },
        Subgraph { name: "risk".into(), url: risk_url.into(), sdl: federation_sdl(&risk_schema()) },
    ])
    .await
    .expect("the two subgraphs compose")
}

fn request(query: &str, variables: serde_json::Value) -> GraphQLRequest {
    GraphQLRequest { query: query.into(), operation_name: None, variables }
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    // Not in forwarded_headers: must stay at the gateway.
    headers.insert("x-internal", HeaderValue::from_static("secret"));
    headers
}

#[tokio::test]
async fn federated_query_joins_both_subgraphs_and_forwards_authorization() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();

    let body = engine
        .execute(
            request(r#"{ operator(country:"MX", tin:"X") { legalName riskScore } }"#, json!(null)),
            bearer("t0k3n"),
        )
        .await
        .unwrap()
        .to_value();
    assert_eq!(body, json!({ "data": { "operator": { "legalName": "MX-X S.A.", "riskScore": 42 } } }));
    assert_eq!(node.authorizations(), [Some("Bearer t0k3n".to_owned())]);
    assert_eq!(risk.authorizations(), [Some("Bearer t0k3n".to_owned())]);
    assert!(!node.requests.lock().unwrap()[0].contains_key("x-internal"), "only forwarded_headers pass");

    // Variables, an operation name among several, aliases and __typename.
    let body = engine
        .execute(
            GraphQLRequest {
                query: r#"query A($c: String!, $t: String!) { op: operator(country: $c, tin: $t) { __typename tin riskScore } }
                          query B { riskModel }"#
                    .into(),
                operation_name: Some("A".into()),
                variables: json!({ "c": "CO", "t": "Y" }),
            },
            HeaderMap::new(),
        )
        .await
        .unwrap().to_value();
    assert_eq!(body, json!({ "data": { "op": { "__typename": "Operator", "tin": "Y", "riskScore": 7 } } }));
    // No Authorization from the client: none reaches the subgraph.
    assert_eq!(node.authorizations().last().unwrap(), &None);
}

#[tokio::test]
async fn fields_come_back_in_the_order_the_operation_selected_them() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();
    let query = r#"{ operator(country:"MX", tin:"X") { tin riskScore legalName country } riskModel }"#;
    let body = engine.execute(request(query, json!(null)), HeaderMap::new()).await.unwrap();
    assert_eq!(
        body.as_str(),
        r#"{"data":{"operator":{"tin":"X","riskScore":42,"legalName":"MX-X S.A.","country":"MX"},"riskModel":"v1"}}"#
    );
    // Serialised (inside a WebSocket message, say), the body stays as it is.
    assert_eq!(serde_json::to_string(&body).unwrap(), body.as_str());
}

#[tokio::test]
async fn a_prepared_operation_is_reused_with_each_requests_own_variables_and_operation() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();
    let document = r#"query A($c: String!, $t: String!) { operator(country: $c, tin: $t) { legalName } }
                      query B { riskModel }"#;
    let run = |name: &str, variables: serde_json::Value| {
        let request = GraphQLRequest { query: document.into(), operation_name: Some(name.into()), variables };
        engine.execute(request, HeaderMap::new())
    };
    // The same text three times: each answer follows its own variables.
    for (country, tin) in [("MX", "X"), ("CO", "Y"), ("MX", "X")] {
        let body = run("A", json!({ "c": country, "t": tin })).await.unwrap().to_value();
        assert_eq!(body["data"]["operator"]["legalName"], format!("{country}-{tin} S.A."));
    }
    // The same text naming the other operation is another prepared operation.
    assert_eq!(run("B", json!(null)).await.unwrap().to_value(), json!({ "data": { "riskModel": "v1" } }));
    // Missing variables are refused every time, prepared operation or not.
    for _ in 0..2 {
        let missing = run("A", json!({ "c": "MX" })).await;
        assert!(matches!(&missing, Err(FederationError::Request(e)) if e[0].code == "BAD_USER_INPUT"), "{missing:?}");
    }
}

#[tokio::test]
async fn variables_of_every_json_kind_reach_the_subgraph() {
    // serde_json's `arbitrary_precision` is on in this build (the DID crates want it): numbers
    // must still reach the planner as numbers, not as serde_json's private map.
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();
    let query =
        "query($n: Int!, $b: Int!, $f: Boolean!, $s: [String!]!) { echo(count: $n, big: $b, flag: $f, names: $s) }";
    let body = engine
        .execute(
            request(query, json!({ "n": 42, "b": -2_000_000_000, "f": true, "s": ["MX", "CO"] })),
            HeaderMap::new(),
        )
        .await
        .unwrap()
        .to_value();
    assert_eq!(body, json!({ "data": { "echo": "42 -2000000000 true MX,CO" } }));
    let wrong =
        engine.execute(request(query, json!({ "n": "42", "b": 1, "f": true, "s": [] })), HeaderMap::new()).await;
    assert!(matches!(&wrong, Err(FederationError::Request(e)) if e[0].code == "BAD_USER_INPUT"), "{wrong:?}");
}

#[tokio::test]
async fn request_errors_are_not_execution_results() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();

    let syntax = engine.execute(request("{ operator(country: ", json!(null)), HeaderMap::new()).await.unwrap_err();
    assert!(syntax.is_request_error(), "{syntax}");
    let FederationError::Request(errors) = &syntax else { panic!("{syntax:?}") };
    assert_eq!(errors[0].code, "GRAPHQL_PARSE_FAILED");
    assert_eq!(syntax.response_body()["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");

    let invalid =
        engine.execute(request("{ operator(country: \"MX\") { nope } }", json!(null)), HeaderMap::new()).await;
    let Err(FederationError::Request(errors)) = &invalid else { panic!("{invalid:?}") };
    assert!(errors.iter().all(|e| e.code == "GRAPHQL_VALIDATION_FAILED"), "{errors:?}");
    assert!(errors.iter().any(|e| e.message.contains("nope")), "{errors:?}");
    assert!(!errors[0].locations.is_empty());

    let missing = engine
        .execute(
            request("query($c: String!) { operator(country: $c, tin: \"X\") { tin } }", json!({})),
            HeaderMap::new(),
        )
        .await;
    let Err(FederationError::Request(errors)) = &missing else { panic!("{missing:?}") };
    assert_eq!(errors[0].code, "BAD_USER_INPUT");

    let unknown = engine
        .execute(
            GraphQLRequest {
                query: "query A { riskModel }".into(),
                operation_name: Some("B".into()),
                ..Default::default()
            },
            HeaderMap::new(),
        )
        .await;
    assert!(unknown.as_ref().is_err_and(FederationError::is_request_error), "{unknown:?}");

    let subscription =
        engine.execute(request("subscription { operatorChanged { tin } }", json!(null)), HeaderMap::new()).await;
    assert!(
        matches!(subscription, Err(FederationError::WrongOperationKind { actual: "subscription", .. })),
        "{subscription:?}"
    );
    // None of these reached a subgraph.
    assert!(node.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_subgraph_that_is_down_gives_a_partial_result() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &dead_url().await).await, HashMap::new()).unwrap();

    let body = engine
        .execute(
            request(r#"{ operator(country:"MX", tin:"X") { legalName riskScore } }"#, json!(null)),
            HeaderMap::new(),
        )
        .await
        .unwrap()
        .to_value();
    assert_eq!(body["data"], json!({ "operator": { "legalName": "MX-X S.A.", "riskScore": null } }), "{body}");
    let errors = body["errors"].as_array().expect("an error for the risk subgraph");
    assert!(!errors.is_empty(), "{body}");
    assert_eq!(errors[0]["extensions"]["service"], "risk", "{body}");
}

#[tokio::test]
async fn overrides_and_per_subgraph_timeouts() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let slow_risk = serve(risk_schema(), Duration::from_secs(5)).await;
    // The supergraph records dead URLs; the overrides point at the live subgraphs.
    let sdl = supergraph(&dead_url().await, &dead_url().await).await;
    let options = EngineOptions {
        subgraph_urls: HashMap::from([("node".into(), node.url.clone()), ("risk".into(), slow_risk.url.clone())]),
        subgraph_timeouts: HashMap::from([("risk".into(), Duration::from_millis(300))]),
        ..EngineOptions::default()
    };
    let engine = Engine::with_options(&sdl, options).unwrap();
    assert_eq!(engine.subgraph_urls()["node"], node.url);

    let started = Instant::now();
    let body = engine
        .execute(
            request(r#"{ operator(country:"MX", tin:"X") { legalName riskScore } }"#, json!(null)),
            HeaderMap::new(),
        )
        .await
        .unwrap()
        .to_value();
    assert!(started.elapsed() < Duration::from_secs(3), "risk's 300 ms limit applied: {:?}", started.elapsed());
    assert_eq!(body["data"]["operator"], json!({ "legalName": "MX-X S.A.", "riskScore": null }), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "SUBGRAPH_REQUEST_TIMEOUT", "{body}");

    let unknown = Engine::new(&sdl, HashMap::from([("nope".into(), node.url.clone())]));
    assert!(matches!(unknown, Err(FederationError::UnknownSubgraph(name)) if name == "nope"));
}

#[tokio::test]
async fn introspection_is_answered_by_the_gateway() {
    let sdl = supergraph(&dead_url().await, &dead_url().await).await;
    let engine = Engine::new(&sdl, HashMap::new()).unwrap();
    let body = engine
        .execute(
            request(r#"{ __schema { queryType { name } } __type(name: "Operator") { fields { name } } }"#, json!(null)),
            HeaderMap::new(),
        )
        .await
        .unwrap()
        .to_value();
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query", "{body}");
    let fields: Vec<&str> =
        body["data"]["__type"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(fields.contains(&"legalName") && fields.contains(&"riskScore"), "{fields:?}");
    // The API schema has no federation internals.
    assert!(!engine.api_schema_sdl().contains("join__"));

    let closed =
        Engine::with_options(&sdl, EngineOptions { introspection: false, ..EngineOptions::default() }).unwrap();
    let refused = closed.execute(request("{ __schema { queryType { name } } }", json!(null)), HeaderMap::new()).await;
    assert!(refused.as_ref().is_err_and(FederationError::is_request_error), "{refused:?}");
}

#[tokio::test]
async fn subscriptions_stream_over_sse_with_entity_fields_from_other_subgraphs() {
    let node = serve(node_schema(), Duration::ZERO).await;
    let risk = serve(risk_schema(), Duration::ZERO).await;
    let engine = Engine::new(&supergraph(&node.url, &risk.url).await, HashMap::new()).unwrap();

    let stream = engine
        .subscribe(request("subscription { operatorChanged { tin legalName riskScore } }", json!(null)), bearer("sub"))
        .await
        .unwrap();
    let events: Vec<serde_json::Value> =
        tokio::time::timeout(Duration::from_secs(10), stream.map(|body| body.to_value()).collect()).await.unwrap();
    assert_eq!(
        events,
        [
            json!({ "data": { "operatorChanged": { "tin": "X", "legalName": "MX-X S.A.", "riskScore": 42 } } }),
            json!({ "data": { "operatorChanged": { "tin": "Y", "legalName": "CO-Y S.A.", "riskScore": 7 } } }),
        ]
    );
    assert_eq!(node.authorizations(), [Some("Bearer sub".to_owned())]);
    assert_eq!(risk.authorizations(), [Some("Bearer sub".to_owned()), Some("Bearer sub".to_owned())]);

    let not_a_subscription = engine.subscribe(request("{ riskModel }", json!(null)), HeaderMap::new()).await;
    assert!(not_a_subscription.is_err_and(|e| e.is_request_error()));
}

#[tokio::test]
async fn composition_errors_carry_the_composers_messages() {
    let broken = compose(&[
        Subgraph { name: "a".into(), url: "http://127.0.0.1:1/graphql".into(), sdl: "type Query { a: Int }".into() },
        Subgraph { name: "b".into(), url: "http://127.0.0.1:2/graphql".into(), sdl: "type Query { a: String }".into() },
    ])
    .await;
    let Err(FederationError::Composition(errors)) = broken else { panic!("{broken:?}") };
    assert!(errors.iter().any(|e| e.code.as_deref() == Some("FIELD_TYPE_MISMATCH")), "{errors:?}");

    let syntax =
        compose(&[Subgraph { name: "a".into(), url: "http://127.0.0.1:1/graphql".into(), sdl: "type Query {".into() }])
            .await;
    let Err(FederationError::Composition(errors)) = syntax else { panic!("{syntax:?}") };
    assert!(matches!(&errors[..], [CompositionError { subgraph: Some(name), .. }] if name == "a"), "{errors:?}");
}

#[tokio::test]
async fn the_node_subgraph_sdl_composes_and_plans() {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/node.graphql")).unwrap();
    let supergraph = compose(&[Subgraph { name: "mx".into(), url: dead_url().await, sdl }]).await.unwrap();
    let engine = Engine::new(&supergraph, HashMap::new()).unwrap();
    // Planning succeeds; the fetch fails (nothing listens) and says so in the body.
    let body = engine.execute(request("{ issuerDid }", json!(null)), HeaderMap::new()).await.unwrap().to_value();
    assert_eq!(body["errors"][0]["extensions"]["service"], "mx", "{body}");
}

/// The engine lives in axum state and its futures run in axum handlers: all must be `Send`.
#[test]
fn engine_and_its_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Engine>();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sdl = runtime.block_on(async { supergraph(&dead_url().await, &dead_url().await).await });
    drop(runtime);
    // Outside any runtime, as at start-up before serving.
    let engine = Engine::new(&sdl, HashMap::new()).unwrap();
    send(&engine.execute(GraphQLRequest::default(), HeaderMap::new()));
    send(&engine.subscribe(GraphQLRequest::default(), HeaderMap::new()));
}

#[test]
fn a_bad_supergraph_is_an_error_not_a_panic() {
    assert!(matches!(Engine::new("type Query {", HashMap::new()), Err(FederationError::Supergraph(_))));
    assert!(matches!(Engine::new("type Query { a: Int }", HashMap::new()), Err(FederationError::Supergraph(_))));
}

#[test]
fn operation_kind_routes_without_executing() {
    let kind = |query: &str, name: Option<&str>| {
        Engine::operation_kind(&GraphQLRequest {
            query: query.into(),
            operation_name: name.map(Into::into),
            variables: json!(null),
        })
    };
    assert_eq!(kind("{ a }", None).unwrap(), "query");
    assert_eq!(kind("mutation M { a } subscription S { b }", Some("S")).unwrap(), "subscription");
    assert_eq!(kind("fragment F on Q { a } mutation { ...F }", None).unwrap(), "mutation");
    assert!(kind("query A { a } query B { b }", None).unwrap_err().is_request_error());
    assert!(kind("query A { a }", Some("B")).unwrap_err().is_request_error());
    assert!(kind("{ a", None).unwrap_err().is_request_error());
}

/// Built by hand because the response shape is what the HTTP layer relies on.
#[test]
fn request_errors_render_as_graphql_errors() {
    let error = FederationError::Request(vec![super::RequestError {
        message: "bad".into(),
        locations: vec![(1, 3)],
        code: "GRAPHQL_VALIDATION_FAILED",
    }]);
    assert_eq!(
        error.response_body(),
        json!({ "errors": [{ "message": "bad", "locations": [{ "line": 1, "column": 3 }],
                             "extensions": { "code": "GRAPHQL_VALIDATION_FAILED" } }] })
    );
    let internal = FederationError::Planning("x".into());
    assert!(!internal.is_request_error());
    assert_eq!(internal.response_body()["errors"][0]["extensions"]["code"], "INTERNAL_SERVER_ERROR");
}
