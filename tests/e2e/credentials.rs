//! AEO certifications as W3C Verifiable Credentials, end to end over HTTP: issued on approval,
//! verified by cadena and by Digital Bazaar's libraries (both ways), status lists that follow
//! the lifecycle, presentations with one-time challenges, key rotation, the VC API, and
//! hostile input.

use std::time::Duration;

use cadena_credentials::did::{ProofPurpose, did_key_for};
use cadena_credentials::integrity::ProofOptions;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use cadena_tests::{Backend, TestApp, digital_bazaar};
use serde_json::{Value, json};

const SEED: [u8; 32] = [7; 32];

/// Changes exactly one character of the operator's legal name.
fn one_character_changed(credential: &Value) -> Value {
    let mut changed = credential.clone();
    let name = changed["credentialSubject"]["legalName"].as_str().unwrap().to_owned();
    let mut chars: Vec<char> = name.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'X' { 'Y' } else { 'X' };
    changed["credentialSubject"]["legalName"] = json!(chars.into_iter().collect::<String>());
    changed
}

fn outcome(report: &Value, fragment: &str) -> String {
    report["report"][fragment]["outcome"].as_str().unwrap_or_else(|| panic!("no {fragment} in {report}")).to_owned()
}

async fn cadena_and_digital_bazaar_verify_each_others_credentials(suite: &str) {
    let app = TestApp::builder().cryptosuite(suite).spawn().await;
    let id = app.granted("OEA-MX-0100", "GODE561231GR8").await;
    let credential = app.credential_of(&id).await;
    assert_eq!(credential["type"], json!(["VerifiableCredential", "AEOCertificationCredential"]));
    assert_eq!(
        credential["@context"],
        json!(["https://www.w3.org/ns/credentials/v2", "https://w3id.org/cadena/aeo/v1"])
    );
    assert_eq!(credential["issuer"], app.did());
    assert_eq!(credential["proof"]["type"], "DataIntegrityProof");
    assert_eq!(credential["proof"]["cryptosuite"], suite);
    assert_eq!(credential["credentialSubject"]["traderIdentificationNumber"], "GODE561231GR8");
    let purposes: Vec<&str> = credential["credentialStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["statusPurpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["revocation", "suspension"]);

    // Digital Bazaar verifies cadena's credential, fetching the DID document and both status
    // lists from the node.
    let theirs =
        digital_bazaar(json!({ "op": "verify-credential", "credential": credential, "checkStatus": true })).await;
    assert_eq!(theirs["verified"], true, "{theirs}");
    assert_eq!(theirs["statusResult"], json!({ "revocation": false, "suspension": false }));
    let ours = app.verify(&credential).await;
    assert_eq!(ours["verified"], true, "{ours}");
    for fragment in ["integrity", "issuer_trust", "validity"] {
        assert_eq!(outcome(&ours, fragment), "VALID", "{fragment}: {ours}");
    }
    assert_eq!(ours["report"]["status"]["check"]["outcome"], "VALID");
    assert_eq!(outcome(&ours, "anchor"), "SKIPPED");

    // One character changed: both refuse.
    let changed = one_character_changed(&credential);
    let theirs =
        digital_bazaar(json!({ "op": "verify-credential", "credential": changed.clone(), "checkStatus": false })).await;
    assert_eq!(theirs["verified"], false, "{theirs}");
    let ours = app.verify(&changed).await;
    assert_eq!(ours["verified"], false);
    assert_eq!(outcome(&ours, "integrity"), "INVALID", "{ours}");

    // The two verifiers agree on every variant, valid or not.
    let mut variants = vec![("as issued", credential.clone()), ("subject changed", changed)];
    let mut edit = |name: &'static str, change: &dyn Fn(&mut Value)| {
        let mut variant = credential.clone();
        change(&mut variant);
        variants.push((name, variant));
    };
    edit("status index changed", &|c| c["credentialStatus"][0]["statusListIndex"] = json!("999"));
    edit("validity extended", &|c| c["validUntil"] = json!("2199-01-01T00:00:00Z"));
    edit("proof date changed", &|c| c["proof"]["created"] = json!("2020-01-01T00:00:00Z"));
    edit("type dropped", &|c| c["type"] = json!(["VerifiableCredential"]));
    edit("role added", &|c| c["credentialSubject"]["supplyChainRoles"].as_array_mut().unwrap().push(json!("CARRIER")));
    for (name, variant) in &variants {
        let theirs =
            digital_bazaar(json!({ "op": "verify-credential", "credential": variant, "checkStatus": false })).await;
        let ours = app.verify(variant).await;
        assert_eq!(
            theirs["verified"] == true,
            outcome(&ours, "integrity") == "VALID",
            "{name}: Digital Bazaar {theirs} vs cadena {ours}"
        );
    }

    // Digital Bazaar issues (as a did:key); cadena verifies the proof, and trust is separate.
    let mut unsigned = credential.clone();
    let object = unsigned.as_object_mut().unwrap();
    object.remove("proof");
    object.remove("credentialStatus");
    let issued = digital_bazaar(
        json!({ "op": "issue-credential", "credential": unsigned, "cryptosuite": suite, "seed": hex::encode(SEED) }),
    )
    .await;
    let foreign = issued["verifiableCredential"].clone();
    let ours = app.verify(&foreign).await;
    assert_eq!(outcome(&ours, "integrity"), "VALID", "cadena accepts Digital Bazaar's proof: {ours}");
    assert_eq!(outcome(&ours, "issuer_trust"), "INVALID", "a did:key is no customs authority: {ours}");
    assert_eq!(ours["verified"], false);
    let ours = app.verify(&one_character_changed(&foreign)).await;
    assert_eq!(outcome(&ours, "integrity"), "INVALID", "{ours}");
    let trusting = TestApp::builder().trust(issued["issuer"].as_str().unwrap(), "Test authority").spawn().await;
    assert_eq!(trusting.verify(&foreign).await["verified"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_credentials_interoperate_with_digital_bazaar() {
    cadena_and_digital_bazaar_verify_each_others_credentials("eddsa-rdfc-2022").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_credentials_interoperate_with_digital_bazaar() {
    cadena_and_digital_bazaar_verify_each_others_credentials("ecdsa-rdfc-2019").await;
}

/// Verifies at the partner node (which fetches the issuer's list over HTTP, cached for its TTL)
/// until the status fragment says `expected`.
async fn status_at(partner: &TestApp, credential: &Value, revoked: bool, suspended: bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = partner.verify(credential).await;
        let status = &report["report"]["status"];
        if status["revoked"] == revoked && status["suspended"] == suspended {
            return report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never became revoked={revoked} suspended={suspended}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn the_status_fragment_follows_suspend_reinstate_revoke(backend: Backend) {
    let mx = TestApp::builder().backend(backend).status_list_ttl_secs(1).spawn().await;
    let co = TestApp::builder().backend(backend).country("CO").trust(&mx.did(), "ANAM").spawn().await;
    let id = mx.granted("OEA-MX-0200", "GODE561231GR8").await;
    let credential = mx.credential_of(&id).await;

    let report = status_at(&co, &credential, false, false).await;
    assert_eq!(report["verified"], true, "{report}");

    mx.transition("approver", "suspendCertification", &id, Some("audit")).await.data();
    let report = status_at(&co, &credential, false, true).await;
    assert_eq!(report["verified"], false);
    assert_eq!(report["report"]["status"]["check"]["reason"], "suspended");
    let theirs =
        digital_bazaar(json!({ "op": "verify-credential", "credential": credential, "checkStatus": true })).await;
    assert_eq!(theirs["statusResult"], json!({ "revocation": false, "suspension": true }), "{theirs}");

    mx.transition("approver", "reinstateCertification", &id, Some("corrected")).await.data();
    let report = status_at(&co, &credential, false, false).await;
    assert_eq!(report["verified"], true);

    mx.transition("approver", "revokeCertification", &id, Some("fraud")).await.data();
    let report = status_at(&co, &credential, true, false).await;
    assert_eq!(report["report"]["status"]["check"]["reason"], "revoked");
    let theirs =
        digital_bazaar(json!({ "op": "verify-credential", "credential": credential, "checkStatus": true })).await;
    assert_eq!(theirs["statusResult"], json!({ "revocation": true, "suspension": false }), "{theirs}");

    // The served list is cacheable for its TTL, and says so.
    let list_url = credential["credentialStatus"][0]["statusListCredential"].as_str().unwrap();
    let response = mx.client.get(list_url).send().await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=1");
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["type"], json!(["VerifiableCredential", "BitstringStatusListCredential"]));
    assert_eq!(list["credentialSubject"]["ttl"], 1000);
}

async fn amendment_issues_a_new_credential_and_revokes_the_old(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let id = app.granted("OEA-MX-0300", "GODE561231GR8").await;
    let old = app.credential_of(&id).await;
    let new_id = app.amended(&id, "OEA-MX-0300", "GODE561231GR8", "Exportadora del Pacífico Renombrada S.A.").await;
    let new = app.credential_of(&new_id).await;
    assert_ne!(new["id"], old["id"]);
    assert_eq!(new["credentialSubject"]["legalName"], "Exportadora del Pacífico Renombrada S.A.");
    assert_eq!(new["credentialSubject"]["certificateVersion"], 2);
    let report = app.verify(&old).await;
    assert_eq!(report["report"]["status"]["revoked"], true, "the amended version's credential is revoked: {report}");
    assert_eq!(app.verify(&new).await["verified"], true);
    // Both stay: the old version still has its credential.
    assert_eq!(app.credential_of(&id).await, old);
}

async fn a_presentation_verifies_once_and_a_replay_is_refused(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let holder = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, SEED);
    let (holder_did, holder_method) = did_key_for(&holder.public());
    let mut input = app.certification_input("OEA-MX-0400", "GODE561231GR8");
    input["operatorDid"] = json!(holder_did);
    let submitted = app.submit(input).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    app.transition("approver", "approveCertification", &id, None).await.data();
    let credential = app.credential_of(&id).await;
    assert_eq!(credential["credentialSubject"]["id"], holder_did);

    // The insurer asks the node for a challenge; the AEO firm presents its credential.
    let (status, challenge) = app.post_json("/challenges", &json!({ "domain": "insurer.example" })).await;
    assert_eq!(status, 201);
    let challenge = challenge["challenge"].as_str().unwrap().to_owned();
    let presentation = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder_did,
        "verifiableCredential": [credential],
    });
    let integrity = app.node.services.credentials.integrity();
    let options = ProofOptions {
        verification_method: holder_method.clone(),
        purpose: ProofPurpose::Authentication,
        created: chrono::Utc::now(),
        challenge: Some(challenge.clone()),
        domain: Some("insurer.example".into()),
    };
    let signed = integrity.sign(&presentation, &holder, &options).unwrap();
    let request =
        json!({ "verifiablePresentation": signed, "options": { "challenge": challenge, "domain": "insurer.example" } });
    let (status, first) = app.post_json("/presentations/verify", &request).await;
    assert_eq!(status, 200);
    assert_eq!(first["verified"], true, "{first}");
    let (status, replay) = app.post_json("/presentations/verify", &request).await;
    assert_eq!((status, &replay["verified"]), (400, &json!(false)), "not verified is never a 200: {replay}");
    assert!(replay["report"]["challenge"]["reason"].as_str().unwrap().contains("replay"), "{replay}");

    // Someone else presenting the firm's credential: the holder binding fails.
    let (_, fresh) = app.post_json("/challenges", &json!({})).await;
    let fresh = fresh["challenge"].as_str().unwrap().to_owned();
    let thief = SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, [9; 32]);
    let (thief_did, thief_method) = did_key_for(&thief.public());
    let mut stolen = presentation.clone();
    stolen["holder"] = json!(thief_did);
    let options =
        ProofOptions { verification_method: thief_method, challenge: Some(fresh.clone()), domain: None, ..options };
    let stolen = integrity.sign(&stolen, &thief, &options).unwrap();
    let (_, report) = app
        .post_json(
            "/presentations/verify",
            &json!({ "verifiablePresentation": stolen, "options": { "challenge": fresh } }),
        )
        .await;
    assert_eq!(report["verified"], false);
    assert_eq!(report["report"]["holder_binding"]["outcome"], "INVALID", "{report}");

    // Digital Bazaar signs the firm's presentation; GraphQL mirrors the VC API.
    let made = app.gql(None, "mutation { presentationChallenge { challenge } }", json!({})).await;
    let challenge = made.data()["presentationChallenge"]["challenge"].as_str().unwrap().to_owned();
    let theirs = digital_bazaar(json!({
        "op": "issue-presentation", "credential": credential, "challenge": challenge, "seed": hex::encode(SEED)
    }))
    .await;
    assert_eq!(theirs["holder"], holder_did, "the same seed gives the same did:key in both libraries");
    let verified = app
        .gql(
            None,
            "mutation($p: JSON!, $c: String!) { verifyPresentation(presentation: $p, challenge: $c) { verified challenge { outcome } credentials { verified } } }",
            json!({ "p": theirs["verifiablePresentation"], "c": challenge }),
        )
        .await;
    assert_eq!(verified.data()["verifyPresentation"]["verified"], true, "{}", verified.body);
    let again = app
        .gql(
            None,
            "mutation($p: JSON!, $c: String!) { verifyPresentation(presentation: $p, challenge: $c) { verified challenge { outcome reason } } }",
            json!({ "p": theirs["verifiablePresentation"], "c": challenge }),
        )
        .await;
    assert_eq!(again.data()["verifyPresentation"]["verified"], false);
    assert_eq!(again.data()["verifyPresentation"]["challenge"]["outcome"], "INVALID");
    let unknown = app
        .post_json(
            "/presentations/verify",
            &json!({ "verifiablePresentation": signed, "options": { "challenge": "made-up" } }),
        )
        .await;
    assert_eq!(unknown.0, 400, "{}", unknown.1);
}

async fn the_did_document_rotation_and_vc_api_issuance(backend: Backend) {
    let app = TestApp::builder().backend(backend).vc_api_issuance().spawn().await;
    let partner = TestApp::builder().backend(backend).country("CO").trust(&app.did(), "ANAM").spawn().await;
    let document: Value =
        app.client.get(format!("{}/.well-known/did.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["id"], app.did());
    assert_eq!(document["verificationMethod"][0]["type"], "Multikey");
    assert!(document["verificationMethod"][0]["publicKeyMultibase"].as_str().unwrap().starts_with("z6Mk"));
    assert_eq!(document["assertionMethod"], json!([format!("{}#key-1", app.did())]));
    assert!(document["keyAgreement"][0].as_str().unwrap().ends_with("#agreement-1"));
    let context: Value =
        app.client.get(format!("{}/contexts/aeo/v1", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(context["@context"]["aeo"], "https://w3id.org/cadena/aeo#");

    let before = app.credential_of(&app.granted("OEA-MX-0500", "GODE561231GR8").await).await;
    assert_eq!(partner.verify(&before).await["verified"], true);
    let fragment = app.node.services.credentials.identity().rotate(Cryptosuite::EcdsaRdfc2019).unwrap();
    assert_eq!(fragment, "key-2");
    let after = app.credential_of(&app.granted("OEA-MX-0501", "GODE561231GR8").await).await;
    assert_eq!(after["proof"]["verificationMethod"], format!("{}#key-2", app.did()));
    assert_eq!(after["proof"]["cryptosuite"], "ecdsa-rdfc-2019");
    // The partner cached the old DID document; the new key makes it fetch again. The old
    // credential keeps verifying with the old key.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(partner.verify(&after).await["verified"], true);
    assert_eq!(partner.verify(&before).await["verified"], true);

    // VC API: an issuer signs a VC 2.0 credential (no AEO certification); status entries are
    // added.
    let token = app.token("issuer").await;
    let credential = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "credentialSubject": { "id": "did:example:warehouse-7" }
    });
    let response = app
        .client
        .post(format!("{}/credentials/issue", app.base))
        .bearer_auth(&token)
        .json(&json!({ "credential": credential, "options": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.unwrap();
    let issued = &issued["verifiableCredential"];
    assert_eq!(issued["issuer"], app.did());
    assert_eq!(issued["credentialStatus"].as_array().unwrap().len(), 2);
    assert_eq!(partner.verify(issued).await["verified"], true);
    let mut foreign = credential.clone();
    foreign["issuer"] = json!("did:web:someone.else");
    let refused = app
        .client
        .post(format!("{}/credentials/issue", app.base))
        .bearer_auth(&token)
        .json(&json!({ "credential": foreign }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["fields"][0]["field"], "credential.issuer", "{refused}");
}

async fn hostile_requests_get_clear_errors_and_never_hang(backend: Backend) {
    let app = TestApp::builder().backend(backend).spawn().await;
    let credential = app.credential_of(&app.granted("OEA-MX-0600", "GODE561231GR8").await).await;
    let expect = |case: &'static str, body: Value, status: u16, says: &'static str| {
        let app = &app;
        async move {
            let (got, answer) =
                tokio::time::timeout(Duration::from_secs(10), app.post_json("/credentials/verify", &body))
                    .await
                    .unwrap_or_else(|_| panic!("{case}: no answer within 10 s"));
            assert_eq!(got, status, "{case}: {answer}");
            assert!(answer.to_string().contains(says), "{case}: the error says {says:?}: {answer}");
        }
    };
    let mut unknown = credential.clone();
    unknown["@context"][1] = json!("https://evil.example/context.jsonld");
    expect("unknown context", json!({ "verifiableCredential": unknown }), 400, "https://evil.example/context.jsonld")
        .await;
    let mut bomb = credential.clone();
    bomb["credentialSubject"]["partnerIdentifiers"] =
        json!(vec![json!({"type": "PartnerIdentifier", "identifierScheme": "X", "identifierValue": "1"}); 20]);
    expect("blank-node bomb", json!({ "verifiableCredential": bomb }), 400, "indistinguishable blank nodes").await;
    let mut wrong_proof = credential.clone();
    wrong_proof["proof"]["type"] = json!("RsaSignature2018");
    expect("proof type", json!({ "verifiableCredential": wrong_proof }), 400, "RsaSignature2018").await;
    let mut undefined = credential.clone();
    undefined["credentialSubject"]["favouriteColour"] = json!("blue");
    expect("undefined term", json!({ "verifiableCredential": undefined }), 400, "favouriteColour").await;
    let mut malformed = credential.clone();
    malformed["type"] = json!(42);
    expect("malformed JSON-LD", json!({ "verifiableCredential": malformed }), 400, "malformed JSON-LD").await;
    expect("missing credential", json!({ "credential": credential }), 400, "verifiableCredential").await;
    let mut big = credential.clone();
    big["credentialSubject"]["legalName"] = json!("x".repeat(100_000));
    expect("too large", json!({ "verifiableCredential": big }), 400, "at most 65536").await;
    let response = app
        .client
        .post(format!("{}/credentials/verify", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("JSON"));
    // GraphQL says the same, as a field error with the path.
    let graphql = app
        .gql(None, "query($c: JSON!) { verifyCredential(credential: $c) { verified } }", json!({ "c": unknown }))
        .await;
    assert_eq!(graphql.error_code(), "BAD_USER_INPUT");
    assert!(graphql.error_message().contains("evil.example"), "{}", graphql.body);
}

on_both_backends!(
    the_status_fragment_follows_suspend_reinstate_revoke,
    amendment_issues_a_new_credential_and_revokes_the_old,
    a_presentation_verifies_once_and_a_replay_is_refused,
    the_did_document_rotation_and_vc_api_issuance,
    hostile_requests_get_clear_errors_and_never_hang,
);
