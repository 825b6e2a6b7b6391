//! Signed webhooks to risk-management systems: every certification event (this node's and its
//! partners') is queued, in the transaction that records it, for every configured receiver, as
//! outbox work of topic `webhook` (the URL its subject, the body its payload), and delivered with
//! retries by the outbox's loop; the rows stay as the delivery log.
//!
//! Each POST carries `Cadena-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` (the receiver recomputes it with the shared secret and refuses stale `t`)
//! and `Cadena-Delivery: <id>` (the same id on every retry, so receivers can de-duplicate).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::errors::ServiceError;
use crate::services::outbox::{self, Handled, Handler, Intake, Outcome, Topic, Work};
use crate::services::retry::Backoff;

/// A configured receiver.
#[derive(Clone)]
pub struct WebhookTarget {
    /// Where to POST.
    pub url: String,
    /// The HMAC secret shared with the receiver.
    pub secret: String,
    /// The VERIFIER account whose recognition changes it gets (status only); None: a risk
    /// system, which gets every certification event.
    pub verifier: Option<String>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Attempts before a delivery is given up (about a day of backoff).
const MAX_ATTEMPTS: i32 = 20;

/// The `Cadena-Signature` header value for `body` at unix time `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues and delivers webhook calls.
#[derive(Clone, Debug)]
pub struct WebhookService {
    targets: Vec<WebhookTarget>,
    http: reqwest::Client,
}

impl WebhookService {
    /// The receivers of VERIFIER accounts' recognition changes.
    pub fn follower_webhooks(&self) -> Vec<crate::services::recognition_webhooks::FollowerWebhook> {
        self.targets
            .iter()
            .filter_map(|t| {
                let verifier = t.verifier.clone()?;
                Some(crate::services::recognition_webhooks::FollowerWebhook { verifier, url: t.url.clone() })
            })
            .collect()
    }

    /// Deliveries to `targets` (none: nothing is queued).
    pub fn new(targets: Vec<WebhookTarget>) -> WebhookService {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        WebhookService { targets, http }
    }

    /// The work of delivering `payload` to every receiver, for the caller's transaction.
    pub fn work(&self, payload: &Value) -> Vec<Work> {
        let body = payload.to_string();
        self.targets
            .iter()
            .filter(|target| target.verifier.is_none())
            .map(|target| Work::new(Topic::Webhook, body.clone()).about(target.url.clone()))
            .collect()
    }

    /// The work of delivering `payload` to the receivers of VERIFIER account `verifier` only.
    pub fn work_for_verifier(&self, verifier: &str, payload: &Value) -> Vec<Work> {
        let body = payload.to_string();
        self.targets
            .iter()
            .filter(|target| target.verifier.as_deref() == Some(verifier))
            .map(|target| Work::new(Topic::Webhook, body.clone()).about(target.url.clone()))
            .collect()
    }

    async fn attempt(&self, target: &WebhookTarget, delivery: &outbox::Row) -> Outcome {
        let t = chrono::Utc::now().timestamp();
        let response = self
            .http
            .post(&target.url)
            .headers(crate::trace_context::headers())
            .header("content-type", "application/json")
            .header("cadena-signature", signature(&target.secret, t, &delivery.payload))
            .header("cadena-delivery", delivery.id.to_string())
            .body(delivery.payload.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                Outcome::Done { status: Some(response.status().as_u16()) }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                Outcome::Failed { status: Some(status), error: format!("HTTP {status}") }
            }
            Err(error) => Outcome::Failed { status: None, error: error.to_string() },
        }
    }
}

impl Handler for WebhookService {
    const TOPIC: Topic = Topic::Webhook;

    fn intake(&self) -> Intake {
        Intake::Each { limit: 50 }
    }

    /// Receivers may be down for hours; at most one attempt an hour then.
    fn backoff(&self) -> Backoff {
        Backoff::WEBHOOK
    }

    fn max_attempts(&self) -> Option<i32> {
        Some(MAX_ATTEMPTS)
    }

    async fn handle(&self, rows: Vec<outbox::Row>) -> Result<Handled, ServiceError> {
        let mut handled = Handled::default();
        for delivery in rows {
            let url = delivery.subject.as_deref().unwrap_or_default();
            // A delivery queued for a receiver that has since left the configuration is not
            // sent: there is no secret to sign it with, and that URL is no longer ours to call.
            let outcome = match self.targets.iter().find(|t| t.url == url) {
                Some(target) => self.attempt(target, &delivery).await,
                None => {
                    tracing::warn!(%url, id = delivery.id, "webhook delivery dropped: its URL is no longer configured");
                    Outcome::GiveUp { error: "not sent: no webhook is configured for this URL any more".into() }
                }
            };
            handled.outcomes.push((delivery.id, outcome));
        }
        Ok(handled)
    }
}

/// The JSON body webhook receivers get for one of this node's own transitions.
pub fn local_payload(event: &crate::events::CertificationEvent) -> Value {
    serde_json::json!({
        "type": "certification.event",
        "origin": event.origin,
        "transition": event.transition.as_str(),
        "status": event.to.as_str(),
        "at": event.at,
        "reason": event.reason,
        "certification": {
            "id": event.certification.id,
            "issuingCountry": event.certification.issuing_country,
            "tin": event.certification.tin,
            "operatorName": event.certification.operator_name,
            "certificateType": event.certification.certificate_type,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_time_and_body() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
