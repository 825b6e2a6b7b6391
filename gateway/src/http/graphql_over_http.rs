//! GraphQL over HTTP, following the GraphQL-over-HTTP specification rather than
//! async-graphql-axum (which always answers 200 with one media type), and GraphQL over SSE
//! (graphql-sse's "distinct connections" mode). The node and `cadena gateway` both serve
//! through this module: it reads and checks requests and writes responses; each server only
//! runs the operation.
//!
//! - `Accept` picks `application/graphql-response+json`, `application/json` (the default
//!   when the client states neither) or `text/event-stream`; anything else is 406.
//! - A request that is not a well-formed GraphQL-over-HTTP request (body not JSON, no `query`,
//!   a parameter of the wrong type) is 400; an invalid token is 401.
//! - A GraphQL request error (the document does not parse or validate, a variable does not
//!   coerce, an operation limit is exceeded) is `{"errors": [...]}` without `data`: 400 for
//!   `application/graphql-response+json`, and 200 for `application/json`, as the spec asks,
//!   since legacy clients read the body only on 200. Field errors during execution are 200
//!   with `data` and `errors`.
//! - GET runs queries (and subscriptions over SSE); a mutation over GET is 405 (GET must be
//!   safe to repeat and cache).
//! - POST needs `Content-Type: application/json` (415 otherwise); bodies are capped (413).
//! - `text/event-stream` answers every operation as `next` events and then `complete`; a
//!   GraphQL request error is a `next` event too (the SSE protocol: a 400 would fail the
//!   client's connection without telling why). A WebSocket upgrade hands over to
//!   [`super::subscriptions`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cadena_credentials::json::{self, JsonError};
use cadena_resolvers::graphql::{ClientAddress, RequestPrincipal, json_to_graphql};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::authentication::{authenticate_header, authorization};
use super::subscriptions;
use crate::node::Node;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";

/// The response media type the client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MediaType {
    GraphqlResponseJson,
    Json,
    EventStream,
}

impl MediaType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MediaType::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            MediaType::Json => JSON,
            MediaType::EventStream => EVENT_STREAM,
        }
    }

    /// The status of a GraphQL request error (nothing executed): only a client that accepts
    /// `application/graphql-response+json` knows to read a 4xx body as a GraphQL response.
    fn request_error_status(self) -> StatusCode {
        match self {
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            MediaType::Json | MediaType::EventStream => StatusCode::OK,
        }
    }
}

/// Picks the first acceptable media type in the client's order of listing.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    for range in accept.split(',') {
        let media = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(MediaType::GraphqlResponseJson),
            JSON | "application/*" | "*/*" => return Some(MediaType::Json),
            EVENT_STREAM => return Some(MediaType::EventStream),
            _ => {}
        }
    }
    None
}

/// A request refused before it is a GraphQL request at all: answered with its status and one
/// error in JSON ([`request_error`]).
#[derive(Debug)]
pub(crate) struct Refused {
    status: StatusCode,
    media: MediaType,
    code: &'static str,
    message: String,
}

impl Refused {
    fn bad_request(media: MediaType, message: String) -> Refused {
        Refused { status: StatusCode::BAD_REQUEST, media, code: "BAD_REQUEST", message }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        request_error(self.status, self.media, self.code, self.message)
    }
}

/// The negotiated media type, or the 406 refusal.
pub(crate) fn accepted_media(headers: &HeaderMap) -> Result<MediaType, Refused> {
    negotiate(headers).ok_or_else(|| Refused {
        status: StatusCode::NOT_ACCEPTABLE,
        media: MediaType::Json,
        code: "NOT_ACCEPTABLE",
        message: "accept application/graphql-response+json, application/json or text/event-stream".into(),
    })
}

/// A request-level error response: `{"errors": [{"message", "extensions": {"code"}}]}`. It
/// answers before any stream opens, so it is JSON even to an SSE client.
pub(crate) fn request_error(status: StatusCode, media: MediaType, code: &str, message: impl Into<String>) -> Response {
    let mut response = (status, error_body(code, message)).into_response();
    let media = if media == MediaType::EventStream { MediaType::Json } else { media };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `{"errors": [{"message", "extensions": {"code"}}]}`.
fn error_body(code: &str, message: impl Into<String>) -> String {
    json!({ "errors": [{ "message": message.into(), "extensions": { "code": code } }] }).to_string()
}

/// A GraphQL request error with one error, in the negotiated media type.
pub(crate) fn graphql_request_error(media: MediaType, code: &str, message: impl Into<String>) -> Response {
    graphql_response(media, error_body(code, message), false)
}

/// The 405 answer to a mutation over GET.
pub(crate) fn mutation_over_get(media: MediaType) -> Response {
    let mut response =
        request_error(StatusCode::METHOD_NOT_ALLOWED, media, "METHOD_NOT_ALLOWED", "mutations must be sent with POST");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// A GraphQL response body (JSON text) in the negotiated media type. `executed` is false for
/// a GraphQL request error (the body then has `errors` and no `data`).
pub(crate) fn graphql_response(media: MediaType, body: String, executed: bool) -> Response {
    if media == MediaType::EventStream {
        return event_stream(futures::stream::once(async { (None, body) }));
    }
    let status = if executed { StatusCode::OK } else { media.request_error_status() };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    response
}

/// GraphQL over SSE, distinct connections mode: each body a `next` event (with its `id:` when
/// it has one), then `complete` (with an empty `data`, which `EventSource` needs to dispatch it).
pub(crate) fn event_stream(bodies: impl Stream<Item = (Option<String>, String)> + Send + 'static) -> Response {
    let events = bodies
        .map(|(id, body)| {
            let event = Event::default().event("next").data(body);
            Ok::<_, Infallible>(match id {
                Some(id) => event.id(id),
                None => event,
            })
        })
        .chain(futures::stream::once(async { Ok(Event::default().event("complete").data("")) }));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// The parameters of a GraphQL request, checked: what the node and the gateway execute.
#[derive(Debug)]
pub(crate) struct GraphqlParams {
    pub(crate) query: String,
    pub(crate) operation_name: Option<String>,
    pub(crate) variables: Option<Map<String, Value>>,
}

/// The JSON body of a GraphQL request (POST body, or GET parameters decoded into it), before
/// its fields' types are checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawParams {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
}

impl RawParams {
    /// Checks each field's type, naming the field that is wrong.
    fn check(self) -> Result<GraphqlParams, String> {
        let query = match self.query {
            Some(Value::String(q)) => q,
            Some(_) => return Err("`query` must be a string".into()),
            None => return Err("`query` is required".into()),
        };
        let operation_name = match self.operation_name {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err("`operationName` must be a string or null".into()),
        };
        let object = |field: &str, value: Option<Value>| match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(format!("`{field}` must be an object or null")),
        };
        // `extensions` must be well-formed, as the spec asks; nothing reads it yet.
        object("extensions", self.extensions)?;
        Ok(GraphqlParams { query, operation_name, variables: object("variables", self.variables)? })
    }
}

/// A POST request's parameters: `Content-Type: application/json` (415), a body within the
/// limit (413) holding a JSON object with a string `query` (400).
pub(crate) async fn read_post(request: Request, media: MediaType) -> Result<GraphqlParams, Refused> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type != JSON {
        return Err(Refused {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            code: "UNSUPPORTED_MEDIA_TYPE",
            message: "send the request as Content-Type: application/json".into(),
        });
    }
    let bytes = Bytes::from_request(request, &()).await.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { "BAD_REQUEST" };
        Refused { status, media, code, message: format!("request body: {}", rejection.body_text()) }
    })?;
    let bad_request = |message: String| Refused::bad_request(media, message);
    let raw: RawParams = json::from_slice_as(&bytes).map_err(|e| match e {
        JsonError::PrivateKey { .. } => bad_request(format!("request body: {e}")),
        e => bad_request(format!("request body is not a GraphQL request object: {e}")),
    })?;
    raw.check().map_err(bad_request)
}

/// A GET request's parameters, from its query string (`variables` and `extensions` as JSON).
pub(crate) fn read_get(uri: &Uri, media: MediaType) -> Result<GraphqlParams, Refused> {
    let bad_request = |message: String| Refused::bad_request(media, message);
    let Query(params) = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|e| bad_request(format!("query string: {}", e.body_text())))?;
    let json_param = |name: &str| {
        params.get(name).map(|raw| json::from_str(raw).map_err(|e| format!("`{name}` is not JSON: {e}"))).transpose()
    };
    let raw = RawParams {
        query: params.get("query").cloned().map(Value::String),
        operation_name: params.get("operationName").cloned().map(Value::String),
        variables: json_param("variables").map_err(bad_request)?,
        extensions: json_param("extensions").map_err(bad_request)?,
    };
    raw.check().map_err(bad_request)
}

/// The async-graphql request for checked parameters.
fn node_request(params: GraphqlParams) -> async_graphql::Request {
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        // One to one, not through serde: numbers keep their text (see `cadena_resolvers::graphql::Json`).
        request = request.variables(async_graphql::Variables::from_value(json_to_graphql(&Value::Object(variables))));
    }
    request
}

/// A response whose `data` is absent: the request never executed (parse, validation or limit
/// error). Field errors always carry a path; these never do.
pub(crate) fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Runs one request on the node and encodes the result per the negotiated media type.
async fn execute(
    node: &Node,
    headers: &HeaderMap,
    media: MediaType,
    params: GraphqlParams,
    client: ClientAddress,
) -> Response {
    let request = node_request(params).data(client);
    if media == MediaType::EventStream {
        return subscriptions::sse(node.clone(), headers, request).await;
    }
    let principal = match authenticate_header(&node.services, authorization(headers)).await {
        Ok(p) => p,
        Err(e) => return request_error(StatusCode::UNAUTHORIZED, media, e.code(), e.to_string()),
    };
    let request = request.data(RequestPrincipal(principal));
    let operation = operation_label(request.operation_name.as_deref()).to_owned();
    let started = std::time::Instant::now();
    let response = node.schema.execute(request).await;
    cadena_resolvers::metrics::GRAPHQL_DURATION
        .with_label_values(&[&operation])
        .observe(started.elapsed().as_secs_f64());
    graphql_response(media, response_body(&response), !is_request_error(&response))
}

/// A client's operation name as a metric label: names are the client's to choose, so a
/// label holds a plausible name or `other` (the series stay few), and `anonymous` for none.
fn operation_label(name: Option<&str>) -> &str {
    match name {
        None => "anonymous",
        Some(name) if name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => name,
        Some(_) => "other",
    }
}

/// The JSON text of an async-graphql response; without `data` when the request never executed,
/// as the spec asks of a request error.
/// (Written directly otherwise, so the fields keep the order the operation selected them in.)
pub(crate) fn response_body(response: &async_graphql::Response) -> String {
    if !is_request_error(response) {
        return serde_json::to_string(response).unwrap_or_else(|_| "{}".into());
    }
    let mut body = serde_json::to_value(response).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        map.remove("data");
    }
    body.to_string()
}

/// The client's address, as the server saw the connection.
fn client_address(request: &Request) -> ClientAddress {
    ClientAddress(request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip()))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn post_graphql(State(node): State<Node>, request: Request) -> Response {
    let headers = request.headers().clone();
    let client = client_address(&request);
    let media = match accepted_media(&headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.into_response(),
    };
    match read_post(request, media).await {
        Ok(params) => execute(&node, &headers, media, params, client).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Whether the operation `params` selects is a mutation. A document that does not parse is
/// not one: executing it reports the syntax error in the negotiated media type.
fn is_mutation(params: &GraphqlParams) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&params.query) else { return false };
    let name = params.operation_name.as_deref();
    document.operations.iter().any(|(op_name, op)| {
        (name.is_none() || op_name.map(|n| n.as_str()) == name) && op.node.ty == OperationType::Mutation
    })
}

#[tracing::instrument(skip_all)]
pub(crate) async fn get_graphql(State(node): State<Node>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return subscriptions::websocket(node, request).await;
    }
    let headers = request.headers();
    let media = match accepted_media(headers) {
        Ok(media) => media,
        Err(refusal) => return refusal.into_response(),
    };
    let params = match read_get(request.uri(), media) {
        Ok(params) => params,
        Err(refusal) => return refusal.into_response(),
    };
    if is_mutation(&params) {
        return mutation_over_get(media);
    }
    execute(&node, headers, media, params, client_address(&request)).await
}
