//! The node's status lists as it serves them: each Bitstring Status List credential
//! (`revocation-<n>`, `suspension-<n>`, and the VC API's own) and each IETF Token Status List
//! (`token-<n>`, the same slots for SD-JWT VCs), signed when asked and signed again only when
//! the list's version moved.

use std::sync::Arc;

use cadena_credentials::sd_jwt_vc::status_list::{TokenStatus, status_list_token};
use cadena_credentials::status_list::{Bitstring, StatusPurpose, status_list_credential};
use chrono::Utc;
use sea_orm::sea_query::ExprTrait as _;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

use super::{CredentialService, ListKind, SignedList, TOKEN_LIST_PREFIX};
use crate::errors::ServiceError;
use crate::storage::entities::{credentials, status_lists};

impl CredentialService {
    /// The signed status list `name` (`revocation-1`, `suspension-3`, `vc-api-revocation-2`),
    /// re-signed only when its bits changed; None when there is no such list (a list is only
    /// served under the name of its kind).
    pub async fn status_list(&self, name: &str) -> Result<Option<Arc<Value>>, ServiceError> {
        let (kind, name) = match name.strip_prefix(ListKind::VcApi.prefix()) {
            Some(rest) => (ListKind::VcApi, rest),
            None => (ListKind::Aeo, name),
        };
        let Some((purpose, list)) =
            name.rsplit_once('-').and_then(|(p, n)| Some((StatusPurpose::parse(p)?, n.parse::<i32>().ok()?)))
        else {
            return Ok(None);
        };
        let db = self.inner.storage.db();
        let Some(row) = status_lists::Entity::find_by_id(list).one(db).await? else { return Ok(None) };
        if row.kind != kind.as_str() {
            return Ok(None);
        }
        if let Some(signed) = self.inner.signed_lists.lock().expect("lock").get(&(list, purpose))
            && signed.version == row.version
        {
            return Ok(Some(signed.document.clone()));
        }
        let column = match purpose {
            StatusPurpose::Revocation => credentials::Column::Revoked,
            StatusPurpose::Suspension => credentials::Column::Suspended,
        };
        let set: Vec<i32> = credentials::Entity::find()
            .select_only()
            .column(credentials::Column::StatusIndex)
            .filter(credentials::Column::StatusList.eq(list))
            .filter(column.eq(true))
            .into_tuple()
            .all(db)
            .await?;
        let mut bits = Bitstring::new(row.capacity as usize);
        for index in set {
            bits.set(index as usize, true).map_err(ServiceError::internal)?;
        }
        let identity = &self.inner.identity;
        let unsigned = status_list_credential(
            &identity.status_list_url(kind, purpose, list),
            identity.did(),
            purpose,
            &bits,
            Utc::now(),
            self.inner.settings.status_list_ttl.as_millis() as u64,
        );
        let document = Arc::new(identity.sign(&self.inner.integrity, &unsigned).map_err(ServiceError::internal)?);
        self.inner
            .signed_lists
            .lock()
            .expect("lock")
            .insert((list, purpose), SignedList { version: row.version, document: document.clone() });
        Ok(Some(document))
    }

    /// The signed Token Status List `name` (`token-<n>`: the statuses of the AEO lists
    /// `revocation-<n>` and `suspension-<n>` read as one), re-signed only when its bits
    /// changed; None when there is no such list.
    pub async fn token_status_list(&self, name: &str) -> Result<Option<Arc<str>>, ServiceError> {
        let Some(list) = name.strip_prefix(TOKEN_LIST_PREFIX).and_then(|n| n.parse::<i32>().ok()) else {
            return Ok(None);
        };
        let db = self.inner.storage.db();
        let Some(row) = status_lists::Entity::find_by_id(list).one(db).await? else { return Ok(None) };
        if row.kind != ListKind::Aeo.as_str() {
            return Ok(None);
        }
        if let Some((version, token)) = self.inner.token_lists.lock().expect("lock").get(&list)
            && *version == row.version
        {
            return Ok(Some(token.clone()));
        }
        let set: Vec<(i32, bool, bool)> = credentials::Entity::find()
            .select_only()
            .column(credentials::Column::StatusIndex)
            .column(credentials::Column::Revoked)
            .column(credentials::Column::Suspended)
            .filter(credentials::Column::StatusList.eq(list))
            .filter(credentials::Column::Revoked.eq(true).or(credentials::Column::Suspended.eq(true)))
            .into_tuple()
            .all(db)
            .await?;
        let identity = &self.inner.identity;
        let (kid, key) = identity.signing_key();
        let token = status_list_token(
            &identity.token_status_list_url(list),
            row.capacity as usize,
            set.into_iter().map(|(index, revoked, suspended)| (index as usize, TokenStatus::of(revoked, suspended))),
            &key,
            &kid,
            Utc::now(),
            self.inner.settings.status_list_ttl.as_secs(),
        )
        .map_err(ServiceError::internal)?;
        let token: Arc<str> = token.into();
        self.inner.token_lists.lock().expect("lock").insert(list, (row.version, token.clone()));
        Ok(Some(token))
    }
}
