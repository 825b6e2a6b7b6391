//! The node's Prometheus metrics, in the process's default registry (`GET /metrics` encodes
//! it). Counters and histograms are recorded where things happen (verifications here, HTTP and
//! GraphQL in the server); what the database knows (outbox depth and age, anchoring lag,
//! partner delivery lag and refusals) is read when scraped, so it is right on whichever replica
//! answers.

use std::sync::LazyLock;

use chrono::Utc;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, register_gauge_vec,
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};

use cadena_credentials::verification::{Check, Outcome, PresentationReport, VerificationReport};

use crate::errors::ServiceError;
use crate::graphql::NodeServices;
use crate::services::outbox::Topic;
use crate::storage::Storage;
use crate::storage::entities::{anchor_batches, partner_messages};

/// Latency buckets in seconds, from 1 ms to 10 s.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn registered<T>(metric: prometheus::Result<T>) -> T {
    metric.expect("each metric is registered once, under its own name")
}

/// HTTP requests by method, route and status.
pub static HTTP_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts =
        HistogramOpts::new("cadena_http_request_duration_seconds", "HTTP request latency").buckets(BUCKETS.to_vec());
    registered(register_histogram_vec!(opts, &["method", "route", "status"]))
});

/// GraphQL operations (queries and mutations over HTTP) by operation name.
pub static GRAPHQL_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new("cadena_graphql_operation_duration_seconds", "GraphQL operation latency")
        .buckets(BUCKETS.to_vec());
    registered(register_histogram_vec!(opts, &["operation"]))
});

/// Verification outcomes by fragment.
pub static VERIFICATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let opts = Opts::new("cadena_verifications_total", "Verification fragments checked, by outcome");
    registered(register_int_counter_vec!(opts, &["fragment", "outcome"]))
});

static OUTBOX_DEPTH: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    registered(register_int_gauge_vec!("cadena_outbox_depth", "Outbox rows waiting, by kind", &["topic"]))
});
static OUTBOX_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    let help = "Age of the oldest outbox row waiting, by kind";
    registered(register_gauge_vec!("cadena_outbox_oldest_age_seconds", help, &["topic"]))
});
static ANCHORING_LAG_BLOCKS: LazyLock<IntGauge> = LazyLock::new(|| {
    let help = "Blocks since the last confirmed anchor batch while credentials wait to be anchored";
    registered(register_int_gauge!("cadena_anchoring_lag_blocks", help))
});
static ANCHORING_LAG_SECONDS: LazyLock<IntGauge> = LazyLock::new(|| {
    let help = "Age of the oldest event or credential the anchoring former has not formed into a batch yet";
    registered(register_int_gauge!("cadena_anchoring_lag_seconds", help))
});
static PARTNER_LAG: LazyLock<GaugeVec> = LazyLock::new(|| {
    let help = "Age of the oldest message not yet delivered to each MRA partner";
    registered(register_gauge_vec!("cadena_partner_delivery_lag_seconds", help, &["partner"]))
});
static PARTNER_REFUSALS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    let help = "Messages each MRA partner refused (kept in the message log)";
    registered(register_int_gauge_vec!("cadena_partner_refusals", help, &["partner"]))
});
static SUBSCRIBERS: LazyLock<IntGauge> = LazyLock::new(|| {
    let help = "Subscriptions connected (WebSocket and SSE), with the console's live feeds";
    registered(register_int_gauge!("cadena_subscribers", help))
});

fn outcome(check: &Check) -> &'static str {
    match check.outcome {
        Outcome::Valid => "VALID",
        Outcome::Invalid => "INVALID",
        Outcome::Skipped => "SKIPPED",
        Outcome::Error => "ERROR",
    }
}

/// Counts each fragment of a credential's report.
pub fn count_verification(report: &VerificationReport) {
    for (fragment, check) in [
        ("integrity", &report.integrity),
        ("issuer_trust", &report.issuer_trust),
        ("status", &report.status.check),
        ("validity", &report.validity),
        ("anchor", &report.anchor),
    ] {
        VERIFICATIONS.with_label_values(&[fragment, outcome(check)]).inc();
    }
}

/// Counts each fragment of a presentation's report, its credentials' included.
pub fn count_presentation(report: &PresentationReport) {
    for (fragment, check) in
        [("integrity", &report.integrity), ("challenge", &report.challenge), ("holder_binding", &report.holder_binding)]
    {
        VERIFICATIONS.with_label_values(&[fragment, outcome(check)]).inc();
    }
    report.credentials.iter().for_each(count_verification);
}

/// Reads what the node's database (`storage`) and the chain know into the gauges, before a
/// scrape.
pub async fn refresh(services: &NodeServices, storage: &Storage) -> Result<(), ServiceError> {
    let db = storage.db();
    let now = Utc::now();
    for topic in [Topic::Anchor, Topic::PartnerMessage, Topic::Webhook] {
        let (depth, oldest) = services.outbox.backlog(topic).await?;
        OUTBOX_DEPTH.with_label_values(&[topic.as_str()]).set(depth as i64);
        let age = oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
        OUTBOX_AGE.with_label_values(&[topic.as_str()]).set(age);
    }
    if let Some(anchoring) = &services.anchoring {
        // What waits to be formed (the log's events and the outbox's rows), and how far the
        // chain has gone since the last batch landed.
        let (_, oldest) = anchoring.backlog().await?;
        ANCHORING_LAG_SECONDS.set(oldest.map_or(0, |at| (now - at).num_seconds().max(0)));
        let mut blocks = 0;
        if oldest.is_some() {
            let last = anchor_batches::Entity::find()
                .filter(anchor_batches::Column::BlockNumber.is_not_null())
                .order_by_desc(anchor_batches::Column::BlockNumber)
                .one(db)
                .await?
                .and_then(|batch| batch.block_number);
            if let (Some(last), Ok(head)) = (last, anchoring.chain().block_number().await) {
                blocks = (head as i64 - last).max(0);
            }
        }
        ANCHORING_LAG_BLOCKS.set(blocks);
    } else {
        ANCHORING_LAG_SECONDS.set(0);
        ANCHORING_LAG_BLOCKS.set(0);
    }
    // Only the rows waiting or refused: few, however long the log.
    let messages = partner_messages::Entity::find()
        .filter(
            Condition::any()
                .add(partner_messages::Column::DeliveredAt.is_null())
                .add(partner_messages::Column::Refusal.is_not_null()),
        )
        .all(db)
        .await?;
    PARTNER_LAG.reset();
    PARTNER_REFUSALS.reset();
    for message in messages {
        if message.delivered_at.is_none() {
            let lag = PARTNER_LAG.with_label_values(&[&message.partner]);
            lag.set(lag.get().max((now - message.created_at).num_milliseconds().max(0) as f64 / 1000.0));
        }
        if message.refusal.is_some() {
            PARTNER_REFUSALS.with_label_values(&[&message.partner]).inc();
        }
    }
    // Every partner has its series, at 0 while all is delivered and nothing refused.
    if let Some(partners) = &services.partners {
        for partner in partners.partners().await? {
            PARTNER_LAG.with_label_values(&[&partner.country]).add(0.0);
            PARTNER_REFUSALS.with_label_values(&[&partner.country]).add(0);
        }
    }
    SUBSCRIBERS.set(services.certifications.bus().receivers() as i64);
    Ok(())
}
