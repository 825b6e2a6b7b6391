//! The JSON-LD contexts cadena accepts, loaded from memory only, and the cache of their
//! processed (active) form.
//!
//! A verifier never fetches a context: a document naming any other context is refused by name
//! before any JSON-LD processing. Processing a context (turning its JSON into term definitions)
//! is most of what JSON-LD costs, and every AEO credential names the same two contexts, so the
//! processed result is kept per distinct `@context` value.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ssi_json_ld::syntax::TryFromJson;
use ssi_json_ld::{IriBuf, LoadError, Loader, Process, RemoteDocument};

use super::DocumentError;
use crate::credential::{AEO_CONTEXT, AEO_CONTEXT_DOCUMENT};

/// The contexts a document may name, in the order they are usually listed.
pub const ALLOWED_CONTEXTS: [&str; 5] = [
    crate::credential::VC_V2_CONTEXT,
    AEO_CONTEXT,
    "https://w3id.org/security/data-integrity/v2",
    "https://w3id.org/security/multikey/v1",
    "https://www.w3.org/ns/did/v1",
];

/// The most distinct `@context` values whose processed form is kept.
const MAX_PROCESSED: usize = 32;

/// A context URL outside [`ALLOWED_CONTEXTS`].
#[derive(Debug, thiserror::Error)]
#[error("cadena does not load the JSON-LD context {0}")]
struct UnknownContext(String);

/// Serves [`ALLOWED_CONTEXTS`] from memory and nothing else.
#[derive(Clone)]
pub(crate) struct AllowlistLoader {
    documents: Arc<HashMap<String, RemoteDocument>>,
}

impl AllowlistLoader {
    fn new() -> AllowlistLoader {
        use ssi_json_ld as c;
        let aeo = json_syntax::Value::from_serde_json(
            serde_json::from_str(AEO_CONTEXT_DOCUMENT).expect("the shipped AEO context is JSON"),
        );
        let aeo_iri = IriBuf::new(AEO_CONTEXT.to_owned()).expect("an IRI");
        let documents = HashMap::from([
            (crate::credential::VC_V2_CONTEXT.to_owned(), c::CREDENTIALS_V2_CONTEXT_DOCUMENT.clone()),
            (
                AEO_CONTEXT.to_owned(),
                RemoteDocument::new(Some(aeo_iri), Some("application/ld+json".parse().expect("media type")), aeo),
            ),
            (ALLOWED_CONTEXTS[2].to_owned(), c::W3ID_DATA_INTEGRITY_V2_CONTEXT_DOCUMENT.clone()),
            (ALLOWED_CONTEXTS[3].to_owned(), c::W3ID_MULTIKEY_V1_CONTEXT_DOCUMENT.clone()),
            (ALLOWED_CONTEXTS[4].to_owned(), c::DID_V1_CONTEXT_DOCUMENT.clone()),
        ]);
        AllowlistLoader { documents: Arc::new(documents) }
    }

    /// Every term any allowed context defines, at any depth (scoped contexts included). An IRI
    /// whose scheme is one of these could be read as a compact IRI, so the shape cache never
    /// substitutes such a value (see `canonical`).
    fn defined_terms(&self) -> HashSet<String> {
        fn walk(value: &json_syntax::Value, terms: &mut HashSet<String>, in_context: bool) {
            match value {
                json_syntax::Value::Object(object) => {
                    for entry in object.iter() {
                        let key = entry.key.as_str();
                        if in_context && !key.starts_with('@') {
                            terms.insert(key.to_owned());
                        }
                        walk(&entry.value, terms, key == "@context" || (in_context && entry.value.is_object()));
                    }
                }
                json_syntax::Value::Array(items) => items.iter().for_each(|v| walk(v, terms, in_context)),
                _ => {}
            }
        }
        let mut terms = HashSet::new();
        for document in self.documents.values() {
            walk(document.document(), &mut terms, false);
        }
        terms
    }
}

impl Loader for AllowlistLoader {
    async fn load(&self, url: &ssi_json_ld::Iri) -> Result<RemoteDocument<IriBuf>, LoadError> {
        self.documents
            .get(url.as_str())
            .cloned()
            .ok_or_else(|| LoadError::new(url.to_owned(), UnknownContext(url.as_str().to_owned())))
    }
}

/// The allowed contexts, their processed forms, and the terms they define.
pub(crate) struct Contexts {
    pub(crate) loader: AllowlistLoader,
    pub(crate) terms: HashSet<String>,
    processed: Mutex<HashMap<String, Arc<ssi_json_ld::Context>>>,
}

impl Contexts {
    pub(crate) fn new() -> Contexts {
        let loader = AllowlistLoader::new();
        let terms = loader.defined_terms();
        Contexts { loader, terms, processed: Mutex::new(HashMap::new()) }
    }

    /// Checks a document's `@context`: present, a URL or a list of URLs, each allowed, the VC
    /// base context first when it is a credential or presentation.
    pub(crate) fn check(&self, context: Option<&serde_json::Value>, field: &str) -> Result<(), DocumentError> {
        let context = context.ok_or_else(|| DocumentError::field(format!("{field}.@context"), "is required"))?;
        let urls: Vec<&serde_json::Value> = match context {
            serde_json::Value::Array(items) if !items.is_empty() => items.iter().collect(),
            serde_json::Value::String(_) => vec![context],
            _ => {
                return Err(DocumentError::field(
                    format!("{field}.@context"),
                    "must be a context URL or a non-empty list of them",
                ));
            }
        };
        for (i, url) in urls.iter().enumerate() {
            let at = format!("{field}.@context[{i}]");
            match url {
                serde_json::Value::String(url) if ALLOWED_CONTEXTS.contains(&url.as_str()) => {}
                serde_json::Value::String(url) => {
                    return Err(DocumentError::UnknownContext { field: at, url: url.clone() });
                }
                _ => {
                    return Err(DocumentError::field(
                        at,
                        "embedded context objects are not accepted; name a published context by URL",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The active context after processing `context` (already [`Contexts::check`]ed).
    pub(crate) fn processed(&self, context: &serde_json::Value) -> Result<Arc<ssi_json_ld::Context>, DocumentError> {
        let key = context.to_string();
        if let Some(found) = self.processed.lock().expect("lock").get(&key) {
            return Ok(found.clone());
        }
        let syntax =
            ssi_json_ld::syntax::context::Context::try_from_json(json_syntax::Value::from_serde_json(context.clone()))
                .map_err(|e| DocumentError::MalformedJsonLd(format!("@context: {e}")))?;
        let initial = ssi_json_ld::Context::default();
        // The loader serves memory only, so the future completes without waiting on anything.
        let processed =
            futures::executor::block_on(syntax.process_with(&mut (), &initial, &self.loader, None, Default::default()))
                .map_err(|e| DocumentError::MalformedJsonLd(format!("@context: {e}")))?
                .into_processed();
        let processed = Arc::new(processed);
        let mut cache = self.processed.lock().expect("lock");
        if cache.len() < MAX_PROCESSED {
            cache.insert(key, processed.clone());
        }
        Ok(processed)
    }
}
