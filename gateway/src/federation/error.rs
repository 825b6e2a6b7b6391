//! Errors of composition and of the engine, and their GraphQL response bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One message of the composer (`@theguild/federation-composition`) or of the GraphQL parser
/// on a subgraph's SDL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositionError {
    /// The composer's message, as it wrote it.
    pub message: String,
    /// The composer's error code (`FIELD_TYPE_MISMATCH`, ...), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The subgraph whose SDL did not parse (only for syntax errors: composition errors name
    /// their subgraphs in the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subgraph: Option<String>,
}

impl std::fmt::Display for CompositionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(subgraph) = &self.subgraph {
            write!(f, "[{subgraph}] ")?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

/// One GraphQL error of a request that could not be executed at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestError {
    /// Human-readable, for the client.
    pub message: String,
    /// `(line, column)` positions in the query, 1-based, when known.
    pub locations: Vec<(usize, usize)>,
    /// `extensions.code`: `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`,
    /// `OPERATION_RESOLUTION_FAILURE`, `BAD_USER_INPUT` or `BAD_REQUEST`.
    pub code: &'static str,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl RequestError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        RequestError { message: message.into(), locations: Vec::new(), code }
    }

    /// The error as a GraphQL response error object.
    pub fn to_json(&self) -> Value {
        let mut error = json!({ "message": self.message, "extensions": { "code": self.code } });
        if !self.locations.is_empty() {
            error["locations"] =
                self.locations.iter().map(|(line, column)| json!({ "line": line, "column": column })).collect();
        }
        error
    }
}

/// What can go wrong composing a supergraph, building an [`super::Engine`] or running a request.
///
/// A failing subgraph is not an error here: its part of the response is `null` with an error
/// in the response body, which [`super::Engine::execute`] returns as `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// `npm ci` in `gateway/federation/` failed, so the composer is not installed.
    #[error("installing the composition package: {0}")]
    Npm(#[from] cadena_contracts::errors::AnvilError),
    /// Node could not be started, or the composition script failed for a reason other than the
    /// subgraphs (bad output, timeout).
    #[error("running the composition script: {0}")]
    ComposeScript(String),
    /// The subgraphs do not compose; the composer's messages.
    #[error("composition failed: {}", join(.0))]
    Composition(Vec<CompositionError>),
    /// The supergraph SDL cannot be loaded: it does not parse, or the planner refuses it.
    #[error("invalid supergraph: {0}")]
    Supergraph(String),
    /// A subgraph URL override names a subgraph the supergraph does not have.
    #[error("URL override for unknown subgraph `{0}`")]
    UnknownSubgraph(String),
    /// The subgraph HTTP clients could not be set up (a URL that does not parse, TLS).
    #[error("setting up subgraph executors: {0}")]
    Executors(String),
    /// The request cannot be executed: syntax, validation against the supergraph's API schema,
    /// operation selection, variables. The HTTP layer answers 400 with
    /// [`FederationError::response_body`].
    #[error("bad GraphQL request: {}", join(.0))]
    Request(Vec<RequestError>),
    /// A subscription was given to [`super::Engine::execute`], or a query or mutation to
    /// [`super::Engine::subscribe`]: the transport must route it to the other one.
    #[error("operation is a {actual}, expected a {expected}")]
    WrongOperationKind {
        /// What the operation is (`query`, `mutation`, `subscription`).
        actual: &'static str,
        /// What the called method runs.
        expected: &'static str,
    },
    /// The planner could not plan a valid operation (a planner limitation or bug; HTTP 500).
    #[error("query planning failed: {0}")]
    Planning(String),
    /// The executor failed as a whole, not in one subgraph (HTTP 500).
    #[error("plan execution failed: {0}")]
    Execution(String),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl FederationError {
    /// True for errors of the request itself (HTTP 400); false for errors of the gateway
    /// (HTTP 500), which a client cannot fix by changing its request.
    pub fn is_request_error(&self) -> bool {
        matches!(self, FederationError::Request(_) | FederationError::WrongOperationKind { .. })
    }

    /// The GraphQL response body for this error: `{"errors": [...]}`, with the request's errors
    /// as they are and anything else as one `INTERNAL_SERVER_ERROR`.
    pub fn response_body(&self) -> Value {
        let errors: Vec<Value> = match self {
            FederationError::Request(errors) => errors.iter().map(RequestError::to_json).collect(),
            FederationError::WrongOperationKind { .. } => {
                vec![RequestError::new("BAD_REQUEST", self.to_string()).to_json()]
            }
            other => vec![json!({ "message": other.to_string(), "extensions": { "code": "INTERNAL_SERVER_ERROR" } })],
        };
        json!({ "errors": errors })
    }
}
