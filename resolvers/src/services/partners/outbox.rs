//! Sending: events numbered per partner (`partner_outbox`), sealed and POSTed in order to each
//! partner's inbox, again until the partner holds them for good.

use std::collections::HashMap;

use cadena_credentials::jose;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement};
use serde_json::{Value, json};

use super::mras::scope_bit;
use super::{ChannelError, InboxAck, MESSAGE_TYPE, PartnerMessage, PartnerService};
use crate::errors::ServiceError;
use crate::services::retry::Backoff;
use crate::storage::WriteBatch;
use crate::storage::entities::{certifications, mra_partners, partner_events, partner_outbox};

/// The `partner_events` row of a transition partners hear of (a grant, amendment or status
/// change), to commit with the transition.
pub fn event_statement(
    backend: DbBackend,
    row: &certifications::Model,
    entry: &cadena_credentials::HistoryEntry,
    credential_id: &str,
    replaces: Option<&str>,
) -> Statement {
    let event = json!({
        "transition": entry.transition.as_str(),
        "status": entry.to.as_str(),
        "at": entry.at,
        "reason": entry.reason,
        "certificationId": row.id,
        "lineageId": row.lineage_id,
        "version": row.version,
        "credentialId": credential_id,
        "replaces": replaces,
    });
    partner_events::Entity::insert(partner_events::ActiveModel {
        certification_id: Set(row.id),
        credential_id: Set(credential_id.to_owned()),
        certificate_type: Set(row.certificate_type.clone()),
        event: Set(event.to_string()),
        dispatched: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .build(backend)
}

/// The statement queuing `event` for `partner` as message `seq`; a grant waits for its
/// credential's anchor.
pub(super) fn queue_statement(backend: DbBackend, partner: &str, seq: i64, event: &partner_events::Model) -> Statement {
    let is_grant = serde_json::from_str::<Value>(&event.event).ok().is_some_and(|e| e["transition"] == "APPROVE");
    partner_outbox::Entity::insert(partner_outbox::ActiveModel {
        partner: Set(partner.to_owned()),
        seq: Set(seq),
        event_id: Set(event.id),
        needs_anchor: Set(is_grant),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(Utc::now()),
        delivered_at: Set(None),
        refusal: Set(None),
        created_at: Set(Utc::now()),
    })
    .build(backend)
}

impl PartnerService {
    /// The last number given to a message for `partner` (0: none yet).
    pub(super) async fn last_numbered(&self, partner: &str) -> Result<i64, ServiceError> {
        Ok(partner_outbox::Entity::find()
            .select_only()
            .column_as(partner_outbox::Column::Seq.max(), "max")
            .filter(partner_outbox::Column::Partner.eq(partner))
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten()
            .unwrap_or(0))
    }

    /// Queues undispatched events for the partners they concern; returns how many events.
    pub(super) async fn dispatch(&self) -> Result<usize, ServiceError> {
        let db = self.storage.db();
        let events = partner_events::Entity::find()
            .filter(partner_events::Column::Dispatched.eq(false))
            .order_by_asc(partner_events::Column::Id)
            .limit(100)
            .all(db)
            .await?;
        if events.is_empty() {
            return Ok(0);
        }
        let partners: Vec<mra_partners::Model> =
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(db).await?;
        let mut next: HashMap<String, i64> = HashMap::new();
        for partner in &partners {
            next.insert(partner.country.clone(), self.last_numbered(&partner.country).await? + 1);
        }
        let backend = self.storage.backend();
        let count = events.len();
        for event in events {
            let mut batch = WriteBatch::default();
            let bit = scope_bit(&event.certificate_type);
            for partner in partners.iter().filter(|p| p.scope & bit != 0) {
                let seq = next.get_mut(&partner.country).expect("numbered above");
                batch.push(queue_statement(backend, &partner.country, *seq, &event));
                *seq += 1;
            }
            batch.push_guarded(
                partner_events::Entity::update_many()
                    .col_expr(partner_events::Column::Dispatched, Expr::value(true))
                    .filter(partner_events::Column::Id.eq(event.id))
                    .filter(partner_events::Column::Dispatched.eq(false))
                    .build(backend),
                "the event was dispatched twice",
            );
            self.apply(batch).await?;
        }
        Ok(count)
    }

    /// Builds the message `seq` for `partner`, or None while its credential waits for its anchor.
    pub(super) async fn message(&self, row: &partner_outbox::Model) -> Result<Option<PartnerMessage>, ServiceError> {
        let db = self.storage.db();
        let event = partner_events::Entity::find_by_id(row.event_id)
            .one(db)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("partner event {} is missing", row.event_id).into()))?;
        let stored =
            self.credentials.stored(&event.credential_id).await?.ok_or_else(|| {
                ServiceError::Internal(format!("credential {} is missing", event.credential_id).into())
            })?;
        let anchor = self.anchoring.proof_of(&stored.digest).await?;
        if row.needs_anchor && anchor.as_ref().is_none_or(|a| a.tx_hash.is_none()) {
            return Ok(None);
        }
        let credential: Value = serde_json::from_str(&stored.document).map_err(ServiceError::internal)?;
        let mut status_lists = Vec::new();
        for purpose in ["revocation", "suspension"] {
            if let Some(list) = self.credentials.status_list(&format!("{purpose}-{}", stored.status_list)).await? {
                status_lists.push(list.as_ref().clone());
            }
        }
        Ok(Some(PartnerMessage {
            message_type: MESSAGE_TYPE.to_owned(),
            from: self.country.as_str().to_owned(),
            to: row.partner.clone(),
            seq: row.seq,
            sent_at: Utc::now(),
            event: serde_json::from_str(&event.event).map_err(ServiceError::internal)?,
            credential,
            anchor,
            status_lists,
        }))
    }

    /// The partner's key-agreement key and its id, from its DID document.
    async fn agreement_key_of(&self, did: &str) -> Result<(String, x25519_dalek::PublicKey), ChannelError> {
        let document = self.credentials.resolve_did(did, false).await?;
        let method = document["keyAgreement"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|m| m.as_str().map(str::to_owned).or_else(|| m["id"].as_str().map(str::to_owned)))
            .ok_or_else(|| ChannelError::AgreementKey(format!("{did} has no keyAgreement key")))?;
        let method = if method.starts_with('#') { format!("{did}{method}") } else { method };
        let entry = document["verificationMethod"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(document["keyAgreement"].as_array().into_iter().flatten())
            .find(|m| {
                m["id"].as_str().map(|id| if id.starts_with('#') { format!("{did}{id}") } else { id.to_owned() })
                    == Some(method.clone())
            })
            .ok_or_else(|| ChannelError::AgreementKey(format!("{method} is not in {did}'s document")))?;
        let multibase = entry["publicKeyMultibase"]
            .as_str()
            .ok_or_else(|| ChannelError::AgreementKey(format!("{method} has no publicKeyMultibase")))?;
        let key = cadena_credentials::keys::x25519_from_multibase(multibase)
            .map_err(|e| ChannelError::AgreementKey(format!("{method}: {e}")))?;
        Ok((method, key))
    }

    /// Signs and encrypts a message for a partner.
    pub(super) async fn seal(
        &self,
        partner: &mra_partners::Model,
        message: &PartnerMessage,
    ) -> Result<String, ChannelError> {
        let (recipient_kid, recipient) = self.agreement_key_of(&partner.did).await?;
        let (kid, key) = self.credentials.identity().signing_key();
        let payload = serde_json::to_vec(message).map_err(ServiceError::internal)?;
        Ok(jose::seal(&payload, &key, &kid, &recipient, &recipient_kid)?)
    }

    /// The base URL of a did:web.
    pub(super) fn base_url(did: &str) -> Result<String, ChannelError> {
        let document = cadena_credentials::did::did_web_document_url(did)?;
        Ok(document
            .strip_suffix("/.well-known/did.json")
            .or_else(|| document.strip_suffix("/did.json"))
            .unwrap_or(&document)
            .to_owned())
    }

    /// Delivers what is due, in order per partner; returns how many were delivered.
    pub(super) async fn deliver(&self) -> Result<usize, ServiceError> {
        let db = self.storage.db();
        let partners: Vec<mra_partners::Model> = mra_partners::Entity::find().all(db).await?;
        let mut delivered = 0;
        for partner in partners {
            loop {
                let Some(row) = partner_outbox::Entity::find()
                    .filter(partner_outbox::Column::Partner.eq(&partner.country))
                    .filter(partner_outbox::Column::DeliveredAt.is_null())
                    .order_by_asc(partner_outbox::Column::Seq)
                    .one(db)
                    .await?
                else {
                    break;
                };
                if row.next_attempt_at > Utc::now() {
                    break;
                }
                // Later messages wait behind the first undelivered one: the partner applies
                // them in order.
                let Some(message) = self.message(&row).await? else { break };
                match self.send(&partner, &message).await {
                    Ok(refusal) => {
                        if let Some(reason) = &refusal {
                            tracing::warn!(partner = %partner.country, seq = row.seq, %reason, "the partner refused the message");
                        }
                        self.mark_delivered(&row, refusal.as_deref()).await?;
                        delivered += 1;
                    }
                    Err(error) => {
                        tracing::warn!(partner = %partner.country, seq = row.seq, %error, "partner delivery failed");
                        self.mark_failed(&row, &error.to_string()).await?;
                        break;
                    }
                }
            }
        }
        Ok(delivered)
    }

    /// Sends one message; Ok once the partner holds it for good, with the partner's reason when
    /// it refused it (a refusal no resend can change). Anything else, a 503 from a partner that
    /// could not judge it yet included, is an error: the message is sent again.
    async fn send(
        &self,
        partner: &mra_partners::Model,
        message: &PartnerMessage,
    ) -> Result<Option<String>, ChannelError> {
        let jwe = self.seal(partner, message).await?;
        let url = format!("{}/partner/inbox", Self::base_url(&partner.did)?);
        let response = self
            .http
            .post(&url)
            .header("content-type", "application/jose")
            .body(jwe)
            .send()
            .await
            .map_err(|source| ChannelError::Transport { method: "POST", url: url.clone(), source })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            200 => match serde_json::from_value::<InboxAck>(body.clone()) {
                Ok(ack) if ack.seq == message.seq => {
                    Ok((!ack.accepted).then(|| ack.reason.unwrap_or_else(|| "refused without a reason".into())))
                }
                _ => Err(ChannelError::Malformed {
                    url,
                    reason: format!("HTTP 200 without an acknowledgement of {}: {body}", message.seq),
                }),
            },
            // Spent and recorded as refused at the partner (outside the MRA's scope).
            422 => Ok(Some(body["error"]["message"].as_str().unwrap_or("out of scope").to_owned())),
            // The partner already has it (a replay of the same message is acknowledged too).
            409 if body["expected"].as_i64().is_some_and(|e| e > message.seq) => Ok(None),
            _ => Err(ChannelError::Status { method: "POST", url, status, body: body.to_string() }),
        }
    }

    async fn mark_delivered(&self, row: &partner_outbox::Model, refusal: Option<&str>) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(
            partner_outbox::Entity::update_many()
                .col_expr(partner_outbox::Column::DeliveredAt, Expr::value(Utc::now()))
                .col_expr(partner_outbox::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(partner_outbox::Column::Refusal, Expr::value(refusal.map(str::to_owned)))
                .filter(partner_outbox::Column::Partner.eq(&row.partner))
                .filter(partner_outbox::Column::Seq.eq(row.seq))
                .build(self.storage.backend()),
        );
        self.apply(batch).await
    }

    async fn mark_failed(&self, row: &partner_outbox::Model, error: &str) -> Result<(), ServiceError> {
        let next = Utc::now() + Backoff::PARTNER.after(row.attempts.max(0) as u32);
        let mut batch = WriteBatch::default();
        batch.push(
            partner_outbox::Entity::update_many()
                .col_expr(partner_outbox::Column::Attempts, Expr::value(row.attempts + 1))
                .col_expr(partner_outbox::Column::LastError, Expr::value(error))
                .col_expr(partner_outbox::Column::NextAttemptAt, Expr::value(next))
                .filter(partner_outbox::Column::Partner.eq(&row.partner))
                .filter(partner_outbox::Column::Seq.eq(row.seq))
                .build(self.storage.backend()),
        );
        self.apply(batch).await
    }
}
