//! RDFC-1.0 canonical N-Quads of a dataset, with the limits that keep it cheap.
//!
//! Every document cadena signs or verifies (a credential, a presentation, a proof
//! configuration) has blank nodes that differ at the first degree: each is told apart by the
//! quads it appears in. For such a dataset the algorithm ends after its first step: each blank
//! node's first-degree hash is unique, and canonical labels are issued in the order of those
//! hashes (RDFC-1.0 §4.4.3, steps 3–5). That case is computed here, writing N-Quads straight
//! into buffers; any other dataset (blank nodes sharing a hash) goes to ssi's implementation of
//! the whole algorithm. Both paths write N-Quads exactly as ssi does (its escaping included), and
//! the tests compare them with ssi's on documents of every shape cadena meets and on crafted
//! datasets (escapes, language tags, datatypes, graph names, look-alike blank nodes).
//!
//! Before any hashing beyond the first degree, a dataset with more than [`MAX_BLANK_NODES`]
//! blank nodes, or more than [`MAX_INDISTINGUISHABLE`] sharing a first-degree hash, is refused:
//! canonicalising look-alike blank nodes costs factorial time.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use ssi_json_ld::rdf_types::{Id, LexicalQuad, Literal, LiteralType, Term};
use ssi_rdf::urdna2015;

use super::DocumentError;

/// Most blank nodes a document may produce.
pub const MAX_BLANK_NODES: usize = 64;
/// Most blank nodes that may share a first-degree hash (the canonicalisation then permutes them).
pub const MAX_INDISTINGUISHABLE: usize = 3;

/// The canonical N-Quads lines of `quads` (a set: no quad twice), sorted, each ending in " .\n".
pub(crate) fn canonical_lines(quads: &[LexicalQuad]) -> Result<Vec<String>, DocumentError> {
    // Each blank node and the quads it appears in, in first-appearance order.
    let mut blank_nodes: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (q, quad) in quads.iter().enumerate() {
        for label in blank_labels(quad).into_iter().flatten() {
            let slot = *index.entry(label).or_insert_with(|| {
                blank_nodes.push((label, Vec::new()));
                blank_nodes.len() - 1
            });
            // A quad naming the node twice is listed twice, as the algorithm's map has it.
            blank_nodes[slot].1.push(q);
        }
    }
    if blank_nodes.len() > MAX_BLANK_NODES {
        return Err(DocumentError::TooManyBlankNodes { count: blank_nodes.len(), limit: MAX_BLANK_NODES });
    }
    let mut hashed: Vec<([u8; 32], &str)> =
        blank_nodes.iter().map(|(label, appears)| (first_degree_hash(quads, appears, label), *label)).collect();
    // Code point order of the hex hashes is the order of the hash bytes.
    hashed.sort_unstable();
    let largest_group = hashed.chunk_by(|a, b| a.0 == b.0).map(<[_]>::len).max().unwrap_or(0);
    if largest_group > MAX_INDISTINGUISHABLE {
        return Err(DocumentError::IndistinguishableBlankNodes { count: largest_group, limit: MAX_INDISTINGUISHABLE });
    }
    if largest_group > 1 {
        // Look-alike blank nodes need the n-degree hashes: ssi's whole algorithm.
        return Ok(urdna2015::normalize(quads.iter().map(|q| q.as_lexical_quad_ref())).into_nquads_lines());
    }
    let canonical: HashMap<&str, String> =
        hashed.iter().enumerate().map(|(n, (_, label))| (*label, format!("_:c14n{n}"))).collect();
    let mut lines: Vec<String> = quads
        .iter()
        .map(|quad| {
            let mut line = String::with_capacity(128);
            write_quad(&mut line, quad, &|label| canonical[label].as_str());
            line
        })
        .collect();
    lines.sort_unstable();
    lines.dedup();
    Ok(lines)
}

/// The blank node labels of a quad's subject, object and graph.
fn blank_labels(quad: &LexicalQuad) -> [Option<&str>; 3] {
    fn blank(id: &Id) -> Option<&str> {
        match id {
            Id::Blank(label) => Some(label.as_str()),
            Id::Iri(_) => None,
        }
    }
    [
        blank(&quad.0),
        match &quad.2 {
            Term::Id(id) => blank(id),
            Term::Literal(_) => None,
        },
        quad.3.as_ref().and_then(blank),
    ]
}

/// RDFC-1.0 §4.6: the quads of `label` with it written `_:a` and every other blank node `_:z`,
/// sorted, concatenated and hashed.
fn first_degree_hash(quads: &[LexicalQuad], appears: &[usize], label: &str) -> [u8; 32] {
    let mut lines: Vec<String> = appears
        .iter()
        .map(|&q| {
            let mut line = String::with_capacity(128);
            write_quad(&mut line, &quads[q], &|other| if other == label { "_:a" } else { "_:z" });
            line
        })
        .collect();
    lines.sort_unstable();
    lines.iter().fold(Sha256::new(), |hash, line| hash.chain_update(line.as_bytes())).finalize().into()
}

/// Writes `quad` as an N-Quads statement (with its " .\n"), blank nodes relabelled.
fn write_quad<'q>(out: &mut String, quad: &'q LexicalQuad, relabel: &dyn Fn(&'q str) -> &'q str) {
    write_id(out, &quad.0, relabel);
    out.push(' ');
    write_iri(out, quad.1.as_str());
    out.push(' ');
    match &quad.2 {
        Term::Id(id) => write_id(out, id, relabel),
        Term::Literal(literal) => write_literal(out, literal),
    }
    if let Some(graph) = &quad.3 {
        out.push(' ');
        write_id(out, graph, relabel);
    }
    out.push_str(" .\n");
}

fn write_id<'q>(out: &mut String, id: &'q Id, relabel: &dyn Fn(&'q str) -> &'q str) {
    match id {
        Id::Iri(iri) => write_iri(out, iri.as_str()),
        Id::Blank(label) => out.push_str(relabel(label.as_str())),
    }
}

/// An IRI as ssi's N-Quads writer has it: characters IRIREF excludes escaped (a parsed IRI has
/// none; kept for byte equality).
fn write_iri(out: &mut String, iri: &str) {
    out.push('<');
    let excluded = |b: u8| matches!(b, 0..=0x20 | b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\');
    if iri.bytes().any(excluded) {
        for c in iri.chars() {
            if c.is_ascii() && excluded(c as u8) {
                let _ = write!(out, "\\u{:#04x}", u32::from(c));
            } else {
                out.push(c);
            }
        }
    } else {
        out.push_str(iri);
    }
    out.push('>');
}

/// A literal: its quoted value (`"`, `\`, LF and CR escaped), then its language tag, or its
/// datatype unless that is `xsd:string`.
fn write_literal(out: &mut String, literal: &Literal) {
    out.push('"');
    let value = literal.value.as_str();
    if value.bytes().any(|b| matches!(b, b'"' | b'\\' | b'\n' | b'\r')) {
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(value);
    }
    out.push('"');
    match &literal.type_ {
        LiteralType::Any(datatype) if datatype.as_str() == XSD_STRING => {}
        LiteralType::Any(datatype) => {
            out.push_str("^^");
            write_iri(out, datatype.as_str());
        }
        LiteralType::LangString(tag) => {
            out.push('@');
            out.push_str(tag.as_str());
        }
    }
}

const XSD_STRING: &str = "http://www.w3.org/2001/XMLSchema#string";

#[cfg(test)]
mod tests {
    use ssi_json_ld::rdf_types::{BlankIdBuf, LexicalQuad};

    use super::*;

    fn ssi_lines(quads: &[LexicalQuad]) -> Vec<String> {
        urdna2015::normalize(quads.iter().map(|q| q.as_lexical_quad_ref())).into_nquads_lines()
    }

    fn parse(nquads: &str) -> Vec<LexicalQuad> {
        let mut quads: Vec<LexicalQuad> =
            nquads.lines().filter(|l| !l.trim().is_empty()).map(|line| parse_line(line.trim())).collect();
        quads.sort();
        quads.dedup();
        quads
    }

    /// A small reader of the N-Quads these tests write (terms separated by single spaces).
    fn parse_line(line: &str) -> LexicalQuad {
        let body = line.strip_suffix(" .").expect("statement");
        let mut rest = body;
        let mut terms: Vec<Term> = Vec::new();
        while !rest.is_empty() {
            rest = rest.trim_start();
            let (term, after) = if let Some(r) = rest.strip_prefix('<') {
                let end = r.find('>').expect("iri end");
                (Term::Id(Id::Iri(ssi_json_ld::IriBuf::new(r[..end].to_owned()).expect("iri"))), &r[end + 1..])
            } else if rest.starts_with("_:") {
                let end = rest.find(' ').unwrap_or(rest.len());
                (Term::Id(Id::Blank(BlankIdBuf::new(rest[..end].to_owned()).expect("blank"))), &rest[end..])
            } else {
                let r = rest.strip_prefix('"').expect("literal");
                let mut value = String::new();
                let mut chars = r.char_indices();
                let end = loop {
                    let (i, c) = chars.next().expect("closing quote");
                    match c {
                        '\\' => match chars.next().expect("escape").1 {
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            other => value.push(other),
                        },
                        '"' => break i,
                        c => value.push(c),
                    }
                };
                let after = &r[end + 1..];
                let (type_, after) = if let Some(t) = after.strip_prefix("^^<") {
                    let close = t.find('>').expect("datatype end");
                    (LiteralType::Any(ssi_json_ld::IriBuf::new(t[..close].to_owned()).expect("iri")), &t[close + 1..])
                } else if let Some(t) = after.strip_prefix('@') {
                    let close = t.find(' ').unwrap_or(t.len());
                    (LiteralType::LangString(t[..close].parse().expect("language tag")), &t[close..])
                } else {
                    (LiteralType::Any(ssi_json_ld::IriBuf::new(XSD_STRING.to_owned()).expect("iri")), after)
                };
                (Term::Literal(Literal::new(value, type_)), after)
            };
            terms.push(term);
            rest = after;
        }
        let id = |t: Term| match t {
            Term::Id(id) => id,
            Term::Literal(_) => panic!("literal in an id position"),
        };
        let mut terms = terms.into_iter();
        let subject = id(terms.next().expect("subject"));
        let predicate = match id(terms.next().expect("predicate")) {
            Id::Iri(iri) => iri,
            Id::Blank(_) => panic!("blank predicate"),
        };
        let object = terms.next().expect("object");
        let graph = terms.next().map(id);
        ssi_json_ld::rdf_types::Quad(subject, predicate, object, graph)
    }

    #[test]
    fn escapes_language_tags_datatypes_and_graphs_are_written_as_ssi_writes_them() {
        let quads = parse(concat!(
            "_:x <https://ex.org/p> \"say \\\"hi\\\" \\\\ back\\nslash\\r\" .\n",
            "_:x <https://ex.org/q> \"hola\"@es-MX .\n",
            "_:x <https://ex.org/r> \"3\"^^<http://www.w3.org/2001/XMLSchema#integer> .\n",
            "_:x <https://ex.org/s> \"plain\"^^<http://www.w3.org/2001/XMLSchema#string> .\n",
            "_:x <https://ex.org/t> \"ñandú ✓ \t tab\" _:g .\n",
            "_:g <https://ex.org/u> <https://ex.org/a%20b?q=1#f> .\n",
            "<https://ex.org/s> <https://ex.org/v> _:x _:g .\n",
        ));
        assert_eq!(canonical_lines(&quads).unwrap(), ssi_lines(&quads));
    }

    #[test]
    fn look_alike_blank_nodes_take_the_whole_algorithm_and_agree_with_ssi() {
        // Two blank nodes with the same quads at first degree: told apart at the second.
        let quads = parse(concat!(
            "_:a <https://ex.org/p> _:b .\n",
            "_:b <https://ex.org/p> _:a .\n",
            "_:a <https://ex.org/name> \"x\" .\n",
            "_:c <https://ex.org/q> \"y\" .\n",
        ));
        assert_eq!(canonical_lines(&quads).unwrap(), ssi_lines(&quads));
    }

    #[test]
    fn too_many_look_alike_blank_nodes_are_refused() {
        let quads = parse(concat!(
            "_:a <https://ex.org/p> \"1\" .\n",
            "_:b <https://ex.org/p> \"1\" .\n",
            "_:c <https://ex.org/p> \"1\" .\n",
            "_:d <https://ex.org/p> \"1\" .\n",
        ));
        assert_eq!(
            canonical_lines(&quads),
            Err(DocumentError::IndistinguishableBlankNodes { count: 4, limit: MAX_INDISTINGUISHABLE })
        );
    }
}
