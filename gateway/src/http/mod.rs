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
//! | `GET /metrics` | Prometheus metrics ([`cadena_resolvers::metrics`]): counts and latencies, no data |
//! | `/partner/inbox`, `/partner/feed`, `/partner/recognition`, `/partner/state` | the MRA partner channel ([`partner_channel`]) |
//! | `/.well-known/did.json`, `/contexts/…`, `/status-lists/…`, `/credentials/…`, `/presentations/verify`, `/challenges` | the VC API ([`vc_api`]) |
//! | `/.well-known/openid-credential-issuer`, `/.well-known/oauth-authorization-server`, `/openid4vci/…`, `/openid4vp/…` | wallets: OpenID4VCI and OpenID4VP ([`wallets`]) |

pub mod assets;
mod authentication;
pub(crate) mod graphql_over_http;
pub mod partner_channel;
mod subscriptions;
pub mod vc_api;
pub mod wallets;

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
        .route("/metrics", get(metrics))
        .route("/.well-known/did.json", get(vc_api::did_document))
        .route("/contexts/aeo/v1", get(vc_api::aeo_context))
        .route("/status-lists/{name}", get(vc_api::status_list))
        .route("/credentials/issue", post(vc_api::issue))
        .route("/credentials/verify", post(vc_api::verify_credential))
        .route("/presentations/verify", post(vc_api::verify_presentation))
        .route("/challenges", post(vc_api::create_challenge))
        .route("/anchors/{digest}", get(vc_api::anchor_proof))
        .route("/.well-known/openid-credential-issuer", get(wallets::issuer_metadata))
        .route("/.well-known/oauth-authorization-server", get(wallets::authorization_server_metadata))
        .route("/openid4vci/offers/{code}", get(wallets::offer))
        .route("/openid4vci/token", post(wallets::token))
        .route("/openid4vci/nonce", post(wallets::nonce))
        .route("/openid4vci/credential", post(wallets::credential))
        .route("/openid4vp/responses/{id}", post(wallets::presentation_response))
        .route("/partner/inbox", post(partner_channel::inbox))
        .route("/partner/feed", get(partner_channel::feed))
        .route("/partner/recognition", get(partner_channel::recognition))
        .route("/partner/state", get(partner_channel::state))
        .merge(crate::console::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(timed))
        .layer(crate::telemetry::trace_layer())
        .with_state(node)
}

/// Records each request's latency (to its response's head) by method, route and status.
async fn timed(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = request.method().clone();
    // The route's pattern, not the path: `/status-lists/{name}` is one series.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    cadena_resolvers::metrics::HTTP_DURATION
        .with_label_values(&[method.as_str(), &route, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The Prometheus text exposition of the process's metrics, the database's gauges read now.
async fn metrics(State(node): State<Node>) -> axum::response::Response {
    if let Err(error) = cadena_resolvers::metrics::refresh(&node.services, &node.storage).await {
        tracing::warn!(%error, "metrics: the gauges could not be read");
        return (StatusCode::SERVICE_UNAVAILABLE, "the gauges could not be read").into_response();
    }
    let mut text = String::new();
    match prometheus::TextEncoder::new().encode_utf8(&prometheus::gather(), &mut text) {
        Ok(()) => ([(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
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
