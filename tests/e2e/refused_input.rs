//! Bad input is refused with a clear error naming the field, and nothing is stored.

use cadena_tests::{Backend, TestApp, valid_tins};
use serde_json::{Value, json};

/// Replaces the check character at `index` (counting the normalised number, separators
/// removed) with a different digit. For mod-11 and mod-10 schemes exactly one check value is
/// valid, so the result is always invalid.
fn with_wrong_check_digit(tin: &str, index_from_end: usize) -> String {
    let mut chars: Vec<char> = tin.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let at = chars.len() - 1 - index_from_end;
    chars[at] = if chars[at] == '1' { '2' } else { '1' };
    chars.into_iter().collect()
}

/// Asserts the submission is refused as BAD_USER_INPUT naming `field`, and nothing is stored.
pub(crate) async fn assert_refused(app: &TestApp, input: Value, field: &str) -> String {
    let (certs, entries) = (app.stored_certifications().await, app.stored_history_entries().await);
    let response = app.submit(input).await;
    assert_eq!(response.error_code(), "BAD_USER_INPUT", "{}", response.body);
    assert!(response.error_fields().contains(&field.to_owned()), "expected {field} in {}", response.body);
    assert_eq!(app.stored_certifications().await, certs, "no certification stored");
    assert_eq!(app.stored_history_entries().await, entries, "no history stored");
    response.error_message()
}

async fn wrong_check_digits_are_refused_for_every_country_that_has_one(backend: Backend) {
    let cases = [
        ("CO", "co-nit", 0, "Colombian NIT"),
        ("CL", "cl-rut", 0, "Chilean RUT"),
        ("PE", "pe-ruc", 0, "Peruvian RUC"),
        ("EC", "ec-ruc-natural", 3, "Ecuadorian RUC"),
        ("GT", "gt-nit", 0, "Guatemalan NIT"),
    ];
    for (country, fixture, index_from_end, scheme) in cases {
        let app = TestApp::builder().backend(backend).country(country).spawn().await;
        let good = &valid_tins(fixture)[0];
        let bad = with_wrong_check_digit(good, index_from_end);
        let message = assert_refused(&app, app.certification_input("OEA-1", &bad), "input.tin").await;
        assert!(message.contains("check digit"), "{country}: {message}");
        assert!(message.contains(scheme), "{country}: the message names the scheme: {message}");
        // The same number with its right check digit goes through.
        app.submit(app.certification_input("OEA-1", good)).await.data();
    }
}

async fn a_mexican_rfc_with_a_failing_check_digit_is_accepted_with_a_warning(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let in_use = valid_tins("mx-rfc-checkdigit-fails-but-in-use").into_iter().find(|t| !t.contains('Ñ')).unwrap();
    let response = app.submit(app.certification_input("OEA-W", &in_use)).await;
    let warnings = response.data()["submitCertification"]["warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].as_str().unwrap().contains("check digit"));
    // A malformed RFC is refused outright.
    assert_refused(&app, app.certification_input("OEA-X", "GODE561331GR8"), "input.tin").await;
}

async fn unknown_countries_blank_and_missing_fields_are_named(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input["issuingCountry"] = json!("XX");
    let message = assert_refused(&app, input, "input.issuingCountry").await;
    assert!(message.contains("XX"), "{message}");

    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input["address"]["country"] = json!("Mexico");
    assert_refused(&app, input, "input.address.country").await;

    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input["issuingCountry"] = json!("CO");
    let message = assert_refused(&app, input, "input.issuingCountry").await;
    assert!(message.contains("certifies for MX only"), "{message}");

    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input["operatorName"] = json!("   ");
    input["roles"] = json!([]);
    input["validUntil"] = json!("2001-01-01");
    let certs = app.stored_certifications().await;
    let response = app.submit(input).await;
    assert_eq!(
        response.error_fields(),
        ["input.operatorName", "input.roles", "input.validUntil"],
        "every bad field is named at once"
    );
    assert_eq!(app.stored_certifications().await, certs);

    // A missing required field fails GraphQL validation: 400, and the message names it.
    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input.as_object_mut().unwrap().remove("operatorName");
    let response = app.submit(input).await;
    assert_eq!(response.status, 400, "{}", response.body);
    assert!(response.error_message().contains("operatorName"), "{}", response.body);
    assert!(response.body.get("data").is_none(), "a request error has no data");

    // A date that is not a date. async-graphql coerces variables when the field runs, so this
    // is a field error (200, data null) rather than a request error; the message still says
    // what is wrong and nothing is stored.
    let mut input = app.certification_input("OEA-1", "GODE561231GR8");
    input["authorisationDate"] = json!("15/01/2026");
    let response = app.submit(input).await;
    assert_eq!(response.body["data"], Value::Null);
    assert!(response.error_message().contains("YYYY-MM-DD"), "{}", response.body);
    assert_eq!(app.stored_certifications().await, certs);

    // A duplicate certificate number.
    app.submit(app.certification_input("OEA-DUP", "GODE561231GR8")).await.data();
    assert_refused(&app, app.certification_input("OEA-DUP", "GODE561231GR8"), "input.certificateNumber").await;
}

async fn illegal_transitions_and_self_approval_are_refused(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-1", "GODE561231GR8").await;
    let entries = app.stored_history_entries().await;

    let again = app.transition("approver", "approveCertification", &id, None).await;
    assert_eq!(again.error_code(), "ILLEGAL_TRANSITION");
    assert_eq!(again.error_message(), "cannot approve a certification that is granted");
    let reinstate = app.transition("approver", "reinstateCertification", &id, Some("why not")).await;
    assert_eq!(reinstate.error_code(), "ILLEGAL_TRANSITION");
    let no_reason = app.transition("approver", "suspendCertification", &id, Some("  ")).await;
    assert_eq!(no_reason.error_code(), "BAD_USER_INPUT");
    assert_eq!(no_reason.error_fields(), ["reason"]);
    app.transition("approver", "revokeCertification", &id, Some("fraud")).await.data();
    let after_revoke = app.transition("approver", "reinstateCertification", &id, Some("appeal")).await;
    assert_eq!(after_revoke.error_message(), "cannot reinstate a certification that is revoked");
    assert_eq!(app.stored_history_entries().await, entries + 1, "only the revocation was recorded");

    let bad_id = app.transition("approver", "approveCertification", "not-an-id", None).await;
    assert_eq!(bad_id.error_code(), "BAD_USER_INPUT");
    let missing =
        app.transition("approver", "approveCertification", "01900000-0000-7000-8000-000000000000", None).await;
    assert_eq!(missing.error_code(), "NOT_FOUND");

    // Four eyes: an officer holding both roles still cannot approve what they submitted.
    app.gql(
        Some("admin"),
        "mutation { createOfficer(input: {username: \"both\", password: \"correct horse battery staple\", roles: [REGISTRAR, APPROVER]}) { username } }",
        json!({}),
    )
    .await
    .data();
    let submitted = app
        .gql(
            Some("both"),
            "mutation($i: CertificationInput!) { submitCertification(input: $i) { id } }",
            json!({ "i": app.certification_input("OEA-2", "GODE561231GR8") }),
        )
        .await;
    let own = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    let entries = app.stored_history_entries().await;
    let self_approval = app.transition("both", "approveCertification", &own, None).await;
    assert_eq!(self_approval.error_code(), "FOUR_EYES");
    assert!(self_approval.error_message().contains("another approver"));
    assert_eq!(app.stored_history_entries().await, entries);
    let status =
        app.gql(Some("risk"), "query($id: ID!) { certification(id: $id) { status } }", json!({ "id": own })).await;
    assert_eq!(status.data()["certification"]["status"], "SUBMITTED");
    app.transition("approver", "approveCertification", &own, None).await.data();
}

async fn malformed_deep_aliased_and_oversized_queries_are_refused(backend: Backend) {
    let app = TestApp::builder().backend(backend).max_body_bytes(16 * 1024).spawn().await;
    let malformed = app.gql(Some("risk"), "{ certifications(first: 1) { nodes { id } ", json!({})).await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.get("data").is_none());

    let unknown_field = app.gql(Some("risk"), "{ certifications { nodes { colour } } }", json!({})).await;
    assert_eq!(unknown_field.status, 400);
    assert!(unknown_field.error_message().contains("colour"));

    let deep = "{ certifications { nodes { operator { certifications { operator { certifications { operator { certifications { operator { certifications { operator { certifications { id } } } } } } } } } } } } }".to_string();
    let too_deep = app.gql(Some("risk"), &deep, json!({})).await;
    assert_eq!(too_deep.status, 400, "{}", too_deep.body);
    assert!(too_deep.error_message().to_lowercase().contains("deep"), "{}", too_deep.body);

    let aliases: String = (0..40).map(|i| format!("a{i}: nodeCountry ")).collect();
    let aliased = app.gql(Some("risk"), &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(aliased.status, 400);
    assert!(aliased.error_message().contains("aliases"), "{}", aliased.body);

    let huge = format!("{{ nodeCountry {} }}", " ".repeat(20 * 1024));
    let response = app
        .client
        .post(app.graphql_url())
        .header("content-type", "application/json")
        .body(json!({ "query": huge }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
}

on_both_backends!(
    wrong_check_digits_are_refused_for_every_country_that_has_one,
    a_mexican_rfc_with_a_failing_check_digit_is_accepted_with_a_warning,
    unknown_countries_blank_and_missing_fields_are_named,
    illegal_transitions_and_self_approval_are_refused,
    malformed_deep_aliased_and_oversized_queries_are_refused,
);
