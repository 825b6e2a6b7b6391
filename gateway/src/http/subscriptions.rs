//! Subscriptions over WebSocket (`graphql-transport-ws`, served by [`crate::graphql_ws`]) and
//! over Server-Sent Events (the graphql-sse "distinct connections" mode: `next` events, then
//! `complete`). Over SSE each event of `certificationEvents` carries its cursor as `id:`, and a
//! request with `Last-Event-ID` resumes after it.
//!
//! Authentication happens once, when the connection opens: from the `Authorization` header of
//! the upgrade or SSE request, or from `authorization` in the WebSocket `connection_init`
//! payload (browsers cannot set headers on a WebSocket). A wrong token closes the socket
//! (`4403`) before any operation runs.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cadena_resolvers::auth::Principal;
use cadena_resolvers::graphql::{LastCursor, RequestPrincipal, ResumeAfter, json_to_graphql};
use futures::StreamExt;
use serde_json::Value;

use super::authentication::{authenticate_header, authorization};
use super::graphql_over_http::{MediaType, event_stream, is_request_error, request_error, response_body};
use crate::graphql_ws::{self, Execution, Json, Operation, Operations, Refusal};
use crate::node::Node;

pub(crate) async fn sse(node: Node, headers: &HeaderMap, request: async_graphql::Request) -> Response {
    let principal = match authenticate_header(&node.services, authorization(headers)).await {
        Ok(p) => p,
        Err(e) => return request_error(StatusCode::UNAUTHORIZED, MediaType::Json, e.code(), e.to_string()),
    };
    let mut request = request.data(RequestPrincipal(principal));
    // A reconnecting EventSource sends the last `id:` it saw: the subscription resumes there.
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()) {
        request = request.data(ResumeAfter(last));
    }
    let cursor = LastCursor::default();
    let request = request.data(cursor.clone());
    // Each message carries the cursor of the event it holds (none for a query's result).
    let bodies = node.schema.execute_stream(request).map(move |response| {
        let id = cursor.0.swap(0, std::sync::atomic::Ordering::SeqCst);
        ((id > 0).then(|| id.to_string()), response_body(&response))
    });
    // A stopping node ends the stream, or its graceful shutdown would wait for it for ever.
    let going_away = node.going_away.clone();
    event_stream(bodies.take_until(async move { going_away.announced().await }))
}

pub(crate) async fn websocket(node: Node, request: Request) -> Response {
    let going_away = node.going_away.clone();
    graphql_ws::upgrade(request, Arc::new(NodeOperations(node)), going_away).await
}

/// The node's side of `graphql-transport-ws`: officers' bearer tokens, and the node's schema.
struct NodeOperations(Node);

impl Operations for NodeOperations {
    type Session = Option<Principal>;

    async fn connect(&self, authorization: Option<String>) -> Result<Option<Principal>, Refusal> {
        authenticate_header(&self.0.services, authorization.as_deref()).await.map_err(|error| match error {
            cadena_resolvers::ServiceError::Internal(_) => Refusal::Unavailable(error.to_string()),
            refused => Refusal::Forbidden(refused.to_string()),
        })
    }

    async fn execute(&self, principal: Option<Principal>, operation: Operation) -> Execution {
        let mut request = async_graphql::Request::new(operation.query);
        if let Some(name) = operation.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = operation.variables {
            // One to one, not through serde: numbers keep their text (see `cadena_resolvers::graphql::Json`).
            request =
                request.variables(async_graphql::Variables::from_value(json_to_graphql(&Value::Object(variables))));
        }
        let mut results = self.0.schema.execute_stream(request.data(RequestPrincipal(principal)));
        // A request that cannot run answers at once with errors only: that is an `error`
        // message; anything else (a subscription's first event, a query's result) is a `next`.
        let Some(first) = results.next().await else { return Execution::Results(futures::stream::empty().boxed()) };
        if is_request_error(&first) {
            return Execution::Refused(json(&first.errors));
        }
        Execution::Results(futures::stream::once(async move { first }).chain(results).map(|r| json(&r)).boxed())
    }
}

fn json(value: &impl serde::Serialize) -> Json {
    serde_json::value::to_raw_value(value).expect("GraphQL responses serialise")
}
