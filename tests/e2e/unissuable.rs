//! What cannot be issued is refused at submission, naming the field and the limit; a data set
//! at every limit is submitted, approved, and its credential verifies; and a grant that fails
//! anyway is a clear error that leaves the certification SUBMITTED and rejectable.

use cadena_credentials::aeo::MAX_PARTNER_IDENTIFIERS;
use cadena_credentials::{AeoDataSetDraft, fixtures};
use cadena_tests::{Backend, TestApp};
use serde_json::{Value, json};

use crate::refused_input::assert_refused;

/// A draft as GraphQL's `CertificationInput`.
fn input_of(draft: &AeoDataSetDraft) -> Value {
    let a = &draft.address;
    json!({
        "certificateNumber": draft.certificate_number,
        "issuingCountry": draft.issuing_country,
        "issuingAuthority": draft.issuing_authority,
        "operatorName": draft.operator_name,
        "address": { "street": a.street, "city": a.city, "subEntity": a.sub_entity, "postcode": a.postcode, "country": a.country },
        "tin": draft.tin,
        "partnerIdentifiers": draft.partner_identifiers.iter().map(|(s, v)| json!({ "scheme": s, "value": v })).collect::<Vec<_>>(),
        "certificateType": "FULL",
        "roles": draft.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "authorisationDate": draft.authorisation_date.map(|d| d.to_string()),
        "validFrom": draft.valid_from.map(|d| d.to_string()),
        "validUntil": draft.valid_until.map(|d| d.to_string()),
        "lastValidationDate": draft.last_validation_date.map(|d| d.to_string()),
        "operatorDid": draft.operator_did,
    })
}

async fn what_cannot_be_issued_is_refused_at_submission(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    // Four identical identifiers: canonicalisation could not tell their blank nodes apart.
    let mut input = app.certification_input("OEA-MX-U0001", "GODE561231GR8");
    input["partnerIdentifiers"] = json!(vec![json!({ "scheme": "EORI", "value": "DE123456789012345" }); 4]);
    let message = assert_refused(&app, input, "input.partnerIdentifiers[1]").await;
    assert!(message.contains("repeats partnerIdentifiers[0]"), "{message}");

    // One identifier more than a credential can carry.
    let mut input = app.certification_input("OEA-MX-U0002", "GODE561231GR8");
    let many: Vec<Value> = (0..=MAX_PARTNER_IDENTIFIERS)
        .map(|i| json!({ "scheme": "DUNS", "value": format!("{:09}", 100_000_000 + i) }))
        .collect();
    input["partnerIdentifiers"] = json!(many);
    let message = assert_refused(&app, input, "input.partnerIdentifiers").await;
    assert!(message.contains(&format!("at most {MAX_PARTNER_IDENTIFIERS}")), "{message}");

    // A string one character over its limit names the field and the limit.
    let mut input = app.certification_input("OEA-MX-U0003", "GODE561231GR8");
    input["partnerIdentifiers"] = json!([{ "scheme": "DUNS", "value": "9".repeat(65) }]);
    let message = assert_refused(&app, input, "input.partnerIdentifiers[0].value").await;
    assert!(message.contains("at most 64 characters"), "{message}");
}

async fn a_data_set_at_every_limit_is_granted_and_its_credential_verifies(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let submitted = app.submit(input_of(&fixtures::maximal_draft())).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    let approved = app.transition("approver", "approveCertification", &id, None).await;
    assert_eq!(approved.data()["approveCertification"]["status"], "GRANTED", "{}", approved.body);
    let credential = app.credential_of(&id).await;
    let identifiers = credential["credentialSubject"]["partnerIdentifiers"].as_array().unwrap();
    assert_eq!(identifiers.len(), MAX_PARTNER_IDENTIFIERS);
    let report = app.verify(&credential).await;
    assert_eq!(report["verified"], true, "{report}");
}

/// A submission stored before the rules above existed (or written by hand) whose credential
/// cannot be signed: the grant is refused with a clear error, nothing is written, and the
/// certification stays SUBMITTED, so an approver can still reject it.
async fn a_grant_that_cannot_be_signed_is_a_clear_error_and_stays_rejectable(backend: Backend) {
    use cadena_resolvers::storage::entities::certifications;
    use sea_orm::{ActiveModelTrait, Set};

    let app = TestApp::builder().backend(backend).spawn().await;
    let submitted = app.submit(app.certification_input("OEA-MX-U0004", "GODE561231GR8")).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    let legacy = json!(vec![json!({ "scheme": "EORI", "value": "DE123456789012345" }); 4]);
    certifications::ActiveModel {
        id: Set(id.parse().unwrap()),
        partner_identifiers: Set(legacy),
        ..Default::default()
    }
    .update(app.node.storage.db())
    .await
    .unwrap();
    let entries = app.stored_history_entries().await;

    let refused = app.transition("approver", "approveCertification", &id, None).await;
    assert_eq!(refused.error_code(), "NOT_ISSUABLE", "{}", refused.body);
    let message = refused.error_message();
    assert!(message.contains("indistinguishable blank nodes"), "{message}");
    assert!(message.contains("can be rejected"), "{message}");
    assert_eq!(app.stored_history_entries().await, entries, "nothing written");
    let status =
        app.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(status.data()["certification"]["status"], "SUBMITTED");

    let rejected = app.transition("approver", "rejectCertification", &id, Some("identifiers repeated")).await;
    assert_eq!(rejected.data()["rejectCertification"]["status"], "REJECTED");
}

on_both_backends!(
    what_cannot_be_issued_is_refused_at_submission,
    a_data_set_at_every_limit_is_granted_and_its_credential_verifies,
    a_grant_that_cannot_be_signed_is_a_clear_error_and_stays_rejectable,
);
