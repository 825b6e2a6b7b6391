//! Who this node's partners are: the authority registry's MRA events, followed into
//! `mra_partners`, and what a partner that becomes active (or shares more types) is told.

use std::collections::HashMap;

use cadena_contracts::MraState;
use cadena_credentials::{CertificateType, CountryCode};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Set};

use super::outbox::queue_statements;
use super::{PartnerService, code, country_of};
use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::storage::WriteBatch;
use crate::storage::entities::{chain_checkpoints, mra_partners, partner_events, partner_messages};

/// The chain checkpoint of MRA events read.
const CHECKPOINT: &str = "mras";

/// The bit of a certificate type in an MRA scope.
pub fn scope_bit(certificate_type: &str) -> i16 {
    match CertificateType::parse(certificate_type) {
        Some(CertificateType::SecurityAndSafety) => 1,
        Some(CertificateType::CustomsSimplifications) => 2,
        Some(CertificateType::Full) => 4,
        None => 0,
    }
}

/// The scope bits of `types`.
pub fn scope_of(types: &[CertificateType]) -> u8 {
    types.iter().fold(0, |bits, t| bits | scope_bit(t.as_str()) as u8)
}

/// The certificate types of scope `bits`.
pub fn scope_types(bits: i16) -> Vec<CertificateType> {
    CertificateType::ALL.into_iter().filter(|t| bits & scope_bit(t.as_str()) != 0).collect()
}

/// A change this authority makes to one of its MRAs on chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MraChange {
    /// Proposes an MRA sharing these certificate types.
    Propose(Vec<CertificateType>),
    /// Accepts the partner's proposal (its scope, exactly).
    Accept(Vec<CertificateType>),
    /// Suspends it (only this party may resume it).
    Suspend,
    /// Resumes what this party suspended.
    Resume,
    /// Terminates it, or withdraws or declines a proposal.
    Terminate,
}

impl PartnerService {
    /// Makes `change` to the MRA with `partner` on chain (ADMIN; sent with the authority's
    /// anchorer key), then reads the MRA back into `mra_partners`.
    pub async fn change_mra(
        &self,
        principal: Option<&Principal>,
        partner: &str,
        change: MraChange,
    ) -> Result<(), ServiceError> {
        authorize(principal, Operation::ManageMras)?;
        let country = CountryCode::parse(partner).map_err(|e| ServiceError::field("partner", e.to_string()))?;
        let partner = code(country.as_str());
        let chain = &self.chain;
        let sent = match change {
            MraChange::Propose(types) => chain.propose_mra(partner, scope_of(&types)).await,
            MraChange::Accept(types) => chain.accept_mra(partner, scope_of(&types)).await,
            MraChange::Suspend => chain.suspend_mra(partner).await,
            MraChange::Resume => chain.resume_mra(partner).await,
            MraChange::Terminate => chain.terminate_mra(partner).await,
        };
        sent.map_err(|e| ServiceError::Conflict(format!("the registry refused: {e}")))?;
        self.refresh_partner(partner).await
    }

    /// Reads MRA events after the checkpoint and refreshes the partners they concern from the
    /// registry's current state.
    pub(super) async fn follow_mras(&self) -> Result<(), ServiceError> {
        let db = self.storage.db();
        let chain_error = |e: cadena_contracts::ChainError| ServiceError::Internal(Box::new(e));
        let head = self.chain.block_number().await.map_err(chain_error)?;
        let from = chain_checkpoints::next_block(db, CHECKPOINT).await?;
        if from > head {
            return Ok(());
        }
        let own = code(self.country.as_str());
        let mut partners = Vec::new();
        for event in self.chain.mra_events(from, head).await.map_err(chain_error)? {
            // The event only says which pair changed; the registry says what it is now.
            let partner = if event.low == own {
                event.high
            } else if event.high == own {
                event.low
            } else {
                continue;
            };
            if !partners.contains(&partner) {
                partners.push(partner);
            }
        }
        for partner in partners {
            self.refresh_partner(partner).await?;
        }
        self.save_checkpoint(head).await
    }

    async fn save_checkpoint(&self, head: u64) -> Result<(), ServiceError> {
        let mut batch = WriteBatch::default();
        batch.push(chain_checkpoints::save(CHECKPOINT, head, self.storage.backend()));
        self.apply(batch).await
    }

    /// Reads the MRA with `partner` and its authority's DID from the chain into `mra_partners`.
    pub async fn refresh_partner(&self, partner: [u8; 2]) -> Result<(), ServiceError> {
        let chain_error = |e: cadena_contracts::ChainError| ServiceError::Internal(Box::new(e));
        let own = code(self.country.as_str());
        let mra = self.chain.mra(own, partner).await.map_err(chain_error)?;
        let authority = self.chain.authority(partner).await.map_err(chain_error)?;
        let state = match mra.state {
            MraState::None => "NONE",
            MraState::Proposed => "PROPOSED",
            MraState::Active => "ACTIVE",
            MraState::Suspended => "SUSPENDED",
            MraState::Terminated => "TERMINATED",
        };
        let row = mra_partners::ActiveModel {
            country: Set(country_of(partner)),
            state: Set(state.to_owned()),
            scope: Set(mra.scope as i16),
            did: Set(authority.map(|a| a.did).unwrap_or_default()),
            since_block: Set(mra.since_block as i64),
            updated_at: Set(Utc::now()),
        };
        let previous = mra_partners::Entity::find_by_id(country_of(partner)).one(self.storage.db()).await?;
        let mut batch = WriteBatch::default();
        // Becoming active (or sharing more types): the partner is told the current state of every
        // certification it had not heard of, in the same transaction as the MRA's new state.
        if state == "ACTIVE" {
            let shared_before = previous.as_ref().filter(|p| p.state == "ACTIVE").map_or(0, |p| p.scope);
            if (mra.scope as i16) & !shared_before != 0 {
                self.backfill(&country_of(partner), mra.scope as i16, &mut batch).await?;
            }
        }
        batch.push(
            mra_partners::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(mra_partners::Column::Country)
                        .update_columns([
                            mra_partners::Column::State,
                            mra_partners::Column::Scope,
                            mra_partners::Column::Did,
                            mra_partners::Column::SinceBlock,
                            mra_partners::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .build(self.storage.backend()),
        );
        tracing::info!(partner = %country_of(partner), state, scope = mra.scope, "MRA partner refreshed");
        self.apply(batch).await
    }

    /// Queues for `partner` (sharing `scope`) the newest event of every credential in scope
    /// that it was not sent, oldest first, numbered after its last message: what it must hold
    /// from now on, as if it had heard everything (events not yet dispatched reach it normally).
    async fn backfill(&self, partner: &str, scope: i16, batch: &mut WriteBatch) -> Result<(), ServiceError> {
        let db = self.storage.db();
        let events = partner_events::Entity::find().order_by_asc(partner_events::Column::Id).all(db).await?;
        let sent: std::collections::HashSet<i64> = partner_messages::Entity::find()
            .filter(partner_messages::Column::Partner.eq(partner))
            .all(db)
            .await?
            .into_iter()
            .map(|r| r.event_id)
            .collect();
        // The newest event of each credential, if the partner never got that one.
        let mut newest: HashMap<&str, &partner_events::Model> = HashMap::new();
        for event in events.iter().filter(|e| scope & scope_bit(&e.certificate_type) != 0) {
            newest.insert(&event.credential_id, event);
        }
        let mut due: Vec<&partner_events::Model> = newest.into_values().filter(|e| !sent.contains(&e.id)).collect();
        due.sort_by_key(|e| e.id);
        let last = self.last_numbered(partner).await?;
        let backend = self.storage.backend();
        for (n, event) in due.iter().enumerate() {
            batch.extend(queue_statements(backend, partner, last + 1 + n as i64, event));
        }
        if !due.is_empty() {
            tracing::info!(partner, certifications = due.len(), "the partner is told what it had not heard");
        }
        Ok(())
    }

    /// This node's MRAs as last read from the chain.
    pub async fn partners(&self) -> Result<Vec<mra_partners::Model>, ServiceError> {
        Ok(mra_partners::Entity::find().order_by_asc(mra_partners::Column::Country).all(self.storage.db()).await?)
    }

    pub(super) async fn active_partner_by_did(&self, did: &str) -> Result<Option<mra_partners::Model>, ServiceError> {
        Ok(mra_partners::Entity::find()
            .filter(mra_partners::Column::Did.eq(did))
            .filter(mra_partners::Column::State.eq("ACTIVE"))
            .one(self.storage.db())
            .await?)
    }
}
