//! A cadena node's services over storage and its GraphQL subgraph.
//!
//! - [`storage`]: the database (SQLite or PostgreSQL), migrated by `cadena-migrations`.
//! - [`auth`]: officer roles and the policy of who may do what, passwords, session tokens.
//! - [`services`]: officers and certifications; every write is one transaction with its history.
//! - [`events`]: certification events fanned out to subscribers after commit.
//! - [`graphql`]: the Federation v2 subgraph over the services.
//! - [`trace_context`]: traces continued across the outbox, anchor batches and partner calls.

pub mod auth;
pub mod errors;
pub mod event_log;
pub mod events;
pub mod fault;
pub mod graphql;
pub mod metrics;
pub mod rate_limit;
pub mod services;
pub mod storage;
pub mod trace_context;

pub use errors::ServiceError;
