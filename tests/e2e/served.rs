//! Credentials leave a node exactly as they were signed, on every path: GraphQL (the node's own
//! records and a partner's, and through the federation gateway), the VC API, status lists,
//! `/anchors` and the partner channel.
//! Digital Bazaar's verifier judges the text each path serves, not a copy re-encoded by the
//! test. And cadena refuses a document carrying serde_json's private number encoding
//! (`{"$serde_json::private::Number": "1"}`, what GraphQL once served), which serde_json alone
//! reads as the signed number: over the VC API, GraphQL (node and gateway) and the partner
//! inbox.

use std::time::Duration;

use cadena_gateway::federated_gateway::GatewayLimits;
use cadena_resolvers::services::partners::{MESSAGE_TYPE, PartnerMessage};
use cadena_tests::federation::spawn_gateway;
use cadena_tests::{TestApp, TestChain, digital_bazaar_on_served};
use serde_json::{Value, json};

const CREDENTIAL: &str = "query($id: ID!) { certification(id: $id) { credential } }";
const AT: [&str; 3] = ["data", "certification", "credential"];
const PRIVATE_NUMBER: &str = r#"{"$serde_json::private::Number":"1"}"#;

/// The JSON at `at` in `served`, read as written: a serde_json private key fails the test.
fn read(served: &str, at: &[&str]) -> Value {
    let mut value =
        cadena_credentials::json::from_str(served).unwrap_or_else(|e| panic!("served as written: {e}: {served}"));
    for step in at {
        value = value[step].take();
    }
    value
}

/// The text of `certification(id) { credential }` as `app` serves it.
async fn served_credential(app: &TestApp, id: &str) -> String {
    let token = app.token("risk").await;
    let (status, _, text) =
        app.gql_text(Some(&token), json!({ "query": CREDENTIAL, "variables": { "id": id } }).to_string()).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// Digital Bazaar verifies the AEO credential at `at` in `served` (its status lists fetched
/// from the issuer), and its version is a JSON number. The credential, read as written.
async fn aeo_credential_intact(path: &str, served: &str, at: &[&str]) -> Value {
    let credential = read(served, at);
    let version = &credential["credentialSubject"]["certificateVersion"];
    assert!(version.is_u64(), "{path}: certificateVersion is a JSON number, not {version}");
    let theirs = digital_bazaar_on_served(served, at, true).await;
    assert_eq!(theirs["verified"], true, "{path}: Digital Bazaar: {theirs}");
    assert_eq!(theirs["statusResult"], json!({ "revocation": false, "suspension": false }), "{path}");
    credential
}

async fn get_text(app: &TestApp, url: &str) -> String {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.text().await.unwrap()
}

/// Waits until `check` gives something, for at most 45 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(45);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} within 45 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_serves_the_credential_as_signed() {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").vc_api_issuance().spawn().await;
    let co = spawn("CO").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;
    let id = mx.granted("OEA-MX-S0001", "GODE561231GR8").await;

    // The issuer's GraphQL.
    let signed = aeo_credential_intact("MX's GraphQL", &served_credential(&mx, &id).await, &AT).await;

    // The partner's GraphQL: its record of MX's certification, as it came through the channel.
    let at_co = eventually("CO holds MX's credential", || async {
        let served = served_credential(&co, &id).await;
        read(&served, &AT).is_object().then_some(served)
    })
    .await;
    let held = aeo_credential_intact("CO's GraphQL", &at_co, &AT).await;
    assert_eq!(held, signed, "the partner holds the credential as signed");

    // Through the federation gateway in front of MX, which refuses the private encoding in
    // variables as the node does (else it would forward the number it reads it as).
    let gateway = spawn_gateway(&[("node", &mx.graphql_url())], GatewayLimits::default()).await;
    let token = mx.token("risk").await;
    let post_to_gateway = |body: String| {
        let request = mx.client.post(&gateway.url).header("content-type", "application/json").bearer_auth(&token);
        async move {
            let response = request.body(body).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, served) = post_to_gateway(json!({ "query": CREDENTIAL, "variables": { "id": id } }).to_string()).await;
    assert_eq!(status, 200, "{served}");
    aeo_credential_intact("the gateway", &served, &AT).await;
    let corrupted =
        signed.to_string().replace(r#""certificateVersion":1"#, &format!(r#""certificateVersion":{PRIVATE_NUMBER}"#));
    let query = json!("query($c: JSON!) { verifyCredential(credential: $c) { verified } }");
    let (status, answer) = post_to_gateway(format!(r#"{{"query": {query}, "variables": {{"c": {corrupted}}}}}"#)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("c.credentialSubject.certificateVersion.$serde_json::private::Number"), "{answer}");

    // And back: MX asks CO live what it holds of the operator, and verifies what comes back.
    let recognition = mx
        .gql(
            Some("risk"),
            "{ operator(country: \"MX\", tin: \"GODE561231GR8\") { recognition { partner verified credentialIds } } }",
            json!({}),
        )
        .await;
    let recognition = &recognition.data()["operator"]["recognition"][0];
    assert_eq!(recognition["partner"], "CO");
    assert_eq!(recognition["verified"], true, "what CO sends back verifies at MX: {recognition}");
    assert_eq!(recognition["credentialIds"], json!([signed["id"]]));

    // Status lists: signed credentials themselves, with a numeric ttl.
    for entry in signed["credentialStatus"].as_array().unwrap() {
        let url = entry["statusListCredential"].as_str().unwrap();
        let served = get_text(&mx, url).await;
        assert!(read(&served, &[])["credentialSubject"]["ttl"].is_u64(), "{url}: {served}");
        let theirs = digital_bazaar_on_served(&served, &[], false).await;
        assert_eq!(theirs["verified"], true, "{url}: Digital Bazaar: {theirs}");
    }

    // `/anchors/{digest}`, once the batch is on chain.
    let digest = eventually("the credential is anchored", || async {
        let anchor = mx
            .gql(Some("risk"), "query($id: ID!) { certification(id: $id) { anchor { digest } } }", json!({ "id": id }))
            .await;
        anchor.data()["certification"]["anchor"]["digest"].as_str().map(str::to_owned)
    })
    .await;
    let proof = read(&get_text(&mx, &format!("{}/anchors/{digest}", mx.base)).await, &[]);
    assert_eq!(proof["credentialId"], signed["id"]);
    assert!(proof["leafIndex"].is_u64() && proof["batchSequence"].is_u64(), "numbers as numbers: {proof}");

    // The VC API's issuance answer.
    let response = mx
        .client
        .post(format!("{}/credentials/issue", mx.base))
        .bearer_auth(mx.token("issuer").await)
        .json(&json!({ "credential": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "credentialSubject": { "id": "did:example:warehouse-7" }
        } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let served = response.text().await.unwrap();
    let theirs = digital_bazaar_on_served(&served, &["verifiableCredential"], true).await;
    assert_eq!(theirs["verified"], true, "the VC API's credential: Digital Bazaar: {theirs}");

    // A partner message whose credential carries the private encoding is refused, naming it.
    let corrupted = serde_json::to_string(&PartnerMessage {
        message_type: MESSAGE_TYPE.into(),
        from: mx.country.clone(),
        to: co.country.clone(),
        seq: 2,
        sent_at: chrono::Utc::now(),
        event: json!({ "transition": "SUSPEND", "status": "SUSPENDED", "certificationId": id, "lineageId": uuid::Uuid::now_v7(), "version": 1 }),
        credential: signed.clone(),
        anchor: None,
        status_lists: vec![],
    })
    .unwrap()
    .replace(r#""certificateVersion":1"#, &format!(r#""certificateVersion":{PRIVATE_NUMBER}"#));
    assert!(corrupted.contains(PRIVATE_NUMBER));
    let (kid, key) = mx.node.services.credentials.identity().signing_key();
    let (recipient_kid, secret) = co.node.services.credentials.identity().agreement();
    let sealed = cadena_credentials::jose::seal(
        corrupted.as_bytes(),
        &key,
        &kid,
        &x25519_dalek::PublicKey::from(&secret),
        &recipient_kid,
    )
    .unwrap();
    let response = co.client.post(format!("{}/partner/inbox", co.base)).body(sealed).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "MALFORMED", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("credential.credentialSubject.certificateVersion.$serde_json::private::Number"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadena_refuses_serde_jsons_private_number_in_a_credential() {
    let app = TestApp::builder().spawn().await;
    app.granted("OEA-MX-S0002", "GODE561231GR8").await;
    // The credential as stored when it was signed (the node's only one).
    let stored = {
        use sea_orm::EntityTrait;
        cadena_resolvers::storage::entities::credentials::Entity::find().one(app.node.storage.db()).await.unwrap()
    };
    let text = stored.expect("the granted certification's credential").document;
    let signed = read(&text, &[]);
    let corrupted = text.replace(r#""certificateVersion":1"#, &format!(r#""certificateVersion":{PRIVATE_NUMBER}"#));
    assert_ne!(corrupted, text);
    // serde_json alone reads it as the signed credential; Digital Bazaar sees what it is.
    assert_eq!(serde_json::from_str::<Value>(&corrupted).unwrap(), signed);
    let theirs = digital_bazaar_on_served(&corrupted, &[], false).await;
    assert_eq!(theirs["verified"], false, "{theirs}");

    let post = |path: &'static str, body: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(format!("{}{path}", app.base))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    // The VC API refuses it, naming where, as credential and inside a presentation, written
    // plainly or with `\u` escapes.
    let (status, answer) = post("/credentials/verify", format!(r#"{{"verifiableCredential": {corrupted}}}"#)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"]["fields"][0]["field"],
        "verifiableCredential.credentialSubject.certificateVersion.$serde_json::private::Number",
        "{answer}"
    );
    let escaped = corrupted.replace("$serde_json", r"$\u0073erde_json");
    let (status, answer) = post("/credentials/verify", format!(r#"{{"verifiableCredential": {escaped}}}"#)).await;
    assert_eq!(status, 400, "escaped: {answer}");
    let presentation = format!(
        r#"{{"verifiablePresentation": {{"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["VerifiablePresentation"], "verifiableCredential": [{corrupted}]}}, "options": {{"challenge": "c"}}}}"#
    );
    let (status, answer) = post("/presentations/verify", presentation).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["error"]["fields"][0]["field"],
        "verifiablePresentation.verifiableCredential[0].credentialSubject.certificateVersion.$serde_json::private::Number"
    );
    // The signed credential itself verifies.
    let (status, answer) = post("/credentials/verify", format!(r#"{{"verifiableCredential": {text}}}"#)).await;
    assert_eq!((status, &answer["verified"]), (200, &json!(true)), "{answer}");

    // GraphQL: refused in the variables, naming where; the signed credential, numbers and
    // all, verifies.
    let query = "query($c: JSON!) { verifyCredential(credential: $c) { verified } }";
    let (status, _, answer) =
        app.gql_text(None, format!(r#"{{"query": {}, "variables": {{"c": {corrupted}}}}}"#, json!(query))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("variables.c.credentialSubject.certificateVersion.$serde_json::private::Number"),
        "{answer}"
    );
    let verified = app.gql(None, query, json!({ "c": signed })).await;
    assert_eq!(verified.data()["verifyCredential"]["verified"], true, "{}", verified.body);
}
