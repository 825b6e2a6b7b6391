//! AEO certifications: submission, the lifecycle transitions, reads, and the history.
//!
//! Every write runs in one database transaction that changes the certification row(s) and
//! appends the history entry together, so the history can never disagree with the state.
//! Events go out only after the commit.

use cadena_credentials::history::{HistoryLink, verify_chain};
use cadena_credentials::validity::{Phase, ValidityPeriod};
use cadena_credentials::{AeoDataSet, AeoDataSetDraft, CountryCode, HistoryEntry, Status, Tin, Transition};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, UpdateMany,
};
use uuid::Uuid;

use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal, Role};
use crate::errors::ServiceError;
use crate::event_log::{self, EventLog};
use crate::events::{CertificationEvent, EventBus};
use crate::services::credentials::CredentialService;
use crate::services::outbox::{self, Work};
use crate::services::partners;
use crate::services::webhooks::{self, WebhookService};
use crate::storage::entities::{certification_history, certifications, partner_certifications};
use crate::storage::{ApplyError, Storage, WriteBatch, WriteGuard, is_unique_violation};

/// Longest reason accepted for a decision.
pub const MAX_REASON_LEN: usize = 2000;
/// Largest page of `certifications`.
pub const MAX_PAGE: u64 = 500;

/// Filters of the `certifications` query; every given filter must match.
#[derive(Clone, Debug, Default)]
pub struct CertificationFilter {
    /// Issuing country.
    pub country: Option<String>,
    /// Trader identification number (separators ignored).
    pub tin: Option<String>,
    /// Effective status (EXPIRED is computed).
    pub status: Option<Status>,
    /// Supply-chain role.
    pub role: Option<cadena_credentials::SupplyChainRole>,
    /// Words of the operator's name (any case).
    pub operator_name: Option<String>,
    /// The officer who submitted it (this node's own certifications only).
    pub submitted_by: Option<String>,
}

/// The order of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Oldest first, after a cursor (the id of the last certification of the previous page).
    After(Option<Uuid>),
    /// Newest first, from the newest (an officer's list).
    NewestFirst,
}

/// One page of certifications, oldest first.
#[derive(Clone, Debug)]
pub struct CertificationPage {
    /// The certifications.
    pub items: Vec<certifications::Model>,
    /// Whether more follow the last one.
    pub has_next_page: bool,
}

/// A lineage's history and whether its hash chain is intact.
#[derive(Clone, Debug)]
pub struct HistoryView {
    /// Entries, oldest first.
    pub entries: Vec<HistoryEntry>,
    /// None when intact, else where it breaks.
    pub chain_break: Option<String>,
}

/// Certifications issued by this node.
#[derive(Clone, Debug)]
pub struct CertificationService {
    storage: Storage,
    bus: EventBus,
    country: CountryCode,
    credentials: CredentialService,
    webhooks: WebhookService,
}

/// The days a stored row (this node's or a partner's) is in force.
pub fn validity(row: &certifications::Model) -> ValidityPeriod {
    ValidityPeriod::of_days(row.valid_from, row.valid_until)
}

/// The effective status of a stored row at `now`.
pub fn effective_status(row: &certifications::Model, now: DateTime<Utc>) -> Status {
    Status::parse(&row.status).unwrap_or(Status::Submitted).effective(&validity(row), now)
}

/// Whether a stored row confers AEO benefits at `now`: granted and in force. Every reader
/// (GraphQL's `confersBenefits`, recognition, partner records) asks this.
pub fn confers_benefits(row: &certifications::Model, now: DateTime<Utc>) -> bool {
    effective_status(row, now).confers_benefits(&validity(row), now)
}

/// Refuses to grant a certification whose validity has ended: its credential would be
/// expired on issue, and its benefits over before they began. It stays SUBMITTED (rejectable).
/// Whether `row` is an MRA partner's certification this node holds (read-only here), not one
/// of its own: partner records are stored as submitted by `partner:<country>`.
pub fn is_partner_record(row: &certifications::Model) -> bool {
    row.submitted_by.starts_with("partner:")
}

fn check_grantable(row: &certifications::Model, now: DateTime<Utc>) -> Result<(), ServiceError> {
    match row.valid_until {
        Some(until) if validity(row).phase(now) == Phase::Ended => Err(ServiceError::NotIssuable(format!(
            "validUntil {until} has passed: a certification no longer valid cannot be granted; it stays \
             SUBMITTED and can be rejected"
        ))),
        _ => Ok(()),
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn parse_reason(transition: Transition, reason: Option<&str>) -> Result<Option<String>, ServiceError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        None if transition.requires_reason() => Err(ServiceError::field(
            "reason",
            format!("is required to {} a certification", transition.as_str().to_lowercase()),
        )),
        Some(r) if r.chars().count() > MAX_REASON_LEN => {
            Err(ServiceError::field("reason", format!("must be at most {MAX_REASON_LEN} characters")))
        }
        r => Ok(r.map(str::to_owned)),
    }
}

fn row_from_data_set(
    set: &AeoDataSet,
    id: Uuid,
    lineage_id: Uuid,
    version: i32,
    previous: Option<Uuid>,
    submitted_by: &str,
) -> certifications::ActiveModel {
    let now = Utc::now();
    let roles: String = set.roles.iter().fold(String::from(","), |mut acc, r| {
        acc.push_str(r.as_str());
        acc.push(',');
        acc
    });
    certifications::ActiveModel {
        id: Set(id),
        lineage_id: Set(lineage_id),
        version: Set(version),
        previous_version_id: Set(previous),
        certificate_number: Set(set.certificate_number.clone()),
        issuing_country: Set(set.issuing_country.as_str().to_owned()),
        issuing_authority: Set(set.issuing_authority.clone()),
        operator_name: Set(set.operator_name.clone()),
        street: Set(set.address.street.clone()),
        city: Set(set.address.city.clone()),
        sub_entity: Set(set.address.sub_entity.clone()),
        postcode: Set(set.address.postcode.clone()),
        address_country: Set(set.address.country.as_str().to_owned()),
        tin: Set(set.tin.as_str().to_owned()),
        tin_scheme: Set(format!("{:?}", set.tin.scheme())),
        partner_identifiers: Set(serde_json::to_value(&set.partner_identifiers).unwrap_or_default()),
        certificate_type: Set(set.certificate_type.as_str().to_owned()),
        roles: Set(roles),
        authorisation_date: Set(set.authorisation_date),
        valid_from: Set(set.valid_from),
        valid_until: Set(set.valid_until),
        last_validation_date: Set(set.last_validation_date),
        status: Set(Status::Submitted.as_str().to_owned()),
        submitted_by: Set(submitted_by.to_owned()),
        approved_by: Set(None),
        created_at: Set(now),
        status_changed_at: Set(now),
        history_seq: Set(0),
        history_head: Set(String::new()),
        operator_did: Set(set.operator_did.clone()),
        credential_id: Set(None),
    }
}

/// The model of a fully set active model (every column is `Set` by `row_from_data_set`).
fn active_to_model(row: certifications::ActiveModel) -> Result<certifications::Model, ServiceError> {
    use sea_orm::TryIntoModel;
    row.try_into_model().map_err(ServiceError::internal)
}

fn entry_from_row(row: certification_history::Model) -> HistoryEntry {
    HistoryEntry {
        lineage: row.lineage_id.to_string(),
        seq: row.seq,
        version: row.version,
        transition: Transition::parse(&row.transition).unwrap_or(Transition::Submit),
        from: row.from_status.as_deref().and_then(Status::parse),
        to: Status::parse(&row.to_status).unwrap_or(Status::Submitted),
        actor: row.actor,
        actor_role: row.actor_role,
        at: row.at,
        reason: row.reason,
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

const CONCURRENT_CHANGE: &str = "the certification changed concurrently; reload and try again";

/// The history row of a sealed entry.
fn history_row(certification_id: Uuid, lineage_id: Uuid, entry: &HistoryEntry) -> certification_history::ActiveModel {
    certification_history::ActiveModel {
        lineage_id: Set(lineage_id),
        seq: Set(entry.seq),
        certification_id: Set(certification_id),
        version: Set(entry.version),
        transition: Set(entry.transition.as_str().to_owned()),
        from_status: Set(entry.from.map(|s| s.as_str().to_owned())),
        to_status: Set(entry.to.as_str().to_owned()),
        actor: Set(entry.actor.clone()),
        actor_role: Set(entry.actor_role.clone()),
        at: Set(entry.at),
        reason: Set(entry.reason.clone()),
        prev_hash: Set(entry.prev_hash.clone()),
        hash: Set(entry.hash.clone()),
        ..Default::default()
    }
}

/// Builds the statements of one write: status changes, history entries, and the lineage's
/// chain head, in the order they must apply.
struct Plan {
    backend: DbBackend,
    batch: WriteBatch,
    head: Option<(String, i64)>,
    lineage_id: Uuid,
    events: Vec<CertificationEvent>,
    /// Status changes, built when the plan finishes: the last one also moves the chain head.
    status_updates: Vec<UpdateMany<certifications::Entity>>,
}

impl Plan {
    fn new(backend: DbBackend, lineage_id: Uuid, head: Option<(String, i64)>) -> Plan {
        Plan { backend, batch: WriteBatch::default(), head, lineage_id, events: Vec::new(), status_updates: Vec::new() }
    }

    /// Queues `work` in the outbox, committed with the rest.
    fn enqueue(&mut self, work: impl IntoIterator<Item = Work>) {
        for work in work {
            self.batch.push(outbox::enqueue(self.backend, work));
        }
    }

    /// Inserts a new certification row (its head fields are set when the plan finishes).
    fn insert_certification(&mut self, row: certifications::ActiveModel) {
        self.batch.push(certifications::Entity::insert(row).build(self.backend));
    }

    /// Moves `row` from its stored status to `to`, guarded against a concurrent change (the
    /// statement is added when the plan finishes, after the rows it may refer to).
    fn set_status(
        &mut self,
        row: &certifications::Model,
        to: Status,
        approved_by: Option<&str>,
        credential_id: Option<&str>,
    ) -> certifications::Model {
        let now = Utc::now();
        let mut update = certifications::Entity::update_many()
            .col_expr(certifications::Column::Status, Expr::value(to.as_str()))
            .col_expr(certifications::Column::StatusChangedAt, Expr::value(now))
            .filter(certifications::Column::Id.eq(row.id))
            .filter(certifications::Column::Status.eq(row.status.clone()));
        if let Some(approver) = approved_by {
            update = update.col_expr(certifications::Column::ApprovedBy, Expr::value(approver));
        }
        if let Some(credential) = credential_id {
            update = update.col_expr(certifications::Column::CredentialId, Expr::value(credential));
        }
        self.status_updates.push(update);
        let mut updated = row.clone();
        updated.status = to.as_str().to_owned();
        updated.status_changed_at = now;
        if let Some(approver) = approved_by {
            updated.approved_by = Some(approver.to_owned());
        }
        if let Some(credential) = credential_id {
            updated.credential_id = Some(credential.to_owned());
        }
        updated
    }

    /// Seals `link` onto the chain and records it, with the event subscribers will get.
    fn append(&mut self, certification: certifications::Model, link: HistoryLink) -> HistoryEntry {
        let entry = link.seal(self.head.as_ref().map(|(hash, seq)| (hash.as_str(), *seq)));
        self.batch.push(
            certification_history::Entity::insert(history_row(certification.id, self.lineage_id, &entry))
                .build(self.backend),
        );
        self.head = Some((entry.hash.clone(), entry.seq));
        self.events.push(event(&entry, certification));
        entry
    }

    /// Adds the status changes, guarded, and moves the lineage's chain head on every version's
    /// row, guarded so two writers cannot both extend the chain from the same head (the unique
    /// (lineage, seq) key is the second line of defence). The last status change (the
    /// transitioned row) moves its own row's head in the same statement, so that row is
    /// written once; every version carries the same head, so guarding it there guards the
    /// lineage's.
    fn finish(mut self, previous_seq: i64) -> (WriteBatch, Vec<CertificationEvent>) {
        let carries_head = self.status_updates.len().checked_sub(1);
        for (i, mut update) in std::mem::take(&mut self.status_updates).into_iter().enumerate() {
            if Some(i) == carries_head
                && let Some((hash, seq)) = &self.head
            {
                update = update
                    .col_expr(certifications::Column::HistorySeq, Expr::value(*seq))
                    .col_expr(certifications::Column::HistoryHead, Expr::value(hash.clone()))
                    .filter(certifications::Column::HistorySeq.eq(previous_seq));
            }
            self.batch.push_guarded(update.build(self.backend), CONCURRENT_CHANGE);
        }
        if let Some((hash, seq)) = &self.head {
            // The other versions (the row that carried the head has left `previous_seq`).
            let update = certifications::Entity::update_many()
                .col_expr(certifications::Column::HistorySeq, Expr::value(*seq))
                .col_expr(certifications::Column::HistoryHead, Expr::value(hash.clone()))
                .filter(certifications::Column::LineageId.eq(self.lineage_id))
                .filter(certifications::Column::HistorySeq.eq(previous_seq))
                .build(self.backend);
            match carries_head {
                Some(_) => self.batch.push(update),
                None => self.batch.push_guarded(update, CONCURRENT_CHANGE),
            }
            for event in &mut self.events {
                event.certification.history_seq = *seq;
                event.certification.history_head = hash.clone();
            }
        }
        (self.batch, self.events)
    }
}

impl CertificationService {
    /// The certifications of the node of `country`.
    pub fn new(
        storage: Storage,
        bus: EventBus,
        country: CountryCode,
        credentials: CredentialService,
    ) -> CertificationService {
        let webhooks = WebhookService::new(Vec::new());
        CertificationService { storage, bus, country, credentials, webhooks }
    }

    /// The same service, queuing webhook calls for every transition with a credential.
    pub fn with_webhooks(mut self, webhooks: WebhookService) -> CertificationService {
        self.webhooks = webhooks;
        self
    }

    /// The node's credentials.
    pub fn credentials(&self) -> &CredentialService {
        &self.credentials
    }

    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.country
    }

    /// The event bus transitions are published on.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    fn parse_data_set(&self, draft: &AeoDataSetDraft) -> Result<AeoDataSet, ServiceError> {
        // Another country's certification cannot be judged here at all (its TIN follows that
        // country's rules), so that error comes alone and first.
        if let Ok(country) = CountryCode::parse(&draft.issuing_country)
            && country != self.country
        {
            return Err(ServiceError::field(
                "input.issuingCountry",
                format!("this node certifies for {} only, not {}", self.country.as_str(), country.as_str()),
            ));
        }
        let set = AeoDataSet::parse(draft, "input").map_err(ServiceError::InvalidInput)?;
        // A certification whose validity already ended could never be granted.
        if let Some(until) = set.valid_until
            && ValidityPeriod::of_days(set.valid_from, Some(until)).phase(Utc::now()) == Phase::Ended
        {
            return Err(ServiceError::field(
                "input.validUntil",
                format!("({until}) has passed; a certification whose validity ended cannot be granted"),
            ));
        }
        Ok(set)
    }

    /// Applies a plan's batch with its events appended to the event log, then wakes the log's
    /// reader (subscribers hear them from there). Returns the last event's certification.
    /// `gate` is the gate a plan read under, if it did; otherwise the gate is taken only once
    /// the batch is complete, so it is held for the write alone (its guards catch a plan that
    /// another writer overtook).
    #[tracing::instrument(skip_all)]
    async fn commit(
        &self,
        gate: Option<WriteGuard<'_>>,
        mut batch: WriteBatch,
        events: Vec<CertificationEvent>,
        on_duplicate: impl FnOnce() -> ServiceError,
    ) -> Result<certifications::Model, ServiceError> {
        batch.extend(event_log::append_statements(self.storage.backend(), &events));
        let gate = match gate {
            Some(gate) => gate,
            None => self.storage.group_gate().await,
        };
        self.storage.apply_grouped(gate, batch).await.map_err(|e| match e {
            ApplyError::Conflict(message) => ServiceError::Conflict(message.into()),
            ApplyError::Db(db) if is_unique_violation(&db) => on_duplicate(),
            ApplyError::Db(db) => db.into(),
        })?;
        self.bus.committed();
        events
            .into_iter()
            .next_back()
            .map(|e| e.certification)
            .ok_or_else(|| ServiceError::Internal("a write without events".into()))
    }

    /// The event log transitions are appended to.
    pub fn event_log(&self) -> EventLog {
        EventLog::new(self.storage.clone(), self.bus.clone())
    }

    /// A certification to plan a write from, as committed. The write's guards (status and
    /// history head unchanged) make it fail with a conflict if another write overtook it.
    async fn find_committed(&self, id: Uuid) -> Result<certifications::Model, ServiceError> {
        let select = certifications::Entity::find_by_id(id).build(self.storage.backend());
        self.storage.read_one(select).await?.ok_or_else(|| ServiceError::NotFound(format!("certification {id}")))
    }

    /// A certification for a write, read under the write's gate.
    async fn find_for_write(&self, gate: &mut WriteGuard<'_>, id: Uuid) -> Result<certifications::Model, ServiceError> {
        let select = certifications::Entity::find_by_id(id).build(self.storage.backend());
        self.storage
            .read_for_write(gate, select)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("certification {id}")))
    }

    /// Files a new certification (REGISTRAR). It waits in SUBMITTED for an approver.
    #[tracing::instrument(skip_all, fields(officer = principal.map(|p| p.username.as_str())))]
    pub async fn submit(
        &self,
        principal: Option<&Principal>,
        draft: &AeoDataSetDraft,
    ) -> Result<certifications::Model, ServiceError> {
        let (officer, role) = authorize(principal, Operation::SubmitCertification)?;
        let set = self.parse_data_set(draft)?;
        let id = Uuid::now_v7();
        let row = row_from_data_set(&set, id, id, 1, None, &officer.username);

        let mut plan = Plan::new(self.storage.backend(), id, None);
        let link = self.link(id, 1, Transition::Submit, None, Status::Submitted, officer, role, None);
        let entry = link.seal(None);
        // The row carries its chain head from the start, so the insert is final.
        let mut row = row;
        row.history_seq = Set(entry.seq);
        row.history_head = Set(entry.hash.clone());
        plan.insert_certification(row.clone());
        plan.batch.push(certification_history::Entity::insert(history_row(id, id, &entry)).build(plan.backend));
        let model = active_to_model(row)?;
        let events = vec![event(&entry, model)];
        // The unique (country, number, version) key refuses a number another lineage holds.
        self.commit(None, plan.batch, events, || {
            ServiceError::field(
                "input.certificateNumber",
                format!("certificate {} already exists in {}", set.certificate_number, set.issuing_country),
            )
        })
        .await
    }

    /// Checks a data set as [`Self::submit`] and [`Self::amend`] would (REGISTRAR), without
    /// filing anything: the console shows each field's error beside it before submitting.
    /// (Only the commit can tell a certificate number another lineage already holds.)
    pub fn check(&self, principal: Option<&Principal>, draft: &AeoDataSetDraft) -> Result<AeoDataSet, ServiceError> {
        authorize(principal, Operation::SubmitCertification)?;
        self.parse_data_set(draft)
    }

    /// Files a new version of a granted or suspended certification (REGISTRAR). When an
    /// approver approves it, it replaces the current version, which becomes AMENDED; both stay.
    #[tracing::instrument(skip_all, fields(officer = principal.map(|p| p.username.as_str()), %id))]
    pub async fn amend(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        draft: &AeoDataSetDraft,
    ) -> Result<certifications::Model, ServiceError> {
        let (officer, role) = authorize(principal, Operation::AmendCertification)?;
        let set = self.parse_data_set(draft)?;

        let mut gate = self.storage.group_gate().await;
        let current = self.find_for_write(&mut gate, id).await?;
        let from = effective_status(&current, Utc::now());
        Transition::Supersede.apply(from)?;
        if set.certificate_number != current.certificate_number {
            return Err(ServiceError::field(
                "input.certificateNumber",
                format!("an amendment keeps the certificate number {}", current.certificate_number),
            ));
        }
        let newest_select = certifications::Entity::find()
            .filter(certifications::Column::LineageId.eq(current.lineage_id))
            .order_by_desc(certifications::Column::Version)
            .limit(1)
            .build(self.storage.backend());
        let newest = self
            .storage
            .read_for_write::<certifications::Model>(&mut gate, newest_select)
            .await?
            .unwrap_or_else(|| current.clone());
        if newest.id != current.id {
            return Err(ServiceError::Conflict(format!(
                "version {} of this certificate is already pending or newer; amend that one",
                newest.version
            )));
        }
        let new_id = Uuid::now_v7();
        let mut row = row_from_data_set(
            &set,
            new_id,
            current.lineage_id,
            current.version + 1,
            Some(current.id),
            &officer.username,
        );
        row.history_seq = Set(current.history_seq);
        row.history_head = Set(current.history_head.clone());
        let head = Some((current.history_head.clone(), current.history_seq));
        let mut plan = Plan::new(self.storage.backend(), current.lineage_id, head);
        plan.insert_certification(row.clone());
        let link = self.link(
            current.lineage_id,
            current.version + 1,
            Transition::Submit,
            None,
            Status::Submitted,
            officer,
            role,
            None,
        );
        plan.append(active_to_model(row)?, link);
        let (batch, events) = plan.finish(current.history_seq);
        self.commit(Some(gate), batch, events, || ServiceError::Conflict(CONCURRENT_CHANGE.into())).await
    }

    /// Grants a submitted certification (APPROVER, not its submitter).
    pub async fn approve(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::ApproveCertification, Transition::Approve, id, None).await
    }

    /// Refuses a submitted certification (APPROVER).
    pub async fn reject(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::RejectCertification, Transition::Reject, id, reason).await
    }

    /// Suspends a granted certification (APPROVER).
    pub async fn suspend(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::SuspendCertification, Transition::Suspend, id, reason).await
    }

    /// Lifts a suspension (APPROVER).
    pub async fn reinstate(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::ReinstateCertification, Transition::Reinstate, id, reason).await
    }

    /// Withdraws a certification for good (APPROVER).
    pub async fn revoke(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::RevokeCertification, Transition::Revoke, id, reason).await
    }

    /// Voids a certification from the start (APPROVER).
    pub async fn annul(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        self.transition(principal, Operation::AnnulCertification, Transition::Annul, id, reason).await
    }

    #[tracing::instrument(skip(self, principal, reason), fields(officer = principal.map(|p| p.username.as_str())))]
    async fn transition(
        &self,
        principal: Option<&Principal>,
        operation: Operation,
        transition: Transition,
        id: Uuid,
        reason: Option<&str>,
    ) -> Result<certifications::Model, ServiceError> {
        let (officer, role) = authorize(principal, operation)?;
        let reason = parse_reason(transition, reason)?;
        // Planned from committed reads without the gate (signing, the costly part of a grant,
        // included), so grants sign in parallel and the gate is held for the write alone.
        let row = self.find_committed(id).await?;
        let from = effective_status(&row, Utc::now());
        let to = transition.apply(from)?;
        if transition == Transition::Approve && row.submitted_by == officer.username {
            return Err(ServiceError::FourEyes(officer.username.clone()));
        }
        if transition == Transition::Approve {
            check_grantable(&row, Utc::now())?;
        }
        let approver = (transition == Transition::Approve).then_some(officer.username.as_str());
        let head = Some((row.history_head.clone(), row.history_seq));
        let mut plan = Plan::new(self.storage.backend(), row.lineage_id, head);

        // Approving an amendment retires the version it replaces, in the same batch.
        if transition == Transition::Approve
            && let Some(previous_id) = row.previous_version_id
        {
            let previous = self.find_committed(previous_id).await?;
            let previous_from = effective_status(&previous, Utc::now());
            let previous_to = Transition::Supersede.apply(previous_from)?;
            let retired = plan.set_status(&previous, previous_to, None, None);
            // The amended version's credential is revoked: the new one replaces it.
            if let Some(credential) = &previous.credential_id {
                plan.batch.extend(self.credentials.status_statements(credential, Some(true), None).await?);
            }
            let link = self.link(
                row.lineage_id,
                previous.version,
                Transition::Supersede,
                Some(previous_from),
                previous_to,
                officer,
                role,
                Some(format!("replaced by version {}", row.version)),
            );
            plan.append(retired, link);
        }

        // Granting issues the credential in the same batch; later transitions flip its bits.
        // The chain hears of either from the event log the transition is written to
        // (`anchoring::Former`), as partners do (`partners::dispatch`).
        let mut issued = None;
        let mut credential_changed = true;
        match (transition, row.credential_id.as_deref()) {
            (Transition::Approve, _) => {
                // A submitted version's data never changes, only its status, which the
                // write's guard checks.
                let slot = self.credentials.take_slot(None).await?;
                let credential = self.credentials.issue_signed(row.clone(), slot).await?;
                plan.batch.push(self.credentials.insert_statement(&credential, Some(row.id)));
                issued = Some(credential.id);
            }
            (
                Transition::Suspend | Transition::Reinstate | Transition::Revoke | Transition::Annul,
                Some(credential),
            ) => {
                let (revoked, suspended) = match transition {
                    Transition::Suspend => (None, Some(true)),
                    Transition::Reinstate => (None, Some(false)),
                    _ => (Some(true), None),
                };
                plan.batch.extend(self.credentials.status_statements(credential, revoked, suspended).await?);
            }
            _ => credential_changed = false,
        }
        let updated = plan.set_status(&row, to, approver, issued.as_deref());
        let link = self.link(row.lineage_id, row.version, transition, Some(from), to, officer, role, reason);
        plan.append(updated, link);
        if credential_changed && let Some(event) = plan.events.last() {
            // Risk systems hear of it through the outbox, committed with the rest.
            let work = self.webhooks.work(&webhooks::local_payload(event));
            plan.enqueue(work);
        }
        let (batch, events) = plan.finish(row.history_seq);
        self.commit(None, batch, events, || ServiceError::Conflict(CONCURRENT_CHANGE.into())).await
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        lineage_id: Uuid,
        version: i32,
        transition: Transition,
        from: Option<Status>,
        to: Status,
        officer: &Principal,
        role: Role,
        reason: Option<String>,
    ) -> HistoryLink {
        HistoryLink {
            lineage: lineage_id.to_string(),
            version,
            transition,
            from,
            to,
            actor: officer.username.clone(),
            actor_role: role.as_str().to_owned(),
            at: Utc::now(),
            reason,
        }
    }

    /// One certification (any officer role that reads).
    pub async fn get(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
    ) -> Result<Option<certifications::Model>, ServiceError> {
        authorize(principal, Operation::ReadCertifications)?;
        match certifications::Entity::find_by_id(id).one(self.storage.db()).await? {
            Some(row) => Ok(Some(row)),
            None => self.partner_record(id).await,
        }
    }

    /// The signed credential of a partner record.
    pub async fn partner_credential(&self, credential_id: &str) -> Result<Option<serde_json::Value>, ServiceError> {
        Ok(partner_certifications::Entity::find_by_id(credential_id.to_owned())
            .one(self.storage.db())
            .await?
            .and_then(|r| serde_json::from_str(&r.credential).ok()))
    }

    /// A partner's certification this node holds (read-only here), by its id at the partner.
    async fn partner_record(&self, id: Uuid) -> Result<Option<certifications::Model>, ServiceError> {
        Ok(partner_certifications::Entity::find()
            .filter(partner_certifications::Column::CertificationId.eq(id))
            .one(self.storage.db())
            .await?
            .map(|r| partners::partner_record_as_certification(&r)))
    }

    /// Partner records matching `filter` after `after`, at most `limit`, oldest first.
    async fn partner_records(
        &self,
        country: Option<CountryCode>,
        tin: Option<&str>,
        filter: &CertificationFilter,
        listing: Listing,
        limit: u64,
    ) -> Result<Vec<certifications::Model>, ServiceError> {
        use partner_certifications::Column as P;
        let mut query = partner_certifications::Entity::find();
        if let Some(country) = country {
            query = query.filter(P::IssuingCountry.eq(country.as_str()));
        }
        if let Some(tin) = tin {
            query = query.filter(P::Tin.eq(normalise_tin(country, tin)));
        }
        if let Some(words) = name_pattern(filter) {
            query = query.filter(Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(P::OperatorName))).like(words));
        }
        let query = match listing {
            Listing::After(Some(after)) => query.filter(P::CertificationId.gt(after)).order_by_asc(P::CertificationId),
            Listing::After(None) => query.order_by_asc(P::CertificationId),
            Listing::NewestFirst => query.order_by_desc(P::CertificationId),
        };
        let rows = query.limit(limit).all(self.storage.db()).await?;
        let now = Utc::now();
        Ok(rows
            .iter()
            .map(partners::partner_record_as_certification)
            .filter(|row| filter.status.is_none_or(|s| effective_status(row, now) == s))
            .filter(|row| filter.role.is_none_or(|r| row.roles.contains(&format!(",{},", r.as_str()))))
            .collect())
    }

    /// Certifications matching `filter`, `first` at a time, in the order `listing` asks.
    pub async fn list(
        &self,
        principal: Option<&Principal>,
        filter: &CertificationFilter,
        first: Option<i32>,
        listing: Listing,
    ) -> Result<CertificationPage, ServiceError> {
        authorize(principal, Operation::ReadCertifications)?;
        self.list_unchecked(filter, first, listing).await
    }

    /// [`Self::list`] without authorisation: for the benchmark and for callers that already
    /// authorised.
    pub async fn list_unchecked(
        &self,
        filter: &CertificationFilter,
        first: Option<i32>,
        listing: Listing,
    ) -> Result<CertificationPage, ServiceError> {
        let limit = match first {
            None => 50,
            Some(n) if n >= 1 && (n as u64) <= MAX_PAGE => n as u64,
            Some(_) => return Err(ServiceError::field("first", format!("must be between 1 and {MAX_PAGE}"))),
        };
        let mut condition = Condition::all();
        let country = match filter.country.as_deref() {
            Some(c) => {
                let code = CountryCode::parse(c).map_err(|e| ServiceError::field("filter.country", e.to_string()))?;
                condition = condition.add(certifications::Column::IssuingCountry.eq(code.as_str()));
                Some(code)
            }
            None => None,
        };
        if let Some(tin) = filter.tin.as_deref() {
            condition = condition.add(certifications::Column::Tin.eq(normalise_tin(country, tin)));
        }
        if let Some(role) = filter.role {
            condition = condition.add(certifications::Column::Roles.like(format!("%,{},%", role.as_str())));
        }
        if let Some(status) = filter.status {
            condition = condition.add(status_condition(status, today()));
        }
        if let Some(words) = name_pattern(filter) {
            condition = condition.add(
                Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(certifications::Column::OperatorName)))
                    .like(words),
            );
        }
        if let Some(officer) = filter.submitted_by.as_deref() {
            condition = condition.add(certifications::Column::SubmittedBy.eq(officer));
        }
        let query = certifications::Entity::find().limit(limit + 1);
        let query = match listing {
            Listing::After(Some(after)) => query
                .filter(condition.add(certifications::Column::Id.gt(after)))
                .order_by_asc(certifications::Column::Id),
            Listing::After(None) => query.filter(condition).order_by_asc(certifications::Column::Id),
            Listing::NewestFirst => query.filter(condition).order_by_desc(certifications::Column::Id),
        };
        let mut items = query.all(self.storage.db()).await?;
        // Partners' certifications this node holds answer alongside its own, in one order.
        if filter.submitted_by.is_none() {
            items.extend(self.partner_records(country, filter.tin.as_deref(), filter, listing, limit + 1).await?);
        }
        match listing {
            Listing::After(_) => items.sort_by_key(|row| row.id),
            Listing::NewestFirst => items.sort_by_key(|row| std::cmp::Reverse(row.id)),
        }
        let has_next_page = items.len() as u64 > limit;
        items.truncate(limit as usize);
        Ok(CertificationPage { items, has_next_page })
    }

    /// Every version of every certification of one operator, by country and TIN.
    pub async fn by_operator(
        &self,
        principal: Option<&Principal>,
        country: &str,
        tin: &str,
    ) -> Result<Vec<certifications::Model>, ServiceError> {
        authorize(principal, Operation::ReadCertifications)?;
        self.by_operator_unchecked(country, tin).await
    }

    /// [`Self::by_operator`] without authorisation (the benchmark's lookup).
    pub async fn by_operator_unchecked(
        &self,
        country: &str,
        tin: &str,
    ) -> Result<Vec<certifications::Model>, ServiceError> {
        let code = CountryCode::parse(country).map_err(|e| ServiceError::field("country", e.to_string()))?;
        let mut rows = certifications::Entity::find()
            .filter(certifications::Column::IssuingCountry.eq(code.as_str()))
            .filter(certifications::Column::Tin.eq(normalise_tin(Some(code), tin)))
            .order_by_asc(certifications::Column::Id)
            .all(self.storage.db())
            .await?;
        rows.extend(
            self.partner_records(
                Some(code),
                Some(tin),
                &CertificationFilter::default(),
                Listing::After(None),
                MAX_PAGE,
            )
            .await?,
        );
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// The lineage history of a certification, with a check of its hash chain.
    pub async fn history(&self, principal: Option<&Principal>, id: Uuid) -> Result<HistoryView, ServiceError> {
        authorize(principal, Operation::ReadHistory)?;
        let row = certifications::Entity::find_by_id(id)
            .one(self.storage.db())
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("certification {id}")))?;
        let entries: Vec<HistoryEntry> = certification_history::Entity::find()
            .filter(certification_history::Column::LineageId.eq(row.lineage_id))
            .order_by_asc(certification_history::Column::Seq)
            .all(self.storage.db())
            .await?
            .into_iter()
            .map(entry_from_row)
            .collect();
        let chain_break = verify_chain(&entries).err().map(|b| b.to_string());
        if let Some(problem) = &chain_break {
            tracing::error!(%id, %problem, "history chain broken");
        }
        Ok(HistoryView { entries, chain_break })
    }
}

/// A TIN as stored: parsed when the country is known and the number parses, else stripped of
/// separators, so a lookup never fails just because the caller typed dots or dashes.
fn normalise_tin(country: Option<CountryCode>, tin: &str) -> String {
    country.and_then(|c| Tin::parse(c, tin).ok()).map(|t| t.as_str().to_owned()).unwrap_or_else(|| {
        tin.chars().filter(|c| !matches!(c, '.' | '-' | '/' | ' ')).flat_map(char::to_uppercase).collect()
    })
}

/// The `LIKE` pattern of the operator-name filter: its words in order, in lower case (`%` and
/// `_` taken literally by dropping them).
fn name_pattern(filter: &CertificationFilter) -> Option<String> {
    let words: Vec<String> = filter
        .operator_name
        .as_deref()?
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !matches!(c, '%' | '_' | '\\')).collect::<String>().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    (!words.is_empty()).then(|| format!("%{}%", words.join("%")))
}

/// SQL for an *effective* status: EXPIRED is stored as GRANTED or SUSPENDED past its end.
fn status_condition(status: Status, today: NaiveDate) -> Condition {
    use certifications::Column as C;
    let still_valid = Condition::any().add(C::ValidUntil.is_null()).add(C::ValidUntil.gte(today));
    match status {
        Status::Expired => Condition::all()
            .add(C::Status.is_in([Status::Granted.as_str(), Status::Suspended.as_str()]))
            .add(C::ValidUntil.lt(today)),
        Status::Granted | Status::Suspended => Condition::all().add(C::Status.eq(status.as_str())).add(still_valid),
        other => Condition::all().add(C::Status.eq(other.as_str())),
    }
}

fn event(entry: &HistoryEntry, certification: certifications::Model) -> CertificationEvent {
    CertificationEvent {
        sequence: 0,
        transition: entry.transition,
        from: entry.from,
        to: entry.to,
        actor: entry.actor.clone(),
        actor_role: entry.actor_role.clone(),
        at: entry.at,
        reason: entry.reason.clone(),
        certification,
        entry_seq: entry.seq,
        origin: None,
        trace_context: crate::trace_context::traceparent(),
    }
}
