//! The VC API's issuer over HTTP: every VC Data Model 2.0 rule a credential breaks is refused
//! with a 400 naming it; issuance is no side door around four eyes (its own role, off by
//! default, no AEO certification, its own type and status lists, an audit trail); and the
//! verify endpoints' status codes say what the report says.

use cadena_tests::{Backend, TestApp, digital_bazaar};
use serde_json::{Value, json};

const VC_API_TYPE: &str = "https://w3id.org/cadena/vc-api#NodeIssuedCredential";

/// `POST /credentials/issue` as `officer`: status and body.
async fn issue(app: &TestApp, officer: Option<&str>, credential: &Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/credentials/issue", app.base))
        .json(&json!({ "credential": credential, "options": {} }));
    if let Some(officer) = officer {
        request = request.bearer_auth(app.token(officer).await);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn minimal() -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": { "id": "did:example:warehouse-7" }
    })
}

async fn audit_trail(app: &TestApp) -> Vec<Value> {
    let log =
        app.gql(Some("auditor"), "{ vcApiIssuances { credentialId officer types subjects digest } }", json!({})).await;
    log.data()["vcApiIssuances"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_model_rule_is_refused_with_a_400_naming_it() {
    let app = TestApp::builder().vc_api_issuance().spawn().await;
    let digest = "sha384-S57yQDg1MTzF56Oi9DbSQ14u7jBy0RDdx0YbeV7shwhCS88G8SCXeFq82PafhCrW";
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, &str, &str)> = vec![
        (
            "no subject",
            Box::new(|c| drop(c.as_object_mut().unwrap().remove("credentialSubject"))),
            "credential.credentialSubject",
            "§4.8",
        ),
        ("empty subject", Box::new(|c| c["credentialSubject"] = json!({})), "credential.credentialSubject", "§4.8"),
        ("no subjects", Box::new(|c| c["credentialSubject"] = json!([])), "credential.credentialSubject", "§4.8"),
        (
            "subject id",
            Box::new(|c| c["credentialSubject"]["id"] = json!("warehouse 7")),
            "credential.credentialSubject.id",
            "§4.4",
        ),
        (
            "validFrom without zone",
            Box::new(|c| c["validFrom"] = json!("2026-01-01T00:00:00")),
            "credential.validFrom",
            "§4.9",
        ),
        ("validUntil a date", Box::new(|c| c["validUntil"] = json!("2027-01-01")), "credential.validUntil", "§4.9"),
        (
            "validity reversed",
            Box::new(|c| {
                c["validFrom"] = json!("2027-01-01T00:00:00Z");
                c["validUntil"] = json!("2026-01-01T00:00:00Z");
            }),
            "credential.validFrom",
            "§4.9",
        ),
        (
            "context a string",
            Box::new(|c| c["@context"] = json!("https://www.w3.org/ns/credentials/v2")),
            "credential.@context",
            "§4.3",
        ),
        (
            "context order",
            Box::new(|c| {
                c["@context"] =
                    json!(["https://w3id.org/security/data-integrity/v2", "https://www.w3.org/ns/credentials/v2"])
            }),
            "credential.@context[0]",
            "§4.3",
        ),
        ("type", Box::new(|c| c["type"] = json!(["Credential"])), "credential.type", "§4.5"),
        ("id", Box::new(|c| c["id"] = json!("credential-1")), "credential.id", "§4.4"),
        ("name", Box::new(|c| c["name"] = json!(42)), "credential.name", "§4.6"),
        (
            "schema id",
            Box::new(|c| c["credentialSchema"] = json!({ "type": "JsonSchema" })),
            "credential.credentialSchema.id",
            "§4.11",
        ),
        (
            "schema type",
            Box::new(|c| c["credentialSchema"] = json!({ "id": "https://schemas.example/warehouse.json" })),
            "credential.credentialSchema.type",
            "§4.11",
        ),
        (
            "refresh type",
            Box::new(|c| c["refreshService"] = json!({ "id": "https://refresh.example/1" })),
            "credential.refreshService.type",
            "§5.4",
        ),
        (
            "terms type",
            Box::new(|c| c["termsOfUse"] = json!([{ "id": "https://terms.example/1" }])),
            "credential.termsOfUse[0].type",
            "§5.5",
        ),
        (
            "evidence type",
            Box::new(|c| c["evidence"] = json!({ "id": "urn:evidence:1" })),
            "credential.evidence.type",
            "§5.6",
        ),
        (
            "related id",
            Box::new(move |c| c["relatedResource"] = json!([{ "digestSRI": digest }])),
            "credential.relatedResource[0].id",
            "§5.3",
        ),
        (
            "related ids twice",
            Box::new(move |c| {
                c["relatedResource"] = json!([
                    { "id": "https://warehouse.example/plan.pdf", "digestSRI": digest },
                    { "id": "https://warehouse.example/plan.pdf", "digestSRI": digest }
                ])
            }),
            "credential.relatedResource[1].id",
            "§5.3",
        ),
        (
            "related digest",
            Box::new(|c| c["relatedResource"] = json!({ "id": "https://warehouse.example/plan.pdf" })),
            "credential.relatedResource",
            "§5.3",
        ),
    ];
    let mut failures = Vec::new();
    for (case, change, field, section) in &cases {
        let mut credential = minimal();
        change(&mut credential);
        let (status, body) = issue(&app, Some("issuer"), &credential).await;
        let named = body["error"]["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["field"] == *field && f["message"].as_str().is_some_and(|m| m.contains(section)));
        if status != 400 || !named {
            failures.push(format!("{case}: expected 400 naming {field} and {section}, got {status} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(audit_trail(&app).await.is_empty(), "nothing was signed");
    // The conforming credential is signed.
    assert_eq!(issue(&app, Some("issuer"), &minimal()).await.0, 201);
}

async fn four_eyes_has_no_side_door(backend: Backend) {
    // Off by default: not even an ISSUER may use it.
    let closed = TestApp::builder().backend(backend).spawn().await;
    let (status, body) = issue(&closed, Some("issuer"), &minimal()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("DISABLED")), "{body}");

    let app = TestApp::builder().backend(backend).vc_api_issuance().spawn().await;
    let granted = app.granted("OEA-MX-0700", "GODE561231GR8").await;
    let certification = app.credential_of(&granted).await;
    let certifications = app.stored_certifications().await;
    let history = app.stored_history_entries().await;

    // An approver alone cannot issue, even the plainest credential.
    let (status, body) = issue(&app, Some("approver"), &minimal()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");

    // The attack: an AEO certification minted without a submission or a second officer,
    // however it is spelled.
    let mut forged = certification.clone();
    let object = forged.as_object_mut().unwrap();
    for node_set in ["proof", "credentialStatus", "id", "issuer"] {
        object.remove(node_set);
    }
    forged["credentialSubject"]["legalName"] = json!("Amigo del Aprobador S.A.");
    let (status, body) = issue(&app, Some("issuer"), &forged).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "credential.@context[1]", "{body}");
    assert!(body.to_string().contains("certification lifecycle"), "{body}");
    let mut typed = minimal();
    typed["type"] = json!(["VerifiableCredential", "AEOCertificationCredential"]);
    let (status, body) = issue(&app, Some("issuer"), &typed).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (400, Some("credential.type")), "{body}");
    // The AEO vocabulary by absolute IRIs, without the AEO context.
    let mut spelled = minimal();
    spelled["type"] = json!(["VerifiableCredential", "https://w3id.org/cadena/aeo#AEOCertificationCredential"]);
    spelled["credentialSubject"]["https://w3id.org/cadena/aeo#traderIdentificationNumber"] = json!("GODE561231GR8");
    let (status, body) = issue(&app, Some("issuer"), &spelled).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("https://w3id.org/cadena/aeo#"), "{body}");

    // What the VC API does sign says so, sits on its own status lists, and is audited.
    let (status, body) = issue(&app, Some("issuer"), &minimal()).await;
    assert_eq!(status, 201, "{body}");
    let issued = body["verifiableCredential"].clone();
    assert_eq!(issued["type"], json!(["VerifiableCredential", VC_API_TYPE]));
    for entry in issued["credentialStatus"].as_array().unwrap() {
        let url = entry["statusListCredential"].as_str().unwrap();
        assert!(url.contains("/status-lists/vc-api-"), "{url}");
        let list = app.client.get(url).send().await.unwrap();
        assert_eq!(list.status(), 200, "{url}");
        // The same list number is not served as an AEO list.
        let aeo_name = url.replace("/status-lists/vc-api-", "/status-lists/");
        assert_eq!(app.client.get(&aeo_name).send().await.unwrap().status(), 404, "{aeo_name}");
        assert_ne!(
            url.rsplit('-').next(),
            certification["credentialStatus"][0]["statusListCredential"].as_str().unwrap().rsplit('-').next(),
            "a list of its own"
        );
    }
    let trail = audit_trail(&app).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0]["credentialId"], issued["id"]);
    assert_eq!(trail[0]["officer"], "issuer");
    assert_eq!(trail[0]["subjects"], json!(["did:example:warehouse-7"]));
    let approver_reads = app.gql(Some("approver"), "{ vcApiIssuances { credentialId } }", json!({})).await;
    assert_eq!(approver_reads.error_code(), "FORBIDDEN");
    assert_eq!(app.stored_certifications().await, certifications, "no certification behind it");
    assert_eq!(app.stored_history_entries().await, history, "no history entry either");

    // cadena's verifier: the lifecycle's credential is an AEO certification, the VC API's is not.
    let report = app.verify(&certification).await;
    assert_eq!(
        (report["verified"].as_bool(), report["report"]["aeo_certification"].as_bool()),
        (Some(true), Some(true)),
        "{report}"
    );
    let report = app.verify(&issued).await;
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["report"]["aeo_certification"], false, "{report}");
    // A standard verifier accepts its type and its own status lists.
    let theirs = digital_bazaar(json!({ "op": "verify-credential", "credential": issued, "checkStatus": true })).await;
    assert_eq!(theirs["verified"], true, "{theirs}");
    assert_eq!(theirs["statusResult"], json!({ "revocation": false, "suspension": false }), "{theirs}");
    let graphql = app
        .gql(
            None,
            "query($c: JSON!) { verifyCredential(credential: $c) { verified aeoCertification } }",
            json!({ "c": issued }),
        )
        .await;
    assert_eq!(graphql.data()["verifyCredential"], json!({ "verified": true, "aeoCertification": false }));
}

async fn verify_answers_with_a_status_a_client_cannot_misread(backend: Backend) {
    let app = TestApp::builder().backend(backend).trust("did:web:127.0.0.1%3A9", "Unreachable authority").spawn().await;
    let credential = app.credential_of(&app.granted("OEA-MX-0800", "GODE561231GR8").await).await;
    let verify = |credential: Value| {
        let app = &app;
        async move { app.post_json("/credentials/verify", &json!({ "verifiableCredential": credential })).await }
    };
    let (status, body) = verify(credential.clone()).await;
    assert_eq!((status, body["verified"].as_bool()), (200, Some(true)), "{body}");

    // Tampered: judged and not verified, the report in the body.
    let mut tampered = credential.clone();
    tampered["credentialSubject"]["legalName"] = json!("Otra Empresa S.A.");
    let (status, body) = verify(tampered).await;
    assert_eq!((status, body["verified"].as_bool()), (400, Some(false)), "{body}");
    assert_eq!(body["report"]["integrity"]["outcome"], "INVALID", "{body}");

    // Undecided: a trusted issuer whose DID document cannot be fetched is no verdict on the
    // credential, and no 200 either.
    let mut unreachable = credential.clone();
    unreachable.as_object_mut().unwrap().remove("credentialStatus");
    unreachable["issuer"] = json!("did:web:127.0.0.1%3A9");
    unreachable["proof"]["verificationMethod"] = json!("did:web:127.0.0.1%3A9#key-1");
    let (status, body) = verify(unreachable).await;
    assert_eq!((status, body["verified"].as_bool()), (503, Some(false)), "{body}");
    assert_eq!(body["report"]["integrity"]["outcome"], "ERROR", "{body}");

    // Cannot be judged at all: an error naming the field, not a report.
    let (status, body) = app.post_json("/credentials/verify", &json!({ "credential": credential })).await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"][0]["field"] == "verifiableCredential", "{body}");
}

on_both_backends!(four_eyes_has_no_side_door, verify_answers_with_a_status_a_client_cannot_misread);
