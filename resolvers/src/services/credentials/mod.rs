//! This node's verifiable credentials: its issuer identity (did:web and keys), the AEO
//! credential issued when a certification is granted, status lists built from the credentials'
//! status bits, the VC API operations (verify here, issue in `vc_api_issuance.rs`), and one-time
//! presentation challenges.
//!
//! Status bits live on each credential's row and change in the transaction of the lifecycle
//! transition ([`CredentialService::status_statements`]); a status list is those bits gathered
//! and signed, re-signed only when its version (bumped with every change) moved.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use cadena_credentials::aeo::{Address, PartnerIdentifier};
use cadena_credentials::credential::{AeoCredential, AeoSubject, credential_digest, operator_urn};
use cadena_credentials::did::{ProofPurpose, did_document};
use cadena_credentials::integrity::{DocumentError, Integrity, ProofOptions};
use cadena_credentials::keys::{Cryptosuite, IssuerKeys, KeyFileError};
use cadena_credentials::sd_jwt_vc::SdJwtPresentationReport;
use cadena_credentials::status_list::{StatusEntry, StatusPurpose};
use cadena_credentials::tin::TinScheme;
use cadena_credentials::verification::{
    AnchorCheck, DidResolver, IssuerTrust, PresentationReport, ResolutionError, StatusListSource, VerificationReport,
    Verifier,
};
use cadena_credentials::{CertificateType, CountryCode, FieldError, SupplyChainRole};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryTrait, Set, Statement};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::errors::ServiceError;
use crate::rate_limit::RateLimiter;
use crate::services::anchoring;
use crate::services::fetch::{DocumentCache, GuardedHttp};
use crate::services::outbox::Work;
use crate::storage::entities::{certifications, credentials, presentation_challenges, status_lists};
use crate::storage::{ApplyError, Storage, WriteBatch, WriteGuard};

mod vc_api_issuance;

/// How the node issues and verifies.
#[derive(Clone, Debug)]
pub struct CredentialSettings {
    /// The node's public base URL (`https://aduanas.example`); its did:web and status list
    /// URLs derive from it.
    pub base_url: String,
    /// Where the issuer keys are kept (created at first start, owner-only).
    pub key_file: PathBuf,
    /// The suite of a newly generated key.
    pub cryptosuite: Cryptosuite,
    /// Issuers trusted besides this node: DID → authority name.
    pub trusted_issuers: HashMap<String, String>,
    /// How long verifiers may cache a status list.
    pub status_list_ttl: Duration,
    /// How long a presentation challenge stays answerable.
    pub challenge_ttl: Duration,
    /// Whether the node anchors on chain (credentials no event tells of then queue `anchor` work).
    pub anchoring: bool,
    /// Whether ISSUERs may sign credentials (never AEO certifications) through the VC API.
    pub vc_api_issuance: bool,
    /// Whether verifications may fetch from private and loopback addresses (the dev network
    /// and tests, where every node is on 127.0.0.1); off in production.
    pub allow_private_addresses: bool,
    /// Verifications an anonymous client (by address) may ask for per minute; 0: no limit.
    /// Officers are not limited.
    pub anonymous_verifications_per_minute: u32,
}

/// The node as an issuer: its DID and keys.
#[derive(Debug)]
pub struct IssuerIdentity {
    did: String,
    base_url: String,
    key_file: PathBuf,
    keys: RwLock<IssuerKeys>,
}

impl IssuerIdentity {
    /// Loads the keys (creating them at first start) for the node at `base_url`.
    pub fn load(base_url: &str, key_file: PathBuf, suite: Cryptosuite) -> Result<IssuerIdentity, KeyFileError> {
        let keys = IssuerKeys::load_or_create(&key_file, suite)?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        let did = cadena_credentials::did::did_web_for_url(&base_url).map_err(|e| KeyFileError::Malformed {
            path: key_file.display().to_string(),
            message: format!("public URL {base_url}: {e}"),
        })?;
        Ok(IssuerIdentity { did, base_url, key_file, keys: RwLock::new(keys) })
    }

    /// The node's DID.
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The node's public base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The DID document served at `/.well-known/did.json`.
    pub fn did_document(&self) -> Value {
        did_document(&self.did, &self.keys.read().expect("lock"), &[])
    }

    /// The public half of the key-agreement key (partner encryption).
    pub fn agreement_public_multibase(&self) -> String {
        self.keys.read().expect("lock").agreement().public_multibase()
    }

    /// The key-agreement secret and its verification method id (decrypting partner messages).
    pub fn agreement(&self) -> (String, x25519_dalek::StaticSecret) {
        (format!("{}#agreement-1", self.did), self.keys.read().expect("lock").agreement().secret().clone())
    }

    /// The current signing key and its verification method id (signing partner messages).
    pub fn signing_key(&self) -> (String, cadena_credentials::keys::SecretKey) {
        let keys = self.keys.read().expect("lock");
        let current = keys.current();
        (format!("{}#{}", self.did, current.fragment), current.key.clone())
    }

    /// Adds a signing key and makes it current; older credentials keep verifying.
    pub fn rotate(&self, suite: Cryptosuite) -> Result<String, KeyFileError> {
        let mut keys = self.keys.write().expect("lock");
        let mut rotated = keys.clone();
        let fragment = rotated.rotate(suite).fragment.clone();
        rotated.save(&self.key_file)?;
        *keys = rotated;
        Ok(fragment)
    }

    /// Signs `unsigned` with the current key for `purpose`.
    pub fn sign(&self, integrity: &Integrity, unsigned: &Value) -> Result<Value, DocumentError> {
        let keys = self.keys.read().expect("lock");
        let current = keys.current();
        let options = ProofOptions {
            verification_method: format!("{}#{}", self.did, current.fragment),
            purpose: ProofPurpose::AssertionMethod,
            created: Utc::now(),
            challenge: None,
            domain: None,
        };
        integrity.sign(unsigned, &current.key, &options)
    }

    /// URL of status list `list` for `purpose`, holding credentials of `kind`.
    pub fn status_list_url(&self, kind: ListKind, purpose: StatusPurpose, list: i32) -> String {
        format!("{}/status-lists/{}{}-{list}", self.base_url, kind.prefix(), purpose.as_str())
    }

    /// The URL of the Token Status List over the AEO lists numbered `list` (for SD-JWT VCs).
    pub fn token_status_list_url(&self, list: i32) -> String {
        format!("{}/status-lists/{TOKEN_LIST_PREFIX}{list}", self.base_url)
    }
}

/// The name prefix of Token Status Lists: `token-<n>` carries the statuses of the AEO lists
/// `revocation-<n>` and `suspension-<n>`.
pub const TOKEN_LIST_PREFIX: &str = "token-";

/// Which credentials a status list holds: AEO certifications (from the lifecycle) or the VC
/// API's, never both, so neither kind's status is ever read from the other's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// AEO certifications: `revocation-<n>`, `suspension-<n>`.
    Aeo,
    /// VC API credentials: `vc-api-revocation-<n>`, `vc-api-suspension-<n>`.
    VcApi,
}

impl ListKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Aeo => "AEO",
            ListKind::VcApi => "VC_API",
        }
    }

    /// What its lists' names start with.
    pub fn prefix(self) -> &'static str {
        match self {
            ListKind::Aeo => "",
            ListKind::VcApi => "vc-api-",
        }
    }
}

/// A credential about to be stored with its certification's transition.
#[derive(Clone, Debug)]
pub struct IssuedCredential {
    /// Its `id`.
    pub id: String,
    /// The signed document.
    pub document: Value,
    /// Hex SHA-256 of its canonical JSON.
    pub digest: String,
    /// Status list and index.
    pub slot: (i32, i32),
}

/// A challenge handed out for a presentation.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// The challenge text.
    pub challenge: String,
    /// The domain presentations must name, if any.
    pub domain: Option<String>,
    /// When it stops being answerable.
    pub expires_at: DateTime<Utc>,
}

mod serving_lists;

/// The verifier's view of DIDs and status lists: this node's own from memory and storage,
/// everyone else's over HTTP.
struct NodeSources {
    inner: Weak<Inner>,
    http: DocumentCache,
}

/// How long a fetched DID document is trusted before it is fetched again.
const DID_DOCUMENT_TTL: Duration = Duration::from_secs(300);

impl DidResolver for NodeSources {
    fn resolve<'a>(&'a self, did: &'a str, fresh: bool) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move {
            let inner = self.inner.upgrade().ok_or_else(|| ResolutionError("the node is shutting down".into()))?;
            if did == inner.identity.did() {
                return Ok(Arc::new(inner.identity.did_document()));
            }
            let url = cadena_credentials::did::did_web_document_url(did).map_err(|e| ResolutionError(e.to_string()))?;
            if fresh {
                self.http.forget(&url);
            }
            self.http.get(&url, DID_DOCUMENT_TTL).await
        })
    }
}

impl StatusListSource for NodeSources {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>> {
        Box::pin(async move {
            let inner = self.inner.upgrade().ok_or_else(|| ResolutionError("the node is shutting down".into()))?;
            if let Some(name) = url.strip_prefix(&format!("{}/status-lists/", inner.identity.base_url())) {
                let service = CredentialService { inner: inner.clone() };
                return match service.status_list(name).await {
                    Ok(Some(list)) => Ok(list),
                    Ok(None) => Err(ResolutionError(format!("{url}: no such status list"))),
                    Err(e) => Err(ResolutionError(format!("{url}: {e}"))),
                };
            }
            self.http.get(url, inner.settings.status_list_ttl).await
        })
    }

    fn fetch_token<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, ResolutionError>> {
        Box::pin(async move {
            let inner = self.inner.upgrade().ok_or_else(|| ResolutionError("the node is shutting down".into()))?;
            if let Some(name) = url.strip_prefix(&format!("{}/status-lists/", inner.identity.base_url())) {
                let service = CredentialService { inner: inner.clone() };
                return match service.token_status_list(name).await {
                    Ok(Some(token)) => Ok(token.to_string()),
                    Ok(None) => Err(ResolutionError(format!("{url}: no such status list"))),
                    Err(e) => Err(ResolutionError(format!("{url}: {e}"))),
                };
            }
            // Not cached: a token list is small, and its status is what is being asked.
            let fetched = self
                .http
                .http()
                .get(url, TOKEN_LIST_MEDIA_TYPE)
                .await
                .map_err(|e| ResolutionError(format!("GET {url}: {e}")))?;
            if fetched.status != 200 {
                return Err(ResolutionError(format!("GET {url}: HTTP {}", fetched.status)));
            }
            String::from_utf8(fetched.body).map_err(|_| ResolutionError(format!("GET {url}: not text")))
        })
    }
}

/// The media type of a Token Status List token.
pub const TOKEN_LIST_MEDIA_TYPE: &str = "application/statuslist+jwt";

#[derive(Debug)]
struct SignedList {
    version: i64,
    document: Arc<Value>,
}

struct Inner {
    storage: Storage,
    identity: IssuerIdentity,
    integrity: Arc<Integrity>,
    verifier: Verifier,
    settings: CredentialSettings,
    signed_lists: Mutex<HashMap<(i32, StatusPurpose), SignedList>>,
    /// Token Status Lists as last signed, by list, with the list's version then.
    token_lists: Mutex<HashMap<i32, (i64, Arc<str>)>>,
    /// Status slots reserved from storage and not yet used.
    reserved: Mutex<VecDeque<(i32, i32)>>,
    /// Anonymous verifications per client address (None: not limited).
    anonymous_rate: Option<RateLimiter>,
}

/// Status slots reserved per database round trip.
const SLOT_BLOCK: i32 = 64;

/// Issuing, status lists, verification and challenges.
#[derive(Clone)]
pub struct CredentialService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CredentialService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialService").field("did", &self.inner.identity.did()).finish_non_exhaustive()
    }
}

#[derive(FromQueryResult)]
struct Slot {
    id: i32,
    status_index: i32,
}

#[derive(FromQueryResult)]
struct MaxList {
    id: i32,
}

/// Bits per status list (the specification's minimum, 16 KiB).
const LIST_CAPACITY: i32 = cadena_credentials::status_list::LIST_BITS as i32;

impl CredentialService {
    /// The service of the node whose storage and settings are given; `anchors` plugs in the
    /// anchor check (none: the report's anchor fragment is SKIPPED).
    pub fn new(
        storage: Storage,
        settings: CredentialSettings,
        anchors: Option<Arc<dyn AnchorCheck>>,
    ) -> Result<CredentialService, KeyFileError> {
        CredentialService::with_trust(storage, settings, anchors, None)
    }

    /// [`CredentialService::new`], also trusting the active authorities of the chain's
    /// authority registry.
    pub fn with_trust(
        storage: Storage,
        settings: CredentialSettings,
        anchors: Option<Arc<dyn AnchorCheck>>,
        registry: Option<cadena_contracts::ChainClient>,
    ) -> Result<CredentialService, KeyFileError> {
        let identity = IssuerIdentity::load(&settings.base_url, settings.key_file.clone(), settings.cryptosuite)?;
        let integrity = Arc::new(Integrity::new());
        let mut trusted = settings.trusted_issuers.clone();
        trusted.entry(identity.did().to_owned()).or_insert_with(|| "this node".to_owned());
        let trust: Arc<dyn IssuerTrust> = Arc::new(crate::services::anchoring::RegistryTrust::new(trusted, registry));
        let anonymous_rate = NonZeroU32::new(settings.anonymous_verifications_per_minute).map(RateLimiter::new);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| {
            let http = DocumentCache::new(GuardedHttp::new(settings.allow_private_addresses));
            let sources = Arc::new(NodeSources { inner: weak.clone(), http });
            Inner {
                storage,
                identity,
                integrity: integrity.clone(),
                verifier: Verifier::new(integrity, sources.clone(), sources, trust, anchors),
                settings,
                signed_lists: Mutex::new(HashMap::new()),
                token_lists: Mutex::new(HashMap::new()),
                reserved: Mutex::new(VecDeque::new()),
                anonymous_rate,
            }
        });
        Ok(CredentialService { inner })
    }

    /// The node's issuer identity.
    pub fn identity(&self) -> &IssuerIdentity {
        &self.inner.identity
    }

    /// The proof machinery (shared caches).
    pub fn integrity(&self) -> &Arc<Integrity> {
        &self.inner.integrity
    }

    /// How long verifiers may cache a status list.
    pub fn status_list_ttl(&self) -> Duration {
        self.inner.settings.status_list_ttl
    }

    /// The next free status slot (list, index). Slots are reserved from storage in blocks, so
    /// most calls touch no database; `gate` is the caller's write gate if it holds one (a
    /// reservation writes, so it needs the gate, and takes it itself otherwise). A slot whose
    /// batch then fails, or that a restart leaves reserved, is simply never used: its bits stay
    /// zero.
    pub async fn take_slot(&self, gate: Option<&mut WriteGuard<'_>>) -> Result<(i32, i32), ServiceError> {
        if let Some(slot) = self.inner.reserved.lock().expect("lock").pop_front() {
            return Ok(slot);
        }
        let block = match gate {
            Some(gate) => self.reserve_slots(gate).await?,
            None => self.reserve_slots(&mut self.inner.storage.write_gate().await).await?,
        };
        let mut reserved = self.inner.reserved.lock().expect("lock");
        reserved.extend(block);
        Ok(reserved.pop_front().expect("a reservation holds at least one slot"))
    }

    /// Reserves up to [`SLOT_BLOCK`] consecutive slots of the current AEO list, or opens a new
    /// list.
    async fn reserve_slots(&self, gate: &mut WriteGuard<'_>) -> Result<Vec<(i32, i32)>, ServiceError> {
        let storage = &self.inner.storage;
        // The reservation commits on its own, not with an open group: slots handed out from
        // memory must never be handed out again because a group they were taken in failed.
        storage.settle(gate);
        let block = Statement::from_string(
            storage.backend(),
            format!(
                "UPDATE status_lists SET next_index = next_index + {SLOT_BLOCK} \
                 WHERE id = (SELECT MAX(id) FROM status_lists WHERE kind = 'AEO') \
                 AND next_index + {SLOT_BLOCK} <= capacity \
                 RETURNING id, next_index - {SLOT_BLOCK} AS status_index"
            ),
        );
        if let Some(first) = storage.read_for_write::<Slot>(gate, block).await? {
            return Ok((first.status_index..first.status_index + SLOT_BLOCK).map(|i| (first.id, i)).collect());
        }
        // The end of a list: slot by slot until it is full, then a new list.
        Ok(vec![self.allocate_slot(gate, ListKind::Aeo).await?])
    }

    /// One status slot in the newest list of `kind`, opening a new list when it is full.
    pub(crate) async fn allocate_slot(
        &self,
        gate: &mut WriteGuard<'_>,
        kind: ListKind,
    ) -> Result<(i32, i32), ServiceError> {
        let storage = &self.inner.storage;
        let backend = storage.backend();
        for _ in 0..3 {
            let take = Statement::from_string(
                backend,
                format!(
                    "UPDATE status_lists SET next_index = next_index + 1 \
                     WHERE id = (SELECT MAX(id) FROM status_lists WHERE kind = '{}') AND next_index < capacity \
                     RETURNING id, next_index - 1 AS status_index",
                    kind.as_str()
                ),
            );
            if let Some(slot) = storage.read_for_write::<Slot>(gate, take).await? {
                return Ok((slot.id, slot.status_index));
            }
            let max = Statement::from_string(backend, "SELECT MAX(id) AS id FROM status_lists");
            let next = storage.read_for_write::<MaxList>(gate, max).await?.map_or(1, |m| m.id + 1);
            let mut batch = WriteBatch::default();
            batch.push(
                status_lists::Entity::insert(status_lists::ActiveModel {
                    id: Set(next),
                    capacity: Set(LIST_CAPACITY),
                    next_index: Set(1),
                    version: Set(0),
                    updated_at: Set(Utc::now()),
                    kind: Set(kind.as_str().to_owned()),
                })
                .build(backend),
            );
            match storage.apply(gate, batch).await {
                Ok(()) => return Ok((next, 0)),
                // Another writer opened that list first (PostgreSQL): take a slot in it.
                Err(ApplyError::Db(e)) if crate::storage::is_unique_violation(&e) => {}
                Err(ApplyError::Db(e)) => return Err(e.into()),
                Err(ApplyError::Conflict(c)) => return Err(ServiceError::Conflict(c.into())),
            }
        }
        Err(ServiceError::Conflict("status lists are being opened concurrently; try again".into()))
    }

    /// [`CredentialService::issue_for`] on the blocking pool. Signing is a third of a ms of
    /// CPU; run on the async workers, it holds up every task queued behind it there, among
    /// them the one holding the database writer, whose next step waits for a free worker.
    pub async fn issue_signed(
        &self,
        row: certifications::Model,
        slot: (i32, i32),
    ) -> Result<IssuedCredential, ServiceError> {
        let service = self.clone();
        let span = tracing::info_span!("sign credential", certification = %row.id);
        tokio::task::spawn_blocking(move || span.in_scope(|| service.issue_for(&row, slot)))
            .await
            .map_err(|e| ServiceError::Internal(format!("signing stopped: {e}").into()))?
    }

    /// The AEO credential of a certification version about to be granted, signed.
    pub fn issue_for(&self, row: &certifications::Model, slot: (i32, i32)) -> Result<IssuedCredential, ServiceError> {
        let (id, unsigned) = self.unsigned_for(row, slot, None)?;
        // A document the integrity checks refuse is this certification's data, not a fault of
        // the node: say so, and leave the certification as it is (SUBMITTED, rejectable).
        let document = self.inner.identity.sign(&self.inner.integrity, &unsigned).map_err(|e| {
            ServiceError::NotIssuable(format!(
                "its credential cannot be signed: {e}; it stays SUBMITTED and can be rejected"
            ))
        })?;
        let digest = hex::encode(credential_digest(&document));
        Ok(IssuedCredential { id, document, digest, slot })
    }

    /// The unsigned AEO credential (its new `id`, and the document) of a certification version
    /// whose status is at `slot`, about `subject` (a holder's DID) or else the operator's DID or
    /// URN; checked against the data model.
    pub fn unsigned_for(
        &self,
        row: &certifications::Model,
        slot: (i32, i32),
        subject: Option<&str>,
    ) -> Result<(String, Value), ServiceError> {
        let identity = &self.inner.identity;
        let country = CountryCode::parse(&row.issuing_country).map_err(ServiceError::internal)?;
        let address_country = CountryCode::parse(&row.address_country).map_err(ServiceError::internal)?;
        let id = format!("urn:uuid:{}", Uuid::now_v7());
        let status = StatusPurpose::ALL
            .into_iter()
            .map(|purpose| StatusEntry {
                purpose,
                list_url: identity.status_list_url(ListKind::Aeo, purpose, slot.0),
                index: slot.1 as usize,
            })
            .collect();
        let credential = AeoCredential {
            id: id.clone(),
            issuer: identity.did().to_owned(),
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            subject: AeoSubject {
                id: subject
                    .map(str::to_owned)
                    .or_else(|| row.operator_did.clone())
                    .unwrap_or_else(|| operator_urn(country, &row.tin)),
                legal_name: row.operator_name.clone(),
                tin: row.tin.clone(),
                tin_scheme: TinScheme::for_country(country).map_or("NATIONAL", |s| s.code()).to_owned(),
                mra_party_identifier: Some(format!("{}{}", row.issuing_country, row.tin)).filter(|p| p.len() <= 17),
                partner_identifiers: serde_json::from_value::<Vec<PartnerIdentifier>>(row.partner_identifiers.clone())
                    .unwrap_or_default(),
                address: Address {
                    street: row.street.clone(),
                    city: row.city.clone(),
                    sub_entity: row.sub_entity.clone(),
                    postcode: row.postcode.clone(),
                    country: address_country,
                },
                certificate_number: row.certificate_number.clone(),
                certificate_version: row.version,
                certificate_type: CertificateType::parse(&row.certificate_type)
                    .ok_or_else(|| ServiceError::Internal(format!("stored type {}", row.certificate_type).into()))?,
                roles: row.roles.split(',').filter_map(SupplyChainRole::parse).collect(),
                issuing_country: country,
                issuing_authority: row.issuing_authority.clone(),
                authorisation_date: row.authorisation_date,
                last_validation_date: row.last_validation_date,
            },
            status,
        };
        let unsigned = credential.to_json();
        // The node holds its own credentials to the data model it asks of others.
        cadena_credentials::conformance::check_credential(&unsigned).map_err(ServiceError::internal)?;
        Ok((id, unsigned))
    }

    /// The statement storing an issued credential.
    pub fn insert_statement(&self, issued: &IssuedCredential, certification_id: Option<Uuid>) -> Statement {
        credentials::Entity::insert(credentials::ActiveModel {
            id: Set(issued.id.clone()),
            certification_id: Set(certification_id),
            status_list: Set(issued.slot.0),
            status_index: Set(issued.slot.1),
            document: Set(issued.document.to_string()),
            digest: Set(issued.digest.clone()),
            issued_at: Set(Utc::now()),
            revoked: Set(false),
            suspended: Set(false),
        })
        .build(self.inner.storage.backend())
    }

    /// Statements setting a credential's bits (None leaves one as it is) and moving its list's
    /// version, for the batch of the transition that causes them.
    pub async fn status_statements(
        &self,
        credential_id: &str,
        revoked: Option<bool>,
        suspended: Option<bool>,
    ) -> Result<Vec<Statement>, ServiceError> {
        let backend = self.inner.storage.backend();
        // What is read here (the credential's list) never changes once issued, so
        // the committed row serves; the bits are set, not toggled, and the list's version is
        // moved relatively.
        let select = credentials::Entity::find_by_id(credential_id.to_owned()).build(backend);
        let row = self
            .inner
            .storage
            .read_one::<credentials::Model>(select)
            .await?
            .ok_or_else(|| ServiceError::Internal(format!("credential {credential_id} is missing").into()))?;
        let mut update = credentials::Entity::update_many().filter(credentials::Column::Id.eq(credential_id));
        if let Some(revoked) = revoked {
            update = update.col_expr(credentials::Column::Revoked, Expr::value(revoked));
        }
        if let Some(suspended) = suspended {
            update = update.col_expr(credentials::Column::Suspended, Expr::value(suspended));
        }
        let bump = status_lists::Entity::update_many()
            .col_expr(status_lists::Column::Version, Expr::col(status_lists::Column::Version).add(1))
            .col_expr(status_lists::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(status_lists::Column::Id.eq(row.status_list));
        Ok(vec![update.build(backend), bump.build(backend)])
    }

    /// Whether the node is on chain (anchors, and has MRA partners).
    pub fn on_chain(&self) -> bool {
        self.inner.settings.anchoring
    }

    /// The outbox work anchoring a credential that is not a certification (the VC API's, a
    /// wallet's), when this node anchors; nothing otherwise. A certification's transitions are
    /// anchored from the event log ([`anchoring::Former`]).
    pub fn anchoring_work(&self, credential_id: &str, digest: &str) -> Option<Work> {
        self.inner.settings.anchoring.then(|| anchoring::work(credential_id, digest))
    }

    /// The stored credential `id`.
    pub async fn stored(&self, id: &str) -> Result<Option<credentials::Model>, ServiceError> {
        Ok(credentials::Entity::find_by_id(id.to_owned()).one(self.inner.storage.db()).await?)
    }

    /// The DID document of `did` (this node's from memory, others over HTTP, cached); `fresh`
    /// bypasses the cache.
    pub async fn resolve_did(&self, did: &str, fresh: bool) -> Result<Arc<Value>, ResolutionError> {
        self.inner.verifier.dids().resolve(did, fresh).await
    }

    /// Verifies a credential with status lists given along (a partner attaches its current,
    /// signed lists to every message, so the receiver need not trust a cached copy).
    pub async fn verify_with_lists(
        &self,
        credential: &Value,
        lists: HashMap<String, Arc<Value>>,
    ) -> Result<VerificationReport, ServiceError> {
        self.inner
            .verifier
            .verify_credential_with(credential, Utc::now(), "credential", &lists)
            .await
            .map_err(document_error)
            .inspect(crate::metrics::count_verification)
    }

    /// Admits one verification (of a credential or a presentation) for its caller. Verifying
    /// makes the node fetch other nodes' documents, and anyone may ask for it, so an anonymous
    /// client is held to `anonymous_verifications_per_minute` per address (callers whose
    /// address is unknown share one allowance); officers are not limited.
    pub async fn admit_verification(
        &self,
        principal: Option<&Principal>,
        client: Option<IpAddr>,
    ) -> Result<(), ServiceError> {
        let (None, Some(limiter)) = (principal, &self.inner.anonymous_rate) else { return Ok(()) };
        let key = client.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).to_string();
        limiter.check(&key).await.map_err(|over| ServiceError::RateLimited {
            limit: format!(
                "at most {} anonymous verifications a minute from one address (log in for more)",
                limiter.per_minute()
            ),
            retry_after_secs: Ord::max(over.retry_after.as_secs(), 1),
        })
    }

    /// The limiter of anonymous verifications (None: not limited), for the replicas of a node
    /// to share ([`RateLimiter::share`]).
    pub fn anonymous_rate(&self) -> Option<&RateLimiter> {
        self.inner.anonymous_rate.as_ref()
    }

    /// Verifies a credential (anyone may): a report, or the reason it cannot be judged.
    pub async fn verify(&self, credential: &Value) -> Result<VerificationReport, ServiceError> {
        self.inner
            .verifier
            .verify_credential(credential, Utc::now(), "verifiableCredential")
            .await
            .map_err(document_error)
            .inspect(crate::metrics::count_verification)
    }

    /// A one-time challenge for a presentation, optionally bound to a domain.
    pub async fn create_challenge(&self, domain: Option<String>) -> Result<Challenge, ServiceError> {
        if let Some(d) = &domain
            && (d.is_empty() || d.len() > 255 || d.chars().any(char::is_control))
        {
            return Err(ServiceError::field("domain", "must be 1 to 255 printable characters"));
        }
        let mut bytes = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Utc::now();
        let expires_at = now + self.inner.settings.challenge_ttl;
        let db = self.inner.storage.db();
        // Answered or expired challenges are only kept long enough to tell a replay apart.
        presentation_challenges::Entity::delete_many()
            .filter(presentation_challenges::Column::ExpiresAt.lt(now - chrono::Duration::days(1)))
            .exec(db)
            .await?;
        presentation_challenges::Entity::insert(presentation_challenges::ActiveModel {
            challenge: Set(challenge.clone()),
            domain: Set(domain.clone()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        })
        .exec(db)
        .await?;
        Ok(Challenge { challenge, domain, expires_at })
    }

    /// Verifies a presentation answering `challenge`. The challenge is spent by the first
    /// presentation whose proof answers it; a second one (a replay) is reported invalid.
    pub async fn verify_presentation(
        &self,
        presentation: &Value,
        challenge: &str,
        domain: Option<&str>,
    ) -> Result<PresentationReport, ServiceError> {
        let db = self.inner.storage.db();
        let issued = presentation_challenges::Entity::find_by_id(challenge.to_owned()).one(db).await?;
        let Some(issued) = issued else {
            return Err(ServiceError::field(
                "challenge",
                "was not issued by this node (ask for one with POST /challenges)",
            ));
        };
        let domain = domain.or(issued.domain.as_deref());
        if issued.domain.is_some() && domain != issued.domain.as_deref() {
            return Err(ServiceError::field("domain", "differs from the domain the challenge was issued for"));
        }
        let now = Utc::now();
        let mut report = self
            .inner
            .verifier
            .verify_presentation(presentation, challenge, domain, now)
            .await
            .map_err(document_error)?;
        if report.integrity.outcome == cadena_credentials::verification::Outcome::Valid
            && report.challenge.outcome == cadena_credentials::verification::Outcome::Valid
        {
            let spent = presentation_challenges::Entity::update_many()
                .col_expr(presentation_challenges::Column::UsedAt, Expr::value(now))
                .filter(presentation_challenges::Column::Challenge.eq(challenge))
                .filter(presentation_challenges::Column::UsedAt.is_null())
                .filter(presentation_challenges::Column::ExpiresAt.gt(now))
                .exec(db)
                .await?;
            if spent.rows_affected != 1 {
                let why = if issued.expires_at <= now {
                    "the challenge expired"
                } else {
                    "the challenge was already answered: this presentation is a replay"
                };
                report.challenge = cadena_credentials::verification::Check::invalid(why);
                report.verified = false;
            }
        }
        crate::metrics::count_presentation(&report);
        Ok(report)
    }

    /// Verifies a Data Integrity presentation answering `challenge` for `domain`, whose
    /// one-time use the caller keeps (an OpenID4VP request is its own record).
    pub async fn verify_presentation_once(
        &self,
        presentation: &Value,
        challenge: &str,
        domain: &str,
    ) -> Result<PresentationReport, ServiceError> {
        let report = self
            .inner
            .verifier
            .verify_presentation(presentation, challenge, Some(domain), Utc::now())
            .await
            .map_err(document_error)?;
        crate::metrics::count_presentation(&report);
        Ok(report)
    }

    /// Verifies an SD-JWT VC presentation made at `presented_at` for `audience` answering
    /// `nonce`, its status and validity as of now.
    pub async fn verify_sd_jwt_presentation(
        &self,
        presentation: &str,
        audience: &str,
        nonce: &str,
        presented_at: DateTime<Utc>,
    ) -> Result<SdJwtPresentationReport, ServiceError> {
        let report = self
            .inner
            .verifier
            .verify_sd_jwt_presentation(presentation, audience, nonce, presented_at, Utc::now())
            .await
            .map_err(|e| ServiceError::field("vp_token", e.to_string()))?;
        crate::metrics::count_presentation(&report.report);
        Ok(report)
    }

    /// The backend in use.
    pub fn backend(&self) -> DbBackend {
        self.inner.storage.backend()
    }
}

/// A document that cannot be judged is the caller's input error, field by field.
fn document_error(error: DocumentError) -> ServiceError {
    let field = match &error {
        DocumentError::Field { field, .. }
        | DocumentError::UnknownContext { field, .. }
        | DocumentError::UnsupportedProof { field, .. } => field.clone(),
        _ => "verifiableCredential".to_owned(),
    };
    ServiceError::InvalidInput(vec![FieldError::new(field, error.to_string())])
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use sea_orm::ConnectionTrait;

    use super::*;

    async fn service(dir: &std::path::Path) -> CredentialService {
        let url = format!("sqlite://{}?mode=rwc", dir.join("node.sqlite").display());
        let storage = Storage::connect_and_migrate(&url).await.unwrap();
        let settings = CredentialSettings {
            base_url: "https://aduanas.example".into(),
            key_file: dir.join("issuer-keys.json"),
            cryptosuite: Cryptosuite::EdDsaRdfc2022,
            trusted_issuers: HashMap::new(),
            status_list_ttl: Duration::from_secs(60),
            challenge_ttl: Duration::from_secs(60),
            anchoring: false,
            vc_api_issuance: false,
            allow_private_addresses: false,
            anonymous_verifications_per_minute: 0,
        };
        CredentialService::new(storage, settings, None).unwrap()
    }

    #[tokio::test]
    async fn slots_are_unique_across_blocks_list_ends_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = service(dir.path()).await;
        // A small list, so its end and the next list's opening come quickly.
        first.inner.storage.db().execute_unprepared("UPDATE status_lists SET capacity = 100").await.unwrap();
        let mut seen = HashSet::new();
        for _ in 0..90 {
            assert!(seen.insert(first.take_slot(None).await.unwrap()), "a slot handed out twice");
        }
        // A restart forgets its reservation; what it had reserved is never handed out again.
        let second = service(dir.path()).await;
        for _ in 0..150 {
            let slot = second.take_slot(None).await.unwrap();
            assert!(seen.insert(slot), "slot {slot:?} handed out twice");
            assert!(slot.1 < if slot.0 == 1 { 100 } else { LIST_CAPACITY }, "{slot:?} within its list");
        }
        assert!(seen.iter().any(|(list, _)| *list == 2), "a full list opens the next");
    }
}
