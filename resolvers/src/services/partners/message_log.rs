//! What passed between this node and its partners, for officers: every message received
//! (taken or refused, with the reason) and every message sent (delivered, refused by the
//! partner with its reason, or still queued with the last error).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::PartnerService;
use crate::errors::ServiceError;
use crate::services::outbox::Outbox;
use crate::storage::entities::{partner_inbox, partner_messages};

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageDirection {
    /// From a partner to this node.
    Received,
    /// From this node to a partner.
    Sent,
}

/// One message between this node and a partner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLogEntry {
    /// Which way.
    pub direction: MessageDirection,
    /// The partner's country.
    pub partner: String,
    /// The message's number (per partner and direction).
    pub seq: i64,
    /// ACCEPTED or REFUSED (held for good by the receiver), or PENDING (sent, not yet held).
    pub outcome: &'static str,
    /// Why it was refused, or why its last delivery failed.
    pub reason: Option<String>,
    /// Delivery attempts (sent messages).
    pub attempts: Option<i32>,
    /// When it was received, delivered, or queued.
    pub at: DateTime<Utc>,
}

impl PartnerService {
    /// The newest `first` messages of one direction, of one partner or all, refused ones only
    /// if asked.
    pub async fn message_log(
        &self,
        direction: MessageDirection,
        partner: Option<&str>,
        refused_only: bool,
        first: u64,
    ) -> Result<Vec<MessageLogEntry>, ServiceError> {
        let db = self.storage.db();
        match direction {
            MessageDirection::Received => {
                let mut query = partner_inbox::Entity::find();
                if let Some(partner) = partner {
                    query = query.filter(partner_inbox::Column::Partner.eq(partner));
                }
                if refused_only {
                    query = query.filter(partner_inbox::Column::Outcome.eq("REFUSED"));
                }
                let rows = query.order_by_desc(partner_inbox::Column::ReceivedAt).limit(first).all(db).await?;
                Ok(rows
                    .into_iter()
                    .map(|row| MessageLogEntry {
                        direction,
                        partner: row.partner,
                        seq: row.seq,
                        outcome: if row.outcome == "ACCEPTED" { "ACCEPTED" } else { "REFUSED" },
                        reason: row.reason,
                        attempts: None,
                        at: row.received_at,
                    })
                    .collect())
            }
            MessageDirection::Sent => {
                let mut query = partner_messages::Entity::find();
                if let Some(partner) = partner {
                    query = query.filter(partner_messages::Column::Partner.eq(partner));
                }
                if refused_only {
                    query = query.filter(partner_messages::Column::Refusal.is_not_null());
                }
                let rows = query
                    .order_by_desc(partner_messages::Column::CreatedAt)
                    .order_by_desc(partner_messages::Column::Seq)
                    .limit(first)
                    .all(db)
                    .await?;
                // How each delivery went is its outbox row's (attempts, the last error).
                let subjects = rows.iter().map(|row| format!("{}/{}", row.partner, row.seq)).collect();
                let deliveries: HashMap<String, (i32, Option<String>)> =
                    Outbox::new(self.storage.clone(), self.bus.clone())
                        .partner_deliveries(subjects)
                        .await?
                        .into_iter()
                        .filter_map(|d| Some((d.subject?, (d.attempts, d.last_error))))
                        .collect();
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        let (attempts, last_error) =
                            deliveries.get(&format!("{}/{}", row.partner, row.seq)).cloned().unwrap_or((0, None));
                        let (outcome, reason) = match (row.delivered_at, row.refusal) {
                            (Some(_), Some(refusal)) => ("REFUSED", Some(refusal)),
                            (Some(_), None) => ("ACCEPTED", None),
                            (None, _) => ("PENDING", last_error),
                        };
                        MessageLogEntry {
                            direction,
                            partner: row.partner,
                            seq: row.seq,
                            outcome,
                            reason,
                            attempts: Some(attempts),
                            at: row.delivered_at.unwrap_or(row.created_at),
                        }
                    })
                    .collect())
            }
        }
    }
}
