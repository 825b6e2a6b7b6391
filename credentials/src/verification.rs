//! Verifying a credential or presentation into a report, fragment by fragment.
//!
//! | fragment | VALID when | ERROR when |
//! |---|---|---|
//! | integrity | the proof verifies with the issuer's key | the issuer's DID cannot be resolved |
//! | issuer | the issuer is a trusted customs authority | trust cannot be established |
//! | status | neither revoked nor suspended, per its status lists | a list cannot be fetched |
//! | validity | now is within `validFrom`..`validUntil` | — |
//! | anchor | the digest is anchored on chain by the issuer | the chain cannot be asked |
//!
//! The order is the security boundary: trust is decided first, from what the node holds (its
//! configuration, the authority registry), before any network access; the issuer's DID
//! document is fetched only for a trusted issuer; status lists and the anchor only for a
//! trusted issuer's credential whose proof verifies, and status lists only from the origin of
//! the issuer's did:web. A fragment not reached is SKIPPED, saying why. So a verification never
//! makes the node fetch a URL of a stranger's choosing.
//!
//! A credential that is forged, revoked or expired is INVALID: a value in the report, never an
//! error. `aeo_certification` says whether a credential that verifies is an AEO certification
//! (anything a VC API issues is not). ERROR means the verifier could not decide (a DID that does not resolve). A document
//! that cannot even be judged (too big, unknown context, no proof) is a [`DocumentError`].
//!
//! I/O is behind traits ([`DidResolver`], [`StatusListSource`], [`IssuerTrust`],
//! [`AnchorCheck`]) so a node plugs in HTTP with caches and tests plug in what they need.
//! Status list credentials are verified like any other credential, and the verified, decoded
//! list is kept per list document so each is checked once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::did::{DidError, ProofPurpose, did_key_public_key, did_of, did_web_origin, key_in_document};
use crate::integrity::{DocumentError, Integrity, PreparedProof, ProofOutcome};
use crate::keys::PublicKey;
use crate::status_list::{Bitstring, StatusEntry, StatusPurpose};
use crate::validity::{Phase, ValidityPeriod};

/// Outcome of one fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Checked and good.
    Valid,
    /// Checked and bad.
    Invalid,
    /// Not checked (nothing to check, or not configured).
    Skipped,
    /// Could not be checked.
    Error,
}

/// One fragment of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The outcome.
    pub outcome: Outcome,
    /// Why, in a sentence.
    pub reason: String,
}

impl Check {
    /// A VALID check.
    pub fn valid(reason: impl Into<String>) -> Check {
        Check { outcome: Outcome::Valid, reason: reason.into() }
    }
    /// An INVALID check.
    pub fn invalid(reason: impl Into<String>) -> Check {
        Check { outcome: Outcome::Invalid, reason: reason.into() }
    }
    /// A SKIPPED check.
    pub fn skipped(reason: impl Into<String>) -> Check {
        Check { outcome: Outcome::Skipped, reason: reason.into() }
    }
    /// An ERROR check.
    pub fn error(reason: impl Into<String>) -> Check {
        Check { outcome: Outcome::Error, reason: reason.into() }
    }
}

/// Revocation and suspension, each from its own list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Combined: VALID when neither is set.
    pub check: Check,
    /// Whether the revocation bit is set (None when not checked).
    pub revoked: Option<bool>,
    /// Whether the suspension bit is set (None when not checked).
    pub suspended: Option<bool>,
}

impl StatusReport {
    pub(crate) fn skipped(reason: &str) -> StatusReport {
        StatusReport { check: Check::skipped(reason), revoked: None, suspended: None }
    }
}

/// The report of one credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationReport {
    /// Every checked fragment is VALID (skipped ones aside).
    pub verified: bool,
    /// The credential's `id`.
    pub credential_id: Option<String>,
    /// The issuer's DID.
    pub issuer: Option<String>,
    /// The proof.
    pub integrity: Check,
    /// Trust in the issuer.
    pub issuer_trust: Check,
    /// Revocation and suspension.
    pub status: StatusReport,
    /// `validFrom`/`validUntil`.
    pub validity: Check,
    /// The on-chain anchor.
    pub anchor: Check,
    /// The credential verifies and is an AEO certification (typed `AEOCertificationCredential`
    /// under the AEO context, never a credential of some node's VC API). `verified` alone says
    /// a trusted authority signed it; whoever grants AEO benefits reads this.
    pub aeo_certification: bool,
}

impl VerificationReport {
    /// Sets `verified` from the fragments; `aeo_certification` holds whether the credential
    /// claims to be one, and keeps that only when it verifies.
    pub(crate) fn finish(mut self) -> VerificationReport {
        let checks = [&self.integrity, &self.issuer_trust, &self.status.check, &self.validity, &self.anchor];
        self.verified = checks.iter().all(|c| matches!(c.outcome, Outcome::Valid | Outcome::Skipped))
            && self.integrity.outcome == Outcome::Valid;
        self.aeo_certification &= self.verified;
        self
    }
}

/// The report of a presentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentationReport {
    /// The proof, challenge, domain, holder binding and every credential are good.
    pub verified: bool,
    /// The holder's DID.
    pub holder: Option<String>,
    /// The presentation's proof, by the holder, for authentication.
    pub integrity: Check,
    /// The proof carries the expected challenge and domain.
    pub challenge: Check,
    /// Each credential whose subject is a DID is presented by that DID.
    pub holder_binding: Check,
    /// Each credential's report.
    pub credentials: Vec<VerificationReport>,
}

/// A DID that could not be resolved (the verifier failed, not the credential).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ResolutionError(pub String);

/// Resolves did:web DIDs to their documents.
pub trait DidResolver: Send + Sync {
    /// The DID document of `did`; `fresh` bypasses any cache (the verifier asks again when a
    /// cached document lacks the key a proof names: the issuer may have rotated).
    fn resolve<'a>(&'a self, did: &'a str, fresh: bool) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>>;
}

/// Fetches status list credentials (a node caches them for their TTL).
pub trait StatusListSource: Send + Sync {
    /// The signed `BitstringStatusListCredential` at `url`.
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Arc<Value>, ResolutionError>>;

    /// The Token Status List token (a compact JWT) at `url`, for SD-JWT VCs.
    fn fetch_token<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, ResolutionError>> {
        Box::pin(async move { Err(ResolutionError(format!("{url}: this verifier fetches no token status lists"))) })
    }
}

/// Who is a trusted customs authority.
pub trait IssuerTrust: Send + Sync {
    /// Why `issuer` is trusted (its authority's name), or `None` when it is not.
    fn trusted<'a>(&'a self, issuer: &'a str) -> BoxFuture<'a, Result<Option<String>, ResolutionError>>;
}

/// Checks a credential's on-chain anchor.
pub trait AnchorCheck: Send + Sync {
    /// The anchor fragment for the credential whose anchored digest is `digest` (of a Data
    /// Integrity credential: [`crate::credential::credential_digest`]; of an SD-JWT VC: SHA-256
    /// of its issuer JWT) issued by `issuer`; `status` is what the status lists said, for
    /// comparison with the status events on chain.
    fn check<'a>(&'a self, digest: [u8; 32], issuer: &'a str, status: &'a StatusReport) -> BoxFuture<'a, Check>;
}

/// Trust in a fixed list of issuer DIDs.
#[derive(Clone, Debug, Default)]
pub struct TrustList(pub HashMap<String, String>);

impl IssuerTrust for TrustList {
    fn trusted<'a>(&'a self, issuer: &'a str) -> BoxFuture<'a, Result<Option<String>, ResolutionError>> {
        Box::pin(async move { Ok(self.0.get(issuer).cloned()) })
    }
}

/// A list document as last fetched, and its verified form.
type SeenList = (Arc<Value>, Arc<CheckedList>);

/// A verified, decoded status list.
#[derive(Debug)]
struct CheckedList {
    issuer: String,
    purpose: StatusPurpose,
    bits: Bitstring,
}

/// Verifies credentials and presentations.
pub struct Verifier {
    integrity: Arc<Integrity>,
    dids: Arc<dyn DidResolver>,
    pub(crate) status_lists: Arc<dyn StatusListSource>,
    trust: Arc<dyn IssuerTrust>,
    pub(crate) anchors: Option<Arc<dyn AnchorCheck>>,
    checked_lists: Mutex<HashMap<[u8; 32], Arc<CheckedList>>>,
    /// The last list document seen per URL and its verified form: the same `Arc` from the
    /// source means the same bytes, so it is neither hashed nor verified again.
    recent_lists: Mutex<HashMap<String, SeenList>>,
    /// Public keys read from DID documents, per document (by identity) and method: decoding a
    /// key (point decompression) costs as much as a signature check.
    keys: Mutex<HashMap<String, (Arc<Value>, PublicKey)>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// Most verified status lists kept (each is 16 KiB of bits).
const MAX_CHECKED_LISTS: usize = 256;

fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// The issuer's DID: a string or an object with `id`.
fn issuer_of(credential: &Value) -> Option<String> {
    match credential.get("issuer") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// The credential's `BitstringStatusListEntry`s; a malformed one is named.
fn status_entries(credential: &Value, field: &str) -> Result<Vec<StatusEntry>, DocumentError> {
    let mut entries = Vec::new();
    for (i, entry) in as_list(credential.get("credentialStatus")).into_iter().enumerate() {
        let at = format!("{field}.credentialStatus[{i}]");
        match StatusEntry::from_json(entry, &at) {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => {}
            Err(message) => return Err(DocumentError::Field { field: at, message }),
        }
    }
    Ok(entries)
}

/// Whether `url` is on the origin of `issuer`'s did:web (the host its DID document is served
/// from); the reason when it is not.
pub(crate) fn on_origin_of(url: &str, issuer: &str) -> Result<(), String> {
    let origin = did_web_origin(issuer).map_err(|_| format!("{issuer} has no web origin to fetch it from"))?;
    match url.strip_prefix(&origin) {
        Some(path) if path.starts_with('/') => Ok(()),
        _ => Err(format!("not on {issuer}'s origin {origin}, so it is not fetched")),
    }
}

fn as_list(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => vec![],
    }
}

impl Verifier {
    /// A verifier over these sources; `anchors` None reports the anchor fragment SKIPPED.
    pub fn new(
        integrity: Arc<Integrity>,
        dids: Arc<dyn DidResolver>,
        status_lists: Arc<dyn StatusListSource>,
        trust: Arc<dyn IssuerTrust>,
        anchors: Option<Arc<dyn AnchorCheck>>,
    ) -> Verifier {
        Verifier {
            integrity,
            dids,
            status_lists,
            trust,
            anchors,
            checked_lists: Mutex::new(HashMap::new()),
            recent_lists: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The proof machinery.
    pub fn integrity(&self) -> &Arc<Integrity> {
        &self.integrity
    }

    /// The DID resolver.
    pub fn dids(&self) -> &Arc<dyn DidResolver> {
        &self.dids
    }

    /// The key of `method` for `purpose`: from the DID itself (did:key) or its resolved document.
    pub(crate) async fn key_of(
        &self,
        method: &str,
        purpose: ProofPurpose,
    ) -> Result<Result<PublicKey, String>, ResolutionError> {
        let did = did_of(method);
        if did.starts_with("did:key:") {
            return Ok(did_key_public_key(method).map_err(|e| e.to_string()));
        }
        if !did.starts_with("did:web:") {
            return Ok(Err(DidError::Unsupported(did.to_owned()).to_string()));
        }
        let document = self.dids.resolve(did, false).await?;
        let cache_key = format!("{}|{method}", purpose.as_str());
        if let Some((seen, key)) = self.keys.lock().expect("lock").get(&cache_key)
            && Arc::ptr_eq(seen, &document)
        {
            return Ok(Ok(key.clone()));
        }
        let (document, found) = match key_in_document(&document, method, purpose) {
            Err(DidError::MethodNotFound { .. }) => {
                let document = self.dids.resolve(did, true).await?;
                let found = key_in_document(&document, method, purpose);
                (document, found)
            }
            other => (document, other),
        };
        if let Ok(key) = &found {
            let mut keys = self.keys.lock().expect("lock");
            if keys.len() >= MAX_CHECKED_LISTS {
                keys.clear();
            }
            keys.insert(cache_key, (document, key.clone()));
        }
        Ok(found.map_err(|e| e.to_string()))
    }

    /// The issuer fragment: whether `issuer` is a trusted customs authority, decided from what
    /// the node holds (its configuration, the authority registry) before any fetch.
    pub(crate) async fn issuer_trust(&self, issuer: &str) -> Check {
        match self.trust.trusted(issuer).await {
            Ok(Some(authority)) => Check::valid(format!("{issuer} is {authority}")),
            Ok(None) => Check::invalid(format!("{issuer} is not a trusted customs authority")),
            Err(error) => Check::error(format!("trust in {issuer} cannot be established: {error}")),
        }
    }

    /// Checks a prepared proof against its signer's key; `signer` is the DID that must own it.
    async fn check_proof(&self, proof: &PreparedProof, signer: &str, purpose: ProofPurpose) -> Check {
        if did_of(&proof.verification_method) != signer {
            return Check::invalid(format!(
                "signed with {}, which does not belong to {signer}",
                proof.verification_method
            ));
        }
        if proof.purpose != purpose {
            return Check::invalid(format!("the proof is for {}, not {}", proof.purpose.as_str(), purpose.as_str()));
        }
        match self.key_of(&proof.verification_method, purpose).await {
            Err(error) => Check::error(format!("cannot resolve {signer}: {error}")),
            Ok(Err(why)) => Check::invalid(why),
            Ok(Ok(key)) => match proof.verify(&key) {
                ProofOutcome::Valid => {
                    Check::valid(format!("{} proof by {}", proof.cryptosuite.as_str(), proof.verification_method))
                }
                ProofOutcome::Invalid(why) => Check::invalid(why),
            },
        }
    }

    /// Verifies a credential at time `now`. `field` names it in errors.
    pub async fn verify_credential(
        &self,
        credential: &Value,
        now: DateTime<Utc>,
        field: &str,
    ) -> Result<VerificationReport, DocumentError> {
        self.verify_credential_with(credential, now, field, &HashMap::new()).await
    }

    /// [`Verifier::verify_credential`], taking status list credentials from `lists` (by URL)
    /// when given there instead of fetching them. They are verified like fetched ones.
    pub async fn verify_credential_with(
        &self,
        credential: &Value,
        now: DateTime<Utc>,
        field: &str,
        lists: &HashMap<String, Arc<Value>>,
    ) -> Result<VerificationReport, DocumentError> {
        let proof = self.integrity.prepare(credential, field)?;
        let issuer = issuer_of(credential).ok_or_else(|| DocumentError::Field {
            field: format!("{field}.issuer"),
            message: "is required (a DID)".into(),
        })?;
        let entries = status_entries(credential, field)?;
        // Trust first, from what this node holds (its configuration, the authority registry):
        // nothing a credential names is fetched before its issuer is known to be trusted, so
        // verification cannot be used to make the node fetch URLs of someone's choosing.
        let issuer_trust = self.issuer_trust(&issuer).await;
        let trusted = issuer_trust.outcome == Outcome::Valid;
        // Then integrity: the key comes from the trusted issuer's DID document (a did:key
        // carries its key, so it is checked without any fetch, trusted or not).
        let integrity = if trusted || issuer.starts_with("did:key:") {
            self.check_proof(&proof, &issuer, ProofPurpose::AssertionMethod).await
        } else {
            Check::skipped(format!("not checked: the DID document of {issuer}, not a trusted issuer, is not fetched"))
        };
        // Then, for a trusted issuer's intact credential only, what lives at its origin.
        let status = if !trusted {
            StatusReport::skipped("not checked: the issuer is not trusted, so its status lists are not fetched")
        } else if integrity.outcome != Outcome::Valid {
            StatusReport::skipped("not checked: the proof does not verify, so no status list is fetched for it")
        } else {
            self.check_status(&entries, &issuer, now, lists).await
        };
        let validity = validity(credential, now);
        let anchor = match &self.anchors {
            Some(anchors) if trusted && integrity.outcome == Outcome::Valid => {
                anchors.check(crate::credential::credential_digest(credential), &issuer, &status).await
            }
            Some(_) if !trusted => Check::skipped("not checked: the issuer is not trusted"),
            Some(_) => Check::skipped("the proof does not verify, so its anchor proves nothing"),
            None => Check::skipped("anchoring is not configured on this verifier"),
        };
        Ok(VerificationReport {
            verified: false,
            credential_id: text(credential, "id").map(str::to_owned),
            issuer: Some(issuer),
            integrity,
            issuer_trust,
            status,
            validity,
            anchor,
            aeo_certification: crate::credential::claims_aeo_certification(credential),
        }
        .finish())
    }

    async fn check_status(
        &self,
        entries: &[StatusEntry],
        issuer: &str,
        now: DateTime<Utc>,
        lists: &HashMap<String, Arc<Value>>,
    ) -> StatusReport {
        if entries.is_empty() {
            return StatusReport::skipped("the credential has no BitstringStatusListEntry");
        }
        let (mut revoked, mut suspended) = (None, None);
        for entry in entries {
            let list = match self.checked_list(&entry.list_url, issuer, now, lists.get(&entry.list_url).cloned()).await
            {
                Ok(list) => list,
                Err(check) => return StatusReport { check, revoked, suspended },
            };
            if list.purpose != entry.purpose {
                return StatusReport {
                    check: Check::invalid(format!(
                        "{} is a {} list, but the entry says {}",
                        entry.list_url,
                        list.purpose.as_str(),
                        entry.purpose.as_str()
                    )),
                    revoked,
                    suspended,
                };
            }
            let bit = match list.bits.get(entry.index) {
                Ok(bit) => bit,
                Err(e) => return StatusReport { check: Check::invalid(e.to_string()), revoked, suspended },
            };
            let slot = if entry.purpose == StatusPurpose::Revocation { &mut revoked } else { &mut suspended };
            *slot = Some(slot.unwrap_or(false) || bit);
        }
        let check = match (revoked, suspended) {
            (Some(true), _) => Check::invalid("revoked"),
            (_, Some(true)) => Check::invalid("suspended"),
            _ => Check::valid("neither revoked nor suspended"),
        };
        StatusReport { check, revoked, suspended }
    }

    /// The verified list at `url`, fetched through the source and verified once per content.
    async fn checked_list(
        &self,
        url: &str,
        issuer: &str,
        now: DateTime<Utc>,
        given: Option<Arc<Value>>,
    ) -> Result<Arc<CheckedList>, Check> {
        // Only the issuer's own origin: a status list URL elsewhere (another host, an internal
        // address) is never asked, whatever the credential says.
        on_origin_of(url, issuer).map_err(|why| Check::error(format!("status list {url}: {why}")))?;
        let document = match given {
            Some(document) => document,
            None => self.status_lists.fetch(url).await.map_err(|e| Check::error(format!("status list {url}: {e}")))?,
        };
        if let Some((seen, list)) = self.recent_lists.lock().expect("lock").get(url)
            && Arc::ptr_eq(seen, &document)
            && list.issuer == issuer
        {
            return Ok(list.clone());
        }
        let digest: [u8; 32] = Sha256::digest(document.to_string().as_bytes()).into();
        if let Some(list) = self.checked_lists.lock().expect("lock").get(&digest).cloned() {
            if list.issuer != issuer {
                return Err(Check::invalid(format!("status list {url} is issued by {}, not {issuer}", list.issuer)));
            }
            self.remember_list(url, document, &list);
            return Ok(list);
        }
        let list_issuer = issuer_of(&document).unwrap_or_default();
        if list_issuer != issuer {
            return Err(Check::invalid(format!("status list {url} is issued by {list_issuer}, not {issuer}")));
        }
        let proof = self
            .integrity
            .prepare(&document, "statusListCredential")
            .map_err(|e| Check::error(format!("status list {url}: {e}")))?;
        let proof_check = self.check_proof(&proof, issuer, ProofPurpose::AssertionMethod).await;
        if proof_check.outcome != Outcome::Valid {
            return Err(Check {
                outcome: proof_check.outcome,
                reason: format!("status list {url}: {}", proof_check.reason),
            });
        }
        let validity = validity(&document, now);
        if validity.outcome != Outcome::Valid {
            return Err(Check::error(format!("status list {url}: {}", validity.reason)));
        }
        let subject = document.get("credentialSubject").cloned().unwrap_or(Value::Null);
        let purpose = text(&subject, "statusPurpose")
            .and_then(StatusPurpose::parse)
            .ok_or_else(|| Check::error(format!("status list {url} has no revocation or suspension statusPurpose")))?;
        let bits = text(&subject, "encodedList")
            .ok_or_else(|| Check::error(format!("status list {url} has no encodedList")))
            .and_then(|e| Bitstring::decode(e).map_err(|e| Check::error(format!("status list {url}: {e}"))))?;
        let list = Arc::new(CheckedList { issuer: issuer.to_owned(), purpose, bits });
        let mut cache = self.checked_lists.lock().expect("lock");
        if cache.len() >= MAX_CHECKED_LISTS {
            cache.clear();
        }
        cache.insert(digest, list.clone());
        drop(cache);
        self.remember_list(url, document, &list);
        Ok(list)
    }

    fn remember_list(&self, url: &str, document: Arc<Value>, list: &Arc<CheckedList>) {
        let mut recent = self.recent_lists.lock().expect("lock");
        if recent.len() >= MAX_CHECKED_LISTS {
            recent.clear();
        }
        recent.insert(url.to_owned(), (document, list.clone()));
    }

    /// Verifies a presentation: its proof by the holder for authentication with `challenge`
    /// (and `domain` when given), holder binding, and every credential in it.
    pub async fn verify_presentation(
        &self,
        presentation: &Value,
        challenge: &str,
        domain: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PresentationReport, DocumentError> {
        let field = "verifiablePresentation";
        let proof = self.integrity.prepare(presentation, field)?;
        let holder = text(presentation, "holder")
            .map(str::to_owned)
            .or_else(|| Some(did_of(&proof.verification_method).to_owned()))
            .unwrap_or_default();
        let challenge_check = match (proof.challenge.as_deref(), proof.domain.as_deref(), domain) {
            (Some(c), _, _) if c != challenge => Check::invalid("the proof answers a different challenge"),
            (None, _, _) => Check::invalid("the proof carries no challenge"),
            (_, found, Some(expected)) if found != Some(expected) => {
                Check::invalid(format!("the proof is for domain {found:?}, not {expected}"))
            }
            _ => Check::valid("the proof answers this challenge"),
        };
        // The holder's DID document is fetched only for a proof that answers this node's
        // challenge: the challenge is checked first, without any network.
        let integrity = if challenge_check.outcome == Outcome::Valid {
            self.check_proof(&proof, &holder, ProofPurpose::Authentication).await
        } else {
            Check::skipped("not checked: the proof does not answer this challenge, so the holder's DID is not resolved")
        };
        let mut credentials = Vec::new();
        let mut unbound = Vec::new();
        for (i, credential) in as_list(presentation.get("verifiableCredential")).into_iter().enumerate() {
            let report = self.verify_credential(credential, now, &format!("{field}.verifiableCredential[{i}]")).await?;
            for subject in as_list(credential.get("credentialSubject")) {
                if let Some(id) = text(subject, "id").filter(|id| id.starts_with("did:"))
                    && id != holder
                {
                    unbound.push(format!("credential {i} is about {id}, not the holder {holder}"));
                }
            }
            credentials.push(report);
        }
        let holder_binding = if credentials.is_empty() {
            Check::invalid("the presentation holds no credential")
        } else if unbound.is_empty() {
            Check::valid("every credential about a DID is presented by that DID")
        } else {
            Check::invalid(unbound.join("; "))
        };
        let verified = integrity.outcome == Outcome::Valid
            && challenge_check.outcome == Outcome::Valid
            && holder_binding.outcome == Outcome::Valid
            && credentials.iter().all(|c| c.verified);
        Ok(PresentationReport {
            verified,
            holder: Some(holder),
            integrity,
            challenge: challenge_check,
            holder_binding,
            credentials,
        })
    }
}

/// The validity fragment: `validFrom` <= now (+ [`crate::validity::CLOCK_SKEW`]) and now <= `validUntil`,
/// by the same rule as the node's status and `confersBenefits` ([`ValidityPeriod`]).
fn validity(credential: &Value, now: DateTime<Utc>) -> Check {
    match ValidityPeriod::of_credential(credential) {
        Ok(period) => period_check(&period, now),
        Err(why) => Check::invalid(why),
    }
}

/// The validity fragment of a period (of a credential, or an SD-JWT VC's `nbf`/`exp`).
pub(crate) fn period_check(period: &ValidityPeriod, now: DateTime<Utc>) -> Check {
    match (period.phase(now), period.from, period.until) {
        (Phase::NotYet, Some(from), _) => Check::invalid(format!("not valid before {from}")),
        (Phase::Ended, _, Some(until)) => Check::invalid(format!("expired at {until}")),
        (_, _, Some(until)) => Check::valid(format!("valid until {until}")),
        _ => Check::valid("valid, with no end date"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use serde_json::json;

    use super::*;

    fn at(secs: i64) -> String {
        crate::credential::xsd_date_time(Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap())
    }

    #[test]
    fn valid_from_allows_clock_skew_and_valid_until_does_not() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let outcome = |credential: serde_json::Value| validity(&credential, now).outcome;
        // Signed in the next second, or by a node whose clock is a minute ahead: valid.
        assert_eq!(outcome(json!({ "validFrom": at(1) })), Outcome::Valid);
        assert_eq!(outcome(json!({ "validFrom": at(60) })), Outcome::Valid);
        // Ten minutes ahead is not skew: not valid yet.
        let early = validity(&json!({ "validFrom": at(600) }), now);
        assert_eq!(early.outcome, Outcome::Invalid);
        assert!(early.reason.contains("not valid before"), "{}", early.reason);
        // Expired a second ago: invalid, no slack.
        assert_eq!(outcome(json!({ "validFrom": at(-100), "validUntil": at(-1) })), Outcome::Invalid);
        assert_eq!(outcome(json!({ "validFrom": "yesterday" })), Outcome::Invalid);
    }
}
