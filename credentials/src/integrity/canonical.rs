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
//!    cached context. Both paths end in the same canonicalisation ([`super::rdfc`]).
//!
//! Tests compare the result with ssi's own pipeline on many documents, and the Digital Bazaar
//! verifier checks what cadena signs.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Map, Value};
use ssi_json_ld::rdf_types::{Id, LexicalQuad, Literal, Term};
use ssi_json_ld::{Expand, IriBuf};
use ssi_rdf::AnyLdEnvironment;

use super::DocumentError;
use super::contexts::Contexts;

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
    /// The shape's quads, the placeholders in them, what each placeholder landed as, and the
    /// pairs of quads that become equal when their placeholders take equal values.
    Usable {
        quads: Vec<LexicalQuad>,
        slots: Vec<(usize, Position, usize)>,
        kinds: Vec<Option<SlotKind>>,
        collisions: Vec<(usize, usize)>,
    },
    /// Placeholders did not land verbatim: always take the full path for this shape.
    Unusable,
}

/// Canonicalises JSON-LD documents to sorted N-Quads lines.
pub(crate) struct Canonicalizer {
    pub(crate) contexts: Contexts,
    templates: Mutex<HashMap<String, Arc<Template>>>,
    /// Keys whose string values stay in the shape: `type`, and keys seen holding a term where
    /// expansion wants an IRI (a `@vocab`-typed property such as `proofPurpose`).
    kept_keys: RwLock<HashSet<String>>,
    marker: String,
    /// Documents that took the full expansion path (tests check the cache is really used).
    pub(crate) full_expansions: std::sync::atomic::AtomicU64,
}

/// Most keys learned into [`Canonicalizer::kept_keys`].
const MAX_KEPT_KEYS: usize = 64;

fn expansion_options() -> ssi_json_ld::expansion::Options {
    // As ssi expands for Data Integrity: undefined terms and invalid values are errors, not
    // silently dropped data.
    ssi_json_ld::expansion::Options {
        policy: ssi_json_ld::expansion::Policy {
            invalid: ssi_json_ld::expansion::Action::Reject,
            allow_undefined: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A string leaf of a document and the key it sits under.
struct Leaf<'a> {
    key: Option<&'a str>,
    value: &'a str,
}

/// Replaces string leaves by placeholders; returns the leaves in walk order.
fn shape_of<'a>(
    value: &'a Value,
    key: Option<&'a str>,
    kept: &HashSet<String>,
    marker: &str,
    leaves: &mut Vec<Leaf<'a>>,
) -> Value {
    match value {
        Value::String(text) => {
            if is_kept(key, kept) {
                value.clone()
            } else {
                leaves.push(Leaf { key, value: text });
                Value::String(format!("{marker}{}", leaves.len() - 1))
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| shape_of(v, key, kept, marker, leaves)).collect()),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| {
                    let shaped = if k == "@context" { v.clone() } else { shape_of(v, Some(k), kept, marker, leaves) };
                    (k.clone(), shaped)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Writes what identifies `value`'s shape (as [`shape_of`] would make it) to `out`, and
/// collects its leaves as [`shape_of`] does: the cache key of a shape, without building it.
/// Every part is length-prefixed or fixed, so distinct shapes give distinct keys. With `kept`
/// None (an `@context`), every string is kept.
fn write_shape_key<'a>(
    out: &mut String,
    value: &'a Value,
    key: Option<&'a str>,
    kept: Option<&HashSet<String>>,
    leaves: &mut Vec<Leaf<'a>>,
) {
    match value {
        Value::String(text) => match kept {
            Some(kept) if !is_kept(key, kept) => {
                leaves.push(Leaf { key, value: text });
                out.push('L');
            }
            _ => {
                out.push('s');
                write_text(out, text);
            }
        },
        Value::Array(items) => {
            out.push('[');
            for item in items {
                write_shape_key(out, item, key, kept, leaves);
            }
            out.push(']');
        }
        Value::Object(object) => {
            out.push('{');
            for (k, v) in object {
                write_text(out, k);
                let kept = if k == "@context" { None } else { kept };
                write_shape_key(out, v, Some(k), kept, leaves);
            }
            out.push('}');
        }
        Value::Number(number) => {
            let _ = write!(out, "n{number};");
        }
        Value::Bool(true) => out.push('t'),
        Value::Bool(false) => out.push('f'),
        Value::Null => out.push('z'),
    }
}

fn write_text(out: &mut String, text: &str) {
    let _ = write!(out, "{}:", text.len());
    out.push_str(text);
}

/// Whether a string under `key` stays in the shape: the values of `type`, of keywords and of
/// the learned keys select term definitions and scoped contexts, or expand as terms.
fn is_kept(key: Option<&str>, kept: &HashSet<String>) -> bool {
    matches!(key, Some(k) if kept.contains(k) || (k.starts_with('@') && k != "@id" && k != "@value"))
}

impl Canonicalizer {
    pub(crate) fn new() -> Canonicalizer {
        // A marker no document can predict, so no real value is ever mistaken for a placeholder.
        let nonce: u64 = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        Canonicalizer {
            contexts: Contexts::new(),
            templates: Mutex::new(HashMap::new()),
            kept_keys: RwLock::new(HashSet::from(["type".to_owned()])),
            marker: format!("urn:x-cadena-slot:{nonce:016x}:"),
            full_expansions: Default::default(),
        }
    }

    /// The canonical N-Quads lines (sorted, deduplicated) of `document` without its top-level
    /// entry `without` (a signed document's `proof`), its `@context` checked.
    pub(crate) fn canonical_lines(
        &self,
        document: &Value,
        without: Option<&str>,
    ) -> Result<Vec<String>, DocumentError> {
        super::rdfc::canonical_lines(&self.quads(document, without)?)
    }

    /// The canonical lines through ssi's expansion alone, without either cache: the reference
    /// the cached path is tested against.
    #[cfg(test)]
    pub(crate) fn canonical_lines_uncached(&self, document: &Value) -> Result<Vec<String>, DocumentError> {
        use ssi_json_ld::Expandable;
        let compact = ssi_json_ld::CompactJsonLd(json_syntax::Value::from_serde_json(document.clone()));
        let expanded = futures::executor::block_on(compact.expand(&self.contexts.loader))
            .map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))?;
        let mut ld = ssi_rdf::LdEnvironment::default();
        ld.canonical_form_of(&expanded).map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))
    }

    /// The document's RDF quads (blank node labels arbitrary), deduplicated.
    fn quads(&self, document: &Value, without: Option<&str>) -> Result<Vec<LexicalQuad>, DocumentError> {
        let object = document.as_object().ok_or_else(|| DocumentError::field("document", "must be a JSON object"))?;
        let context = object.get("@context").ok_or_else(|| DocumentError::field("@context", "is required"))?;
        let active = self.contexts.processed(context)?;
        let mut leaves = Vec::new();
        let mut key = String::with_capacity(2048);
        let kept = self.kept_keys.read().expect("lock");
        let entries = || object.iter().filter(|(k, _)| Some(k.as_str()) != without);
        for (k, v) in entries() {
            write_text(&mut key, k);
            if k == "@context" {
                write_shape_key(&mut key, v, None, None, &mut leaves)
            } else {
                write_shape_key(&mut key, v, Some(k), Some(&kept), &mut leaves)
            }
        }
        // The shape itself is only built to make a template of it.
        let shape = || {
            let mut leaves = Vec::new();
            let mut shape = Map::new();
            for (k, v) in entries() {
                let shaped =
                    if k == "@context" { v.clone() } else { shape_of(v, Some(k), &kept, &self.marker, &mut leaves) };
                shape.insert(k.clone(), shaped);
            }
            Value::Object(shape)
        };
        let cached = self.templates.lock().expect("lock").get(&key).cloned();
        let template = match cached {
            Some(template) => template,
            None => {
                let template = Arc::new(self.build_template(&shape(), leaves.len(), &active));
                let mut templates = self.templates.lock().expect("lock");
                if templates.len() < MAX_TEMPLATES {
                    templates.insert(key, template.clone());
                }
                template
            }
        };
        drop(kept);
        if let Template::Usable { quads, slots, kinds, collisions } = template.as_ref() {
            let iris: Option<Vec<Option<IriBuf>>> = leaves
                .iter()
                .zip(kinds)
                .map(|(leaf, kind)| match kind {
                    Some(SlotKind::Iri) => self.substitutable_iri(leaf.value).map(Some),
                    _ => Some(None),
                })
                .collect();
            match iris {
                Some(iris) => return Ok(instantiate(quads, slots, collisions, &iris, &leaves)),
                None => self.learn_kept_keys(&leaves, kinds),
            }
        }
        self.full_expansions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut bare = document.clone();
        if let (Some(object), Some(key)) = (bare.as_object_mut(), without) {
            object.remove(key);
        }
        self.expand_to_quads(&bare, &active)
    }

    /// A value that expansion read as a term where the shape's placeholder was an IRI: its key
    /// is a `@vocab`-typed property. Keeping such keys' values in the shape lets the next
    /// document of this kind use a template instead of failing substitution again.
    fn learn_kept_keys(&self, leaves: &[Leaf<'_>], kinds: &[Option<SlotKind>]) {
        let mut kept = self.kept_keys.write().expect("lock");
        for (leaf, kind) in leaves.iter().zip(kinds) {
            if *kind == Some(SlotKind::Iri)
                && self.substitutable_iri(leaf.value).is_none()
                && let Some(key) = leaf.key
                && kept.len() < MAX_KEPT_KEYS
            {
                kept.insert(key.to_owned());
            }
        }
    }

    fn build_template(&self, shape: &Value, slot_count: usize, active: &ssi_json_ld::Context) -> Template {
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
            if let Some(Term::Literal(Literal { type_: ssi_json_ld::rdf_types::LiteralType::Any(t), .. })) =
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
        let collisions = collision_candidates(&quads, &slots);
        Template::Usable { quads, slots, kinds, collisions }
    }

    /// `leaf` as the IRI that expanding it in an IRI position gives, when that is `leaf` itself:
    /// an absolute IRI without dot segments whose scheme and whole text are not terms.
    fn substitutable_iri(&self, leaf: &str) -> Option<IriBuf> {
        let iri = IriBuf::new(leaf.to_owned()).ok()?;
        let scheme = iri.scheme().as_str();
        let dot_segments = iri.path().as_str().split('/').any(|s| s == "." || s == "..");
        (!dot_segments && !self.contexts.terms.contains(scheme) && !self.contexts.terms.contains(leaf)).then_some(iri)
    }

    fn expand_to_quads(
        &self,
        document: &Value,
        active: &ssi_json_ld::Context,
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
        let mut ld = ssi_rdf::LdEnvironment::default();
        let mut quads = ld.quads_of(&expanded).map_err(|e| DocumentError::MalformedJsonLd(e.to_string()))?;
        quads.sort();
        quads.dedup();
        Ok(quads)
    }
}

fn describe_expansion_error(error: &ssi_json_ld::expansion::Error) -> String {
    match error {
        ssi_json_ld::expansion::Error::KeyExpansionFailed(key) => {
            format!("the property \"{key}\" is not defined by the document's contexts")
        }
        other => other.to_string(),
    }
}

/// Pairs of distinct template quads that substitution could make equal: at every position
/// they hold the same term, or at least one holds a placeholder.
fn collision_candidates(quads: &[LexicalQuad], slots: &[(usize, Position, usize)]) -> Vec<(usize, usize)> {
    let holes = |q: usize| -> [bool; 3] {
        let mut holes = [false; 3];
        for (slot_quad, position, _) in slots.iter().filter(|(i, _, _)| *i == q) {
            let _ = slot_quad;
            holes[match position {
                Position::Subject => 0,
                Position::Object => 1,
                Position::Graph => 2,
            }] = true;
        }
        holes
    };
    let holes: Vec<[bool; 3]> = (0..quads.len()).map(holes).collect();
    let mut pairs = Vec::new();
    for a in 0..quads.len() {
        for b in a + 1..quads.len() {
            let (qa, qb) = (&quads[a], &quads[b]);
            if !holes[a].iter().chain(&holes[b]).any(|h| *h) || qa.1 != qb.1 {
                continue;
            }
            let same_or_hole = [
                holes[a][0] || holes[b][0] || qa.0 == qb.0,
                // A literal placeholder keeps its datatype or language, which must match too.
                match (&qa.2, &qb.2) {
                    (Term::Literal(la), Term::Literal(lb)) => {
                        la.type_ == lb.type_ && (holes[a][1] || holes[b][1] || la.value == lb.value)
                    }
                    (x, y) => holes[a][1] || holes[b][1] || x == y,
                },
                holes[a][2] || holes[b][2] || qa.3 == qb.3,
            ];
            if same_or_hole.iter().all(|ok| *ok) {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

fn instantiate(
    quads: &[LexicalQuad],
    slots: &[(usize, Position, usize)],
    collisions: &[(usize, usize)],
    iris: &[Option<IriBuf>],
    leaves: &[Leaf<'_>],
) -> Vec<LexicalQuad> {
    let mut out = quads.to_vec();
    for &(q, position, slot) in slots {
        let quad = &mut out[q];
        match (position, &iris[slot]) {
            (Position::Subject, Some(iri)) => quad.0 = Id::Iri(iri.clone()),
            (Position::Graph, Some(iri)) => quad.3 = Some(Id::Iri(iri.clone())),
            (Position::Object, Some(iri)) => quad.2 = Term::Id(Id::Iri(iri.clone())),
            (_, None) => {
                if let Term::Literal(literal) = &mut quad.2 {
                    literal.value = leaves[slot].value.to_owned();
                }
            }
        }
    }
    // Equal values can make two quads one (a dataset is a set): drop the second of each
    // candidate pair that became equal.
    let mut duplicate = vec![false; out.len()];
    for &(a, b) in collisions {
        if !duplicate[a] && out[a] == out[b] {
            duplicate[b] = true;
        }
    }
    if duplicate.iter().any(|d| *d) {
        let mut keep = duplicate.iter().map(|d| !d);
        out.retain(|_| keep.next().unwrap_or(true));
    }
    out
}
