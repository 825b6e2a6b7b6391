//! The gateway's check of a client's bearer token: the node that issued it says whether it is
//! valid (`me`), so a wrong token is refused before anything runs (HTTP 401, as the node
//! answers it) rather than reaching the subgraphs as if anonymous.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use lru::LruCache;
use serde_json::{Value, json};

/// How long a token the node confirmed is taken as valid without asking again. The node
/// checks the token again on every request the gateway forwards, so this only spares a round
/// trip per request: it lets nothing through that the node would refuse.
const CONFIRMED_FOR: Duration = Duration::from_secs(10);

/// How many confirmed tokens are remembered.
const CONFIRMED_TOKENS: usize = 4096;

/// Why the node did not confirm a bearer token.
#[derive(Debug, thiserror::Error)]
pub(super) enum TokenRefusal {
    /// The node refused it (401): malformed, wrong, expired, or its officer disabled.
    #[error("{message}")]
    Invalid {
        /// The node's `extensions.code`.
        code: String,
        /// The node's message.
        message: String,
    },
    /// The node could not be asked, or answered something else.
    #[error("the token cannot be checked: {0}")]
    Unchecked(String),
}

/// Checks `Authorization` values with the node.
pub(super) struct TokenCheck {
    http: reqwest::Client,
    /// The node's GraphQL endpoint (the first subgraph).
    node_url: String,
    /// `Authorization` values the node confirmed, and when.
    confirmed: Mutex<LruCache<String, Instant>>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck").field("node_url", &self.node_url).finish_non_exhaustive()
    }
}

impl TokenCheck {
    pub(super) fn new(http: reqwest::Client, node_url: String) -> TokenCheck {
        let capacity = NonZeroUsize::new(CONFIRMED_TOKENS).expect("a positive capacity");
        TokenCheck { http, node_url, confirmed: Mutex::new(LruCache::new(capacity)) }
    }

    /// Checks an `Authorization` value with the node, unless the node confirmed it within
    /// [`CONFIRMED_FOR`].
    pub(super) async fn check(&self, authorization: &str) -> Result<(), TokenRefusal> {
        let confirmed = self.confirmed.lock().expect("token lock").get(authorization).copied();
        if confirmed.is_some_and(|at| at.elapsed() < CONFIRMED_FOR) {
            return Ok(());
        }
        let response = self
            .http
            .post(&self.node_url)
            .header(header::AUTHORIZATION, authorization)
            .header(header::ACCEPT, "application/json")
            .json(&json!({ "query": "{ me { username } }" }))
            .send()
            .await
            .map_err(|e| TokenRefusal::Unchecked(format!("the node cannot be asked: {e}")))?;
        let refused = response.status() == StatusCode::UNAUTHORIZED;
        let answer: Value =
            response.json().await.map_err(|e| TokenRefusal::Unchecked(format!("the node answered strangely: {e}")))?;
        if refused {
            let error = &answer["errors"][0];
            return Err(TokenRefusal::Invalid {
                code: error["extensions"]["code"].as_str().unwrap_or("UNAUTHENTICATED").to_owned(),
                message: error["message"].as_str().unwrap_or("invalid token").to_owned(),
            });
        }
        if !answer["data"]["me"]["username"].is_string() {
            return Err(TokenRefusal::Unchecked(format!("the node did not say who this is: {answer}")));
        }
        self.confirmed.lock().expect("token lock").put(authorization.to_owned(), Instant::now());
        Ok(())
    }
}
