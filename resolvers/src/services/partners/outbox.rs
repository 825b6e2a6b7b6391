//! Sending: each partner's numbered messages (`partner_messages`, numbered by the dispatcher,
//! [`super::dispatch`]) sealed and POSTed in order to its inbox, again until the partner holds
//! them for good: [`Sender`], the handler of the node's one outbox for topic `partner.message`
//! (a stream per partner).

use cadena_credentials::jose;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set, Statement};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ChannelError, InboxAck, MESSAGE_TYPE, PartnerMessage, PartnerService};
use crate::errors::ServiceError;
use crate::services::outbox::{self, Handled, Handler, Intake, Outcome, Topic, Work};
use crate::services::retry::Backoff;
use crate::storage::entities::{mra_partners, partner_events, partner_messages};

/// What a `partner.message` outbox row carries: which message to deliver.
#[derive(Debug, Serialize, Deserialize)]
struct MessageWork {
    partner: String,
    seq: i64,
}

/// The statements numbering `event` for `partner` as message `seq` and queuing its delivery; a
/// grant waits for its credential's anchor.
pub(super) fn queue_statements(
    backend: DbBackend,
    partner: &str,
    seq: i64,
    event: &partner_events::Model,
) -> [Statement; 2] {
    let is_grant = serde_json::from_str::<Value>(&event.event).ok().is_some_and(|e| e["transition"] == "APPROVE");
    let message = partner_messages::Entity::insert(partner_messages::ActiveModel {
        partner: Set(partner.to_owned()),
        seq: Set(seq),
        event_id: Set(event.id),
        needs_anchor: Set(is_grant),
        delivered_at: Set(None),
        refusal: Set(None),
        created_at: Set(Utc::now()),
    })
    .build(backend);
    let payload = serde_json::to_string(&MessageWork { partner: partner.to_owned(), seq }).expect("serialisable");
    let delivery = Work::new(Topic::PartnerMessage, payload).in_stream(partner).about(format!("{partner}/{seq}"));
    [message, outbox::enqueue(backend, delivery)]
}

impl PartnerService {
    /// The last number given to a message for `partner` (0: none yet).
    pub(super) async fn last_numbered(&self, partner: &str) -> Result<i64, ServiceError> {
        Ok(partner_messages::Entity::find()
            .select_only()
            .column_as(partner_messages::Column::Seq.max(), "max")
            .filter(partner_messages::Column::Partner.eq(partner))
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten()
            .unwrap_or(0))
    }

    /// Builds the message `seq` for `partner`, or None while its credential waits for its anchor.
    pub(super) async fn message(&self, row: &partner_messages::Model) -> Result<Option<PartnerMessage>, ServiceError> {
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

    /// Delivers the message of outbox row `row`: done once the partner holds it for good;
    /// undecided (no outcome) while a grant waits for its anchor, and then the partner's later
    /// messages wait behind it, as it applies them in order.
    async fn deliver(&self, row: &outbox::Row) -> Result<Handled, ServiceError> {
        let db = self.storage.db();
        let work: MessageWork = serde_json::from_str(&row.payload).map_err(ServiceError::internal)?;
        let Some(partner) = mra_partners::Entity::find_by_id(work.partner.clone()).one(db).await? else {
            return Ok(Handled::one(row.id, Outcome::GiveUp { error: format!("{} is not a partner", work.partner) }));
        };
        let message =
            partner_messages::Entity::find_by_id((work.partner.clone(), work.seq)).one(db).await?.ok_or_else(|| {
                ServiceError::Internal(format!("message {}/{} is missing", work.partner, work.seq).into())
            })?;
        let Some(sealed) = self.message(&message).await? else { return Ok(Handled::default()) };
        match self.send(&partner, &sealed).await {
            Ok(refusal) => {
                if let Some(reason) = &refusal {
                    tracing::warn!(partner = %partner.country, seq = message.seq, %reason, "the partner refused the message");
                }
                let mut handled = Handled::one(row.id, Outcome::Done { status: Some(200) });
                handled.writes.push(
                    partner_messages::Entity::update_many()
                        .col_expr(partner_messages::Column::DeliveredAt, Expr::value(Utc::now()))
                        .col_expr(partner_messages::Column::Refusal, Expr::value(refusal))
                        .filter(partner_messages::Column::Partner.eq(&message.partner))
                        .filter(partner_messages::Column::Seq.eq(message.seq))
                        .build(self.storage.backend()),
                );
                Ok(handled)
            }
            Err(error) => {
                let status = match &error {
                    ChannelError::Status { status, .. } => Some(*status),
                    _ => None,
                };
                tracing::warn!(partner = %partner.country, seq = message.seq, %error, "partner delivery failed");
                Ok(Handled::one(row.id, Outcome::Failed { status, error: error.to_string() }))
            }
        }
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
            .headers(crate::trace_context::headers())
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
}

/// Delivering messages to partners: the outbox's handler of topic `partner.message`, each
/// partner's messages in order.
#[derive(Clone, Debug)]
pub struct Sender(pub PartnerService);

impl Handler for Sender {
    const TOPIC: Topic = Topic::PartnerMessage;

    fn intake(&self) -> Intake {
        Intake::InOrder { limit: 200 }
    }

    /// A partner back from downtime hears within half a minute.
    fn backoff(&self) -> Backoff {
        Backoff::PARTNER
    }

    async fn handle(&self, rows: Vec<outbox::Row>) -> Result<Handled, ServiceError> {
        match rows.first() {
            Some(row) => self.0.deliver(row).await,
            None => Ok(Handled::default()),
        }
    }
}
