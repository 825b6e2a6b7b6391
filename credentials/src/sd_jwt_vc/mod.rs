//! The AEO certification as an SD-JWT VC (IETF SD-JWT VC, format `dc+sd-jwt`), for wallets:
//! issuing it bound to the holder's key, and reading a presentation of it.
//!
//! ```text
//! <issuer JWT>~<disclosure>~…~<key-binding JWT, in a presentation>
//! issuer JWT: header {alg, typ: "dc+sd-jwt", kid: <issuer DID URL>}
//!             claims {iss, iat, nbf, exp, vct, cnf: {jwk}, status: {status_list: {idx, uri}},
//!                     _sd_alg: "sha-256", _sd: [digests of the subject's claims]}
//! ```
//!
//! Always visible: who issued it and for what type (`iss`, `vct`), when it is in force (`nbf`,
//! `exp`), its status entry in a Token Status List, and the holder's key (`cnf`). Every claim
//! about the firm (name, trader ID, address, certificate number and type, roles, partner
//! identifiers, …) is selectively disclosable, one disclosure each, so the firm shows a relying
//! party what it needs (for example status and validity only) and keeps the rest back.
//!
//! Concealing and revealing (salts, disclosure digests, the checks that every disclosure is
//! used once and none collides) are `ssi`'s `sd_jwt`; signatures are [`crate::jwt`]'s. The
//! anchored digest is SHA-256 of the issuer JWT, which every presentation carries unchanged
//! whatever it discloses.

pub mod status_list;
mod verify;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use ssi_claims::sd_jwt::{DisclosureDescription, JsonPointerBuf, SdAlg, SdJwt, SdJwtPayload};

use crate::jose::JoseError;
use crate::jwt::{self, Jwt};
use crate::keys::{PublicKey, SecretKey};

pub use verify::SdJwtPresentationReport;

/// The `vct` (credential type) of an AEO certification as an SD-JWT VC: the AEO vocabulary's
/// term for the credential type, the same type the Data Integrity credential has.
pub const AEO_VCT: &str = "https://w3id.org/cadena/aeo#AEOCertificationCredential";
/// The `typ` of the issuer-signed JWT.
pub const SD_JWT_VC_TYPE: &str = "dc+sd-jwt";
/// The `typ` of a key-binding JWT.
pub const KEY_BINDING_TYPE: &str = "kb+jwt";

/// Claims of the subject that are never selectively disclosable: none are. Claims the issuer
/// JWT shows to everyone are the JWT's own (see the module documentation).
const SUBJECT_CLAIMS_SKIPPED: [&str; 2] = ["id", "type"];

/// Why an SD-JWT VC could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SdJwtError {
    /// Not of the form `<JWT>~<disclosures>~[<KB-JWT>]`, or a part is not what it must be.
    #[error("not an SD-JWT VC: {0}")]
    Malformed(String),
    /// The issuer JWT or the key-binding JWT is not a JWT cadena accepts.
    #[error("the {part} is not an acceptable JWT: {source}")]
    Jwt {
        /// `issuer JWT` or `key-binding JWT`.
        part: &'static str,
        /// Why.
        source: JoseError,
    },
    /// A disclosure does not belong to the issuer JWT (changed, repeated, or from another
    /// credential), or discloses what cadena never conceals.
    #[error("a disclosure does not match the credential: {0}")]
    Disclosure(String),
}

/// Where a credential's status is: an index in a Token Status List.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenStatusReference {
    /// The list token's URL.
    pub uri: String,
    /// The credential's index in it.
    pub index: usize,
}

/// Issues the SD-JWT VC of `credential` (the AEO credential document, unsigned or signed:
/// its proof is not carried over) bound to `holder`, signed with `key` under `kid`.
pub fn issue(
    credential: &Value,
    holder: &PublicKey,
    status: &TokenStatusReference,
    key: &SecretKey,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<String, SdJwtError> {
    let text = |name: &str| credential.get(name).and_then(Value::as_str);
    let time = |name: &str| -> Result<Option<i64>, SdJwtError> {
        text(name)
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.timestamp())
                    .map_err(|e| SdJwtError::Malformed(format!("{name}: {e}")))
            })
            .transpose()
    };
    let issuer = text("issuer").ok_or_else(|| SdJwtError::Malformed("the credential has no issuer".into()))?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("iat".into(), json!(now.timestamp()));
    if let Some(from) = time("validFrom")? {
        claims.insert("nbf".into(), json!(from));
    }
    if let Some(until) = time("validUntil")? {
        claims.insert("exp".into(), json!(until));
    }
    claims.insert("vct".into(), json!(AEO_VCT));
    claims.insert("cnf".into(), json!({ "jwk": holder.to_jwk() }));
    claims.insert("status".into(), json!({ "status_list": { "idx": status.index, "uri": status.uri } }));
    let mut concealed = Vec::new();
    if let Some(Value::Object(subject)) = credential.get("credentialSubject") {
        for (name, value) in subject.iter().filter(|(n, _)| !SUBJECT_CLAIMS_SKIPPED.contains(&n.as_str())) {
            claims.insert(name.clone(), value.clone());
            let mut pointer = JsonPointerBuf::default();
            pointer.push(name);
            concealed.push(pointer);
        }
    }
    let (payload, disclosures) = SdJwtPayload::conceal_claims(claims, rand_core::OsRng, SdAlg::Sha256, &concealed)
        .map_err(|e| SdJwtError::Malformed(e.to_string()))?;
    let payload = serde_json::to_value(&payload).map_err(|e| SdJwtError::Malformed(e.to_string()))?;
    let mut compact = jwt::sign(json!({ "typ": SD_JWT_VC_TYPE, "kid": kid }), &payload, key);
    compact.push('~');
    for disclosure in &disclosures {
        compact.push_str(disclosure.encoded.as_str());
        compact.push('~');
    }
    Ok(compact)
}

/// An SD-JWT VC as presented: the issuer JWT's claims with the disclosed ones revealed. Its
/// signatures are not checked here (see [`crate::verification::Verifier`]).
#[derive(Debug)]
pub struct PresentedSdJwt {
    /// The issuer JWT.
    pub issuer_jwt: Jwt,
    /// Every claim a relying party sees: the issuer JWT's own and the disclosed ones.
    pub claims: Map<String, Value>,
    /// The names of the disclosed claims.
    pub disclosed: Vec<String>,
    /// The key-binding JWT, if any.
    pub key_binding: Option<Jwt>,
    /// SHA-256 of the issuer JWT: the digest anchored on chain.
    pub digest: [u8; 32],
    /// `sd_hash`: base64url SHA-256 of everything before the key-binding JWT.
    pub sd_hash: String,
}

impl PresentedSdJwt {
    /// Reads `text`, checking that every disclosure belongs to the issuer JWT.
    pub fn parse(text: &str) -> Result<PresentedSdJwt, SdJwtError> {
        let last_tilde = text.rfind('~').ok_or_else(|| SdJwtError::Malformed("no '~' separator".into()))?;
        let (first, _) = text.split_once('~').expect("there is a '~'");
        let issuer_jwt = Jwt::parse(first).map_err(|source| SdJwtError::Jwt { part: "issuer JWT", source })?;
        if issuer_jwt.header_str("typ") != Some(SD_JWT_VC_TYPE) {
            return Err(SdJwtError::Malformed(format!(
                "the issuer JWT's typ is {:?}, not {SD_JWT_VC_TYPE:?}",
                issuer_jwt.header_str("typ")
            )));
        }
        let key_binding = match &text[last_tilde + 1..] {
            "" => None,
            kb => Some(Jwt::parse(kb).map_err(|source| SdJwtError::Jwt { part: "key-binding JWT", source })?),
        };
        let sd_jwt = SdJwt::new(text).map_err(|_| SdJwtError::Malformed("not a compact SD-JWT".into()))?;
        let revealed = sd_jwt.decode_reveal_any().map_err(|e| SdJwtError::Disclosure(e.to_string()))?;
        let mut claims = issuer_jwt.claims.clone();
        claims.remove("_sd");
        claims.remove("_sd_alg");
        let mut disclosed = Vec::new();
        for (pointer, disclosure) in &revealed.disclosures {
            let top_level = pointer.as_str().matches('/').count() == 1;
            match &disclosure.desc {
                DisclosureDescription::ObjectEntry { key, value } if top_level => {
                    claims.insert(key.clone(), value.clone());
                    disclosed.push(key.clone());
                }
                _ => {
                    return Err(SdJwtError::Disclosure(format!(
                        "{} is disclosed, and cadena conceals top-level claims only",
                        pointer.as_str()
                    )));
                }
            }
        }
        let digest = Sha256::digest(first.as_bytes()).into();
        let sd_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(&text.as_bytes()[..=last_tilde]));
        Ok(PresentedSdJwt { issuer_jwt, claims, disclosed, key_binding, digest, sd_hash })
    }

    /// The holder's key, from `cnf.jwk`.
    pub fn holder_key(&self) -> Result<PublicKey, String> {
        let jwk =
            self.claims.get("cnf").and_then(|c| c.get("jwk")).ok_or("the credential names no holder key (cnf.jwk)")?;
        PublicKey::from_jwk(jwk).map_err(|e| format!("cnf.jwk: {e}"))
    }

    /// The credential's Token Status List entry.
    pub fn status_reference(&self) -> Option<TokenStatusReference> {
        let entry = self.claims.get("status")?.get("status_list")?;
        Some(TokenStatusReference {
            uri: entry.get("uri")?.as_str()?.to_owned(),
            index: usize::try_from(entry.get("idx")?.as_u64()?).ok()?,
        })
    }
}

/// The key-binding JWT a holder adds to `presentation` (which ends with `~`), for a wallet.
pub fn key_binding_jwt(
    presentation: &str,
    holder: &SecretKey,
    audience: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> String {
    let sd_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(presentation.as_bytes()));
    jwt::sign(
        json!({ "typ": KEY_BINDING_TYPE }),
        &json!({ "iat": now.timestamp(), "aud": audience, "nonce": nonce, "sd_hash": sd_hash }),
        holder,
    )
}

/// `issued` with only the disclosures of `keep` (claim names), as a holder presents it
/// (ending with `~`, ready for a key-binding JWT).
pub fn select_disclosures(issued: &str, keep: &[&str]) -> Result<String, SdJwtError> {
    let mut parts = issued.split('~');
    let mut out = parts.next().unwrap_or_default().to_owned();
    out.push('~');
    for disclosure in parts.filter(|p| !p.is_empty()) {
        let bytes = URL_SAFE_NO_PAD
            .decode(disclosure)
            .map_err(|_| SdJwtError::Malformed("a disclosure is not base64url".into()))?;
        let decoded: Value = serde_json::from_slice(&bytes).map_err(|e| SdJwtError::Malformed(e.to_string()))?;
        if decoded.get(1).and_then(Value::as_str).is_some_and(|name| keep.contains(&name)) {
            out.push_str(disclosure);
            out.push('~');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
