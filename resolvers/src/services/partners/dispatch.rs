//! Dispatching: this node's grants, status changes and amendments numbered for its MRA
//! partners. The dispatcher reads the node's event log (every transition is written there in
//! its own transaction, in commit order) from a saved cursor, on the replica holding its lease.
//! For each event partners hear of it records the event in `partner_events` and numbers it for
//! every ACTIVE partner whose MRA scope covers the certificate type (`partner_messages`, per
//! partner from 1 without gaps), queuing a `partner.message` delivery for each; the events read
//! and the cursor past them commit together, so each event is numbered once, whatever crashes.
//!
//! Why the log and not an outbox row per transition: the log entry is written anyway, so a
//! transition writes nothing more for partners (issuance is bound by the database's one
//! writer), and the dispatcher numbers many events in one transaction instead of one each.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cadena_credentials::Transition;
use chrono::Utc;
use futures::StreamExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set};
use serde_json::json;

use super::PartnerService;
use super::mras::scope_bit;
use super::outbox::queue_statements;
use crate::errors::ServiceError;
use crate::event_log::EventLog;
use crate::events::CertificationEvent;
use crate::services::lease::{Lease, read_while_held};
use crate::storage::WriteBatch;
use crate::storage::entities::{certifications, event_cursors, mra_partners, partner_events};

/// The dispatcher's name, for its cursor and its lease.
pub const READER: &str = "partner-dispatch";
/// The pause before the dispatcher starts again after a failure.
const RETRY: Duration = Duration::from_secs(1);
/// The most events numbered in one transaction (all of them when fewer are waiting).
const EVENTS_PER_COMMIT: usize = 500;
/// The conflict when another dispatcher moved the cursor first.
const MOVED_ELSEWHERE: &str = "the partner dispatcher's cursor was moved by another dispatcher";

/// Whether partners hear of `event`: this node's grants, and the later status changes of a
/// granted credential (a submission, a refusal or a superseded version is not news to them; an
/// amendment's grant carries the credential it replaces).
pub fn heard_by_partners(event: &CertificationEvent) -> bool {
    event.origin.is_none()
        && event.certification.credential_id.is_some()
        && matches!(
            event.transition,
            Transition::Approve | Transition::Suspend | Transition::Reinstate | Transition::Revoke | Transition::Annul
        )
}

/// The dispatcher: follows the log and numbers what partners hear of.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    partners: PartnerService,
    log: EventLog,
}

impl Dispatcher {
    /// Numbers the events of `log` for the partners of `partners`.
    pub fn new(partners: PartnerService, log: EventLog) -> Dispatcher {
        Dispatcher { partners, log }
    }

    /// Follows the log until `shutdown`, on the replica holding the dispatcher's lease.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let lease = Lease::new(self.partners.storage.clone(), READER);
        read_while_held(RETRY, "dispatching events to partners", || self.read(&lease), shutdown).await;
    }

    /// The dispatcher's cursor, saved at the log's newest event if the node never had one. A
    /// node upgraded from dispatching by outbox rows has one (migration 19); a node that never
    /// dispatched starts from now: what came before was not for partners (it was not anchored).
    /// The node calls this before it serves, so no transition commits before the starting point.
    pub async fn cursor(&self) -> Result<u64, ServiceError> {
        self.log.saved_cursor(READER).await
    }

    /// Reads the log from the saved cursor while this replica holds the lease; each chunk of
    /// events that arrived together is numbered in one transaction with the cursor past it.
    async fn read(&self, lease: &Lease) -> Result<(), ServiceError> {
        if !lease.hold().await {
            return Ok(());
        }
        let storage = &self.partners.storage;
        let mut cursor = self.cursor().await?;
        let events = self.log.follow(cursor).ready_chunks(EVENTS_PER_COMMIT);
        futures::pin_mut!(events);
        while let Some(chunk) = events.next().await {
            let events = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
            let Some(last) = events.last().map(|event| event.sequence) else { continue };
            if !lease.hold().await {
                return Ok(());
            }
            let mut writes = self.partners.dispatch(&events).await?;
            // Guarded: a second dispatcher (a lease lost mid-chunk) fails instead of numbering
            // the same events twice.
            writes.push_guarded(event_cursors::advance(READER, cursor, last, storage.backend()), MOVED_ELSEWHERE);
            storage.apply_alone(writes).await?;
            cursor = last;
        }
        Ok(())
    }
}

impl PartnerService {
    /// The statements recording each of `events` partners hear of in `partner_events` and
    /// numbering it for every ACTIVE partner whose scope covers it, in order.
    async fn dispatch(&self, events: &[Arc<CertificationEvent>]) -> Result<WriteBatch, ServiceError> {
        let mut writes = WriteBatch::default();
        let heard: Vec<&CertificationEvent> = events.iter().map(Arc::as_ref).filter(|e| heard_by_partners(e)).collect();
        if heard.is_empty() {
            return Ok(writes);
        }
        let db = self.storage.db();
        let partners: Vec<mra_partners::Model> =
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(db).await?;
        let mut next_id = partner_events::Entity::find()
            .select_only()
            .column_as(partner_events::Column::Id.max(), "max")
            .into_tuple::<Option<i64>>()
            .one(db)
            .await?
            .flatten()
            .unwrap_or(0)
            + 1;
        let mut next_seq: HashMap<&str, i64> = HashMap::new();
        for partner in &partners {
            next_seq.insert(&partner.country, self.last_numbered(&partner.country).await? + 1);
        }
        let backend = self.storage.backend();
        for event in heard {
            let row = &event.certification;
            let credential_id = row.credential_id.clone().unwrap_or_default();
            let replaces = match (event.transition, row.previous_version_id) {
                (Transition::Approve, Some(previous)) => {
                    certifications::Entity::find_by_id(previous).one(db).await?.and_then(|p| p.credential_id)
                }
                _ => None,
            };
            let recorded = partner_events::Model {
                id: next_id,
                certification_id: row.id,
                credential_id: credential_id.clone(),
                certificate_type: row.certificate_type.clone(),
                event: json!({
                    "transition": event.transition.as_str(),
                    "status": event.to.as_str(),
                    "at": event.at,
                    "reason": event.reason,
                    "certificationId": row.id,
                    "lineageId": row.lineage_id,
                    "version": row.version,
                    "credentialId": credential_id,
                    "replaces": replaces,
                })
                .to_string(),
                created_at: Utc::now(),
            };
            next_id += 1;
            // Each event's deliveries continue the trace of the request that caused it.
            let span = tracing::info_span!(
                "partner dispatch",
                event.cursor = event.sequence,
                trace_id = tracing::field::Empty
            );
            if let Some(traceparent) = &event.trace_context {
                crate::trace_context::continue_stored(&span, traceparent);
            }
            crate::trace_context::record_trace_id(&span);
            span.in_scope(|| {
                writes.push(
                    partner_events::Entity::insert(partner_events::ActiveModel {
                        id: Set(recorded.id),
                        certification_id: Set(recorded.certification_id),
                        credential_id: Set(recorded.credential_id.clone()),
                        certificate_type: Set(recorded.certificate_type.clone()),
                        event: Set(recorded.event.clone()),
                        created_at: Set(recorded.created_at),
                    })
                    .build(backend),
                );
                let bit = scope_bit(&recorded.certificate_type);
                for partner in partners.iter().filter(|p| p.scope & bit != 0) {
                    let seq = next_seq.get_mut(partner.country.as_str()).expect("every partner numbered");
                    writes.extend(queue_statements(backend, &partner.country, *seq, &recorded));
                    *seq += 1;
                }
            });
        }
        Ok(writes)
    }
}
