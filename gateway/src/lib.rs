//! The `cadena` binary's library: configuration, the HTTP surface of a node (GraphQL over
//! HTTP, WebSocket and SSE subscriptions, health), authentication of requests, and the local
//! multi-country dev network with its local chain.

pub mod config;
pub mod console;
pub mod dev_chain;
pub mod dev_network;
pub mod federated_gateway;
pub mod federation;
pub mod going_away;
pub mod graphql_ws;
pub mod http;
pub mod node;
pub mod operation_limits;
pub mod replicas;
pub mod telemetry;

pub use config::NodeConfig;
pub use node::Node;
