//! The GraphQL federation engine behind `cadena gateway`: composes Federation v2 subgraphs
//! (each customs node's subgraph, `schema/node.graphql`, plus any others) into a supergraph,
//! plans every operation across them and executes the plan over HTTP.
//!
//! # Composition, offline
//! [`compose()`] runs `gateway/federation/compose.mjs` under Node with the npm package
//! `@theguild/federation-composition` (MIT), installed into `gateway/federation/node_modules`
//! with `npm ci` on first use. There is no composer in Rust we may use (Apollo's crates are
//! under the Elastic licence), and `graphql-composition` emits a supergraph the planner cannot
//! plan (no `@join__type` on `Query`). Composition happens once, at start-up or ahead of time:
//! the supergraph SDL it returns (join v0.3) is all the engine needs.
//!
//! # Planning and execution: the split hive-router crates
//! [`Engine`] uses `hive-router-query-planner = "=2.10.11"` and
//! `hive-router-plan-executor = "=9.1.0"` (MIT), not the `hive-router` crate that has absorbed
//! them since 0.2.0: `hive-router`'s pinned ntex crates require rustc 1.97, while this
//! workspace builds on 1.95 without `--ignore-rust-version`. The split crates are frozen at
//! their last release before the merge and used together, exactly pinned (with the
//! `hive-router-config` / `hive-router-internal` versions they were released against); their
//! API is the pre-merge one. Moving to `hive-router` later means following its internal API.
//!
//! Per request the engine parses, validates against the public (API) schema, normalises,
//! splits off introspection (answered by the engine itself), checks variables, plans and runs
//! the plan with the executor's HTTP subgraph clients; see [`Engine::execute`]. A subgraph
//! that fails gives `null` data where it would have contributed plus an error, never a
//! failed request. Request errors ([`FederationError::is_request_error`]) are HTTP 400
//! material; everything that executed is a GraphQL response body (HTTP 200).
//!
//! Subscriptions: [`Engine::subscribe`] streams them from a subgraph that serves them over
//! HTTP with `text/event-stream` (graphql-sse distinct connections, as the node does) or
//! Apollo's multipart protocol, resolving entity fields in other subgraphs for each event.
//! The executor spawns the subgraph stream's reader with `ntex::rt::spawn` (tokio's
//! `spawn_local`), so subscriptions run on a thread of the engine's own inside a `LocalSet`
//! and come back as a `Send` stream. Subgraph subscriptions over WebSocket are not configured.
//!
//! Worth knowing:
//! - Only the client headers named in [`EngineOptions::forwarded_headers`] (`Authorization` by
//!   default) reach subgraphs; subgraph response headers and extensions do not reach clients.
//! - Variables are checked against their definitions but passed through as given (the
//!   executor does not coerce: `Int` must be a JSON integer; input objects are left to the
//!   owning subgraph).
//! - The executor's hyper-rustls compiles aws-lc-rs in beside reqwest's ring; the engine
//!   installs ring as the process's rustls provider if none is installed, since rustls cannot
//!   choose by itself once both are present.
//! - A deployed binary finds the composer in `$CADENA_FEDERATION_DIR` ([`federation_dir`]).

mod compose;
#[cfg(test)]
mod composer_defects;
mod engine;
mod error;
#[cfg(test)]
mod tests;

pub use compose::{Subgraph, compose, compose_in, federation_dir};
pub use engine::{Engine, EngineOptions, GraphQLRequest, ResponseBody, SubscriptionStream};
pub use error::{CompositionError, FederationError, RequestError};
