//! Issuance through the VC API (`POST /credentials/issue`), kept apart from AEO certifications.
//!
//! AEO certifications come only from the certification lifecycle (a registrar submits, another
//! officer approves, the history records both). What the VC API signs must never pass for one,
//! so here:
//! - it is off unless the node's configuration enables it, and then only an ISSUER may use it
//!   (not an APPROVER: one officer alone must not mint what is signed as the node);
//! - a credential naming the AEO context, or whose RDF uses the AEO vocabulary however its JSON
//!   spells it, is refused; every credential gets the type
//!   [`VC_API_CREDENTIAL_TYPE`], which verifiers read as "not an AEO certification";
//! - its status entries live on the VC API's own status lists (`vc-api-revocation-<n>`);
//! - each issuance writes an audit row (`vc_api_issuances`, read by AUDITORs) in the transaction
//!   that stores the credential;
//! - the credential is checked against every MUST of VC Data Model 2.0
//!   ([`cadena_credentials::conformance`]) before a status slot is spent on it.

use cadena_credentials::FieldError;
use cadena_credentials::conformance::{NonConforming, check_credential};
use cadena_credentials::credential::{
    AEO_CONTEXT, AEO_CREDENTIAL_TYPE, AEO_VOCABULARY, VC_API_CREDENTIAL_TYPE, credential_digest, types_of,
    xsd_date_time,
};
use cadena_credentials::status_list::{StatusEntry, StatusPurpose};
use chrono::Utc;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect, QueryTrait, Set};
use serde_json::Value;
use uuid::Uuid;

use super::{CredentialService, IssuedCredential, ListKind, document_error};
use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::services::outbox;
use crate::storage::entities::vc_api_issuances;
use crate::storage::{self, ApplyError, WriteBatch};

/// Longest credential `id` stored.
const MAX_ID_CHARS: usize = 64;
/// Most audit entries one read returns.
const MAX_LOG_PAGE: u64 = 500;

/// Each violation as the input error of the field it names, the rule in the message.
fn non_conforming(error: NonConforming) -> ServiceError {
    ServiceError::InvalidInput(
        error
            .0
            .into_iter()
            .map(|v| {
                let field = if v.path.is_empty() { "credential".to_owned() } else { format!("credential.{}", v.path) };
                FieldError::new(field, format!("{} ({}, {})", v.message, v.rule, v.rule.url()))
            })
            .collect(),
    )
}

impl CredentialService {
    /// Signs a VC Data Model 2.0 credential that is not an AEO certification as this node,
    /// adding the VC API type and status entries on the VC API's lists (ISSUER, where the
    /// configuration enables it). `issuer`, `id` and `validFrom` may be left to the node.
    #[tracing::instrument(skip_all, fields(officer = principal.map(|p| p.username.as_str())))]
    pub async fn issue(&self, principal: Option<&Principal>, credential: &Value) -> Result<Value, ServiceError> {
        if !self.inner.settings.vc_api_issuance {
            return Err(ServiceError::Disabled("credential issuance through the VC API (credentials.vc_api_issuance)"));
        }
        let (principal, _) = authorize(principal, Operation::IssueCredential)?;
        let field = |name: &str, message: &str| ServiceError::field(format!("credential{name}"), message);
        let lifecycle_only = "AEO certifications are issued only by the certification lifecycle (submitCertification, \
                              then approveCertification by another officer), never through the VC API";
        if let Some(Value::Array(contexts)) = credential.get("@context")
            && let Some(i) = contexts.iter().position(|c| c == AEO_CONTEXT)
        {
            return Err(field(
                &format!(".@context[{i}]"),
                &format!("{AEO_CONTEXT} is the AEO context: {lifecycle_only}"),
            ));
        }
        if types_of(credential).contains(&AEO_CREDENTIAL_TYPE) {
            return Err(field(".type", &format!("{AEO_CREDENTIAL_TYPE}: {lifecycle_only}")));
        }
        let mut credential = credential.clone();
        let object = credential.as_object_mut().ok_or_else(|| field("", "must be a JSON object"))?;
        let did = self.inner.identity.did().to_owned();
        match object.get("issuer") {
            None => {
                object.insert("issuer".into(), did.clone().into());
            }
            Some(Value::String(issuer)) if *issuer == did => {}
            Some(Value::Object(issuer)) if issuer.get("id").and_then(Value::as_str) == Some(did.as_str()) => {}
            Some(_) => return Err(field(".issuer", &format!("must be this node's DID {did} (or be left out)"))),
        }
        if object.contains_key("proof") {
            return Err(field(".proof", "must be absent: the node signs"));
        }
        if object.contains_key("credentialStatus") {
            return Err(field(".credentialStatus", "must be absent: the node adds its status entries"));
        }
        let id = match object.get("id") {
            None => {
                let id = format!("urn:uuid:{}", Uuid::now_v7());
                object.insert("id".into(), id.clone().into());
                id
            }
            Some(Value::String(id)) if id.chars().count() <= MAX_ID_CHARS => id.clone(),
            Some(Value::String(_)) => return Err(field(".id", &format!("must be at most {MAX_ID_CHARS} characters"))),
            // Not a string: the conformance check below names the rule.
            Some(_) => String::new(),
        };
        if !object.contains_key("validFrom") {
            object.insert("validFrom".into(), xsd_date_time(Utc::now()).into());
        }
        // Marked as the VC API's, whatever else it says it is.
        match object.get_mut("type") {
            Some(Value::Array(types)) if !types.iter().any(|t| t == VC_API_CREDENTIAL_TYPE) => {
                types.push(VC_API_CREDENTIAL_TYPE.into());
            }
            Some(single @ Value::String(_)) => {
                let first = single.take();
                *single = Value::Array(vec![first, VC_API_CREDENTIAL_TYPE.into()]);
            }
            _ => {}
        }
        // Refuse what cannot be signed before a status slot is spent on it.
        check_credential(&credential).map_err(non_conforming)?;
        let integrity = &self.inner.integrity;
        integrity.inspect(&credential, "credential").map_err(document_error)?;
        // The RDF, not the JSON, says what a credential states: absolute IRIs or another
        // context could spell AEO terms without naming the AEO context.
        let quads = integrity.canonical_nquads(&credential).map_err(document_error)?;
        if quads.iter().any(|quad| quad.contains(AEO_VOCABULARY)) {
            return Err(field(
                "",
                &format!("states terms of the AEO vocabulary ({AEO_VOCABULARY}…): {lifecycle_only}"),
            ));
        }

        let slot = self.allocate_slot(&mut self.inner.storage.write_gate().await, ListKind::VcApi).await?;
        let identity = &self.inner.identity;
        let status: Vec<Value> = StatusPurpose::ALL
            .into_iter()
            .map(|purpose| {
                let list_url = identity.status_list_url(ListKind::VcApi, purpose, slot.0);
                StatusEntry { purpose, list_url, index: slot.1 as usize }.to_json()
            })
            .collect();
        credential.as_object_mut().expect("object").insert("credentialStatus".into(), Value::Array(status));
        let document = identity.sign(integrity, &credential).map_err(document_error)?;
        let issued =
            IssuedCredential { id: id.clone(), digest: hex::encode(credential_digest(&document)), document, slot };
        let subjects = document_subjects(&issued.document);
        let audit = vc_api_issuances::Entity::insert(vc_api_issuances::ActiveModel {
            credential_id: Set(id.clone()),
            officer_id: Set(principal.officer_id),
            username: Set(principal.username.clone()),
            issued_at: Set(Utc::now()),
            types: Set(serde_json::to_string(&types_of(&issued.document)).map_err(ServiceError::internal)?),
            subjects: Set(serde_json::to_string(&subjects).map_err(ServiceError::internal)?),
            digest: Set(issued.digest.clone()),
        })
        .build(self.inner.storage.backend());
        let mut batch = WriteBatch::default();
        batch.push(self.insert_statement(&issued, None));
        batch.push(audit);
        batch.extend(
            self.anchoring_work(&issued.id, &issued.digest)
                .map(|work| outbox::enqueue(self.inner.storage.backend(), work)),
        );
        let mut gate = self.inner.storage.write_gate().await;
        self.inner.storage.apply(&mut gate, batch).await.map_err(|e| match e {
            ApplyError::Db(db) if storage::is_unique_violation(&db) => {
                ServiceError::field("credential.id", format!("a credential {id} was already issued"))
            }
            ApplyError::Db(db) => db.into(),
            ApplyError::Conflict(c) => ServiceError::Conflict(c.into()),
        })?;
        tracing::info!(credential = %issued.id, officer = %principal.username, "credential issued through the VC API");
        Ok(issued.document)
    }

    /// The VC API's audit trail, newest first (AUDITOR).
    pub async fn issuances(
        &self,
        principal: Option<&Principal>,
        first: Option<i32>,
    ) -> Result<Vec<vc_api_issuances::Model>, ServiceError> {
        authorize(principal, Operation::ReadIssuanceLog)?;
        let limit = first.map_or(100, |n| n.clamp(1, MAX_LOG_PAGE as i32) as u64);
        Ok(vc_api_issuances::Entity::find()
            .order_by_desc(vc_api_issuances::Column::IssuedAt)
            .limit(limit)
            .all(self.inner.storage.db())
            .await?)
    }
}

/// The ids of a credential's subjects (one object or a list).
fn document_subjects(credential: &Value) -> Vec<&str> {
    let subjects = match credential.get("credentialSubject") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    subjects.into_iter().filter_map(|s| s.get("id").and_then(Value::as_str)).collect()
}

#[cfg(test)]
mod tests {
    use cadena_migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};

    use crate::storage::Storage;

    /// A database as the VC API left it before it refused AEO certifications, migrated: the
    /// side-door credential is revoked (its list re-signed), nothing else changes.
    #[tokio::test]
    async fn the_migration_revokes_aeo_certifications_the_vc_api_signed() {
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("n.sqlite").display())).await.unwrap();
        let db = storage.db();
        Migrator::up(db, Some(5)).await.unwrap();
        let insert = |id: &str, certification: &str, index: i32, document: &str| {
            format!(
                "INSERT INTO credentials (id, certification_id, status_list, status_index, document, digest, \
                 issued_at, revoked, suspended) VALUES ('{id}', {certification}, 1, {index}, '{document}', \
                 'd', '2026-01-01T00:00:00Z', false, false)"
            )
        };
        let aeo = r#"{"type":["VerifiableCredential","AEOCertificationCredential"]}"#;
        let other = r#"{"type":["VerifiableCredential"]}"#;
        for sql in [
            insert("urn:side-door", "NULL", 0, aeo),
            insert("urn:vc-api", "NULL", 1, other),
            insert("urn:lifecycle", "'0192a0a4-5b8e-7c3e-9b1a-000000000001'", 2, aeo),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
        Migrator::up(db, None).await.unwrap();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(backend, "SELECT id, revoked FROM credentials ORDER BY id"))
            .await
            .unwrap();
        let revoked: Vec<(String, bool)> =
            rows.iter().map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "revoked").unwrap())).collect();
        assert_eq!(
            revoked,
            [("urn:lifecycle".into(), false), ("urn:side-door".into(), true), ("urn:vc-api".into(), false)]
        );
        let list = db
            .query_one_raw(Statement::from_string(backend, "SELECT version, kind FROM status_lists WHERE id = 1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(list.try_get::<i64>("", "version").unwrap(), 1, "the list is re-signed");
        assert_eq!(list.try_get::<String>("", "kind").unwrap(), "AEO");
    }
}
