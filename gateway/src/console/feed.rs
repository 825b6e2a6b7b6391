//! The partner feed: what MRA partners sent, newest first, arriving live, and the messages this
//! node refused with their reasons. The page is rendered whole; what arrives after comes over
//! the node's own server-sent events (`/console/partners/events`, followed by `console.js`
//! with `EventSource`), read from the event log the way GraphQL subscriptions read it.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cadena_resolvers::auth::Operation;
use cadena_resolvers::events::CertificationEvent;
use cadena_resolvers::services::console_sessions::ConsoleSessions;
use cadena_resolvers::services::partners::MessageDirection;
use futures::StreamExt;
use serde_json::json;

use super::pages::{Chrome, render};
use super::texts::Lang;
use super::{SESSION_COOKIE, Visitor, failure, may};
use crate::node::Node;

/// How many records and refusals the page shows.
const SHOWN: u64 = 50;
/// How often a live feed checks that its session still holds (logout, a disabled account).
const SESSION_RECHECK: Duration = Duration::from_secs(10);

/// One thing a partner sent.
struct Arrival {
    id: uuid::Uuid,
    at: String,
    partner: String,
    number: String,
    operator: String,
    tin: String,
    status_code: &'static str,
    status: &'static str,
}

/// One message this node refused.
struct Refusal {
    partner: String,
    seq: i64,
    at: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "partners.html")]
struct Feed {
    chrome: Chrome,
    arrivals: Vec<Arrival>,
    /// None when the officer may not read the message log.
    refusals: Option<Vec<Refusal>>,
}

/// `GET /console/partners`.
pub async fn page(State(node): State<Node>, visitor: Visitor) -> Response {
    let principal = match visitor.allowed(&node, Operation::SubscribeEvents) {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let lang = visitor.lang;
    let records = match &node.services.partners {
        Some(partners) => partners.latest_records(SHOWN).await,
        None => Ok(Vec::new()),
    };
    let arrivals = match records {
        Ok(records) => records
            .iter()
            .map(|record| {
                let row = cadena_resolvers::services::partners::partner_record_as_certification(record);
                let status = cadena_resolvers::services::certifications::effective_status(&row, chrono::Utc::now());
                Arrival {
                    id: row.id,
                    at: lang.moment(record.updated_at),
                    partner: record.partner.clone(),
                    number: row.certificate_number,
                    operator: row.operator_name,
                    tin: row.tin,
                    status_code: status.as_str(),
                    status: lang.status(status.as_str()),
                }
            })
            .collect(),
        Err(error) => return failure(lang, &node, &error),
    };
    let refusals = match (&node.services.partners, may(Some(principal), Operation::ReadPartnerMessages)) {
        (Some(partners), true) => match partners.message_log(MessageDirection::Received, None, true, SHOWN).await {
            Ok(entries) => Some(
                entries
                    .into_iter()
                    .map(|e| Refusal {
                        partner: e.partner,
                        seq: e.seq,
                        at: lang.moment(e.at),
                        reason: e.reason.unwrap_or_default(),
                    })
                    .collect(),
            ),
            Err(error) => return failure(lang, &node, &error),
        },
        (None, true) => Some(Vec::new()),
        (_, false) => None,
    };
    let page = Feed { chrome: visitor.chrome(&node), arrivals, refusals };
    (visitor.answer_jar(), render(StatusCode::OK, &page)).into_response()
}

/// `GET /console/partners/events`: each certification event a partner sent from now on, as
/// an SSE `arrival` whose data is the row to show (in the visitor's language). The stream
/// ends when the session does.
pub async fn events(State(node): State<Node>, visitor: Visitor) -> Response {
    if let Err(response) = visitor.allowed(&node, Operation::SubscribeEvents) {
        return response;
    }
    let lang = visitor.lang;
    let log = node.services.certifications.event_log();
    let now = match log.now().await {
        Ok(now) => now,
        Err(error) => return failure(lang, &node, &error),
    };
    let secret = visitor.jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let sessions = ConsoleSessions::new(node.storage.clone());
    let events = log.follow(now);
    let stream = async_stream::stream! {
        futures::pin_mut!(events);
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        if let Some(data) = arrival(&event, lang) {
                            yield Ok::<Event, Infallible>(Event::default().event("arrival").data(data.to_string()));
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the console's partner feed stopped");
                        break;
                    }
                    None => break,
                },
                _ = recheck.tick() => {
                    if !matches!(sessions.resume(&secret).await, Ok(Some(_))) {
                        break;
                    }
                }
            }
        }
    };
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The row an event from a partner adds to the feed; None for this node's own events.
fn arrival(event: &CertificationEvent, lang: Lang) -> Option<serde_json::Value> {
    let partner = event.origin.as_deref()?;
    let row = &event.certification;
    let status = event.to.as_str();
    Some(json!({
        "href": format!("/console/certifications/{}", row.id),
        "at": lang.moment(event.at),
        "partner": partner,
        "number": row.certificate_number,
        "operator": row.operator_name,
        "tin": row.tin,
        "statusCode": status,
        "status": lang.status(status),
    }))
}
