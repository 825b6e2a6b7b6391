//! Receiving: a partner's message opened, checked (signature, partnership, number, scope),
//! its credential verified in full, and held for good (taken or refused) or left undecided.

use std::collections::HashMap;
use std::sync::Arc;

use cadena_credentials::jose;
use cadena_credentials::keys::PublicKey;
use cadena_credentials::verification::Outcome;
use cadena_credentials::{Status, Transition};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::mras::scope_bit;
use super::{InboxError, MESSAGE_TYPE, PartnerMessage, PartnerService, jws_header, sha256_hex};
use crate::errors::ServiceError;
use crate::events::CertificationEvent;
use crate::storage::WriteBatch;
use crate::storage::entities::{certifications, mra_partners, partner_certifications, partner_inbox};

/// What the receiver makes of a message it could read.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Verified: the partner record to store.
    Accept(Box<partner_certifications::Model>),
    /// Refused for a reason a resend cannot change (forged, another issuer, not an AEO
    /// certification): the number is spent and the refusal recorded on both sides.
    Refuse(String),
    /// Not decided (a fragment could not be checked, or the anchor is pending): nothing is
    /// stored and the sender tries again.
    Undecided(String),
}

/// The inbox's answer to a message it took.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InboxAck {
    /// The number acknowledged.
    pub seq: i64,
    /// Whether its content was accepted (a refused one is still consumed, and recorded with its
    /// reason on both sides; one that could not be judged is not acknowledged at all).
    pub accepted: bool,
    /// Why not.
    pub reason: Option<String>,
}

impl PartnerService {
    /// The key of a verification method named by a partner (from its DID document, re-read once
    /// if the method is not there: the partner may have rotated). A document that cannot be
    /// fetched now leaves the message undecided; a key that is not in it is a bad signature.
    pub(super) async fn signing_key_of(&self, kid: &str) -> Result<PublicKey, InboxError> {
        let did = cadena_credentials::did::did_of(kid);
        for fresh in [false, true] {
            let document = self
                .credentials
                .resolve_did(did, fresh)
                .await
                .map_err(|e| InboxError::Undecided(format!("the sender's DID document cannot be read now: {e}")))?;
            match cadena_credentials::did::key_in_document(
                &document,
                kid,
                cadena_credentials::did::ProofPurpose::AssertionMethod,
            ) {
                Ok(key) => return Ok(key),
                Err(cadena_credentials::did::DidError::MethodNotFound { .. }) if !fresh => continue,
                Err(error) => return Err(InboxError::BadSignature(error.to_string())),
            }
        }
        Err(InboxError::BadSignature(format!("{kid} not found")))
    }

    /// Decrypts a partner's message and checks who sent it, for whom, and what it is: an active
    /// MRA partner's signature, addressed to this node.
    pub(super) async fn open(&self, jwe: &str) -> Result<(mra_partners::Model, PartnerMessage), InboxError> {
        let (own_kid, secret) = self.credentials.identity().agreement();
        let (_, jws) = jose::decrypt_jwe(jwe, &secret).map_err(|e| InboxError::Undecryptable(e.to_string()))?;
        let jws =
            String::from_utf8(jws).map_err(|_| InboxError::Undecryptable("the inner message is not text".into()))?;
        let header = jws_header(&jws)?;
        let kid =
            header["kid"].as_str().ok_or_else(|| InboxError::BadSignature("the message has no kid".into()))?.to_owned();
        let did = cadena_credentials::did::did_of(&kid).to_owned();
        let partner = self.active_partner_by_did(&did).await?.ok_or_else(|| InboxError::NotPartner(did.clone()))?;
        let key = self.signing_key_of(&kid).await?;
        let (signed, payload) = jose::verify_jws(&jws, |k| (k == kid).then(|| key.clone()))
            .map_err(|e| InboxError::BadSignature(e.to_string()))?;
        // Signed for this node: a partner cannot re-encrypt another node's message to us.
        if signed.aud.as_deref() != Some(own_kid.as_str()) {
            return Err(InboxError::BadSignature(format!(
                "the message was signed for {:?}, not for this node",
                signed.aud
            )));
        }
        // Read as written: serde_json alone would take a private number key for the number.
        let message: PartnerMessage =
            cadena_credentials::json::from_slice_as(&payload).map_err(|e| InboxError::Malformed(e.to_string()))?;
        if message.message_type != MESSAGE_TYPE {
            return Err(InboxError::Malformed(format!("unknown message type {}", message.message_type)));
        }
        if message.to != self.country.as_str() || message.from != partner.country {
            return Err(InboxError::Malformed(format!(
                "message from {} to {} reached {} from {}",
                message.from,
                message.to,
                self.country.as_str(),
                partner.country
            )));
        }
        Ok((partner, message))
    }

    /// Takes one message from a partner (see the module docs for every check).
    #[tracing::instrument(skip_all)]
    pub async fn receive(&self, jwe: &str) -> Result<InboxAck, InboxError> {
        let (partner, message) = self.open(jwe).await?;
        // What the number stands for: the event and the credential. A resend of the same
        // message differs in its send time and its freshly signed status lists, never in these.
        let digest = sha256_hex(
            json!({ "from": message.from, "to": message.to, "seq": message.seq, "event": message.event, "credential": message.credential["id"] })
                .to_string()
                .as_bytes(),
        );
        // One message at a time: numbers are checked against what is stored.
        let _order = self.inbox_lock.lock().await;
        let db = self.storage.db();
        if let Some(seen) = partner_inbox::Entity::find_by_id((partner.country.clone(), message.seq))
            .one(db)
            .await
            .map_err(ServiceError::from)?
        {
            if seen.digest == digest {
                return Ok(InboxAck { seq: message.seq, accepted: seen.outcome == "ACCEPTED", reason: seen.reason });
            }
            tracing::warn!(partner = %partner.country, seq = message.seq, "replayed message number refused");
            return Err(InboxError::Replay { partner: partner.country.clone(), seq: message.seq });
        }
        let expected = self.last_received(&partner.country).await? + 1;
        if message.seq != expected {
            return Err(InboxError::Gap { partner: partner.country.clone(), expected, got: message.seq });
        }
        let certificate_type =
            message.credential["credentialSubject"]["certificateType"].as_str().unwrap_or_default().to_owned();
        if partner.scope & scope_bit(&certificate_type) == 0 {
            // Consumed (the number is used) but refused: logged with its reason.
            let error = InboxError::OutOfScope { partner: partner.country.clone(), certificate_type };
            self.record(&partner.country, message.seq, &digest, Err(error.to_string())).await?;
            return Err(error);
        }
        let seq = message.seq;
        let outcome = match self.judge(&partner, &message).await? {
            Verdict::Accept(record) => Ok((*record, message)),
            Verdict::Refuse(reason) => Err(reason),
            Verdict::Undecided(reason) => {
                tracing::info!(partner = %partner.country, seq = message.seq, %reason, "partner message not judged yet; the sender retries");
                return Err(InboxError::Undecided(reason));
            }
        };
        let ack = InboxAck { seq, accepted: outcome.is_ok(), reason: outcome.as_ref().err().cloned() };
        self.record(&partner.country, ack.seq, &digest, outcome).await?;
        Ok(ack)
    }

    /// Verifies the message's credential in full. A fragment that is INVALID refuses it for
    /// good; one that could not be checked (ERROR), or an anchor still pending (SKIPPED), leaves
    /// it undecided: the sender dying mid-verification, or a chain that rolled back, must not
    /// cost a partner a message.
    #[tracing::instrument(name = "verify partner credential", skip_all, fields(partner = %partner.country, seq = message.seq))]
    pub(super) async fn judge(
        &self,
        partner: &mra_partners::Model,
        message: &PartnerMessage,
    ) -> Result<Verdict, InboxError> {
        let lists: HashMap<String, Arc<Value>> = message
            .status_lists
            .iter()
            .filter_map(|l| l["id"].as_str().map(|id| (id.to_owned(), Arc::new(l.clone()))))
            .collect();
        let report = match self.credentials.verify_with_lists(&message.credential, lists).await {
            Ok(report) => report,
            Err(error) => return Ok(Verdict::Refuse(format!("the credential cannot be read: {error}"))),
        };
        if report.issuer.as_deref() != Some(partner.did.as_str()) {
            return Ok(Verdict::Refuse(format!(
                "the credential is issued by {:?}, not by the partner {}",
                report.issuer, partner.did
            )));
        }
        for (name, check) in
            [("integrity", &report.integrity), ("issuer", &report.issuer_trust), ("anchor", &report.anchor)]
        {
            match check.outcome {
                Outcome::Valid => {}
                Outcome::Invalid => return Ok(Verdict::Refuse(format!("{name}: {}", check.reason))),
                Outcome::Error | Outcome::Skipped => {
                    return Ok(Verdict::Undecided(format!("{name}: {}", check.reason)));
                }
            }
        }
        if !cadena_credentials::credential::claims_aeo_certification(&message.credential) {
            return Ok(Verdict::Refuse(
                "the credential is not an AEO certification (a VC API credential, or untyped)".into(),
            ));
        }
        let subject = &message.credential["credentialSubject"];
        let event = &message.event;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let date = |v: &Value| v.as_str().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok());
        let parse_uuid = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
        let (Some(certification_id), Some(lineage_id), Some(valid_from)) = (
            parse_uuid(&event["certificationId"]),
            parse_uuid(&event["lineageId"]),
            date(&message.credential["validFrom"]),
        ) else {
            return Ok(Verdict::Refuse("the event lacks its certification ids or the credential its validFrom".into()));
        };
        Ok(Verdict::Accept(Box::new(partner_certifications::Model {
            credential_id: text(&message.credential["id"]),
            partner: partner.country.clone(),
            certification_id,
            lineage_id,
            version: event["version"].as_i64().unwrap_or(1) as i32,
            issuing_country: text(&subject["issuingCountry"]),
            tin: text(&subject["traderIdentificationNumber"]),
            operator_name: text(&subject["legalName"]),
            certificate_type: text(&subject["certificateType"]),
            status: text(&event["status"]),
            valid_from,
            valid_until: date(&message.credential["validUntil"]),
            credential: message.credential.to_string(),
            verification: serde_json::to_string(&report).unwrap_or_default(),
            last_seq: message.seq,
            updated_at: Utc::now(),
        })))
    }

    /// Stores a received message's number and outcome, and on acceptance the partner record,
    /// the webhook deliveries and (after commit) the event for subscribers; all in one
    /// transaction.
    async fn record(
        &self,
        partner: &str,
        seq: i64,
        digest: &str,
        outcome: Result<(partner_certifications::Model, PartnerMessage), String>,
    ) -> Result<(), InboxError> {
        let backend = self.storage.backend();
        let mut batch = WriteBatch::default();
        let reason = outcome.as_ref().err().cloned();
        batch.push(
            partner_inbox::Entity::insert(partner_inbox::ActiveModel {
                partner: Set(partner.to_owned()),
                seq: Set(seq),
                digest: Set(digest.to_owned()),
                outcome: Set(if outcome.is_ok() { "ACCEPTED" } else { "REFUSED" }.to_owned()),
                reason: Set(reason.clone()),
                received_at: Set(Utc::now()),
            })
            .build(backend),
        );
        let taken = outcome.is_ok();
        match outcome {
            Ok((record, message)) => self.take(&record, &message, &mut batch),
            Err(_) => tracing::warn!(partner, seq, reason = ?reason, "partner message refused"),
        }
        self.apply(batch).await?;
        if taken {
            self.bus.committed();
        }
        Ok(())
    }

    /// What holding a taken message writes: the partner record (and the replaced one marked
    /// AMENDED), its webhook calls and its event in the log.
    pub(super) fn take(
        &self,
        record: &partner_certifications::Model,
        message: &PartnerMessage,
        batch: &mut WriteBatch,
    ) {
        let backend = self.storage.backend();
        if let Some(replaced) = message.event["replaces"].as_str() {
            batch.push(
                partner_certifications::Entity::update_many()
                    .col_expr(partner_certifications::Column::Status, Expr::value(Status::Amended.as_str()))
                    .filter(partner_certifications::Column::CredentialId.eq(replaced))
                    .build(backend),
            );
        }
        batch.push(
            partner_certifications::Entity::insert(partner_certifications::ActiveModel::from(record.clone()))
                .on_conflict(
                    OnConflict::column(partner_certifications::Column::CredentialId)
                        .update_columns([
                            partner_certifications::Column::Status,
                            partner_certifications::Column::Verification,
                            partner_certifications::Column::LastSeq,
                            partner_certifications::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .build(backend),
        );
        let event = partner_event(record, message);
        let webhooks = self.webhooks.work(&webhook_payload(&event, message));
        batch.extend(webhooks.into_iter().map(|work| crate::services::outbox::enqueue(backend, work)));
        batch.extend(crate::event_log::append_statements(backend, std::slice::from_ref(&event)));
    }

    /// The partners' certifications this node holds, the most recently changed first.
    pub async fn latest_records(&self, limit: u64) -> Result<Vec<partner_certifications::Model>, ServiceError> {
        Ok(partner_certifications::Entity::find()
            .order_by_desc(partner_certifications::Column::UpdatedAt)
            .limit(limit)
            .all(self.storage.db())
            .await?)
    }

    /// The partner record of certification `id`, if this node holds one.
    pub async fn record_of(&self, id: Uuid) -> Result<Option<certifications::Model>, ServiceError> {
        Ok(partner_certifications::Entity::find()
            .filter(partner_certifications::Column::CertificationId.eq(id))
            .order_by_desc(partner_certifications::Column::Version)
            .one(self.storage.db())
            .await?
            .map(|r| partner_record_as_certification(&r)))
    }
}

/// A partner record in the shape of this node's certifications, for reads and events: the data
/// comes from the partner's signed credential.
pub fn partner_record_as_certification(record: &partner_certifications::Model) -> certifications::Model {
    let credential: Value = serde_json::from_str(&record.credential).unwrap_or(Value::Null);
    let subject = &credential["credentialSubject"];
    let address = &subject["address"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let optional = |v: &Value| v.as_str().map(str::to_owned);
    let date = |v: &Value| v.as_str().and_then(|d| d.get(..10)).and_then(|d| d.parse().ok());
    let roles = subject["supplyChainRoles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).fold(String::from(","), |acc, role| format!("{acc}{role},")))
        .unwrap_or_else(|| ",".into());
    let partner_identifiers: Vec<Value> = subject["partnerIdentifiers"]
        .as_array()
        .map(|ids| {
            ids.iter().map(|p| json!({"scheme": p["identifierScheme"], "value": p["identifierValue"]})).collect()
        })
        .unwrap_or_default();
    certifications::Model {
        id: record.certification_id,
        lineage_id: record.lineage_id,
        version: record.version,
        previous_version_id: None,
        certificate_number: text(&subject["certificateNumber"]),
        issuing_country: record.issuing_country.clone(),
        issuing_authority: text(&subject["issuingAuthority"]),
        operator_name: record.operator_name.clone(),
        street: text(&address["streetAddress"]),
        city: text(&address["addressLocality"]),
        sub_entity: optional(&address["addressRegion"]),
        postcode: optional(&address["postalCode"]),
        address_country: text(&address["addressCountry"]),
        tin: record.tin.clone(),
        tin_scheme: text(&subject["traderIdentificationScheme"]),
        partner_identifiers: Value::Array(partner_identifiers),
        certificate_type: record.certificate_type.clone(),
        roles,
        authorisation_date: date(&subject["authorisationDate"]).unwrap_or(record.valid_from),
        valid_from: record.valid_from,
        valid_until: record.valid_until,
        last_validation_date: date(&subject["lastValidationDate"]),
        status: record.status.clone(),
        submitted_by: format!("partner:{}", record.partner),
        approved_by: None,
        created_at: record.updated_at,
        status_changed_at: record.updated_at,
        history_seq: record.last_seq,
        history_head: String::new(),
        operator_did: subject["id"].as_str().filter(|id| id.starts_with("did:")).map(str::to_owned),
        credential_id: Some(record.credential_id.clone()),
    }
}

fn partner_event(record: &partner_certifications::Model, message: &PartnerMessage) -> CertificationEvent {
    let event = &message.event;
    CertificationEvent {
        sequence: 0,
        transition: event["transition"].as_str().and_then(Transition::parse).unwrap_or(Transition::Approve),
        from: None,
        to: Status::parse(&record.status).unwrap_or(Status::Granted),
        actor: format!("partner:{}", record.partner),
        actor_role: "PARTNER".into(),
        at: event["at"].as_str().and_then(|a| a.parse().ok()).unwrap_or_else(Utc::now),
        reason: event["reason"].as_str().map(str::to_owned),
        certification: partner_record_as_certification(record),
        entry_seq: 0,
        origin: Some(record.partner.clone()),
        trace_context: crate::trace_context::traceparent(),
    }
}

/// The JSON body webhook receivers get for a partner's event: the local shape plus the
/// partner's message number.
fn webhook_payload(event: &CertificationEvent, message: &PartnerMessage) -> Value {
    let mut payload = crate::services::webhooks::local_payload(event);
    payload["partnerSeq"] = json!(message.seq);
    payload
}
