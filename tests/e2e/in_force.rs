//! A certification is in force only between its validFrom and validUntil. Granted ahead of its
//! validity it is GRANTED but confers no benefits: the node's status, recognition (local, at
//! partners, through the gateway), partner records and the verifier's validity fragment all
//! say so. Dates outside the rules are refused, naming the field and the rule, and so is the
//! grant of a certification whose validity already ended.

use std::time::Duration;

use cadena_gateway::federated_gateway::GatewayLimits;
use cadena_tests::federation::{spawn_gateway, spawn_risk_subgraph};
use cadena_tests::{Backend, TestApp, TestChain};
use serde_json::{Value, json};

use crate::refused_input::assert_refused;

const TIN: &str = "GODE561231GR8";

/// A certification authorised now that comes into force in 2099.
fn future_dated(app: &TestApp, number: &str) -> Value {
    let mut input = app.certification_input(number, TIN);
    input["validFrom"] = json!("2099-01-01");
    input["validUntil"] = json!("2099-12-31");
    input
}

async fn granted_future(app: &TestApp, number: &str) -> String {
    let submitted = app.submit(future_dated(app, number)).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    let approved = app.transition("approver", "approveCertification", &id, None).await;
    assert_eq!(approved.data()["approveCertification"]["status"], "GRANTED", "{}", approved.body);
    id
}

const STANDING: &str = "query($id: ID!) { certification(id: $id) { status confersBenefits } }";

async fn a_certification_granted_ahead_of_its_validity_confers_no_benefits_yet(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = granted_future(&app, "OEA-MX-F0001").await;
    let standing = app.gql(Some("risk"), STANDING, json!({ "id": id })).await;
    assert_eq!(standing.data()["certification"], json!({ "status": "GRANTED", "confersBenefits": false }));

    let recognition = app
        .gql(
            Some("verifier"),
            "query($t: String!) { recognition(country: \"MX\", tin: $t) { status confersBenefits validFrom source } }",
            json!({ "t": TIN }),
        )
        .await;
    assert_eq!(
        recognition.data()["recognition"],
        json!([{ "status": "GRANTED", "confersBenefits": false, "validFrom": "2099-01-01", "source": "LOCAL" }])
    );

    // Any verifier reaches the same verdict from the credential alone.
    let report = app.verify(&app.credential_of(&id).await).await;
    assert_eq!(report["report"]["validity"]["outcome"], "INVALID", "{report}");
    assert!(report["report"]["validity"]["reason"].as_str().unwrap().contains("not valid before 2099-01-01"));
    assert_eq!(report["verified"], false);

    // One in force today does confer them.
    let live = app.granted("OEA-MX-F0002", TIN).await;
    let standing = app.gql(Some("risk"), STANDING, json!({ "id": live })).await;
    assert_eq!(standing.data()["certification"], json!({ "status": "GRANTED", "confersBenefits": true }));
}

async fn dates_outside_the_rules_are_refused_naming_the_field_and_rule(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let with = |changes: &[(&str, &str)]| {
        let mut input = app.certification_input("OEA-MX-F0003", TIN);
        for (field, value) in changes {
            input[*field] = json!(value);
        }
        input
    };
    let message = assert_refused(&app, with(&[("authorisationDate", "0000-01-15")]), "input.authorisationDate").await;
    assert!(message.contains("between 1990-01-01 and 2100-12-31"), "{message}");
    let message = assert_refused(&app, with(&[("validUntil", "2101-01-01")]), "input.validUntil").await;
    assert!(message.contains("between 1990-01-01 and 2100-12-31"), "{message}");
    let message = assert_refused(&app, with(&[("validFrom", "2026-01-14")]), "input.validFrom").await;
    assert!(message.contains("must not be before authorisationDate (2026-01-15)"), "{message}");
    let ended = with(&[("authorisationDate", "2020-01-01"), ("validUntil", "2021-12-31")]);
    let message = assert_refused(&app, ended, "input.validUntil").await;
    assert!(message.contains("has passed"), "{message}");
}

/// Submitted while valid, its validity ended before an approver came to it (the stored end is
/// moved to yesterday, as the calendar would): the grant is refused with a clear error, and the
/// certification stays SUBMITTED and rejectable.
async fn the_grant_of_a_certification_whose_validity_ended_is_refused(backend: Backend) {
    use cadena_resolvers::storage::entities::certifications;
    use sea_orm::{ActiveModelTrait, Set};

    let app = TestApp::builder().backend(backend).spawn().await;
    let mut input = app.certification_input("OEA-MX-F0004", TIN);
    input["authorisationDate"] = json!("2020-01-01");
    let id = app.submit(input).await.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    certifications::ActiveModel {
        id: Set(id.parse().unwrap()),
        valid_until: Set(Some(yesterday)),
        ..Default::default()
    }
    .update(app.node.storage.db())
    .await
    .unwrap();

    let refused = app.transition("approver", "approveCertification", &id, None).await;
    assert_eq!(refused.error_code(), "NOT_ISSUABLE", "{}", refused.body);
    assert!(refused.error_message().contains(&format!("validUntil {yesterday} has passed")), "{}", refused.body);
    let standing = app.gql(Some("risk"), STANDING, json!({ "id": id })).await;
    assert_eq!(standing.data()["certification"], json!({ "status": "SUBMITTED", "confersBenefits": false }));
    let rejected = app.transition("approver", "rejectCertification", &id, Some("validity ended")).await;
    assert_eq!(rejected.data()["rejectCertification"]["status"], "REJECTED");
}

/// MX grants ahead of validity; CO, its MRA partner, holds the record. CO's record and its
/// recognition, and MX's `Operator.recognition` through the gateway (which asks CO live), all
/// say GRANTED without benefits.
async fn partners_and_the_gateway_agree_it_is_not_yet_in_force(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    let id = granted_future(&mx, "OEA-MX-F0005").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    let held = loop {
        let held = co.gql(Some("risk"), STANDING, json!({ "id": id })).await;
        if held.data()["certification"]["status"] == "GRANTED" {
            break held;
        }
        assert!(tokio::time::Instant::now() < deadline, "CO holds MX's grant: {}", held.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(held.data()["certification"]["confersBenefits"], false, "{}", held.body);
    let seen = co
        .gql(
            Some("verifier"),
            "query($t: String!) { recognition(country: \"MX\", tin: $t) { status confersBenefits source } }",
            json!({ "t": TIN }),
        )
        .await;
    assert_eq!(
        seen.data()["recognition"],
        json!([{ "status": "GRANTED", "confersBenefits": false, "source": "PARTNER" }])
    );

    let risk = spawn_risk_subgraph().await;
    let gw = spawn_gateway(&[("node", &mx.graphql_url()), ("risk", &risk)], GatewayLimits::default()).await;
    let query = format!(
        r#"{{ operator(country: "MX", tin: "{TIN}") {{
            certifications {{ status confersBenefits }} recognition {{ partner status recognised verified }} }} }}"#
    );
    let response = reqwest::Client::new()
        .post(&gw.url)
        .header("accept", "application/json")
        .bearer_auth(mx.token("risk").await)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    let operator = &body["data"]["operator"];
    assert_eq!(operator["certifications"], json!([{ "status": "GRANTED", "confersBenefits": false }]), "{body}");
    assert_eq!(
        operator["recognition"],
        json!([{ "partner": "CO", "status": "GRANTED", "recognised": false, "verified": true }]),
        "{body}"
    );
}

on_both_backends!(
    a_certification_granted_ahead_of_its_validity_confers_no_benefits_yet,
    dates_outside_the_rules_are_refused_naming_the_field_and_rule,
    the_grant_of_a_certification_whose_validity_ended_is_refused,
    partners_and_the_gateway_agree_it_is_not_yet_in_force,
);
