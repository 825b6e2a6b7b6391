//! Request rates per client: the one limiter behind the node's anonymous verifications and the
//! federation gateway's requests per client.
//!
//! Within one process it is `governor`'s GCRA. Replicas behind a load balancer that share Redis
//! (`[redis] url`) run the same GCRA in Redis, as one script whose clock is Redis's, so a client
//! gets its rate once from the set of replicas, not once from each. A replica that cannot reach
//! Redis within [`REDIS_TIMEOUT`] falls back to its own `governor` allowance (the rate per
//! replica: a limit is never lifted, and no request waits on a dead Redis) and tries Redis again
//! after [`REDIS_RETRY`].

use std::num::NonZeroU32;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};

/// The longest a request waits on Redis before the replica's own allowance decides.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a replica decides alone after Redis failed it.
pub const REDIS_RETRY: Duration = Duration::from_secs(5);
/// Clients a process's own limiter tracks before it forgets the idle ones.
const MAX_LOCAL_CLIENTS: usize = 10_000;

/// GCRA, as `governor` keeps it: one theoretical arrival time (TAT) per key, in microseconds of
/// Redis's clock. A request is admitted while the TAT is at most `(burst - 1)` emission
/// intervals ahead of now, and moves it one interval on; otherwise the answer is how many
/// microseconds until it would be admitted. The key expires once its TAT has passed.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local ahead = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > ahead then return tat - now - ahead end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
return 0
";

/// Over the rate: the caller may try again after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverRate {
    /// How long until the next request would be admitted.
    pub retry_after: Duration,
}

/// A rate per minute per client key.
pub struct RateLimiter {
    per_minute: NonZeroU32,
    local: governor::DefaultKeyedRateLimiter<String>,
    shared: OnceLock<Shared>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_minute", &self.per_minute)
            .field("shared", &self.shared.get().map(|s| &s.namespace))
            .finish_non_exhaustive()
    }
}

/// The Redis the replicas share, and this replica's connection to it.
struct Shared {
    client: redis::Client,
    /// Keeps the keys of one deployment (one node's replicas, one gateway's) apart from others'.
    namespace: String,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Until when this replica decides alone after Redis failed it.
    alone_until: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_minute` requests a minute per key, with bursts of as many; this process alone
    /// until [`RateLimiter::share`].
    pub fn new(per_minute: NonZeroU32) -> RateLimiter {
        RateLimiter {
            per_minute,
            local: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute)),
            shared: OnceLock::new(),
        }
    }

    /// From now on the rate is shared with every limiter of `namespace` on the Redis at
    /// `client` (the replicas of one deployment). Only the first call takes effect.
    pub fn share(&self, client: redis::Client, namespace: &str) {
        let _ = self.shared.set(Shared {
            client,
            namespace: namespace.to_owned(),
            connection: tokio::sync::Mutex::new(None),
            alone_until: Mutex::new(None),
        });
    }

    /// The requests a minute per key.
    pub fn per_minute(&self) -> u32 {
        self.per_minute.get()
    }

    /// Admits one request of `key`, or says how long it must wait.
    pub async fn check(&self, key: &str) -> Result<(), OverRate> {
        if let Some(shared) = self.shared.get()
            && let Some(answer) = shared.check(key, self.per_minute).await
        {
            return answer;
        }
        self.check_locally(key)
    }

    fn check_locally(&self, key: &str) -> Result<(), OverRate> {
        if self.local.len() > MAX_LOCAL_CLIENTS {
            self.local.retain_recent();
        }
        self.local
            .check_key(&key.to_owned())
            .map_err(|not_until| OverRate { retry_after: not_until.wait_time_from(self.local.clock().now()) })
    }
}

impl Shared {
    /// Redis's answer, or None when Redis cannot give one now (this replica then decides).
    async fn check(&self, key: &str, per_minute: NonZeroU32) -> Option<Result<(), OverRate>> {
        if self.alone_until.lock().expect("lock").is_some_and(|until| Instant::now() < until) {
            return None;
        }
        match tokio::time::timeout(REDIS_TIMEOUT, self.ask(key, per_minute)).await {
            Ok(Ok(0)) => Some(Ok(())),
            Ok(Ok(wait)) => Some(Err(OverRate { retry_after: Duration::from_micros(wait.max(0) as u64) })),
            outcome => {
                let error = match outcome {
                    Ok(Err(error)) => error.to_string(),
                    _ => format!("no answer within {REDIS_TIMEOUT:?}"),
                };
                tracing::warn!(%error, alone_for = ?REDIS_RETRY, "shared rate limits unreachable; this replica limits alone");
                *self.connection.lock().await = None;
                *self.alone_until.lock().expect("lock") = Some(Instant::now() + REDIS_RETRY);
                None
            }
        }
    }

    /// Runs the GCRA script for `key`: 0 when admitted, else microseconds to wait.
    async fn ask(&self, key: &str, per_minute: NonZeroU32) -> redis::RedisResult<i64> {
        let mut connection = {
            let mut held = self.connection.lock().await;
            match held.as_ref() {
                Some(connection) => connection.clone(),
                None => {
                    let connection = self.client.get_multiplexed_async_connection().await?;
                    *held = Some(connection.clone());
                    connection
                }
            }
        };
        // Keys name clients by a digest: a bearer token is a client's key and stays out of Redis.
        let digest = hex::encode(&Sha256::digest(key.as_bytes())[..16]);
        let interval_us = 60_000_000 / u64::from(per_minute.get());
        redis::cmd("EVAL")
            .arg(GCRA)
            .arg(1)
            .arg(format!("cadena:{}:rate:{digest}", self.namespace))
            .arg(interval_us)
            .arg(per_minute.get())
            .query_async(&mut connection)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS: &str = "redis://127.0.0.1:6379";

    fn limiter(per_minute: u32) -> RateLimiter {
        RateLimiter::new(NonZeroU32::new(per_minute).unwrap())
    }

    async fn admitted(limiter: &RateLimiter, key: &str, tries: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..tries {
            admitted += usize::from(limiter.check(key).await.is_ok());
        }
        admitted
    }

    #[tokio::test]
    async fn replicas_sharing_redis_grant_a_client_its_rate_once() {
        let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        let replicas: Vec<RateLimiter> = (0..3).map(|_| limiter(5)).collect();
        for replica in &replicas {
            replica.share(redis::Client::open(REDIS).unwrap(), &namespace);
        }
        let mut admitted_total = 0;
        for _ in 0..4 {
            for replica in &replicas {
                admitted_total += admitted(replica, "203.0.113.7", 1).await;
            }
        }
        assert_eq!(admitted_total, 5, "12 requests over 3 replicas: the client's 5 a minute, once");
        let refused = replicas[1].check("203.0.113.7").await.unwrap_err();
        assert!(refused.retry_after > Duration::from_secs(1) && refused.retry_after <= Duration::from_secs(12));
        // Another client, and the same client in another deployment, have their own rates.
        assert_eq!(admitted(&replicas[2], "203.0.113.8", 6).await, 5);
        let elsewhere = limiter(5);
        elsewhere.share(redis::Client::open(REDIS).unwrap(), &format!("{namespace}-other"));
        assert_eq!(admitted(&elsewhere, "203.0.113.7", 6).await, 5);
    }

    #[tokio::test]
    async fn without_redis_each_replica_limits_alone() {
        // Nothing listens on port 9 (discard) here: connecting fails at once.
        let replicas: Vec<RateLimiter> = (0..2).map(|_| limiter(3)).collect();
        for replica in &replicas {
            replica.share(redis::Client::open("redis://127.0.0.1:9").unwrap(), "unreachable");
        }
        assert_eq!(admitted(&replicas[0], "client", 5).await, 3);
        assert_eq!(admitted(&replicas[1], "client", 5).await, 3);
    }
}
