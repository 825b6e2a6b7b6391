//! One backoff for everything that is retried: anchoring rounds, partner messages, webhook
//! deliveries. Exponential from a base, capped, with "equal jitter" (half the delay fixed, half
//! random): a retry never comes at once, and many deliveries that failed together (a partner
//! or a receiver back from downtime) do not all come back in the same instant.

use std::time::Duration;

use rand::Rng;

/// How a kind of work backs off after failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure (before jitter).
    pub base: Duration,
    /// The longest delay (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// Partner messages: a partner back from downtime hears within half a minute.
    pub const PARTNER: Backoff = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(30) };
    /// Webhooks: receivers may be down for hours; at most one attempt an hour then.
    pub const WEBHOOK: Backoff = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(3600) };

    /// The pause before the next attempt after `failures` failures (0: the first one failed).
    pub fn after(&self, failures: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << failures.min(20)).min(self.max);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_capped_and_spread() {
        let backoff = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(30) };
        for failures in 0..40 {
            let ceiling = Duration::from_secs(1u64 << failures.min(20)).min(Duration::from_secs(30));
            let delay = backoff.after(failures);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{failures} failures: {delay:?} within [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        let spread: std::collections::HashSet<Duration> = (0..50).map(|_| backoff.after(5)).collect();
        assert!(spread.len() > 1, "jittered");
    }
}
