//! The data set's limits hold what a credential can carry: a data set at every limit is
//! signed, its proof verifies, and a presentation of it verifies; one identifier more, or a
//! repeated one, is refused at parsing, naming the field.

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::credential::{AeoCredential, AeoSubject, operator_urn};
use crate::did::{ProofPurpose, did_key_for};
use crate::fixtures::maximal_draft;
use crate::integrity::{Integrity, ProofOptions, ProofOutcome};
use crate::keys::{Cryptosuite, SecretKey};
use crate::status_list::{StatusEntry, StatusPurpose};

/// The credential a node issues for `set` (as `CredentialService::issue_for` builds it).
fn credential_of(set: &AeoDataSet, subject_id: String) -> AeoCredential {
    let list = |purpose: StatusPurpose| StatusEntry {
        purpose,
        list_url: format!("https://customs.example/status-lists/{}-{}", purpose.as_str(), i32::MAX),
        index: 131_071,
    };
    AeoCredential {
        id: format!("urn:uuid:{}", "0".repeat(36)),
        issuer: "did:web:customs.example".into(),
        valid_from: set.valid_from,
        valid_until: set.valid_until,
        subject: AeoSubject {
            id: subject_id,
            legal_name: set.operator_name.clone(),
            tin: set.tin.as_str().to_owned(),
            tin_scheme: "MX_RFC".into(),
            mra_party_identifier: Some(format!("MX{}", set.tin.as_str())),
            partner_identifiers: set.partner_identifiers.clone(),
            address: set.address.clone(),
            certificate_number: set.certificate_number.clone(),
            certificate_version: i32::MAX,
            certificate_type: set.certificate_type,
            roles: set.roles.clone(),
            issuing_country: set.issuing_country,
            issuing_authority: set.issuing_authority.clone(),
            authorisation_date: set.authorisation_date,
            last_validation_date: set.last_validation_date,
        },
        status: vec![list(StatusPurpose::Revocation), list(StatusPurpose::Suspension)],
    }
}

fn options(method: &str, purpose: ProofPurpose) -> ProofOptions {
    ProofOptions {
        verification_method: method.to_owned(),
        purpose,
        created: Utc::now(),
        challenge: Some("c".repeat(64)).filter(|_| purpose == ProofPurpose::Authentication),
        domain: None,
    }
}

#[test]
fn a_data_set_at_every_limit_is_signed_and_verifies_alone_and_presented() {
    let set = AeoDataSet::parse(&maximal_draft(), "input").expect("the maximal data set is valid");
    assert_eq!(set.partner_identifiers.len(), MAX_PARTNER_IDENTIFIERS);
    let integrity = Integrity::new();
    let issuer = SecretKey::from_seed(Cryptosuite::EcdsaRdfc2019, [1; 32]);
    let holder = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, [2; 32]);
    let (holder_did, holder_method) = did_key_for(&holder.public());
    // Both subject forms: the operator's DID (at its longest) and the operator URN.
    let urn = operator_urn(set.issuing_country, set.tin.as_str());
    for subject in [set.operator_did.clone().unwrap(), urn] {
        let unsigned = credential_of(&set, subject).to_json();
        let method = "did:web:customs.example#key-1";
        let signed = integrity
            .sign(&unsigned, &issuer, &options(method, ProofPurpose::AssertionMethod))
            .expect("the maximal credential is signed");
        let proof = integrity.prepare(&signed, "credential").expect("the maximal credential can be judged");
        assert_eq!(proof.verify(&issuer.public()), ProofOutcome::Valid);

        let presentation = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder_did,
            "verifiableCredential": [signed],
        });
        let presented = integrity
            .sign(&presentation, &holder, &options(&holder_method, ProofPurpose::Authentication))
            .expect("a presentation of the maximal credential is signed");
        let proof = integrity.prepare(&presented, "presentation").expect("the presentation can be judged");
        assert_eq!(proof.verify(&holder.public()), ProofOutcome::Valid);
    }
}

#[test]
fn the_limit_is_tight_one_identifier_more_and_a_presentation_is_refused() {
    let mut set = AeoDataSet::parse(&maximal_draft(), "input").unwrap();
    set.partner_identifiers.push(PartnerIdentifier { scheme: "EXTRA".into(), value: "X".into() });
    let integrity = Integrity::new();
    let issuer = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, [1; 32]);
    let holder = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, [2; 32]);
    let (holder_did, holder_method) = did_key_for(&holder.public());
    let unsigned = credential_of(&set, holder_did.clone()).to_json();
    let signed =
        integrity.sign(&unsigned, &issuer, &options("did:web:customs.example#key-1", ProofPurpose::AssertionMethod));
    let presentation = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder_did,
        "verifiableCredential": [signed.expect("alone, the credential still fits")],
    });
    let refused = integrity.sign(&presentation, &holder, &options(&holder_method, ProofPurpose::Authentication));
    assert!(matches!(refused, Err(crate::integrity::DocumentError::TooManyBlankNodes { .. })), "{refused:?}");
}

#[test]
fn one_identifier_more_than_fits_is_refused_naming_the_field_and_the_limit() {
    let mut draft = maximal_draft();
    draft.partner_identifiers.push(("EXTRA".into(), "X".into()));
    let errors = AeoDataSet::parse(&draft, "input").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "input.partnerIdentifiers");
    assert!(errors[0].message.contains(&format!("at most {MAX_PARTNER_IDENTIFIERS}")), "{}", errors[0]);
}

#[test]
fn a_repeated_identifier_is_refused_naming_both() {
    let mut draft = maximal_draft();
    draft.partner_identifiers = vec![
        ("eori".into(), "DE123456789012345".into()),
        ("DUNS".into(), "150483782".into()),
        ("EORI".into(), "de 123456789012345".into()),
    ];
    let errors = AeoDataSet::parse(&draft, "input").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].field, "input.partnerIdentifiers[2]");
    assert!(errors[0].message.contains("partnerIdentifiers[0]"), "{}", errors[0]);
    // The same value under another scheme is another identifier.
    draft.partner_identifiers[2].0 = "OTHER".into();
    draft.partner_identifiers[2].1 = "DE123456789012345".into();
    AeoDataSet::parse(&draft, "input").unwrap();
}
