//! GraphQL object, input and enum types of the subgraph.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use cadena_credentials::aeo::AddressDraft;
use cadena_credentials::{AeoDataSetDraft, HistoryEntry};
use chrono::{DateTime, Utc};

use super::scalars::{Date, Json};
use super::{principal, services};
use crate::auth::Role;
use crate::errors::GqlResult;
use crate::events::CertificationEvent;
use crate::services::certifications::{confers_benefits, effective_status};
use crate::storage::entities::{certifications, officers};

/// Lifecycle status of a certification.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "cadena_credentials::Status", name = "CertificationStatus")]
#[allow(missing_docs)]
pub enum CertificationStatus {
    Submitted,
    Rejected,
    Granted,
    Suspended,
    Revoked,
    Annulled,
    Amended,
    Expired,
}

/// A lifecycle transition, as recorded in the history.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "cadena_credentials::Transition", name = "CertificationTransition")]
#[allow(missing_docs)]
pub enum CertificationTransition {
    Submit,
    Approve,
    Reject,
    Suspend,
    Reinstate,
    Revoke,
    Annul,
    /// A newer version replaced this one (amendment approved).
    Supersede,
}

/// AEO certificate type.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "cadena_credentials::CertificateType")]
#[allow(missing_docs)]
pub enum CertificateType {
    SecurityAndSafety,
    CustomsSimplifications,
    Full,
}

/// Supply-chain role (WCO SAFE Framework).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "cadena_credentials::SupplyChainRole")]
#[allow(missing_docs)]
pub enum SupplyChainRole {
    Manufacturer,
    Importer,
    Exporter,
    CustomsBroker,
    Carrier,
    Consolidator,
    Intermediary,
    PortOperator,
    AirportOperator,
    TerminalOperator,
    IntegratedOperator,
    Warehouse,
    Distributor,
    FreightForwarder,
}

/// An operator's address.
#[derive(SimpleObject, Clone, Debug)]
pub struct Address {
    /// Street and number (WCO 239).
    pub street: String,
    /// City (WCO 241).
    pub city: String,
    /// State, province or department (WCO 243).
    pub sub_entity: Option<String>,
    /// Postcode (WCO 245).
    pub postcode: Option<String>,
    /// Country, ISO 3166-1 alpha-2 (WCO 242).
    pub country: String,
}

/// An identifier of the operator in another scheme (e.g. EORI).
#[derive(SimpleObject, serde::Deserialize, Clone, Debug)]
pub struct PartnerIdentifier {
    /// Scheme, e.g. EORI.
    pub scheme: String,
    /// The identifier.
    pub value: String,
}

/// One version of an AEO certification.
#[derive(Clone, Debug)]
pub struct Certification(pub certifications::Model);

#[Object]
impl Certification {
    /// This version's id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The id shared by every version of the certificate (its first version's id).
    async fn lineage_id(&self) -> ID {
        ID(self.0.lineage_id.to_string())
    }
    /// Version number, from 1; amendments add versions.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The version this one amends.
    async fn previous_version_id(&self) -> Option<ID> {
        self.0.previous_version_id.map(|id| ID(id.to_string()))
    }
    /// Certificate / authorisation number in the issuer's format.
    async fn certificate_number(&self) -> &str {
        &self.0.certificate_number
    }
    /// Issuing country (ISO 3166-1 alpha-2).
    async fn issuing_country(&self) -> &str {
        &self.0.issuing_country
    }
    /// Issuing customs authority.
    async fn issuing_authority(&self) -> &str {
        &self.0.issuing_authority
    }
    /// The certified operator.
    async fn operator(&self) -> Operator {
        Operator {
            country: self.0.issuing_country.clone(),
            tin: self.0.tin.clone(),
            legal_name: Some(self.0.operator_name.clone()),
        }
    }
    /// Operator's legal name.
    async fn operator_name(&self) -> &str {
        &self.0.operator_name
    }
    /// Operator's address.
    async fn address(&self) -> Address {
        Address {
            street: self.0.street.clone(),
            city: self.0.city.clone(),
            sub_entity: self.0.sub_entity.clone(),
            postcode: self.0.postcode.clone(),
            country: self.0.address_country.clone(),
        }
    }
    /// Trader identification number, normalised (no separators).
    async fn tin(&self) -> &str {
        &self.0.tin
    }
    /// The TIN's scheme (e.g. MxRfc).
    async fn tin_scheme(&self) -> &str {
        &self.0.tin_scheme
    }
    /// WCO MRA party identifier (R143): country code + TIN.
    async fn mra_party_identifier(&self) -> String {
        format!("{}{}", self.0.issuing_country, self.0.tin)
    }
    /// Other identifiers.
    async fn partner_identifiers(&self) -> Vec<PartnerIdentifier> {
        serde_json::from_value(self.0.partner_identifiers.clone()).unwrap_or_default()
    }
    /// Certificate type.
    async fn certificate_type(&self) -> Option<CertificateType> {
        cadena_credentials::CertificateType::parse(&self.0.certificate_type).map(Into::into)
    }
    /// Supply-chain roles.
    async fn roles(&self) -> Vec<SupplyChainRole> {
        self.0.roles.split(',').filter_map(cadena_credentials::SupplyChainRole::parse).map(Into::into).collect()
    }
    /// Date of the authorisation decision.
    async fn authorisation_date(&self) -> Date {
        Date(self.0.authorisation_date)
    }
    /// First day of validity.
    async fn valid_from(&self) -> Date {
        Date(self.0.valid_from)
    }
    /// Last day of validity (null: valid until withdrawn).
    async fn valid_until(&self) -> Option<Date> {
        self.0.valid_until.map(Date)
    }
    /// Last (re)validation by customs.
    async fn last_validation_date(&self) -> Option<Date> {
        self.0.last_validation_date.map(Date)
    }
    /// Status now (EXPIRED is computed from validUntil). A certification granted ahead of its
    /// validFrom is GRANTED but not yet in force: see confersBenefits.
    async fn status(&self) -> CertificationStatus {
        effective_status(&self.0, Utc::now()).into()
    }
    /// Whether the operator enjoys AEO benefits now: GRANTED and in force (between validFrom
    /// and validUntil, inclusive), by the same rule as a verifier's validity check.
    async fn confers_benefits(&self) -> bool {
        confers_benefits(&self.0, Utc::now())
    }
    /// Officer who submitted this version.
    async fn submitted_by(&self) -> &str {
        &self.0.submitted_by
    }
    /// Officer who approved it.
    async fn approved_by(&self) -> Option<&str> {
        self.0.approved_by.as_deref()
    }
    /// When this version was submitted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When its status last changed.
    async fn status_changed_at(&self) -> DateTime<Utc> {
        self.0.status_changed_at
    }
    /// The operator's own DID, when it has one.
    async fn operator_did(&self) -> Option<&str> {
        self.0.operator_did.as_deref()
    }
    /// Its delivery to the firm's wallets, oldest first: each offer, token, credential issued
    /// (format and holder) and refusal.
    async fn wallet_events(&self, ctx: &Context<'_>) -> Result<Vec<super::wallets::WalletEvent>> {
        let rows = services(ctx).wallets.log(super::principal(ctx), self.0.id).await.gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
    /// The W3C Verifiable Credential issued when this version was granted (null before).
    async fn credential(&self, ctx: &Context<'_>) -> Result<Option<Json>> {
        let Some(id) = &self.0.credential_id else { return Ok(None) };
        if let Some(stored) = services(ctx).credentials.stored(id).await.gql()? {
            return Ok(serde_json::from_str(&stored.document).ok().map(Json));
        }
        Ok(services(ctx).certifications.partner_credential(id).await.gql()?.map(Json))
    }
    /// Where this version's credential sits on chain (null before it is granted, or while its
    /// batch waits, or when the node does not anchor).
    async fn anchor(&self, ctx: &Context<'_>) -> Result<Option<Anchor>> {
        let services = services(ctx);
        let (Some(anchoring), Some(id)) = (&services.anchoring, &self.0.credential_id) else { return Ok(None) };
        let Some(stored) = services.credentials.stored(id).await.gql()? else { return Ok(None) };
        Ok(anchoring.proof_of(&stored.digest).await.gql()?.map(|p| Anchor {
            root: p.root,
            index: p.leaf_index,
            proof: p.proof,
            tx_hash: p.tx_hash,
            block: p.block_number,
            confirmations: p.confirmations as i64,
            batch_sequence: p.batch_sequence,
            digest: p.digest,
        }))
    }
    /// Notes that did not stop the submission (e.g. an RFC in use whose check digit fails).
    async fn warnings(&self) -> Vec<String> {
        cadena_credentials::CountryCode::parse(&self.0.issuing_country)
            .ok()
            .and_then(|c| cadena_credentials::Tin::parse(c, &self.0.tin).ok())
            .map(|tin| tin.warnings().iter().map(|w| format!("tin: {w}")).collect())
            .unwrap_or_default()
    }
}

/// A credential's place on chain.
#[derive(SimpleObject, Clone, Debug)]
pub struct Anchor {
    /// Hex SHA-256 of the credential's RFC 8785 canonical JSON.
    pub digest: String,
    /// Hex Merkle root of its batch.
    pub root: String,
    /// Its leaf index in the tree.
    pub index: i32,
    /// Sibling hashes from the leaf up (hex): OpenZeppelin `MerkleProof` accepts them.
    pub proof: Vec<String>,
    /// The batch's sequence number.
    pub batch_sequence: i64,
    /// The anchoring transaction (null while it waits).
    pub tx_hash: Option<String>,
    /// Its block.
    pub block: Option<i64>,
    /// Blocks on top of it, counting its own.
    pub confirmations: i64,
}

/// When the chain recorded a history entry.
#[derive(SimpleObject, Clone, Debug)]
pub struct ChainConfirmation {
    /// The batch's sequence number.
    pub batch_sequence: i64,
    /// The transaction.
    pub tx_hash: String,
    /// Its block.
    pub block: i64,
    /// Blocks on top of it, counting its own.
    pub confirmations: i64,
}

/// An economic operator, identified by country and TIN.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Operator {
    /// Country of the TIN.
    pub country: String,
    /// Trader identification number.
    pub tin: String,
    /// Legal name on the newest certification.
    pub legal_name: Option<String>,
}

#[ComplexObject]
impl Operator {
    /// This operator's recognition at every MRA partner, asked live (a partner that does not
    /// answer in time is an error beside the others' answers).
    async fn recognition(&self, ctx: &Context<'_>) -> Result<Vec<super::partners::PartnerRecognition>> {
        super::partners::recognition_at_partners(ctx, &self.country, &self.tin).await
    }

    /// Every certification version of this operator at this node, oldest first.
    async fn certifications(&self, ctx: &Context<'_>) -> Result<Vec<Certification>> {
        let rows = services(ctx).certifications.by_operator(principal(ctx), &self.country, &self.tin).await.gql()?;
        Ok(rows.into_iter().map(Certification).collect())
    }
}

/// One entry of a certification's history.
#[derive(Clone, Debug)]
pub struct HistoryEntryObject(pub HistoryEntry);

#[Object(name = "HistoryEntry")]
impl HistoryEntryObject {
    /// Position in the chain, from 1.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    /// Version the transition applied to.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// What happened.
    async fn transition(&self) -> CertificationTransition {
        self.0.transition.into()
    }
    /// Status before.
    async fn from_status(&self) -> Option<CertificationStatus> {
        self.0.from.map(Into::into)
    }
    /// Status after.
    async fn to_status(&self) -> CertificationStatus {
        self.0.to.into()
    }
    /// Officer who did it.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// Role they acted under.
    async fn actor_role(&self) -> &str {
        &self.0.actor_role
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Why.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Hash of the previous entry (64 zeros for the first).
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }
    /// SHA-256 of this entry's fields and prevHash.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
    /// The chain's record of this transition (the grant's anchor, a status change's event);
    /// null until its batch is confirmed, and for transitions the chain does not record.
    async fn chain(&self, ctx: &Context<'_>) -> Result<Option<ChainConfirmation>> {
        let Some(anchoring) = &services(ctx).anchoring else { return Ok(None) };
        let Ok(lineage) = uuid::Uuid::parse_str(&self.0.lineage) else { return Ok(None) };
        Ok(anchoring.confirmation_of(lineage, self.0.seq).await.gql()?.map(|c| ChainConfirmation {
            batch_sequence: c.batch_sequence,
            tx_hash: c.tx_hash,
            block: c.block_number,
            confirmations: c.confirmations as i64,
        }))
    }
}

/// A certification's history with the result of checking its hash chain.
#[derive(SimpleObject, Clone, Debug)]
pub struct CertificationHistory {
    /// Entries, oldest first, across every version of the certificate.
    pub entries: Vec<HistoryEntryObject>,
    /// Whether every hash matches and every entry links to the one before.
    pub chain_intact: bool,
    /// Where the chain breaks, when it does.
    pub chain_break: Option<String>,
}

/// A page of certifications.
#[derive(SimpleObject, Clone, Debug)]
pub struct CertificationConnection {
    /// Edges with cursors.
    pub edges: Vec<CertificationEdge>,
    /// The certifications of this page.
    pub nodes: Vec<Certification>,
    /// Paging.
    pub page_info: PageInfo,
}

/// A certification with its cursor.
#[derive(SimpleObject, Clone, Debug)]
pub struct CertificationEdge {
    /// Opaque cursor: pass as `after` to continue after this certification.
    pub cursor: String,
    /// The certification.
    pub node: Certification,
}

/// Relay-style page information.
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    /// Whether more follow.
    pub has_next_page: bool,
    /// Cursor of the last edge.
    pub end_cursor: Option<String>,
}

/// Filter of `certifications`.
#[derive(InputObject, Clone, Debug, Default)]
pub struct CertificationFilterInput {
    /// Issuing country.
    pub country: Option<String>,
    /// Trader identification number (separators ignored).
    pub tin: Option<String>,
    /// Status (as of today).
    pub status: Option<CertificationStatus>,
    /// Supply-chain role.
    pub role: Option<SupplyChainRole>,
}

/// An operator's address as submitted.
#[derive(InputObject, Clone, Debug)]
pub struct AddressInput {
    /// Street and number.
    pub street: String,
    /// City.
    pub city: String,
    /// State, province or department.
    pub sub_entity: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Country, ISO 3166-1 alpha-2.
    pub country: String,
}

/// An identifier in another scheme, as submitted.
#[derive(InputObject, Clone, Debug)]
pub struct PartnerIdentifierInput {
    /// Scheme, e.g. EORI.
    pub scheme: String,
    /// The identifier.
    pub value: String,
}

/// The AEO data set of a certification, as a registrar submits it.
#[derive(InputObject, Clone, Debug)]
pub struct CertificationInput {
    /// Certificate / authorisation number.
    pub certificate_number: String,
    /// Issuing country: this node's country.
    pub issuing_country: String,
    /// Issuing customs authority.
    pub issuing_authority: String,
    /// Operator's legal name.
    pub operator_name: String,
    /// Operator's address.
    pub address: AddressInput,
    /// Trader identification number in the issuing country.
    pub tin: String,
    /// Other identifiers (e.g. EORI).
    #[graphql(default)]
    pub partner_identifiers: Vec<PartnerIdentifierInput>,
    /// Certificate type.
    pub certificate_type: CertificateType,
    /// Supply-chain roles (at least one).
    pub roles: Vec<SupplyChainRole>,
    /// Date of the authorisation decision.
    pub authorisation_date: Date,
    /// First day of validity (defaults to the authorisation date).
    pub valid_from: Option<Date>,
    /// Last day of validity (omit where the status never expires).
    pub valid_until: Option<Date>,
    /// Last (re)validation.
    pub last_validation_date: Option<Date>,
    /// The operator's own DID, when it has a wallet: its credential is then about that DID and
    /// only presentations it signs are accepted.
    pub operator_did: Option<String>,
}

impl From<CertificationInput> for AeoDataSetDraft {
    fn from(input: CertificationInput) -> Self {
        AeoDataSetDraft {
            certificate_number: input.certificate_number,
            issuing_country: input.issuing_country,
            issuing_authority: input.issuing_authority,
            operator_name: input.operator_name,
            address: AddressDraft {
                street: input.address.street,
                city: input.address.city,
                sub_entity: input.address.sub_entity,
                postcode: input.address.postcode,
                country: input.address.country,
            },
            tin: input.tin,
            partner_identifiers: input.partner_identifiers.into_iter().map(|p| (p.scheme, p.value)).collect(),
            certificate_type: Some(input.certificate_type.into()),
            roles: input.roles.into_iter().map(Into::into).collect(),
            authorisation_date: Some(input.authorisation_date.0),
            valid_from: input.valid_from.map(|d| d.0),
            valid_until: input.valid_until.map(|d| d.0),
            last_validation_date: input.last_validation_date.map(|d| d.0),
            operator_did: input.operator_did,
        }
    }
}

/// An officer account.
#[derive(Clone, Debug)]
pub struct Officer(pub officers::Model);

#[Object]
impl Officer {
    /// Id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Login name.
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// Roles.
    async fn roles(&self) -> Vec<Role> {
        crate::auth::RoleSet::from_stored(&self.0.roles).as_slice().to_vec()
    }
    /// Whether the account is disabled.
    async fn disabled(&self) -> bool {
        self.0.disabled
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A new session.
#[derive(SimpleObject, Clone, Debug)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Who logged in.
    pub officer: Officer,
}

/// A new officer account.
#[derive(InputObject, Clone, Debug)]
pub struct OfficerInput {
    /// Login name: 3–64 of a-z, 0-9, '.', '_', '-'.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    /// At least one role.
    pub roles: Vec<Role>,
}

/// A transition of a certification, as subscribers receive it.
#[derive(Clone, Debug)]
pub struct CertificationEventObject(pub std::sync::Arc<CertificationEvent>);

#[Object(name = "CertificationEvent")]
impl CertificationEventObject {
    /// The event's position in the node's log, increasing in commit order (the number in
    /// `cursor`).
    async fn sequence(&self) -> u64 {
        self.0.sequence
    }
    /// Where to resume: `certificationEvents(after: cursor)` (or SSE `Last-Event-ID`) gives
    /// every event after this one.
    async fn cursor(&self) -> ID {
        ID(self.0.sequence.to_string())
    }
    /// What happened.
    async fn transition(&self) -> CertificationTransition {
        self.0.transition.into()
    }
    /// Status before.
    async fn from_status(&self) -> Option<CertificationStatus> {
        self.0.from.map(Into::into)
    }
    /// Status after.
    async fn to_status(&self) -> CertificationStatus {
        self.0.to.into()
    }
    /// Officer who did it.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// Role they acted under.
    async fn actor_role(&self) -> &str {
        &self.0.actor_role
    }
    /// When.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Why.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The certification after the transition.
    async fn certification(&self) -> Certification {
        Certification(self.0.certification.clone())
    }
    /// The MRA partner whose certification this is (null: this node's own).
    async fn origin(&self) -> Option<&str> {
        self.0.origin.as_deref()
    }
}

/// Filter of `certificationEvents`; every given filter must match.
#[derive(InputObject, Clone, Debug, Default)]
pub struct CertificationEventFilter {
    /// Issuing country.
    pub country: Option<String>,
    /// Trader identification number (normalised form).
    pub tin: Option<String>,
    /// Only these transitions.
    pub transitions: Option<Vec<CertificationTransition>>,
    /// Only this certificate lineage.
    pub lineage_id: Option<ID>,
}

impl CertificationEventFilter {
    /// Whether an event passes the filter.
    pub fn matches(&self, event: &CertificationEvent) -> bool {
        let c = &event.certification;
        self.country.as_ref().is_none_or(|x| x.eq_ignore_ascii_case(&c.issuing_country))
            && self.tin.as_ref().is_none_or(|x| *x == c.tin)
            && self
                .transitions
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| cadena_credentials::Transition::from(*t) == event.transition))
            && self.lineage_id.as_ref().is_none_or(|id| id.as_str() == c.lineage_id.to_string())
    }
}

/// Converts history entries for GraphQL.
pub fn history_objects(entries: Vec<HistoryEntry>) -> Vec<HistoryEntryObject> {
    entries.into_iter().map(HistoryEntryObject).collect()
}
