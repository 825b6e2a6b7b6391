//! Decentralized identifiers: a node's `did:web`, its DID document, and finding a verification
//! method's public key in a resolved document (`did:web`) or in the DID itself (`did:key`).
//!
//! did:web normally means HTTPS. A node on a loopback address (the local dev network, tests) is
//! reached over plain HTTP, and only there: a DID naming any other host resolves over HTTPS.

use serde_json::{Value, json};

use crate::keys::{IssuerKeys, KeyError, PublicKey};

/// What a verification method is used for in a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofPurpose {
    /// Issuing credentials (`assertionMethod`).
    AssertionMethod,
    /// Proving control, e.g. presenting (`authentication`).
    Authentication,
}

impl ProofPurpose {
    /// The `proofPurpose` value and DID document relation.
    pub fn as_str(self) -> &'static str {
        match self {
            ProofPurpose::AssertionMethod => "assertionMethod",
            ProofPurpose::Authentication => "authentication",
        }
    }

    /// Parses a `proofPurpose` value.
    pub fn parse(value: &str) -> Option<ProofPurpose> {
        [ProofPurpose::AssertionMethod, ProofPurpose::Authentication].into_iter().find(|p| p.as_str() == value)
    }
}

/// Why a DID or verification method could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DidError {
    /// The text is not a DID (or DID URL) cadena can resolve.
    #[error("{0} is not a did:web or did:key DID")]
    Unsupported(String),
    /// A malformed did:web.
    #[error("malformed did:web {0}")]
    MalformedWeb(String),
    /// The document does not list the verification method.
    #[error("the DID document of {did} has no verification method {method}")]
    MethodNotFound {
        /// The DID.
        did: String,
        /// The method asked for.
        method: String,
    },
    /// The method exists but is not authorised for the proof's purpose.
    #[error("{method} is not listed under {purpose} in its DID document")]
    NotAuthorised {
        /// The method.
        method: String,
        /// The relation it is missing from.
        purpose: &'static str,
    },
    /// The document's `id` is not the DID that was resolved.
    #[error("the DID document resolved for {expected} is for {found}")]
    WrongDocument {
        /// The DID resolved.
        expected: String,
        /// The document's id.
        found: String,
    },
    /// The method's key cannot be read.
    #[error("verification method {method}: {source}")]
    Key {
        /// The method.
        method: String,
        /// Why.
        source: KeyError,
    },
}

fn is_loopback(host: &str) -> bool {
    let host = host.split(':').next().unwrap_or(host);
    host == "localhost" || host == "127.0.0.1" || host == "[::1]"
}

/// The did:web DID of a node served at `base_url` (`https://aduana.example` →
/// `did:web:aduana.example`, `http://127.0.0.1:8701` → `did:web:127.0.0.1%3A8701`).
pub fn did_web_for_url(base_url: &str) -> Result<String, DidError> {
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .ok_or_else(|| DidError::MalformedWeb(base_url.to_owned()))?;
    let rest = rest.trim_end_matches('/');
    let mut parts = rest.split('/');
    let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(|| DidError::MalformedWeb(base_url.to_owned()))?;
    let mut did = format!("did:web:{}", host.replace(':', "%3A"));
    for segment in parts {
        did.push(':');
        did.push_str(segment);
    }
    Ok(did)
}

/// The URL of a did:web DID's document: `…/.well-known/did.json` for a bare host, `…/<path>/did.json`
/// with a path; HTTP for loopback hosts only.
pub fn did_web_document_url(did: &str) -> Result<String, DidError> {
    let id = did.strip_prefix("did:web:").ok_or_else(|| DidError::Unsupported(did.to_owned()))?;
    let id = id.split(['#', '?']).next().unwrap_or(id);
    let mut segments = id.split(':');
    let host = segments
        .next()
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .ok_or_else(|| DidError::MalformedWeb(did.to_owned()))?
        .replace("%3A", ":")
        .replace("%3a", ":");
    // A host and port, nothing else: userinfo (`evil@host`), other escapes or a path would make
    // the URL point somewhere the DID does not say.
    if !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) {
        return Err(DidError::MalformedWeb(did.to_owned()));
    }
    let path: Vec<&str> = segments.collect();
    if path.iter().any(|s| s.is_empty() || s.contains('/') || *s == "." || *s == "..") {
        return Err(DidError::MalformedWeb(did.to_owned()));
    }
    let scheme = if is_loopback(&host) { "http" } else { "https" };
    Ok(if path.is_empty() {
        format!("{scheme}://{host}/.well-known/did.json")
    } else {
        format!("{scheme}://{host}/{}/did.json", path.join("/"))
    })
}

/// The origin (`scheme://host[:port]`) a did:web DID's document is served from: where its
/// issuer's status lists and anchor proofs must be, too.
pub fn did_web_origin(did: &str) -> Result<String, DidError> {
    let document = did_web_document_url(did)?;
    let after_scheme = document.find("://").map_or(0, |i| i + 3);
    let end = document[after_scheme..].find('/').map_or(document.len(), |i| after_scheme + i);
    Ok(document[..end].to_owned())
}

/// The DID part of a DID URL (`did:web:x#key-1` → `did:web:x`).
pub fn did_of(did_url: &str) -> &str {
    did_url.split(['#', '?']).next().unwrap_or(did_url)
}

/// The DID document of an issuer with these keys. Verification method ids are absolute
/// (`did:web:…#key-1`): some verifiers compare them as plain strings.
pub fn did_document(did: &str, keys: &IssuerKeys, services: &[Value]) -> Value {
    let mut methods = Vec::new();
    let mut signing = Vec::new();
    for key in keys.signing_keys() {
        let id = format!("{did}#{}", key.fragment);
        methods.push(json!({
            "id": id, "type": "Multikey", "controller": did,
            "publicKeyMultibase": key.key.public().to_multibase(),
        }));
        signing.push(Value::String(id));
    }
    let agreement = format!("{did}#agreement-1");
    methods.push(json!({
        "id": agreement, "type": "Multikey", "controller": did,
        "publicKeyMultibase": keys.agreement().public_multibase(),
    }));
    let mut document = json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": signing,
        "authentication": signing,
        "keyAgreement": [agreement],
    });
    if !services.is_empty() {
        document["service"] = Value::Array(services.to_vec());
    }
    document
}

/// The public key of `method` (a DID URL) in the resolved `document` of its DID, checked to be
/// authorised for `purpose`.
pub fn key_in_document(document: &Value, method: &str, purpose: ProofPurpose) -> Result<PublicKey, DidError> {
    let did = did_of(method);
    let document_id = document.get("id").and_then(Value::as_str).unwrap_or_default();
    if document_id != did {
        return Err(DidError::WrongDocument { expected: did.to_owned(), found: document_id.to_owned() });
    }
    // Ids may be written relative (`#key-1`) in a document; compare them absolute.
    let absolute = |id: &str| if id.starts_with('#') { format!("{did}{id}") } else { id.to_owned() };
    let listed = |relation: &str| -> Vec<Value> {
        document.get(relation).and_then(Value::as_array).cloned().unwrap_or_default()
    };
    let mut candidates = listed("verificationMethod");
    let mut authorised = false;
    for entry in listed(purpose.as_str()) {
        match &entry {
            Value::String(id) if absolute(id) == method => authorised = true,
            Value::Object(_) if entry.get("id").and_then(Value::as_str).map(absolute).as_deref() == Some(method) => {
                authorised = true;
                candidates.push(entry.clone());
            }
            _ => {}
        }
    }
    let entry = candidates
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str).map(absolute).as_deref() == Some(method))
        .ok_or_else(|| DidError::MethodNotFound { did: did.to_owned(), method: method.to_owned() })?;
    if !authorised {
        return Err(DidError::NotAuthorised { method: method.to_owned(), purpose: purpose.as_str() });
    }
    let key = match (entry.get("publicKeyMultibase").and_then(Value::as_str), entry.get("publicKeyJwk")) {
        (Some(multibase), _) => PublicKey::from_multibase(multibase),
        (None, Some(jwk)) => PublicKey::from_jwk(jwk),
        (None, None) => Err(KeyError::UnsupportedJwk("neither publicKeyMultibase nor publicKeyJwk".into())),
    };
    key.map_err(|source| DidError::Key { method: method.to_owned(), source })
}

/// The key of a `did:key` verification method, read from the DID itself
/// (`did:key:z6Mk…#z6Mk…`). did:key keys serve every purpose.
pub fn did_key_public_key(method: &str) -> Result<PublicKey, DidError> {
    let did = did_of(method);
    let encoded = did.strip_prefix("did:key:").ok_or_else(|| DidError::Unsupported(did.to_owned()))?;
    if let Some((_, fragment)) = method.split_once('#')
        && fragment != encoded
    {
        return Err(DidError::MethodNotFound { did: did.to_owned(), method: method.to_owned() });
    }
    PublicKey::from_multibase(encoded).map_err(|source| DidError::Key { method: method.to_owned(), source })
}

/// The did:key DID and verification method of a public key.
pub fn did_key_for(key: &PublicKey) -> (String, String) {
    let encoded = key.to_multibase();
    (format!("did:key:{encoded}"), format!("did:key:{encoded}#{encoded}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Cryptosuite;

    #[test]
    fn did_web_round_trips_with_ports_and_paths() {
        assert_eq!(did_web_for_url("http://127.0.0.1:8701").unwrap(), "did:web:127.0.0.1%3A8701");
        assert_eq!(did_web_for_url("https://aduanas.example/cadena/").unwrap(), "did:web:aduanas.example:cadena");
        assert_eq!(
            did_web_document_url("did:web:127.0.0.1%3A8701").unwrap(),
            "http://127.0.0.1:8701/.well-known/did.json"
        );
        assert_eq!(
            did_web_document_url("did:web:aduanas.example:cadena#key-1").unwrap(),
            "https://aduanas.example/cadena/did.json"
        );
        // Only loopback hosts get plain HTTP.
        assert!(did_web_document_url("did:web:evil.example%3A80").unwrap().starts_with("https://"));
        assert_eq!(did_web_origin("did:web:127.0.0.1%3A8701").unwrap(), "http://127.0.0.1:8701");
        assert_eq!(did_web_origin("did:web:aduanas.example:cadena").unwrap(), "https://aduanas.example");
        for bad in ["did:web:evil%40127.0.0.1", "did:web:a@b.example", "did:web:a%2Fb.example", "did:web:a b"] {
            assert!(did_web_document_url(bad).is_err(), "{bad} is refused");
        }
        assert!(did_web_document_url("did:web:a.example:..:x").is_err());
        assert!(did_web_document_url("did:key:z6Mk").is_err());
    }

    #[test]
    fn keys_are_found_only_under_their_purpose() {
        let keys = IssuerKeys::generate(Cryptosuite::EdDsaRdfc2022);
        let did = "did:web:127.0.0.1%3A8701";
        let document = did_document(did, &keys, &[]);
        let method = format!("{did}#key-1");
        assert_eq!(
            key_in_document(&document, &method, ProofPurpose::AssertionMethod).unwrap(),
            keys.current().key.public()
        );
        let agreement = format!("{did}#agreement-1");
        assert_eq!(
            key_in_document(&document, &agreement, ProofPurpose::AssertionMethod),
            Err(DidError::NotAuthorised { method: agreement.clone(), purpose: "assertionMethod" })
        );
        assert!(matches!(
            key_in_document(&document, &format!("{did}#key-9"), ProofPurpose::AssertionMethod),
            Err(DidError::MethodNotFound { .. })
        ));
        assert!(matches!(
            key_in_document(&document, "did:web:other#key-1", ProofPurpose::AssertionMethod),
            Err(DidError::WrongDocument { .. })
        ));
    }

    #[test]
    fn did_key_methods_carry_their_key() {
        let key = crate::keys::SecretKey::generate(Cryptosuite::EdDsaRdfc2022).public();
        let (did, method) = did_key_for(&key);
        assert!(did.starts_with("did:key:z6Mk"));
        assert_eq!(did_key_public_key(&method).unwrap(), key);
        assert!(did_key_public_key(&format!("{did}#other")).is_err());
    }
}
