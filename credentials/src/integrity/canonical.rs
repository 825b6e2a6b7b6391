//! RDF Dataset Canonicalization (RDFC-1.0) of a JSON-LD document, as the `*-rdfc-*`
//! cryptosuites hash it, with the work JSON-LD repeats for every document cached.
//!
//! Two caches, each exact:
//!
//! 1. **Processed contexts** (`contexts`): the active context of each distinct `@context`.
//! 2. **Shape templates.** Expanding a document and turning it into RDF depends on its keys,
//!    its `type` values and the active context, and on its string values only in where they
//!    land: a string either becomes a literal verbatim, or an IRI that an absolute IRI expands
//!    to unchanged. So each document is split into its *shape* (every string leaf outside
//!    `@context` and `type` replaced by a unique placeholder IRI) and its leaf values. The
//!    shape is expanded to RDF once; the quads are kept with the position of every
//!    placeholder, and later documents of the same shape get their quads by putting their
//!    own values back in. A value is only put back where that is exactly what expansion
//!    would have produced: into a literal anything; into an IRI only an absolute IRI without
//!    dot segments whose scheme and whole text are not terms of any allowed context (so it
//!    cannot be a compact IRI or a term). Anything else, and any shape whose placeholders do
//!    not all land verbatim (a `@json` literal, say), takes the full path: expansion with the
//!    cached context. Both paths end in the same RDFC-1.0 implementation (ssi's).
//!
//! Tests compare the result with ssi's own pipeline on many documents, and the Digital Bazaar
//! verifier checks what cadena signs.
//!
//! RDFC-1.0 costs factorial time on sets of blank nodes that look alike. Before canonicalising,
//! the blank nodes of every dataset are counted and grouped by their first-degree hash (the
//! algorithm's own first step); more than [`MAX_BLANK_NODES`] of them, or more than
//! [`MAX_INDISTINGUISHABLE`] sharing a hash, is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use ssi::json_ld::Expand;
use ssi::json_ld::rdf_types::{Id, LexicalQuad, Literal, Term};
use ssi::rdf::AnyLdEnvironment;
use ssi::rdf::urdna2015::{self, BlankNodeComponents, IdentifierIssuer, NormalizationState};

use super::DocumentError;
use super::contexts::Contexts;

/// Most blank nodes a document may produce.
pub const MAX_BLANK_NODES: usize = 64;
/// Most blank nodes that may share a first-degree hash (the canonicalisation then permutes them).
pub const MAX_INDISTINGUISHABLE: usize = 3;
/// Most shapes kept.
const MAX_TEMPLATES: usize = 512;

/// Where a placeholder landed in a shape's quads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotKind {
    /// As the lexical value of a literal.
    Literal,
    /// As an IRI (subject, object or graph name).
    Iri,
}

/// A quad component that holds a placeholder.
#[derive(Clone, Copy, Debug)]
enum Position {
    Subject,
    Object,
    Graph,
}

#[derive(Debug)]
enum Template {
    /// The shape's quads, and for each quad the placeholders in it.
    Usable { quads: Vec<LexicalQuad>, slots: Vec<(usize, Position, usize)>, kinds: Vec<Option<SlotKind>> },
    /// Placeholders did not land verbatim: always take the full path for this shape.
    Unusable,
}

/// Canonicalises JSON-LD documents to sorted N-Quads lines.
pub(crate) struct Canonicalizer {
    pub(crate) contexts: Contexts,
    templates: Mutex<HashMap<String, Arc<Template>>>,
    marker: String,
}

fn expansion_options() -> ssi::json_ld::expansion::Options {
    // As ssi expands for Data Integrity: undefined terms and invalid values are errors, not
    // silently dropped data.
    ssi::json_ld::expansion::Options {
        policy: ssi::json_ld::expansion::Policy {
            invalid: ssi::json_ld::expansion::Action::Reject,
            allow_undefined: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Replaces string leaves by placeholders; returns the leaves in walk order.
fn shape_of<'a>(value: &'a Value, key: Option<&str>, marker: &str, leaves: &mut Vec<&'a str>) -> Value {
    match value {
        Value::String(text) => {
            // Keys are kept, and so are the values of `type` and keywords: they select term
            // definitions and scoped contexts.
            let kept = matches!(key, Some(k) if k == "type" || (k.starts_with('@') && k != "@id" && k != "@value"));
            if kept {
                value.clone()
            } else {
                leaves.push(text);
                Value::String(format!("{marker}{}", leaves.len() - 1))
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| shape_of(v, key, marker, leaves)).collect()),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| {
                    (k.clone(), if k == "@context" { v.clone() } else { shape_of(v, Some(k), marker, leaves) })
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Canonicalizer {
    pub(crate) fn new() -> Canonicalizer {
        // A marker no document can predict, so no real value is ever mistaken for a placeholder.
        let nonce: u64 = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        Canonicalizer {
            contexts: Contexts::new(),
            templates: Mutex::new(HashMap::new()),
            marker: format!("urn:x-cadena-slot:{nonce:016x}:"),
        }
    }

    /// The canonical N-Quads lines (sorted, deduplicated) of `document`, whose `@context` has
    /// been checked.
    pub(crate) fn canonical_lines(&self, document: &Value) -> Result<Vec<String>, DocumentError> {
        let quads = self.quads(document)?;
        check_canonicalization_work(&quads)?;
        Ok(urdna2015::normalize(quads.iter().map(|q| q.as_lexical_quad_ref())).into_nquads_lines())
    }

    /// The canonical lines through ssi's expansion alone, without either cache: the reference
    /// the cached path is tested against.
    #[cfg(test)]
    pub(crate) fn canonical_lines_uncached(&self, document: &Value) -> Result<Vec<String>, DocumentError> {
        use ssi::json_ld::Expandable;
        let compact = ssi::json_ld::CompactJsonLd(json_syntax::Value::from_serde_json(document.clone()));
        let expanded = futures::executor::block_on(compact.expand(&self.contexts.loader))
            .map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))?;
        let mut ld = ssi::rdf::LdEnvironment::default();
        ld.canonical_form_of(&expanded).map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))
    }

    /// The document's RDF quads (blank node labels arbitrary), deduplicated.
    fn quads(&self, document: &Value) -> Result<Vec<LexicalQuad>, DocumentError> {
        let object = document.as_object().ok_or_else(|| DocumentError::field("document", "must be a JSON object"))?;
        let context = object.get("@context").ok_or_else(|| DocumentError::field("@context", "is required"))?;
        let active = self.contexts.processed(context)?;
        let mut leaves = Vec::new();
        let shape = shape_of(document, None, &self.marker, &mut leaves);
        let key = shape.to_string();
        let cached = self.templates.lock().expect("lock").get(&key).cloned();
        let template = match cached {
            Some(template) => template,
            None => {
                let template = Arc::new(self.build_template(&shape, leaves.len(), &active));
                let mut templates = self.templates.lock().expect("lock");
                if templates.len() < MAX_TEMPLATES {
                    templates.insert(key, template.clone());
                }
                template
            }
        };
        if let Template::Usable { quads, slots, kinds } = template.as_ref()
            && leaves.iter().zip(kinds).all(|(leaf, kind)| self.substitutable(leaf, *kind))
        {
            return Ok(instantiate(quads, slots, kinds, &leaves));
        }
        self.expand_to_quads(document, &active)
    }

    fn build_template(&self, shape: &Value, slot_count: usize, active: &ssi::json_ld::Context) -> Template {
        let Ok(quads) = self.expand_to_quads(shape, active) else {
            // The shape itself does not expand (a placeholder where a term must be, say): the
            // full path will report the document's own error.
            return Template::Unusable;
        };
        let mut kinds: Vec<Option<SlotKind>> = vec![None; slot_count];
        let mut slots = Vec::new();
        let slot_of = |text: &str| text.strip_prefix(self.marker.as_str()).and_then(|n| n.parse::<usize>().ok());
        for (q, quad) in quads.iter().enumerate() {
            let mut places: Vec<(Position, &str, SlotKind)> = Vec::new();
            if let Id::Iri(iri) = &quad.0 {
                places.push((Position::Subject, iri.as_str(), SlotKind::Iri));
            }
            match &quad.2 {
                Term::Id(Id::Iri(iri)) => places.push((Position::Object, iri.as_str(), SlotKind::Iri)),
                Term::Literal(literal) => places.push((Position::Object, literal.value.as_str(), SlotKind::Literal)),
                Term::Id(Id::Blank(_)) => {}
            }
            if let Some(Id::Iri(iri)) = &quad.3 {
                places.push((Position::Graph, iri.as_str(), SlotKind::Iri));
            }
            if let Some(Term::Literal(Literal { type_: ssi::json_ld::rdf_types::LiteralType::Any(t), .. })) =
                Some(&quad.2)
                && t.as_str().contains(&self.marker)
            {
                return Template::Unusable;
            }
            if quad.1.as_str().contains(&self.marker) {
                return Template::Unusable;
            }
            for (position, text, kind) in places {
                match slot_of(text) {
                    Some(slot) if slot < slot_count => {
                        if kinds[slot].is_some_and(|k| k != kind) {
                            return Template::Unusable;
                        }
                        kinds[slot] = Some(kind);
                        slots.push((q, position, slot));
                    }
                    // A placeholder transformed on the way (JSON-escaped, resolved, prefixed):
                    // substituting into it would not reproduce expansion.
                    _ if text.contains(&self.marker) => return Template::Unusable,
                    _ => {}
                }
            }
        }
        Template::Usable { quads, slots, kinds }
    }

    /// Whether `leaf` may replace a placeholder that landed as `kind`.
    fn substitutable(&self, leaf: &str, kind: Option<SlotKind>) -> bool {
        match kind {
            // The value does not reach the RDF at all (an `@index`, say).
            None | Some(SlotKind::Literal) => true,
            Some(SlotKind::Iri) => {
                let Ok(iri) = ssi::json_ld::iref::Iri::new(leaf) else { return false };
                let scheme = iri.scheme().as_str();
                let path = iri.path().as_str();
                let dot_segments = path.split('/').any(|s| s == "." || s == "..");
                !dot_segments && !self.contexts.terms.contains(scheme) && !self.contexts.terms.contains(leaf)
            }
        }
    }

    fn expand_to_quads(
        &self,
        document: &Value,
        active: &ssi::json_ld::Context,
    ) -> Result<Vec<LexicalQuad>, DocumentError> {
        let mut bare = document.clone();
        if let Some(object) = bare.as_object_mut() {
            object.remove("@context");
        }
        let bare = json_syntax::Value::from_serde_json(bare);
        let expanded = futures::executor::block_on(bare.expand_full(
            &mut (),
            active.clone(),
            None,
            &self.contexts.loader,
            expansion_options(),
            (),
        ))
        .map_err(|e| DocumentError::MalformedJsonLd(describe_expansion_error(&e)))?;
        let mut ld = ssi::rdf::LdEnvironment::default();
        let mut quads = ld.quads_of(&expanded).map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))?;
        quads.sort();
        quads.dedup();
        Ok(quads)
    }
}

fn describe_expansion_error(error: &ssi::json_ld::expansion::Error) -> String {
    match error {
        ssi::json_ld::expansion::Error::KeyExpansionFailed(key) => {
            format!("the property \"{key}\" is not defined by the document's contexts")
        }
        other => other.to_string(),
    }
}

fn instantiate(
    quads: &[LexicalQuad],
    slots: &[(usize, Position, usize)],
    kinds: &[Option<SlotKind>],
    leaves: &[&str],
) -> Vec<LexicalQuad> {
    let mut out = quads.to_vec();
    for &(q, position, slot) in slots {
        let value = leaves[slot];
        let quad = &mut out[q];
        let iri = || ssi::json_ld::IriBuf::new(value.to_owned()).expect("checked by substitutable");
        match (position, kinds[slot]) {
            (Position::Subject, _) => quad.0 = Id::Iri(iri()),
            (Position::Graph, _) => quad.3 = Some(Id::Iri(iri())),
            (Position::Object, Some(SlotKind::Iri)) => quad.2 = Term::Id(Id::Iri(iri())),
            (Position::Object, _) => {
                if let Term::Literal(literal) = &mut quad.2 {
                    literal.value = value.to_owned();
                }
            }
        }
    }
    // Two positions naming the same node now give the same quad twice: a dataset is a set.
    out.sort();
    out.dedup();
    out
}

/// Refuses datasets whose canonicalisation would take factorial time (see the module docs).
fn check_canonicalization_work(quads: &[LexicalQuad]) -> Result<(), DocumentError> {
    let mut state = NormalizationState {
        blank_node_to_quads: Default::default(),
        hash_to_blank_nodes: Default::default(),
        canonical_issuer: IdentifierIssuer::new("_:c14n".to_owned()),
    };
    for quad in quads {
        let quad = quad.as_lexical_quad_ref();
        for blank in quad.blank_node_components() {
            state.blank_node_to_quads.entry(blank).or_default().push(quad);
        }
    }
    let count = state.blank_node_to_quads.len();
    if count > MAX_BLANK_NODES {
        return Err(DocumentError::TooManyBlankNodes { count, limit: MAX_BLANK_NODES });
    }
    if count <= 1 {
        return Ok(());
    }
    let nodes: Vec<_> = state.blank_node_to_quads.keys().copied().collect();
    let mut groups: HashMap<String, usize> = HashMap::new();
    for node in nodes {
        *groups.entry(urdna2015::hash_first_degree_quads(&mut state, node)).or_default() += 1;
    }
    match groups.values().max() {
        Some(&largest) if largest > MAX_INDISTINGUISHABLE => {
            Err(DocumentError::IndistinguishableBlankNodes { count: largest, limit: MAX_INDISTINGUISHABLE })
        }
        _ => Ok(()),
    }
}
