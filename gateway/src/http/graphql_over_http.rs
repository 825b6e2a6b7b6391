//! GraphQL over HTTP, following the GraphQL-over-HTTP specification rather than
//! async-graphql-axum (which always answers 200 with one media type):
//!
//! - `Accept` picks `application/graphql-response+json` or `application/json` (the default
//!   when the client states neither); anything else is 406.
//! - A request that cannot run at all (malformed JSON, no query, a parse or validation error,
//!   a limit exceeded) is 400 with `{"errors": [...]}` and no `data`; an invalid token is 401.
//!   Field errors during execution are 200 with `data` and `errors`.
//! - GET runs queries only; a mutation over GET is 405 (GET must be safe to repeat and cache).
//! - POST needs `Content-Type: application/json` (415 otherwise); bodies are capped (413).
//! - `Accept: text/event-stream` or a WebSocket upgrade hand over to [`super::subscriptions`].

use std::collections::HashMap;
use std::net::SocketAddr;

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cadena_credentials::json::{self, JsonError};
use cadena_resolvers::graphql::{ClientAddress, RequestPrincipal, json_to_graphql};
use serde::Deserialize;
use serde_json::{Value, json};

use super::authentication::{authenticate_header, authorization};
use super::subscriptions;
use crate::node::Node;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

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
            MediaType::EventStream => "text/event-stream",
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
            "text/event-stream" => return Some(MediaType::EventStream),
            _ => {}
        }
    }
    None
}

/// A request-level error response: `{"errors": [{"message", "extensions": {"code"}}]}`.
pub(crate) fn request_error(status: StatusCode, media: MediaType, code: &str, message: impl Into<String>) -> Response {
    let body = json!({ "errors": [{ "message": message.into(), "extensions": { "code": code } }] });
    let mut response = (status, body.to_string()).into_response();
    let media = if media == MediaType::EventStream { MediaType::Json } else { media };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The JSON body of a GraphQL request (POST body, or GET parameters decoded into it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GraphqlRequestBody {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
}

/// Turns the raw fields into an async-graphql request, naming the field that is wrong.
pub(crate) fn build_request(body: GraphqlRequestBody) -> Result<async_graphql::Request, String> {
    let query = match body.query {
        Some(Value::String(q)) => q,
        Some(_) => return Err("`query` must be a string".into()),
        None => return Err("`query` is required".into()),
    };
    let mut request = async_graphql::Request::new(query);
    match body.operation_name {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => return Err("`operationName` must be a string or null".into()),
    }
    match body.variables {
        None | Some(Value::Null) => {}
        // One to one, not through serde: numbers keep their text (see `cadena_resolvers::graphql::Json`).
        Some(v @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_value(json_to_graphql(&v)))
        }
        Some(_) => return Err("`variables` must be an object or null".into()),
    }
    match body.extensions {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object or null".into()),
    }
    Ok(request)
}

/// A response whose `data` is absent: the request never executed (parse, validation or limit
/// error). Field errors always carry a path; these never do.
pub(crate) fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Runs one request and encodes the result per the negotiated media type.
async fn execute(node: &Node, headers: &HeaderMap, media: MediaType, request: async_graphql::Request) -> Response {
    let principal = match authenticate_header(&node.services, authorization(headers)).await {
        Ok(p) => p,
        Err(e) => return request_error(StatusCode::UNAUTHORIZED, media, e.code(), e.to_string()),
    };
    let request = request.data(RequestPrincipal(principal));
    let response = node.schema.execute(request).await;
    let request_failed = is_request_error(&response);
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    if request_failed && let Some(map) = body.as_object_mut() {
        map.remove("data");
    }
    let status = if request_failed { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut http = (status, body.to_string()).into_response();
    http.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.as_str()));
    http
}

#[tracing::instrument(skip_all)]
pub(crate) async fn post_graphql(State(node): State<Node>, request: Request) -> Response {
    let headers = request.headers().clone();
    let client = client_address(&request);
    let Some(media) = negotiate(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            MediaType::Json,
            "NOT_ACCEPTABLE",
            "accept application/graphql-response+json, application/json or text/event-stream",
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type != JSON {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as Content-Type: application/json",
        );
    }
    let bytes = match Bytes::from_request(request, &()).await {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { "BAD_REQUEST" };
            return request_error(status, media, code, format!("request body: {}", rejection.body_text()));
        }
    };
    let body: GraphqlRequestBody = match json::from_slice_as(&bytes) {
        Ok(b) => b,
        Err(e @ JsonError::PrivateKey { .. }) => {
            return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", format!("request body: {e}"));
        }
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                "BAD_REQUEST",
                format!("request body is not a GraphQL request object: {e}"),
            );
        }
    };
    let request = match build_request(body) {
        Ok(r) => r.data(client),
        Err(message) => return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message),
    };
    if media == MediaType::EventStream {
        return subscriptions::sse(node, &headers, request).await;
    }
    execute(&node, &headers, media, request).await
}

/// The client's address, as the server saw the connection.
fn client_address(request: &Request) -> ClientAddress {
    ClientAddress(request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip()))
}

/// A query-string parameter that carries JSON (`variables`, `extensions`).
fn json_param(params: &HashMap<String, String>, name: &str) -> Result<Option<Value>, String> {
    params.get(name).map(|raw| json::from_str(raw).map_err(|e| format!("`{name}` is not JSON: {e}"))).transpose()
}

#[tracing::instrument(skip_all)]
pub(crate) async fn get_graphql(
    State(node): State<Node>,
    Query(params): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return subscriptions::websocket(node, request).await;
    }
    let headers = request.headers().clone();
    let client = client_address(&request);
    let Some(media) = negotiate(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            MediaType::Json,
            "NOT_ACCEPTABLE",
            "accept application/graphql-response+json or application/json",
        );
    };
    let (variables, extensions) = match (json_param(&params, "variables"), json_param(&params, "extensions")) {
        (Ok(v), Ok(e)) => (v, e),
        (Err(message), _) | (_, Err(message)) => {
            return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message);
        }
    };
    let query = params.get("query").cloned();
    if let Some(q) = &query {
        match async_graphql::parser::parse_query(q) {
            Ok(document) => {
                let name = params.get("operationName").map(String::as_str);
                let is_mutation = document.operations.iter().any(|(op_name, op)| {
                    (name.is_none() || op_name.map(|n| n.as_str()) == name) && op.node.ty == OperationType::Mutation
                });
                if is_mutation {
                    let mut response = request_error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        media,
                        "METHOD_NOT_ALLOWED",
                        "mutations must be sent with POST",
                    );
                    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
                    return response;
                }
            }
            Err(e) => return request_error(StatusCode::BAD_REQUEST, media, "GRAPHQL_PARSE_FAILED", e.to_string()),
        }
    }
    let body = GraphqlRequestBody {
        query: query.map(Value::String),
        operation_name: params.get("operationName").cloned().map(Value::String),
        variables,
        extensions,
    };
    let request = match build_request(body) {
        Ok(r) => r.data(client),
        Err(message) => return request_error(StatusCode::BAD_REQUEST, media, "BAD_REQUEST", message),
    };
    if media == MediaType::EventStream {
        return subscriptions::sse(node, &headers, request).await;
    }
    execute(&node, &headers, media, request).await
}
