//! The cached canonicalisation against ssi's, signing both ways, and hostile documents.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use super::reference::ReferenceVerifier;
use super::*;
use crate::did::{did_document, did_key_for};
use crate::fixtures::aeo_credential;
use crate::keys::IssuerKeys;

const DID: &str = "did:web:127.0.0.1%3A8701";
const BASE: &str = "http://127.0.0.1:8701";

fn options(method: &str) -> ProofOptions {
    ProofOptions {
        verification_method: method.to_owned(),
        purpose: ProofPurpose::AssertionMethod,
        created: Utc::now(),
        challenge: None,
        domain: None,
    }
}

/// Documents whose canonical form must be the same on the cached and the uncached path.
fn variants() -> Vec<Value> {
    let mut docs = Vec::new();
    for n in 0..6 {
        docs.push(aeo_credential(n, DID, BASE).to_json());
    }
    let base = aeo_credential(7, DID, BASE).to_json();
    let mut tricky = base.clone();
    tricky["credentialSubject"]["legalName"] = json!("Comercializadora \"Ñandú\" & Cía.\n\t<b>\\ 🚢");
    tricky["credentialSubject"]["address"]["streetAddress"] = json!("urn:looks:like:an:iri");
    tricky["credentialSubject"]["id"] = json!("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
    tricky["id"] = json!("https://example.org/credentials/é?x=1&y=2#frag");
    docs.push(tricky);
    let mut sparse = base.clone();
    let subject = sparse["credentialSubject"].as_object_mut().unwrap();
    subject.remove("partnerIdentifiers");
    subject.remove("lastValidationDate");
    subject.remove("mraPartyIdentifier");
    sparse.as_object_mut().unwrap().remove("validUntil");
    docs.push(sparse);
    // Two nodes named by the same IRI: substituted quads must merge as expansion merges them.
    let mut shared = base.clone();
    shared["credentialStatus"][1]["id"] = shared["credentialStatus"][0]["id"].clone();
    docs.push(shared);
    // Identical partner identifiers: equal blank nodes, within the work bound.
    let mut twins = base.clone();
    twins["credentialSubject"]["partnerIdentifiers"] = json!([
        {"type": "PartnerIdentifier", "identifierScheme": "EORI", "identifierValue": "ES1"},
        {"type": "PartnerIdentifier", "identifierScheme": "EORI", "identifierValue": "ES1"}
    ]);
    docs.push(twins);
    // Equal values of one property: two template quads become one.
    let mut repeated = base.clone();
    repeated["credentialSubject"]["supplyChainRoles"] = json!(["EXPORTER", "CARRIER", "EXPORTER"]);
    docs.push(repeated);
    // A relative IRI where an absolute one usually is: must not be substituted blindly.
    let mut relative = base.clone();
    relative["credentialStatus"][0]["statusListCredential"] = json!("status-lists/revocation-1");
    docs.push(relative);
    docs.push(crate::status_list::status_list_credential(
        "http://127.0.0.1:8701/status-lists/revocation-1",
        DID,
        crate::status_list::StatusPurpose::Revocation,
        &crate::status_list::Bitstring::default(),
        Utc::now(),
        60_000,
    ));
    docs.push(json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-11-26T10:00:00Z",
        "verificationMethod": format!("{DID}#key-1"), "proofPurpose": "assertionMethod",
    }));
    docs
}

#[test]
fn the_cached_canonical_form_equals_ssis_for_every_shape_and_value() {
    let integrity = Integrity::new();
    for doc in variants() {
        let reference = integrity.canonicalizer.canonical_lines_uncached(&doc);
        // The first call builds the shape's template (and may learn a key to keep), later ones
        // use it.
        for round in 0..3 {
            let cached = integrity.canonical_nquads(&doc);
            match (&reference, &cached) {
                (Ok(r), Ok(c)) => assert_eq!(r, c, "round {round}, document {doc}"),
                (Err(_), Err(_)) => {}
                _ => panic!("round {round}: reference {reference:?} vs cached {cached:?} for {doc}"),
            }
        }
    }
    // Same shape, every value different: substitution, not the first document's values, and
    // no full expansion once the shape is known (proof configurations included).
    let proof_configuration = |n: usize| {
        json!({
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/cadena/aeo/v1"],
            "type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022",
            "created": format!("2026-11-26T10:00:{:02}Z", n % 60),
            "verificationMethod": format!("{DID}#key-{n}"), "proofPurpose": "assertionMethod",
        })
    };
    for n in 100..103 {
        integrity.canonical_nquads(&aeo_credential(n, DID, BASE).to_json()).unwrap();
        integrity.canonical_nquads(&proof_configuration(n)).unwrap();
    }
    let full = || integrity.canonicalizer.full_expansions.load(std::sync::atomic::Ordering::Relaxed);
    let before = full();
    for n in 200..210 {
        let credential = aeo_credential(n, DID, BASE).to_json();
        assert_eq!(
            integrity.canonical_nquads(&credential).unwrap(),
            integrity.canonicalizer.canonical_lines_uncached(&credential).unwrap()
        );
        let configuration = proof_configuration(n);
        assert_eq!(
            integrity.canonical_nquads(&configuration).unwrap(),
            integrity.canonicalizer.canonical_lines_uncached(&configuration).unwrap()
        );
    }
    assert_eq!(full(), before, "known shapes are canonicalised from their templates");
}

fn issuer() -> (IssuerKeys, HashMap<String, Value>) {
    let keys = IssuerKeys::generate(crate::keys::Cryptosuite::EdDsaRdfc2022);
    let documents = HashMap::from([(DID.to_owned(), did_document(DID, &keys, &[]))]);
    (keys, documents)
}

#[tokio::test]
async fn cadena_and_ssi_accept_each_others_proofs_and_refuse_a_changed_character() {
    for suite in [crate::keys::Cryptosuite::EdDsaRdfc2022, crate::keys::Cryptosuite::EcdsaRdfc2019] {
        let mut keys = IssuerKeys::generate(suite);
        if suite == crate::keys::Cryptosuite::EcdsaRdfc2019 {
            keys = IssuerKeys::generate(crate::keys::Cryptosuite::EdDsaRdfc2022);
            keys.rotate(suite);
        }
        let documents = HashMap::from([(DID.to_owned(), did_document(DID, &keys, &[]))]);
        let current = keys.current();
        let method = format!("{DID}#{}", current.fragment);
        let integrity = Integrity::new();
        let reference = ReferenceVerifier::new(&documents);
        let unsigned = aeo_credential(1, DID, BASE).to_json();

        let ours = integrity.sign(&unsigned, &current.key, &options(&method)).unwrap();
        assert_eq!(reference.verify(&ours).await, Ok(Ok(())), "ssi accepts cadena's {suite:?} proof");
        let theirs = reference.sign(&unsigned, &current.key, &method).await.unwrap();
        let prepared = integrity.prepare(&theirs, "credential").unwrap();
        assert_eq!(prepared.verify(&current.key.public()), ProofOutcome::Valid, "cadena accepts ssi's {suite:?} proof");

        for signed in [&ours, &theirs] {
            let mut changed = signed.clone();
            changed["credentialSubject"]["legalName"] = json!("Exportadora del Pacífico 1 S.A. de C.X.");
            assert!(reference.verify(&changed).await.unwrap().is_err());
            let prepared = integrity.prepare(&changed, "credential").unwrap();
            assert!(matches!(prepared.verify(&current.key.public()), ProofOutcome::Invalid(_)));
        }
    }
}

#[test]
fn a_proof_verifies_only_with_its_key_and_suite() {
    let (keys, _) = issuer();
    let integrity = Integrity::new();
    let signed = integrity
        .sign(&aeo_credential(2, DID, BASE).to_json(), &keys.current().key, &options(&format!("{DID}#key-1")))
        .unwrap();
    let prepared = integrity.prepare(&signed, "credential").unwrap();
    let other = crate::keys::SecretKey::generate(crate::keys::Cryptosuite::EdDsaRdfc2022).public();
    assert!(matches!(prepared.verify(&other), ProofOutcome::Invalid(_)));
    let p256 = crate::keys::SecretKey::generate(crate::keys::Cryptosuite::EcdsaRdfc2019).public();
    assert!(matches!(prepared.verify(&p256), ProofOutcome::Invalid(why) if why.contains("ecdsa-rdfc-2019")));
    let (_, method) = did_key_for(&keys.current().key.public());
    assert_eq!(prepared.verification_method, format!("{DID}#key-1"));
    assert_ne!(prepared.verification_method, method);
}

fn assert_refused(document: &Value, expected: impl Fn(&DocumentError) -> bool, what: &str) {
    let integrity = Integrity::new();
    let started = Instant::now();
    let result = integrity.prepare(document, "verifiableCredential");
    assert!(started.elapsed() < Duration::from_secs(2), "{what}: refused quickly, not after {:?}", started.elapsed());
    match result {
        Err(error) => assert!(expected(&error), "{what}: unexpected error {error}"),
        Ok(_) => panic!("{what}: accepted"),
    }
}

fn signed_example() -> Value {
    let (keys, _) = issuer();
    Integrity::new()
        .sign(&aeo_credential(3, DID, BASE).to_json(), &keys.current().key, &options(&format!("{DID}#key-1")))
        .unwrap()
}

#[test]
fn hostile_documents_are_refused_with_a_clear_error() {
    let good = signed_example();

    let mut unknown = good.clone();
    unknown["@context"] = json!(["https://www.w3.org/ns/credentials/v2", "https://evil.example/ctx.jsonld"]);
    assert_refused(
        &unknown,
        |e| e.to_string().contains("https://evil.example/ctx.jsonld") && e.to_string().contains("@context[1]"),
        "unknown context",
    );

    let mut inline = good.clone();
    inline["@context"] = json!(["https://www.w3.org/ns/credentials/v2", {"x": "https://evil.example/x"}]);
    assert_refused(&inline, |e| e.to_string().contains("embedded context"), "embedded context");

    let mut nested = good.clone();
    nested["credentialSubject"]["@context"] = json!("https://evil.example/other");
    assert_refused(
        &nested,
        |e| matches!(e, DocumentError::UnknownContext { field, .. } if field.contains("credentialSubject")),
        "nested context",
    );

    let mut big = good.clone();
    big["credentialSubject"]["legalName"] = json!("x".repeat(MAX_DOCUMENT_BYTES));
    assert_refused(&big, |e| matches!(e, DocumentError::TooLarge { .. }), "too large");

    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!({ "legalName": deep });
    }
    let mut too_deep = good.clone();
    too_deep["credentialSubject"]["address"] = deep;
    assert_refused(&too_deep, |e| matches!(e, DocumentError::TooDeep { .. }), "too deep");

    // Many identical nested blank nodes: RDFC-1.0 would permute them factorially.
    let mut twins = good.clone();
    twins["credentialSubject"]["partnerIdentifiers"] =
        json!(vec![json!({"type": "PartnerIdentifier", "identifierScheme": "X", "identifierValue": "1"}); 12]);
    assert_refused(
        &twins,
        |e| matches!(e, DocumentError::IndistinguishableBlankNodes { count: 12, .. }),
        "alike blank nodes",
    );

    let mut many = good.clone();
    many["credentialSubject"]["partnerIdentifiers"] = (0..80)
        .map(|i| json!({"type": "PartnerIdentifier", "identifierScheme": "X", "identifierValue": i.to_string()}))
        .collect();
    assert_refused(&many, |e| matches!(e, DocumentError::TooManyBlankNodes { .. }), "many blank nodes");

    let mut undefined = good.clone();
    undefined["credentialSubject"]["riskScore"] = json!(7);
    assert_refused(&undefined, |e| e.to_string().contains("riskScore"), "undefined term");

    let mut malformed = good.clone();
    malformed["credentialSubject"]["id"] = json!(42);
    assert_refused(&malformed, |e| matches!(e, DocumentError::MalformedJsonLd(_)), "malformed JSON-LD");

    let mut wrong_type = good.clone();
    wrong_type["proof"]["type"] = json!("Ed25519Signature2020");
    assert_refused(
        &wrong_type,
        |e| matches!(e, DocumentError::UnsupportedProof { field, .. } if field.ends_with("proof.type")),
        "proof type",
    );

    let mut wrong_suite = good.clone();
    wrong_suite["proof"]["cryptosuite"] = json!("bbs-2023");
    assert_refused(&wrong_suite, |e| e.to_string().contains("bbs-2023"), "cryptosuite");

    let mut unsigned = good.clone();
    unsigned.as_object_mut().unwrap().remove("proof");
    assert_refused(&unsigned, |e| e.to_string().contains("not signed"), "no proof");

    assert_refused(&json!([1, 2]), |e| e.to_string().contains("JSON object"), "not an object");

    // A number serialised by the wrong serializer (the form GraphQL once served): serde_json
    // would read it back as the number the issuer signed, so it is refused, not judged.
    let mut private = good.clone();
    private["credentialSubject"]["certificateVersion"] = json!({"$serde_json::private::Number": "1"});
    assert_refused(
        &private,
        |e| {
            matches!(e, DocumentError::Field { field, .. }
                if field == "verifiableCredential.credentialSubject.certificateVersion.$serde_json::private::Number")
        },
        "serde_json's private number",
    );
}
