//! Verifying an SD-JWT VC presentation into the same report, fragment by fragment, as a Data
//! Integrity presentation, in the same order: trust in the issuer first (nothing fetched for an
//! untrusted one), then the issuer's signature, then status (the Token Status List, only at the
//! issuer's origin) and the anchor, then the key binding.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::status_list::{TokenStatus, status_in_token};
use super::{AEO_VCT, KEY_BINDING_TYPE, PresentedSdJwt, SdJwtError};
use crate::did::{ProofPurpose, did_key_for, did_of};
use crate::validity::ValidityPeriod;
use crate::verification::{
    Check, Outcome, PresentationReport, StatusReport, VerificationReport, Verifier, on_origin_of, period_check,
};

/// How old a key-binding JWT may be.
const MAX_KEY_BINDING_AGE: chrono::Duration = chrono::Duration::minutes(5);
/// How far ahead of this node's clock a key-binding JWT may be dated.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// The report of an SD-JWT VC presentation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SdJwtPresentationReport {
    /// Fragment by fragment, as for any presentation; the holder is named by the did:key of
    /// the key the credential is bound to.
    pub report: PresentationReport,
    /// Every claim the relying party sees: the issuer JWT's own (`iss`, `vct`, `nbf`, `exp`,
    /// `status`, `cnf`, …) and those the holder disclosed.
    pub claims: Map<String, Value>,
    /// The names of the claims the holder disclosed.
    pub disclosed: Vec<String>,
}

impl Verifier {
    /// Verifies an SD-JWT VC presented at `presented_at` with a key-binding JWT for `audience`
    /// answering `nonce`; the credential's status and validity are as of `now` (a presentation
    /// received earlier can be checked again later). A presentation that cannot be read at all
    /// is an [`SdJwtError`]; one that reads but is forged, tampered, revoked or replayed is a
    /// report that says so.
    pub async fn verify_sd_jwt_presentation(
        &self,
        text: &str,
        audience: &str,
        nonce: &str,
        presented_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SdJwtPresentationReport, SdJwtError> {
        let presented = PresentedSdJwt::parse(text)?;
        let credential = self.verify_issued_sd_jwt(&presented, now).await?;
        let (integrity, challenge, holder_binding, holder) = key_binding(&presented, audience, nonce, presented_at);
        let verified = credential.verified
            && [&integrity, &challenge, &holder_binding].iter().all(|c| c.outcome == Outcome::Valid);
        Ok(SdJwtPresentationReport {
            report: PresentationReport {
                verified,
                holder,
                integrity,
                challenge,
                holder_binding,
                credentials: vec![credential],
            },
            claims: presented.claims.clone(),
            disclosed: presented.disclosed.clone(),
        })
    }

    async fn verify_issued_sd_jwt(
        &self,
        presented: &PresentedSdJwt,
        now: DateTime<Utc>,
    ) -> Result<VerificationReport, SdJwtError> {
        let jwt = &presented.issuer_jwt;
        let issuer = jwt.claim_str("iss").ok_or_else(|| SdJwtError::Malformed("the issuer JWT has no iss".into()))?;
        let issuer_trust = self.issuer_trust(issuer).await;
        let trusted = issuer_trust.outcome == Outcome::Valid;
        let integrity = if trusted || issuer.starts_with("did:key:") {
            self.check_issuer_signature(presented, issuer).await
        } else {
            Check::skipped(format!("not checked: the DID document of {issuer}, not a trusted issuer, is not fetched"))
        };
        let status = if !trusted {
            StatusReport::skipped("not checked: the issuer is not trusted, so its status list is not fetched")
        } else if integrity.outcome != Outcome::Valid {
            StatusReport::skipped("not checked: the signature does not verify, so no status list is fetched for it")
        } else {
            self.check_token_status(presented, issuer, now).await
        };
        let period = ValidityPeriod { from: jwt.claim_time("nbf"), until: jwt.claim_time("exp") };
        let validity = period_check(&period, now);
        let anchor = match &self.anchors {
            Some(anchors) if trusted && integrity.outcome == Outcome::Valid => {
                anchors.check(presented.digest, issuer, &status).await
            }
            Some(_) if !trusted => Check::skipped("not checked: the issuer is not trusted"),
            Some(_) => Check::skipped("the signature does not verify, so its anchor proves nothing"),
            None => Check::skipped("anchoring is not configured on this verifier"),
        };
        Ok(VerificationReport {
            verified: false,
            credential_id: None,
            issuer: Some(issuer.to_owned()),
            integrity,
            issuer_trust,
            status,
            validity,
            anchor,
            aeo_certification: jwt.claim_str("vct") == Some(AEO_VCT),
        }
        .finish())
    }

    async fn check_issuer_signature(&self, presented: &PresentedSdJwt, issuer: &str) -> Check {
        let Some(kid) = presented.issuer_jwt.header_str("kid") else {
            return Check::invalid("the issuer JWT names no key (kid)");
        };
        if did_of(kid) != issuer {
            return Check::invalid(format!("signed with {kid}, which does not belong to {issuer}"));
        }
        match self.key_of(kid, ProofPurpose::AssertionMethod).await {
            Err(error) => Check::error(format!("cannot resolve {issuer}: {error}")),
            Ok(Err(why)) => Check::invalid(why),
            Ok(Ok(key)) => match presented.issuer_jwt.verify_with(&key) {
                Ok(()) => Check::valid(format!("{} signature by {kid}", presented.issuer_jwt.alg().as_str())),
                Err(error) => Check::invalid(format!("the issuer JWT: {error}")),
            },
        }
    }

    async fn check_token_status(&self, presented: &PresentedSdJwt, issuer: &str, now: DateTime<Utc>) -> StatusReport {
        let Some(reference) = presented.status_reference() else {
            return StatusReport::skipped("the credential has no status_list entry");
        };
        let fail = |check: Check| StatusReport { check, revoked: None, suspended: None };
        let uri = &reference.uri;
        if let Err(why) = on_origin_of(uri, issuer) {
            return fail(Check::error(format!("status list {uri}: {why}")));
        }
        let token = match self.status_lists.fetch_token(uri).await {
            Ok(token) => token,
            Err(error) => return fail(Check::error(format!("status list {uri}: {error}"))),
        };
        // The list's signer: its kid, which must be the issuer's.
        let kid = match crate::jwt::Jwt::parse(&token) {
            Ok(list) => list.header_str("kid").map(str::to_owned).unwrap_or_default(),
            Err(error) => return fail(Check::error(format!("status list {uri}: {error}"))),
        };
        if did_of(&kid) != issuer {
            return fail(Check::invalid(format!("status list {uri} is signed by {kid:?}, not {issuer}")));
        }
        let key = match self.key_of(&kid, ProofPurpose::AssertionMethod).await {
            Ok(Ok(key)) => key,
            Ok(Err(why)) => return fail(Check::invalid(format!("status list {uri}: {why}"))),
            Err(error) => return fail(Check::error(format!("status list {uri}: {error}"))),
        };
        match status_in_token(&token, uri, reference.index, &key, now) {
            Ok(TokenStatus::Valid) => StatusReport {
                check: Check::valid("neither revoked nor suspended"),
                revoked: Some(false),
                suspended: Some(false),
            },
            Ok(TokenStatus::Invalid) => {
                StatusReport { check: Check::invalid("revoked"), revoked: Some(true), suspended: None }
            }
            Ok(TokenStatus::Suspended) => {
                StatusReport { check: Check::invalid("suspended"), revoked: Some(false), suspended: Some(true) }
            }
            Ok(TokenStatus::Other(value)) => {
                fail(Check::invalid(format!("status {value:#04x}, which cadena never sets")))
            }
            Err(error) => fail(Check::error(format!("status list {uri}: {error}"))),
        }
    }
}

/// The key-binding fragments: integrity (the KB-JWT is over exactly this presentation), the
/// request (audience, nonce, time) and holder binding (signed by the key in `cnf`); and the
/// holder, as the did:key of that key.
fn key_binding(
    presented: &PresentedSdJwt,
    audience: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> (Check, Check, Check, Option<String>) {
    let Some(kb) = &presented.key_binding else {
        let missing = || Check::invalid("the presentation has no key-binding JWT");
        return (missing(), missing(), missing(), None);
    };
    let integrity = if kb.header_str("typ") != Some(KEY_BINDING_TYPE) {
        Check::invalid(format!("the key-binding JWT's typ is {:?}, not \"kb+jwt\"", kb.header_str("typ")))
    } else if kb.claim_str("sd_hash") != Some(presented.sd_hash.as_str()) {
        Check::invalid("the key-binding JWT is over another presentation (sd_hash differs)")
    } else {
        Check::valid("the key-binding JWT covers this presentation")
    };
    let iat = kb.claim_time("iat");
    let challenge = if kb.claim_str("aud") != Some(audience) {
        Check::invalid(format!("the key-binding JWT is for {:?}, not {audience}", kb.claim_str("aud")))
    } else if kb.claim_str("nonce") != Some(nonce) {
        Check::invalid("the key-binding JWT does not answer this request's nonce")
    } else if iat.is_none_or(|iat| iat > now + CLOCK_SKEW || iat < now - MAX_KEY_BINDING_AGE) {
        Check::invalid(format!("the key-binding JWT's iat {iat:?} is not within minutes of now"))
    } else {
        Check::valid("the key-binding JWT answers this request")
    };
    let (holder_binding, holder) = match presented.holder_key() {
        Err(why) => (Check::invalid(why), None),
        Ok(key) => {
            let holder = Some(did_key_for(&key).0);
            match kb.verify_with(&key) {
                Ok(()) => (Check::valid("signed by the key the credential is bound to"), holder),
                Err(error) => {
                    (Check::invalid(format!("not signed by the key the credential is bound to: {error}")), holder)
                }
            }
        }
    };
    (integrity, challenge, holder_binding, holder)
}
