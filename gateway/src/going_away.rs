//! Ending long-lived responses when a server stops.
//!
//! axum's graceful shutdown waits for every HTTP response to finish, and an SSE subscription
//! never does: a node or gateway with a subscriber connected would wait for ever. WebSockets
//! are worse: once upgraded they are no longer axum's, so nothing would close them at all.
//! [`GoingAway`] is what both listen to: when it is announced, SSE streams end and WebSockets
//! close with `1001 Going Away`; the server then waits (bounded) until they are gone.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long a stopping server gives its connections (requests in flight, subscriptions).
pub const STOP_WITHIN: Duration = Duration::from_secs(3);

/// A server's "we are stopping" signal, and a count of the connections that must hear it.
#[derive(Clone, Debug)]
pub struct GoingAway {
    announced: Arc<watch::Sender<bool>>,
    live: Arc<watch::Sender<usize>>,
}

impl Default for GoingAway {
    fn default() -> Self {
        GoingAway { announced: Arc::new(watch::Sender::new(false)), live: Arc::new(watch::Sender::new(0)) }
    }
}

impl GoingAway {
    /// Tells every stream and socket to end.
    pub fn announce(&self) {
        self.announced.send_replace(true);
    }

    /// Completes once [`GoingAway::announce`] was called (at once if it already was).
    pub async fn announced(&self) {
        let mut announced = self.announced.subscribe();
        // The sender lives in `self`, so this cannot fail while we wait.
        let _ = announced.wait_for(|a| *a).await;
    }

    /// `shutdown`, then the announcement: the signal to give axum's graceful shutdown.
    pub fn after(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let this = self.clone();
        async move {
            shutdown.await;
            this.announce();
        }
    }

    /// Runs a server (axum's, its graceful shutdown on [`GoingAway::after`]) to its end: once
    /// announced, its connections (requests in flight, and WebSockets, which are no longer
    /// axum's once upgraded) get [`STOP_WITHIN`] to finish.
    pub async fn serve(&self, serving: impl IntoFuture<Output = std::io::Result<()>>) -> std::io::Result<()> {
        let serving = serving.into_future();
        tokio::pin!(serving);
        let served = tokio::select! {
            served = &mut serving => Some(served),
            () = self.announced() => None,
        };
        let deadline = tokio::time::Instant::now() + STOP_WITHIN;
        let served = match served {
            Some(served) => served,
            None => tokio::time::timeout_at(deadline, serving).await.unwrap_or_else(|_| {
                tracing::warn!("requests still in flight after the grace period; stopping anyway");
                Ok(())
            }),
        };
        if !self.all_closed_by(deadline).await {
            tracing::warn!("WebSockets still open after the grace period; stopping anyway");
        }
        served
    }

    /// Waits until no held connection is left, or `deadline`; whether none is.
    pub async fn all_closed_by(&self, deadline: tokio::time::Instant) -> bool {
        let mut live = self.live.subscribe();
        tokio::time::timeout_at(deadline, live.wait_for(|n| *n == 0)).await.is_ok()
    }

    /// Registers a live connection until the returned guard is dropped.
    pub fn hold(&self) -> Held {
        self.live.send_modify(|n| *n += 1);
        Held { live: self.live.clone() }
    }
}

/// A connection [`GoingAway::serve`] waits for while it lives.
#[derive(Debug)]
pub struct Held {
    live: Arc<watch::Sender<usize>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.live.send_modify(|n| *n -= 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serve_waits_for_every_held_connection() {
        let going_away = GoingAway::default();
        let held = going_away.hold();
        going_away.announce();
        going_away.announced().await;
        let serving = async { Ok(()) };
        let started = tokio::time::Instant::now();
        let drop_later = async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(held);
        };
        let (served, ()) = tokio::join!(going_away.serve(serving), drop_later);
        served.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < STOP_WITHIN, "{waited:?}");
    }
}
