//! Subscriptions over WebSocket (`graphql-transport-ws`, and the legacy `graphql-ws`) and over
//! Server-Sent Events (the graphql-sse "distinct connections" mode: `next` events, then
//! `complete`).
//!
//! Authentication happens once, when the connection opens: from the `Authorization` header of
//! the upgrade or SSE request, or from `authorization` in the WebSocket `connection_init`
//! payload (browsers cannot set headers on a WebSocket). A wrong token closes the socket
//! before any subscription starts.

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::RequestPartsExt;
use axum::extract::{Request, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cadena_resolvers::graphql::RequestPrincipal;
use futures::StreamExt;

use super::authentication::{authenticate_header, authorization};
use super::graphql_over_http::{MediaType, event_stream, request_error, response_body};
use crate::node::Node;

pub(crate) async fn sse(node: Node, headers: &HeaderMap, request: async_graphql::Request) -> Response {
    let principal = match authenticate_header(&node.services, authorization(headers)).await {
        Ok(p) => p,
        Err(e) => return request_error(StatusCode::UNAUTHORIZED, MediaType::Json, e.code(), e.to_string()),
    };
    let request = request.data(RequestPrincipal(principal));
    let bodies = node.schema.execute_stream(request).map(|response| response_body(&response));
    event_stream(bodies)
}

pub(crate) async fn websocket(node: Node, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let protocol = match parts.extract::<GraphQLProtocol>().await {
        Ok(p) => p,
        Err(_) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                MediaType::Json,
                "BAD_REQUEST",
                "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws",
            );
        }
    };
    let upgrade = match parts.extract::<WebSocketUpgrade>().await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let header_token = authorization(&parts.headers).map(str::to_owned);
    let schema = node.schema.clone();
    let services = node.services.clone();
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let from_payload = ["authorization", "Authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
                let token = from_payload.or(header_token);
                let principal = authenticate_header(&services, token.as_deref())
                    .await
                    .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                let mut data = Data::default();
                data.insert(RequestPrincipal(principal));
                Ok(data)
            })
            .serve()
            .await;
    })
}
