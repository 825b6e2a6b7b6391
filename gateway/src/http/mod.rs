//! A node's HTTP surface.
//!
//! | path | what |
//! |---|---|
//! | `GET /` | GraphiQL |
//! | `GET /assets/{name}` | GraphiQL's files, served here (no CDN) ([`assets`]) |
//! | `/console/…` | the officer console ([`crate::console`]) |
//! | `POST/GET /graphql` | GraphQL over HTTP; `Accept: text/event-stream` for SSE; WebSocket upgrade (`graphql-transport-ws`) |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the database answers |
//! | `/partner/inbox`, `/partner/feed`, `/partner/recognition`, `/partner/state` | the MRA partner channel ([`partner_channel`]) |
//! | `/.well-known/did.json`, `/contexts/…`, `/status-lists/…`, `/credentials/…`, `/presentations/verify`, `/challenges` | the VC API ([`vc_api`]) |

pub mod assets;
mod authentication;
pub(crate) mod graphql_over_http;
pub mod partner_channel;
mod subscriptions;
pub mod vc_api;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use authentication::authenticate_header;

use crate::node::Node;

/// The router of one node.
pub fn router(node: Node) -> Router {
    let body_limit = node.config.limits.max_body_bytes;
    Router::new()
        .route("/", get(assets::graphiql))
        .route("/assets/{name}", get(assets::asset))
        .route("/graphql", get(graphql_over_http::get_graphql).post(graphql_over_http::post_graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/.well-known/did.json", get(vc_api::did_document))
        .route("/contexts/aeo/v1", get(vc_api::aeo_context))
        .route("/status-lists/{name}", get(vc_api::status_list))
        .route("/credentials/issue", post(vc_api::issue))
        .route("/credentials/verify", post(vc_api::verify_credential))
        .route("/presentations/verify", post(vc_api::verify_presentation))
        .route("/challenges", post(vc_api::create_challenge))
        .route("/anchors/{digest}", get(vc_api::anchor_proof))
        .route("/partner/inbox", post(partner_channel::inbox))
        .route("/partner/feed", get(partner_channel::feed))
        .route("/partner/recognition", get(partner_channel::recognition))
        .route("/partner/state", get(partner_channel::state))
        .merge(crate::console::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(node)
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
