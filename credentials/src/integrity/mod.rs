//! Data Integrity proofs (`DataIntegrityProof` with `eddsa-rdfc-2022` or `ecdsa-rdfc-2019`
//! over P-256): signing, and checking a proof once its verification method's key is known.
//!
//! This module is the only one that uses `ssi` (JSON-LD expansion, RDF canonicalisation, and
//! the plain-ssi reference path in [`reference`]). It implements the cryptosuites' algorithms:
//! hash data = SHA-256(canonical proof configuration) ‖ SHA-256(canonical document), signed
//! with Ed25519 or with ECDSA P-256 (SHA-256), encoded as multibase base58btc `proofValue`. The
//! proof configuration is the proof without `proofValue`, under the document's `@context`.
//! Canonicalisation caches its context and shape work (see [`canonical`]); results are tested
//! equal to ssi's and accepted by Digital Bazaar's verifier.
//!
//! Documents are inspected before any JSON-LD work: size, nesting depth, contexts (only those
//! cadena ships, named by URL), and after expansion the blank-node structure. Such problems
//! are [`DocumentError`]s: the document is refused, not judged. A proof that does not verify
//! is a [`ProofOutcome::Invalid`] value.

mod canonical;
mod contexts;
mod rdfc;
pub mod reference;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use contexts::ALLOWED_CONTEXTS;
pub use rdfc::{MAX_BLANK_NODES, MAX_INDISTINGUISHABLE};

use crate::did::ProofPurpose;
use crate::keys::{Cryptosuite, PublicKey, SecretKey};

/// Largest document accepted, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Deepest nesting of JSON objects and arrays accepted.
pub const MAX_DEPTH: usize = 16;

/// Why a document is refused before it can be judged. Each names what is wrong and where.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// A field is missing or malformed.
    #[error("{field}: {message}")]
    Field {
        /// The JSON path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Too many bytes.
    #[error("the document is {bytes} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Nested too deeply.
    #[error("the document nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A context cadena does not ship.
    #[error("{field}: unknown JSON-LD context {url}; cadena only loads the contexts it ships")]
    UnknownContext {
        /// Where it is named.
        field: String,
        /// The context URL.
        url: String,
    },
    /// JSON-LD expansion or RDF conversion failed.
    #[error("malformed JSON-LD: {0}")]
    MalformedJsonLd(String),
    /// More blank nodes than canonicalisation is allowed to handle.
    #[error("the document has {count} blank nodes; at most {limit} are canonicalised")]
    TooManyBlankNodes {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Blank nodes that look alike: canonicalising them takes factorial time.
    #[error(
        "the document has {count} indistinguishable blank nodes; canonicalising them costs {count}! permutations, and at most {limit} are accepted"
    )]
    IndistinguishableBlankNodes {
        /// How many share a hash.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A proof type or cryptosuite cadena does not verify.
    #[error(
        "{field}: unsupported proof {found}; cadena verifies DataIntegrityProof with eddsa-rdfc-2022 or ecdsa-rdfc-2019"
    )]
    UnsupportedProof {
        /// Where.
        field: String,
        /// What was found.
        found: String,
    },
}

impl DocumentError {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> DocumentError {
        DocumentError::Field { field: field.into(), message: message.into() }
    }
}

/// What a proof check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofOutcome {
    /// The signature matches the document and the key.
    Valid,
    /// It does not, for this reason.
    Invalid(String),
}

/// How to sign.
#[derive(Clone, Debug)]
pub struct ProofOptions {
    /// The verification method (DID URL) of the key.
    pub verification_method: String,
    /// What the proof is for.
    pub purpose: ProofPurpose,
    /// Its creation time.
    pub created: DateTime<Utc>,
    /// A verifier's challenge (presentations).
    pub challenge: Option<String>,
    /// The verifier's domain (presentations).
    pub domain: Option<String>,
}

/// A proof read from a document, its hash data computed, waiting for its key.
#[derive(Clone, Debug)]
pub struct PreparedProof {
    /// The verification method it names.
    pub verification_method: String,
    /// Its purpose.
    pub purpose: ProofPurpose,
    /// Its cryptosuite.
    pub cryptosuite: Cryptosuite,
    /// `created`, if present.
    pub created: Option<String>,
    /// `challenge`, if present.
    pub challenge: Option<String>,
    /// `domain`, if present (a string or the first of a list).
    pub domain: Option<String>,
    signature: Vec<u8>,
    hash_data: Vec<u8>,
}

impl PreparedProof {
    /// Checks the signature with the verification method's key.
    pub fn verify(&self, key: &PublicKey) -> ProofOutcome {
        if key.cryptosuite() != self.cryptosuite {
            return ProofOutcome::Invalid(format!(
                "the proof uses {} but the key of {} is for {}",
                self.cryptosuite.as_str(),
                self.verification_method,
                key.cryptosuite().as_str()
            ));
        }
        if key.verify(&self.hash_data, &self.signature) {
            ProofOutcome::Valid
        } else {
            ProofOutcome::Invalid("invalid signature: the document or its proof was changed after signing".into())
        }
    }
}

/// Signs and prepares Data Integrity proofs. One per process: it owns the caches.
pub struct Integrity {
    canonicalizer: canonical::Canonicalizer,
}

impl std::fmt::Debug for Integrity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrity").finish_non_exhaustive()
    }
}

impl Default for Integrity {
    fn default() -> Self {
        Integrity::new()
    }
}

/// One pass over a document: its approximate JSON size (stopping past the limit), its depth,
/// and the contexts of embedded documents. Paths are only spelled out for an error.
struct Inspection<'a> {
    contexts: &'a contexts::Contexts,
    bytes: usize,
    path: Vec<PathStep<'a>>,
}

#[derive(Clone, Copy)]
enum PathStep<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Inspection<'a> {
    fn path(&self, root: &str) -> String {
        let mut path = root.to_owned();
        for step in &self.path {
            match step {
                PathStep::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                PathStep::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        path
    }

    fn walk(&mut self, value: &'a Value, root: &str) -> Result<(), DocumentError> {
        if self.path.len() > MAX_DEPTH {
            return Err(DocumentError::TooDeep { limit: MAX_DEPTH });
        }
        match value {
            Value::String(text) => self.bytes += text.len() + 2,
            Value::Array(items) => {
                self.bytes += 2 + items.len();
                for (i, item) in items.iter().enumerate() {
                    self.path.push(PathStep::Index(i));
                    self.walk(item, root)?;
                    self.path.pop();
                }
            }
            Value::Object(object) => {
                self.bytes += 2;
                if !self.path.is_empty()
                    && let Some(context) = object.get("@context")
                {
                    self.contexts.check(Some(context), &self.path(root))?;
                }
                for (key, child) in object {
                    self.bytes += key.len() + 4;
                    if key == "@context" {
                        continue;
                    }
                    self.path.push(PathStep::Key(key));
                    // A number (or raw JSON) serialised by the wrong serializer: serde_json
                    // would read it back as the number, but it is not what the issuer signed.
                    if crate::json::is_private_key(key) {
                        return Err(DocumentError::field(self.path(root), crate::json::PRIVATE_KEY_REASON));
                    }
                    self.walk(child, root)?;
                    self.path.pop();
                }
            }
            other => self.bytes += other.to_string().len(),
        }
        if self.bytes > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge { bytes: self.bytes, limit: MAX_DOCUMENT_BYTES });
        }
        Ok(())
    }
}

impl Integrity {
    /// A new instance with empty caches.
    pub fn new() -> Integrity {
        Integrity { canonicalizer: canonical::Canonicalizer::new() }
    }

    /// The checks every document passes before JSON-LD processing: a JSON object within the
    /// size and depth limits whose contexts (here and in embedded credentials) are allowed.
    /// `field` names the document in errors (`verifiableCredential`).
    pub fn inspect(&self, document: &Value, field: &str) -> Result<(), DocumentError> {
        let mut inspection = Inspection { contexts: &self.canonicalizer.contexts, bytes: 0, path: Vec::new() };
        match inspection.walk(document, field) {
            // The count stops early; report the real size.
            Err(DocumentError::TooLarge { limit, .. }) => {
                return Err(DocumentError::TooLarge { bytes: document.to_string().len(), limit });
            }
            other => other?,
        }
        let object = document.as_object().ok_or_else(|| DocumentError::field(field, "must be a JSON object"))?;
        self.canonicalizer.contexts.check(object.get("@context"), field)
    }

    /// The canonical N-Quads of `document` (its `@context` allowed), as sorted lines.
    pub fn canonical_nquads(&self, document: &Value) -> Result<Vec<String>, DocumentError> {
        self.canonicalizer.canonical_lines(document, None)
    }

    /// Adds a proof to `unsigned` (which must not have one) with `key`.
    pub fn sign(&self, unsigned: &Value, key: &SecretKey, options: &ProofOptions) -> Result<Value, DocumentError> {
        self.inspect(unsigned, "document")?;
        let object = unsigned.as_object().expect("inspected");
        if object.contains_key("proof") {
            return Err(DocumentError::field("document.proof", "the document is already signed"));
        }
        let mut proof = Map::new();
        proof.insert("type".into(), "DataIntegrityProof".into());
        proof.insert("cryptosuite".into(), key.cryptosuite().as_str().into());
        proof.insert("created".into(), crate::credential::xsd_date_time(options.created).into());
        proof.insert("verificationMethod".into(), options.verification_method.clone().into());
        proof.insert("proofPurpose".into(), options.purpose.as_str().into());
        if let Some(challenge) = &options.challenge {
            proof.insert("challenge".into(), challenge.clone().into());
        }
        if let Some(domain) = &options.domain {
            proof.insert("domain".into(), domain.clone().into());
        }
        let hash_data = self.hash_data(unsigned, &proof)?;
        proof.insert("proofValue".into(), multibase::encode(multibase::Base::Base58Btc, key.sign(&hash_data)).into());
        let mut signed = unsigned.clone();
        signed.as_object_mut().expect("object").insert("proof".into(), Value::Object(proof));
        Ok(signed)
    }

    /// Reads the proof of `signed` and computes what its signature must cover. `field` names
    /// the document in errors.
    pub fn prepare(&self, signed: &Value, field: &str) -> Result<PreparedProof, DocumentError> {
        self.inspect(signed, field)?;
        let object = signed.as_object().expect("inspected");
        let proof = match object.get("proof") {
            Some(Value::Object(proof)) => proof,
            Some(Value::Array(proofs)) if proofs.len() == 1 && proofs[0].is_object() => {
                proofs[0].as_object().expect("object")
            }
            Some(Value::Array(_)) => {
                return Err(DocumentError::field(format!("{field}.proof"), "cadena verifies exactly one proof"));
            }
            Some(_) => return Err(DocumentError::field(format!("{field}.proof"), "must be an object")),
            None => {
                return Err(DocumentError::field(format!("{field}.proof"), "is required: the document is not signed"));
            }
        };
        let at = |name: &str| format!("{field}.proof.{name}");
        let text = |name: &str| proof.get(name).and_then(Value::as_str);
        let proof_type = text("type").unwrap_or_default();
        if proof_type != "DataIntegrityProof" {
            return Err(DocumentError::UnsupportedProof { field: at("type"), found: format!("type \"{proof_type}\"") });
        }
        let suite_name = text("cryptosuite").unwrap_or_default();
        let cryptosuite = Cryptosuite::parse(suite_name).ok_or_else(|| DocumentError::UnsupportedProof {
            field: at("cryptosuite"),
            found: format!("cryptosuite \"{suite_name}\""),
        })?;
        let verification_method = text("verificationMethod")
            .ok_or_else(|| DocumentError::field(at("verificationMethod"), "is required (a DID URL)"))?
            .to_owned();
        let purpose_name = text("proofPurpose").unwrap_or_default();
        let purpose = ProofPurpose::parse(purpose_name).ok_or_else(|| {
            DocumentError::field(
                at("proofPurpose"),
                format!("\"{purpose_name}\" is not assertionMethod or authentication"),
            )
        })?;
        let proof_value =
            text("proofValue").ok_or_else(|| DocumentError::field(at("proofValue"), "is required (multibase)"))?;
        if !proof_value.starts_with('z') {
            return Err(DocumentError::field(at("proofValue"), "must be multibase base58btc (start with 'z')"));
        }
        let signature = multibase::decode(proof_value)
            .map(|(_, bytes)| bytes)
            .map_err(|_| DocumentError::field(at("proofValue"), "is not valid base58btc"))?;
        if let Some(ctx) = proof.get("@context")
            && Some(ctx) != object.get("@context")
        {
            return Err(DocumentError::field(at("@context"), "must equal the document's @context"));
        }
        let mut configuration = proof.clone();
        configuration.remove("proofValue");
        configuration.remove("@context");
        let hash_data = self.hash_data(signed, &configuration)?;
        let domain = match proof.get("domain") {
            Some(Value::String(d)) => Some(d.clone()),
            Some(Value::Array(ds)) => ds.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Ok(PreparedProof {
            verification_method,
            purpose,
            cryptosuite,
            created: text("created").map(str::to_owned),
            challenge: text("challenge").map(str::to_owned),
            domain,
            signature,
            hash_data,
        })
    }

    /// SHA-256(canonical proof configuration) ‖ SHA-256(canonical document without its proof).
    fn hash_data(&self, document: &Value, configuration: &Map<String, Value>) -> Result<Vec<u8>, DocumentError> {
        let mut configuration = configuration.clone();
        let context = document.get("@context").cloned().unwrap_or(Value::Null);
        configuration.insert("@context".into(), context);
        let configuration = Value::Object(configuration);
        let hash =
            |lines: Vec<String>| lines.iter().fold(Sha256::new(), |h, l| h.chain_update(l.as_bytes())).finalize();
        let mut data = hash(self.canonicalizer.canonical_lines(&configuration, None)?).to_vec();
        data.extend_from_slice(&hash(self.canonicalizer.canonical_lines(document, Some("proof"))?));
        Ok(data)
    }
}

#[cfg(test)]
mod tests;
