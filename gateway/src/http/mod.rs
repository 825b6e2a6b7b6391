//! A node's HTTP surface.
//!
//! | path | what |
//! |---|---|
//! | `GET /` | GraphiQL |
//! | `POST/GET /graphql` | GraphQL over HTTP; `Accept: text/event-stream` for SSE; WebSocket upgrade (`graphql-transport-ws`) |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the database answers |

mod authentication;
mod graphql_over_http;
mod subscriptions;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

pub use authentication::authenticate_header;

use crate::node::Node;

/// The router of one node.
pub fn router(node: Node) -> Router {
    let body_limit = node.config.limits.max_body_bytes;
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphql_over_http::get_graphql).post(graphql_over_http::post_graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(node)
}

async fn graphiql() -> Html<&'static str> {
    Html(include_str!("../../../playground/graphiql.html"))
}

#[tracing::instrument(skip_all)]
async fn readyz(State(node): State<Node>) -> impl IntoResponse {
    match node.storage.db().ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable")
        }
    }
}
