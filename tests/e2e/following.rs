//! Insurers and banks following the firms they cover: only with the firm's consent (its own
//! presentation over a consent challenge naming the account and the period), status only,
//! across MRA partners, until the firm withdraws.

use std::time::Duration;

use cadena_credentials::did::did_key_for;
use cadena_credentials::keys::{Cryptosuite, SecretKey};
use cadena_tests::{Backend, TestApp, TestChain, digital_bazaar, open_event_stream, sse_events, sse_single_result};
use futures::StreamExt;
use serde_json::{Value, json};

on_both_backends!(an_insurer_follows_a_firm_with_its_consent_and_hears_status_only);

const TIN: &str = "GODE561231GR8";
const CHANGES: &str = "subscription { recognitionChanges { cursor issuingCountry issuingAuthority tin certificateType status confersBenefits validFrom validUntil changedAt source } }";

/// The firm's wallet: its presentation of `credential` over `challenge` (with its domain).
async fn present(seed: [u8; 32], credential: &Value, challenge: &Value) -> Value {
    let presented = digital_bazaar(json!({
        "op": "issue-presentation", "credential": credential, "seed": hex::encode(seed),
        "challenge": challenge["challenge"], "domain": challenge["domain"],
    }))
    .await;
    presented["verifiablePresentation"].clone()
}

/// Waits until `co` holds operator TIN of MX with `status`.
async fn co_holds(co: &TestApp, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held = co
            .gql(
                Some("verifier"),
                "query($t: String!) { recognition(country: \"MX\", tin: $t) { status } }",
                json!({ "t": TIN }),
            )
            .await;
        if held.data()["recognition"].as_array().unwrap().iter().any(|r| r["status"] == status) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "CO never held MX's {status}: {:?}", held.data());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn an_insurer_follows_a_firm_with_its_consent_and_hears_status_only(backend: Backend) {
    let chain = TestChain::start().await;
    let spawn = |country: &str| TestApp::builder().backend(backend).country(country).chain(&chain).anchoring(100, 200);
    let mx = spawn("MX").spawn().await;
    let co = spawn("CO").spawn().await;
    mx.establish_mra(&co, json!(["SECURITY_AND_SAFETY", "CUSTOMS_SIMPLIFICATIONS", "FULL"])).await;

    // A firm certified at MX, holding its credential under its own key.
    let seed = [11u8; 32];
    let (holder, _) = did_key_for(&SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, seed).public());
    let mut input = mx.certification_input("OEA-MX-W0001", TIN);
    input["operatorDid"] = json!(holder);
    let submitted = mx.submit(input).await;
    let id = submitted.data()["submitCertification"]["id"].as_str().unwrap().to_owned();
    mx.transition("approver", "approveCertification", &id, None).await.data();
    let credential = mx.credential_of(&id).await;
    co_holds(&co, "GRANTED").await;

    // The insurer at CO listens before anyone consented: nothing of this firm reaches it.
    let mut changes = co.subscribe_ws("verifier", CHANGES).await;
    let until = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).to_string();
    let asked = co
        .gql(
            Some("verifier"),
            "mutation($u: Date!) { consentChallenge(until: $u) { challenge domain } }",
            json!({ "u": until }),
        )
        .await;
    let challenge = asked.data()["consentChallenge"].clone();
    assert_eq!(
        challenge["domain"],
        format!("cadena-consent:verifier:{until}"),
        "the account and the day, signed by the firm"
    );

    // Someone else's presentation of the firm's credential is no consent.
    let stranger = present([12u8; 32], &credential, &challenge).await;
    let follow = "mutation($p: JSON!, $c: String!) { followOperator(presentation: $p, challenge: $c) { country tin until holder } }";
    let refused = co.gql(Some("verifier"), follow, json!({ "p": stranger, "c": challenge["challenge"] })).await;
    assert_eq!(refused.error_fields(), ["presentation"], "{}", refused.body);
    assert!(refused.error_message().contains("does not verify"), "{}", refused.body);
    let followed = co.gql(Some("verifier"), "{ followedOperators { tin } }", json!({})).await;
    assert_eq!(followed.data()["followedOperators"], json!([]));

    // The firm consents: its presentation over the insurer's challenge.
    let challenge = co
        .gql(
            Some("verifier"),
            "mutation($u: Date!) { consentChallenge(until: $u) { challenge domain } }",
            json!({ "u": until }),
        )
        .await
        .data()["consentChallenge"]
        .clone();
    let consent = present(seed, &credential, &challenge).await;
    let variables = json!({ "p": consent, "c": challenge["challenge"] });
    let followed = co.gql(Some("verifier"), follow, variables.clone()).await;
    assert_eq!(
        followed.data()["followOperator"],
        json!([{ "country": "MX", "tin": TIN, "until": until, "holder": holder }]),
        "{}",
        followed.body
    );
    let replayed = co.gql(Some("verifier"), follow, variables.clone()).await;
    assert!(replayed.error_message().contains("does not verify"), "a consent is given once: {}", replayed.body);
    // Another account cannot use this account's consent challenge.
    let other = co.gql(Some("risk"), follow, variables).await;
    assert_eq!(other.error_code(), "FORBIDDEN", "{}", other.body);

    // The same over SSE; the full events stay closed to the insurer on every transport.
    let token = co.token("verifier").await;
    let sse = |query: &str| co.client.post(co.graphql_url()).bearer_auth(&token).json(&json!({ "query": query }));
    let mut over_sse =
        open_event_stream(sse("subscription { recognitionChanges { tin status } }")).await.bytes_stream();
    let closed =
        sse_single_result(sse("subscription { certificationEvents { certification { operatorName } } }")).await;
    assert_eq!(closed["errors"][0]["extensions"]["code"], "FORBIDDEN", "{closed}");

    // MX suspends the firm: the insurer at CO hears it, status only, the source marked.
    mx.transition("approver", "suspendCertification", &id, Some("Audit pending")).await.data();
    let heard = tokio::time::timeout(Duration::from_secs(60), changes.recv()).await.expect("heard in time").unwrap();
    let change = &heard["data"]["recognitionChanges"];
    // Every field a change has, and nothing else (sorted: JSON objects have no order here).
    let mut status_only = [
        "cursor",
        "issuingCountry",
        "issuingAuthority",
        "tin",
        "certificateType",
        "status",
        "confersBenefits",
        "validFrom",
        "validUntil",
        "changedAt",
        "source",
    ];
    status_only.sort_unstable();
    let fields: Vec<&str> = change.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, status_only, "{heard}");
    assert_eq!(
        (&change["issuingCountry"], &change["tin"], &change["status"], &change["confersBenefits"], &change["source"]),
        (&json!("MX"), &json!(TIN), &json!("SUSPENDED"), &json!(false), &json!("MX")),
        "{heard}"
    );
    let mut text = String::new();
    let over_sse = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = over_sse.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some((_, data)) = sse_events(&text).into_iter().find(|(event, _)| event == "next") {
                return serde_json::from_str::<Value>(&data).unwrap();
            }
        }
    })
    .await
    .expect("heard over SSE in time");
    assert_eq!(over_sse["data"]["recognitionChanges"], json!({ "tin": TIN, "status": "SUSPENDED" }), "{over_sse}");

    // Nothing beyond status can be asked of a change: the type has no other field.
    let shape =
        co.gql(Some("verifier"), "{ __type(name: \"RecognitionChangeObject\") { fields { name } } }", json!({})).await;
    let mut names: Vec<&str> =
        shape.data()["__type"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, status_only, "{}", shape.body);

    // The firm withdraws its consent; the next change is not delivered.
    let challenge = co
        .gql(None, "mutation { withdrawalChallenge(verifier: \"verifier\") { challenge domain } }", json!({}))
        .await
        .data()["withdrawalChallenge"]
        .clone();
    let withdrawal = present(seed, &credential, &challenge).await;
    let withdrawn = co
        .gql(
            None,
            "mutation($p: JSON!, $c: String!) { withdrawConsent(presentation: $p, challenge: $c) { country tin } }",
            json!({ "p": withdrawal, "c": challenge["challenge"] }),
        )
        .await;
    assert_eq!(withdrawn.data()["withdrawConsent"], json!([{ "country": "MX", "tin": TIN }]), "{}", withdrawn.body);
    mx.transition("approver", "reinstateCertification", &id, Some("Audit passed")).await.data();
    co_holds(&co, "GRANTED").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(changes.try_recv().is_err(), "nothing after the withdrawal");
    assert_eq!(
        co.gql(Some("verifier"), "{ followedOperators { tin } }", json!({})).await.data()["followedOperators"],
        json!([])
    );

    // The auditor reads every consent and withdrawal; the insurer cannot.
    let log = co.gql(Some("auditor"), "{ consentLog { verifier country tin action holder } }", json!({})).await;
    let actions: Vec<&str> =
        log.data()["consentLog"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["WITHDRAWN", "CONSENTED"], "{}", log.body);
    assert_eq!(co.gql(Some("verifier"), "{ consentLog { action } }", json!({})).await.error_code(), "FORBIDDEN");
}
