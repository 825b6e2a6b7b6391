//! Which replica runs a background worker. Several replicas of one node share one PostgreSQL
//! database; each kind of worker works on the replica holding its lease, renewed every round,
//! and taken over by another replica once it expires (the holder was killed, or stuck).
//!
//! A lease avoids doing work twice; it is not what keeps work correct. Every worker's work is
//! idempotent on its own (the contract takes a batch's sequence once, a partner acknowledges a
//! message it holds, webhook receivers de-duplicate by delivery id), so a holder that outlives
//! its lease in the middle of a round does no harm. On SQLite there is one process: it always
//! holds.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::storage::Storage;

/// How long a lease lasts without renewal.
pub const TTL: Duration = Duration::from_secs(10);

/// This process's name as a lease holder.
fn holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| uuid::Uuid::now_v7().to_string())
}

/// The lease of one kind of worker.
#[derive(Debug)]
pub struct Lease {
    storage: Storage,
    name: &'static str,
    /// When this process last took or renewed it: worker rounds come many times a second, and
    /// the lease is renewed only once half of it has run.
    renewed: std::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Lease {
    /// The lease named `name` (`outbox:<topic>` for each outbox topic's loop, `anchoring` for the
    /// chain loop, `anchor-forming` for the anchoring former, `partners` for the partner loop).
    pub fn new(storage: Storage, name: &'static str) -> Lease {
        Lease { storage, name, renewed: std::sync::Mutex::new(None) }
    }

    /// Takes or renews the lease; whether this process holds it now. A database error is
    /// "not held" (the round is skipped and tried again).
    pub async fn hold(&self) -> bool {
        if self.storage.backend() != DbBackend::Postgres {
            return true;
        }
        let fresh = |at: &Option<tokio::time::Instant>| at.is_some_and(|at| at.elapsed() < TTL / 2);
        if fresh(&self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return true;
        }
        let held = self.take_or_renew().await;
        *self.renewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = held.then(tokio::time::Instant::now);
        held
    }

    async fn take_or_renew(&self) -> bool {
        let now = Utc::now();
        let until = now + TTL;
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO worker_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE worker_leases.holder = excluded.holder OR worker_leases.expires_at < $4",
            [self.name.into(), holder().into(), until.into(), now.into()],
        );
        match self.storage.db().execute_raw(statement).await {
            Ok(result) => result.rows_affected() == 1,
            Err(error) => {
                tracing::warn!(lease = self.name, %error, "taking the worker lease failed");
                false
            }
        }
    }
}

/// Runs `read` until `shutdown`, again `retry` after each time it returns (a read returns when
/// its lease is not held, or was lost) or fails, logging why. The loop of every reader of the
/// event log that saves its cursor (the partner dispatcher, the followers' webhooks): each read
/// holds its lease and starts from its saved cursor.
pub async fn read_while_held<F, Fut>(retry: Duration, what: &str, read: F, shutdown: impl Future<Output = ()>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), crate::errors::ServiceError>>,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            read = read() => {
                if let Err(error) = read {
                    tracing::warn!(%error, "{what} failed; starting again");
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}
