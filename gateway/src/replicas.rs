//! What the replicas of one node share through Redis (`[redis] url`): word that a replica
//! committed events. Every replica reads the same event log in the shared database (see
//! `cadena_resolvers::event_log`); Redis only makes the other replicas read it at once instead
//! of at their next poll, so a subscriber on replica 2 hears a transition committed on replica
//! 1 within milliseconds. Redis being down costs latency (the poll), never an event.

use std::future::Future;
use std::time::Duration;

use cadena_resolvers::events::EventBus;
use futures::StreamExt;

/// Relays this replica's commits to the others and theirs to this one, until `shutdown`;
/// reconnects (with backoff) when Redis goes away.
pub async fn relay_commits(url: String, country: String, bus: EventBus, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    let channel = format!("cadena:{country}:events");
    // Tells this replica's own messages apart from the others'.
    let replica = uuid::Uuid::now_v7().to_string();
    let mut failures = 0;
    loop {
        let outcome = tokio::select! {
            _ = &mut shutdown => return,
            outcome = relay_once(&url, &channel, &replica, &bus) => outcome,
        };
        let error = match outcome {
            Ok(()) => "the subscription ended".to_owned(),
            Err(error) => error.to_string(),
        };
        let pause = cadena_resolvers::services::retry::Backoff::PARTNER.after(failures);
        failures += 1;
        tracing::warn!(%error, retry_in = ?pause, "relaying commits through Redis failed; replicas poll meanwhile");
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn relay_once(url: &str, channel: &str, replica: &str, bus: &EventBus) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut subscription = client.get_async_pubsub().await?;
    subscription.subscribe(channel).await?;
    let mut messages = subscription.into_on_message();
    let mut publisher = client.get_multiplexed_async_connection().await?;
    let mut commits = bus.commits();
    tracing::info!(channel, "relaying commits between replicas through Redis");
    loop {
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let mut command = redis::cmd("PUBLISH");
                command.arg(channel).arg(replica);
                tokio::time::timeout(Duration::from_secs(2), command.query_async::<i64>(&mut publisher))
                    .await
                    .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
            }
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                if message.get_payload_bytes() != replica.as_bytes() {
                    bus.committed_elsewhere();
                }
            }
        }
    }
}
